"""The model registry: one :class:`ModelSpec` per model kind, carrying what the CLI, the Train and Models
tabs, the estimates and export need, so no caller knows a model by its name.  A new kind is its folder
(``models/<kind>/``: model, ONNX head, torch head, estimate) plus one entry in :data:`REGISTRY`."""

from __future__ import annotations

from dataclasses import dataclass

from hamacho_core.backbones import layers_by_stride, list_layers
from hamacho_core.models.base import AnomalyModel
from hamacho_core.models.config import ModelConfig
from hamacho_core.models.mhpatchcore import MHPatchCore, MHPatchCoreConfig
from hamacho_core.models.padim import Padim, PadimConfig
from hamacho_core.models.patchcore import PatchCore, PatchCoreConfig


@dataclass(frozen=True)
class ModelSpec:
    kind: str
    name: str  #: display name
    description: str  #: one line for tool tips
    model_cls: type[AnomalyModel]
    config_cls: type[ModelConfig]
    #: ``add_images`` (a false alarm is taught without retraining)
    incremental: bool

    @property
    def default_strides(self) -> tuple[int, ...]:
        """Strides of the layers picked by default (the papers': PatchCore 8+16, PaDiM 4+8+16)."""
        return self.model_cls.default_strides

    def config(self, **fields) -> ModelConfig:
        """A checked config (``ConfigError`` names a bad field)."""
        return self.config_cls(**fields)

    def default_layers(self, backbone: str) -> tuple[str, ...]:
        """The papers' choice generalised: one layer of ``backbone`` per default stride."""
        return layers_by_stride(backbone, self.default_strides)

    def estimate_memory(self, config: ModelConfig, n_images: int, dims: tuple[int, int] | None = None) -> dict:
        """What a fit on ``n_images`` (of typical ``dims``, width x height, when known: the input size
        of geometry ``aspect``/``tiles`` depends on them) will hold (``bank_mb`` the fitted model's main
        array, ``fit_peak_mb``), computed like the fit does."""
        return self.model_cls.estimate_memory(config, n_images, dims)

    def search_ms(self, config: ModelConfig, n_images: int, dims: tuple[int, int] | None = None) -> float:
        """Estimated ms an image of this kind's scoring beyond the backbone pass (PatchCore: the bank search)."""
        return self.model_cls.search_ms(config, n_images, dims)


REGISTRY: dict[str, ModelSpec] = {spec.kind: spec for spec in (
    ModelSpec(PatchCore.kind, "PatchCore", "PatchCore: nearest-neighbour distance to a memory bank of good patch "
              "features (usually the most accurate).", PatchCore, PatchCoreConfig, True),
    ModelSpec(Padim.kind, "PaDiM", "PaDiM: one Gaussian per patch position (fast to run; best for well-aligned "
              "parts).", Padim, PadimConfig, False),
    ModelSpec(MHPatchCore.kind, "PatchCore (whitened)", "Covariance-aware PatchCore (MH-PatchCore): distances in a "
              "PCA-whitened feature space with a small bank (rare variations count more; fast search).",
              MHPatchCore, MHPatchCoreConfig, True),
)}
#: The kind a new model is when nobody says (the CLI's ``--model``, the Train tab, the library's estimates).
DEFAULT_KIND = PatchCore.kind
#: kind -> (model class, config class), for code that only builds models
MODELS: dict[str, tuple[type[AnomalyModel], type[ModelConfig]]] = {
    kind: (spec.model_cls, spec.config_cls) for kind, spec in REGISTRY.items()}


def model_spec(kind: str) -> ModelSpec:
    if kind not in REGISTRY:
        raise ValueError(f"unknown model {kind!r}; choose from {', '.join(REGISTRY)}")
    return REGISTRY[kind]


def spec_of_config(config: ModelConfig) -> ModelSpec:
    """The spec whose config class ``config`` is (the most derived match)."""
    for spec in REGISTRY.values():
        if type(config) is spec.config_cls:
            return spec
    for spec in REGISTRY.values():
        if isinstance(config, spec.config_cls):
            return spec
    raise ValueError(f"{type(config).__name__} is no registered model's config")


def create_model(kind: str, **config) -> AnomalyModel:
    """A new, unfitted model of ``kind`` with config fields given as keyword arguments."""
    spec = model_spec(kind)
    return spec.model_cls(spec.config(**config))


def all_default_layers(backbone: str) -> list[str]:
    """Every kind's default layers of ``backbone``, in the backbone's order (what an exported backbone
    graph holds when no layers are asked for)."""
    wanted = {layer for spec in REGISTRY.values() for layer in spec.default_layers(backbone)}
    return [info.name for info in list_layers(backbone) if info.name in wanted]
