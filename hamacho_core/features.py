"""Multi-layer feature extraction from a backbone's FX graph (``torchvision.models.feature_extraction``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models import feature_extraction

from hamacho_core import backbones


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was chosen but no CUDA device is available; use --device cpu")
    return dev


class FeatureExtractor(nn.Module):
    """Returns the chosen layers' feature maps for images in [0, 1] (normalisation is inside).

    The graph is cut after the deepest chosen layer, so later stages cost nothing.
    """

    def __init__(self, backbone: str, layers: Sequence[str], *, pretrained: bool = True,
                 allow_download: bool = True):
        super().__init__()
        spec = backbones.get_spec(backbone)
        known = {info.name for info in backbones.list_layers(backbone)}
        unknown = [layer for layer in layers if layer not in known]
        if unknown:
            raise ValueError(f"{backbone} has no layer {unknown}; choose from {sorted(known)}")
        model = backbones.load_backbone(backbone, pretrained=pretrained, allow_download=allow_download)
        self.layers = tuple(layers)
        self.body = feature_extraction.create_feature_extractor(
            model, return_nodes={layer: layer for layer in self.layers}, tracer_kwargs=spec.tracer_kwargs())
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)
        self.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        out = self.body(x)
        return [out[layer].contiguous() for layer in self.layers]
