"""``hamacho live`` on a real MJPG video file: the real command in a subprocess, then in-process for
Ctrl-C and sources that cannot be opened.  Assertions are on what happened, never on how fast."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from hamacho_core.cli import main
from hamacho_core.live import InspectionLog
from hamacho_core.model_io import save_model
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples
from tests.core.test_live import one_torch_thread, write_video  # noqa: F401 - autouse fixture

S = 64
LINE = re.compile(r"^frame \d+  (OK|NG|REVIEW)\s+score \S+ \(\d+\.\d\d\)  latency \d+ ms  fps \d+\.\d$")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("live_cli")
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S))
    model.fit([s.image for s in make_samples("texture", 10, 0, size=S, seed=21)])
    samples = make_samples("texture", 20, 10, size=S, seed=4)
    video = write_video(root / "camera.avi", [s.image for s in samples[::2] + samples[1::2]])
    return save_model(model, root / "tiny.hmc"), video


def hamacho(*args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # busy shared test machines: no OpenMP stragglers
    return subprocess.Popen([sys.executable, "-m", "hamacho_core.cli", "live", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_live_prints_verdict_lines_and_logs(setup, tmp_path):
    model, video = setup
    proc = hamacho(model, "--source", video, "--as-fast-as-possible", "--max-frames", 12, "--log",
                   tmp_path / "log.sqlite", "--save-ng", tmp_path / "ng")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = [line for line in out.splitlines() if line.startswith("frame ")]
    assert len(lines) == 12 and all(LINE.match(line) for line in lines), lines
    assert [int(line.split()[1]) for line in lines] == list(range(12))  # as fast as possible: every frame
    assert "Judged 12 of" in out and "12 frames judged" in out and "Latency mean" in out
    with InspectionLog(tmp_path / "log.sqlite") as log:
        assert log.count() == 12 and log.count("NG") == sum(" NG " in line for line in lines)
        n_saved = log.count("NG") + log.count("REVIEW")
    assert len(list((tmp_path / "ng").glob("*_overlay.png"))) == n_saved


def _ctrl_c_once_judged(done: threading.Event, log_path, frames: int) -> None:
    """Press Ctrl-C (SIGINT to this process) once ``hamacho live`` has installed its handler and logged
    ``frames`` verdicts (the log is created before the handler is installed)."""
    deadline = time.monotonic() + 120  # only stops a hung test
    log = None
    try:
        while not done.is_set() and time.monotonic() < deadline:
            if log is None and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                log = InspectionLog(log_path)
            if log is not None and log.count() >= frames:
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)
    finally:
        if log is not None:
            log.close()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery is POSIX")
def test_ctrl_c_stops_cleanly_with_a_summary(setup, tmp_path, capsys):
    model, video = setup
    log_path = tmp_path / "log.sqlite"
    done = threading.Event()
    presser = threading.Thread(target=_ctrl_c_once_judged, args=(done, log_path, 3))
    presser.start()
    try:  # realtime and looping: endless until Ctrl-C
        code = main(["live", str(model), "--source", str(video), "--loop", "--log", str(log_path)])
    finally:
        done.set()
        presser.join()
    out = capsys.readouterr().out
    judged = int(re.search(r"^Judged (\d+) of", out, re.M).group(1))
    assert code == 0 and "stopped (Ctrl-C)" in out and judged >= 3
    assert out.count("\nframe ") == judged  # every judged frame was printed before the summary
    with InspectionLog(log_path) as log:
        assert log.count() == judged  # and logged: nothing lost by the interruption
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored


def test_source_that_cannot_be_opened(setup, tmp_path, capsys):
    model, _ = setup
    for source, reason in ((tmp_path / "nope.avi", "no camera, video file, folder or stream URL"),
                           ("99", "camera 99 could not be opened")):
        assert main(["live", str(model), "--source", str(source), "--no-log"]) == 1
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("hamacho: error:")]
        assert len(errors) == 1 and reason in errors[0]


def test_a_folder_of_only_broken_images_is_an_error(setup, tmp_path):
    """Issue 26: ``live`` on a folder of only broken images printed "Judged 0 of 0" and exited 0."""
    model, _video = setup
    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "a.png").write_bytes(b"not an image")
    (tmp_path / "frames" / "b.jpg").write_bytes(b"\xff\xd8\xff broken")
    proc = hamacho(model, "--source", tmp_path / "frames", "--no-log")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "nothing judged" in err and "a.png" in out + err and "b.jpg" in out + err


def test_every_line_output_unreachable_is_an_error(setup, tmp_path):
    """Issue 26: with every line output unreachable, all verdicts were undelivered and the exit code was 0."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model, video = setup
    proc = hamacho(model, "--source", video, "--as-fast-as-possible", "--max-frames", 4, "--no-log", "--webhook",
                   f"http://127.0.0.1:{port}/parts", "--log-wait", 0.5)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "no line output received any of the 4 verdicts" in err
