"""The Live tab's line outputs through the main window: Test connections against a real broker, a live
run on an image folder whose every verdict reaches the broker and the MES folder, the state shown, and
the addresses kept for the next session."""

from __future__ import annotations

import json

from hamacho_core import synthetic
from hamacho_core.imageio import write_image
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_gui.main_window import MainWindow
from tests.gui.test_main_window import window  # noqa: F401 - the shared fixture
from tests.line.test_sinks import Subscriber, broker, free_port  # noqa: F401 - the broker fixture


def test_line_outputs_test_run_and_persist(qtbot, window, broker, tmp_path):  # noqa: F811
    live = window.live_panel
    window.central_tabs.setCurrentWidget(live)
    live.line_button.click()
    assert live.line_box.isVisible()
    box = live.line_box
    box.edits["mqtt"].setText(f"mqtt://127.0.0.1:{broker.port}/hamacho")
    box.edits["folder"].setText(str(tmp_path / "mes"))
    box.edits["webhook"].setText(f"http://127.0.0.1:{free_port()}/nobody")
    box.qos_combo.setCurrentIndex(box.qos_combo.findData(2))  # exactly once
    answers = []
    box.checked.connect(lambda message, ok: answers.append((message, ok)))
    box.test_button.click()
    qtbot.waitUntil(lambda: bool(answers), timeout=20_000)
    message, ok = answers[0]
    assert not ok and f"mqtt mqtt://127.0.0.1:{broker.port}/hamacho: reachable" in message
    assert "webhook" in message and "refused" in message.lower() and "reachable" in box.state_label.text()
    box.edits["webhook"].clear()

    model = PatchCore(PatchCoreConfig(image_size=64))
    model.fit([s.image for s in synthetic.make_samples("texture", 8, 0, size=64, seed=1)])
    window.session.set_model(model)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, smp in enumerate(synthetic.make_samples("texture", 3, 3, size=64, seed=2)):
        write_image(frames / f"f{i}.png", smp.image)
    sub = Subscriber(broker.port)
    live.set_file_options(realtime=False, loop=False)
    assert live.start(str(frames), log_path=tmp_path / "log.sqlite")
    assert not box.edits["mqtt"].isEnabled(), "the addresses are fixed while running"
    qtbot.waitUntil(lambda: not live.running, timeout=60_000)
    qtbot.waitUntil(lambda: len([1 for t, _b, _r in sub.messages if t == "hamacho/parts"]) == 6, timeout=20_000)
    assert "6 sent, 0 waiting, 0 dropped" in box.state_label.text()
    lines = (tmp_path / "mes" / "parts.jsonl").read_text().splitlines()
    assert [json.loads(x)["part"] for x in lines] == [1, 2, 3, 4, 5, 6]
    assert box.edits["mqtt"].isEnabled()
    sub.close()

    window.session.changes.clear()
    window.close()  # saves the settings
    again = MainWindow()
    try:
        assert again.live_panel.line_box.edits["mqtt"].text() == f"mqtt://127.0.0.1:{broker.port}/hamacho"
        assert again.live_panel.line_button.isChecked()
        assert again.live_panel.line_box.settings().mqtt_qos == 2
    finally:
        again.session.changes.clear()
        again.close()
        again.deleteLater()


def test_a_bad_line_address_is_said_and_nothing_starts(qtbot, window, tmp_path):  # noqa: F811
    model = PatchCore(PatchCoreConfig(image_size=64))
    model.fit([s.image for s in synthetic.make_samples("texture", 8, 0, size=64, seed=1)])
    window.session.set_model(model)
    window.live_panel.line_box.edits["modbus_server"].setText("no port")
    assert not window.live_panel.start(str(tmp_path))
    assert "not a Modbus address" in window.live_panel.status_text and not window.live_panel.running
