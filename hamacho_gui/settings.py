"""User preferences (last folders, window layout) in the platform's user settings folder."""

from __future__ import annotations

import logging
import os
import time
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


#: Why the settings file was set aside at the last :func:`open_settings` (for the window to say), or None.
last_problem: str | None = None


def open_settings() -> QSettings:
    """The settings; a file that cannot be read or makes no sense (``version=abc``, a binary blob) is renamed
    ``hamacho-gui.ini.broken-<time>`` (kept for a look, never deleted) and the app starts from defaults."""
    global last_problem
    last_problem = None
    path = settings_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only disk: the settings live in memory for this session
        last_problem = f"Settings cannot be saved in {path.parent} ({exc.strerror or exc}); defaults are used."
        logging.getLogger("hamacho").warning(last_problem)
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    version, problem = settings.value("version", 0), None
    if settings.status() != QSettings.Status.NoError:
        problem = "it cannot be read"
    else:
        try:
            version = int(version or 0)
        except (TypeError, ValueError):
            problem = f"its version {version!r} is not a number"
    if problem is not None:
        del settings  # release the file before renaming it
        kept = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            path.replace(kept)
            last_problem = f"The settings file {path} was set aside as {kept.name} ({problem}); defaults are used."
        except OSError as exc:
            last_problem = f"The settings file {path} is unusable ({problem}) and could not be set aside ({exc})."
        logging.getLogger("hamacho").warning(last_problem)
        settings = QSettings(str(path), QSettings.Format.IniFormat)
        version = 0
    if version != SETTINGS_VERSION:
        settings.clear()  # an older layout: start from defaults rather than misread it
        settings.setValue("version", SETTINGS_VERSION)
    return settings
