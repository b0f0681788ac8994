"""Thresholds, the 0.5-centred normalised scale and evaluation metrics, against brute force,
scikit-learn used directly and hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score, roc_curve

from hamacho_core.metrics import Metrics, evaluate, roc
from hamacho_core.thresholds import (
    F1,
    GOOD_ONLY,
    ScoreScale,
    f1_optimal_threshold,
    good_only_threshold,
    image_scale,
    pixel_scale,
)


def brute_best_f1(scores, labels) -> float:
    """Best F1 over every candidate threshold (each distinct score; anomalous = score >= t)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    return max(f1_score(labels, scores >= t) for t in np.unique(scores))


def score_sets():
    rng = np.random.default_rng(0)
    out = []
    for n_good, n_bad, shift in [(20, 10, 1.0), (50, 5, 2.0), (8, 30, 0.5), (30, 30, 0.0)]:
        scores = np.concatenate([rng.normal(0, 1, n_good), rng.normal(shift, 1, n_bad)])
        labels = np.r_[np.zeros(n_good, int), np.ones(n_bad, int)]
        out.append((scores, labels))
    # heavy ties: quantised scores
    scores = np.round(rng.normal(0, 1, 60), 1)
    labels = (scores + rng.normal(0, 0.8, 60) > 0.3).astype(int)
    out.append((scores, labels))
    # perfectly separable
    out.append((np.r_[np.linspace(0, 1, 10), np.linspace(2, 3, 4)], np.r_[np.zeros(10, int), np.ones(4, int)]))
    return out


@pytest.mark.parametrize(("scores", "labels"), score_sets())
def test_f1_optimal_threshold_matches_brute_force(scores, labels):
    t = f1_optimal_threshold(scores, labels)
    distinct = np.unique(scores)
    above, below = distinct[distinct >= t], distinct[distinct < t]
    if below.size:  # mid-way in the gap between two neighbouring scores
        assert t == pytest.approx((above.min() + below.max()) / 2)
    else:
        assert t == distinct.min()
    assert f1_score(labels.astype(bool), scores >= t) == pytest.approx(brute_best_f1(scores, labels), abs=1e-12)


def test_f1_optimal_threshold_separable_hand_checked():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 1.0])
    labels = np.array([0, 0, 0, 1, 1])
    assert f1_optimal_threshold(scores, labels) == pytest.approx(0.6)  # mid-way between 0.3 and 0.9
    # labels as bool, scores as a list of lists: ravelled
    assert f1_optimal_threshold([[0.1, 0.2], [0.95, 0.3]],
                                np.array([[False, False], [True, False]])) == pytest.approx(0.625)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_f1_optimal_threshold_needs_both_classes(labels):
    with pytest.raises(ValueError):
        f1_optimal_threshold([0.1, 0.2, 0.3], labels)


def test_good_only_threshold():
    rng = np.random.default_rng(1)
    for good in (rng.normal(5, 1, 40), rng.uniform(0, 1, 7), np.r_[np.zeros(99), 10.0], np.array([3.0])):
        expected = max(good.max(), good.mean() + 3 * good.std())
        assert good_only_threshold(good) == pytest.approx(expected, rel=1e-12)
        assert good_only_threshold(good) > good.max()  # every good image passes (NG is score >= threshold)
    # both branches of the max are exercised:
    spread = rng.normal(5, 1, 40)
    assert good_only_threshold(spread) == pytest.approx(spread.mean() + 3 * spread.std())
    assert good_only_threshold(spread) > spread.max()
    outlier = np.r_[np.zeros(99), 10.0]  # mean + 3 std = 3.08 < max
    assert good_only_threshold(outlier) == np.nextafter(10.0, np.inf)  # the highest good image itself is OK
    with pytest.raises(ValueError):
        good_only_threshold(np.array([]))


