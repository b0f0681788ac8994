"""PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022).

Locally aware patch features from mid-level layers, a memory bank subsampled by greedy k-center
coreset selection, and nearest-neighbour distances (faiss) as anomaly scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hamacho_core.coreset import greedy_coreset
from hamacho_core.features import FeatureExtractor
from hamacho_core.models.base import AnomalyModel, ImageLike, ModelConfig
from hamacho_core.nn_index import NearestNeighbors
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report


@dataclass
class PatchCoreConfig(ModelConfig):
    coreset_ratio: float = 0.1
    #: Random-projection dimension used only to select the coreset (the bank keeps full features).
    projection_dim: int = 128
    num_neighbors: int = 9
    #: Concatenated features wider than this are reduced by adaptive average pooling over
    #: channels (the paper's 1024 for wide_resnet50_2); None keeps every channel.
    feature_dim: int | None = 1024


class PatchEmbedder(nn.Module):
    """Pure-torch part: backbone layers -> 3x3-averaged, upsampled, concatenated patch features."""

    def __init__(self, extractor: FeatureExtractor, feature_dim: int | None):
        super().__init__()
        self.extractor = extractor
        self.feature_dim = feature_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> (B, D, h, w) on the first layer's grid."""
        maps = self.extractor(images)
        size = maps[0].shape[-2:]
        parts = []
        for fmap in maps:
            fmap = F.avg_pool2d(fmap, kernel_size=3, stride=1, padding=1)
            if fmap.shape[-2:] != size:
                fmap = F.interpolate(fmap, size=size, mode="bilinear", align_corners=False)
            parts.append(fmap)
        emb = torch.cat(parts, dim=1)
        if self.feature_dim is not None and emb.shape[1] > self.feature_dim:
            b, d, h, w = emb.shape
            flat = emb.permute(0, 2, 3, 1).reshape(-1, 1, d)
            emb = F.adaptive_avg_pool1d(flat, self.feature_dim).reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return emb


class PatchCore(AnomalyModel):
    kind = "patchcore"
    state_attrs = ("index",)
    config: PatchCoreConfig

    def __init__(self, config: PatchCoreConfig | None = None):
        super().__init__(config or PatchCoreConfig())
        extractor = FeatureExtractor(self.config.backbone, self.layers, pretrained=self.config.pretrained,
                                     allow_download=self.config.allow_download)
        self.embedder = PatchEmbedder(extractor, self.config.feature_dim).to(self.device)
        self.index: NearestNeighbors | None = None

    @property
    def is_fitted(self) -> bool:
        return self.index is not None

    @property
    def memory_bank(self) -> np.ndarray:
        return self.index.bank

    def set_memory_bank(self, bank: np.ndarray) -> None:
        self.index = NearestNeighbors(bank, self.device)

    @torch.inference_mode()
    def embed(self, batch: torch.Tensor) -> torch.Tensor:
        return self.embedder(batch)

    def _fit_features(self, images: Sequence[ImageLike], progress: ProgressFn | None,
                      should_stop: StopFn | None) -> dict:
        features: np.ndarray | None = None
        row = 0
        for done, batch in self.iter_batches(images):
            check_stop(should_stop, "fit")
            emb = self.embed(batch)
            flat = emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1]).cpu().numpy()
            if features is None:  # preallocate once: patches per image are fixed by the input size
                features = np.empty((len(images) * (len(flat) // len(batch)), flat.shape[1]), dtype=np.float32)
            features[row:row + len(flat)] = flat
            row += len(flat)
            report(progress, "features", done, len(images))
        n_select = max(1, min(len(features), int(round(self.config.coreset_ratio * len(features)))))
        if n_select < len(features):
            picked = greedy_coreset(features, n_select, projection_dim=self.config.projection_dim,
                                    seed=self.config.seed, progress=progress, should_stop=should_stop)
            bank = features[np.sort(picked)]
        else:
            bank = features
        del features
        self.set_memory_bank(bank)
        return {"patches": row, "memory_bank": len(bank), "feature_dim": bank.shape[1]}

    def _raw_scores(self, batch: torch.Tensor) -> tuple[np.ndarray, torch.Tensor]:
        emb = self.embed(batch)
        b, d, h, w = emb.shape
        queries = emb.permute(0, 2, 3, 1).reshape(-1, d)
        queries_np = queries.cpu().numpy()
        sq_dist, nn_idx = self.index.search(queries_np, 1)
        patch = np.sqrt(sq_dist[:, 0]).reshape(b, h * w)
        nearest = nn_idx[:, 0].reshape(b, h * w)
        worst = patch.argmax(axis=1)
        scores = patch[np.arange(b), worst]
        k = self.config.num_neighbors
        if k > 1 and len(self.index) > 1:
            worst_queries = queries_np.reshape(b, h * w, d)[np.arange(b), worst]
            anchors = self.index.bank[nearest[np.arange(b), worst]]
            _, support = self.index.search(anchors, k)
            dist = np.linalg.norm(worst_queries[:, None, :] - self.index.bank[support], axis=2)
            # Paper's re-weighting: 1 - softmax over the distances to the anchor's neighbourhood.
            dist_t = torch.from_numpy(dist.astype(np.float64))
            weights = 1.0 - torch.softmax(dist_t, dim=1)[:, 0].numpy()
            scores = weights * scores
        maps = torch.from_numpy(patch.reshape(b, h, w))
        return scores.astype(np.float32), maps
