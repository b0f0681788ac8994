"""User preferences (last folders, window layout) in the platform's user settings folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

SETTINGS_VERSION = 1


def settings_path() -> Path:
    """``$HAMACHO_HOME/settings/hamacho-gui.ini`` when set (tests, portable installs), else the
    platform's user config folder."""
    override = os.environ.get("HAMACHO_HOME")
    base = Path(override) / "settings" if override else Path(platformdirs.user_config_dir("hamacho", appauthor=False))
    return base / "hamacho-gui.ini"


def open_settings() -> QSettings:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    if int(settings.value("version", 0) or 0) != SETTINGS_VERSION:
        settings.clear()  # an older layout: start from defaults rather than misread it
        settings.setValue("version", SETTINGS_VERSION)
    return settings
