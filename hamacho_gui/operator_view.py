"""The operator view: full screen, what the line needs to see and nothing that changes the model.

A large station state (READY / RUNNING / PAUSED / CAMERA LOST / FAULT), the last verdict with its part
number, the counters, one lamp per line output, the newest judged image, and Start / Pause / Stop.
Leaving it (engineer mode: training, thresholds, add-as-good) asks for the engineer PIN when one is set;
every entry, exit and refused PIN goes to the audit trail.  It follows the Live tab by polling its public
state a few times a second, so the Live tab's own code stays as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QInputDialog, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from hamacho_core.thresholds import VERDICT_COLOURS

READY, RUNNING, PAUSED, CAMERA_LOST, FAULT, NO_MODEL = ("READY", "RUNNING", "PAUSED", "CAMERA LOST", "FAULT",
                                                         "NO MODEL")
STATE_COLOURS = {READY: "#2e4053", RUNNING: "#1b8a3a", PAUSED: "#5d6d7e", CAMERA_LOST: "#4a235a",
                 FAULT: "#c62828", NO_MODEL: "#555555"}
POLL_MS = 200
NOTICE_S = 6.0  #: how long a refused PIN is said
TOP_HEIGHT = 180  #: px of the state and verdict boxes
PIN_ITERATIONS = 200_000  #: PBKDF2-SHA256 rounds: a stolen settings file does not give the PIN away quickly


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """``salt$hash`` (hex) of ``pin`` for the settings file; the PIN itself is never stored."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode("utf-8"), salt, PIN_ITERATIONS)
    return f"{salt.hex()}${digest.hex()}"


def check_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches :func:`hash_pin`'s ``stored`` text (constant-time comparison)."""
    try:
        salt_hex, digest_hex = stored.split("$", 1)
        expected = hash_pin(pin, bytes.fromhex(salt_hex)).split("$", 1)[1]
    except ValueError:
        return False
    return hmac.compare_digest(expected, digest_hex)


def sink_states(live) -> list[dict]:
    """The running line outputs' states (``sink``, ``connected``, ``sent``, ...), none when not running."""
    inspector = live.inspector
    return [sink.status() for sink in inspector.sinks] if inspector is not None else []


def station_state(live) -> tuple[str, str]:
    """(state, why) of the Live tab ``live``: FAULT when the run failed or a line output is unreachable."""
    if live.running:
        if live.station == "paused":
            return PAUSED, "Paused: parts are not judged"
        if live.station == "camera lost":
            return CAMERA_LOST, "The camera is lost: reconnecting"
        unreachable = [s["sink"] for s in sink_states(live) if not s["connected"]]
        if unreachable:
            return FAULT, f"Line output not reachable: {', '.join(unreachable)}"
        return RUNNING, "Judging parts"
    if live.end_reason == "failed":
        return FAULT, "The inspection stopped with an error: " + live.status_text
    if live.model is None:
        return NO_MODEL, "No model: an engineer loads one"
    if live.end_reason == "ended":
        return READY, "The source ended (no more images): press Start to begin again"
    return READY, "Ready: press Start"


def ask_pin(parent: QWidget) -> str | None:
    """The PIN typed (hidden), or None when cancelled."""
    text, ok = QInputDialog.getText(parent, "Engineer mode", "Engineer PIN:", QLineEdit.EchoMode.Password)
    return text if ok else None


