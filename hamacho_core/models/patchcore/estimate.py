"""What a PatchCore fit will hold and what its bank search will cost, computed like the fit does (before
any work: the Train tab's estimates, the fit's memory check, the geometry advice)."""

from __future__ import annotations

from hamacho_core.backbones import layer_infos, layers_by_stride
from hamacho_core.geometry import patch_grid, planned_unit

#: The paper's layers: the last stride-8 and stride-16 stages (``layer2``, ``layer3`` on ResNets).
DEFAULT_STRIDES = (8, 16)
DEFAULT_PROJECTION_DIM = 128
DEFAULT_MAX_FEATURE_MEMORY_MB = 512
#: Exact nearest-neighbour search speed, multiply-adds per ms (bench_resolution: 25 tiles x 1024
#: patches against banks of 41k and 8k rows of 152 features, this 2-core CPU).
NN_MACS_PER_MS = 9e7
#: The inverted file's speed, multiply-adds per ms (nn_index: 1024 queries x (256 centroids + 8 cells of 64
#: rows) x 152 features in 7.5 ms); see ``PatchCoreConfig.search``.
IVF_MACS_PER_MS = 1.6e7
#: Keep in step with ``model.IVF_MIN_ROWS`` / ``IVF_PROBES`` (the model imports this module, not the reverse).
IVF_MIN_ROWS, IVF_PROBES = 4096, 8
#: Bytes per patch of the greedy coreset's bookkeeping (norms, bounds, stamps, order, flags).
_CORESET_BYTES_PER_ROW = 29
_MB = 2**20


def estimate_memory_bank(backbone: str, layers, image_size: int | tuple[int, int], n_images: int,
                         coreset_ratio: float, feature_dim: int | None = 1024, *,
                         projection_dim: int = DEFAULT_PROJECTION_DIM,
                         max_feature_memory_mb: int = DEFAULT_MAX_FEATURE_MEMORY_MB, tiles: int = 1) -> dict:
    """What a PatchCore fit of ``n_images`` training images will hold, computed like the fit does.

    Patches per image: the first layer's grid, ``ceil(side / stride)`` per side of ``image_size`` (a
    square side or (width, height); with ``tiles`` > 1 the tile's side, times the tiles).  Feature width:
    the layers' channels, capped at ``feature_dim``.  Bank rows: ``round(coreset_ratio * patches)``
    (at least 1).  Memory in MiB of float32.  During the fit, all patch features are kept
    (``feature_memory_mb``; only their random projections when that exceeds ``max_feature_memory_mb``,
    ``two_pass``), plus the coreset's working memory; ``fit_peak_mb`` adds the bank itself.
    ``layers`` empty or None: the backbone's PatchCore defaults.
    """
    infos = layer_infos(backbone, tuple(layers) if layers else layers_by_stride(backbone, DEFAULT_STRIDES))
    width, height = (image_size, image_size) if isinstance(image_size, int) else image_size
    if min(width, height) < 1 or tiles < 1:
        raise ValueError("image_size and tiles must be positive")
    if not 0 < coreset_ratio <= 1:
        raise ValueError("coreset_ratio must be in (0, 1]")
    n_images = max(0, int(n_images))
    stride = infos[0].stride
    grid_wh = patch_grid((width, height), stride)
    per_image = tiles * grid_wh[0] * grid_wh[1]
    channels = sum(info.channels for info in infos)
    dim = channels if feature_dim is None else min(channels, int(feature_dim))
    total = n_images * per_image
    rows = max(1, min(total, int(round(coreset_ratio * total)))) if total else 0
    two_pass = total * dim * 4 > max_feature_memory_mb * _MB and projection_dim < dim
    stored_dim = projection_dim if two_pass else dim
    features_mb = total * stored_dim * 4 / _MB
    coreset_mb = 0.0
    if 0 < rows < total:
        projected = 0 if two_pass or projection_dim >= dim else total * projection_dim * 4
        coreset_mb = (projected + total * _CORESET_BYTES_PER_ROW + rows * min(stored_dim, projection_dim) * 4) / _MB
    bank_mb = rows * dim * 4 / _MB
    return {
        "backbone": backbone, "layers": tuple(info.name for info in infos), "image_size": image_size,
        "n_images": n_images, "coreset_ratio": float(coreset_ratio), "stride": stride, "grid": grid_wh[0],
        "grid_wh": grid_wh, "tiles": tiles,
        "patches_per_image": per_image, "channels": channels, "feature_dim": dim, "total_patches": total,
        "bank_rows": rows, "bank_mb": bank_mb, "feature_memory_mb": features_mb, "coreset_memory_mb": coreset_mb,
        "fit_peak_mb": features_mb + coreset_mb + bank_mb, "two_pass": two_pass,
    }


def estimate_memory(config, n_images: int, dims: tuple[int, int] | None = None) -> dict:
    """:func:`estimate_memory_bank` of a :class:`PatchCoreConfig` on ``n_images`` images of ``dims`` (a config
    with a ``bank_size``, the whitened PatchCore's, keeps at most that many rows)."""
    unit, tiles = planned_unit(config, dims)
    ratio = config.coreset_for(tiles)
    bank_size = getattr(config, "bank_size", None)
    if bank_size is not None:
        total = estimate_memory_bank(config.backbone, config.layers, unit, max(1, n_images), 1.0, config.feature_dim,
                                     tiles=tiles)["total_patches"]
        ratio = min(1.0, bank_size / max(1, total))
    return estimate_memory_bank(config.backbone, config.layers, unit, n_images, ratio,
                                config.feature_dim, projection_dim=config.projection_dim,
                                max_feature_memory_mb=config.max_feature_memory_mb, tiles=tiles)


def search_ms(config, n_images: int, dims: tuple[int, int] | None = None) -> float:
    """Estimated ms an image of the exact nearest-neighbour search in the bank ``n_images`` will give."""
    e = estimate_memory(config, n_images, dims)
    rows = e["bank_rows"]
    if config.search == "exact" or (config.search == "auto" and rows < IVF_MIN_ROWS):
        return e["patches_per_image"] * rows * e["feature_dim"] / NN_MACS_PER_MS
    cells = max(1, min(round((rows * IVF_PROBES) ** 0.5), rows // 39))
    compared = cells + IVF_PROBES * rows / cells
    return e["patches_per_image"] * compared * e["feature_dim"] / IVF_MACS_PER_MS
