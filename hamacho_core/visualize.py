"""Heatmap overlays and mask outlines for result images (OpenCV; the GUI reuses them)."""

from __future__ import annotations

import cv2
import numpy as np


def heatmap(norm_map: np.ndarray, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """A normalised map (0..1, 0.5 = threshold) as an RGB uint8 colour image."""
    grey = (np.clip(norm_map, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(grey, colormap), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, norm_map: np.ndarray, alpha: float = 0.5,
            colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Blend the heatmap of ``norm_map`` over an RGB image of the same size."""
    if image.shape[:2] != norm_map.shape:
        raise ValueError(f"image {image.shape[:2]} and map {norm_map.shape} sizes differ")
    return cv2.addWeighted(image, 1.0 - alpha, heatmap(norm_map, colormap), alpha, 0.0)


def draw_outline(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 0, 0),
                 thickness: int = 1) -> np.ndarray:
    """A copy of an RGB image with the outline of a boolean mask drawn on it."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = image.copy()
    cv2.drawContours(out, contours, -1, color, thickness)
    return out
