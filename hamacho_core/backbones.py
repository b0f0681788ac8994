"""Backbone registry, offline-first weight resolution and layer listing.

Weights are resolved in this order, and random weights are only ever used when asked for:

1. bundled with an installed package (``efficientnet_lite0``);
2. a weights file the user imported (hash-checked against torchvision's published prefix);
3. torchvision's normal cache (``torch.hub.get_dir()/checkpoints``);
4. torchvision's download, when allowed and online;
5. otherwise :class:`WeightsUnavailableError`, saying how to import the file on an offline station.

torch is optional: without it, the bundled backbone (and backbones exported earlier) are described by
their runtime graphs' layer tables, and anything that needs to build a network says that it needs torch.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from hamacho_core import efficientnet_lite, graphs
from hamacho_core.fileio import file_sha256
from hamacho_core.paths import user_data_dir
from hamacho_core.runtime import torch_available

if TYPE_CHECKING:
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BUNDLED, IMPORTED, CACHED, MISSING = "bundled", "imported", "cached", "missing"
_TRANSFORMER_PREFIXES = ("vit_", "swin_")
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")


class WeightsUnavailableError(RuntimeError):
    """The pretrained weights of a backbone are not on this machine and could not be fetched."""


class UnknownBackboneError(ValueError):
    """The name is neither registered nor a ``torchvision.models`` classification CNN."""


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and where its pretrained weights come from."""

    name: str
    build: Callable[[], nn.Module]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    weights_url: str | None = None  # torchvision's URL; None for bundled weights
    bundled_weights: Callable[[], Path] | None = None
    load_weights: Callable[[nn.Module, Path], None] | None = None
    tracer_kwargs: Callable[[], dict] = field(default=dict)
    description: str = ""

    @property
    def weights_filename(self) -> str | None:
        if self.bundled_weights is not None:
            return self.bundled_weights().name
        return self.weights_url.rsplit("/", 1)[-1] if self.weights_url else None

    @property
    def expected_hash_prefix(self) -> str | None:
        """The sha256 prefix torchvision puts in its weight file names, if any."""
        match = _HASH_IN_NAME.search(self.weights_filename or "")
        return match.group(1) if match else None


class TorchRequiredError(RuntimeError):
    """This needs the optional torch add-on (``pip install "hamacho[torch]"``)."""


def require_torch(what: str) -> None:
    if not torch_available():
        raise TorchRequiredError(f"{what} needs the optional PyTorch add-on, which is not installed here "
                                 f"(pip install \"hamacho[torch]\"); the bundled efficientnet_lite0 works without it")


def _load_torchvision_state(model: nn.Module, path: Path) -> None:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)


def _lite_loader(name: str):
    def load(model: nn.Module, path: Path) -> None:
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(efficientnet_lite.convert_state_dict(state, name), strict=True)
    return load


def _torchvision_spec(name: str) -> BackboneSpec:
    require_torch(f"backbone {name!r}")
    import torchvision

    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError as exc:
        raise UnknownBackboneError(f"unknown backbone {name!r}; known: {', '.join(available_names())}") from exc
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise UnknownBackboneError(f"{name!r} is not a torchvision image-classification CNN")
    if name.startswith(_TRANSFORMER_PREFIXES):
        raise UnknownBackboneError(
            f"{name!r} is a vision transformer (token sequences, not feature maps): choose a CNN backbone")
    weights_enum = torchvision.models.get_model_weights(name)
    # The original ImageNet weights (V1) are the ones the PatchCore and PaDiM papers used.
    chosen = getattr(weights_enum, "IMAGENET1K_V1", None) or weights_enum.DEFAULT
    return BackboneSpec(
        name=name,
        build=lambda: builder(weights=None),
        weights_url=chosen.url,
        load_weights=_load_torchvision_state,
        description=f"torchvision {name} ({chosen})",
    )


def _lite_spec(name: str) -> BackboneSpec:
    return BackboneSpec(
        name=name,
        build=lambda: efficientnet_lite.build_architecture(name),
        mean=efficientnet_lite.MEAN,
        std=efficientnet_lite.STD,
        bundled_weights=lambda: efficientnet_lite.weights_path(name),
        load_weights=_lite_loader(name),
        tracer_kwargs=efficientnet_lite.tracer_kwargs,
        description=f"EfficientNet-{name.rsplit('_', 1)[1].capitalize()}, ImageNet weights bundled (works offline); "
                    f"PatchCore at 256 px: {efficientnet_lite.VARIANTS[name].cost}",
    )


_LITE = {name: _lite_spec(name) for name in efficientnet_lite.VARIANTS}
_LITE0 = _LITE[efficientnet_lite.NAME]

#: Backbones offered by default (any other torchvision CNN also works by name).
FEATURED = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "wide_resnet50_2", "resnet18",
            "resnet50")


