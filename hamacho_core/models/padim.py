"""PaDiM (Defard et al., "PaDiM: a Patch Distribution Modeling Framework", ICPR 2021).

Per-position multivariate Gaussians of layer1-3 embeddings (a seeded random subset of channels),
Mahalanobis distance maps, image score = map maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hamacho_core.features import FeatureExtractor
from hamacho_core.models.base import AnomalyModel, ImageLike, ModelConfig
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report

#: The paper's embedding sizes; other backbones follow :func:`padim_dims`.
PAPER_DIMS = {"resnet18": 100, "wide_resnet50_2": 550}
REGULARISATION = 0.01
_POSITION_CHUNK = 256


def padim_dims(backbone: str, total: int) -> int:
    """Kept channels: the paper's value where it gives one, else ``min(total, max(100, 0.3*total))``."""
    if backbone in PAPER_DIMS:
        return min(total, PAPER_DIMS[backbone])
    return min(total, max(100, round(0.3 * total)))


@dataclass
class PadimConfig(ModelConfig):
    backbone: str = "resnet18"
    #: None applies :func:`padim_dims`.
    n_features: int | None = None


class PadimEmbedder(nn.Module):
    """Pure-torch part: layers upsampled (nearest) to the first layer's grid, concatenated, subset."""

    def __init__(self, extractor: FeatureExtractor, channel_idx: torch.Tensor):
        super().__init__()
        self.extractor = extractor
        self.register_buffer("channel_idx", channel_idx)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.extractor(images)
        size = maps[0].shape[-2:]
        emb = torch.cat([m if m.shape[-2:] == size else F.interpolate(m, size=size, mode="nearest")
                         for m in maps], dim=1)
        return emb.index_select(1, self.channel_idx)


def mahalanobis(emb: torch.Tensor, mean: torch.Tensor, inv_cov: torch.Tensor) -> torch.Tensor:
    """Distances (B, P) of embeddings (B, d, P) to per-position Gaussians (mean (d, P), inv (P, d, d))."""
    delta = (emb - mean[None]).permute(2, 0, 1)  # (P, B, d)
    left = torch.bmm(delta, inv_cov)  # (P, B, d)
    return (left * delta).sum(-1).clamp_min_(0.0).sqrt_().T  # (B, P)


class Padim(AnomalyModel):
    kind = "padim"
    score_is_map_max = True
    state_attrs = ("mean", "inv_cov", "grid")
    config: PadimConfig

    def __init__(self, config: PadimConfig | None = None):
        super().__init__(config or PadimConfig())
        extractor = FeatureExtractor(self.config.backbone, self.layers, pretrained=self.config.pretrained,
                                     allow_download=self.config.allow_download)
        total = sum(_layer_channels(self.config.backbone, self.layers))
        keep = self.config.n_features or padim_dims(self.config.backbone, total)
        generator = torch.Generator().manual_seed(self.config.seed)
        channel_idx = torch.sort(torch.randperm(total, generator=generator)[:keep]).values
        self.embedder = PadimEmbedder(extractor, channel_idx).to(self.device)
        self.mean: torch.Tensor | None = None  # (d, P)
        self.inv_cov: torch.Tensor | None = None  # (P, d, d)
        self.grid: tuple[int, int] | None = None

    @property
    def is_fitted(self) -> bool:
        return self.inv_cov is not None

    @torch.inference_mode()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.embedder(batch)

    def set_statistics(self, mean: torch.Tensor, inv_cov: torch.Tensor, grid: tuple[int, int]) -> None:
        self.mean, self.inv_cov, self.grid = mean.to(self.device), inv_cov.to(self.device), tuple(grid)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean.cpu().numpy(), "inv_cov": self.inv_cov.cpu().numpy(),
                "channel_idx": self.embedder.channel_idx.cpu().numpy(),
                "grid": np.asarray(self.grid, dtype=np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        channel_idx = np.asarray(arrays["channel_idx"])
        if not np.array_equal(channel_idx, self.embedder.channel_idx.cpu().numpy()):
            raise ValueError("stored channel selection differs from this model's (seed or layers changed)")
        mean, inv_cov = np.asarray(arrays["mean"], np.float32), np.asarray(arrays["inv_cov"], np.float32)
        grid = tuple(int(v) for v in np.asarray(arrays["grid"]).ravel())
        d = len(channel_idx)
        if len(grid) != 2 or mean.shape != (d, grid[0] * grid[1]) or inv_cov.shape != (grid[0] * grid[1], d, d):
            raise ValueError("PaDiM statistics have inconsistent shapes")
        self.set_statistics(torch.from_numpy(mean), torch.from_numpy(inv_cov), grid)

    @torch.inference_mode()
    def _fit_features(self, images: Sequence[ImageLike], progress: ProgressFn | None,
                      should_stop: StopFn | None) -> dict:
        stack: torch.Tensor | None = None  # (N, d, P) float32, preallocated
        grid = None
        for done, batch in self.iter_batches(images):
            check_stop(should_stop, "fit")
            emb = self.embed(batch)
            grid = tuple(emb.shape[-2:])
            if stack is None:
                stack = torch.empty((len(images), emb.shape[1], grid[0] * grid[1]), dtype=torch.float32)
            stack[done - len(batch):done] = emb.flatten(2).cpu()
            report(progress, "features", done, len(images))
        n, d, positions = stack.shape
        mean = stack.mean(0)  # (d, P)
        inv_cov = torch.empty((positions, d, d), dtype=torch.float32)
        eye = REGULARISATION * torch.eye(d, dtype=torch.float64)
        for start in range(0, positions, _POSITION_CHUNK):
            check_stop(should_stop, "fit")
            stop = min(start + _POSITION_CHUNK, positions)
            centred = (stack[:, :, start:stop] - mean[None, :, start:stop]).permute(2, 0, 1).double()
            cov = centred.transpose(1, 2) @ centred / max(n - 1, 1) + eye
            inv_cov[start:stop] = torch.linalg.inv(cov).float()
            report(progress, "covariance", stop, positions)
        self.set_statistics(mean, inv_cov, grid)
        return {"embedding_dim": d, "positions": positions}

    @torch.inference_mode()
    def _raw_scores(self, batch: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        emb = self.embed(batch)
        if tuple(emb.shape[-2:]) != self.grid:
            raise ValueError("input geometry differs from the one the model was fitted with")
        dist = mahalanobis(emb.flatten(2), self.mean, self.inv_cov)
        maps = dist.reshape(len(batch), *self.grid)
        return maps.amax(dim=(1, 2)).cpu().numpy(), maps.cpu()  # scores replaced by the blurred max


def _layer_channels(backbone: str, layers: Sequence[str]) -> list[int]:
    from hamacho_core.backbones import list_layers

    channels = {info.name: info.channels for info in list_layers(backbone)}
    return [channels[layer] for layer in layers]
