"""GenICam cameras through Aravis, against Aravis's fake GigE Vision camera (``arv-fake-gv-camera-0.8``)
started by the test on 127.0.0.1: discovery, free-run frames, one judged frame per software trigger, a
camera killed mid-run (reported, reconnected), and the pixel-format conversions with OpenCV."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest

from hamacho_core.live import LiveInspector
from hamacho_core.live.genicam import GenicamSource, convert, list_cameras
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples
from tests.line.test_sinks import wait_for

FAKE = shutil.which("arv-fake-gv-camera-0.8") or "/usr/bin/arv-fake-gv-camera-0.8"
CAMERA_ID = "Aravis-Fake-GV01"


class FakeCamera:
    def __init__(self, *args: str):
        self.proc = None
        self.args = args

    def start(self):
        self.proc = subprocess.Popen([FAKE, "-i", "127.0.0.1", *self.args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: any(c.id == CAMERA_ID for c in list_cameras()), 15, "the fake camera to be discovered")
        return self

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None


@pytest.fixture
def camera():
    if not shutil.which(FAKE) and not shutil.which("arv-fake-gv-camera-0.8"):
        pytest.fail("aravis-tools is not installed (.ci/run installs it: apt-get install aravis-tools)")
    cam = FakeCamera().start()
    yield cam
    cam.kill()


@pytest.fixture(scope="module")
def model():
    m = PatchCore(PatchCoreConfig(image_size=64))
    m.fit([s.image for s in make_samples("texture", 8, 0, size=64, seed=3)])
    return m


def test_discovery_names_vendor_model_serial(camera):
    found = [c for c in list_cameras() if c.id == CAMERA_ID]
    assert found and found[0].vendor == "Aravis" and found[0].model == "Fake" and found[0].serial == "GV01"
    assert found[0].protocol == "GigEVision" and found[0].address.startswith("127.0.0.1")


def test_free_run_frames_are_rgb(camera):
    source = GenicamSource(CAMERA_ID, frame_rate=20)
    source.open()
    try:
        frames = [source.read() for _ in range(3)]
    finally:
        source.close()
    assert all(f.shape == (512, 512, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[2]), "the fake camera's pattern moves"


def test_software_trigger_gives_exactly_one_judged_frame_per_trigger(camera, model):
    source = GenicamSource(CAMERA_ID, trigger="software")
    inspector = LiveInspector(model, source, log=None)
    judged, stop = [], threading.Event()
    runner = threading.Thread(target=lambda: inspector.run(judged.append, stop.is_set), daemon=True)
    runner.start()
    wait_for(lambda: inspector.grabber is not None and inspector.grabber.state == "running", 15, "the camera")
    time.sleep(0.5)
    assert judged == [], "no trigger, no frame"
    for n in range(1, 6):
        source.trigger()
        wait_for(lambda n=n: len(judged) == n, 10, f"the frame of trigger {n}")
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    runner.join(10)
    assert len(judged) == 5 and source.triggers_sent == 5
    assert [r.frame.index for r in judged] == [0, 1, 2, 3, 4]


def test_a_trigger_the_camera_ignores_is_counted_and_reported(camera, model):
    """Triggers fired back to back reach the camera while it is still busy: it takes one picture for
    them (as real cameras do on trigger overlap); each trigger left without a picture is reported."""
    source = GenicamSource(CAMERA_ID, trigger="software")
    inspector = LiveInspector(model, source, log=None)
    judged, events, stop = [], [], threading.Event()
    runner = threading.Thread(target=lambda: events.append(inspector.run(
        judged.append, stop.is_set, on_event=lambda lv, m: events.append((lv, m)))), daemon=True)
    runner.start()
    wait_for(lambda: inspector.grabber is not None and inspector.grabber.state == "running", 15, "the camera")
    for _ in range(5):  # within a few milliseconds: one tick of the fake camera's 25 Hz clock, or two
        assert inspector.trigger()
    wait_for(lambda: source.triggers_unanswered + len(judged) >= 5, 10, "the triggers' outcome")
    inspector.paused = True
    assert not inspector.trigger(), "a paused inspection refuses a trigger: its picture would not be judged"
    stop.set()
    runner.join(10)
    summary = events[-1]
    assert 1 <= len(judged) <= 3 and summary["triggers"] == 5 and summary["triggers_refused"] == 0
    assert summary["triggers_unanswered"] == 5 - len(judged)
    assert any(lv == "warning" and "trigger refused" in m and "paused" in m for lv, m in events[:-1])
    assert any(lv == "warning" and "brought no picture" in m for lv, m in events[:-1])


def test_a_camera_killed_mid_run_is_reported_and_reconnected(camera, model):
    source = GenicamSource(CAMERA_ID, frame_rate=20, lost_after_s=1.0)
    inspector = LiveInspector(model, source, log=None, retry_delay_s=0.5)
    judged, events, stop = [], [], threading.Event()
    runner = threading.Thread(target=lambda: inspector.run(judged.append, stop.is_set,
                                                           on_event=lambda lv, m: events.append((lv, m))),
                              daemon=True)
    runner.start()
    wait_for(lambda: len(judged) >= 3, 20, "frames before the camera dies")
    camera.kill()
    wait_for(lambda: any("no frame for" in m or "could not be opened" in m for _, m in events), 15, "the loss")
    before = len(judged)
    camera.start()
    wait_for(lambda: any("reconnected" in m for _, m in events), 30, "the reconnection")
    wait_for(lambda: len(judged) > before + 2, 20, "frames after the reconnection")
    stop.set()
    runner.join(10)
    assert any(lv == "warning" and "reconnecting" in m for lv, m in events)


def test_lost_packets_are_counted_reported_and_judging_goes_on(model):
    lossy = FakeCamera("-r", "2").start()  # 0.2 % of the stream packets dropped by the camera
    try:
        source = GenicamSource(CAMERA_ID, frame_rate=25)
        inspector = LiveInspector(model, source, log=None)
        judged, events = [], []
        deadline = time.monotonic() + 60
        summary = inspector.run(judged.append, lambda: (len(judged) >= 10 and source.buffers_failed >= 1)
                                or time.monotonic() > deadline, on_event=lambda lv, m: events.append((lv, m)))
    finally:
        lossy.kill()
    camera = summary["camera"]
    assert camera["incomplete"] >= 1 and camera["missing_packets"] >= 1 and camera["frames"] >= 10
    assert any(lv == "warning" and "incomplete frame" in m and ("missing-packets" in m or "timeout" in m)
               for lv, m in events)
    assert summary["reason"] == "stopped", "judging went on with the complete frames"


def test_pixel_formats_convert_to_rgb():
    rng = np.random.default_rng(0)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), (0, 0), 3)
    mosaic = np.zeros((64, 96), np.uint8)  # BayerRG: R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1)
    mosaic[0::2, 0::2] = rgb[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = rgb[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = rgb[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = rgb[1::2, 1::2, 2]
    out = convert(mosaic.ravel(), 96, 64, "BayerRG8", "test")
    assert out.shape == (64, 96, 3) and np.abs(out[4:-4, 4:-4].astype(int) - rgb[4:-4, 4:-4]).mean() < 6
    swapped = convert(mosaic.ravel(), 96, 64, "BayerBG8", "test")  # the wrong pattern swaps red and blue
    assert np.abs(swapped[4:-4, 4:-4, 0].astype(int) - rgb[4:-4, 4:-4, 2]).mean() < 6
    mono12 = np.full((4, 4), 4095, "<u2")
    assert (convert(mono12.view(np.uint8).ravel(), 4, 4, "Mono12", "test") == 255).all()
    assert (convert(np.full(16 * 3, 7, np.uint8), 4, 4, "RGB8", "test") == 7).all()


def test_cli_lists_cameras_and_judges_one(camera, model, tmp_path):
    import sys

    from hamacho_core.model_io import save_model

    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "cameras"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and f"genicam:{CAMERA_ID}  Aravis Fake  serial GV01" in done.stdout
    path = save_model(model, tmp_path / "cam.hmc")
    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "live", str(path), "--source",
                           f"genicam:{CAMERA_ID}", "--frame-rate", "10", "--max-frames", "3", "--no-log"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sum(line.startswith("frame ") for line in done.stdout.splitlines()) == 3
    assert f"Live inspection of GenICam camera {CAMERA_ID}" in done.stdout



def test_settings_outside_the_camera_are_refused_with_its_range(camera, model, tmp_path):
    """Issue 26: ``--region 9000,9000,64,64`` on a 512x512 sensor was silently replaced; ``--frame-rate 0``,
    ``--exposure-us=-5`` and ``--gain nan`` were accepted.  Each is refused, saying what the camera takes."""
    import sys

    from hamacho_core.live import SourceError
    from hamacho_core.model_io import save_model

    with pytest.raises(SourceError, match=r"does not fit the sensor \(\d+x\d+"):
        GenicamSource(CAMERA_ID, region=(9000, 9000, 64, 64)).open()
    with pytest.raises(SourceError, match=r"exposure 1e\+12 µs is outside this camera's range"):
        GenicamSource(CAMERA_ID, exposure_us=1e12).open()
    path = save_model(model, tmp_path / "cam.hmc")
    for option in (["--frame-rate", "0"], ["--exposure-us=-5"], ["--gain", "nan"]):
        done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "live", str(path), "--source",
                               f"genicam:{CAMERA_ID}", *option, "--max-frames", "1", "--no-log"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "finite number" in done.stderr, (option, done.stderr)


def test_a_lost_free_running_camera_shows_fault_to_the_plc_at_once(camera, model):
    """Issue 26: a camera lost in free-run left the Modbus status READY with no FAULT for about 13 s: the
    grabber closed the lost camera (~10 s of network timeouts) before saying it was reconnecting.  The state
    (and so the FAULT bit) now follows the loss as soon as it is detected (no frame for ``lost_after_s``)."""
    from pymodbus.client import ModbusTcpClient

    from hamacho_core.line.modbus import FAULT, READY, ModbusServerSink
    from tests.line.test_sinks import free_port

    port = free_port()
    sink = ModbusServerSink(f"127.0.0.1:{port}")
    source = GenicamSource(CAMERA_ID, frame_rate=10)
    inspector = LiveInspector(model, source, reconnect=True, retry_delay_s=0.5, max_retries=None, sinks=[sink],
                              sink_wait_s=0.5)
    stop, judged = threading.Event(), []
    runner = threading.Thread(target=lambda: inspector.run(judged.append, stop.is_set), daemon=True)
    runner.start()
    plc = ModbusTcpClient("127.0.0.1", port=port)
    wait_for(lambda: plc.connect() and len(judged) >= 3, 30, "judging to start")

    def status() -> int:
        return plc.read_holding_registers(6, count=1).registers[0]

    wait_for(lambda: status() & READY, 10, "READY")
    camera.kill()
    lost_at = time.monotonic()
    wait_for(lambda: status() & FAULT, 20, "FAULT")
    seconds = time.monotonic() - lost_at
    assert not status() & READY
    plc.close()
    stop.set()
    runner.join(30)
    assert seconds < source.lost_after_s + 2.5, f"FAULT came {seconds:.1f} s after the camera was lost"
