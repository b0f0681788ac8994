"""Model registry: one entry per model kind (used by the CLI, the GUI's combo box and the tests)."""

from __future__ import annotations

from hamacho_core.models.base import AnomalyModel, FitReport, ModelConfig, Prediction, ValidationSet
from hamacho_core.models.padim import Padim, PadimConfig
from hamacho_core.models.patchcore import PatchCore, PatchCoreConfig

MODELS: dict[str, tuple[type[AnomalyModel], type[ModelConfig]]] = {
    PatchCore.kind: (PatchCore, PatchCoreConfig),
    Padim.kind: (Padim, PadimConfig),
}


def create_model(kind: str, **config) -> AnomalyModel:
    """A new, unfitted model of ``kind`` with config fields given as keyword arguments."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose from {', '.join(MODELS)}")
    model_cls, config_cls = MODELS[kind]
    return model_cls(config_cls(**config))


__all__ = ["MODELS", "AnomalyModel", "FitReport", "ModelConfig", "Padim", "PadimConfig", "PatchCore",
           "PatchCoreConfig", "Prediction", "ValidationSet", "create_model"]
