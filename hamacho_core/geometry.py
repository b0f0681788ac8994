"""Input geometry: how large the backbone's input is, from the settings and the training images."""

from __future__ import annotations

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


def pass_ms(backbone: str) -> float | None:
    """Measured ms of one 256 x 256 backbone pass (bench_backbones), where known."""
    from hamacho_core import efficientnet_lite

    variant = efficientnet_lite.VARIANTS.get(backbone)
    return None if variant is None else variant.ms_256


#: Exact nearest-neighbour search speed, multiply-adds per ms (bench_resolution: 25 tiles x 1024
#: patches against banks of 41k and 8k rows of 152 features, this 2-core CPU).
NN_MACS_PER_MS = 9e7


def planned_cost(config, dims: tuple[int, int] | None,
                 n_images: int | None = None) -> tuple[tuple[int, int], int, float | None]:
    """((width, height) of the input, tiles per image, estimated ms per image or None) for images of
    ``dims``: the measured 256 px pass scaled by the pixels run through the backbone, plus (PatchCore,
    when the training images ``n_images`` are known) the nearest-neighbour search in the bank they
    will give."""
    from hamacho_core.tiling import Tiler

    size = plan_geometry(config, roi_dims(config, dims))
    w, h = (size, size) if isinstance(size, int) else size
    tiles, pixels = 1, w * h
    if config.geometry == "tiles" and min(w, h) >= config.tile_size and not (w % 32 or h % 32):
        tiles = len(Tiler(w, h, config.tile_size, config.tile_overlap))
        pixels = tiles * config.tile_size ** 2
    ms = pass_ms(config.backbone)
    if ms is None:
        return (w, h), tiles, None
    ms *= pixels / 256 ** 2
    if n_images and hasattr(config, "coreset_for"):
        from hamacho_core.models import REGISTRY

        e = REGISTRY["patchcore"].estimate_memory(config, n_images, dims)
        ms += e["patches_per_image"] * e["bank_rows"] * e["feature_dim"] / NN_MACS_PER_MS
    return (w, h), tiles, ms


def _cost_text(config, dims, n_images=None) -> str:
    (w, h), tiles, ms = planned_cost(config, dims, n_images)
    what = f"{w}x{h}" + (f", {tiles} tiles of {config.tile_size} px" if tiles > 1 else "")
    return what + ("" if ms is None else f", about {ms:.0f} ms an image")


def advise(config, dims: tuple[int, int] | None, n_images: int | None = None) -> str:
    """One or two sentences for the Train tab: what the chosen geometry does to images of ``dims``
    (width, height; their region of interest) and, when they are much larger than the input or not
    square, which setting keeps small defects visible and at what cost.  '' when there is nothing to say."""
    if dims is None:
        return ""
    from dataclasses import replace

    w, h = roi_dims(config, dims)
    (iw, ih), _tiles, _ms = planned_cost(config, dims)
    shrink = max(w / iw, h / ih)
    aspect = max(w, h) / min(w, h)
    squashed = config.geometry == "fixed" and abs(np.log((w / h) / (iw / ih))) > np.log(1.3)
    text = f"Images are {w}x{h}; input {_cost_text(config, dims, n_images)}."
    tips = []
    if squashed:
        tips.append(f"they are squashed {aspect:.1f}:1 to {iw}x{ih}: geometry 'aspect' keeps their shape "
                    f"({_cost_text(replace(config, geometry='aspect'), dims, n_images)})")
    if shrink >= 3 and config.geometry != "tiles":
        tiled = replace(config, geometry="tiles")
        tips.append(f"they are shrunk {shrink:.0f}x, so a defect of {3 * shrink:.0f} px becomes about 3 px: "
                    f"geometry 'tiles' at scale {tiled.tile_scale:g} keeps more detail "
                    f"({_cost_text(tiled, dims, n_images)})")
    if tips:
        text += " Note: " + "; ".join(tips) + "."
    return text
