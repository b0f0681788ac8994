"""The one renderer of heatmaps and outlines: exported overlays here, the GUI viewer takes its colour maps
and outline colours from here too (OpenCV only, no Qt).

Outline colours are chosen per colour map so that they contrast with every colour the map can show: from
a fixed palette, each role (predicted, truth, region) takes the candidate that is farthest (CIELAB, minimum
over the map's 256 colours and the roles already chosen) from them.  Every outline is drawn over a halo
(black under light colours, white under dark ones), so it also stays visible on parts of its own colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

RGB = tuple[int, int, int]

#: Heatmap colour maps by name (OpenCV colour map ids); the GUI offers them in this order.
COLORMAPS: dict[str, int] = {"jet": cv2.COLORMAP_JET, "inferno": cv2.COLORMAP_INFERNO,
                             "viridis": cv2.COLORMAP_VIRIDIS, "turbo": cv2.COLORMAP_TURBO,
                             "magma": cv2.COLORMAP_MAGMA, "hot": cv2.COLORMAP_HOT}
DEFAULT_COLORMAP = "jet"

#: Outline candidates in tie-break order: saturated colours and white (black and grey would vanish on
#: dark parts, and are the halo colours).
PALETTE: dict[str, RGB] = {
    "red": (255, 0, 0), "magenta": (255, 0, 255), "lime": (0, 255, 0), "cyan": (0, 255, 255),
    "white": (255, 255, 255), "yellow": (255, 255, 0), "blue": (0, 0, 255), "orange": (255, 128, 0),
    "pink": (255, 105, 180), "purple": (128, 0, 255), "spring green": (0, 255, 128),
}
ROLES = ("predicted", "truth", "region")  # chosen in this order: the predicted defect gets the best


@dataclass(frozen=True)
class OutlineColours:
    """RGB outline colours for one colour map."""

    predicted: RGB
    truth: RGB
    region: RGB


def _colormap_id(colormap: str | int) -> int:
    if isinstance(colormap, str):
        try:
            return COLORMAPS[colormap]
        except KeyError:
            raise ValueError(f"unknown colormap {colormap!r}; choose from {', '.join(COLORMAPS)}") from None
    return int(colormap)  # an OpenCV id (older callers)


@lru_cache(maxsize=32)
def _lut(colormap: str | int) -> np.ndarray:
    """The colour map as a 256 x 1 x 3 uint8 table in RGB order (read-only)."""
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], _colormap_id(colormap))
    lut = np.ascontiguousarray(bgr[:, :, ::-1])
    lut.flags.writeable = False
    return lut


def to_lab(rgb: np.ndarray | RGB) -> np.ndarray:
    """RGB uint8 colours (... x 3) as CIELAB (N x 3 float32: L 0..100, a and b about -128..127)."""
    rgb = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3)


def halo_colour(colour: RGB) -> RGB:
    """The rim drawn under an outline: black under light colours, white under dark ones."""
    return (0, 0, 0) if to_lab(colour)[0, 0] >= 50.0 else (255, 255, 255)


@lru_cache(maxsize=32)
def outline_colours(colormap: str = DEFAULT_COLORMAP) -> OutlineColours:
    """Predicted / truth / region outline colours that contrast with every colour of ``colormap``
    and with each other (deterministic)."""
    names, candidates = list(PALETTE), to_lab(list(PALETTE.values()))
    avoid, chosen = to_lab(_lut(colormap)), []
    for _ in ROLES:
        distance = np.linalg.norm(candidates[:, None, :] - avoid[None, :, :], axis=2).min(axis=1)
        best = int(np.argmax(distance))  # first of equals: palette order
        chosen.append(PALETTE[names[best]])
        avoid = np.vstack([avoid, candidates[best:best + 1]])
    return OutlineColours(*chosen)


def heatmap(norm_map: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A normalised map (float 0..1, 0.5 = threshold; or uint8 grey levels 0..255) as an RGB uint8 image."""
    norm_map = np.asarray(norm_map)
    if norm_map.dtype == np.uint8:
        grey = norm_map
    else:
        grey = (np.clip(np.nan_to_num(norm_map.astype(np.float32)), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return cv2.applyColorMap(np.ascontiguousarray(grey), _lut(colormap))  # the table is RGB: so is the result


def overlay(image: np.ndarray, norm_map: np.ndarray, alpha: float = 0.5,
            colormap: str | int = DEFAULT_COLORMAP) -> np.ndarray:
    """Blend the heatmap of ``norm_map`` over an RGB image of the same size."""
    if image.shape[:2] != np.shape(norm_map):
        raise ValueError(f"image {image.shape[:2]} and map {np.shape(norm_map)} sizes differ")
    alpha = min(max(float(alpha), 0.0), 1.0)
    return cv2.addWeighted(image, 1.0 - alpha, heatmap(norm_map, colormap), alpha, 0.0)


def _contours(mask: np.ndarray) -> tuple:
    contours, _ = cv2.findContours((np.asarray(mask) > 0).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return contours


def _stroke(out: np.ndarray, lines, colour: RGB, thickness: int, halo: bool) -> None:
    """Closed polylines drawn in place; with ``halo``, over a rim 1 px wide on each side (corners too)."""
    if not halo:
        cv2.polylines(out, lines, True, colour, thickness, cv2.LINE_8)
        return
    if not len(lines):
        return
    x, y, w, h = cv2.boundingRect(np.vstack([np.asarray(p).reshape(-1, 2) for p in lines]))
    pad = thickness + 2  # work in the lines' box (plus the stroke's reach): cheap on large images
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    x1, y1 = min(x + w + pad, out.shape[1]), min(y + h + pad, out.shape[0])
    if x0 >= x1 or y0 >= y1:
        return  # entirely outside the image
    box = out[y0:y1, x0:x1]
    line = np.zeros(box.shape[:2], np.uint8)
    shifted = [np.asarray(p).reshape(-1, 1, 2) - np.array([x0, y0], np.int32) for p in lines]
    cv2.polylines(line, shifted, True, 255, thickness, cv2.LINE_8)
    box[cv2.dilate(line, np.ones((3, 3), np.uint8)) > 0] = halo_colour(colour)
    box[line > 0] = colour


def draw_outline(image: np.ndarray, mask: np.ndarray, color: RGB = (255, 0, 0),
                 thickness: int = 1, *, halo: bool = False) -> np.ndarray:
    """A copy of an RGB image with the outline of a boolean mask drawn on it."""
    out = image.copy()
    _stroke(out, _contours(mask), tuple(color), thickness, halo)
    return out


def render_overlay(rgb: np.ndarray, norm_map: np.ndarray | None, predicted: np.ndarray | None, *,
                   truth: np.ndarray | None = None, region_polygon: np.ndarray | None = None,
                   colormap: str = DEFAULT_COLORMAP, alpha: float = 0.5,
                   thickness: int | None = None) -> np.ndarray:
    """The exported picture: ``rgb`` (H x W x 3 uint8) with the heatmap of ``norm_map`` (H x W, 0..1)
    blended at ``alpha``, then the region (N x 2 pixel points), truth and predicted outlines (boolean
    H x W masks) in :func:`outline_colours` of ``colormap``, each over a halo.  Any of them may be None.

    ``thickness`` (px) defaults to ``max(1, round(max(h, w) / 400))``; the truth line is drawn wider, so
    a prediction that matches it exactly still shows both."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be an H x W x 3 uint8 image, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    for name, array in (("norm_map", norm_map), ("predicted", predicted), ("truth", truth)):
        if array is not None and np.shape(array) != (h, w):
            raise ValueError(f"{name} {np.shape(array)} and image {(h, w)} sizes differ")
    colours = outline_colours(colormap)
    t = max(1, round(max(h, w) / 400)) if thickness is None else max(1, int(thickness))
    out = overlay(rgb, norm_map, alpha, colormap) if norm_map is not None else rgb.copy()
    if region_polygon is not None and len(region_polygon) >= 2:
        points = np.round(np.asarray(region_polygon, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)
        _stroke(out, [points], colours.region, t, halo=True)
    if truth is not None:
        _stroke(out, _contours(truth), colours.truth, t + max(1, t // 2), halo=True)
    if predicted is not None:
        _stroke(out, _contours(predicted), colours.predicted, t, halo=True)
    return out