def available_names() -> list[str]:
    return list(FEATURED)


@cache
def get_spec(name: str) -> BackboneSpec:
    """The registered spec, or one built for a ``torchvision.models`` CNN of that name."""
    if name in _LITE:
        return _LITE[name]
    return _torchvision_spec(name)


# --- weight resolution -------------------------------------------------------------------------


def imported_weights_dir() -> Path:
    return user_data_dir() / "weights"


def torchvision_cache_dir() -> Path:
    """torch's hub cache (``torch.hub.get_dir()`` rules, without importing torch)."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "torch" / "hub" / "checkpoints"


@dataclass(frozen=True)
class WeightsStatus:
    state: str  # bundled / imported / cached / missing
    path: Path | None

    @property
    def available(self) -> bool:
        return self.path is not None


def weights_status(name: str) -> WeightsStatus:
    """Where the backbone's pretrained weights are on this machine (never touches the network)."""
    featured = featured_info(name)
    if featured.get("weights_url"):  # no torchvision import for the featured backbones (start-up time)
        filename = featured["weights_url"].rsplit("/", 1)[-1]
        return _find_weights(filename)
    spec = get_spec(name)
    if spec.bundled_weights is not None:
        path = spec.bundled_weights()
        if path.is_file():
            return WeightsStatus(BUNDLED, path)
        graph = graphs.bundled_graph(name)  # without the torch add-on: the graph exported from them
        return WeightsStatus(BUNDLED, graph.path) if graph is not None else WeightsStatus(MISSING, None)
    return _find_weights(spec.weights_filename)


def _find_weights(filename: str) -> WeightsStatus:
    for state, folder in ((IMPORTED, imported_weights_dir()), (CACHED, torchvision_cache_dir())):
        candidate = folder / filename
        if candidate.is_file():
            return WeightsStatus(state, candidate)
    return WeightsStatus(MISSING, None)


FEATURED_TABLE = graphs.BUNDLED_DIR / "featured_backbones.json"


