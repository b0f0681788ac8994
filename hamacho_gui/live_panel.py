"""Live inspection at the station: a camera, video, stream or folder judged frame by frame.

The core's :class:`LiveInspector` runs in a worker thread (capture in its own thread inside it, the
newest frame wins).  The worker keeps only the newest result and signals the GUI, which draws at
most one result per event-loop turn: a slow display never queues results either.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hamacho_core.jobs import save_result_images
from hamacho_core.live import InspectionLog, LiveInspector, LiveResult, SourceError, open_source
from hamacho_core.models import AnomalyModel
from hamacho_core.paths import user_data_dir
from hamacho_gui.log_dialog import LogDialog
from hamacho_gui.viewer import ImageViewer

BANNER_STYLE = {"OK": "#1b8a3a", "NG": "#c62828", "REVIEW": "#e07b00", "": "#555"}


class LiveWorker(QThread):
    """Runs one live inspection; ``result_ready`` fires when a newer result is waiting."""

    result_ready = Signal()
    event = Signal(str, str)  # level, message
    ended = Signal(dict)  # summary

    def __init__(self, inspector: LiveInspector, parent=None):
        super().__init__(parent)
        self.inspector = inspector
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: LiveResult | None = None

    def stop(self) -> None:
        self._stop.set()

    def take_latest(self) -> LiveResult | None:
        with self._lock:
            result, self._latest = self._latest, None
        return result

    def _on_result(self, result: LiveResult) -> None:
        with self._lock:
            waiting = self._latest is not None
            self._latest = result  # an undisplayed older result is simply replaced
        if not waiting:
            self.result_ready.emit()

    def run(self) -> None:
        try:
            summary = self.inspector.run(self._on_result, self._stop.is_set,
                                         on_event=lambda level, message: self.event.emit(level, message))
        except Exception as exc:  # noqa: BLE001 - the model failed: report, never crash the app
            self.event.emit("error", f"inspection stopped: {exc}")
            summary = {"reason": "failed", "error": str(exc)}
        self.ended.emit(summary)


class LivePanel(QWidget):
    """Source choice, start/stop/pause, a big verdict banner, counters, FPS and latency."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model: AnomalyModel | None = None
        self.model_name = ""
        self.worker: LiveWorker | None = None
        self.log: InspectionLog | None = None
        self.last_result: LiveResult | None = None
        self.results_shown = 0

        self.source_kind = QComboBox()
        for text, kind in (("Camera", "camera"), ("Video file", "file"), ("Image folder (slideshow)", "folder"),
                           ("Network stream URL", "url")):
            self.source_kind.addItem(text, kind)
        self.source_edit = QLineEdit("0")
        self.source_edit.setPlaceholderText("camera index, file, folder or rtsp://... URL")
        self.browse_button = QPushButton("Browse...")
        self.browse_button.clicked.connect(self._browse)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.toggle)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self.set_paused)
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.clicked.connect(self.snapshot)
        self.reset_button = QPushButton("Reset counters")
        self.reset_button.clicked.connect(self.reset_counts)
        self.log_button = QPushButton("Inspection log...")
        self.log_button.clicked.connect(self.show_log)
        self.save_check = QCheckBox("Save NG and REVIEW frames to")
        self.save_edit = QLineEdit(str(user_data_dir() / "live_saved"))

        self.banner = QLabel("—")
        self.banner.setMinimumHeight(64)
        self.stats = QLabel("Not running")
        self.counters = QLabel("OK 0   NG 0   REVIEW 0")
        self.status = QLabel("Load or train a model, choose a source and press Start.")
        self.status.setWordWrap(True)
        self.viewer = ImageViewer()

        source_row = QHBoxLayout()
        for widget in (QLabel("Source:"), self.source_kind, self.source_edit, self.browse_button, self.start_button,
                       self.pause_button, self.snapshot_button):
            source_row.addWidget(widget)
        source_row.setStretch(2, 1)
        save_row = QHBoxLayout()
        for widget in (self.save_check, self.save_edit, self.reset_button, self.log_button):
            save_row.addWidget(widget)
        save_row.setStretch(1, 1)
        info = QGridLayout()
        info.addWidget(self.banner, 0, 0, 2, 1)
        info.addWidget(self.counters, 0, 1)
        info.addWidget(self.stats, 1, 1)
        info.setColumnStretch(0, 1)
        info.setColumnStretch(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(source_row)
        layout.addLayout(save_row)
        layout.addLayout(info)
        layout.addWidget(self.viewer, 1)
        layout.addWidget(self.status)
        self._set_banner("")
        self._update_buttons()

    # --- public API -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.worker is not None

    def set_model(self, model: AnomalyModel | None, name: str = "") -> None:
        if self.running:
            self.stop()
        self.model, self.model_name = model, name or (model.kind if model else "")
        self._update_buttons()

    def source_spec(self) -> str:
        return self.source_edit.text().strip()

    def start(self, spec: str | None = None, *, log_path: Path | None = None) -> bool:
        """Start judging ``spec`` (or the source field); False with a message if it cannot start."""
        if self.model is None or self.running:
            return False
        spec = spec if spec is not None else self.source_spec()
        self.source_edit.setText(str(spec))
        kind = "camera" if str(spec).isdigit() else "url" if "://" in str(spec) else \
            "folder" if Path(spec).is_dir() else "file"
        self.source_kind.setCurrentIndex(self.source_kind.findData(kind))
        try:
            source = open_source(spec)
        except SourceError as exc:
            self._status(str(exc), error=True)
            return False
        self.log = InspectionLog(log_path)
        save_dir = Path(self.save_edit.text()) if self.save_check.isChecked() else None
        inspector = LiveInspector(self.model, source, save_dir=save_dir, log=self.log, model_name=self.model_name)
        self.worker = LiveWorker(inspector, self)
        self.worker.result_ready.connect(self._show_latest)
        self.worker.event.connect(self._on_event)
        self.worker.ended.connect(self._on_ended)
        self.worker.finished.connect(self._on_worker_finished)
        self.results_shown = 0
        self.pause_button.setChecked(False)
        self.worker.start()
        self._status(f"Judging {spec} with {self.model_name}...")
        self._update_buttons()
        return True

    def stop(self, wait_ms: int = 10000) -> None:
        worker = self.worker
        if worker is None:
            return
        worker.stop()
        worker.wait(wait_ms)
        self._on_worker_finished()

    def toggle(self) -> None:
        self.stop() if self.running else self.start()

    def set_paused(self, paused: bool) -> None:
        if self.worker is not None:
            self.worker.inspector.paused = paused
        self.pause_button.setText("Resume" if paused else "Pause")

    def reset_counts(self) -> None:
        if self.worker is not None:
            self.worker.inspector.reset_counts()
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
    def _show_latest(self) -> None:
        result = self.worker.take_latest() if self.worker is not None else None
        if result is None or self.model is None:
            return
        self.last_result = result
        self.results_shown += 1
        frame = result.frame.image
        h, w = frame.shape[:2]
        pre = self.model.preprocess
        raw_map = result.prediction.anomaly_maps[0]
        norm = pre.to_image(self.model.pixel_scale.normalize(raw_map), h, w)
        mask = pre.to_image(result.prediction.masks[0].astype("float32"), h, w) >= 0.5
        self.viewer.show_result(frame, norm, mask, None, title=f"frame {result.frame.index}", verdict=result.verdict)
        self._set_banner(result.verdict, result.score, result.normalized)
        c = result.counts
        self.counters.setText(f"OK {c.get('OK', 0)}   NG {c.get('NG', 0)}   REVIEW {c.get('REVIEW', 0)}")
        self.stats.setText(f"{result.fps:.1f} FPS · latency {result.latency_ms:.0f} ms · inference "
                           f"{result.inference_ms:.0f} ms · dropped {result.dropped}")

    def _set_banner(self, verdict: str, score: float | None = None, normalized: float | None = None) -> None:
        colour = BANNER_STYLE.get(verdict, BANNER_STYLE[""])
        text = verdict or "—"
        if score is not None:
            text += f"   {normalized:.2f}"
        self.banner.setText(text)
        self.banner.setStyleSheet(f"background: {colour}; color: white; font-size: 34px; font-weight: bold; "
                                  "border-radius: 6px; padding: 4px 16px;")

    def _on_event(self, level: str, message: str) -> None:
        self._status(message, error=level in ("warning", "error"))

    def _on_ended(self, summary: dict) -> None:
        reason = summary.get("reason", "")
        text = f"Stopped ({reason}): {summary.get('judged', 0)} frames judged, {summary.get('dropped', 0)} dropped"
        if summary.get("error"):
            text += f"; last error: {summary['error']}"
        if summary.get("unlogged"):
            text += f"; {summary['unlogged']} verdicts NOT logged ({summary.get('log_error')})"
        self._status(text, error=reason == "failed" or bool(summary.get("unlogged")))

    def _on_worker_finished(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.deleteLater()
        if self.log is not None:
            self.log.close()
        self._update_buttons()

    def _status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c62828;" if error else "")

    def _update_buttons(self) -> None:
        running = self.running
        self.start_button.setText("Stop" if running else "Start")
        self.start_button.setEnabled(running or self.model is not None)
        for widget in (self.pause_button, self.reset_button):
            widget.setEnabled(running)
        for widget in (self.source_kind, self.source_edit, self.browse_button, self.save_check, self.save_edit):
            widget.setEnabled(not running)

    def _browse(self) -> None:
        kind = self.source_kind.currentData()
        if kind == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Video file", "", "Videos (*.avi *.mp4 *.mkv *.mov);;All (*)")
        elif kind == "folder":
            path = QFileDialog.getExistingDirectory(self, "Image folder")
        else:
            return
        if path:
            self.source_edit.setText(path)
