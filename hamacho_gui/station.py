"""What the main window does for the station beyond review: the keyboard's run actions (Train, Start, Stop,
Pause, Trigger), the operator view with its engineer PIN, the audit trail of threshold and model changes,
Reset layout and the shortcut list.  :class:`Station` is the menu actions' ``station.<slot>`` target.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox

from hamacho_core.live.log import InspectionLog
from hamacho_gui import layout
from hamacho_gui.operator_view import OperatorView, hash_pin


class AuditTrail(QObject):
    """Threshold and model changes into the inspection log's ``audit`` table: who (the OS account), when,
    what, old and new value.  A threshold is recorded once it has settled (:data:`SETTLE_MS` after the
    last slider move), not for every pixel the slider passed; a locked or unwritable log keeps the rows
    in memory and retries with the next one (and the status bar says so)."""

    SETTLE_MS = 1500

    def __init__(self, window, log_path: Path | None = None):
        super().__init__(window)
        self.window_, self.session = window, window.session
        self.log_path = log_path
        self._log: InspectionLog | None = None
        self.pending: list[tuple] = []
        self._settled = self.session.thresholds
        self._model_text = self._describe_model()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.SETTLE_MS)
        self._timer.timeout.connect(self.flush_thresholds)
        self.session.events.connect("thresholds", lambda _t: self._timer.start())
        self.session.events.connect("model", self._on_model)

    def _describe_model(self) -> str:
        m = self.session.model
        return "none" if m is None else f"{self.session.model_name} ({m.kind} on {m.config.backbone})"

    def _on_model(self, _model) -> None:
        """A new model (trained, opened): recorded; its own thresholds are where the next change starts."""
        self.flush_thresholds()  # a slider change of the previous model is not lost
        new = self._describe_model()
        if new != self._model_text:
            self.record("model", self._model_text, new)
        self._model_text, self._settled = new, self.session.thresholds

    def flush_thresholds(self) -> None:
        self._timer.stop()
        old, new = self._settled, self.session.thresholds
        if old is None or new is None or self.session.model is None:
            self._settled = new
            return
        for name in ("image", "pixel", "review"):
            before, after = getattr(old, name), getattr(new, name)
            if before != after:
                self.record(f"{name} threshold", "off" if before is None else f"{before:.6g}",
                            "off" if after is None else f"{after:.6g}")
        self._settled = new

    def record(self, action: str, old: object, new: object) -> bool:
        """Write one row (and any that waited); False when the log cannot be written now."""
        self.pending.append((action, old, new, self.session.model_name))
        try:
            if self._log is None:
                self._log = InspectionLog(self.log_path, timeout=1.0)
            while self.pending:
                self._log.audit(*self.pending[0])
                self.pending.pop(0)
        except (OSError, sqlite3.Error) as exc:
            self.window_.statusBar().showMessage(f"The audit trail could not be written ({exc}); "
                                                 f"{len(self.pending)} change(s) wait and are retried")
            return False
        return True

    def rows(self, limit: int = 100) -> list[dict]:
        if self._log is None:
            self._log = InspectionLog(self.log_path, timeout=1.0)
        return self._log.audit_rows(limit)

    def close(self) -> None:
        self.flush_thresholds()
        if self._log is not None:
            self._log.close()
            self._log = None


class Station:
    """The run actions, the operator view and the layout reset of one main window."""

    def __init__(self, window):
        self.window = window
        self.operator_view: OperatorView | None = None

    # --- keyboard run actions ------------------------------------------------------------------
    def _press(self, button, what: str) -> None:
        if button.isEnabled():
            button.click()
        else:
            self.window.statusBar().showMessage(f"{what} is not available now: {button.toolTip() or 'see its tab'}")

    def train(self) -> None:
        self.window.left_tabs.setCurrentWidget(self.window.training_panel)
        self._press(self.window.training_panel.train_button, "Train")

    def start_live(self) -> None:
        live = self.window.live_panel
        self.window.central_tabs.setCurrentWidget(live)
        if not live.running:
            self._press(live.start_button, "Start")

    def stop_live(self) -> None:
        live = self.window.live_panel
        if live.running:
            live.stop()

    def pause_live(self) -> None:
        live = self.window.live_panel
        if live.running:
            live.set_paused(not live.pause_button.isChecked())

    def trigger(self) -> None:
        self._press(self.window.live_panel.trigger_button, "Trigger")

    # --- operator view and PIN -----------------------------------------------------------------
    def enter_operator_view(self, full_screen: bool = True) -> OperatorView:
        """Hide the engineer's window behind the operator view (leaving asks for the PIN when one is set)."""
        if self.operator_view is None:
            self.operator_view = OperatorView(self.window)
            self.operator_view.left.connect(self._left_operator_view)
        self.window.audit.flush_thresholds()
        self.window.hide()
        self.operator_view.enter(full_screen)
        return self.operator_view

    def _left_operator_view(self) -> None:
        self.window.show()
        self.window.raise_()

    def set_pin(self) -> None:
        """View > Engineer PIN: set, change or clear (empty) the PIN that leaves the operator view; typed twice
        (a typo would lock the station in the operator view)."""
        pin, ok = QInputDialog.getText(self.window, "Engineer PIN", "New engineer PIN (empty: no PIN):",
                                       QLineEdit.EchoMode.Password)
        if not ok:
            return
        if pin:
            again, ok = QInputDialog.getText(self.window, "Engineer PIN", "The same PIN again:",
                                             QLineEdit.EchoMode.Password)
            if not ok:
                return
            if again != pin:
                QMessageBox.warning(self.window, "Engineer PIN", "The two PINs differ: the PIN was not changed.")
                return
        self.store_pin(pin)

    def store_pin(self, pin: str) -> None:
        settings = self.window.settings
        had = bool(settings.value("engineer_pin", ""))
        settings.setValue("engineer_pin", hash_pin(pin) if pin else "")
        settings.sync()
        self.window.audit.record("engineer PIN", "set" if had else "none", "set" if pin else "none")
        self.window.statusBar().showMessage("Engineer PIN set: the operator view asks for it" if pin
                                            else "No engineer PIN: anyone can leave the operator view")

    # --- layout and help -----------------------------------------------------------------------
    def reset_layout(self) -> None:
        layout.reset(self.window)
        self.window.statusBar().showMessage("Layout reset")

    def show_shortcuts(self) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", shortcuts_html(self.window),
                          QMessageBox.StandardButton.Close, self.window)
        box.setObjectName("shortcuts")
        box.open()
        return box


def shortcuts_html(window) -> str:
    """Every menu action with a shortcut, from the actions themselves (the list cannot drift)."""
    rows = [(spec.text.replace("&", ""), window.menu_actions[spec.name].shortcut().toString())
            for spec in window.menu_actions.specs]
    rows += [("Previous / next result", "Left / Right"), ("Operator view: Start, Pause, Stop, Trigger",
                                                          "F5, F6, Shift+F5, F8"),
             ("Image: zoom in / out / fit", "+ / - / 0"), ("Region of interest: finish / cancel", "Enter / Esc")]
    return "<table>" + "".join(f"<tr><td>{text}</td><td><b>{keys}</b></td></tr>" for text, keys in rows if keys) + \
        "</table>"
