"""Non-square and large images in the main window: the Train tab says what the geometry does to the
loaded images, and an aspect-kept or tiled model trains, reviews and exports at the images' shape."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hamacho_core import synthetic
from hamacho_core.imageio import read_image, write_image
from tests.gui.test_main_window import click_train, wait_task, window  # noqa: F401 - the shared fixture

W, H = 96, 240


@pytest.fixture
def tall_dir(tmp_path):
    """Tall parts (96x240), e.g. a strip camera: good/, bad/ and mask/ squeezed from the generator."""
    square = tmp_path / "square"
    synthetic.write_dataset(square, category="texture", n_train_good=10, n_test_good=0, n_test_bad=4, size=120, seed=0)
    root = tmp_path / "tall"
    for path in square.rglob("*.png"):
        out = root / path.relative_to(square)
        out.parent.mkdir(parents=True, exist_ok=True)
        image = read_image(path)
        flags = cv2.INTER_NEAREST if "mask" in path.parts else cv2.INTER_AREA
        write_image(out, np.ascontiguousarray(cv2.resize(image, (W, H), interpolation=flags)))
    return root


def _choose(panel, name, value):
    combo = panel.fields[name]
    combo.setCurrentIndex(combo.findData(value))  # as picking it in the list does


def test_geometry_hint_and_aspect_kept_training(qtbot, window, tall_dir, tmp_path):  # noqa: F811
    window.open_dataset(tall_dir)
    wait_task(qtbot, window, "scan")
    panel = window.training_panel
    panel.set_field("image_size", 64)
    panel.set_field("coreset_ratio", 0.2)
    hint = panel.geometry_hint.text()
    assert f"Images are {W}x{H}" in hint and "squashed 2.5:1" in hint and "'aspect'" in hint
    assert "64x160" in hint, "the aspect-kept size is suggested with its cost"
    _choose(panel, "geometry", "aspect")
    assert "squashed" not in panel.geometry_hint.text() and "input 64x160" in panel.geometry_hint.text()
    assert not panel.fields["tile_size"].isEnabled() and panel.fields["image_size"].isEnabled()
    estimate = window.model_manager.backbones.estimate_label.text()
    assert "64x160 px" in estimate, "the Models tab's memory estimate follows the geometry"

    click_train(qtbot, window)
    model = window.session.model
    assert model.config.geometry == "aspect" and model.preprocess.output_shape == (160, 64)
    assert all(item.anomaly_map.shape == (160, 64) for item in window.session.results)
    assert window.viewer.image_item.pixmap().width() == W and window.viewer.image_item.pixmap().height() == H

    out = tmp_path / "export"
    window.export(out)
    wait_task(qtbot, window, "export")
    overlays = sorted(out.glob("*_overlay.png"))
    assert overlays and all(read_image(p).shape[:2] == (H, W) for p in overlays)


def test_tiles_enable_their_settings_and_train(qtbot, window, tall_dir):  # noqa: F811
    window.open_dataset(tall_dir)
    wait_task(qtbot, window, "scan")
    panel = window.training_panel
    _choose(panel, "geometry", "tiles")
    assert panel.fields["tile_size"].isEnabled() and not panel.fields["image_size"].isEnabled()
    panel.set_field("tile_size", 64)
    panel.set_field("tile_scale", 0.5)
    panel.set_field("coreset_ratio", 0.2)
    assert "tiles of 64 px" in panel.geometry_hint.text()
    qtbot.waitUntil(lambda: not window.runner.busy and panel.train_button.isEnabled(), timeout=10_000)
    panel.train_button.click()
    assert not panel.fields["tile_size"].isEnabled() and not panel.fields["image_size"].isEnabled(), \
        "nothing is editable while training"
    wait_task(qtbot, window, "train")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    assert panel.fields["tile_size"].isEnabled() and not panel.fields["image_size"].isEnabled()
    model = window.session.model
    assert model.units == 3 and model.preprocess.output_shape == (128, 64)  # 48x120 -> 64x128: 1 x 3 tiles
    assert all(item.anomaly_map.shape == (128, 64) for item in window.session.results)
