"""Region of interest: only that region is learned and judged, and it travels with the model file."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core.model_io import load_model, save_model
from hamacho_core.models import create_model
from hamacho_core.preprocess import Preprocess, normalize_roi
from hamacho_core.synthetic import make_samples

RECT = ((0.25, 0.25), (0.75, 0.75))
TRIANGLE = ((0.1, 0.1), (0.9, 0.1), (0.5, 0.9))


def test_rectangle_crop_and_placement_back():
    pre = Preprocess(64, roi=RECT)
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:150, 75:225] = 200  # exactly the region
    image[0:10, 0:10] = 255  # outside: must not reach the model
    out = pre.image(image)
    assert out.shape == (64, 64, 3) and out.min() == 200
    assert pre.roi_box(200, 300) == (75, 50, 225, 150)
    placed = pre.to_image(np.ones((64, 64), np.float32), 200, 300)
    assert placed.shape == (200, 300)
    assert placed[50:150, 75:225].min() == pytest.approx(1.0) and placed[:50].max() == 0 and placed[:, :75].max() == 0


def test_polygon_blanks_outside_and_mask_follows():
    pre = Preprocess(64, roi=TRIANGLE)
    image = np.full((100, 100, 3), 120, np.uint8)
    out = pre.image(image)
    assert out[0, 32].tolist() == [120, 120, 120]  # top edge centre is inside the triangle
    assert out[63, 0].tolist() == [0, 0, 0] and out[63, 63].tolist() == [0, 0, 0]  # bottom corners outside
    mask = np.zeros((100, 100), np.uint8)
    mask[5:15, 45:55] = 255
    assert pre.mask(mask)[:12].any() and not pre.mask(mask)[20:].any()
    placed = pre.to_image(np.ones((64, 64), np.float32), 100, 100)
    assert placed[15, 50] == pytest.approx(1.0) and placed[85, 10] == 0.0


@pytest.mark.parametrize("roi", [None, ((0.5, 0.5), (0.1, 0.1, 0.2)), ((0.2, 0.2), (0.2, 0.8)), ((0, 0), (1.5, 1))])
def test_invalid_regions_are_refused(roi):
    if roi is None:
        assert normalize_roi(None) is None
        return
    with pytest.raises((ValueError, TypeError)):
        normalize_roi(roi)


def test_defect_outside_the_region_is_not_judged_and_roi_is_saved(tmp_path):
    train = [s.image for s in make_samples("texture", 10, 0, size=64, seed=3)]
    bad = make_samples("texture", 0, 3, size=64, seed=4)
    full = create_model("patchcore", backbone="efficientnet_lite0", image_size=64)
    full.fit(train)
    # A region that excludes each defect: the half of the image farther from the defect's centre.
    for sample in bad:
        ys, xs = np.nonzero(sample.mask)
        roi = ((0.0, 0.0), (0.4, 1.0)) if xs.mean() > 32 else ((0.6, 0.0), (1.0, 1.0))
        model = create_model("patchcore", backbone="efficientnet_lite0", image_size=64, roi=roi)
        model.fit(train)
        assert model.predict(sample.image).verdicts == ["OK"], "a defect outside the region must not count"
    assert full.predict([s.image for s in bad]).is_anomalous.mean() >= 2 / 3
    saved = save_model(model, tmp_path / "roi.hmc")
    loaded = load_model(saved)
    assert loaded.config.roi == model.config.roi and loaded.preprocess.roi == model.preprocess.roi
    np.testing.assert_array_equal(loaded.predict(bad[0].image).image_scores, model.predict(bad[0].image).image_scores)
