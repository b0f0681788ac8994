"""The live panel with a real video file as the camera: every frame judged by default, banner with the
raw score against its threshold, counters, log, snapshot; pause holds the file; thresholds moved while
running; file options; a source that cannot be opened; the layout in a 1280x720 window; the event
loop keeps turning while a slow model works.  Assertions are on what happened, never on how fast."""

from __future__ import annotations

import csv
import re
import threading

import cv2
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from hamacho_core.live import InspectionLog, VideoFileSource
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples
from hamacho_core.thresholds import VERDICT_COLOURS
from hamacho_gui.live_panel import LivePanel
from hamacho_gui.log_dialog import LogDialog

S = 64
N = 60
BANNER = re.compile(r"^(OK|NG|REVIEW)   (\d+\.\d+|\d+) ([≥<]) (\d+\.\d+|\d+)$")


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
def thresholds_restored(model):
    saved = model.judge
    yield model
    model.judge = saved


@pytest.fixture
def panel(qtbot, model):
    p = LivePanel()
    qtbot.addWidget(p)
    p.set_model(model, "test model")
    yield p
    p.stop()


def counts(panel):
    return [int(x) for x in panel.counters.text().split()[1::2]]


def test_live_video_every_frame_judged_with_banner_counters_and_log(qtbot, panel, video, tmp_path):
    assert panel.every_frame_radio.isChecked() and "every frame" in panel.every_frame_radio.toolTip()
    log_path = tmp_path / "log.sqlite"
    assert panel.start(str(video), log_path=log_path)
    assert panel.running and panel.start_button.text() == "Stop"
    assert not panel.inspector.source.is_live  # judge every frame: read on demand
    qtbot.waitUntil(lambda: panel.results_shown >= 1, timeout=60_000)
    snap = panel.snapshot()
    assert snap is not None and snap.is_file()
    qtbot.waitUntil(lambda: not panel.running, timeout=120_000)  # the video ends by itself
    assert panel.status_text.startswith(f"Stopped (end of the source): {N} frames judged, 0 dropped")
    assert sum(counts(panel)) == N and panel.last_result.frame.index == N - 1
    result, model = panel.last_result, panel.model
    match = BANNER.match(panel.banner.text())
    assert match, panel.banner.text()
    verdict, score, sign, threshold = match.groups()
    assert verdict == result.verdict and float(score) == pytest.approx(result.score, rel=0.01)  # RAW, not 0..1
    assert float(threshold) == pytest.approx(model.image_scale.threshold, rel=0.01)
    assert (sign == "≥") == (result.score >= model.image_scale.threshold) == (verdict == "NG")
    # Stopped: the last verdict stays readable on a grey banner (the line is not judging any more).
    assert f"background: {VERDICT_COLOURS['']}" in panel.banner.styleSheet()
    assert "FPS" in panel.stats.text() and "latency" in panel.stats.text()
    with InspectionLog(log_path) as log:
        assert log.count() == N and log.count("NG") == counts(panel)[1]
    dialog = LogDialog(InspectionLog(log_path))
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == N and dialog.export(tmp_path / "log.csv") == N
    assert len(list(csv.reader(open(tmp_path / "log.csv", encoding="utf-8")))) == N + 1


def test_pause_holds_the_file_thresholds_apply_on_resume(qtbot, panel, video, tmp_path, thresholds_restored):
    model = thresholds_restored
    log_path = tmp_path / "l.sqlite"
    assert panel.start(str(video), log_path=log_path)
    qtbot.waitUntil(lambda: panel.results_shown >= 1, timeout=60_000)
    panel.pause_button.click()
    assert panel.pause_button.text() == "Resume" and panel.inspector.paused
    qtbot.waitUntil(lambda: panel.status_text.startswith("paused after frame"), timeout=60_000)  # the pause holds
    # issue 24 (6): the banner says PAUSED (not the last red NG), in a colour no verdict uses
    qtbot.waitUntil(lambda: panel.banner.text() == "PAUSED", timeout=10_000)
    assert not any(colour in panel.banner.styleSheet() for colour in VERDICT_COLOURS.values())
    shown = panel.last_result
    assert shown.part >= 1 and panel.viewer.title_label.text().startswith(f"part {shown.part} \u00b7 frame ")
    inspector = panel.inspector
    read, judged = inspector.grabber.frames_read, inspector.counts
    model.set_thresholds(image=1e9)  # the main window moves the threshold meanwhile (GUI thread)
    assert inspector.grabber.frames_read == read and inspector.counts == judged  # held: nothing read or judged
    panel.pause_button.click()
    assert panel.pause_button.text() == "Pause" and not inspector.paused
    qtbot.waitUntil(lambda: panel.banner.text() != "PAUSED", timeout=60_000)  # judging again
    qtbot.waitUntil(lambda: not panel.running, timeout=120_000)
    assert sum(counts(panel)) == N  # every frame exactly once across the pause
    assert counts(panel)[1] == judged["NG"]  # after the pause nothing is NG any more: the new threshold
    assert panel.last_result.judge.image == 1e9 and panel.banner.text().endswith("< 1000000000")
    with InspectionLog(log_path) as log:
        assert log.count() == N and log.count("NG") == judged["NG"]


