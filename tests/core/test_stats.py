"""The NumPy statistics that replace scikit-learn in the station package (issue 23) give scikit-learn's own
results (scikit-learn is a test dependency only), including ties, one class and the thresholds that the
F1-optimal rule picks."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import covariance, metrics

from hamacho_core import stats


def _cases():
    rng = np.random.default_rng(0)
    yield rng.integers(0, 2, 200).astype(bool), rng.normal(size=200)
    yield rng.integers(0, 2, 300).astype(bool), np.round(rng.normal(size=300), 1)  # many ties
    labels = np.r_[np.zeros(50, bool), np.ones(5, bool)]
    yield labels, np.r_[rng.normal(0, 1, 50), rng.normal(3, 1, 5)]  # few defects, like a station
    yield np.array([0, 1, 0, 1], bool), np.array([1.0, 1.0, 1.0, 1.0])  # all tied


@pytest.mark.parametrize(("labels", "scores"), list(_cases()))
def test_curves_and_auc_match_scikit_learn(labels, scores):
    assert stats.roc_auc(labels, scores) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
    fpr, tpr, _ = stats.roc_curve(labels, scores)
    ref_fpr, ref_tpr, _ = metrics.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.roc_auc_score(labels, scores), abs=1e-12)
    precision, recall, thresholds = stats.precision_recall_curve(labels, scores)
    ref_p, ref_r, ref_t = metrics.precision_recall_curve(labels, scores)
    np.testing.assert_allclose(thresholds, ref_t)
    np.testing.assert_allclose(precision, ref_p)
    np.testing.assert_allclose(recall, ref_r)
    predicted = scores >= np.median(scores)
    assert stats.confusion(labels, predicted) == metrics.confusion_matrix(labels, predicted).tolist()
    assert stats.f1(labels, predicted) == pytest.approx(metrics.f1_score(labels, predicted, zero_division=0.0))


def test_one_class_and_nan_are_refused():
    with pytest.raises(ValueError, match="positive and negative"):
        stats.roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        stats.roc_auc([0, 1], [0.1, np.nan])
    assert stats.f1([0, 0], [False, False]) == 0.0


@pytest.mark.parametrize(("n", "p"), [(500, 20), (30, 60), (200, 1)])
def test_ledoit_wolf_matches_scikit_learn(n, p):
    rng = np.random.default_rng(p)
    x = rng.normal(size=(n, p)) @ rng.normal(size=(p, p)) + 3.0
    for centred in (False, True):
        sample = x - x.mean(axis=0) if centred else x
        shrunk, shrinkage = stats.ledoit_wolf(sample, assume_centered=centred)
        ref_shrunk, ref_shrinkage = covariance.ledoit_wolf(sample, assume_centered=centred)
        assert shrinkage == pytest.approx(ref_shrinkage, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(shrunk, ref_shrunk, rtol=1e-9, atol=1e-12)
