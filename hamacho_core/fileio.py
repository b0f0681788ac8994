"""Atomic file writes: a temporary file beside the target, fsync, rename."""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a crash or a full disk never leaves a partial file there."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with suppress(OSError):
            os.unlink(tmp)
    return path
