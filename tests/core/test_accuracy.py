"""Acceptance targets on the generated data, at the real default input size (256 px) with the bundled
pretrained EfficientNet-Lite0 (no network): image/pixel AUROC of PatchCore and PaDiM for both
categories, and sane thresholds from the automatic good-only hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core.metrics import evaluate
from hamacho_core.models import Padim, PadimConfig, PatchCore, PatchCoreConfig
from hamacho_core.synthetic import CATEGORIES, make_samples

TRAIN_SEED, TEST_SEED = 11, 12
N_TRAIN, N_TEST_GOOD, N_TEST_BAD = 30, 10, 12  # 4 defects of each kind


@pytest.fixture(scope="module", params=CATEGORIES)
def dataset(request):
    category = request.param
    train = [s.image for s in make_samples(category, N_TRAIN, 0, seed=TRAIN_SEED)]
    test = make_samples(category, N_TEST_GOOD, N_TEST_BAD, seed=TEST_SEED)
    assert test[0].image.shape == (256, 256, 3)
    return category, train, test


def run(model, train, test):
    """Fit with the automatic hold-out (no validation set), predict the test set, evaluate."""
    report = model.fit(train)
    pred = model.predict([s.image for s in test])
    labels = np.array([s.label for s in test])
    masks = np.stack([model.preprocess.mask(s.mask) for s in test])
    metrics = evaluate(pred.image_scores, pred.is_anomalous, labels, pred.anomaly_maps, masks)
    return report, pred, labels, metrics


def check_thresholds(model, report, pred, labels):
    # 20% of the 30 good images were held out; only good images, so the good-only rule applies.
    assert report.n_train == 24 and report.n_validation == 6
    assert "good-only" in model.image_scale.method and "held out" in report.threshold_source
    # The good-only threshold must not flag (nearly) every good test image.
    flagged_good = pred.is_anomalous[labels == 0].mean()
    assert flagged_good <= 0.2, f"{flagged_good:.0%} of good test images flagged"
    # Normalised scores: 0.5 is exactly the threshold, and verdicts agree with it.
    assert float(model.image_scale.normalize(model.image_scale.threshold)) == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_array_equal(pred.is_anomalous, pred.norm_image_scores >= 0.5)
    assert ((pred.norm_image_scores >= 0) & (pred.norm_image_scores <= 1)).all()


@pytest.mark.slow
def test_patchcore_accuracy(dataset):
    category, train, test = dataset
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0"))  # default image_size 256
    assert model.config.image_size == 256 and model.preprocess.output_shape == (256, 256)
    report, pred, labels, metrics = run(model, train, test)
    assert pred.anomaly_maps.shape == (len(test), 256, 256)
    assert metrics.n_good == N_TEST_GOOD and metrics.n_defective == N_TEST_BAD
    assert metrics.image_auroc >= 0.98, (category, metrics)
    assert metrics.pixel_auroc >= 0.95, (category, metrics)
    check_thresholds(model, report, pred, labels)


@pytest.mark.slow
def test_padim_accuracy(dataset):
    category, train, test = dataset
    model = Padim(PadimConfig(backbone="efficientnet_lite0"))
    assert model.config.image_size == 256
    report, pred, labels, metrics = run(model, train, test)
    assert metrics.image_auroc >= 0.95, (category, metrics)
    assert metrics.pixel_auroc is not None and metrics.pixel_auroc >= 0.9, (category, metrics)
    check_thresholds(model, report, pred, labels)
