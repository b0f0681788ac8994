"""``hamacho live`` through the real command (subprocess) on a real MJPG video file."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest

from hamacho_core.live import InspectionLog
from hamacho_core.model_io import save_model
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples
from tests.core.test_live import write_video

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
    return subprocess.Popen([sys.executable, "-m", "hamacho_core.cli", "live", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


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


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_stops_cleanly_with_a_summary(setup):
    model, video = setup
    proc = hamacho(model, "--source", video, "--loop", "--no-log")  # realtime, endless
    lines = []
    try:
        for line in proc.stdout:
            if line.startswith("frame "):
                lines.append(line)
                if len(lines) == 3:
                    proc.send_signal(signal.SIGINT)
                    break
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped (Ctrl-C)" in out and "Judged" in out


def test_source_that_cannot_be_opened(setup, tmp_path):
    model, _ = setup
    missing = hamacho(model, "--source", tmp_path / "nope.avi")
    camera = hamacho(model, "--source", "99", "--no-log")
    for proc, reason in ((missing, "no camera, video file, folder or stream URL"),
                         (camera, "camera 99 could not be opened")):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1
        errors = [line for line in err.splitlines() if line.startswith("hamacho: error:")]
        assert len(errors) == 1 and reason in errors[0], err