# --- normalisation ---------------------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "low"), [(10.0, 4.0), (0.3, 0.29), (-2.0, -5.0), (1e4, 0.0)])
def test_normalize_mapping(threshold, low):
    s = ScoreScale(threshold, low, "test")
    high = 2 * threshold - low
    assert s.high == high
    assert float(s.normalize(low)) == pytest.approx(0.0, abs=1e-6)
    assert float(s.normalize(threshold)) == pytest.approx(0.5, abs=1e-6)
    assert float(s.normalize(high)) == pytest.approx(1.0, abs=1e-6)
    assert float(s.normalize(low - 100 * (threshold - low))) == 0.0  # clipped
    assert float(s.normalize(high + 100 * (threshold - low))) == 1.0
    assert float(s.normalize((low + threshold) / 2)) == pytest.approx(0.25, abs=1e-6)  # piecewise linear
    grid = np.linspace(low - (threshold - low), high + (threshold - low), 1001)
    norm = s.normalize(grid)
    assert norm.dtype == np.float32 and norm.shape == grid.shape
    assert (np.diff(norm) >= 0).all() and norm.min() == 0.0 and norm.max() == 1.0
    # 0.5 separates exactly: raw >= threshold <=> normalised >= 0.5
    np.testing.assert_array_equal(norm >= 0.5, grid >= threshold)


def test_normalize_degenerate_scale_is_finite():
    s = ScoreScale(1.0, 1.0, "test")  # low == threshold: no division by zero
    out = s.normalize(np.array([0.0, 1.0, 2.0]))
    assert np.isfinite(out).all() and list(out) == [0.0, 0.5, 1.0]


def test_with_threshold():
    s = ScoreScale(10.0, 4.0, F1)
    moved = s.with_threshold(12)
    assert moved.threshold == 12.0 and moved.low == 4.0 and moved.method == "manual"
    assert float(moved.normalize(12.0)) == pytest.approx(0.5, abs=1e-6)
    assert s.threshold == 10.0  # frozen original untouched
    below = s.with_threshold(2.0)  # below the old low: low follows so the scale stays valid
    assert below.low < 2.0 and below.low == pytest.approx(2.0 - 1e-6)
    assert float(below.normalize(2.0)) == pytest.approx(0.5, abs=1e-6)
    assert float(below.normalize(1.0)) == 0.0 and float(below.normalize(3.0)) == 1.0
    assert ScoreScale.from_dict(moved.to_dict()) == moved


# --- image and pixel scales ------------------------------------------------------------------


def test_image_scale_uses_f1_when_defects_present():
    scores, labels = score_sets()[0]
    scale = image_scale(scores, labels)
    assert scale.method == F1
    assert scale.threshold == f1_optimal_threshold(scores, labels)
    assert scale.low == pytest.approx(min(scores[labels == 0].min(), scale.threshold - 1e-6))
    assert float(scale.normalize(scale.threshold)) == pytest.approx(0.5, abs=1e-6)


def test_image_scale_good_only():
    good = np.random.default_rng(2).normal(3, 0.5, 12)
    scale = image_scale(good, np.zeros(12, int))
    assert scale.method == GOOD_ONLY
    assert scale.threshold == pytest.approx(good_only_threshold(good))
    assert scale.low == pytest.approx(good.min())
    assert (scale.normalize(good) < 0.5).all()  # never "flag everything"


def test_pixel_scale_with_masks_is_pixel_f1():
    rng = np.random.default_rng(3)
    maps = rng.normal(0, 1, (6, 16, 16)).astype(np.float32)
    masks = np.zeros((6, 16, 16), bool)
    masks[3:, 4:9, 5:10] = True
    maps[masks] += 2.5
    labels = np.array([0, 0, 0, 1, 1, 1])
    scale = pixel_scale(maps, labels, masks)
    assert scale.method == F1
    assert scale.threshold == f1_optimal_threshold(maps.ravel(), masks.ravel())
    assert f1_score(masks.ravel(), maps.ravel() >= scale.threshold) == pytest.approx(
        brute_best_f1(maps.ravel(), masks.ravel()))
    assert scale.low == pytest.approx(min(np.percentile(maps[:3], 1.0), scale.threshold - 1e-6))
    # sub-sampled pixels (deterministic for the seed) give nearly the same threshold
    sub = pixel_scale(maps, labels, masks, max_pixels=1000)
    assert sub == pixel_scale(maps, labels, masks, max_pixels=1000)
    assert abs(sub.threshold - scale.threshold) < 1.0


