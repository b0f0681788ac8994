"""The few statistics Hamacho needs, in NumPy: ROC AUC, the ROC and precision-recall curves, and the
Ledoit-Wolf shrunk covariance.  They replace scikit-learn (and, through it, SciPy), which the station
package carried for these six functions alone: about 90 MiB of the one-folder build (issue 23).  Each is
checked against scikit-learn's own result in ``tests/core/test_stats.py``.
"""

from __future__ import annotations

import numpy as np


def _binary(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"{labels.size} labels but {scores.size} scores")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    return labels, scores


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (label True = positive), ties counted half: the Mann-Whitney statistic on
    average ranks.  Needs both classes."""
    labels, scores = _binary(labels, scores)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC AUC needs positive and negative samples")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based ranks, ties share their mean
    rank_sum = float(average_rank[inverse][labels].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _counts_at_thresholds(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct thresholds, highest first, with the true and false positives of ``score >= threshold``."""
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    tps = np.cumsum(labels)[last_of_each]
    fps = (last_of_each + 1) - tps
    return scores[last_of_each], tps.astype(np.float64), fps.astype(np.float64)


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates, thresholds) from (0, 0) at an infinite threshold down to
    the lowest score (every distinct score a point)."""
    labels, scores = _binary(labels, scores)
    thresholds, tps, fps = _counts_at_thresholds(labels, scores)
    tps, fps = np.r_[0.0, tps], np.r_[0.0, fps]
    n_pos, n_neg = tps[-1], fps[-1]
    fpr = fps / n_neg if n_neg else np.full_like(fps, np.nan)
    tpr = tps / n_pos if n_pos else np.full_like(tps, np.nan)
    return fpr, tpr, np.r_[np.inf, thresholds]


def precision_recall_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) as scikit-learn gives them: thresholds increasing (every distinct
    score), precision and recall one longer, ending at 1 and 0."""
    labels, scores = _binary(labels, scores)
    if not labels.any():
        raise ValueError("a precision-recall curve needs positive samples")
    thresholds, tps, fps = _counts_at_thresholds(labels, scores)
    precision = tps / np.maximum(tps + fps, 1.0)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def confusion(labels, predicted) -> list[list[int]]:
    """``[[TN, FP], [FN, TP]]`` (rows: truth False/True; columns: predicted False/True)."""
    labels, predicted = np.asarray(labels).astype(bool).ravel(), np.asarray(predicted).astype(bool).ravel()
    tp = int((labels & predicted).sum())
    fp = int((~labels & predicted).sum())
    fn = int((labels & ~predicted).sum())
    return [[labels.size - tp - fp - fn, fp], [fn, tp]]


def f1(labels, predicted) -> float:
    """F1 of the positive class; 0 where it is undefined (nothing positive, nothing predicted)."""
    (_tn, fp), (fn, tp) = confusion(labels, predicted)
    return 2.0 * tp / (2 * tp + fp + fn) if tp else 0.0


def ledoit_wolf(x: np.ndarray, *, assume_centered: bool = False) -> tuple[np.ndarray, float]:
    """(shrunk covariance, shrinkage) of samples ``x`` (n x p): ``(1 - s) * S + s * mu * I`` with ``S`` the
    empirical covariance (divided by n), ``mu`` its mean eigenvalue and ``s`` the Ledoit-Wolf (2004)
    estimate of the optimal shrinkage."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"ledoit_wolf needs an n x p sample, got shape {x.shape}")
    if not assume_centered:
        x = x - x.mean(axis=0)
    n, p = x.shape
    emp_cov = x.T @ x / n
    mu = float(np.trace(emp_cov)) / p
    if p == 1:
        return np.atleast_2d(emp_cov), 0.0
    x2 = x * x
    delta_ = float(np.sum(emp_cov * emp_cov))  # ||S||_F^2
    beta_ = float(np.sum(x2.T @ x2))
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * float(np.trace(emp_cov)) + p * mu * mu) / p
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    shrunk = (1.0 - shrinkage) * emp_cov
    shrunk.flat[:: p + 1] += shrinkage * mu
    return shrunk, shrinkage
