"""Anomaly models, one folder per kind (``patchcore/``, ``padim/``), the shared flow (``base``), the shared
settings (``config``), the registry that names the kinds (``registry``) and fit planning (``planning``)."""

from __future__ import annotations

from hamacho_core.judging import Judge, Prediction
from hamacho_core.models.base import AnomalyModel, FitReport, NotFittedError, ValidationSet
from hamacho_core.models.config import ModelConfig
from hamacho_core.models.padim import Padim, PadimConfig
from hamacho_core.models.patchcore import PatchCore, PatchCoreConfig
from hamacho_core.models.registry import (
    DEFAULT_KIND,
    MODELS,
    REGISTRY,
    ModelSpec,
    create_model,
    model_spec,
    spec_of_config,
)

__all__ = ["DEFAULT_KIND", "MODELS", "REGISTRY", "AnomalyModel", "FitReport", "Judge", "ModelConfig", "ModelSpec",
           "NotFittedError", "Padim", "PadimConfig", "PatchCore", "PatchCoreConfig", "Prediction", "ValidationSet",
           "create_model", "model_spec", "spec_of_config"]
