"""User folders (platformdirs), overridable with ``HAMACHO_HOME`` for tests and portable installs."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "hamacho"


def user_data_dir() -> Path:
    """Folder for imported weights, the model library and logs."""
    override = os.environ.get("HAMACHO_HOME")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
