"""The Live tab's camera setup preview: the source with its settings applied, no model needed.

:func:`preview_job` runs on the ``live`` lane of :class:`~hamacho_gui.workers.Workers` (capture in a
:class:`~hamacho_core.live.LatestFrameGrabber`, the newest frame wins) and hands each analysed frame over
coalesced (:meth:`~hamacho_gui.workers.Partial.latest`).  :class:`CameraPreview` shows the figures of
:mod:`hamacho_core.live.setup_view` beside the image: the focus measure with its running peak, the grey
histogram and the exposure hints.
"""

from __future__ import annotations

import queue
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from hamacho_core.live import Frame, FrameSource, LatestFrameGrabber
from hamacho_core.live.setup_view import BLACK_LEVEL, SATURATED_LEVEL, SetupFigures, analyse
from hamacho_gui.plot_style import themed_plot

PREVIEW_TIP = "Show the camera with its settings applied, a focus measure and the histogram; no model needed"
#: ``open_source`` keywords the preview adds to Start's: a camera runs free (no trigger to wait for), a video
#: file or folder plays at its own rate, looped.
PREVIEW_OPTIONS = {"trigger": "free", "realtime": True, "loop": True}
PREVIEW_FPS = 30.0  #: at most this many frames analysed and shown per second
STOP_WAIT_S = 0.8  #: how long a stopping preview waits for the capture thread (Stop preview ends within 1 s)
BINS = 64
BAR_COLOUR, SATURATED_COLOUR, BLACK_COLOUR = QColor(90, 110, 140), QColor(215, 48, 39), QColor(40, 70, 200)
SETTINGS_DELAY_MS = 500  #: a camera setting changed while previewing reopens the camera after this pause


@dataclass(frozen=True)
class PreviewFrame:
    """One analysed preview frame."""

    frame: Frame
    figures: SetupFigures
    fps: float  #: frames analysed per second, over the last second or so

    @property
    def title(self) -> str:
        """The viewer's title: "preview · frame 12 · 1920x1080 · 30 FPS"."""
        frame, (h, w) = self.frame, self.frame.image.shape[:2]
        return f"preview \u00b7 frame {frame.index} \u00b7 {w}x{h} \u00b7 {self.fps:.0f} FPS" + (
            f"  {frame.name}" if frame.name else "")


def preview_summary(summary: dict) -> str:
    """The status line's text for the end of a preview (:func:`preview_job`'s result)."""
    why = {"stopped": "", "ended": " (end of the source)"}.get(summary.get("reason"), " (failed)")
    error = f": {summary['error']}" if summary.get("error") else ""
    return f"Preview stopped{why}{error}; {summary.get('frames', 0)} frames shown."


def preview_job(source: FrameSource, max_fps: float = PREVIEW_FPS, retry_delay_s: float = 1.0):
    """The live lane's job: read ``source`` until stopped, each frame analysed and handed over coalesced
    (newest wins), each source event ``(level, message)`` delivered; a lost camera is reopened every
    ``retry_delay_s``.  Returns ``{"reason": "stopped"|"ended"|"failed", "frames": n, "error": text or None}``
    (the error: why it failed, or why the camera was lost when stopped)."""
    def job(progress, should_stop, partial) -> dict:
        events: queue.SimpleQueue = queue.SimpleQueue()

        def drain() -> None:
            while not events.empty():
                partial(events.get())

        grabber = LatestFrameGrabber(source, reconnect=True, retry_delay_s=retry_delay_s,
                                     on_event=lambda level, message: events.put((level, message)))
        grabber.start()
        shown, last, reason, times = 0, -1, "stopped", deque(maxlen=int(max_fps) + 1)
        try:
            while not should_stop():
                drain()
                frame = grabber.latest(last, timeout=0.1)
                if frame is None:
                    if grabber.finished:
                        reason = "failed" if grabber.state == "failed" else "ended"
                        break
                    continue
                last, now = frame.index, time.monotonic()
                times.append(now)
                fps = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
                partial.latest(PreviewFrame(frame, analyse(frame.image, BINS), fps))
                shown += 1
                rest = 1.0 / max_fps - (time.monotonic() - now)
                if rest > 0:
                    time.sleep(rest)
        finally:
            lost = grabber.state == "reconnecting"
            grabber.stop(STOP_WAIT_S)
            drain()
        error = grabber.last_error if reason == "failed" or lost else None  # not one it recovered from
        return {"reason": reason, "frames": shown, "error": error}
    return job


