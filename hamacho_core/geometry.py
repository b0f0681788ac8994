"""Input geometry: how large the backbone's input is, from the settings and the training images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hamacho_core.imageio import image_dims
from hamacho_core.preprocess import Preprocess
from hamacho_core.tiling import round_to_grid

#: Largest side of an aspect-kept input or a tiled canvas (a 20 MP image at full resolution fits).
MAX_CANVAS = 8192


def typical_dims(images: Sequence, preprocess: Preprocess, sample: int = 64) -> tuple[int, int]:
    """Median (width, height) of (up to ``sample`` evenly spread) images' region of interest."""
    images = list(images)
    if not images:
        raise ValueError("no images to take the input size from")
    picked = images[::max(1, len(images) // sample)][:sample]
    boxes = []
    for image in picked:
        w, h = image_dims(image)
        x0, y0, x1, y1 = preprocess.roi_box(h, w)
        boxes.append((x1 - x0, y1 - y0))
    return int(np.median([b[0] for b in boxes])), int(np.median([b[1] for b in boxes]))


def plan_geometry(config, dims: tuple[int, int] | None) -> int | tuple[int, int]:
    """The input size a fit on images of ``dims`` (width, height) uses.

    ``fixed``: ``image_size``.  ``aspect``: the short side is ``image_size`` (its smaller side), the
    long side follows the images' aspect ratio, rounded to 32 px.  ``tiles``: the images scaled by
    ``tile_scale``, each side rounded to 32 px and at least one tile.  Sides stop at ``MAX_CANVAS``.
    Without ``dims`` (not known yet), ``image_size``.
    """
    if config.geometry == "fixed" or dims is None:
        return config.image_size
    w, h = (max(1, int(v)) for v in dims)
    if config.geometry == "aspect":
        short = config.image_size if isinstance(config.image_size, int) else min(config.image_size)
        long = max(short, min(MAX_CANVAS, round_to_grid(short * max(w, h) / min(w, h))))
        size = (long, short) if w >= h else (short, long)
    else:
        tile = config.tile_size
        size = tuple(min(MAX_CANVAS, max(tile, round_to_grid(v * config.tile_scale))) for v in (w, h))
    return size[0] if size[0] == size[1] else size


def roi_dims(config, dims: tuple[int, int] | None) -> tuple[int, int] | None:
    """(width, height) of the region of interest of images of ``dims`` (the whole image without one)."""
    if dims is None or getattr(config, "roi", None) is None:
        return dims
    w, h = dims
    x0, y0, x1, y1 = Preprocess(roi=config.roi).roi_box(h, w)
    return x1 - x0, y1 - y0


def planned_input(config, dims: tuple[int, int] | None) -> tuple[tuple[int, int], int]:
    """((width, height) of the input, tiles per image) for images of ``dims`` (their region of interest)."""
    from hamacho_core.tiling import GRID, Tiler

    size = plan_geometry(config, roi_dims(config, dims))
    w, h = (size, size) if isinstance(size, int) else size
    tiles = 1
    if config.geometry == "tiles" and min(w, h) >= config.tile_size and not (w % GRID or h % GRID):
        tiles = len(Tiler(w, h, config.tile_size, config.tile_overlap))
    return (w, h), tiles


def planned_unit(config, dims: tuple[int, int] | None) -> tuple[int | tuple[int, int], int]:
    """(what one backbone pass sees: the tile side, a square side or (width, height); tiles per image)."""
    (w, h), tiles = planned_input(config, dims)
    return (config.tile_size if tiles > 1 else (w if w == h else (w, h))), tiles


def patch_grid(size: int | tuple[int, int], stride: int) -> tuple[int, int]:
    """(columns, rows) of the patch grid a layer of ``stride`` gives on an input of ``size`` (side or (w, h))."""
    w, h = (size, size) if isinstance(size, int) else size
    return math.ceil(w / stride), math.ceil(h / stride)
