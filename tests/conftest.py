"""Test isolation: every test gets its own user-data folder and torch hub cache (no real user files,
no network: downloads are refused through ``allow_download=False`` where weights are missing)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path, monkeypatch):
    home = tmp_path / "hamacho_home"
    monkeypatch.setenv("HAMACHO_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return home
