"""The live panel with a real video file as the camera: frames judged, banner and counters, log,
snapshot, pause, a source that cannot be opened, and the main window's Live tab."""

from __future__ import annotations

import csv

import cv2
import pytest

from hamacho_core.live import InspectionLog
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples
from hamacho_gui.live_panel import LivePanel
from hamacho_gui.log_dialog import LogDialog

S = 64


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    frames = [s.image for s in make_samples("texture", 40, 0, size=S, seed=7)]
    frames += [s.image for s in make_samples("texture", 0, 20, size=S, seed=7)]
    path = tmp_path_factory.mktemp("cam") / "camera.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (S, S))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def model():
    m = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S))
    m.fit([s.image for s in make_samples("texture", 12, 0, size=S, seed=30)])
    return m


@pytest.fixture
def panel(qtbot, model):
    p = LivePanel()
    qtbot.addWidget(p)
    p.set_model(model, "test model")
    yield p
    p.stop()


def test_live_video_is_judged_with_banner_counters_and_log(qtbot, panel, video, tmp_path):
    log_path = tmp_path / "log.sqlite"
    assert panel.start(str(video), log_path=log_path)
    assert panel.running and panel.start_button.text() == "Stop"
    qtbot.waitUntil(lambda: panel.results_shown >= 5, timeout=60_000)
    assert panel.banner.text().split()[0] in ("OK", "NG", "REVIEW")
    assert "FPS" in panel.stats.text() and "latency" in panel.stats.text()
    snap = panel.snapshot()
    assert snap is not None and snap.is_file()
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)  # the video ends by itself
    assert "Stopped (ended)" in panel.status.text()
    counts = [int(x) for x in panel.counters.text().split()[1::2]]
    with InspectionLog(log_path) as log:
        assert log.count() == sum(counts) >= 5
        assert log.count("NG") == counts[1]
    dialog = LogDialog(InspectionLog(log_path))
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == sum(counts)
    assert dialog.export(tmp_path / "log.csv") == sum(counts)
    assert len(list(csv.reader(open(tmp_path / "log.csv", encoding="utf-8")))) == sum(counts) + 1


def test_pause_stops_judging_and_stop_is_clean(qtbot, panel, video, tmp_path):
    assert panel.start(str(video), log_path=tmp_path / "l.sqlite")
    qtbot.waitUntil(lambda: panel.results_shown >= 1, timeout=60_000)
    panel.pause_button.setChecked(True)
    qtbot.wait(300)
    shown = panel.results_shown
    qtbot.wait(500)
    assert panel.results_shown <= shown + 1
    panel.stop()
    assert not panel.running and panel.start_button.text() == "Start"


def test_source_that_cannot_open_is_reported(qtbot, panel, tmp_path):
    assert not panel.start(str(tmp_path / "no_such_video.avi"))
    assert not panel.running and panel.status.text()
    assert "#c62828" in panel.status.styleSheet()


def test_main_window_live_tab_follows_the_model(qtbot, model):
    from hamacho_gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    assert not win.live_panel.start_button.isEnabled()
    win.live_panel.set_model(model, "m")
    assert win.live_panel.start_button.isEnabled()
    win.close()
