"""The Live tab's camera setup preview through the main window, with no model: a real video file as the
camera shows its frames with a focus measure, the histogram and exposure hints; a sharp video has a
higher focus measure than its blurred copy; Start stays off while previewing; Stop preview ends the
worker; a source that cannot be opened is reported; a GenICam camera's exposure and gain are applied and
changing them reopens it; a camera lost while previewing is said at once."""

from __future__ import annotations

import re
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from hamacho_gui.camera_preview import PREVIEW_TIP
from hamacho_gui.main_window import MainWindow
from tests.line.test_genicam import CAMERA_ID, camera  # noqa: F401 - fixture

W, H = 160, 120
FOCUS = re.compile(r"^Focus ([\d,]+(?:\.\d)?)  \(peak ([\d,]+(?:\.\d)?)\)$")


def write_video(path, blur_sigma: float = 0.0):
    """A drifting black-and-white checkerboard (white is saturated), sharp or blurred, MJPG at 30 fps."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (W, H))
    yy, xx = np.mgrid[:H, :W]
    for i in range(30):
        grey = np.where(((yy + i) // 8 + (xx + 2 * i) // 8) % 2 == 0, 20, 255).astype(np.uint8)
        if blur_sigma:
            grey = cv2.GaussianBlur(grey, (0, 0), blur_sigma)
        writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


@pytest.fixture
def window():
    win = MainWindow()
    win.resize(1280, 720)
    win.show()
    yield win
    win.live_panel.stop_preview()
    win.workers.live.wait_idle(5000)
    win.session.changes.clear()
    win.close()
    win.deleteLater()


def focus_shown(live) -> float | None:
    match = FOCUS.match(live.preview.focus_label.text())
    return float(match.group(1).replace(",", "")) if match else None


def preview(qtbot, live, path) -> float:
    """Preview ``path`` (chosen as the Live tab's source) until a focus and a histogram are shown."""
    live.source_kind.setCurrentIndex(live.source_kind.findData("file"))
    live.source_edit.setText(str(path))
    assert live.preview_button.isEnabled(), "Preview needs a source, not a model"
    live.preview_button.click()
    assert live.previewing and live.preview_button.text() == "Stop preview"
    assert live.workers.live.current == "preview"
    qtbot.waitUntil(lambda: focus_shown(live) is not None and live.preview.histogram.sum() > 0, timeout=20_000)
    qtbot.waitUntil(lambda: live.preview.peak > 0, timeout=5_000)
    return focus_shown(live)


def stop(qtbot, live) -> None:
    live.preview_button.click()
    assert not live.previewing and live.preview_button.text() == "Preview"
    qtbot.waitUntil(lambda: not live.workers.live.busy, timeout=10_000)  # the worker ended
    assert live.status_text.startswith("Preview stopped; ") and "frames shown" in live.status_text


def test_preview_without_a_model_focus_histogram_hints_and_stop(qtbot, window, tmp_path):
    live = window.live_panel
    window.central_tabs.setCurrentWidget(live)
    assert live.model is None and window.session.model is None
    assert live.preview_button.toolTip() == PREVIEW_TIP and not live.preview.isVisible()
    live.source_edit.setText("")
    assert not live.preview_button.isEnabled(), "no source chosen yet"

    sharp = preview(qtbot, live, write_video(tmp_path / "sharp.avi"))
    assert live.preview.isVisible() and not live.banner.isVisible() and not live.start_button.isEnabled()
    assert live.minimumSizeHint().width() <= 700, "fits the central area of a 1280x720 window"
    assert not live.source_edit.isEnabled(), "the source is locked while previewing"
    histogram = live.preview.histogram
    assert histogram.shape == (64,) and histogram.sum() == pytest.approx(100.0)  # % of the pixels
    assert histogram[-1] > 20 and histogram[:8].sum() > 20, "the white and the black squares"
    assert "saturated (white)" in live.preview.hints_label.text()
    assert live.viewer.title_label.text().startswith("preview \u00b7 frame ")
    assert f"{W}x{H}" in live.viewer.title_label.text()
    pixmap = live.viewer.image_item.pixmap()
    assert (pixmap.width(), pixmap.height()) == (W, H)
    assert 0 < live.preview.focus_bar.value() <= 1000

    # A model loaded while previewing does not make Start available: the preview must be stopped first.
    live.set_model(SimpleNamespace(kind="stand-in"), "stand-in")
    assert live.previewing and not live.start_button.isEnabled()
    stop(qtbot, live)
    assert live.start_button.isEnabled(), "with a model and no preview, Start is available"
    live.set_model(None)
    title = live.viewer.title_label.text()
    qtbot.wait(300)
    assert live.viewer.title_label.text() == title, "no frame is shown after the stop"

    blurred = preview(qtbot, live, write_video(tmp_path / "blurred.avi", blur_sigma=3.0))
    assert live.preview.peak < sharp, "each preview starts its own focus peak"
    assert sharp > 3 * blurred > 0, (sharp, blurred)
    stop(qtbot, live)


def test_preview_of_a_source_that_cannot_open_is_reported(qtbot, window, tmp_path):
    live = window.live_panel
    assert not live.start_preview(str(tmp_path / "no_such_video.avi"))
    assert not live.previewing and "no_such_video.avi" in live.status_text
    assert "#c62828" in live.status.styleSheet()

    not_a_video = tmp_path / "broken.avi"
    not_a_video.write_bytes(b"this is no video")
    assert live.start_preview(str(not_a_video))  # found; opened on the worker
    qtbot.waitUntil(lambda: not live.previewing, timeout=20_000)
    assert live.status_text.startswith("Preview stopped (failed): ") and "broken.avi" in live.status_text
    assert "#c62828" in live.status.styleSheet()
    assert live.preview_button.text() == "Preview" and live.preview_button.isEnabled()


def saturated_percent(live) -> float:
    match = re.search(r"([\d.]+) % of the pixels are saturated", live.preview.hints_label.text())
    return float(match.group(1)) if match else 0.0


def test_genicam_preview_applies_exposure_and_gain_and_follows_their_changes(qtbot, camera):  # noqa: F811
    """Aravis's fake camera grows brighter with exposure and gain: the preview shows the settings applied."""
    window = MainWindow()
    try:
        live = window.live_panel
        live.source_kind.setCurrentIndex(live.source_kind.findData("genicam"))
        with qtbot.waitSignal(live.cameras_found, timeout=20_000):
            live.find_cameras()
        assert live.source_spec() == f"genicam:{CAMERA_ID}"
        box = live.camera_box
        box.trigger_combo.setCurrentIndex(box.trigger_combo.findData("software"))  # the preview runs free
        box.exposure_spin.setValue(10_000)
        assert live.start_preview()
        qtbot.waitUntil(lambda: focus_shown(live) is not None, timeout=20_000)
        qtbot.waitUntil(lambda: 0 < saturated_percent(live) < 10, timeout=10_000)  # ~2 % at 10 ms, no gain
        with qtbot.waitSignal(live.workers.live.started, timeout=10_000):  # the camera is reopened ...
            box.gain_spin.setValue(5.0)
        assert live.previewing and live.preview_button.text() == "Stop preview"
        qtbot.waitUntil(lambda: saturated_percent(live) > 30, timeout=20_000)  # ... with the gain applied
        assert "512x512" in live.viewer.title_label.text()
        camera.kill()  # unplugged: said at once, and the preview keeps trying
        qtbot.waitUntil(lambda: "reconnecting" in live.status_text, timeout=30_000)
        assert "#c62828" in live.status.styleSheet() and live.previewing
        live.stop_preview()
        qtbot.waitUntil(lambda: not live.workers.live.busy, timeout=10_000)
        assert live.status_text.startswith("Preview stopped: ") and CAMERA_ID in live.status_text
    finally:
        window.session.changes.clear()
        window.close()
        window.deleteLater()
