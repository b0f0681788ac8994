"""Live inspection at the station: a camera, video, stream or folder judged frame by frame.

The core's :class:`LiveInspector` runs as the one long-running job of the ``live`` lane of
:class:`~hamacho_gui.workers.Workers` (capture in its own thread inside it, the newest frame wins).  Its
results are handed over coalesced (:meth:`~hamacho_gui.workers.Partial.latest`): only the newest
undelivered one is pending, so a slow display never queues results either.

A video file or image folder is judged frame by frame by default (validation: every frame once), or
played at its own rate like a camera; Pause holds a file or folder where it is (a camera runs on).
Preview shows the source with its camera settings and no model (:mod:`hamacho_gui.camera_preview`), to
aim, focus and light it.  The banner shows the verdict with the raw score and the threshold it was
compared with.  The layout fits a 1280x720 window: no row forces a wide minimum, and texts that come and go
(status, banner, figures) have fixed heights, so nothing moves.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from hamacho_core.live import InspectionLog, LiveInspector, LiveResult, SourceError, open_source
from hamacho_core.models import AnomalyModel
from hamacho_core.outputs import full_size_maps, save_result_images
from hamacho_core.paths import user_data_dir
from hamacho_core.thresholds import VERDICT_COLOURS
from hamacho_gui import camera_preview as setup
from hamacho_gui.camera_box import CameraBox
from hamacho_gui.line_box import LineBox
from hamacho_gui.log_dialog import LogDialog
from hamacho_gui.viewer import ImageViewer
from hamacho_gui.workers import Workers, guard, panel_workers

ERROR_COLOUR = "#c62828"
FILE_KINDS = ("file", "folder")  # sources that can be judged frame by frame, looped and paused
EVERY_FRAME_TIP = ("Judge every frame: each frame of the video (each image of the folder) is judged exactly once, "
                   "as fast as the model can; Pause holds it. Use this to validate a model on a recording "
                   "(the default).")
REALTIME_TIP = ("Play at the file's rate: the video plays at its own frame rate (a folder shows one image every "
                "0.5 s), like a camera; frames the model has no time for are skipped.")


class StatusLine(QLabel):
    """A message of at most ``lines`` wrapped lines in a fixed height (elided; the whole text is the
    tool tip), which never widens or heightens its layout."""

    def __init__(self, lines: int = 2, parent=None):
        super().__init__(parent)
        self._full, self._lines = "", lines
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * lines + 6)

    def full_text(self) -> str:
        return self._full

    def set_message(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        fm, width = self.fontMetrics(), max(20, self.contentsRect().width())
        room = fm.lineSpacing() * self._lines + 2
        shown, budget = self._full, width * self._lines
        flags = int(Qt.TextFlag.TextWordWrap)
        while shown and fm.boundingRect(QRect(0, 0, width, 10**5), flags, shown).height() > room and budget > 20:
            budget = int(budget * 0.9)
            shown = fm.elidedText(self._full, Qt.TextElideMode.ElideRight, budget)
        self.setText(shown)


#: The partial-result tag of the station's state (``LiveInspector.run``'s ``on_station``).
STATION = "station"
#: Banner text and colour while the station does not judge (the verdict colours mean a part's verdict).
STATION_BANNERS = {"paused": ("PAUSED", "#5d6d7e"), "camera lost": ("CAMERA LOST \u2013 reconnecting", "#4a235a")}


def banner_text(result: LiveResult | None) -> str:
    """"NG   3.21 ≥ 2.80": the verdict, the raw score and the threshold it was compared with."""
    if result is None:
        return "—"
    return f"{result.verdict}   {result.comparison}".rstrip()


def _fixed_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    return label


def _wide_enough(button: QPushButton, *texts: str) -> QPushButton:
    """A button as wide as its widest text, so changing its text never moves its neighbours."""
    current = button.text()
    width = 0
    for text in texts:
        button.setText(text)
        width = max(width, button.sizeHint().width())
    button.setText(current)
    button.setMinimumWidth(width)
    return button


def live_job(inspector: LiveInspector):
    """The live lane's job: judge until stopped; each result coalesced (newest wins), each event delivered."""
    def job(progress, should_stop, partial) -> dict:
        return inspector.run(partial.latest, should_stop, on_event=lambda level, message: partial((level, message)),
                             on_station=lambda state: partial((STATION, state)))
    return job


