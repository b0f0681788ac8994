"""Frame-to-PLC latency: `LiveInspector` judging a folder slideshow at a fixed part rate (the bundled
backbone, 256 px) with its verdicts going to Hamacho's Modbus server (polled every millisecond and
acknowledged by a PLC client thread) and to a mosquitto broker (a subscriber in this process).  Per
part: the time from the frame being taken to the PLC reading its result, and to the MQTT message
arriving; p50/p99 and parts lost.  (The GenICam software trigger of issue 13 is not there yet: the
clock starts when the frame is taken from the source.)

    python bench/bench_line.py [--parts 500] [--rate 10]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="parts per second")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # the PLC's first polls find no server yet
    import paho.mqtt.client as mqtt
    from pymodbus.client import ModbusTcpClient

    from hamacho_core import synthetic
    from hamacho_core.imageio import write_image
    from hamacho_core.line import MqttSink
    from hamacho_core.line.modbus import ModbusServerSink
    from hamacho_core.live import LiveInspector, open_source
    from hamacho_core.models import PatchCore, PatchCoreConfig

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = PatchCore(PatchCoreConfig())
        model.fit([s.image for s in synthetic.make_samples("part", 20, 0, size=256, seed=0)])
        frames = tmp / "frames"
        frames.mkdir()
        for i, smp in enumerate(synthetic.make_samples("part", 10, 10, size=256, seed=1)):
            write_image(frames / f"part_{i:02d}.png", smp.image)
        mqtt_port, modbus_port = _free_port(), _free_port()
        broker = subprocess.Popen([mosquitto, "-p", str(mqtt_port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        taken: dict[int, float] = {}
        at_plc: dict[int, float] = {}
        at_mqtt: dict[int, float] = {}
        stop = threading.Event()

        def plc() -> None:
            client = ModbusTcpClient("127.0.0.1", port=modbus_port)
            while not stop.is_set():
                if not client.connected and not client.connect():
                    time.sleep(0.01)
                    continue
                try:
                    regs = client.read_holding_registers(0, count=8).registers
                except Exception:  # noqa: BLE001 - not serving yet
                    time.sleep(0.01)
                    continue
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
        threading.Thread(target=plc, daemon=True).start()
        sinks = [ModbusServerSink(f"127.0.0.1:{modbus_port}"), MqttSink(f"mqtt://127.0.0.1:{mqtt_port}/bench")]
        source = open_source(str(frames), realtime=True, loop=True, interval_s=1.0 / args.rate)
        inspector = LiveInspector(model, source, log=None, sinks=sinks)
        count = {"n": 0}

        def on_result(result) -> None:
            count["n"] += 1
            taken[count["n"]] = result.frame.timestamp

        summary = inspector.run(on_result, lambda: False, max_frames=args.parts)
        time.sleep(1.0)
        stop.set()
        sub.loop_stop()
        broker.terminate()
        broker.wait(5)

    def line(name: str, arrived: dict[int, float]) -> str:
        lat = np.array([(arrived[p] - taken[p]) * 1000 for p in taken if p in arrived])
        lost = sum(p not in arrived for p in taken)
        return (f"| {name} | {len(taken)} | {lost} | {np.percentile(lat, 50):.0f} | {np.percentile(lat, 99):.0f} | "
                f"{lat.max():.0f} |")

    print(f"\n{args.parts} parts offered at {args.rate:g}/s; judged {summary['judged']} of "
          f"{summary['frames_read']} frames read ({summary['dropped']} dropped); inference mean "
          f"{summary['mean_inference_ms']:.0f} ms\n")
    print("| frame taken -> | parts judged | lost | p50 (ms) | p99 (ms) | max (ms) |")
    print("|---|---|---|---|---|---|")
    print(line("PLC read the result (Modbus server, 1 ms polling, handshake)", at_plc))
    print(line("MQTT message at a subscriber (QoS 1)", at_mqtt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
