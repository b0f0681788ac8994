"""The Live tab's "Line outputs": where each judged part goes (MQTT, webhook, Modbus, an MES folder),
a Test button (run on the ``devices`` lane of :class:`~hamacho_gui.workers.Workers`), and each output's
state while running.  The sinks live in ``hamacho_core.line``."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton

from hamacho_core.line import LineSettings
from hamacho_gui.workers import Workers, guard, panel_workers

#: field name -> (label, placeholder, tool tip)
FIELDS = {
    "mqtt": ("MQTT broker", "mqtt://broker:1883/station1", "one JSON message per part on TOPIC/parts; retained "
             "TOPIC/status (QoS 1: at least once)"),
    "webhook": ("Webhook", "https://mes.example/parts", "an HTTP(S) JSON POST per part"),
    "modbus_server": ("Modbus server", ":5020", "serve the register map (README: Connect to your line) on this "
                      "port for the PLC to poll"),
    "modbus_client": ("Modbus PLC", "192.168.0.10:502", "write the register map into this PLC's holding registers"),
    "folder": ("MES folder", "/srv/mes/in", "parts.jsonl and the evidence images, for an MES to pick up"),
}


def check_connections(settings: LineSettings):
    """The devices lane's job: reach every configured output once; ``(message, all reachable)``."""
    def job(progress, should_stop) -> tuple[str, bool]:
        lines, ok = [], True
        try:
            sinks = settings.sinks()
        except (ValueError, ImportError) as exc:
            return str(exc), False
        for sink in sinks:
            try:
                lines.append(sink.check())
            except Exception as exc:  # noqa: BLE001 - any failure is the answer
                ok = False
                lines.append(f"{sink.name}: {exc}")
        return "\n".join(lines) or "No line output set.", ok
    return job


class LineBox(QGroupBox):
    """Line-output fields (one address each; empty = not used) and their live state."""

    checked = Signal(str, bool)

    def __init__(self, parent=None, *, workers: Workers | None = None):
        super().__init__("Line outputs", parent)
        self.workers = panel_workers(self, workers)
        self.edits: dict[str, QLineEdit] = {}
        form = QFormLayout(self)
        for name, (label, placeholder, tip) in FIELDS.items():
            edit = QLineEdit()
            edit.setPlaceholderText(placeholder)
            edit.setToolTip(tip)
            self.edits[name] = edit
            form.addRow(f"{label}:", edit)
        self.qos_combo = QComboBox()
        for qos, text in ((0, "QoS 0: at most once"), (1, "QoS 1: at least once"), (2, "QoS 2: exactly once")):
            self.qos_combo.addItem(text, qos)
        self.qos_combo.setCurrentIndex(1)
        self.qos_combo.setToolTip("MQTT delivery guarantee of each part's message")
        form.addRow("MQTT QoS:", self.qos_combo)
        self.handshake_check = QCheckBox("PLC acknowledges each result (Modbus handshake)")
        self.handshake_check.setChecked(True)
        self.test_button = QPushButton("Test connections")
        self.test_button.clicked.connect(self.test_connections)
        row = QHBoxLayout()
        row.addWidget(self.handshake_check, 1)
        row.addWidget(self.test_button)
        form.addRow(row)
        self.state_label = QLabel("")
        self.state_label.setWordWrap(True)
        form.addRow(self.state_label)

    def settings(self) -> LineSettings:
        values = {name: [edit.text().strip()] if edit.text().strip() else [] for name, edit in self.edits.items()}
        return LineSettings(mqtt=values["mqtt"], webhook=values["webhook"], modbus_server=values["modbus_server"],
                            modbus_client=values["modbus_client"], folder=values["folder"],
                            modbus_handshake=self.handshake_check.isChecked(), mqtt_qos=self.qos_combo.currentData())

    def set_settings(self, settings: LineSettings) -> None:
        for name, edit in self.edits.items():
            edit.setText((getattr(settings, name) or [""])[0])
        self.handshake_check.setChecked(settings.modbus_handshake)
        self.qos_combo.setCurrentIndex(max(0, self.qos_combo.findData(settings.mqtt_qos)))

    def save(self, qsettings) -> None:
        for name, edit in self.edits.items():
            qsettings.setValue(f"line/{name}", edit.text().strip())
        qsettings.setValue("line/modbus_handshake", self.handshake_check.isChecked())
        qsettings.setValue("line/mqtt_qos", self.qos_combo.currentData())

    def restore(self, qsettings) -> None:
        for name, edit in self.edits.items():
            edit.setText(str(qsettings.value(f"line/{name}", "") or ""))
        self.handshake_check.setChecked(str(qsettings.value("line/modbus_handshake", "true")).lower() == "true")
        try:
            qos = int(qsettings.value("line/mqtt_qos", 1))
        except (TypeError, ValueError):
            qos = 1
        self.qos_combo.setCurrentIndex(max(0, self.qos_combo.findData(qos)))

    def test_connections(self) -> None:
        """Reach every configured output once on the devices lane; the answer arrives in ``state_label``."""
        self.test_button.setEnabled(False)
        self.state_label.setText("Testing ...")
        self.workers.devices.start("test connections", check_connections(self.settings()),
                                   on_done=guard(self, lambda r: self._on_checked(*r)),
                                   on_failed=guard(self, lambda message: self._on_checked(message, False)))

    def _on_checked(self, message: str, ok: bool) -> None:
        self.test_button.setEnabled(True)
        self.state_label.setStyleSheet("" if ok else "color: #b00020;")
        self.state_label.setText(message)
        self.checked.emit(message, ok)

    def show_state(self, statuses: list[dict]) -> None:
        """Each running output's state (sent, waiting, dropped; red while a peer is unreachable)."""
        if not statuses:
            return
        failing = any(not s["connected"] for s in statuses)
        self.state_label.setStyleSheet("color: #b00020;" if failing else "")
        self.state_label.setText("\n".join(
            f"{s['sink']}: {'connected' if s['connected'] else 'NOT REACHABLE'}, {s['sent']} sent, "
            f"{s['backlog']} waiting, {s['dropped']} dropped" for s in statuses))

    def set_running(self, running: bool) -> None:
        for edit in self.edits.values():
            edit.setEnabled(not running)
        self.handshake_check.setEnabled(not running)
        self.qos_combo.setEnabled(not running)
        self.test_button.setEnabled(not running)
