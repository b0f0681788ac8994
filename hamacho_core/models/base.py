"""What every anomaly model kind shares: the fit -> calibrate -> predict flow, tiles, the embedder and the
judge.  A kind (``models/<kind>/``) implements the head: its features, its scores and its fitted state."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from hamacho_core import graphs, thresholds
from hamacho_core.backbones import layers_by_stride, require_torch
from hamacho_core.dataset import MAX_MASK_COVERAGE
from hamacho_core.geometry import plan_geometry, typical_dims
from hamacho_core.imageio import read_image
from hamacho_core.judging import Judge, Prediction
from hamacho_core.machine import available_memory_mb
from hamacho_core.models.config import ConfigError, ModelConfig
from hamacho_core.preprocess import Preprocess
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report
from hamacho_core.runtime import OrtEmbedder, torch_available
from hamacho_core.thresholds import NG, OK, REVIEW
from hamacho_core.tiling import GRID, MapStitcher, Tiler
from hamacho_core.validation import Validation, validate

ImageLike = np.ndarray | str | Path
#: Tiles per runtime call and search when inspecting a tiled model (bench_tiles, 800x608 in 12 tiles of
#: 256 px: PatchCore 165 ms an image one tile at a time, 148 ms twelve at a time; PaDiM 322 and 280 ms).  A
#: group's embeddings are about 0.6 MB a tile, so a 20 MP image's 300+ tiles never sit in memory at once.
TILE_BATCH = 12

__all__ = ["NG", "OK", "REVIEW", "AnomalyModel", "ConfigError", "FitReport", "ImageLike", "Judge", "ModelConfig",
           "NotFittedError", "Prediction", "ValidationSet", "available_memory_mb", "holdout_indices"]


@dataclass
class ValidationSet:
    """Images for thresholds: labels 0 good / 1 defective; masks optional (HxW, non-zero = defect)."""

    images: Sequence[ImageLike]
    labels: Sequence[int]
    masks: Sequence[np.ndarray | None] | None = None


@dataclass
class FitReport:
    n_train: int
    n_validation: int
    threshold_source: str
    seconds: float
    details: dict = field(default_factory=dict)
    #: how the fitted model judges its own validation images (None when not calibrated)
    validation: Validation | None = None


def image_scores(maps: np.ndarray, top_percent: float = 0.0) -> np.ndarray:
    """Image scores (B,) of final maps (B, H, W): their maximum, or with ``top_percent`` > 0 the mean of that
    share of each map's highest values (at least one value)."""
    flat = maps.reshape(len(maps), -1)
    if top_percent <= 0:
        return flat.max(axis=1)
    n = max(1, int(round(top_percent / 100.0 * flat.shape[1])))
    return np.partition(flat, flat.shape[1] - n, axis=1)[:, flat.shape[1] - n:].mean(axis=1).astype(np.float32)


def image_score_text(top_percent: float) -> str:
    """How :func:`image_scores` turns a map into the image score, for a line application (model.json)."""
    if top_percent <= 0:
        return "maximum of the blurred map"
    return (f"mean of the blurred map's highest n values, n = max(1, round({top_percent:g} / 100 x the map's "
            "number of values))")


class NotFittedError(RuntimeError):
    pass


def holdout_indices(n: int, fraction: float, seed: int) -> list[int]:
    """Sorted indices of the good images held out for thresholds: a seeded ``fraction`` (at least
    one) when there are 5 or more images, none otherwise."""
    if n < 5:
        return []
    n_hold = max(1, int(round(fraction * n)))
    return sorted(np.random.default_rng(seed).permutation(n)[:n_hold].tolist())


