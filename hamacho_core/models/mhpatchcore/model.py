"""Covariance-aware PatchCore: nearest-neighbour distances in a whitened feature space.

Fit: a first pass samples training patch features; PCA keeps the components that explain ``explained_variance``
of their variance; a Ledoit-Wolf shrinkage covariance of the projected features whitens them
(``whiten_matrix`` = PCA basis x shrunk covariance^-1/2).  A second pass runs PatchCore's fit on whitened
features with a bounded bank of ``bank_size`` rows (greedy coreset).  The Euclidean distance there is a
Mahalanobis distance in the PCA subspace: rare directions of variation count more, and the small bank is cheap
to search.  Scoring (search, map, the paper's re-weighting) is PatchCore's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hamacho_core import stats
from hamacho_core.config import setting
from hamacho_core.models.base import ImageLike, NotFittedError
from hamacho_core.models.patchcore.model import PatchCore, PatchCoreConfig
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report

#: Patch features sampled for PCA and the covariance (ample for a few hundred dimensions).
SAMPLE_ROWS = 20_000


@dataclass
class MHPatchCoreConfig(PatchCoreConfig):
    #: The paper keeps 99 % of the variance.
    explained_variance: float = setting(0.99, label="Explained variance", help="share of the patch features' "
                                        "variance the PCA keeps before whitening (whitened PatchCore)",
                                        low=0.5, high=1.0, step=0.01, gui=True)
    #: The paper's bounded memory bank of 1,000 vectors.
    bank_size: int = setting(1000, label="Bank size", help="whitened patch features kept in the memory bank "
                             "(whitened PatchCore)", low=16, high=1_000_000, gui=True)


class MHPatchCore(PatchCore):
    kind = "mhpatchcore"
    state_attrs = ("index", "whiten_mean", "whiten_matrix")
    config: MHPatchCoreConfig

    def __init__(self, config: MHPatchCoreConfig | None = None, graph: bytes | None = None):
        self.whiten_mean: np.ndarray | None = None
        self.whiten_matrix: np.ndarray | None = None
        super().__init__(config or MHPatchCoreConfig(), graph)

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Patch embeddings (B, k, h, w), whitened once the whitening is known (raw (B, D, h, w) before)."""
        emb = super().embed(batch)
        if self.whiten_matrix is None:
            return emb
        b, d, h, w = emb.shape
        rows = emb.transpose(0, 2, 3, 1).reshape(-1, d) - self.whiten_mean
        return np.ascontiguousarray((rows @ self.whiten_matrix).reshape(b, h, w, -1).transpose(0, 3, 1, 2))

    def _bank_rows(self, patches: int) -> int:
        return max(1, min(patches, self.config.bank_size))

    def _fit_features(self, images: Sequence[ImageLike], progress: ProgressFn | None,
                      should_stop: StopFn | None) -> dict:
        self.whiten_mean = self.whiten_matrix = None  # the first pass sees raw features
        sample = self._sample_rows(images, progress, should_stop)
        mean, matrix, kept, shrinkage = whitening(sample, self.config.explained_variance)
        self.whiten_mean, self.whiten_matrix = mean, matrix
        details = super()._fit_features(images, progress, should_stop)
        details.update({"pca_components": kept, "shrinkage": round(shrinkage, 4), "feature_dim": int(kept),
                        "coreset_ratio": details["memory_bank"] / max(details["patches"], 1)})
        return details

    def _sample_rows(self, images: Sequence[ImageLike], progress: ProgressFn | None,
                     should_stop: StopFn | None) -> np.ndarray:
        """Up to :data:`SAMPLE_ROWS` raw patch features, spread evenly over the images (seeded)."""
        rng = np.random.default_rng(self.config.seed)
        per_image = max(1, SAMPLE_ROWS // max(1, len(images)))
        parts = []
        for done, batch in self.iter_batches(images):
            check_stop(should_stop, "fit")
            rows = self._patch_rows(batch)
            take = min(len(rows), per_image * len(batch))
            parts.append(rows[rng.choice(len(rows), take, replace=False)])
            report(progress, "whitening", done, len(images))
        return np.concatenate(parts).astype(np.float64)

    def state_arrays(self) -> dict[str, np.ndarray]:
        if self.whiten_matrix is None:
            raise NotFittedError("the model is not fitted")
        return {**super().state_arrays(), "whiten_mean": self.whiten_mean, "whiten_matrix": self.whiten_matrix}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        mean = np.asarray(arrays["whiten_mean"], dtype=np.float32)
        matrix = np.asarray(arrays["whiten_matrix"], dtype=np.float32)
        raw = PatchCore.embedding_dim(self)
        if mean.shape != (raw,) or matrix.ndim != 2 or matrix.shape[0] != raw or not 1 <= matrix.shape[1] <= raw:
            raise ValueError(f"whitening of shapes {mean.shape} and {matrix.shape} does not fit this model "
                             f"({raw} features)")
        if not (np.isfinite(mean).all() and np.isfinite(matrix).all()):
            raise ValueError("the whitening is not all finite numbers")
        previous = self.whiten_mean, self.whiten_matrix
        self.whiten_mean, self.whiten_matrix = mean, matrix
        try:
            super().load_state_arrays(arrays)
        except ValueError:
            self.whiten_mean, self.whiten_matrix = previous
            raise

    def embedding_dim(self) -> int:
        """Width of a whitened patch feature (the PCA's components) once fitted, else the raw width."""
        return self.whiten_matrix.shape[1] if self.whiten_matrix is not None else super().embedding_dim()

    def export_arrays(self) -> dict[str, np.ndarray]:
        return self.state_arrays()

    def export_scoring(self) -> dict:
        scoring = super().export_scoring()
        scoring["whitening"] = ("before anything else, every patch embedding e (D values) becomes q = (e - "
                                "whiten_mean) @ whiten_matrix (k values); memory_bank rows are whitened already")
        return scoring


def whitening(sample: np.ndarray, explained_variance: float) -> tuple[np.ndarray, np.ndarray, int, float]:
    """(mean, D x k whitening matrix, k, Ledoit-Wolf shrinkage) of sampled patch features: PCA to
    ``explained_variance``, then the inverse square root of the projected features' shrunk covariance."""
    mean = sample.mean(axis=0)
    centred = sample - mean
    values, vectors = np.linalg.eigh(centred.T @ centred / max(1, len(centred) - 1))
    order = np.argsort(values)[::-1]
    values, vectors = np.clip(values[order], 0, None), vectors[:, order]
    share = np.cumsum(values) / max(values.sum(), 1e-12)
    kept = int(min(len(values), np.searchsorted(share, explained_variance) + 1))
    basis = vectors[:, :kept]
    shrunk, shrinkage = stats.ledoit_wolf(centred @ basis, assume_centered=True)
    s_values, s_vectors = np.linalg.eigh(shrunk)
    inv_sqrt = s_vectors @ np.diag(1.0 / np.sqrt(np.maximum(s_values, 1e-12))) @ s_vectors.T
    return mean.astype(np.float32), (basis @ inv_sqrt).astype(np.float32), kept, float(shrinkage)
