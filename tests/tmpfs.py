"""A real small (or read-only) file system for full-disk and read-only tests: a tmpfs mounted for a test."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str, *, read_only: bool = False):
    """Mount a tmpfs of ``size`` (``"64k"``, ``"8m"``) at ``where`` (created) for the ``with`` block; skips the
    test where mounting is impossible (not root, not Linux, a container that forbids it)."""
    where.mkdir(parents=True, exist_ok=True)
    if not sys.platform.startswith("linux") or not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