@cache
def _featured_table() -> dict:
    try:
        return json.loads(FEATURED_TABLE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def featured_info(name: str) -> dict:
    """What the featured backbones' panels need without importing torch: torchvision's weights URL and
    description, and the FX layer table (written by ``python -m hamacho_core.torch_backend``; a test
    checks it equals torch's)."""
    return _featured_table().get(name, {})


def describe(name: str) -> str:
    """One line about the backbone (no torch import for the featured ones)."""
    return featured_info(name).get("description") or get_spec(name).description or name


def _offline_help(spec: BackboneSpec) -> str:
    return (
        f"Pretrained weights for {spec.name!r} are not on this machine and could not be downloaded. "
        f"On a machine with internet, download {spec.weights_url} and import it here "
        f"(hamacho backbones --import {spec.name} FILE, or the model manager's 'Import weights file'), "
        f"or copy it to {torchvision_cache_dir()}. The bundled 'efficientnet_lite0' needs no download."
    )


def resolve_weights(name: str, *, allow_download: bool = True) -> Path:
    """Path of the pretrained weights, downloading only when allowed (see module docstring)."""
    spec = get_spec(name)
    status = weights_status(name)
    if status.available:
        return status.path
    if spec.weights_url is None:
        raise WeightsUnavailableError(f"bundled weights of {name!r} are missing: reinstall hamacho")
    if not allow_download:
        raise WeightsUnavailableError(_offline_help(spec))
    require_torch("downloading weights")
    import torch

    try:
        torch.hub.load_state_dict_from_url(spec.weights_url, map_location="cpu", check_hash=True,
                                           weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any network/HTTP/hash failure means "not available"
        raise WeightsUnavailableError(f"{_offline_help(spec)} (download failed: {exc})") from exc
    return weights_status(name).path


def import_weights(name: str, source: Path) -> Path:
    """Copy a user-supplied weights file into the user's weights folder after checking it.

    The sha256 must start with torchvision's published prefix where one is known, and the file
    must load (without executing code) into the backbone with no missing or unexpected keys.
    """
    spec = get_spec(name)
    source = Path(source)
    if spec.bundled_weights is not None:
        raise ValueError(f"{name!r} has bundled weights; nothing to import")
    if not source.is_file():
        raise FileNotFoundError(f"weights file not found: {source}")
    expected = spec.expected_hash_prefix
    if expected and not file_sha256(source).startswith(expected):
        raise ValueError(
            f"{source.name} is not the published {name} weights file (sha256 does not start with {expected})"
        )
    try:
        spec.load_weights(spec.build(), source)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{source.name} does not hold {name} weights: {exc}") from exc
    target_dir = imported_weights_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / spec.weights_filename
    fd, tmp = tempfile.mkstemp(dir=target_dir, suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load_backbone(name: str, *, pretrained: bool = True, allow_download: bool = True) -> nn.Module:
    """The backbone in eval mode.  ``pretrained=False`` (random weights) only when asked for."""
    spec = get_spec(name)
    model = spec.build()
    if pretrained:
        spec.load_weights(model, resolve_weights(name, allow_download=allow_download))
    return model.eval()


# --- layers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerInfo:
    name: str
    channels: int
    stride: int


def _candidate_nodes(model: nn.Module, tracer_kwargs: dict, max_depth: int) -> list[str]:
    """Module prefixes (up to ``max_depth`` levels) of the graph's nodes, in execution order."""
    from torchvision.models import feature_extraction

    _, eval_nodes = feature_extraction.get_graph_node_names(model, tracer_kwargs=tracer_kwargs)
    modules = dict(model.named_modules())
    last_seen: dict[str, int] = {}
    for position, node in enumerate(eval_nodes):
        parts = node.split(".")
        for depth in range(1, min(max_depth, len(parts)) + 1):
            prefix = ".".join(parts[:depth])
            if prefix in modules:
                last_seen[prefix] = position
    return sorted(last_seen, key=lambda n: (last_seen[n], -n.count(".")))


@lru_cache(maxsize=32)
def list_layers(name: str, max_depth: int = 2, probe_size: int = 224) -> tuple[LayerInfo, ...]:
    """Selectable feature layers of a backbone with channels and stride: from its FX graph when torch
    is installed (any layer can then be exported), else the layers of its bundled or exported
    runtime graph."""
    if torch_available():
        table = featured_info(name).get("layers") if (max_depth, probe_size) == (2, 224) else None
        if table:  # equal to the FX listing (tested), without importing torch at start-up
            return tuple(LayerInfo(n, c, s) for n, c, s in table)
        return _fx_layers(name, max_depth, probe_size)
    graph = graphs.find_backbone_graph(name, ())
    if graph is None:
        get_spec(name)  # unknown names say so
        require_torch(f"listing the layers of {name!r}")
    return tuple(LayerInfo(n, c, s) for n, c, s in graph.layers)


def _fx_layers(name: str, max_depth: int, probe_size: int) -> tuple[LayerInfo, ...]:
    """Layers from the FX graph.  Shapes are probed with forward hooks, i.e. exactly each module's own
    output, which is what the feature extractor returns when that layer is chosen."""
    import torch

    spec = get_spec(name)
    with torch.device("meta"):  # shapes only: no memory for weights or activations
        model = spec.build().eval()
    nodes = _candidate_nodes(model, spec.tracer_kwargs(), max_depth)
    modules = dict(model.named_modules())
    shapes: dict[str, tuple[int, ...]] = {}

    def recorder(node: str):
        def hook(_module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor):
                shapes.setdefault(node, tuple(output.shape))
        return hook

    hooks = [modules[node].register_forward_hook(recorder(node)) for node in nodes]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, probe_size, probe_size, device="meta"))
    finally:
        for hook in hooks:
            hook.remove()
    layers = []
    for node in nodes:
        shape = shapes.get(node)
        if shape is not None and len(shape) == 4 and shape[-1] > 1:
            stride = 2 ** round(math.log2(probe_size / shape[-1]))
            layers.append(LayerInfo(node, int(shape[1]), stride))
    return tuple(layers)


def _pick_by_stride(layers: tuple[LayerInfo, ...], strides: tuple[int, ...]) -> tuple[str, ...]:
    """For each stride, the shallowest-named, then latest, layer with that stride."""
    chosen = []
    for stride in strides:
        matches = [(i, info) for i, info in enumerate(layers) if info.stride == stride]
        if not matches:
            raise ValueError(f"no layer at stride {stride}: choose layers explicitly")
        min_depth = min(info.name.count(".") for _, info in matches)
        chosen.append([info for _, info in matches if info.name.count(".") == min_depth][-1].name)
    return tuple(chosen)


def layer_infos(name: str, layers) -> list[LayerInfo]:
    """The :class:`LayerInfo` of each of ``layers`` of backbone ``name``, in order (an unknown layer is a
    ``ValueError`` naming it): the one place a layer's channels and stride are looked up."""
    table = {info.name: info for info in list_layers(name)}
    unknown = [layer for layer in layers if layer not in table]
    if unknown:
        raise ValueError(f"{name} has no layer {', '.join(unknown)}; choose from {', '.join(table)}")
    return [table[layer] for layer in layers]


def layers_by_stride(name: str, strides: tuple[int, ...]) -> tuple[str, ...]:
    """One layer of ``name`` per stride (see :func:`_pick_by_stride`)."""
    try:
        return _pick_by_stride(list_layers(name), strides)
    except ValueError as exc:
        raise ValueError(f"backbone {name!r} has no default layers ({exc})") from exc
