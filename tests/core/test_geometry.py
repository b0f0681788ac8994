"""Input geometries: aspect-kept and tiled inspection, end to end through fit, predict and model files."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hamacho_core import model_io
from hamacho_core.config import ConfigError, parse_size
from hamacho_core.geometry import plan_geometry
from hamacho_core.models import Padim, PadimConfig, PatchCore, PatchCoreConfig
from hamacho_core.models.planning import advise
from hamacho_core.synthetic import make_sample
from hamacho_core.tiling import GRID, MapStitcher, Tiler, tent_window


def test_tiles_cover_the_canvas_on_the_grid():
    tiler = Tiler(800, 288, 256, 0.25)
    covered = np.zeros((288, 800), int)
    for _n, x, y, view in tiler.tiles(np.zeros((1, 3, 288, 800), np.float32)):
        assert x % GRID == 0 and y % GRID == 0 and view.shape[-2:] == (256, 256)
        covered[y:y + 256, x:x + 256] += 1
    assert covered.min() >= 1  # nothing left out, the last tile ends at the border
    assert tiler.corners[-1] == (800 - 256, 288 - 256)
    assert tiler.step == 192 and len(tiler) == 2 * 4
    with pytest.raises(ValueError, match="do not fit"):
        Tiler(200 // GRID * GRID, 512, 256)


def test_stitching_has_no_seams_and_averages_overlaps():
    tiler = Tiler(512, 256, 256, 0.5)  # tiles at x = 0, 128, 256
    stitcher = MapStitcher(tiler, batch=1)
    for number, x, y, _view in tiler.tiles(np.zeros((1, 256, 512))):
        stitcher.add(x, y, np.full((1, 32, 32), 2.0 + number, np.float32))
    result = stitcher.result()
    assert result.shape == (1, 32, 64)  # stride 8
    # Left of the first overlap only tile 0 counts; where tiles 0 and 1 overlap it is a weighted mean
    # that moves smoothly from 2 to 3 (the tent window), never a step.
    row = result[0, 16]
    assert row[0] == pytest.approx(2.0) and row[-1] == pytest.approx(4.0)
    assert np.all(np.diff(row) >= -1e-6) and np.max(np.diff(row)) < 0.25
    assert tent_window(4, 4)[0, 0] == 1 and tent_window(4, 4)[1, 1] == 4


def test_size_text_and_plan():
    assert parse_size("256") == 256 and parse_size("256x640") == (256, 640) and parse_size("300x300") == 300
    with pytest.raises(ValueError):
        parse_size("wide")
    assert PatchCoreConfig(image_size="128x320").image_size == (128, 320)
    with pytest.raises(ConfigError, match="at most 2048"):
        PatchCoreConfig(image_size=(4096, 256))
    with pytest.raises(ConfigError, match="center_crop needs"):
        PatchCoreConfig(geometry="aspect", center_crop=224)
    assert plan_geometry(PatchCoreConfig(geometry="aspect", image_size=256), (500, 1260)) == (256, 640)
    assert plan_geometry(PatchCoreConfig(geometry="aspect", image_size=256), (1260, 500)) == (640, 256)
    assert plan_geometry(PatchCoreConfig(geometry="tiles", tile_scale=0.5), (2048, 2048)) == 1024
    assert plan_geometry(PatchCoreConfig(geometry="tiles", tile_scale=0.5), (103, 222)) == 256  # at least a tile
    assert plan_geometry(PatchCoreConfig(), (500, 1260)) == 256


def test_advice_names_the_problem_and_the_cost():
    text = advise(PatchCoreConfig(), (600, 1600))
    assert "squashed 2.7:1" in text and "'aspect'" in text and "ms an image" in text
    big = advise(PatchCoreConfig(), (2048, 2048), 40)
    assert "'tiles'" in big
    # issue 24 (9): what tiles buy (the smallest defect kept) and what they cost, in total and against today
    assert "a defect of 24 px becomes about 3 px" in big and "sees defects down to about 3 px" in big
    assert re.search(r"1,000 images: about [\d.]+ (s|min)", big) and re.search(r"\d+\.\dx the time", big)
    assert "Note" not in advise(PatchCoreConfig(), (300, 300))
    assert "81 tiles of 256 px" in advise(PatchCoreConfig(geometry="tiles"), (2048, 2048))  # full resolution


def _tall(n: int, defect: bool = False, seed: int = 0) -> list[np.ndarray]:
    """Tall part images (96x240) made from the square generator, so each keeps a real texture."""
    import cv2

    out = []
    for i in range(n):
        smp = make_sample("texture", i, defect="scratch" if defect else None, size=240, seed=seed)
        out.append(cv2.resize(np.asarray(smp.image), (96, 240), interpolation=cv2.INTER_AREA))
    return out


@pytest.mark.parametrize("cls,cfg", [(PatchCore, PatchCoreConfig), (Padim, PadimConfig)])
def test_aspect_geometry_end_to_end(tmp_path, cls, cfg):
    model = cls(cfg(geometry="aspect", image_size=64, blur_sigma=1.0))
    report = model.fit(_tall(6))
    assert model.config.image_size == (64, 160) and report.details["input_size"] == [64, 160]
    pred = model.predict(_tall(1, seed=5)[0])
    assert pred.anomaly_maps.shape == (1, 160, 64)  # (height, width): the aspect of the images
    full = model.preprocess.to_image(pred.anomaly_maps[0], 240, 96)
    assert full.shape == (240, 96)
    path = model_io.save_model(model, tmp_path / "tall.hmc")
    loaded = model_io.load_model(path)
    assert loaded.config.geometry == "aspect" and loaded.preprocess.output_shape == (160, 64)
    again = loaded.predict(_tall(1, seed=5)[0])
    np.testing.assert_allclose(again.image_scores, pred.image_scores, rtol=1e-5)


@pytest.mark.parametrize("cls,cfg", [(PatchCore, PatchCoreConfig), (Padim, PadimConfig)])
def test_tiled_geometry_end_to_end(tmp_path, cls, cfg):
    model = cls(cfg(geometry="tiles", tile_size=64, tile_overlap=0.5, tile_scale=0.5, blur_sigma=1.0))
    model.fit(_tall(6))
    assert model.preprocess.output_shape == (128, 64) and model.units == 3  # 48x120 -> 64x128: 1 x 3 tiles
    image = _tall(1, seed=5)[0]
    pred = model.predict(image)
    assert pred.anomaly_maps.shape == (1, 128, 64)
    # the score comes from the stitched map: its maximum, or (PaDiM) the mean of its highest 1 %
    top = np.sort(pred.anomaly_maps[0].ravel())[-max(1, round(getattr(model.config, "score_top_percent", 0.0)
                                                              / 100 * pred.anomaly_maps[0].size)):]
    assert pred.image_scores[0] == pytest.approx(top.mean(), rel=1e-5)
    loaded = model_io.load_model(model_io.save_model(model, tmp_path / "tiled.hmc"))
    assert loaded.units == 3
    np.testing.assert_allclose(loaded.predict(image).anomaly_maps, pred.anomaly_maps, rtol=1e-4, atol=1e-4)


def test_one_tile_equals_the_untiled_path():
    """A canvas that is exactly one tile gives the map the fixed geometry gives at that size."""
    images = [np.asarray(make_sample("texture", i, size=64, seed=0).image) for i in range(6)]
    fixed = PatchCore(PatchCoreConfig(image_size=64, blur_sigma=1.0))
    tiled = PatchCore(PatchCoreConfig(geometry="tiles", tile_size=64, tile_scale=1.0, blur_sigma=1.0))
    fixed.fit(images)
    tiled.fit(images)
    assert tiled.units == 1
    np.testing.assert_allclose(tiled.memory_bank, fixed.memory_bank)
    probe = np.asarray(make_sample("texture", 0, defect="scratch", size=64, seed=7).image)
    np.testing.assert_allclose(tiled.predict(probe).anomaly_maps, fixed.predict(probe).anomaly_maps, atol=1e-5)


def test_a_failed_fit_keeps_the_geometry():
    model = PatchCore(PatchCoreConfig(geometry="aspect", image_size=64))
    model.fit(_tall(6))
    with pytest.raises(Exception, match="stopped|cancel"):
        model.fit([np.zeros((64, 300, 3), np.uint8)] * 6, should_stop=lambda: True)
    assert model.config.image_size == (64, 160) and model.preprocess.output_shape == (160, 64)


def test_region_of_interest_combines_with_tiles():
    """The canvas is the region's box scaled; maps go back inside the region only."""
    roi = ((0.0, 0.25), (1.0, 0.75))  # the middle half of each 96x240 image: 96x120
    model = PatchCore(PatchCoreConfig(geometry="tiles", tile_size=64, tile_scale=1.0, roi=roi, blur_sigma=1.0))
    model.fit(_tall(6))
    assert model.preprocess.output_shape == (128, 96) and model.units == 2 * 3  # 96x120 -> 96x128
    image = _tall(1, seed=5)[0]
    full = model.preprocess.to_image(model.predict(image).anomaly_maps[0], 240, 96, fill=-1.0)
    assert (full[:60] == -1).all() and (full[180:] == -1).all() and (full[60:180] > -1).all()