class LivePanel(QWidget):
    """Source choice, file options, start/stop/pause, a big verdict banner, counters, FPS and latency."""

    cameras_found = Signal(list)

    def __init__(self, parent=None, *, workers: Workers | None = None):
        """``workers``: the window's lanes (``live`` judges, ``devices`` finds cameras); None: the panel's own."""
        super().__init__(parent)
        self.workers = panel_workers(self, workers)
        self.model: AnomalyModel | None = None
        self.model_name = ""
        self.inspector: LiveInspector | None = None  #: the running inspection (None: not running)
        self._run = 0  # which start the live lane's handlers belong to
        self.log: InspectionLog | None = None
        self.end_reason = ""  #: why the last run ended ("stopped", "ended", "failed"); "" before one ended
        self.last_result: LiveResult | None = None
        self.results_shown = 0
        self.station = ""  #: what the running station does ("judging", "paused", "camera lost", ...)
        self.previewing = False  #: the camera setup preview runs (no model, nothing judged)

        self.source_kind = QComboBox()
        for text, kind in (("Camera", "camera"), ("GenICam camera", "genicam"), ("Video file", "file"),
                           ("Image folder", "folder"), ("Stream URL", "url")):
            self.source_kind.addItem(text, kind)
        self.source_kind.currentIndexChanged.connect(self._update_buttons)
        self.source_edit = QLineEdit("0")
        self.source_edit.setPlaceholderText("camera index, file, folder or rtsp://... URL")
        self.source_edit.setMinimumWidth(120)
        self.source_edit.textChanged.connect(self._update_buttons)
        self.browse_button = QPushButton("Browse...")
        self.browse_button.clicked.connect(self._browse)

        self.every_frame_radio = QRadioButton("Judge every frame")
        self.every_frame_radio.setToolTip(EVERY_FRAME_TIP)
        self.realtime_radio = QRadioButton("Play at the file's rate")
        self.realtime_radio.setToolTip(REALTIME_TIP)
        self.pace_group = QButtonGroup(self)
        self.pace_group.addButton(self.every_frame_radio)
        self.pace_group.addButton(self.realtime_radio)
        self.every_frame_radio.setChecked(True)
        self.loop_check = QCheckBox("Loop")
        self.loop_check.setToolTip("Start the video or folder again at its end (until Stop).")

        self.start_button = _wide_enough(QPushButton("Start"), "Start", "Stop")
        self.start_button.clicked.connect(self.toggle)
        self.preview_button = _wide_enough(QPushButton("Preview"), "Preview", "Stop preview")
        self.preview_button.setToolTip(setup.PREVIEW_TIP)
        self.preview_button.clicked.connect(lambda: self.stop_preview() if self.previewing else self.start_preview())
        self.pause_button = _wide_enough(QPushButton("Pause"), "Pause", "Resume")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip("A video file or folder waits where it is; a camera or stream keeps "
                                     "running, its frames are not judged.")
        self.pause_button.toggled.connect(self.set_paused)
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.clicked.connect(self.snapshot)
        self.reset_button = QPushButton("Reset counters")
        self.reset_button.clicked.connect(self.reset_counts)
        self.log_button = QPushButton("Inspection log...")
        self.log_button.clicked.connect(self.show_log)
        self.camera_box = CameraBox(workers=self.workers)
        self.camera_box.found.connect(self._on_cameras)
        self.camera_box.chosen.connect(self.source_edit.setText)
        setup.watch_camera_settings(self.camera_box, self._restart_preview)
        self.trigger_button = QPushButton("Trigger")
        self.trigger_button.setToolTip("Take one picture with the software-triggered GenICam camera (a PLC can "
                                       "do the same through Modbus register 8, an MES through MQTT TOPIC/trigger)")
        self.trigger_button.clicked.connect(self.trigger)
        self.line_box = LineBox(workers=self.workers)
        self.line_box.setVisible(False)
        self.line_button = QPushButton("Line outputs")
        self.line_button.setCheckable(True)
        self.line_button.setToolTip("Send each verdict to the PLC (Modbus TCP), an MQTT broker, a webhook or a folder")
        self.line_button.toggled.connect(self.line_box.setVisible)
        self.save_check = QCheckBox("Save NG and REVIEW frames to")
        self.save_edit = QLineEdit(str(user_data_dir() / "live_saved"))
        self.save_edit.setMinimumWidth(120)

        self.banner = _fixed_label("—")
        self.banner.setFixedHeight(64)
        self.counters = _fixed_label("OK 0   NG 0   REVIEW 0")
        self.stats = _fixed_label("Not running")
        self.status = StatusLine(2)
        self.viewer = ImageViewer()
        self.preview = setup.CameraPreview()
        self.preview.setVisible(False)

        source_row = QHBoxLayout()
        source_row.addWidget(QLabel("Source:"))
        source_row.addWidget(self.source_kind)
        source_row.addWidget(self.source_edit, 1)
        source_row.addWidget(self.browse_button)
        self.file_row = QWidget()
        file_row = QHBoxLayout(self.file_row)
        file_row.setContentsMargins(0, 0, 0, 0)
        file_row.addWidget(QLabel("File or folder:"))
        for widget in (self.every_frame_radio, self.realtime_radio, self.loop_check):
            file_row.addWidget(widget)
        file_row.addStretch(1)
        control_row = QHBoxLayout()  # two short rows: the tab fits beside the side panels at 1280x720
        for widget in (self.preview_button, self.start_button, self.trigger_button, self.pause_button):
            control_row.addWidget(widget)
        control_row.addStretch(1)
        tools_row = QHBoxLayout()
        for widget in (self.snapshot_button, self.reset_button, self.log_button, self.line_button):
            tools_row.addWidget(widget)
        tools_row.addStretch(1)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_check)
        save_row.addWidget(self.save_edit, 1)
        info = QGridLayout()
        info.addWidget(self.banner, 0, 0, 1, 2)
        info.addWidget(self.counters, 1, 0)
        info.addWidget(self.stats, 1, 1)
        info.setColumnStretch(0, 1)
        info.setColumnStretch(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(source_row)
        layout.addWidget(self.camera_box)
        layout.addWidget(self.file_row)
        for row in (control_row, tools_row, save_row):
            layout.addLayout(row)
        layout.addWidget(self.line_box)
        layout.addLayout(info)
        layout.addWidget(self.preview)
        layout.addWidget(self.viewer, 1)
        layout.addWidget(self.status)
        self._status("Load or train a model, choose a source and press Start (Preview needs no model).")
        self._set_banner(None)
        self._update_buttons()

    # --- public API -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.inspector is not None

    @property
    def status_text(self) -> str:
        """The whole status message (the label may show it elided)."""
        return self.status.full_text()

    def set_model(self, model: AnomalyModel | None, name: str = "") -> None:
        if self.running:
            self.stop()
        self.model, self.model_name = model, name or (model.kind if model else "")
        self._update_buttons()
        if model is not None and not self.previewing:
            self._status(f"Model {self.model_name} ready: choose a source and press Start (F5).")

    def source_spec(self) -> str:
        return self.source_edit.text().strip()

    def set_file_options(self, realtime: bool, loop: bool) -> None:
        """For a video file or folder: ``realtime`` plays it at its own rate (frames may be skipped),
        otherwise every frame is judged; ``loop`` restarts it at its end.  Used by the next Start."""
        (self.realtime_radio if realtime else self.every_frame_radio).setChecked(True)
        self.loop_check.setChecked(bool(loop))

    def file_options(self) -> dict:
        """The ``open_source`` keywords the file options give: ``{"realtime": ..., "loop": ...}``."""
        return {"realtime": self.realtime_radio.isChecked(), "loop": self.loop_check.isChecked()}

    def start(self, spec: str | None = None, *, log_path: Path | None = None) -> bool:
        """Start judging ``spec`` (or the source field); False with a message if it cannot start."""
        if self.model is None or self.running:
            return False
        self.stop_preview()
        opened = self._open(spec)
        if opened is None:
            return False
        source, spec, kind = opened
        try:
            sinks = self.line_box.settings().sinks()
        except (ValueError, ImportError) as exc:
            source.close()
            self._status(f"Line outputs: {exc}", error=True)
            return False
        self.log = InspectionLog(log_path)
        save_dir = Path(self.save_edit.text()) if self.save_check.isChecked() else None
        inspector = LiveInspector(self.model, source, save_dir=save_dir, log=self.log, model_name=self.model_name,
                                  sinks=sinks)
        self.line_box.set_running(True)
        self.camera_box.set_running(True)
        self.inspector = inspector
        mine = self._handlers()
        self._show_preview(False)
        self.results_shown = 0
        self.station = ""
        self.pause_button.setChecked(False)
        self.workers.live.start("live", live_job(inspector), on_done=mine(self._on_ended),
                                on_failed=mine(self._on_failed), on_cancelled=mine(lambda: self._on_ended({})),
                                on_partial=mine(self._on_partial))
        how = " (software trigger: press Trigger, or trigger from the PLC or MQTT)" \
            if inspector.software_triggered else "" if kind not in FILE_KINDS else \
            " at the file's rate" if source.is_live else ", every frame"
        self._status(f"Judging {spec}{how} with {self.model_name}...")
        self._update_buttons()
        return True

    def start_preview(self, spec: str | None = None) -> bool:
        """Show ``spec`` (or the source field) as Start would open it, camera free-running, with its focus
        measure, histogram and exposure hints; no model needed.  False with a message if it cannot open."""
        if self.running or self.previewing:
            return False
        opened = self._open(spec, **setup.PREVIEW_OPTIONS)
        if opened is None:
            return False
        source, spec, _ = opened
        mine = self._handlers()
        self.previewing = True
        self.preview.reset()
        self._show_preview(True)
        failed = {"reason": "failed", "error": ""}
        self.workers.live.start("preview", setup.preview_job(source), on_done=mine(self._on_preview_ended),
                                on_failed=mine(lambda message: self._on_preview_ended({**failed, "error": message})),
                                on_cancelled=mine(lambda: self._on_preview_ended({})),
                                on_partial=mine(self._on_preview_partial))
        self._status(f"Preview of {spec} (nothing is judged): aim, light, and turn the lens to the focus peak.")
        self._update_buttons()
        return True

    def stop_preview(self) -> None:
        """Stop the preview without waiting (its worker ends within a second; the status line says so)."""
        if self.previewing:
            self.previewing = False
            self.workers.live.cancel()
            self._update_buttons()

    def stop(self, wait_ms: int = 10000) -> None:
        """Stop judging and wait for the inspection to end; its summary is shown when this returns."""
        if self.inspector is None:
            return
        lane = self.workers.live
        lane.cancel()
        lane.wait_idle(wait_ms)
        lane.deliver()  # the run's end (its summary) is handled now, not at the next event-loop turn
        if self.inspector is not None:  # it did not end in time: its late end is ignored
            self._run += 1
            self._finished()

    def trigger(self) -> None:
        """Take one picture with a software-triggered camera (the Trigger button), on the devices lane: a
        camera that does not answer never holds the window up.  A refusal reaches the status line."""
        inspector = self.inspector
        if inspector is not None:
            self.workers.devices.start("trigger", lambda progress, should_stop: inspector.trigger())

    def toggle(self) -> None:
        self.stop() if self.running else self.start()

    def set_paused(self, paused: bool) -> None:
        """Pause (a file or folder waits where it is; a camera runs on, unjudged) or resume."""
        if self.inspector is not None:
            self.inspector.paused = paused
        if self.pause_button.isChecked() != paused:
            self.pause_button.setChecked(paused)  # calls back here once
            return
        self.pause_button.setText("Resume" if paused else "Pause")

    def reset_counts(self) -> None:
        if self.inspector is not None:
            self.inspector.reset_counts()
        self.counters.setText("OK 0   NG 0   REVIEW 0")

    def snapshot(self) -> Path | None:
        """Save the last judged frame with its heatmap, map and mask (PNG) in the snapshot folder."""
        result = self.last_result
        if result is None or self.model is None:
            self._status("Nothing to save yet.", error=True)
            return None
        folder = user_data_dir() / "snapshots"
        folder.mkdir(parents=True, exist_ok=True)
        stem = time.strftime("snapshot_%Y%m%d_%H%M%S") + f"_{result.frame.index}"
        outputs = save_result_images(self.model, result.frame.image, result.prediction.anomaly_maps[0], folder, stem)
        self._status(f"Snapshot saved: {outputs['overlay']}")
        return outputs["overlay"]

    def show_log(self) -> None:
        LogDialog(InspectionLog(self.log.path if self.log else None), self).open()

    # --- internals --------------------------------------------------------------------------------
    def _open(self, spec: str | None, **extra):
        """``(source, spec, kind)`` for ``spec`` (or the source field) with Start's options and ``extra``
        (not opened yet); None with the reason on the status line."""
        spec = spec if spec is not None else self.source_spec()
        self.source_edit.setText(str(spec))
        kind = "camera" if str(spec).isdigit() else "genicam" if str(spec).lower().startswith("genicam:") else \
            "url" if "://" in str(spec) else "folder" if Path(spec).is_dir() else "file"
        self.source_kind.setCurrentIndex(self.source_kind.findData(kind))
        options = {**self.file_options(), **(self.camera_box.options() if kind == "genicam" else {}), **extra}
        try:
            return open_source(spec, **options), spec, kind  # a source takes the options that are its own
        except SourceError as exc:
            self._status(str(exc), error=True)
            return None

    def _handlers(self):
        """Wraps the handlers of a new start (inspection or preview): a late one of an earlier start is ignored."""
        self._run += 1
        run = self._run
        return lambda fn: guard(self, lambda *args: fn(*args) if run == self._run else None)

    def _on_preview_partial(self, value) -> None:
        if isinstance(value, tuple):  # a source event: a lost camera, reconnecting, ...
            self._on_event(*value)
            return
        self.viewer.show_result(value.frame.image, None, None, title=value.title)
        self.preview.show_figures(value.figures)

    def _on_preview_ended(self, summary: dict) -> None:
        self.previewing = False
        self._update_buttons()
        if summary:
            self._status(setup.preview_summary(summary), error=summary.get("reason") == "failed")

    def _show_preview(self, shown: bool) -> None:
        """The preview's figures take the place of the verdict banner and counters (and give it back)."""
        self.preview.setVisible(shown)
        for widget in (self.banner, self.counters, self.stats):
            widget.setVisible(not shown)

    def _restart_preview(self) -> None:
        """The GenICam settings changed while previewing: reopen the camera with them."""
        if self.previewing:
            self.stop_preview()
            self.start_preview()

    def _on_partial(self, value) -> None:
        """The live lane's partial results: an event ``(level, message)`` or the newest result."""
        if isinstance(value, tuple) and value[0] == STATION:
            self._on_station(value[1])
        elif isinstance(value, tuple):
            self._on_event(*value)
        else:
            self._show_result(value)

    def _on_station(self, state: str) -> None:
        """Paused or camera lost: the banner says so at once instead of keeping the last verdict (issue 24, 6);
        judging again: a neutral banner until the next verdict."""
        previous, self.station = self.station, state
        if state not in STATION_BANNERS:  # judging (or ended: the end of the run greys the last verdict)
            if previous in STATION_BANNERS:
                self._set_banner(None)  # no verdict from before the pause or the loss: the next one comes
            return
        text, colour = STATION_BANNERS[state]
        self.banner.setText(text)
        self.banner.setToolTip(f"Not judging: {state}")
        self.banner.setStyleSheet(f"background: {colour}; color: white; font-size: 30px; font-weight: bold; "
                                  "border-radius: 6px; padding: 4px 16px;")

    def _show_result(self, result: LiveResult) -> None:
        if self.model is None:
            return
        self.last_result = result
        self.results_shown += 1
        frame = result.frame.image
        h, w = frame.shape[:2]
        # as judged, not as the sliders are now
        norm, mask = full_size_maps(self.model, result.prediction.anomaly_maps[0], h, w, judge=result.judge)
        # the part number the line outputs received, then the source's own frame number
        title = f"part {result.part} \u00b7 frame {result.frame.index}" + (
            f"  {result.frame.name}" if result.frame.name else "")
        self.viewer.show_result(frame, norm, mask, None, title=title, verdict=result.verdict)
        if self.station not in STATION_BANNERS:  # a verdict judged just before a pause does not hide PAUSED
            self._set_banner(result)
        c = result.counts
        self.counters.setText(f"OK {c.get('OK', 0)}   NG {c.get('NG', 0)}   REVIEW {c.get('REVIEW', 0)}")
        self.stats.setText(f"{result.fps:.1f} FPS · latency {result.latency_ms:.0f} ms · inference "
                           f"{result.inference_ms:.0f} ms · dropped {result.dropped}")
        if self.inspector is not None:
            self.line_box.show_state([sink.status() for sink in self.inspector.sinks])

    def _set_banner(self, result: LiveResult | None) -> None:
        colour = VERDICT_COLOURS.get(result.verdict if result is not None else "", VERDICT_COLOURS[""])
        text = banner_text(result)
        self.banner.setText(text)
        self.banner.setToolTip("" if result is None else
                               f"{result.verdict}: raw score {result.score:.6g}; normalised {result.normalized:.3f} "
                               f"(0.5 = the NG threshold)")
        self.banner.setStyleSheet(f"background: {colour}; color: white; font-size: 30px; font-weight: bold; "
                                  "border-radius: 6px; padding: 4px 16px;")

    def _on_event(self, level: str, message: str) -> None:
        self._status(message, error=level in ("warning", "error"))

    def _on_failed(self, message: str) -> None:
        """The model failed (the traceback is in the log): said, never a crash."""
        self._on_ended({"reason": "failed", "error": message})

    def _on_ended(self, summary: dict) -> None:
        """The run ended (stopped, end of the source, failed): the summary is shown, the controls freed."""
        self._finished()
        if not summary:  # cancelled before it began: nothing to report
            return
        reason = self.end_reason = summary.get("reason", "")
        self.line_box.show_state(summary.get("sinks") or [])  # after the last deliveries
        c = summary.get("counts") or {}
        if c:  # the final counts (the display shows at most one result per event-loop turn)
            self.counters.setText(f"OK {c.get('OK', 0)}   NG {c.get('NG', 0)}   REVIEW {c.get('REVIEW', 0)}")
        why = {"stopped": "", "ended": " (end of the source)", "failed": " (failed)"}.get(reason, f" ({reason})")
        text = f"Stopped{why}: {summary.get('judged', 0)} frames judged, {summary.get('dropped', 0)} dropped"
        # The banner turns grey: the line is not judging any more (its last verdict stays readable; a PAUSED or
        # CAMERA LOST banner gives way to it: the run is over, not paused).
        if self.station in STATION_BANNERS:
            self.banner.setText(banner_text(self.last_result))
        self.station = ""
        self.banner.setStyleSheet(f"background: {VERDICT_COLOURS['']}; color: white; font-size: 30px; "
                                  "font-weight: bold; border-radius: 6px; padding: 4px 16px;")
        if "triggers" in summary:
            text += (f"; {summary['triggers']} software triggers ({summary['triggers_refused']} refused, "
                     f"{summary['triggers_unanswered']} without a picture)")
        if (summary.get("camera") or {}).get("incomplete"):
            text += f"; the camera sent {summary['camera']['incomplete']} incomplete frames (lost packets)"
        if summary.get("error"):
            text += f"; last error: {summary['error']}"
        if summary.get("unlogged"):
            text += f"; {summary['unlogged']} verdicts NOT logged ({summary.get('log_error')})"
        self._status(text, error=reason == "failed" or bool(summary.get("unlogged")))

    def _finished(self) -> None:
        self.inspector = None
        if self.log is not None:
            self.log.close()
        self.line_box.set_running(False)
        self.camera_box.set_running(False)
        self.pause_button.setChecked(False)
        self._update_buttons()

    def _status(self, text: str, error: bool = False) -> None:
        self.status.set_message(text)
        self.status.setStyleSheet(f"color: {ERROR_COLOUR};" if error else "")

    def find_cameras(self) -> None:
        """List the GenICam cameras (in a worker): the first goes into the source field, all are named."""
        self.browse_button.setEnabled(False)
        self._status("Looking for GenICam cameras ...")
        self.camera_box.find()

    def _on_cameras(self, cameras: list, error: str) -> None:
        self.browse_button.setEnabled(not self.running)
        if error:
            self._status(error, error=True)
        elif not cameras:
            self._status("No GenICam camera found (connected, powered, on this PC's network?)", error=True)
        else:
            self._status("Found: " + "; ".join(f"{c.vendor} {c.model} (serial {c.serial}, {c.address})"
                                               for c in cameras) + ". Press Start.")
        self.cameras_found.emit(cameras)

    def _update_buttons(self) -> None:
        running = self.running
        genicam = self.source_kind.currentData() == "genicam"
        self.browse_button.setText("Find cameras..." if genicam else "Browse...")
        self.camera_box.setVisible(genicam)
        self.file_row.setVisible(not genicam)
        self.trigger_button.setVisible(genicam)
        self.trigger_button.setEnabled(running and self.inspector.software_triggered)
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.setEnabled(running or (self.model is not None and not self.previewing))
        self.preview_button.setText("Stop preview" if self.previewing else "Preview")
        self.preview_button.setEnabled(self.previewing or (not running and bool(self.source_spec())))
        for widget in (self.pause_button, self.reset_button):
            widget.setEnabled(running)
        self.snapshot_button.setEnabled(not self.previewing)  # a snapshot is of a judged frame
        for widget in (self.source_kind, self.source_edit, self.browse_button, self.save_check, self.save_edit):
            widget.setEnabled(not running and not self.previewing)
        file_options = not running and not self.previewing and self.source_kind.currentData() in FILE_KINDS
        for widget in (self.every_frame_radio, self.realtime_radio, self.loop_check):
            widget.setEnabled(file_options)

    def _browse(self) -> None:
        kind = self.source_kind.currentData()
        if kind == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Video file", "", "Videos (*.avi *.mp4 *.mkv *.mov);;All (*)")
        elif kind == "folder":
            path = QFileDialog.getExistingDirectory(self, "Image folder")
        elif kind == "genicam":
            self.find_cameras()
            return
        else:
            return
        if path:
            self.source_edit.setText(path)
