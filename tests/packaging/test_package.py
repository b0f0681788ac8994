"""The PyInstaller one-folder build runs its own self-test from outside the source tree.

Slow (needs a finished build) and therefore skipped in the default ``pytest`` run.  ``packaging/build_linux.sh``
runs it after building; to run it by hand::

    HAMACHO_PACKAGE_TEST=1 HAMACHO_DIST=dist/hamacho pytest tests/packaging -m slow
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXE = "hamacho-gui.exe" if sys.platform == "win32" else "hamacho-gui"
CLI = "hamacho.exe" if sys.platform == "win32" else "hamacho"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("HAMACHO_PACKAGE_TEST") != "1",
                       reason="packaged-app test: build first (packaging/build_linux.sh runs it), or run "
                              "HAMACHO_PACKAGE_TEST=1 HAMACHO_DIST=<dist>/hamacho pytest tests/packaging"),
]


@pytest.fixture
def dist() -> Path:
    folder = Path(os.environ.get("HAMACHO_DIST", ROOT / "build" / "linux" / "dist" / "hamacho")).resolve()
    if not (folder / EXE).is_file():
        pytest.fail(f"no packaged app at {folder / EXE} (set HAMACHO_DIST to the one-folder build)")
    return folder


def _clean_env(tmp_path: Path) -> dict:
    """No source tree or virtual environment on the paths: the package must be self-contained."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["HAMACHO_HOME"] = str(tmp_path / "user_home")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def _run(cmd: list[str], tmp_path: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    if sys.platform.startswith("linux") and os.environ.get("QT_QPA_PLATFORM") == "xcb" and shutil.which("xvfb-run"):
        cmd = ["xvfb-run", "-a", *cmd]
    return subprocess.run(cmd, cwd=tmp_path, env=_clean_env(tmp_path), capture_output=True, text=True,
                          timeout=timeout)


def test_packaged_self_test(dist, tmp_path):
    proc = _run([str(dist / EXE), "--self-test"], tmp_path)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "self-test passed" in proc.stdout
    assert not (tmp_path / "user_home").exists()


def test_packaged_cli_version(dist, tmp_path):
    proc = _run([str(dist / CLI), "--version"], tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0." in proc.stdout + proc.stderr
