"""What a PaDiM fit will hold, computed like the fit does (before any work)."""

from __future__ import annotations

from hamacho_core.backbones import layer_infos, layers_by_stride
from hamacho_core.geometry import patch_grid, planned_unit

#: The paper's layers: stride 4, 8 and 16 (``layer1``-``layer3`` on ResNets).
DEFAULT_STRIDES = (4, 8, 16)
#: The paper's embedding sizes; other backbones follow :func:`padim_dims`.
PAPER_DIMS = {"resnet18": 100, "wide_resnet50_2": 550}
_MB = 2**20


def padim_dims(backbone: str, total: int) -> int:
    """Kept channels: the paper's value where it gives one, else ``min(total, max(100, 0.3*total))``."""
    if backbone in PAPER_DIMS:
        return min(total, PAPER_DIMS[backbone])
    return min(total, max(100, round(0.3 * total)))


def estimate_memory(config, n_images: int, dims: tuple[int, int] | None = None) -> dict:
    """What a fit of a :class:`PadimConfig` on ``n_images`` images of ``dims`` will hold (``bank_mb``: the
    inverse covariances and means; ``fit_peak_mb``: all embeddings plus the statistics)."""
    unit, tiles = planned_unit(config, dims)
    layers = config.layers or layers_by_stride(config.backbone, DEFAULT_STRIDES)
    chosen = layer_infos(config.backbone, layers)
    grid_wh = patch_grid(unit, chosen[0].stride)
    positions = tiles * grid_wh[0] * grid_wh[1]
    channels = sum(info.channels for info in chosen)
    dim = config.n_features or padim_dims(config.backbone, channels)
    bank_mb = positions * (dim * dim + dim) * 4 / _MB  # inverse covariances + means, float32
    return {"backbone": config.backbone, "layers": tuple(layers), "image_size": unit, "tiles": tiles,
            "n_images": int(n_images), "stride": chosen[0].stride, "grid": grid_wh[0], "grid_wh": grid_wh,
            "patches_per_image": positions,
            "channels": channels, "feature_dim": dim, "bank_rows": positions, "bank_mb": bank_mb,
            "feature_memory_mb": n_images * positions * dim * 4 / _MB,
            # embeddings of all images + the statistics (measured: 5.8 GB peak for 0.8 + 5.0 estimated)
            "fit_peak_mb": n_images * positions * dim * 4 / _MB + 1.05 * bank_mb}


def search_ms(config, n_images: int, dims: tuple[int, int] | None = None) -> float:
    """PaDiM has no bank to search: its per-position distance is in the backbone pass estimate."""
    return 0.0
