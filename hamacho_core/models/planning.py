"""Planning a fit before any work: input size, tiles, and the estimated time an image (the Train tab's
advice, the CLI's summary).  Each kind adds its own cost through the registry (PatchCore: the bank search)."""

from __future__ import annotations

import numpy as np

from hamacho_core.geometry import planned_input, roi_dims
from hamacho_core.models.registry import spec_of_config


def pass_ms(backbone: str) -> float | None:
    """Measured ms of one 256 x 256 backbone pass (bench_backbones), where known."""
    from hamacho_core import efficientnet_lite

    variant = efficientnet_lite.VARIANTS.get(backbone)
    return None if variant is None else variant.ms_256


def planned_cost(config, dims: tuple[int, int] | None,
                 n_images: int | None = None) -> tuple[tuple[int, int], int, float | None]:
    """((width, height) of the input, tiles per image, estimated ms per image or None) for images of
    ``dims``: the measured 256 px pass scaled by the pixels run through the backbone, plus (PatchCore,
    when the training images ``n_images`` are known) the nearest-neighbour search in the bank they
    will give."""
    (w, h), tiles = planned_input(config, dims)
    pixels = tiles * config.tile_size ** 2 if tiles > 1 else w * h
    ms = pass_ms(config.backbone)
    if ms is None:
        return (w, h), tiles, None
    ms *= pixels / 256 ** 2
    if n_images:
        ms += spec_of_config(config).search_ms(config, n_images, dims)
    return (w, h), tiles, ms


#: The folder size the advice turns "ms an image" into a total for (a shift's parts, a review folder).
TOTAL_IMAGES = 1000


def _cost_text(config, dims, n_images=None, base_ms: float | None = None) -> str:
    """"800x608, 12 tiles of 256 px, about 95 ms an image (1,000 images: about 1.6 min; 4.1x the time)"."""
    (w, h), tiles, ms = planned_cost(config, dims, n_images)
    what = f"{w}x{h}" + (f", {tiles} tiles of {config.tile_size} px" if tiles > 1 else "")
    if ms is None:
        return what
    total = ms * TOTAL_IMAGES / 1000
    extra = f"{TOTAL_IMAGES:,} images: about {total:.0f} s" if total < 120 else \
        f"{TOTAL_IMAGES:,} images: about {total / 60:.1f} min"
    if base_ms:
        extra += f"; {ms / base_ms:.1f}x the time"
    return f"{what}, about {ms:.0f} ms an image ({extra})"


def advise(config, dims: tuple[int, int] | None, n_images: int | None = None) -> str:
    """One or two sentences for the Train tab: what the chosen geometry does to images of ``dims``
    (width, height; their region of interest) and, when they are much larger than the input or not
    square, which setting keeps small defects visible and at what cost.  '' when there is nothing to say."""
    if dims is None:
        return ""
    from dataclasses import replace

    w, h = roi_dims(config, dims)
    (iw, ih), _tiles, base_ms = planned_cost(config, dims, n_images)
    shrink = max(w / iw, h / ih)
    aspect = max(w, h) / min(w, h)
    squashed = config.geometry == "fixed" and abs(np.log((w / h) / (iw / ih))) > np.log(1.3)
    text = f"Images are {w}x{h}; input {_cost_text(config, dims, n_images)}."
    tips = []
    if squashed:
        tips.append(f"they are squashed {aspect:.1f}:1 to {iw}x{ih}: geometry 'aspect' keeps their shape "
                    f"({_cost_text(replace(config, geometry='aspect'), dims, n_images, base_ms)})")
    if shrink >= 3 and config.geometry != "tiles":
        tiled = replace(config, geometry="tiles")
        smallest = 3 / tiled.tile_scale  # tiles shrink the image by 1/tile_scale only
        tips.append(f"they are shrunk {shrink:.0f}x, so a defect of {3 * shrink:.0f} px becomes about 3 px: "
                    f"geometry 'tiles' at scale {tiled.tile_scale:g} sees defects down to about {smallest:.0f} px "
                    f"({_cost_text(tiled, dims, n_images, base_ms)}). It helps only where defects are that "
                    "small; Find best settings measures it on your own images")
    if tips:
        text += " Note: " + "; ".join(tips) + "."
    return text
