"""The Live tab's GenICam source through the main window, against Aravis's fake GigE Vision camera:
Find cameras (on the window's devices lane) lists it with its settings and fills the source, Start judges its frames;
in software-trigger mode each press of Trigger (and each trigger a PLC writes) gives one verdict in
the log, on Modbus and in the MES folder; the camera settings are kept for the next session."""

from __future__ import annotations

import json
import time

from pymodbus.client import ModbusTcpClient
from PySide6.QtCore import Qt

from hamacho_core.line.modbus import TRIGGER
from hamacho_core.live import InspectionLog
from hamacho_gui.main_window import MainWindow
from tests.line.test_genicam import CAMERA_ID, camera, model  # noqa: F401 - fixtures
from tests.line.test_sinks import free_port


def test_live_tab_finds_the_camera_and_judges_it(qtbot, camera, model, tmp_path):  # noqa: F811
    window = MainWindow()
    try:
        live = window.live_panel
        window.session.set_model(model)
        live.source_kind.setCurrentIndex(live.source_kind.findData("genicam"))
        assert live.browse_button.text() == "Find cameras..."
        on_lane = []
        window.workers.devices.finished.connect(lambda name, _result: on_lane.append(name))
        with qtbot.waitSignal(live.cameras_found, timeout=20_000):
            live.browse_button.click()
        assert on_lane == ["find cameras"], "found on the window's devices lane"
        assert live.source_spec() == f"genicam:{CAMERA_ID}" and "Aravis Fake (serial GV01" in live.status_text
        assert live.start(log_path=tmp_path / "log.sqlite")
        qtbot.waitUntil(lambda: live.results_shown >= 3, timeout=30_000)
        assert live.last_result.frame.image.shape == (512, 512, 3)
        live.stop()
    finally:
        window.session.changes.clear()
        window.close()
        window.deleteLater()


def test_software_trigger_one_verdict_per_press_and_per_plc_trigger(qtbot, camera, model, tmp_path):  # noqa: F811
    window = MainWindow()
    port = free_port()
    plc = ModbusTcpClient("127.0.0.1", port=port)
    try:
        live = window.live_panel
        window.central_tabs.setCurrentWidget(live)
        window.session.set_model(model)
        live.source_kind.setCurrentIndex(live.source_kind.findData("genicam"))
        box = live.camera_box
        assert not box.isHidden() and not live.trigger_button.isHidden() and not live.trigger_button.isEnabled()
        with qtbot.waitSignal(live.cameras_found, timeout=20_000):
            live.browse_button.click()
        listed = box.camera_combo.currentText()
        assert "512x512 Mono8" in listed and "exposure 10000 µs" in listed, "listed with its settings"
        assert box.format_combo.findData("BayerRG8") > 0, "the camera's own formats are offered"
        box.trigger_combo.setCurrentIndex(box.trigger_combo.findData("software"))
        box.format_combo.setCurrentIndex(box.format_combo.findData("BayerRG8"))  # demosaiced to RGB
        box.exposure_spin.setValue(5000)
        live.line_button.click()
        live.line_box.edits["modbus_server"].setText(f"127.0.0.1:{port}")
        live.line_box.handshake_check.setChecked(False)  # no PLC acknowledges here
        live.line_box.edits["folder"].setText(str(tmp_path / "mes"))
        assert live.start(log_path=tmp_path / "log.sqlite")
        assert not box.trigger_combo.isEnabled(), "the camera settings are fixed while running"
        qtbot.waitUntil(lambda: live.trigger_button.isEnabled(), timeout=5_000)
        qtbot.waitUntil(lambda: live.inspector.grabber is not None
                        and live.inspector.grabber.state == "running", timeout=20_000)
        time.sleep(0.5)
        assert live.results_shown == 0, "no trigger, no picture"
        triggers = []
        window.workers.devices.finished.connect(lambda name, result: triggers.append((name, result)))
        for n in (1, 2, 3):
            qtbot.mouseClick(live.trigger_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda n=n: sum(live.inspector.counts.values()) == n, timeout=15_000)
        assert plc.connect()
        plc.write_registers(TRIGGER, [1])  # the PLC takes the fourth picture
        assert plc.read_holding_registers(TRIGGER, count=1).registers == [0]
        qtbot.waitUntil(lambda: sum(live.inspector.counts.values()) == 4, timeout=15_000)
        qtbot.waitUntil(lambda: (plc.read_holding_registers(1, count=1).registers[0]) == 4, timeout=10_000)
        time.sleep(0.5)
        assert sum(live.inspector.counts.values()) == 4, "one verdict per trigger, no more"
        assert triggers == [("trigger", True)] * 3, "each press triggered the camera on the devices lane"
        assert live.last_result.frame.image.shape == (512, 512, 3)
        live.stop()
        with InspectionLog(tmp_path / "log.sqlite") as db:
            assert len(db.rows()) == 4
        lines = [json.loads(x) for x in (tmp_path / "mes" / "parts.jsonl").read_text().splitlines()]
        assert [x["part"] for x in lines] == [1, 2, 3, 4]
        qtbot.waitUntil(lambda: "Stopped: 4 frames judged" in live.status_text, timeout=5_000)
        assert "4 software triggers" in live.status_text
    finally:
        plc.close()
        window.session.changes.clear()
        window.close()  # saves the settings
        window.deleteLater()
    again = MainWindow()
    try:
        box = again.live_panel.camera_box
        assert box.options() == {"trigger": "software", "exposure_us": 5000.0, "gain": None, "frame_rate": None,
                                 "pixel_format": "BayerRG8"}
    finally:
        again.session.changes.clear()
        again.close()
        again.deleteLater()