def test_a_fit_too_big_for_this_pc_is_refused_before_any_work():
    """PaDiM on 8192x8192 canvases of 64 px tiles would need over 100 GB: said before any backbone pass."""
    model = Padim(PadimConfig(geometry="tiles", tile_size=64, tile_overlap=0.5, tile_scale=4.0))
    big = [np.zeros((2048, 2048, 3), np.uint8)] * 6
    with pytest.raises(MemoryError, match=r"needs about \d+\.\d GB of memory and .* GB are free \(65025 tile"):
        model.fit(big)
    assert not model.is_fitted and model.config.image_size == 256


def test_tile_size_off_the_grid_is_a_config_error():
    with pytest.raises(ConfigError, match="tile_size must be a multiple of 32"):
        PatchCoreConfig(geometry="tiles", tile_size=100)


def test_aspect_long_side_never_below_the_short_side():
    assert plan_geometry(PatchCoreConfig(geometry="aspect", image_size=300), (1000, 1000)) == 300


def test_estimates_and_advice_follow_the_region_of_interest():
    from hamacho_core.models import REGISTRY

    whole = PatchCoreConfig(geometry="tiles")
    half = PatchCoreConfig(geometry="tiles", roi=((0.0, 0.0), (1.0, 0.5)))
    full_tiles = REGISTRY["patchcore"].estimate_memory(whole, 10, (2048, 2048))["tiles"]
    half_tiles = REGISTRY["patchcore"].estimate_memory(half, 10, (2048, 2048))["tiles"]
    assert full_tiles == 81 and half_tiles == 45  # 9 x 5 tiles on 2048x1024
    assert "Images are 2048x1024" in advise(half, (2048, 2048))


def test_big_maps_are_kept_smaller_for_review_and_auroc_is_sampled(tmp_path):
    import cv2

    from hamacho_core import metrics, review

    big = [cv2.resize(img, (480, 1200), interpolation=cv2.INTER_CUBIC) for img in _tall(7)]
    model = PatchCore(PatchCoreConfig(geometry="tiles", blur_sigma=1.0))  # full resolution: 480x1216
    model.fit(big[:6])
    assert model.preprocess.output_shape == (1216, 480) and model.units == 12
    raw = model.predict(big[6]).anomaly_maps[0]
    kept = review.kept_map(model, raw)
    assert kept.shape == (1024, 404) and kept.max() <= raw.max() + 1e-4
    back = model.preprocess.to_image(kept, 1200, 480)  # shown and exported at the image's own size
    assert back.shape == (1200, 480)
    assert metrics.pixel_step(10_000_000) == 3 and metrics.pixel_step(100) == 1
