"""Turning arbitrary decoded images into the backbone's input tensor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch


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


@dataclass(frozen=True)
class Preprocess:
    """Resize to a square ``image_size`` (aspect not kept, as in PatchCore/PaDiM), then an optional
    centre crop.  Output values are in [0, 1]; the backbone applies its own normalisation."""

    image_size: int = 256
    center_crop: int | None = None

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ValueError("image_size must be at least 32")
        if self.center_crop is not None and not 32 <= self.center_crop <= self.image_size:
            raise ValueError("center_crop must be between 32 and image_size")

    @property
    def output_size(self) -> int:
        return self.center_crop or self.image_size

    def image(self, image: np.ndarray) -> np.ndarray:
        """One image as HxWx3 uint8 at the model's input geometry."""
        rgb = to_rgb8(image)
        size = self.image_size
        shrinking = rgb.shape[0] > size or rgb.shape[1] > size
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        if self.center_crop:
            top = (size - self.center_crop) // 2
            rgb = rgb[top:top + self.center_crop, top:top + self.center_crop]
        return np.ascontiguousarray(rgb)

    def mask(self, mask: np.ndarray) -> np.ndarray:
        """A ground-truth mask (any size, non-zero = defect) at the model's input geometry, bool."""
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask.max(axis=2)
        resized = cv2.resize((mask > 0).astype(np.uint8), (self.image_size,) * 2, interpolation=cv2.INTER_NEAREST)
        if self.center_crop:
            top = (self.image_size - self.center_crop) // 2
            resized = resized[top:top + self.center_crop, top:top + self.center_crop]
        return resized.astype(bool)

    def batch(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Bx3xSxS float32 tensor in [0, 1]."""
        arr = np.stack([self.image(img) for img in images])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255.0)
