"""The public predict API: single images and batches, every decoded image flavour, paths (unicode
folders), errors before fitting, the Prediction container and user-set thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core.imageio import read_image, write_image
from hamacho_core.judging import NG, OK
from hamacho_core.models import NotFittedError, PatchCore, PatchCoreConfig, Prediction
from hamacho_core.synthetic import make_samples

S = 64


@pytest.fixture(scope="module")
def model():
    train = [s.image for s in make_samples("part", 8, 0, size=S, seed=21)]
    m = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S))  # bundled weights
    m.fit(train)
    return m


@pytest.fixture(scope="module")
def images():
    """3 good then 3 defective RGB uint8 images at the model's size."""
    return [s.image for s in make_samples("part", 3, 3, size=S, seed=22)]


def check(pred: Prediction, n: int, size: int = S):
    assert isinstance(pred, Prediction) and len(pred) == n
    assert pred.image_scores.shape == pred.norm_image_scores.shape == pred.is_anomalous.shape == (n,)
    assert pred.anomaly_maps.shape == pred.masks.shape == (n, size, size)
    assert pred.anomaly_maps.dtype == np.float32 and pred.masks.dtype == bool and pred.is_anomalous.dtype == bool
    assert np.isfinite(pred.image_scores).all() and np.isfinite(pred.anomaly_maps).all()


def test_single_image(model, images):
    pred = model.predict(images[0])
    check(pred, 1)


def test_batch_list_and_array(model, images):
    pred = model.predict(images)
    check(pred, len(images))
    stacked = model.predict(np.stack(images))  # a B x H x W x 3 array is a batch
    np.testing.assert_array_equal(stacked.image_scores, pred.image_scores)
    # per-image results do not depend on the batch they come in
    single = model.predict(images[4])
    np.testing.assert_allclose(single.image_scores, pred.image_scores[4:5], rtol=1e-6)
    np.testing.assert_allclose(single.anomaly_maps, pred.anomaly_maps[4:5], rtol=1e-5, atol=1e-6)


def test_batch_size_does_not_change_results(images):
    train = [s.image for s in make_samples("part", 8, 0, size=S, seed=21)]
    a = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S, batch_size=1))
    b = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S, batch_size=3))
    a.fit(train)
    b.fit(train)
    np.testing.assert_allclose(a.memory_bank, b.memory_bank, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a.predict(images).image_scores, b.predict(images).image_scores, rtol=1e-3)


def test_image_flavours_match_rgb8(model, images):
    rgb = images[3]
    ref = model.predict(rgb)
    grey = rgb.mean(axis=2).round().astype(np.uint8)
    grey_rgb = np.repeat(grey[:, :, None], 3, axis=2)
    variants = {
        "rgba": (np.dstack([rgb, np.full((S, S), 7, np.uint8)]), rgb),  # alpha is dropped
        "uint16": (rgb.astype(np.uint16) * 257, rgb),  # full range to full range
        "float": (rgb.astype(np.float32) / 255.0, rgb),
        "grey2d": (grey, grey_rgb),
        "grey_hw1": (grey[:, :, None], grey_rgb),
        "grey_uint16": (grey.astype(np.uint16) * 257, grey_rgb),
    }
    for name, (image, equivalent) in variants.items():
        got = model.predict(image)
        check(got, 1)
        expected = ref if equivalent is rgb else model.predict(equivalent)
        np.testing.assert_array_equal(got.image_scores, expected.image_scores, err_msg=name)
        np.testing.assert_array_equal(got.anomaly_maps, expected.anomaly_maps, err_msg=name)
    # a greyscale image really is processed as grey (not just accepted): it differs from the colour one
    assert not np.array_equal(model.predict(grey).anomaly_maps, ref.anomaly_maps)


