"""What only torch can do: run a backbone eagerly (CUDA, random weights) and export backbone graphs.

Imported only by the ``torch`` runtime and by ``hamacho backbones --export``; the fit and inspect
path of the ``onnxruntime`` runtime never imports this module (nor torch).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from hamacho_core import backbones, graphs
from hamacho_core.features import FeatureExtractor, resolve_device


class TorchEmbedder:
    """The eager torch path behind the same call as :class:`~hamacho_core.runtime.OrtEmbedder`."""

    runtime = "torch"

    def __init__(self, module: nn.Module, device: str = "cpu"):
        self.device = resolve_device(device)
        self.module = module.to(self.device)
        self.dim = None

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        return self.module(x).float().cpu().numpy()


class _Outputs(nn.Module):
    def __init__(self, extractor: FeatureExtractor):
        super().__init__()
        self.extractor = extractor

    def forward(self, images: torch.Tensor):
        return tuple(self.extractor(images))


def export_backbone_graph(backbone: str, layers: Sequence[str], *, pretrained: bool = True,
                          allow_download: bool = True, probe_size: int = 256) -> bytes:
    """An ONNX backbone graph: ``image`` (B, 3, H, W) in [0, 1] -> one output per layer (dynamic sizes)."""
    extractor = FeatureExtractor(backbone, layers, pretrained=pretrained, allow_download=allow_download).float()
    module = _Outputs(extractor).eval()
    buffer = io.BytesIO()
    axes = {graphs.INPUT: {0: "batch", 2: "height", 3: "width"}}
    axes.update({layer: {0: "batch", 2: f"h{i}", 3: f"w{i}"} for i, layer in enumerate(layers)})
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.rand(1, 3, probe_size, probe_size),), buffer, input_names=[graphs.INPUT],
                          output_names=list(layers), dynamic_axes=axes, opset_version=graphs.OPSET, dynamo=False)
    return buffer.getvalue()


def ensure_backbone_graph(backbone: str, layers: Sequence[str], *,
                          allow_download: bool = True) -> graphs.BackboneGraph:
    """The cached graph of ``backbone`` with ``layers``, exported now if there is none yet."""
    layers = list(layers)
    weights = backbones.resolve_weights(backbone, allow_download=allow_download)
    sha = backbones.file_sha256(weights)
    found = graphs.find_backbone_graph(backbone, layers, sha)
    if found is not None:
        return found
    table = {info.name: info for info in backbones.list_layers(backbone)}
    unknown = [layer for layer in layers if layer not in table]
    if unknown:
        raise ValueError(f"{backbone} has no layer {unknown}; choose from {sorted(table)}")
    data = export_backbone_graph(backbone, layers, allow_download=allow_download)
    info = [(layer, table[layer].channels, table[layer].stride) for layer in layers]
    return graphs.write_backbone_graph(graphs.cache_path(backbone, sha, layers), data, backbone, info, sha,
                                       weights.name)


BUNDLED_LAYERS = {name: tuple(f"blocks.{i}" for i in range(7))
                  for name in ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")}


def write_bundled_graph(backbone: str = "efficientnet_lite0") -> graphs.BackboneGraph:
    """(Re)create the graph shipped in ``hamacho_core/graphs/`` from the bundled weights (maintainers)."""
    layers = BUNDLED_LAYERS[backbone]
    table = {info.name: info for info in backbones._fx_layers(backbone, 2, 224)}
    data = export_backbone_graph(backbone, layers, allow_download=False)
    weights = backbones.resolve_weights(backbone, allow_download=False)
    info = [(layer, table[layer].channels, table[layer].stride) for layer in layers]
    return graphs.write_backbone_graph(graphs.BUNDLED_DIR / f"{backbone}.onnx", data, backbone, info,
                                       backbones.file_sha256(weights), weights.name)


def featured_table() -> dict:
    """The start-up table of the featured backbones (see ``backbones.featured_info``), from torch."""
    table = {}
    for name in backbones.FEATURED:
        entry = {"layers": [[i.name, i.channels, i.stride] for i in backbones._fx_layers(name, 2, 224)]}
        spec = backbones.get_spec(name)
        if spec.weights_url:
            entry.update(weights_url=spec.weights_url, description=spec.description)
        else:
            entry["description"] = spec.description
        table[name] = entry
    return table


if __name__ == "__main__":  # python -m hamacho_core.torch_backend: rewrite the bundled graphs and table
    import json

    from hamacho_core.fileio import atomic_write_bytes

    atomic_write_bytes(backbones.FEATURED_TABLE, json.dumps(featured_table(), indent=1).encode())
    print(f"{backbones.FEATURED_TABLE}: {', '.join(backbones.FEATURED)}")
    for name in BUNDLED_LAYERS:
        written = write_bundled_graph(name)
        print(f"{written.path} ({written.path.stat().st_size / 1e6:.1f} MB): {', '.join(written.layer_names)}")
