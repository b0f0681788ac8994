"""PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022).

Locally aware patch features from mid-level layers, a memory bank subsampled by greedy k-center
coreset selection, and nearest-neighbour distances (faiss) as anomaly scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hamacho_core import graphs
from hamacho_core.backbones import layer_infos
from hamacho_core.config import setting
from hamacho_core.coreset import greedy_coreset, projection_matrix
from hamacho_core.models.base import AnomalyModel, ImageLike, NotFittedError
from hamacho_core.models.config import ModelConfig
from hamacho_core.models.patchcore import estimate, onnx_head
from hamacho_core.nn_index import NearestNeighbors, ivf_centroids
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report

#: Allowed memory-bank ratios: below 0.001 the bank is a handful of patches and the scores meaningless.
CORESET_RATIO_RANGE = (0.001, 1.0)
#: The paper's ratio for one image pass.  Tiled models divide it by tiles ** AUTO_CORESET_EXPONENT
#: (bench_resolution, high-resolution synthetic category: 25 tiles at 0.01 and 81 at 0.005 gave the
#: image and pixel AUROC of 0.1, 2.7-4.3x faster: inspecting a tiled model is mostly the bank search).
AUTO_CORESET_RATIO = 0.1
AUTO_CORESET_EXPONENT = 0.7
SEARCHES = ("auto", "exact", "ivf")
#: Banks smaller than IVF_MIN_ROWS are searched exactly with ``search="auto"``; an IVF search looks into
#: IVF_PROBES cells (nn_index: recall@1 0.9999 at 8 of 256 cells).
IVF_MIN_ROWS, IVF_PROBES = estimate.IVF_MIN_ROWS, estimate.IVF_PROBES


@dataclass
class PatchCoreConfig(ModelConfig):
    coreset_ratio: float | None = setting(None, label="Coreset ratio", help="share of the training patch features kept "
                                          "in the memory bank (smaller: faster inspection, slightly less accurate; "
                                          f"auto: {AUTO_CORESET_RATIO:g}, with tiles {AUTO_CORESET_RATIO:g} / tiles^"
                                          f"{AUTO_CORESET_EXPONENT:g}: 0.0046 for 81 tiles)",
                                          low=CORESET_RATIO_RANGE[0], high=CORESET_RATIO_RANGE[1], step=0.01,
                                          special="auto", gui=True)
    #: Used only to select the coreset (the bank keeps full features).
    projection_dim: int = setting(estimate.DEFAULT_PROJECTION_DIM, label="Projection size",
                                  help="random-projection size for the coreset selection", low=8, high=4096)
    num_neighbors: int = setting(9, label="Neighbours", help="bank neighbours that re-weight an image's score",
                                 low=1, high=100)
    #: The paper's 1024 for wide_resnet50_2.
    feature_dim: int | None = setting(1024, label="Feature size", help="wider concatenated features are reduced by "
                                      "average pooling over channels", low=16, high=8192, special="all channels")
    #: Above this, patch features are not all kept in memory: see ``PatchCore._fit_features`` (0: never).
    max_feature_memory_mb: int = setting(estimate.DEFAULT_MAX_FEATURE_MEMORY_MB, label="Feature memory (MiB)",
                                         help="feature memory above which the fit keeps only projections in memory",
                                         low=0, high=1 << 20)
    #: bench_accuracy / nn_index: the inverted file is 3-4x faster than the exact search on a bank of 16k rows
    #: with the same image scores; below IVF_MIN_ROWS the exact search takes a few ms anyway.
    search: str = setting("auto", label="Bank search", help="exact: compare every patch with the whole memory "
                          "bank; ivf: only with the bank rows of its nearest cells (an inverted file, several "
                          f"times faster on large banks); auto: ivf from {IVF_MIN_ROWS:,} bank rows on",
                          choices=SEARCHES, gui=True)

    def coreset_for(self, tiles: int = 1) -> float:
        """The ratio used for a model of ``tiles`` tiles per image (``coreset_ratio``, or auto)."""
        if self.coreset_ratio is not None:
            return self.coreset_ratio
        return max(CORESET_RATIO_RANGE[0], AUTO_CORESET_RATIO / max(1, tiles) ** AUTO_CORESET_EXPONENT)


class PatchCore(AnomalyModel):
    kind = "patchcore"
    state_attrs = ("index",)
    #: With fewer, no good image is held out and the threshold is set on the training images themselves:
    #: every unseen good part scored above it (issue 26: 6 of 6 NG from 1-4 images, 0 of 6 from 5).
    min_good_images = 5
    default_strides = estimate.DEFAULT_STRIDES
    memory_advice = "or a smaller coreset ratio"
    estimate_memory = staticmethod(estimate.estimate_memory)
    search_ms = staticmethod(estimate.search_ms)
    config: PatchCoreConfig

    def __init__(self, config: PatchCoreConfig | None = None, graph: bytes | None = None):
        self.index: NearestNeighbors | None = None
        super().__init__(config or PatchCoreConfig(), graph)

    def _compose_graph(self, backbone_graph: graphs.BackboneGraph) -> bytes:
        channels = dict((name, c) for name, c, _ in backbone_graph.layers)
        return onnx_head.embedding_graph(backbone_graph.read(), self.layers,
                                         [channels[layer] for layer in self.layers], self.config.feature_dim)

    def _torch_embedder(self):
        from hamacho_core.models.patchcore import torch_head

        cfg = self.config
        return torch_head.embedder(cfg.backbone, self.layers, cfg.feature_dim, device=cfg.device,
                                   pretrained=cfg.pretrained, allow_download=cfg.allow_download)

    @property
    def is_fitted(self) -> bool:
        return self.index is not None

    @property
    def memory_bank(self) -> np.ndarray:
        return self.index.bank

    def set_memory_bank(self, bank: np.ndarray, centroids: np.ndarray | None = None) -> None:
        """Use ``bank``; ``centroids`` (an inverted file's cells) make the search an IVF search."""
        self.index = NearestNeighbors(bank, self.device, threads=self.config.threads, centroids=centroids,
                                      nprobe=IVF_PROBES)

    def _search_centroids(self, bank: np.ndarray) -> np.ndarray | None:
        """IVF centroids for ``bank`` when the config asks for an IVF search (``auto``: large banks), else None."""
        search = self.config.search
        if search == "exact" or (search == "auto" and len(bank) < IVF_MIN_ROWS) or len(bank) < 2 * 39:
            return None
        return ivf_centroids(bank, IVF_PROBES, self.config.seed)

    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"memory_bank": self.memory_bank}
        if self.index.centroids is not None:
            arrays["ivf_centroids"] = self.index.centroids
        return arrays

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        bank = np.asarray(arrays["memory_bank"], dtype=np.float32)
        expected = self.embedding_dim()
        if bank.ndim != 2 or bank.shape[1] != expected:
            raise ValueError(f"memory bank of shape {bank.shape} does not fit this model ({expected} features)")
        centroids = arrays.get("ivf_centroids")  # absent in files saved before the inverted file: exact
        if centroids is not None:
            centroids = np.asarray(centroids, dtype=np.float32)
            if centroids.ndim != 2 or centroids.shape[1] != expected or not 1 <= len(centroids) <= len(bank):
                raise ValueError(f"IVF centroids of shape {centroids.shape} do not fit the memory bank {bank.shape}")
            if not np.isfinite(centroids).all():
                raise ValueError("IVF centroids are not all finite numbers")
        self.set_memory_bank(bank, centroids)

    def embedding_dim(self) -> int:
        """Width of a patch feature for this backbone, these layers and ``feature_dim``."""
        if getattr(self.embedder, "dim", None):
            return self.embedder.dim
        total = sum(info.channels for info in layer_infos(self.config.backbone, self.layers))
        cap = self.config.feature_dim
        return total if cap is None else min(total, cap)

    def _fit_features(self, images: Sequence[ImageLike], progress: ProgressFn | None,
                      should_stop: StopFn | None) -> dict:
        """Patch features -> coreset -> memory bank, in bounded memory.

        When all patch features would exceed ``max_feature_memory_mb``, only their random
        projections are kept in a first pass, and the chosen patches' full features are gathered
        in a second pass (the backbone runs twice; the selection is the same).
        """
        cfg = self.config
        store: np.ndarray | None = None
        matrix: np.ndarray | None = None
        row = 0
        for done, batch in self.iter_batches(images):
            check_stop(should_stop, "fit")
            flat = self._patch_rows(batch)
            if store is None:  # preallocate once: patches per image are fixed by the input size
                total_rows = len(images) * (len(flat) // len(batch))
                width = flat.shape[1]
                if total_rows * width * 4 > cfg.max_feature_memory_mb * 2**20 and cfg.projection_dim < width:
                    matrix = projection_matrix(width, cfg.projection_dim, cfg.seed)
                store = np.empty((total_rows, width if matrix is None else cfg.projection_dim), dtype=np.float32)
            store[row:row + len(flat)] = flat if matrix is None else flat @ matrix
            row += len(flat)
            report(progress, "features", done, len(images))
        ratio = cfg.coreset_for(self.units)
        n_select = self._bank_rows(row)
        if n_select == row:
            picked = np.arange(row)
        else:
            picked = np.sort(greedy_coreset(store, n_select, projection_dim=None if matrix is not None
                                            else cfg.projection_dim, seed=cfg.seed,
                                            progress=progress, should_stop=should_stop))
        if matrix is None:
            bank = store[picked]
        else:
            del store
            bank = self._gather_rows(images, picked, progress, should_stop)
        self.set_memory_bank(bank, self._search_centroids(bank))
        return {"patches": row, "memory_bank": len(bank), "feature_dim": bank.shape[1], "coreset_ratio": ratio,
                "two_pass": matrix is not None, "search": "exact" if self.index.exact else
                f"ivf {len(self.index.centroids)} cells, {IVF_PROBES} probes"}

    def _bank_rows(self, patches: int) -> int:
        """How many of ``patches`` training patch features the memory bank keeps (the coreset's size)."""
        return max(1, min(patches, int(round(self.config.coreset_for(self.units) * patches))))

    def add_images(self, images: Sequence[ImageLike], *, progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> dict:
        """Incremental fit: learn a few more good ``images`` (e.g. false alarms) without refitting.

        Their patch features join the current memory bank and the union is re-subsampled with the
        same greedy coreset, so previously kept patches compete with the new ones; the bank grows
        to ``len(old bank) + round(coreset_ratio * new patches)``.  Thresholds are unchanged (the
        caller may re-calibrate).  Meant for a handful of images: their features are held in memory.
        A cancelled or failed call leaves the model unchanged (the new bank is swapped in at the end).
        """
        if not self.is_fitted:
            raise NotFittedError("add_images needs a fitted model: fit it first")
        images = list(images)
        if not images:
            raise ValueError("no images to add")
        cfg = self.config
        old = self.memory_bank
        parts = []
        for done, batch in self.iter_batches(images):
            check_stop(should_stop, "add images")
            parts.append(self._patch_rows(batch))
            report(progress, "features", done, len(images))
        new = np.concatenate(parts)
        if new.shape[1] != old.shape[1]:
            raise ValueError(f"feature width {new.shape[1]} does not match the memory bank's {old.shape[1]}")
        combined = np.concatenate([old, new])
        n_select = min(len(combined), len(old) + int(round(cfg.coreset_for(self.units) * len(new))))
        if n_select == len(combined):
            picked = np.arange(n_select)
        else:
            picked = np.sort(greedy_coreset(combined, n_select, projection_dim=cfg.projection_dim, seed=cfg.seed,
                                            progress=progress, should_stop=should_stop))
        check_stop(should_stop, "add images")
        # Built before the swap: a failure changes nothing.
        bank = combined[picked]
        index = NearestNeighbors(bank, self.device, threads=self.config.threads, nprobe=IVF_PROBES,
                                 centroids=self.index.centroids if self.index.centroids is not None
                                 else self._search_centroids(bank))
        self.index = index
        return {"images": len(images), "patches": len(new), "previous_memory_bank": len(old),
                "memory_bank": len(picked), "added": len(picked) - len(old),
                "kept_old": int(np.count_nonzero(picked < len(old)))}

    def _patch_rows(self, batch: np.ndarray) -> np.ndarray:
        """Patch features (rows) of a batch: of every tile, in tile order, when tiled."""
        parts = []
        for _number, units in self._tile_batches(batch):
            emb = self.embed(units)
            parts.append(emb.transpose(0, 2, 3, 1).reshape(-1, emb.shape[1]))
        return np.ascontiguousarray(parts[0] if len(parts) == 1 else np.concatenate(parts))

    def _gather_rows(self, images: Sequence[ImageLike], picked: np.ndarray, progress: ProgressFn | None,
                     should_stop: StopFn | None) -> np.ndarray:
        """Second pass: full features of the rows in ``picked`` (sorted global row numbers)."""
        bank: np.ndarray | None = None
        row = 0
        for done, batch in self.iter_batches(images):
            check_stop(should_stop, "fit")
            flat = self._patch_rows(batch)
            if bank is None:
                bank = np.empty((len(picked), flat.shape[1]), dtype=np.float32)
            lo, hi = np.searchsorted(picked, [row, row + len(flat)])
            bank[lo:hi] = flat[picked[lo:hi] - row]
            row += len(flat)
            report(progress, "memory bank", done, len(images))
        return bank

    def _raw_scores(self, batch: np.ndarray, tiles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        emb = self.embed(batch)  # one memory bank for every tile: the tile number does not matter
        b, d, h, w = emb.shape
        queries_np = np.ascontiguousarray(emb.transpose(0, 2, 3, 1).reshape(-1, d))
        sq_dist, nn_idx = self.index.search(queries_np, 1)
        patch = np.sqrt(sq_dist[:, 0]).reshape(b, h * w)
        nearest = nn_idx[:, 0].reshape(b, h * w)
        worst = patch.argmax(axis=1)
        scores = patch[np.arange(b), worst]
        k = self.config.num_neighbors
        if k > 1 and len(self.index) > 1 and tiles is None:  # tiled: the score is the stitched map's max
            worst_queries = queries_np.reshape(b, h * w, d)[np.arange(b), worst]
            anchors = self.index.bank[nearest[np.arange(b), worst]]
            _, support = self.index.search(anchors, k)
            dist = np.linalg.norm(worst_queries[:, None, :] - self.index.bank[support], axis=2)
            # Paper's re-weighting: 1 - softmax over the distances to the anchor's neighbourhood.
            dist = dist.astype(np.float64)
            shifted = np.exp(dist - dist.max(axis=1, keepdims=True))
            weights = 1.0 - shifted[:, 0] / shifted.sum(axis=1)
            scores = weights * scores
        return scores.astype(np.float32), patch.reshape(b, h, w).astype(np.float32)

    # --- export (``hamacho export``) ------------------------------------------------------------
    def export_arrays(self) -> dict[str, np.ndarray]:
        return self.state_arrays()

    def export_scoring(self) -> dict:
        """How the exported arrays turn patch embeddings into a map and an image score (model.json)."""
        k = self.config.num_neighbors
        reweighted = k > 1 and len(self.memory_bank) > 1
        nearest = "its nearest row of memory_bank"
        if not self.index.exact:
            nearest = (f"its nearest row of memory_bank among the rows whose nearest ivf_centroids row is one of the "
                       f"{self.index.nprobe} ivf_centroids rows nearest to q (an inverted file: the whole bank "
                       f"gives the same row for all but about 0.01 % of patches)")
        return {
            "patch_distance": "for every patch embedding q (D values at a grid position): d(q) = Euclidean "
                              f"distance to {nearest}",
            "map": "the h x w grid of d(q), upsampled and blurred as in postprocessing",
            "image_score": f"q* = the patch with the largest d, m = its nearest bank row, N = the "
                           f"{min(k, len(self.memory_bank))} nearest bank rows of m (m first); "
                           f"s = ||q* - N_i|| for each; score = d(q*) * (1 - exp(s_0) / sum_i exp(s_i))"
                           + ("" if reweighted else " (here: d(q*))"),
            "num_neighbors": int(k),
        }
