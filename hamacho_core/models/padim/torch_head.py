"""PaDiM's embedding head in torch (the eager runtime; needs the torch add-on)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hamacho_core.features import FeatureExtractor
from hamacho_core.torch_backend import TorchEmbedder


class PadimEmbedder(nn.Module):
    """PaDiM's head in torch: layers nearest-upsampled to the first layer's grid, concatenated, subset."""

    def __init__(self, extractor: FeatureExtractor, channel_idx: np.ndarray):
        super().__init__()
        self.extractor = extractor
        self.register_buffer("channel_idx", torch.as_tensor(np.asarray(channel_idx), dtype=torch.long))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        maps = self.extractor(images)
        size = maps[0].shape[-2:]
        emb = torch.cat([m if m.shape[-2:] == size else F.interpolate(m, size=size, mode="nearest")
                         for m in maps], dim=1)
        return emb.index_select(1, self.channel_idx)


def embedder(backbone: str, layers: Sequence[str], channel_idx: np.ndarray, *, device: str = "cpu",
             pretrained: bool = True, allow_download: bool = True) -> TorchEmbedder:
    extractor = FeatureExtractor(backbone, layers, pretrained=pretrained, allow_download=allow_download)
    return TorchEmbedder(PadimEmbedder(extractor, channel_idx), device)
