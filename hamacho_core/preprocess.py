"""Turning arbitrary decoded images into the backbone's input tensor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any decoded image (grey, RGB, RGBA; 8/16-bit, float, bool) as contiguous HxWx3 uint8 RGB.

    16-bit images are scaled by 1/257 (full range to full range); floats are taken as 0..1.
    Alpha is dropped (the colour values are kept as they are).
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"unsupported image shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"empty image of shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        image = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


Roi = tuple[tuple[float, float], ...]


def normalize_roi(roi) -> Roi | None:
    """A region of interest as normalised (x, y) points in [0, 1]: 2 points = rectangle corners,
    3 or more = polygon.  Lists (e.g. from JSON) are accepted."""
    if roi is None:
        return None
    points = tuple((float(x), float(y)) for x, y in roi)
    if len(points) < 2 or not all(0.0 <= v <= 1.0 for p in points for v in p):
        raise ValueError("a region of interest needs 2 (rectangle) or more (polygon) points inside 0..1")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if max(xs) - min(xs) <= 0 or max(ys) - min(ys) <= 0:
        raise ValueError("the region of interest has no area")
    return points


@dataclass(frozen=True)
class Preprocess:
    """Optional region of interest (crop to its box; outside a polygon is blanked), resize (no
    letterbox) to ``image_size`` -- a square side or ``(width, height)`` -- then an optional centre
    crop (square sizes only).  Output values are in [0, 1]; the backbone applies its own normalisation."""

    image_size: int | tuple[int, int] = 256
    center_crop: int | None = None
    roi: Roi | None = None

    def __post_init__(self) -> None:
        size = self.image_size
        size = (int(size), int(size)) if np.isscalar(size) else tuple(int(v) for v in size)
        if len(size) != 2 or min(size) < 32:
            raise ValueError("image_size must be a side or (width, height) of at least 32 pixels")
        object.__setattr__(self, "image_size", size[0] if size[0] == size[1] else size)
        if self.center_crop is not None and (size[0] != size[1] or not 32 <= self.center_crop <= size[0]):
            raise ValueError("center_crop needs a square image_size and must be between 32 and image_size")
        object.__setattr__(self, "roi", normalize_roi(self.roi))

    @property
    def width(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[0]

    @property
    def height(self) -> int:
        return self.image_size if isinstance(self.image_size, int) else self.image_size[1]

    @property
    def output_shape(self) -> tuple[int, int]:
        """(height, width) of the model's input (after the centre crop): the maps' shape."""
        if self.center_crop:
            return self.center_crop, self.center_crop
        return self.height, self.width

    def roi_box(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) of the region of interest in an image of that size."""
        if self.roi is None:
            return 0, 0, width, height
        xs = [p[0] * width for p in self.roi]
        ys = [p[1] * height for p in self.roi]
        x0, y0 = int(np.floor(min(xs))), int(np.floor(min(ys)))
        x1, y1 = max(x0 + 1, int(np.ceil(max(xs)))), max(y0 + 1, int(np.ceil(max(ys))))
        return max(0, x0), max(0, y0), min(width, x1), min(height, y1)

    def roi_polygon(self, height: int, width: int) -> np.ndarray | None:
        """The region's outline in pixel coordinates (N x 2 int32), or None without a region."""
        if self.roi is None:
            return None
        if len(self.roi) == 2:
            (xa, ya), (xb, yb) = self.roi
            pts = [(xa, ya), (xb, ya), (xb, yb), (xa, yb)]
        else:
            pts = list(self.roi)
        return np.array([(round(x * width), round(y * height)) for x, y in pts], dtype=np.int32)

    def _roi_inside(self, height: int, width: int) -> np.ndarray | None:
        """Boolean mask of the polygon within its box (None for no region or a rectangle)."""
        if self.roi is None or len(self.roi) == 2:
            return None
        x0, y0, x1, y1 = self.roi_box(height, width)
        inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(inside, [self.roi_polygon(height, width) - np.array([x0, y0], np.int32)], 1)
        return inside.astype(bool)

    def _crop(self, image: np.ndarray) -> np.ndarray:
        if self.roi is None:
            return image
        h, w = image.shape[:2]
        x0, y0, x1, y1 = self.roi_box(h, w)
        crop = image[y0:y1, x0:x1].copy()
        inside = self._roi_inside(h, w)
        if inside is not None:
            crop[~inside] = 0
        return crop

    def _geometry(self, image: np.ndarray, interpolation: int) -> np.ndarray:
        image = cv2.resize(image, (self.width, self.height), interpolation=interpolation)
        if self.center_crop:
            size = self.width
            top = (size - self.center_crop) // 2
            image = image[top:top + self.center_crop, top:top + self.center_crop]
        return np.ascontiguousarray(image)

    def image(self, image: np.ndarray) -> np.ndarray:
        """One image as HxWx3 uint8 at the model's input geometry."""
        rgb = self._crop(to_rgb8(image))
        shrinking = rgb.shape[0] > self.height or rgb.shape[1] > self.width
        return self._geometry(rgb, cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def mask(self, mask: np.ndarray) -> np.ndarray:
        """A ground-truth mask (any size, non-zero = defect) at the model's input geometry, bool."""
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask.max(axis=2)
        return self._geometry(self._crop((mask > 0).astype(np.uint8)), cv2.INTER_NEAREST).astype(bool)

    def to_image(self, model_map: np.ndarray, height: int, width: int, fill: float = 0.0) -> np.ndarray:
        """A map at the model's input geometry placed back onto an image of ``height x width``
        (linear interpolation; ``fill`` outside the region of interest or the centre crop)."""
        model_map = np.asarray(model_map, dtype=np.float32)
        x0, y0, x1, y1 = self.roi_box(height, width)
        bw, bh = x1 - x0, y1 - y0
        if self.center_crop:  # the crop covers the middle of the resized box
            full = np.full((self.height, self.width), fill, np.float32)
            top = (self.width - self.center_crop) // 2
            full[top:top + self.center_crop, top:top + self.center_crop] = model_map
            model_map = full
        out = np.full((height, width), fill, np.float32)
        out[y0:y1, x0:x1] = cv2.resize(model_map, (bw, bh), interpolation=cv2.INTER_LINEAR)
        inside = self._roi_inside(height, width)
        if inside is not None:
            out[y0:y1, x0:x1][~inside] = fill
        return out

    def batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Bx3xHxW float32 array in [0, 1] (the runtime graphs' input)."""
        arr = np.stack([self.image(img) for img in images])
        return np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32) * np.float32(1.0 / 255.0)