@pytest.mark.parametrize("shape", [(37, 53, 3), (200, 90), (S + 1, S - 1, 4), (33, 33)])
def test_odd_and_non_square_sizes(model, shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    check(model.predict(image), 1)  # maps always come back at the model's input size
    check(model.predict([image, image]), 2)


def test_mixed_sizes_in_one_batch(model, images):
    big = np.repeat(np.repeat(images[0], 2, axis=0), 2, axis=1)  # 128 x 128, shrunk back to 64
    pred = model.predict([images[1], big, images[2][:40]])
    check(pred, 3)


@pytest.mark.parametrize("folder", ["検査 données", "plain"])
def test_paths(model, images, tmp_path, folder):
    root = tmp_path / folder
    root.mkdir()
    png = root / "画像_01.png"
    write_image(png, images[4])
    np.testing.assert_array_equal(read_image(png), images[4])  # lossless round trip
    ref = model.predict(images[4])
    for arg in (png, str(png)):
        got = model.predict(arg)
        check(got, 1)
        np.testing.assert_array_equal(got.image_scores, ref.image_scores)
    grey_png = root / "グレー.png"
    write_image(grey_png, images[0][:, :, 1])
    batch = model.predict([png, str(grey_png), images[4]])
    check(batch, 3)
    np.testing.assert_array_equal(batch.image_scores[0], batch.image_scores[2])


def test_predict_before_fit_raises(images, tmp_path):
    fresh = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S))
    assert not fresh.is_fitted
    with pytest.raises(NotFittedError):
        fresh.predict(images[0])
    with pytest.raises(NotFittedError):
        fresh.predict(images)
    with pytest.raises(NotFittedError):
        fresh.raw_predict(images)


def test_prediction_indexing_and_verdicts(model, images):
    pred = model.predict(images)
    n = len(images)
    for i in range(-n, n):
        item = pred[i]
        check(item, 1)
        j = i % n
        assert item.image_scores[0] == pred.image_scores[j]
        np.testing.assert_array_equal(item.anomaly_maps[0], pred.anomaly_maps[j])
        np.testing.assert_array_equal(item.masks[0], pred.masks[j])
        assert item.verdicts == [pred.verdicts[j]]
    assert pred.verdicts == [NG if flag else OK for flag in pred.is_anomalous]
    assert set(pred.verdicts) <= {"OK", "NG"}
    # consistency of the verdict fields with the model's scales
    np.testing.assert_array_equal(pred.is_anomalous, pred.image_scores >= model.image_scale.threshold)
    np.testing.assert_array_equal(pred.is_anomalous, pred.norm_image_scores >= 0.5)
    np.testing.assert_array_equal(pred.masks, pred.anomaly_maps >= model.pixel_scale.threshold)


def test_set_thresholds_changes_only_verdicts(model, images):
    before = model.predict(images)
    bank = model.memory_bank.copy()
    judge, pixel_scale = model.judge, model.pixel_scale
    try:
        scores = np.sort(before.image_scores)
        cut = float((scores[1] + scores[2]) / 2)  # between the 2nd and 3rd lowest scores
        model.set_thresholds(image=cut)
        after = model.predict(images)
        np.testing.assert_array_equal(after.image_scores, before.image_scores)  # nothing re-run differently
        np.testing.assert_array_equal(after.anomaly_maps, before.anomaly_maps)
        np.testing.assert_array_equal(after.is_anomalous, before.image_scores >= cut)
        assert after.is_anomalous.sum() == len(images) - 2
        assert model.image_scale.threshold == cut and model.image_scale.method == "manual"
        assert model.pixel_scale == pixel_scale  # untouched
        np.testing.assert_array_equal(after.masks, before.masks)
        np.testing.assert_allclose(model.image_scale.normalize(cut), 0.5)
        np.testing.assert_array_equal(after.norm_image_scores >= 0.5, after.is_anomalous)

        pix = float(np.percentile(before.anomaly_maps, 50))
        model.set_thresholds(pixel=pix)
        after2 = model.predict(images)
        np.testing.assert_array_equal(after2.masks, before.anomaly_maps >= pix)
        assert model.image_scale.threshold == cut  # untouched by the pixel change
        np.testing.assert_array_equal(after2.is_anomalous, after.is_anomalous)

        model.set_thresholds(image=float(scores[-1]) + 1.0)  # above every score: all OK
        assert model.predict(images).verdicts == [OK] * len(images)
        np.testing.assert_array_equal(model.memory_bank, bank)  # the model itself never changed
    finally:
        model.judge = judge


def test_grey_batch_array(model, images):
    greys = np.stack([img[:, :, 1] for img in images])  # (6, 64, 64): last axis is not a channel axis
    check(model.predict(greys), len(images))
