"""A software trigger from the line: the fake GigE camera (started on 127.0.0.1), triggered by a PLC
writing Hamacho's Modbus trigger register and by an MQTT message, gives exactly one verdict per
trigger on Modbus, MQTT, the webhook and the inspection log, through the real ``hamacho live``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pymodbus.client import ModbusTcpClient

from hamacho_core.line.modbus import TRIGGER, TRIGGER_REFUSED, ModbusServerSink
from hamacho_core.live import InspectionLog
from hamacho_core.model_io import save_model
from tests.line.test_genicam import CAMERA_ID, camera, model  # noqa: F401 - fixtures
from tests.line.test_sinks import Subscriber, broker, free_port, wait_for, webhook_server  # noqa: F401 - fixtures

PLC_TRIGGERS = 5  # and one more by MQTT


def test_plc_and_mqtt_triggers_give_one_verdict_each_everywhere(camera, model, broker, tmp_path):  # noqa: F811
    path = save_model(model, tmp_path / "cam.hmc")
    server, posted = webhook_server()
    sub = Subscriber(broker.port)
    port = free_port()
    log = tmp_path / "log.sqlite"
    total = PLC_TRIGGERS + 1
    live = subprocess.Popen(
        [sys.executable, "-m", "hamacho_core.cli", "live", str(path), "--source", f"genicam:{CAMERA_ID}",
         "--trigger", "software", "--max-frames", str(total), "--log", str(log),
         "--modbus-server", f"127.0.0.1:{port}", "--mqtt", f"mqtt://127.0.0.1:{broker.port}/hamacho",
         "--webhook", f"http://127.0.0.1:{server.server_port}/parts"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    plc = ModbusTcpClient("127.0.0.1", port=port)
    seen = []

    def take_result() -> None:  # the handshake: read the new result, acknowledge it
        def new_result():
            regs = plc.read_holding_registers(0, count=9).registers
            return regs if regs[7] == 1 else None

        wait_for(lambda: new_result() is not None, 30, f"the verdict of part {len(seen) + 1}")
        regs = plc.read_holding_registers(0, count=9).registers
        seen.append({"code": regs[0], "part": regs[1] | regs[2] << 16})
        plc.write_registers(7, [0])

    try:
        wait_for(lambda: plc.connect(), 60, "Hamacho's Modbus server")
        # a PLC waits for "ready" (status bit 1): the camera is open and judging, so no trigger is refused
        # (were "ready" shown while the camera opens, the first triggers would read back 2)
        wait_for(lambda: plc.read_holding_registers(6, count=1).registers[0] & 1, 60, "the ready bit")
        fired = 0
        while fired < PLC_TRIGGERS:
            plc.write_registers(TRIGGER, [1])  # the photo eye saw a part
            answer = plc.read_holding_registers(TRIGGER, count=1).registers[0]
            assert answer != TRIGGER_REFUSED, "a trigger after the ready bit is taken"
            assert answer == 0, "a fired trigger reads back 0"
            fired += 1
            take_result()
        sub.client.publish("hamacho/trigger", json.dumps({"by": "MES"}), qos=1)  # the MES triggers the last part
        take_result()
        out, err = live.communicate(timeout=60)
    finally:
        if live.poll() is None:
            live.kill()
            live.communicate()
        plc.close()
        server.shutdown()
    assert live.returncode == 0, err
    assert f"Software triggers: {total} fired, 0 refused, 0 brought no picture" in out
    with InspectionLog(log) as db:
        rows = list(reversed(db.rows()))
    assert len(rows) == total, "one judged frame per trigger, no more"
    codes = {"OK": 1, "NG": 2, "REVIEW": 3}
    assert [s["part"] for s in seen] == list(range(1, total + 1))
    assert [s["code"] for s in seen] == [codes[r["verdict"]] for r in rows]
    wait_for(lambda: len(sub.parts()) >= total, 10, "the MQTT messages")
    assert sub.parts() == list(range(1, total + 1))
    assert [p["part"] for p in posted] == list(range(1, total + 1))
    assert [p["verdict"] for p in posted] == [r["verdict"] for r in rows]
    sub.close()


def test_a_trigger_without_a_software_triggered_camera_is_refused():
    """Also: a write-single (FC6) reply echoes the 1 it was sent, as the standard asks, and the map
    moves with ``base``."""
    port = free_port()
    sink = ModbusServerSink(f"127.0.0.1:{port}", base=10).start()
    events = []
    sink.on_event = lambda level, message: events.append((level, message))
    plc = ModbusTcpClient("127.0.0.1", port=port)
    try:
        assert plc.connect()
        plc.write_registers(10 + TRIGGER, [1])  # FC16
        wait_for(lambda: plc.read_holding_registers(10 + TRIGGER, count=1).registers == [TRIGGER_REFUSED], 5,
                 "the refusal")
        reply = plc.write_register(10 + TRIGGER, 1)  # FC6
        assert not reply.isError() and reply.registers == [1], "the reply echoes the request"
        wait_for(lambda: plc.read_holding_registers(10 + TRIGGER, count=1).registers == [TRIGGER_REFUSED], 5,
                 "the second refusal")
        plc.write_registers(TRIGGER, [1])  # below the map's base: a plain register, no trigger
        assert sink.status()["triggers"] == 2
        assert any("not software-triggered" in m for _, m in events)
    finally:
        plc.close()
        sink.close()


def test_software_trigger_needs_a_line_input(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "live", str(tmp_path / "m.hmc"), "--source",
                           f"genicam:{CAMERA_ID}", "--trigger", "software"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "--trigger software needs something to trigger the camera" in done.stderr
