"""ImageViewer: image/heatmap/outline items at image resolution, controls, zoom, keys (real widgets, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QGraphicsView

from hamacho_core import visualize
from hamacho_core.thresholds import VERDICT_COLOURS
from hamacho_gui.viewer import COLORMAPS, ZOOM_MAX, ZOOM_MIN, ImageViewer

W, H = 300, 200


@pytest.fixture
def viewer(qtbot):
    v = ImageViewer()
    qtbot.addWidget(v)
    v.resize(640, 480)
    v.show()
    qtbot.waitExposed(v)
    return v


def _image() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :, 0] = np.linspace(0, 255, W, dtype=np.uint8)[None, :]
    img[:, :, 1] = 90
    return img


def _map(size: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] / size
    return np.exp(-((yy - 0.3) ** 2 + (xx - 0.6) ** 2) / 0.02).astype(np.float32)


def _two_blobs(size: int = 64) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[8:20, 8:20] = True
    mask[40:56, 30:50] = True
    return mask


def _pixel(pixmap, x: int, y: int) -> tuple[int, int, int]:
    c = pixmap.toImage().pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def test_show_result_items_at_image_size_and_heatmap_checkbox(viewer):
    viewer.show_result(_image(), _map(), None, title="cam1/0001.png", verdict="NG")
    assert viewer.image_item.pixmap().size() == QSize(W, H)
    assert viewer.overlay_item.pixmap().size() == QSize(W, H)
    assert _pixel(viewer.image_item.pixmap(), 299, 10) == (255, 90, 0)
    assert viewer.has_overlay and viewer.overlay_item.isVisible()
    assert viewer.title_label.text() == "cam1/0001.png"
    assert viewer.verdict_label.text() == "NG" and VERDICT_COLOURS["NG"] in viewer.verdict_label.styleSheet()
    viewer.show_heatmap.setChecked(False)
    assert not viewer.overlay_item.isVisible() and not viewer.has_overlay
    viewer.show_heatmap.setChecked(True)
    assert viewer.has_overlay
    viewer.show_result(_image(), None, None, verdict="review (close to threshold)")
    assert not viewer.has_overlay and viewer.overlay_item.pixmap().isNull()
    assert VERDICT_COLOURS["REVIEW"] in viewer.verdict_label.styleSheet()
    viewer.show_result(_image(), None, None, verdict="OK")
    assert VERDICT_COLOURS["OK"] in viewer.verdict_label.styleSheet()


def test_opacity_slider_and_setter_stay_in_step(viewer):
    viewer.show_result(_image(), _map(), None)
    assert viewer.opacity == pytest.approx(0.5) and viewer.opacity_slider.value() == 50
    viewer.opacity_slider.setValue(20)
    assert viewer.overlay_item.opacity() == pytest.approx(0.2) == viewer.opacity
    viewer.set_opacity(0.85)
    assert viewer.opacity_slider.value() == 85 and viewer.overlay_item.opacity() == pytest.approx(0.85)
    viewer.set_opacity(3.0)
    assert viewer.opacity == 1.0 and viewer.opacity_slider.value() == 100


def test_colormap_changes_overlay_pixels(viewer):
    viewer.show_result(_image(), np.full((64, 64), 0.2, np.float32), None)
    jet = _pixel(viewer.overlay_item.pixmap(), 150, 100)
    viewer.colormap_combo.setCurrentText("viridis")
    assert viewer.colormap_name == "viridis"
    viridis = _pixel(viewer.overlay_item.pixmap(), 150, 100)
    assert viridis != jet
    for name in ("inferno", "turbo", "jet"):
        viewer.set_colormap(name)
        assert viewer.colormap_combo.currentText() == name
    assert _pixel(viewer.overlay_item.pixmap(), 150, 100) == jet
    with pytest.raises(ValueError):
        viewer.set_colormap("rainbow-unicorn")


def _swatch_colour(box) -> tuple[int, int, int]:
    c = box.icon().pixmap(14, 14).toImage().pixelColor(2, 7)  # on the swatch's left edge
    return c.red(), c.green(), c.blue()


def test_outline_pens_and_legend_follow_the_colormap(viewer):
    assert COLORMAPS is visualize.COLORMAPS and viewer.colormap_name == visualize.DEFAULT_COLORMAP
    viewer.show_result(_image(), _map(), _two_blobs(), _two_blobs())
    seen = set()
    for name in ("jet", "hot", "viridis"):
        received = []
        viewer.outline_colours_changed.connect(received.append)
        if name == "viridis":
            viewer.colormap_combo.setCurrentText(name)  # the user's choice in the combo box
        else:
            viewer.set_colormap(name)
        viewer.outline_colours_changed.disconnect(received.append)
        colours = visualize.outline_colours(name)
        assert received == [colours] and viewer.outline_colours == colours
        pred, gt = viewer.pred_outline_item.pen().color(), viewer.gt_outline_item.pen().color()
        assert (pred.red(), pred.green(), pred.blue()) == colours.predicted
        assert (gt.red(), gt.green(), gt.blue()) == colours.truth
        halo = viewer.pred_outline_item.childItems()[0].pen().color()
        assert (halo.red(), halo.green(), halo.blue()) == visualize.halo_colour(colours.predicted)
        assert viewer.pred_outline_item.pen().isCosmetic()
        assert _swatch_colour(viewer.show_pred) == colours.predicted
        assert _swatch_colour(viewer.show_gt) == colours.truth
        region = viewer.region_pen().color()
        assert (region.red(), region.green(), region.blue()) == colours.region
        seen.add(colours.predicted)
    assert viewer.pred_outline_item.path().elementCount() > 0  # the outlines survive a colour-map change
    assert len(seen) == 3  # jet, hot and viridis get different predicted colours
    viewer.set_colormap("hot")
    pred = viewer.pred_outline_item.pen().color()
    assert (pred.red(), pred.green(), pred.blue()) == visualize.outline_colours("hot").predicted != (255, 40, 40)


def test_toolbar_fits_the_centre_of_a_1280_window(viewer):
    assert viewer.minimumSizeHint().width() <= 600


def test_masks_at_model_size_are_outlined_in_image_coordinates(viewer):
    gt = np.zeros((64, 64), bool)
    gt[40:56, 30:50] = True
    viewer.show_result(_image(), _map(), _two_blobs(), gt)
    assert viewer.pred_outline_count == 2 and viewer.gt_outline_count == 1
    image_rect = QRectF(0, 0, W, H)
    for item in (viewer.pred_outline_item, viewer.gt_outline_item):
        rect = item.path().boundingRect()
        assert image_rect.contains(rect) and rect.width() > 10
    rect = viewer.gt_outline_item.path().boundingRect()  # 64 -> 300 x 200: x * 4.6875, y * 3.125
    assert rect.left() == pytest.approx(30 * W / 64, abs=2) and rect.right() == pytest.approx(50 * W / 64, abs=2)
    assert rect.top() == pytest.approx(40 * H / 64, abs=2) and rect.bottom() == pytest.approx(56 * H / 64, abs=2)
    viewer.show_pred.setChecked(False)
    viewer.show_gt.setChecked(False)
    assert not viewer.pred_outline_item.isVisible() and not viewer.gt_outline_item.isVisible()


def test_update_masks_changes_only_the_predicted_outline(viewer):
    viewer.show_result(_image(), _map(), _two_blobs(), _two_blobs())
    one = np.zeros((32, 32), np.uint8)
    one[5:9, 5:9] = 255
    viewer.update_masks(one)
    assert viewer.pred_outline_count == 1 and viewer.gt_outline_count == 2
    viewer.update_masks(None)
    assert viewer.pred_outline_count == 0 and viewer.pred_outline_item.path().isEmpty()
    viewer.update_masks(np.zeros((64, 64), bool))
    assert viewer.pred_outline_count == 0


def test_navigation_and_zoom_keys(viewer, qtbot):
    viewer.show_result(_image(), _map(), None)
    viewer.activateWindow()
    viewer.colormap_combo.setFocus()
    qtbot.mouseClick(viewer.view.viewport(), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(viewer.view.hasFocus, timeout=1000)
    assert viewer.opacity_slider.focusPolicy() == Qt.FocusPolicy.NoFocus  # arrows never move the slider
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown, Qt.Key.Key_N):
        with qtbot.waitSignal(viewer.next_requested, timeout=1000):
            qtbot.keyClick(viewer.view, key)
    for key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp, Qt.Key.Key_P):
        with qtbot.waitSignal(viewer.previous_requested, timeout=1000):
            qtbot.keyClick(viewer.view, key)
    fit = viewer.zoom
    qtbot.keyClick(viewer.view, Qt.Key.Key_Plus)
    assert viewer.zoom == pytest.approx(fit * 1.25)
    qtbot.keyClick(viewer.view, Qt.Key.Key_Minus)
    qtbot.keyClick(viewer.view, Qt.Key.Key_Minus)
    assert viewer.zoom == pytest.approx(fit * 0.8)
    qtbot.keyClick(viewer.view, Qt.Key.Key_0)
    assert viewer.zoom == pytest.approx(fit)


def test_wheel_and_zoom_by_respect_limits_and_fit(viewer):
    viewer.show_result(_image(), _map(), None)
    fit = viewer.zoom
    vp = viewer.view.viewport()
    assert fit * W <= vp.width() and fit * H <= vp.height()
    assert fit * W >= vp.width() - 10 or fit * H >= vp.height() - 10  # fills one direction
    assert viewer.view.dragMode() == QGraphicsView.DragMode.ScrollHandDrag
    pos = QPointF(vp.width() * 0.3, vp.height() * 0.4)
    for delta, expected in ((120, fit * 1.25), (0, fit * 1.25), (240, fit * 1.25 ** 3), (-120, fit * 1.25 ** 2)):
        under = viewer.view.mapToScene(pos.toPoint())
        wheel = QWheelEvent(pos, vp.mapToGlobal(pos), QPoint(), QPoint(0, delta), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(vp, wheel)
        assert viewer.zoom == pytest.approx(expected)
        after = viewer.view.mapToScene(pos.toPoint())  # anchored under the mouse
        assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2
    viewer.zoom_by(1e6)
    assert viewer.zoom == pytest.approx(ZOOM_MAX)
    viewer.zoom_by(1e-9)
    assert viewer.zoom == pytest.approx(ZOOM_MIN)
    viewer.zoom_to_fit()
    assert viewer.zoom == pytest.approx(fit)
    viewer.zoom_by(2.0)
    viewer.show_result(_image(), None, None)  # same size: the user's zoom is kept for comparison
    assert viewer.zoom == pytest.approx(fit * 2)
    viewer.show_result(np.zeros((50, 80), np.uint8), None, None)  # new size: fitted again
    assert viewer.zoom == pytest.approx(min((vp.width() - 8) / 80, (vp.height() - 8) / 50))


def test_grey16_and_rgba_inputs(viewer):
    grey = np.full((120, 90), 65535, np.uint16)
    grey[:, :45] = 257 * 10
    viewer.show_result(grey, _map(), _two_blobs())
    assert viewer.image_item.pixmap().size() == QSize(90, 120)
    assert _pixel(viewer.image_item.pixmap(), 10, 10) == (10, 10, 10)
    assert _pixel(viewer.image_item.pixmap(), 80, 10) == (255, 255, 255)
    assert viewer.overlay_item.pixmap().size() == QSize(90, 120)
    assert QRectF(0, 0, 90, 120).contains(viewer.pred_outline_item.path().boundingRect())
    rgba = np.zeros((40, 70, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 0
    viewer.show_result(rgba, None, None)
    assert viewer.image_item.pixmap().size() == QSize(70, 40)
    assert _pixel(viewer.image_item.pixmap(), 5, 5) == (200, 100, 50)
    with pytest.raises(ValueError):
        viewer.show_result(rgba, np.zeros((2, 8, 8)), None)


def test_clear_empties_everything(viewer):
    viewer.show_result(_image(), _map(), _two_blobs(), _two_blobs(), title="x", verdict="OK")
    viewer.clear()
    assert viewer.image_item.pixmap().isNull() and viewer.overlay_item.pixmap().isNull()
    assert not viewer.has_overlay
    assert viewer.pred_outline_count == viewer.gt_outline_count == 0
    assert viewer.title_label.text() == "" and not viewer.verdict_label.isVisible()
    viewer.update_masks(_two_blobs())  # no image: nothing to outline
    assert viewer.pred_outline_count == 0
    viewer.show_result(_image(), _map(), _two_blobs())
    assert viewer.has_overlay and viewer.pred_outline_count == 2


def test_large_image_shows_one_outline_per_region(viewer):
    """A 2000x2000 image with a 256x256 map: one outline per predicted region (bench/bench_gui.py times it)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8)
    norm = _map(256)
    viewer.show_result(image, norm, norm > 0.5, norm > 0.6)
    assert viewer.pred_outline_count == 1
    viewer.update_masks(norm > 0.3)
    assert viewer.pred_outline_count == 1
