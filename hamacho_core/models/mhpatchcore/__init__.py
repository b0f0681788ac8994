"""Covariance-aware PatchCore (MH-PatchCore, Ferrari et al.): PatchCore's embedding, search and re-weighting on
patch features projected by PCA and whitened with a shrinkage covariance, with a small bounded memory bank."""

from hamacho_core.models.mhpatchcore.model import MHPatchCore, MHPatchCoreConfig

__all__ = ["MHPatchCore", "MHPatchCoreConfig"]