def test_pixel_scale_without_masks_is_good_only_on_map_maxima():
    rng = np.random.default_rng(4)
    maps = rng.gamma(2.0, 1.0, (5, 8, 8)).astype(np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    expected = good_only_threshold(maps[:3].reshape(3, -1).max(axis=1))
    for masks in (None, np.zeros((5, 8, 8), bool)):  # no masks, or masks without any defect pixel
        scale = pixel_scale(maps, labels, masks)
        assert scale.method == GOOD_ONLY and scale.threshold == pytest.approx(expected)
    # all-good maps: every good map's maximum is below the threshold
    scale = pixel_scale(maps, np.zeros(5, int), None)
    assert scale.threshold >= maps.max()


# --- metrics ---------------------------------------------------------------------------------


def test_evaluate_hand_checked():
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.3])
    predicted = np.array([False, True, False, True, False])
    labels = np.array([0, 0, 0, 1, 1])
    m = evaluate(scores, predicted, labels)
    assert isinstance(m, Metrics)
    # positives 0.8 beats all 3 negatives, 0.3 beats only 0.1: 4 of 6 pairs
    assert m.image_auroc == pytest.approx(4 / 6)
    assert m.confusion == [[2, 1], [1, 1]]  # true OK, false NG / missed NG, true NG
    assert m.image_f1 == pytest.approx(0.5)  # 2 TP / (2 TP + FP + FN) = 2 / 4
    assert (m.n_good, m.n_defective) == (3, 2)
    assert m.pixel_auroc is None
    assert m.to_dict()["confusion"] == [[2, 1], [1, 1]]


def test_evaluate_matches_sklearn():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 40)
    scores = rng.normal(0, 1, 40) + 1.2 * labels
    predicted = scores > 0.6
    maps = rng.normal(0, 1, (40, 12, 12))
    masks = np.zeros((40, 12, 12), bool)
    masks[labels == 1, 3:7, 2:6] = True
    maps[masks] += 1.5
    m = evaluate(scores, predicted, labels, maps, masks)
    assert m.image_auroc == pytest.approx(roc_auc_score(labels, scores))
    assert m.pixel_auroc == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()))
    assert m.image_f1 == pytest.approx(f1_score(labels, predicted))
    assert m.confusion == confusion_matrix(labels, predicted).tolist()
    assert (m.n_good, m.n_defective) == (int((labels == 0).sum()), int(labels.sum()))


def test_auroc_none_with_one_class():
    scores = np.array([0.2, 0.5, 0.9])
    m = evaluate(scores, scores > 0.6, np.zeros(3, int), np.ones((3, 4, 4)), np.zeros((3, 4, 4), bool))
    assert m.image_auroc is None and m.pixel_auroc is None
    assert m.confusion == [[2, 1], [0, 0]] and m.image_f1 == 0.0
    m = evaluate(scores, scores > 0.6, np.ones(3, int))
    assert m.image_auroc is None and m.confusion == [[0, 0], [2, 1]]
    assert m.image_f1 == pytest.approx(0.5)  # 1 TP, 2 FN


def test_roc_matches_sklearn():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 30)
    scores = rng.normal(0, 1, 30) + labels
    fpr, tpr, thr = roc(labels, scores)
    e_fpr, e_tpr, e_thr = roc_curve(labels, scores, drop_intermediate=False)  # every point: ours (NumPy) keeps all
    np.testing.assert_array_equal(fpr, e_fpr)
    np.testing.assert_array_equal(tpr, e_tpr)
    np.testing.assert_array_equal(thr, e_thr)

