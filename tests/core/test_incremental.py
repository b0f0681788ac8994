"""Incremental fit (``PatchCore.add_images``): a false alarm on a good variation the model never saw
(a steel sheet imaged at 90 degrees) stops being one, defects stay detected, thresholds are kept,
the bank grows by ``round(coreset_ratio * new patches)``, and a cancelled call changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core.models import PatchCore, PatchCoreConfig, ValidationSet
from hamacho_core.models.base import NotFittedError
from hamacho_core.progress import Cancelled
from hamacho_core.synthetic import make_samples

S = 64
RATIO = 0.25


def rotated(image: np.ndarray) -> np.ndarray:
    """A good sheet, fed in turned by 90 degrees: streaks run the other way (a good variation)."""
    return np.ascontiguousarray(np.rot90(image))


@pytest.fixture(scope="module")
def data():
    train = [s.image for s in make_samples("texture", 8, 0, size=S, seed=5)]
    bad = [s.image for s in make_samples("texture", 0, 6, size=S, seed=7)]
    other_good = [s.image for s in make_samples("texture", 2, 0, size=S, seed=7)]
    return train, bad, other_good


def fitted(data) -> PatchCore:
    train, bad, _ = data
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S, coreset_ratio=RATIO))
    model.fit(train, validation=ValidationSet(train[:3] + bad[:3], [0, 0, 0, 1, 1, 1]))
    return model


@pytest.fixture(scope="module")
def base_model(data):
    return fitted(data)


def scores(model: PatchCore, images) -> np.ndarray:
    return model.predict(images).image_scores


def test_false_alarm_is_learned_and_defects_stay_detected(data):
    model = fitted(data)  # own model: this test changes it
    _, bad, other_good = data
    threshold = model.image_scale.threshold
    thresholds_before = (model.image_scale, model.pixel_scale)
    false_alarm = rotated(other_good[0])
    before = scores(model, [false_alarm])[0]
    assert before > 1.3 * threshold  # a clear false alarm
    bad_before = scores(model, bad)
    clearly_bad = bad_before > 1.05 * threshold
    assert clearly_bad.sum() >= 4
    old_bank = model.memory_bank.copy()

    stages = []
    details = model.add_images([false_alarm], progress=lambda stage, done, total: stages.append(stage))

    after = scores(model, [false_alarm])[0]
    assert after < 0.5 * before and after < threshold  # learned: no longer flagged
    assert (scores(model, bad)[clearly_bad] >= threshold).all()  # the other defects are still NG
    assert (model.image_scale, model.pixel_scale) == thresholds_before  # thresholds kept
    n_new = (S // 8) ** 2
    assert details["patches"] == n_new and details["images"] == 1
    assert details["previous_memory_bank"] == len(old_bank)
    assert len(model.memory_bank) == details["memory_bank"] == len(old_bank) + round(RATIO * n_new)
    assert details["added"] == round(RATIO * n_new)
    assert 0 < details["kept_old"] < len(old_bank) + 1  # old patches compete with the new ones
    assert "features" in stages and "coreset" in stages


def test_bank_grows_by_the_ratio_for_each_call(data):
    model = fitted(data)
    _, _, other_good = data
    sizes = [len(model.memory_bank)]
    for images in ([other_good[0]], [rotated(other_good[1]), other_good[1]]):
        details = model.add_images(images)
        sizes.append(len(model.memory_bank))
        assert details["memory_bank"] == sizes[-2] + round(RATIO * len(images) * (S // 8) ** 2)
    assert sizes[0] < sizes[1] < sizes[2]


@pytest.mark.parametrize("stop_after", [0, 1, 3, "last"])
def test_cancel_leaves_the_model_unchanged(base_model, data, stop_after):
    _, bad, other_good = data
    bank = base_model.memory_bank.copy()
    index = base_model.index
    before = scores(base_model, bad[:2])
    if stop_after == "last":  # 2 feature checks, the coreset's checks, then the one before the swap
        n_select = len(bank) + round(RATIO * 2 * (S // 8) ** 2)
        every = max(1, n_select // 100)
        stop_after = 2 + sum(1 for step in range(1, n_select) if step % every == 0)
    calls = []

    def should_stop() -> bool:  # stop at the n-th check: during features, coreset, or just before the swap
        calls.append(1)
        return len(calls) > stop_after

    with pytest.raises(Cancelled):
        base_model.add_images([rotated(other_good[0]), rotated(other_good[1])], should_stop=should_stop)
    assert base_model.index is index
    np.testing.assert_array_equal(base_model.memory_bank, bank)
    np.testing.assert_array_equal(scores(base_model, bad[:2]), before)


def test_needs_a_fitted_model_and_images(base_model):
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S))
    with pytest.raises(NotFittedError):
        model.add_images([np.zeros((S, S, 3), np.uint8)])
    with pytest.raises(ValueError, match="no images"):
        base_model.add_images([])
