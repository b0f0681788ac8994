"""Reading image files (OpenCV): unicode paths, 8/16-bit, grey/RGB/RGBA, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hamacho_core.fileio import atomic_write_bytes

#: What OpenCV decodes (GIF: its first frame).  Other files in an inspected folder are named as skipped.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm", ".pbm", ".pnm")


class ImageReadError(ValueError):
    """A file that is not a readable image; the message names the file and the reason."""


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file as RGB(A)/grey, keeping its bit depth (HxW, HxWx3 or HxWx4)."""
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # np.fromfile handles unicode paths everywhere
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if data.size == 0:
        raise ImageReadError(f"{path}: empty file")
    image = decode_image(data)
    if image is None:
        raise ImageReadError(f"{path}: not a decodable image (corrupt, truncated or another format)")
    return image


def decode_image(data: bytes | np.ndarray) -> np.ndarray | None:
    """Decode encoded file bytes like :func:`read_image` (RGB(A)/grey, bit depth kept); None if undecodable."""
    buf = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray | memoryview) else data
    image = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if image is None or image.size == 0:
        return None
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def write_image(path: str | Path, rgb: np.ndarray) -> None:
    """Encode an RGB or grey uint8 image by the file's suffix (unicode paths work), written atomically:
    a full disk or a crash leaves no truncated file (an :class:`OSError` names the file)."""
    path = Path(path)
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, encoded = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise ValueError(f"cannot encode {path.name}")
    atomic_write_bytes(path, encoded.tobytes())


def image_dims(image: str | Path | np.ndarray) -> tuple[int, int]:
    """(width, height) of an image array or file; a file's header is read, not its pixels, where
    Pillow knows the format (else the file is decoded)."""
    if isinstance(image, np.ndarray):
        return int(image.shape[1]), int(image.shape[0])
    try:
        from PIL import Image

        with Image.open(image) as img:
            return int(img.size[0]), int(img.size[1])
    except Exception:  # noqa: BLE001 - an odd file: decode it (and raise ImageReadError if unreadable)
        return image_dims(read_image(image))
