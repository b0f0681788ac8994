"""A folder of awkward real image files (good and broken ones), shared by dataset and end-to-end CLI tests.

``make_bad_input_folder(path)`` writes the files and returns ``{file name: expected usable}``;
``EXPECTED_REASONS`` gives a substring of the skip reason expected for each unusable one.
"""

from __future__ import annotations

import struct
import zlib
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

UNICODE_NAME = "検査_ürün.png"
LARGE_NAME = "large_6000x4000.jpg"

EXPECTED_REASONS = {
    "empty.png": "empty file",
    "truncated.png": "truncated PNG",
    "truncated.jpg": "truncated JPEG",
    "text.png": "not an image (text file)",
    "tiny_1x1.png": "too small (1x1 px",
    "huge_30000x20000.png": "too large",
}


def _encode(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok, ext
    return buf.tobytes()


def _textured(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth noise with some structure: compresses poorly enough that truncation hits the pixel data."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, channels), dtype=np.uint8), (0, 0), 1.5)
    return img.reshape(h, w, channels) if channels > 1 else img.reshape(h, w)


@lru_cache(maxsize=1)
def _large_jpeg() -> bytes:
    """6000x4000 flat-colour JPEG (encoded once per process; about 0.4 MB)."""
    return _encode(".jpg", np.full((4000, 6000, 3), (200, 120, 40), np.uint8))


def _png_with_header_size(width: int, height: int) -> bytes:
    """A structurally complete small PNG whose IHDR claims ``width`` x ``height`` (never to be decoded)."""
    data = bytearray(_encode(".png", np.zeros((16, 16), np.uint8)))
    ihdr = bytearray(data[12:29])  # type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def make_bad_input_folder(path: str | Path) -> dict[str, bool]:
    """Write the files into ``path`` (created if needed); return ``{file name: expected usable}``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    png = _encode(".png", _textured(96, 128, seed=1))
    jpg = _encode(".jpg", _textured(96, 128, seed=2))
    files = {
        "plain_rgb.png": (png, True),
        "photo.JPG": (_encode(".jpg", _textured(80, 60, seed=3)), True),  # upper-case suffix, portrait
        "grey8.bmp": (_encode(".bmp", _textured(40, 200, channels=1, seed=4)), True),
        "grey16.tif": (_encode(".tif", (_textured(64, 48, channels=1, seed=5).astype(np.uint16) * 257)), True),
        "rgba.png": (_encode(".png", _textured(64, 64, channels=4, seed=6)), True),
        UNICODE_NAME: (_encode(".png", _textured(50, 70, seed=7)), True),
        LARGE_NAME: (_large_jpeg(), True),
        "empty.png": (b"", False),
        "truncated.png": (png[: len(png) * 6 // 10], False),
        "truncated.jpg": (jpg[: len(jpg) * 6 // 10], False),
        "text.png": (b"This is not an image.\nJust some notes saved with the wrong name.\n", False),
        "tiny_1x1.png": (_encode(".png", np.full((1, 1, 3), 128, np.uint8)), False),
        "huge_30000x20000.png": (_png_with_header_size(30000, 20000), False),
    }
    for name, (data, _) in files.items():
        (path / name).write_bytes(data)
    return {name: usable for name, (_, usable) in files.items()}
