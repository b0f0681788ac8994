"""``hamacho live`` (the real command, a subprocess) judging an image folder with its verdicts going to a
real mosquitto broker, Hamacho's Modbus server polled and acknowledged by a PLC client, and an MES
folder: every message and register checked against the inspection log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from pymodbus.client import ModbusTcpClient

from hamacho_core.imageio import write_image
from hamacho_core.live import InspectionLog
from hamacho_core.model_io import save_model
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples
from tests.line.test_sinks import Subscriber, broker, free_port, wait_for  # noqa: F401 - the broker fixture

N = 12


def test_live_sends_every_verdict_to_mqtt_modbus_and_the_mes_folder(broker, tmp_path):  # noqa: F811
    model = PatchCore(PatchCoreConfig(image_size=64))
    model.fit([s.image for s in make_samples("texture", 10, 0, size=64, seed=21)])
    model_path = save_model(model, tmp_path / "line.hmc")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, smp in enumerate(make_samples("texture", N // 2, N // 2, size=64, seed=4)):
        write_image(frames / f"part_{i:03d}.png", smp.image)
    sub = Subscriber(broker.port)
    modbus_port = free_port()

    seen, stop = [], threading.Event()

    def plc():  # polls Hamacho's server, takes each new result and acknowledges it
        client = ModbusTcpClient("127.0.0.1", port=modbus_port)
        while not stop.is_set():
            if not client.connect():
                time.sleep(0.05)
                continue
            try:
                regs = client.read_holding_registers(0, count=8).registers
            except Exception:  # noqa: BLE001 - the server is not up yet, or gone at the end
                time.sleep(0.05)
                continue
            if regs[7] == 1:
                seen.append({"code": regs[0], "part": regs[1] | regs[2] << 16, "norm100": regs[3]})
                client.write_registers(7, [0])
            time.sleep(0.002)
        client.close()

    threading.Thread(target=plc, daemon=True).start()
    log = tmp_path / "log.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "hamacho_core.cli", "live", str(model_path), "--source", str(frames),
         "--as-fast-as-possible", "--max-frames", str(N), "--log", str(log), "--save-ng", str(tmp_path / "ng"),
         "--mqtt", f"mqtt://127.0.0.1:{broker.port}/hamacho", "--modbus-server", f"127.0.0.1:{modbus_port}",
         "--sink-folder", str(tmp_path / "mes")],
        capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    # "sent" means the broker acknowledged: the subscriber's copy may still be on its way.  (Hamacho's
    # Modbus server serves until the PLC acknowledged the last result.)
    wait_for(lambda: len([1 for t, _b, _r in sub.messages if t == "hamacho/parts"]) >= N, 10, "the subscriber")
    stop.set()
    assert f"mqtt mqtt://127.0.0.1:{broker.port}/hamacho: {N} sent, 0 not delivered, 0 dropped" in done.stdout
    assert f"modbus-server 127.0.0.1:{modbus_port}: {N} sent, 0 not delivered" in done.stdout

    with InspectionLog(log) as db:
        rows = list(reversed(db.rows()))  # oldest first: part 1 ...
    assert len(rows) == N
    codes = {"OK": 1, "NG": 2, "REVIEW": 3}
    # MQTT: one message per part, in order, the log's verdict and scores
    parts = [b for t, b, _ in sub.messages if t == "hamacho/parts"]
    assert [p["part"] for p in parts] == list(range(1, N + 1))
    for part, row in zip(parts, rows, strict=True):
        assert part["verdict"] == row["verdict"] and abs(part["raw_score"] - row["score"]) < 1e-4
        assert part["model"] == "line.hmc" and len(part["model_sha256"]) == 64
        assert (part["evidence"] is not None) == (row["verdict"] != "OK")
    # Modbus: the PLC saw every part once, in order, with the log's result code
    assert [s["part"] for s in seen] == list(range(1, N + 1))
    assert [s["code"] for s in seen] == [codes[r["verdict"]] for r in rows]
    assert all(s["norm100"] == max(0, min(100, round(r["normalized"] * 100))) for s, r in zip(seen, rows, strict=True))
    # MES folder: the same parts as JSON lines, evidence copied for NG/REVIEW
    lines = [json.loads(x) for x in (tmp_path / "mes" / "parts.jsonl").read_text().splitlines()]
    assert [x["verdict"] for x in lines] == [r["verdict"] for r in rows]
    assert len(list((tmp_path / "mes").glob("part_*.png"))) == sum(r["verdict"] != "OK" for r in rows)
    sub.close()


def test_a_bad_sink_url_fails_before_the_model_loads(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "live", str(tmp_path / "missing.hmc"),
                           "--source", str(tmp_path), "--mqtt", "http://nope"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "not an MQTT URL" in done.stderr