def watch_camera_settings(camera_box, changed) -> QTimer:
    """Call ``changed()`` once the GenICam settings of ``camera_box`` (a :class:`CameraBox`) rest for
    SETTINGS_DELAY_MS after a change (reopening a camera per keystroke would be slow)."""
    timer = QTimer(camera_box, singleShot=True, interval=SETTINGS_DELAY_MS)
    timer.timeout.connect(changed)
    for signal in (camera_box.exposure_spin.valueChanged, camera_box.gain_spin.valueChanged,
                   camera_box.rate_spin.valueChanged, camera_box.format_combo.activated,
                   camera_box.camera_combo.activated):
        signal.connect(lambda *_: timer.start())  # not start(value): that would set the interval
    return timer


class CameraPreview(QWidget):
    """Focus measure (number and a bar against its running peak), grey histogram and exposure hints, in a
    strip as wide as the Live tab (it takes the place of the verdict banner and counters)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.peak = 0.0  #: the highest focus measure since the last reset
        self.focus: float | None = None  #: the last focus measure (None: no frame yet)
        self.focus_label = QLabel()
        self.focus_label.setStyleSheet("font-size: 15px; font-weight: bold;")
        self.focus_label.setToolTip("Focus measure: variance of the Laplacian of the grey image. Higher is "
                                    "sharper; compare it only on the same scene: turn the lens to the peak.")
        self.focus_bar = QProgressBar()
        self.focus_bar.setRange(0, 1000)
        self.focus_bar.setFormat("%p % of the peak")
        self.focus_bar.setToolTip("The focus measure against the highest one seen since the preview started "
                                  "(or Reset peak)")
        self.reset_button = QPushButton("Reset peak")
        self.reset_button.setToolTip("Forget the focus peak (after moving the camera or changing the scene)")
        self.reset_button.clicked.connect(self.reset_peak)
        small = self.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
        self.plot = themed_plot(self, small, "grey level", "% pixels")
        self.plot.setFixedHeight(130)
        self.plot.setMinimumWidth(200)
        self.plot.setXRange(0, 256, padding=0.02)
        self.plot.setToolTip(f"Grey-level histogram: red bars are saturated (\u2265 {SATURATED_LEVEL}), blue ones "
                             f"black (\u2264 {BLACK_LEVEL})")
        width = 256 / BINS
        centres = (np.arange(BINS) + 0.5) * width
        brushes = [pg.mkBrush(SATURATED_COLOUR if lo + width > SATURATED_LEVEL else
                              BLACK_COLOUR if lo <= BLACK_LEVEL else BAR_COLOUR) for lo in centres - width / 2]
        self.bars = pg.BarGraphItem(x=centres, height=np.zeros(BINS), width=width * 0.9, brushes=brushes,
                                    pen=pg.mkPen(None))
        self.plot.addItem(self.bars)
        self.hints_label = QLabel()
        self.hints_label.setWordWrap(True)
        self.hints_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.hints_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.hints_label.setToolTip("Exposure hints from the histogram (saturated, dark, bright, black, flat)")
        self.reset_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(self.focus_label, 0, 0)
        grid.addWidget(self.focus_bar, 1, 0)
        grid.addWidget(self.reset_button, 2, 0)
        grid.addWidget(self.hints_label, 3, 0)
        grid.addWidget(self.plot, 0, 1, 5, 1)
        grid.setRowStretch(4, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        self.setFixedHeight(self.plot.height())
        self.reset()

    @property
    def histogram(self) -> np.ndarray:
        """The histogram shown: % of the pixels per bin."""
        return np.asarray(self.bars.opts["height"], dtype=float)

    def reset(self) -> None:
        """No frame yet: no focus, peak or histogram."""
        self.focus, self.peak = None, 0.0
        self.focus_label.setText("Focus \u2014")
        self.focus_bar.setValue(0)
        self.bars.setOpts(height=np.zeros(BINS))
        self.hints_label.setText("Waiting for the first frame ...")
        self.hints_label.setStyleSheet("")

    def reset_peak(self) -> None:
        self.peak = self.focus or 0.0
        self._show_focus()

    def show_figures(self, figures: SetupFigures) -> None:
        self.focus = figures.focus
        self.peak = max(self.peak, figures.focus)
        self._show_focus()
        counts = figures.histogram.astype(float)
        self.bars.setOpts(height=counts * (100.0 / max(1.0, counts.sum())))
        self.plot.setYRange(0, max(1.0, float(self.histogram.max())) * 1.05, padding=0)
        hints = figures.hints
        self.hints_label.setText("\n".join(f"\u2022 {hint[:1].upper()}{hint[1:]}" for hint in hints) if hints else
                                 f"Exposure looks right (mean grey {figures.mean:.0f} of 255).")
        self.hints_label.setStyleSheet("color: #b35900;" if hints else "")

    def _show_focus(self) -> None:
        if self.focus is None:
            return
        self.focus_label.setText(f"Focus {_number(self.focus)}  (peak {_number(self.peak)})")
        self.focus_bar.setValue(round(1000 * self.focus / self.peak) if self.peak > 0 else 0)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