class OperatorView(QWidget):
    """Full-screen station display bound to the main window's Live tab; :attr:`left` when it closes for
    engineer mode."""

    left = Signal()

    def __init__(self, window):
        super().__init__(None, Qt.WindowType.Window)
        self.window_ = window
        self.live = window.live_panel
        self.setWindowTitle("Hamacho - operator view")
        self._shown_part = None
        self._notice, self._notice_until = "", 0.0  # a message the refresh keeps up for a while (a refused PIN)
        big = "font-size: 64px; font-weight: bold; color: white; border-radius: 10px; padding: 10px;"
        self.state_label = QLabel(READY)
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.state_label.setStyleSheet(big)
        self.why_label = QLabel("")
        self.why_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.why_label.setStyleSheet("font-size: 20px;")
        self.verdict_label = QLabel("—")
        self.verdict_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.verdict_label.setStyleSheet(big)
        for label in (self.state_label, self.verdict_label):  # one height (two lines of 64 px text), so a pause
            label.setFixedHeight(TOP_HEIGHT)                      # or a new part never moves the screen
        self.counters_label = QLabel("")
        self.counters_label.setStyleSheet("font-size: 32px;")
        self.counters_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.lamps_label = QLabel("")
        self.lamps_label.setStyleSheet("font-size: 20px;")
        self.lamps_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label = QLabel()
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(320, 240)
        self.start_button = QPushButton("Start (F5)")
        self.pause_button = QPushButton("Pause (F6)")
        self.stop_button = QPushButton("Stop (Shift+F5)")
        self.engineer_button = QPushButton("Engineer mode...")
        self.engineer_button.setToolTip("Training, thresholds and the model: asks for the engineer PIN when one is set")
        for button in (self.start_button, self.pause_button, self.stop_button, self.engineer_button):
            button.setMinimumHeight(56)
            button.setStyleSheet("font-size: 22px;")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(lambda: self.live.stop())  # not stop(checked=False): that waits 0 ms
        self.engineer_button.clicked.connect(self.request_engineer_mode)
        for key, slot in (("F5", self.start), ("F6", self.toggle_pause), ("Shift+F5", lambda: self.live.stop()),
                          ("F8", lambda: self.live.trigger())):
            QShortcut(QKeySequence(key), self, slot)

        top = QHBoxLayout()
        top.addWidget(self.state_label, 1)
        top.addWidget(self.verdict_label, 1)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.engineer_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.why_label)
        layout.addWidget(self.counters_label)
        layout.addWidget(self.lamps_label)
        layout.addWidget(self.image_label, 1)
        layout.addLayout(buttons)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.refresh)

    # --- what the operator can do ------------------------------------------------------------------
    def start(self) -> None:
        if not self.live.running:
            self.live.start()
        self.refresh()

    def toggle_pause(self) -> None:
        if self.live.running:
            self.live.set_paused(not self.live.pause_button.isChecked())
        self.refresh()

    def request_engineer_mode(self) -> bool:
        """Leave for the main window: with the PIN when one is set (a wrong one is refused and audited)."""
        stored = str(self.window_.settings.value("engineer_pin", "") or "")
        if stored:
            pin = ask_pin(self)
            if pin is None:
                return False
            if not check_pin(pin, stored):
                self.window_.audit.record("engineer mode", "operator view", "refused: wrong PIN")
                self._notice, self._notice_until = "Wrong PIN: engineer mode refused", time.monotonic() + NOTICE_S
                self.refresh()
                return False
        self.window_.audit.record("engineer mode", "operator view", "engineer")
        self.timer.stop()
        self.hide()
        self.left.emit()
        return True

    # --- display -----------------------------------------------------------------------------------
    def enter(self, full_screen: bool = True) -> None:
        self.window_.audit.record("engineer mode", "engineer", "operator view")
        self.refresh()
        self.timer.start()
        self.showFullScreen() if full_screen else self.show()
        self.raise_()
        self.activateWindow()

    def refresh(self) -> None:
        state, why = station_state(self.live)
        self.state_label.setText(state)
        self.state_label.setStyleSheet(self.state_label.styleSheet().split(" background:")[0]
                                       + f" background: {STATE_COLOURS[state]};")
        notice = time.monotonic() < self._notice_until
        self.why_label.setText(self._notice if notice else why)
        self.why_label.setStyleSheet("font-size: 20px;" + (" color: #c62828; font-weight: bold;" if notice else ""))
        result = self.live.last_result
        if result is not None:  # paused or stopped: the last verdict stays (the state says it is not judging)
            self.verdict_label.setText(f"{result.verdict}\npart {result.part}")
            colour = VERDICT_COLOURS.get(result.verdict, VERDICT_COLOURS[""])
        else:
            self.verdict_label.setText("—")
            colour = VERDICT_COLOURS[""]
        self.verdict_label.setStyleSheet(self.verdict_label.styleSheet().split(" background:")[0]
                                         + f" background: {colour};")
        self.counters_label.setText(self.live.counters.text())
        self.lamps_label.setText("   ".join(
            f"<span style='color:{'#1b8a3a' if s['connected'] else '#c62828'}'>\u25cf</span> {s['sink']}"
            for s in sink_states(self.live)) or "No line outputs")
        running = self.live.running
        self.start_button.setEnabled(not running and self.live.model is not None)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume (F6)" if state == PAUSED else "Pause (F6)")
        self.stop_button.setEnabled(running)
        if result is not None and result.part != self._shown_part:
            self._shown_part = result.part
            self._show_image(result)

    def _show_image(self, result) -> None:
        """The judged frame with its heatmap and the predicted defect outlined: where, not only whether."""
        from hamacho_core.outputs import full_size_maps
        from hamacho_core.visualize import render_overlay

        rgb = result.frame.image
        if self.live.model is not None:
            h, w = rgb.shape[:2]
            norm, mask = full_size_maps(self.live.model, result.prediction.anomaly_maps[0], h, w, judge=result.judge)
            rgb = render_overlay(rgb, norm, mask, alpha=0.4)
        rgb = np.ascontiguousarray(rgb)
        h, w = rgb.shape[:2]
        image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.image_label.setPixmap(QPixmap.fromImage(image).scaled(
            self.image_label.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        """Closing the window (Alt+F4) is leaving: the same PIN rule."""
        if self.isVisible() and not self.request_engineer_mode():
            event.ignore()
            return
        super().closeEvent(event)
