"""``hamacho batch --ray`` on a real Ray cluster started by the test on 127.0.0.1: a head node and one
more worker node (``ray start``, 1 CPU each).  600 images: results equal ``hamacho inspect``'s and the
local run's; a worker process killed in
the middle of the run is restarted by Ray and its chunk judged again, every image exactly once."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch.conftest import rows, run_batch_cli, start_batch_cli, wait_for_parts
from tests.line.test_sinks import free_port

RAY = Path(sys.executable).with_name("ray")


def _ray(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(RAY), *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})


@pytest.fixture(scope="module")
def cluster():
    if not RAY.exists() and not shutil.which("ray"):
        pytest.fail('Ray is not installed (pip install "hamacho[cluster]"; the test extra has it)')
    port = free_port()
    head = _ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
                "--include-dashboard=false", "--disable-usage-stats")
    assert head.returncode == 0, head.stderr
    try:
        node = _ray("start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1")
        assert node.returncode == 0, node.stderr
        yield f"127.0.0.1:{port}"
    finally:
        _ray("stop", "--force")


def _actor_pids() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if handle.read().startswith(b"ray::BatchActor"):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_ray_batch_equals_inspect_and_the_local_batch_on_two_nodes(cluster, long_archive, tmp_path):
    done = run_batch_cli(long_archive.model, long_archive.images, "--out", tmp_path / "ray", "--ray", cluster,
                         "--chunk-size", "16")
    assert done.returncode == 0, done.stderr
    assert "2 Ray worker(s)" in done.stdout and "every image exactly once" in done.stdout
    on_ray = {r["path"]: r for r in rows(tmp_path / "ray")}
    assert len(on_ray) == long_archive.n and len({r["worker"] for r in on_ray.values()}) == 2, "both nodes judged"
    inspected = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "inspect", str(long_archive.model),
                                str(long_archive.images), "--recursive", "--out", str(tmp_path / "inspect")],
                               capture_output=True, text=True, timeout=600)
    assert inspected.returncode == 0, inspected.stderr
    with open(tmp_path / "inspect" / "results.csv", newline="", encoding="utf-8") as handle:
        expected = {os.path.abspath(r["path"]): r for r in csv.DictReader(handle)}
    assert expected.keys() == on_ray.keys()
    for path, ref in expected.items():
        assert f"{on_ray[path]['raw_score']:.6g}" == ref["raw_score"] and on_ray[path]["verdict"] == ref["verdict"]
    local = run_batch_cli(long_archive.model, long_archive.images, "--out", tmp_path / "local", "--workers", "2")
    assert local.returncode == 0, local.stderr
    for row in rows(tmp_path / "local"):  # the same code on the same files: the same numbers, bit for bit
        assert (on_ray[row["path"]]["raw_score"], on_ray[row["path"]]["verdict"]) == (row["raw_score"],
                                                                                    row["verdict"])


def test_a_ray_worker_killed_mid_run_is_restarted_and_nothing_is_lost(cluster, long_archive, tmp_path):
    out = tmp_path / "res"
    proc = start_batch_cli(long_archive.model, long_archive.images, "--out", out, "--ray", cluster,
                           "--chunk-size", "2")  # 300 tasks: the run lasts well beyond the kill
    wait_for_parts(out, 2, proc)
    deadline = time.monotonic() + 30
    while len(pids := _actor_pids()) < 2:
        assert time.monotonic() < deadline, "no Ray workers found"
        time.sleep(0.05)
    os.kill(pids[0], signal.SIGKILL)  # in the middle of a chunk: each worker has two in flight
    out_text, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "every image exactly once" in out_text
    got = rows(out)
    assert len(got) == long_archive.n == len({r["path"] for r in got})
    assert len({r["worker"] for r in got}) >= 3, "a restarted worker judged the killed one's chunks"
