"""PatchCore's embedding head in torch (the eager runtime; needs the torch add-on)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hamacho_core.features import FeatureExtractor
from hamacho_core.torch_backend import TorchEmbedder


class PatchEmbedder(nn.Module):
    """PatchCore's head in torch: 3x3-averaged, upsampled, concatenated (and channel-pooled) features."""

    def __init__(self, extractor: FeatureExtractor, feature_dim: int | None):
        super().__init__()
        self.extractor = extractor
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, D, h, w) on the first layer's grid."""
        maps = self.extractor(images)
        size = maps[0].shape[-2:]
        parts = []
        for fmap in maps:
            fmap = F.avg_pool2d(fmap, kernel_size=3, stride=1, padding=1)
            if fmap.shape[-2:] != size:
                fmap = F.interpolate(fmap, size=size, mode="bilinear", align_corners=False)
            parts.append(fmap)
        emb = torch.cat(parts, dim=1)
        if self.feature_dim is not None and emb.shape[1] > self.feature_dim:
            b, d, h, w = emb.shape
            flat = emb.permute(0, 2, 3, 1).reshape(-1, 1, d)
            emb = F.adaptive_avg_pool1d(flat, self.feature_dim).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return emb


def embedder(backbone: str, layers: Sequence[str], feature_dim: int | None, *, device: str = "cpu",
             pretrained: bool = True, allow_download: bool = True) -> TorchEmbedder:
    extractor = FeatureExtractor(backbone, layers, pretrained=pretrained, allow_download=allow_download)
    return TorchEmbedder(PatchEmbedder(extractor, feature_dim), device)