def test_file_options_reach_the_source_and_lock_while_running(qtbot, panel, video, tmp_path):
    options = (panel.every_frame_radio, panel.realtime_radio, panel.loop_check)
    panel.source_kind.setCurrentIndex(panel.source_kind.findData("camera"))
    assert not any(w.isEnabled() for w in options)  # a camera has no file options
    panel.source_kind.setCurrentIndex(panel.source_kind.findData("folder"))
    assert all(w.isEnabled() for w in options)
    panel.set_file_options(realtime=True, loop=True)
    assert panel.file_options() == {"realtime": True, "loop": True}
    assert panel.start(str(video), log_path=tmp_path / "l.sqlite")
    source = panel.inspector.source
    assert isinstance(source, VideoFileSource) and source.realtime and source.loop
    assert "at the file's rate" in panel.status_text
    assert not any(w.isEnabled() for w in options)
    qtbot.waitUntil(lambda: panel.results_shown >= 1, timeout=60_000)
    panel.stop()
    assert not panel.running and all(w.isEnabled() for w in options)
    panel.set_file_options(realtime=False, loop=False)
    assert panel.every_frame_radio.isChecked() and not panel.loop_check.isChecked()


class BlockingModel:
    """The real model, but predicting a frame waits until the test releases it (a very slow model)."""

    def __init__(self, model):
        self.model, self.entered, self.release = model, threading.Event(), threading.Event()

    def predict(self, image, **kwargs):
        if image.any():  # not the blank warm-up
            self.entered.set()
            self.release.wait(60)
        return self.model.predict(image, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def test_event_loop_keeps_turning_while_a_slow_model_judges(qtbot, panel, model, video, tmp_path):
    slow = BlockingModel(model)
    panel.set_model(slow, "slow")
    assert panel.start(str(video), log_path=tmp_path / "l.sqlite")
    try:
        qtbot.waitUntil(slow.entered.is_set, timeout=60_000)
        ticks = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(panel.results_shown))
        timer.start(0)
        qtbot.waitUntil(lambda: len(ticks) >= 20, timeout=30_000)  # the only stall check: generous, not a speed
        timer.stop()
        assert set(ticks) == {0}  # the GUI turned 20 times while the model was still on its first frame
        panel.pause_button.click()  # the controls answer meanwhile
        assert panel.pause_button.text() == "Resume"
    finally:
        slow.release.set()
    qtbot.waitUntil(lambda: panel.status_text.startswith("paused after frame 0"), timeout=60_000)
    panel.stop()
    assert not panel.running and sum(counts(panel)) == 1


def test_source_that_cannot_open_is_reported(qtbot, panel, tmp_path):
    assert not panel.start(str(tmp_path / "no_such_video.avi"))
    assert not panel.running and "no_such_video.avi" in panel.status_text
    assert "#c62828" in panel.status.styleSheet()


def test_fits_a_1280x720_window_and_nothing_moves(qtbot, model):
    host = QWidget()  # the central area of a 1280x720 main window next to its side panels
    qtbot.addWidget(host)
    panel = LivePanel()
    QVBoxLayout(host).addWidget(panel)
    panel.set_model(model, "m")
    assert panel.minimumSizeHint().width() <= 700, panel.minimumSizeHint()
    host.resize(700, 600)
    host.show()
    qtbot.waitExposed(host)
    viewer, controls = panel.viewer.geometry(), panel.start_button.geometry()
    panel._status("x " * 400, error=True)  # a long error
    panel.pause_button.setText("Resume")
    panel.start_button.setText("Stop")
    t = model.judge
    panel.banner.setText(f"REVIEW   {t.explain(t.image * 0.99, 'REVIEW')}")
    qtbot.wait(10)  # let the layout requests run
    assert panel.viewer.geometry() == viewer and panel.start_button.geometry() == controls
    assert panel.status.height() < 3 * panel.status.fontMetrics().lineSpacing()
    assert panel.status_text == "x " * 400 and len(panel.status.text()) < len(panel.status_text)  # elided


def test_main_window_live_tab_follows_the_model(qtbot, model):
    from hamacho_gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1280, 720)
    assert win.live_panel.minimumSizeHint().width() <= 700
    assert not win.live_panel.start_button.isEnabled()
    win.live_panel.set_model(model, "m")
    assert win.live_panel.start_button.isEnabled()
    win.close()