class AnomalyModel:
    """Base class: subclasses implement ``_fit_features`` and ``_raw_scores``."""

    kind: ClassVar[str] = ""
    #: True: the image score is the maximum of the final (upsampled, blurred) anomaly map.
    score_is_map_max: ClassVar[bool] = False
    #: Attributes that make up the fitted state (restored if a fit fails or is cancelled).
    state_attrs: ClassVar[tuple[str, ...]] = ()
    #: Good images (training plus good validation images) below which ``fit`` refuses to run.
    min_good_images: ClassVar[int] = 1
    #: Strides of the layers picked by default (the papers': PatchCore 8+16, PaDiM 4+8+16).
    default_strides: ClassVar[tuple[int, ...]] = (8, 16)
    #: What else to change when a fit does not fit in memory (end of the error message).
    memory_advice: ClassVar[str] = "or a smaller model"
    config: ModelConfig

    def __init__(self, config: ModelConfig, graph: bytes | None = None):
        self.config = config
        self.layers = tuple(config.layers or layers_by_stride(config.backbone, self.default_strides))
        self._set_geometry(config.image_size)
        self.runtime = config.resolved_runtime()
        if self.runtime == "onnxruntime" and config.device != "cpu":
            raise ValueError("the onnxruntime runtime runs on the CPU; use runtime 'torch' for CUDA")
        if self.runtime == "onnxruntime" and not config.pretrained:
            raise ValueError("random backbone weights (pretrained=False) run on the torch runtime only")
        self.device = "cpu" if self.runtime == "onnxruntime" else _torch_device(config.device)
        #: Thresholds and normalisation, swapped whole (never edited): a ``predict`` running in another thread
        #: judges with the old judge or the new one.  None until fitted or loaded.
        self.judge: Judge | None = None
        #: The model file's manifest once saved or loaded (see ``hamacho_core.model_io``).
        self.manifest: dict | None = None
        self._setup_head()
        self.embedder = self._make_embedder(graph)

    # --- to implement -------------------------------------------------------------------------
    def _setup_head(self) -> None:
        """Settle head parameters (e.g. PaDiM's channel subset) before the embedder is built."""

    def _compose_graph(self, backbone_graph: graphs.BackboneGraph) -> bytes:
        """This model's embedding graph on top of a backbone graph (plain ONNX)."""
        raise NotImplementedError

    def _torch_embedder(self):
        """The eager torch embedder (``hamacho_core.torch_backend``)."""
        raise NotImplementedError

    def _fit_features(self, images: Sequence[ImageLike], progress: ProgressFn | None,
                      should_stop: StopFn | None) -> dict:
        raise NotImplementedError

    @staticmethod
    def estimate_memory(config: ModelConfig, n_images: int, dims: tuple[int, int] | None = None) -> dict:
        """What a fit on ``n_images`` (of typical ``dims``, width x height, when known) will hold: at least
        ``bank_mb`` (the fitted model's main array), ``fit_peak_mb``, ``patches_per_image``, ``bank_rows``,
        ``feature_dim`` and ``tiles`` (see the kinds' ``estimate.py``)."""
        raise NotImplementedError

    def _raw_scores(self, batch: np.ndarray, tiles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw image scores (B,) and unblurred patch-level maps (B, h, w) for a preprocessed batch; when tiled,
        ``tiles`` (B,) says which tile position each batch item is (their scores are not used)."""
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        raise NotImplementedError

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as plain arrays (what a model file stores besides its manifest)."""
        raise NotImplementedError

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore a fitted state from :meth:`state_arrays` output (shapes are checked)."""
        raise NotImplementedError

    # --- embedding runtime --------------------------------------------------------------------
    def _make_embedder(self, graph: bytes | None):
        if graph is not None and self.runtime == "onnxruntime":
            return OrtEmbedder(graph, self.config.threads, self._unit_hw())
        if self.runtime == "torch":
            require_torch("the torch runtime")
            return self._torch_embedder()
        return OrtEmbedder(self._compose_graph(self._backbone_graph()), self.config.threads, self._unit_hw())

    def _unit_hw(self) -> tuple[int, int]:
        """(height, width) of one backbone input: a tile, or the whole input."""
        if self.tiler is not None:
            return self.config.tile_size, self.config.tile_size
        return self.preprocess.output_shape

    def _backbone_graph(self) -> graphs.BackboneGraph:
        """A bundled or exported backbone graph with this model's layers (exported now, with torch, if
        there is none yet)."""
        cfg = self.config
        found = graphs.find_backbone_graph(cfg.backbone, self.layers)
        if found is not None:
            return found
        if not torch_available():
            raise graphs.GraphUnavailableError(
                f"no runtime graph of {cfg.backbone!r} with layers {', '.join(self.layers)} on this machine, and "
                f"the PyTorch add-on that exports one is not installed: use the bundled efficientnet_lite0 "
                f"(layers blocks.0-blocks.6), or export the backbone once on a PC with torch "
                f"(hamacho backbones --export {cfg.backbone} --layers {','.join(self.layers)}) and copy the model")
        from hamacho_core import torch_backend

        return torch_backend.ensure_backbone_graph(cfg.backbone, self.layers, allow_download=cfg.allow_download)

    def runtime_graph(self) -> bytes:
        """The embedding graph this model runs (exported from torch for the torch runtime)."""
        if isinstance(self.embedder, OrtEmbedder):
            return self.embedder.graph
        return self._compose_graph(self._backbone_graph())

    def embed(self, batch: np.ndarray) -> np.ndarray:
        """Patch embeddings (B, D, h, w) of a preprocessed batch (B, 3, S, S)."""
        return self.embedder(batch)

    # --- input geometry ----------------------------------------------------------------------
    def _set_geometry(self, size: int | tuple[int, int]) -> None:
        cfg = self.config
        cfg.image_size = size
        self.preprocess = Preprocess(size, cfg.center_crop, cfg.roi)
        w, h = self.preprocess.width, self.preprocess.height
        tiled = cfg.geometry == "tiles" and min(w, h) >= cfg.tile_size and not (w % GRID or h % GRID)
        #: Set for geometry ``tiles`` once the canvas is known (fitted or loaded models).
        self.tiler: Tiler | None = Tiler(w, h, cfg.tile_size, cfg.tile_overlap) if tiled else None

    def resolve_geometry(self, images: Sequence[ImageLike]) -> None:
        """Settle the input size from the training images (geometry ``aspect`` or ``tiles``; a no-op
        for ``fixed``): see :func:`plan_geometry`."""
        if self.config.geometry != "fixed":
            self._set_geometry(plan_geometry(self.config, typical_dims(images, self.preprocess)))

    def _check_fit_memory(self, n_images: int) -> None:
        """Refuse, before any work, a fit whose estimated peak does not fit this PC's free memory
        (e.g. PaDiM with hundreds of tile positions): the error says what it needs and what to change."""
        free = available_memory_mb()
        if free is None:
            return
        need = self.estimate_memory(self.config, n_images)["fit_peak_mb"]
        if need > 0.9 * free:
            raise MemoryError(f"this fit needs about {need / 1024:.1f} GB of memory and {free / 1024:.1f} GB are free "
                              f"({self.units} tile(s) of the {self._size_wh()[0]}x{self._size_wh()[1]} input): use a "
                              f"smaller tile scale or image size, larger tiles, fewer images, {self.memory_advice}")

    @property
    def units(self) -> int:
        """Backbone passes per image: its tiles, or 1."""
        return 1 if self.tiler is None else len(self.tiler)

    def _scores(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``_raw_scores`` of a whole batch; tiled, the tiles of all its images go through the runtime and the
        search :data:`TILE_BATCH` at a time (memory stays bounded for a 20 MP image) and their patch maps are
        stitched on the canvas."""
        if self.tiler is None:
            return self._raw_scores(batch)
        stitcher = MapStitcher(self.tiler, len(batch))
        tiles = list(self.tiler.tiles(batch))
        per_group = max(1, TILE_BATCH // len(batch))
        for first in range(0, len(tiles), per_group):
            group = tiles[first:first + per_group]
            units = np.concatenate([tile for *_, tile in group]) if len(group) > 1 else group[0][3]
            numbers = np.repeat(np.array([number for number, *_ in group]), len(batch))
            _, patch_maps = self._raw_scores(np.ascontiguousarray(units), tiles=numbers)
            for j, (_number, x, y, _tile) in enumerate(group):
                stitcher.add(x, y, patch_maps[j * len(batch):(j + 1) * len(batch)])
        maps = stitcher.result()
        return maps.reshape(len(maps), -1).max(axis=1), maps

    def _tile_batches(self, batch: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(tile number, contiguous tile batch) of a preprocessed batch; (0, batch) untiled."""
        if self.tiler is None:
            yield 0, batch
            return
        for number, _x, _y, tile in self.tiler.tiles(batch):
            yield number, np.ascontiguousarray(tile)

    # --- shared flow --------------------------------------------------------------------------
    def iter_batches(self, images: Sequence[ImageLike]) -> Iterator[tuple[int, np.ndarray]]:
        """(number of images so far, preprocessed batch), read lazily."""
        size = max(1, self.config.batch_size)
        for start in range(0, len(images), size):
            chunk = [read_image(img) if isinstance(img, str | Path) else img for img in images[start:start + size]]
            yield start + len(chunk), self.preprocess.batch(chunk)

    def fit(self, images: Sequence[ImageLike], *, validation: ValidationSet | None = None, calibrate: bool = True,
            progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> FitReport:
        """Learn normality from good ``images``, then set thresholds from ``validation``.

        Without a validation set, ``holdout_fraction`` of the good images (at least one, when there
        are 5 or more) is held out for the good-only threshold rule; with fewer than 5 images the
        training images themselves are used, and the report says so.  ``calibrate=False`` learns from
        every image and sets no thresholds (the caller judges and calibrates, e.g. automatic configuration).
        """
        started = time.perf_counter()
        images = list(images)
        if not images:
            raise ValueError("no training images")
        n_good = len(images) + (0 if validation is None else sum(1 for label in validation.labels if not label))
        if n_good < self.min_good_images:
            raise ValueError(f"{type(self).__name__} needs at least {self.min_good_images} good images (got {n_good}): "
                             f"with fewer, none is left to set the threshold on and unseen good parts would be "
                             f"judged NG; add good images")
        holdout_note = ""
        if validation is None and calibrate:
            train, validation, holdout_note = self._holdout(images)
        else:
            train = images
        previous = {name: getattr(self, name) for name in (*self.state_attrs, "judge")}
        previous_size = self.config.image_size
        try:
            self.resolve_geometry(train)
            self._check_fit_memory(len(train))
            details = self._fit_features(train, progress, should_stop)
            notes = (self.calibrate(validation, progress=progress, should_stop=should_stop) if calibrate
                     else {"masks_left_out": 0})
        except BaseException:
            for name, value in previous.items():  # a failed or cancelled fit changes nothing
                setattr(self, name, value)
            self._set_geometry(previous_size)
            raise
        if self.config.geometry != "fixed":
            details["input_size"] = list(self._size_wh())
            details["tiles"] = self.units
        source = (f"image: {self.image_scale.method}; pixel: {self.pixel_scale.method}{holdout_note}" if calibrate
                  else "not calibrated")
        if notes["masks_left_out"]:
            details["masks_left_out"] = notes["masks_left_out"]
            source += (f"; {notes['masks_left_out']} mask(s) covering {MAX_MASK_COVERAGE:.0%} or more of their "
                       f"image left out of pixel calibration")
        n_validation = len(validation.images) if calibrate and validation is not None else 0
        return FitReport(len(train), n_validation, source, time.perf_counter() - started, details,
                         notes.get("validation"))

    def _holdout(self, images: list[ImageLike]) -> tuple[list[ImageLike], ValidationSet, str]:
        held = holdout_indices(len(images), self.config.holdout_fraction, self.config.seed)
        if not held:
            return images, ValidationSet(images, [0] * len(images)), " (calibrated on training images: optimistic)"
        held_set = set(held)
        train = [img for i, img in enumerate(images) if i not in held_set]
        return train, ValidationSet([images[i] for i in held], [0] * len(held)), f" ({len(held)} good images held out)"

    def raw_predict(self, images: Sequence[ImageLike], progress: ProgressFn | None = None,
                    should_stop: StopFn | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw image scores (B,) and blurred anomaly maps (B, S, S) at the model's input size."""
        if not self.is_fitted:
            raise NotFittedError("the model is not fitted")
        scores, maps = [], []
        for done, batch in self.iter_batches(images):
            check_stop(should_stop, "inference")
            batch_scores, patch_maps = self._scores(batch)
            scores.append(batch_scores)
            maps.append(self._finish_maps(patch_maps))
            report(progress, "inspect", done, len(images))
        maps = np.concatenate(maps)
        if self.score_is_map_max or self.tiler is not None:
            return image_scores(maps, getattr(self.config, "score_top_percent", 0.0)), maps
        return np.concatenate(scores).astype(np.float32), maps

    def _finish_maps(self, patch_maps: np.ndarray) -> np.ndarray:
        """Upsample patch maps to input size (bilinear, half-pixel centres) and Gaussian-blur them
        (sigma ``blur_sigma``, kernel 2*round(4 sigma)+1, reflected borders)."""
        height, width = self.preprocess.output_shape
        sigma = self.config.blur_sigma
        kernel = 2 * int(4.0 * sigma + 0.5) + 1
        out = np.empty((len(patch_maps), height, width), np.float32)
        for i, patch_map in enumerate(np.asarray(patch_maps, np.float32)):
            up = cv2.resize(patch_map, (width, height), interpolation=cv2.INTER_LINEAR)
            out[i] = cv2.GaussianBlur(up, (kernel, kernel), sigma, sigma, cv2.BORDER_REFLECT_101) if sigma > 0 else up
        return out

    def calibrate(self, validation: ValidationSet, *, progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None) -> dict:
        """Set image and pixel thresholds (and normalisation) from validation images.

        A mask covering ``MAX_MASK_COVERAGE`` or more of its image (e.g. all 255) marks no defect in
        particular: that image is left out of pixel calibration (it still counts for the image
        threshold).  Returns ``{"masks_left_out": n}``.
        """
        images = list(validation.images)
        labels = np.asarray(validation.labels, dtype=int)
        if len(images) != len(labels) or not images:
            raise ValueError("validation needs one label per image and at least one image")
        scores, maps = self.raw_predict(images, progress=_stage(progress, "thresholds"), should_stop=should_stop)
        masks, keep = None, np.ones(len(images), bool)
        if validation.masks is not None:
            shape = self.preprocess.output_shape
            masks = np.stack([self.preprocess.mask(m) if m is not None else np.zeros(shape, bool)
                              for m in validation.masks])
            keep = masks.reshape(len(masks), -1).mean(axis=1) < MAX_MASK_COVERAGE
            if not keep.any():
                masks, keep = None, np.ones(len(images), bool)
        review = None if self.judge is None else self.judge.review
        self.judge = Judge(thresholds.image_scale(scores, labels),
                           thresholds.pixel_scale(maps[keep], labels[keep], None if masks is None else masks[keep]),
                           review)
        names = [f"{Path(image).parent.name}/{Path(image).name}" if isinstance(image, str | Path)
                 else f"validation image {i + 1}"
                 for i, image in enumerate(images)]
        return {"masks_left_out": int((~keep).sum()),
                "validation": validate(scores, labels, self.judge, names=names)}

    def set_thresholds(self, image: float | None = None, pixel: float | None = None,
                       review: float | None = None, clear_review: bool = False) -> None:
        """Replace thresholds by user-chosen raw values (normalisation follows them), all in one step."""
        if self.judge is None:
            raise NotFittedError("the model has no thresholds: fit or calibrate it first")
        self.judge = self.judge.with_thresholds(image, pixel, review, clear_review)

    def set_scales(self, image_scale: thresholds.ScoreScale, pixel_scale: thresholds.ScoreScale,
                   review: float | None = None) -> None:
        """Replace both scales and the review threshold in one step (e.g. the calibrated scales at a
        user's thresholds, so normalisation never drifts with the history of slider moves)."""
        self.judge = Judge(image_scale, pixel_scale, review)

    # Read-only views of the judge (what the model file, the CLI and the panels show).
    @property
    def image_scale(self) -> thresholds.ScoreScale | None:
        return None if self.judge is None else self.judge.image_scale

    @property
    def pixel_scale(self) -> thresholds.ScoreScale | None:
        return None if self.judge is None else self.judge.pixel_scale

    @property
    def review_threshold(self) -> float | None:
        return None if self.judge is None else self.judge.review

    def predict(self, image_or_batch: ImageLike | Sequence[ImageLike], *, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None, judge: Judge | None = None) -> Prediction:
        """Scores, maps, masks and verdicts for one image (an HxW[xC] array or a path), or for a
        batch (a sequence of those, a BxHxWxC array, or a BxHxW grey stack whose last axis is not
        1, 3 or 4 -- an HxWx3 array is always one colour image).  ``judge``: the thresholds to judge with
        (default: the model's, read once, so the whole batch is judged with one set)."""
        single = isinstance(image_or_batch, str | Path) or (
            isinstance(image_or_batch, np.ndarray) and (image_or_batch.ndim == 2 or (
                image_or_batch.ndim == 3 and image_or_batch.shape[-1] in (1, 3, 4))))
        images = [image_or_batch] if single else list(image_or_batch)
        judge = judge or self.judge  # read once: one set of thresholds for all of this prediction
        if judge is None:
            raise NotFittedError("the model has no thresholds: fit or calibrate it first")
        scores, maps = self.raw_predict(images, progress=progress, should_stop=should_stop)
        return judge.judge(scores, maps)

    def _size_wh(self) -> tuple[int, int]:
        return self.preprocess.width, self.preprocess.height


def _torch_device(device: str) -> str:
    from hamacho_core.features import resolve_device

    return str(resolve_device(device))


def _stage(progress: ProgressFn | None, stage: str) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda _stage_name, done, total: progress(stage, done, total)
