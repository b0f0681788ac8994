"""``hamacho-gui --self-test``: the end-to-end check technicians (and the installer build) run."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from hamacho_gui.selftest import run_self_test


def _run_cli(tmp_path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HAMACHO_HOME=str(tmp_path / "user_home"))
    # From outside the source tree: the installed package is used, as a technician would.
    return subprocess.run([sys.executable, "-m", "hamacho_gui", "--self-test", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_self_test_passes(tmp_path):
    proc = _run_cli(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test passed" in proc.stdout
    assert "image AUROC" in proc.stdout and "results.csv" in proc.stdout
    assert "self-test failed" not in proc.stderr
    # A temporary HAMACHO_HOME was used: the user's folder (settings, logs) was never created.
    assert not (tmp_path / "user_home").exists()


def test_self_test_timeout_fails_with_one_line_reason(qapp, isolated_user_dirs):
    out, err = io.StringIO(), io.StringIO()
    status = run_self_test(timeout_s=0.05, out=out, err=err)
    assert status == 1
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1, err.getvalue()
    assert lines[0].startswith("self-test failed: timed out after 0.05 s during "), lines[0]
    assert "self-test passed" not in out.getvalue()
    # The caller's HAMACHO_HOME is restored and was not written to.
    assert os.environ["HAMACHO_HOME"] == str(isolated_user_dirs)
    assert not isolated_user_dirs.exists()


def test_self_test_cli_timeout_exit_status(tmp_path):
    proc = _run_cli(tmp_path, "--self-test-timeout", "0.05")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failed = [line for line in proc.stderr.splitlines() if line.startswith("self-test failed: ")]
    assert failed == [failed[0]] and "timed out after 0.05 s" in failed[0], proc.stderr
