"""Trigger-to-verdict latency at the line, with Aravis's fake GigE Vision camera on 127.0.0.1.

Part 1, software trigger: a PLC thread (a pymodbus client, 1 ms scan) writes 1 to Hamacho's Modbus
trigger register at a fixed part rate; Hamacho fires the camera's software trigger, judges the frame
(the bundled backbone, 256 px) and sends the verdict to its Modbus server (the PLC reads and
acknowledges it) and to a mosquitto broker (a subscriber in this process).  Per part: the time from
the PLC's trigger write to the frame reaching Hamacho, to the PLC reading the verdict, and to the
MQTT message arriving; p50/p99/max and parts lost (triggers accepted without a verdict).  The fake
camera takes a triggered picture only on its internal 25 Hz clock (Aravis's ``trigger_frequency``,
not settable from ``arv-fake-gv-camera``), so 0-40 ms of each figure is the fake camera's; a real
camera adds its exposure and read-out instead.

Part 2, free-run: the camera streams at its own rate; judged/offered frames (the newest frame wins).

    python bench/bench_line.py [--parts 500] [--rate 10] [--free-run-s 20]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CAMERA_ID = "Aravis-Fake-GV01"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fit_model(source_cls):
    from hamacho_core.models import PatchCore, PatchCoreConfig

    camera = source_cls(CAMERA_ID, frame_rate=25)
    camera.open()
    try:
        frames = [camera.read() for _ in range(40)][::2]
    finally:
        camera.close()
    model = PatchCore(PatchCoreConfig())
    model.fit(frames)
    return model


def triggered(model, parts: int, rate: float, mosquitto: str) -> tuple[list[str], dict]:
    import paho.mqtt.client as mqtt
    from pymodbus.client import ModbusTcpClient

    from hamacho_core.line import MqttSink
    from hamacho_core.line.modbus import TRIGGER, ModbusServerSink
    from hamacho_core.live import LiveInspector
    from hamacho_core.live.genicam import GenicamSource

    mqtt_port, modbus_port = _free_port(), _free_port()
    broker = subprocess.Popen([mosquitto, "-p", str(mqtt_port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    triggered_at: list[float] = []
    refused = [0]
    at_plc: dict[int, float] = {}
    at_mqtt: dict[int, float] = {}
    stop = threading.Event()

    def plc() -> None:  # one scan per millisecond: trigger on time, take each result and acknowledge it
        client = ModbusTcpClient("127.0.0.1", port=modbus_port)
        next_at = None
        while not stop.is_set() and len(triggered_at) < parts:
            if not client.connected and not client.connect():
                time.sleep(0.01)
                continue
            try:
                if next_at is None and not client.read_holding_registers(6, count=1).registers[0] & 1:
                    time.sleep(0.01)  # a PLC triggers once the station says "ready" (status bit 1)
                    continue
                now = time.monotonic()
                if next_at is None or now >= next_at:
                    client.write_registers(TRIGGER, [1])
                    if client.read_holding_registers(TRIGGER, count=1).registers[0] == 0:
                        triggered_at.append(now)
                    else:
                        refused[0] += 1  # the camera is not open yet
                    next_at = now + 1.0 / rate  # no catch-up burst after a slow scan: parts arrive spaced
                regs = client.read_holding_registers(0, count=8).registers
                if regs[7] == 1:
                    at_plc.setdefault(regs[1] | regs[2] << 16, time.monotonic())
                    client.write_registers(7, [0])
            except Exception:  # noqa: BLE001 - not serving yet
                time.sleep(0.01)
            time.sleep(0.001)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(at_plc) < len(triggered_at):  # the last results
            regs = client.read_holding_registers(0, count=8).registers
            if regs[7] == 1:
                at_plc.setdefault(regs[1] | regs[2] << 16, time.monotonic())
                client.write_registers(7, [0])
            time.sleep(0.001)
        client.close()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_connect = lambda c, *_a: c.subscribe("bench/parts", qos=1)
    sub.on_message = lambda _c, _u, m: at_mqtt.setdefault(int(m.payload.split(b'"part":')[1].split(b",")[0]),
                                                          time.monotonic())
    sub.connect("127.0.0.1", mqtt_port)
    sub.loop_start()
    sinks = [ModbusServerSink(f"127.0.0.1:{modbus_port}"), MqttSink(f"mqtt://127.0.0.1:{mqtt_port}/bench")]
    inspector = LiveInspector(model, GenicamSource(CAMERA_ID, trigger="software"), log=None, sinks=sinks)
    runner = threading.Thread(target=plc, daemon=True)
    runner.start()
    at_frame: dict[int, float] = {}
    summary = inspector.run(lambda r: at_frame.setdefault(len(at_frame) + 1, r.frame.timestamp),
                            lambda: not runner.is_alive(),  # the PLC waits up to 5 s for the last verdicts
                            on_event=lambda level, message: level != "info" and print(f"[{level}] {message}",
                                                                                    file=sys.stderr))
    stop.set()
    time.sleep(0.5)
    sub.loop_stop()
    broker.terminate()
    broker.wait(5)

    # part n (Hamacho's counter) belongs to the last trigger before its frame arrived (triggers are 100 ms apart)
    import bisect

    trigger_of = {n: bisect.bisect_right(triggered_at, t) - 1 for n, t in at_frame.items()}
    answered = {i for i in trigger_of.values() if i >= 0}
    lost = len(triggered_at) - len(answered)

    def line(name: str, arrived: dict[int, float], since=None) -> str:
        lat = np.array([(arrived[n] - (since[n] if since else triggered_at[i])) * 1000
                        for n, i in trigger_of.items() if n in arrived and i >= 0])
        return (f"| {name} | {len(lat)} | {np.percentile(lat, 50):.0f} | {np.percentile(lat, 99):.0f} | "
                f"{lat.max():.0f} |")

    rows = [line("the frame reached Hamacho (the camera's part)", at_frame),
            line("PLC read the verdict (Modbus server, 1 ms scan, handshake)", at_plc),
            line("MQTT message at a subscriber (QoS 1)", at_mqtt),
            line("Hamacho's part: frame received -> PLC read the verdict", at_plc, at_frame)]
    summary["lost"] = lost
    summary["duplicates"] = len(trigger_of) - len(answered)
    summary["refused_before_ready"] = refused[0]
    return rows, summary


def free_run(model, seconds: float) -> dict:
    from hamacho_core.live import LiveInspector
    from hamacho_core.live.genicam import GenicamSource

    inspector = LiveInspector(model, GenicamSource(CAMERA_ID), log=None)
    start = [None]

    def should_stop() -> bool:
        if start[0] is None and inspector.grabber is not None and inspector.grabber.frames_read:
            start[0] = time.monotonic()
        return start[0] is not None and time.monotonic() - start[0] > seconds

    return inspector.run(lambda _r: None, should_stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="parts per second")
    parser.add_argument("--free-run-s", type=float, default=20.0, help="seconds of free-run")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the PLC's first polls find no server yet
    from hamacho_core.live.genicam import GenicamSource, describe_camera

    fake = shutil.which("arv-fake-gv-camera-0.8") or "/usr/bin/arv-fake-gv-camera-0.8"
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    camera = subprocess.Popen([fake, "-i", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        settings = describe_camera(CAMERA_ID)
        model = _fit_model(GenicamSource)
        rows, trig = triggered(model, args.parts, args.rate, mosquitto)
        free = free_run(model, args.free_run_s)
    finally:
        camera.kill()
        camera.wait(5)
    print(f"\nFake GigE camera {settings.summary()}; model: PatchCore, bundled backbone, 256 px\n")
    print(f"Software trigger from the PLC at {args.rate:g} parts/s: {trig['triggers']} triggers fired, "
          f"{trig['judged']} judged, inference mean {trig['mean_inference_ms']:.0f} ms "
          f"({trig['refused_before_ready']} refused: the PLC waits for the ready bit)\n")
    cam = trig["camera"]
    print(f"Parts lost (a fired trigger without a verdict): {trig['lost']}: {cam['incomplete']} pictures "
          f"incomplete ({cam['missing_packets']} packets missing), {trig['triggers_unanswered']} triggers the "
          f"camera ignored; verdicts without a trigger: {trig['duplicates']}\n")
    print("| PLC trigger write -> | parts | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)
    offered = free["frames_read"]
    print(f"\nFree-run at the camera's {settings.frame_rate:g} fps for {args.free_run_s:g} s: judged {free['judged']} "
          f"of {offered} frames offered ({100 * free['judged'] / max(1, offered):.0f} %), {free['fps']:.1f} "
          f"judged/s, latency p95 {free['p95_latency_ms']:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
