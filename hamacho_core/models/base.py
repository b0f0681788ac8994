"""What every anomaly model shares: config, the one result type, fitting and calibration flow."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from hamacho_core import backbones, graphs, thresholds
from hamacho_core.config import ConfigError, check_settings, setting
from hamacho_core.dataset import MAX_MASK_COVERAGE
from hamacho_core.geometry import MAX_CANVAS, plan_geometry, typical_dims
from hamacho_core.imageio import read_image
from hamacho_core.preprocess import Preprocess
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report
from hamacho_core.runtime import RUNTIMES, OrtEmbedder, torch_available
from hamacho_core.thresholds import NG, OK, REVIEW
from hamacho_core.tiling import GRID, MapStitcher, Tiler

ImageLike = np.ndarray | str | Path
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 2048
#: How an image becomes the backbone's input (see ``ModelConfig.geometry``).
GEOMETRIES = ("fixed", "aspect", "tiles")


def check_layers(layers) -> tuple[str, ...] | None:
    """None (the backbone's default) or a non-empty sequence of distinct layer names."""
    if layers is None:
        return None
    if isinstance(layers, str):
        raise ConfigError(f"layers must be a list of layer names such as ('blocks.2', 'blocks.4'), "
                          f"got the text {layers!r}")
    try:
        layers = tuple(layers)
    except TypeError:
        raise ConfigError(f"layers must be a list of layer names, or None, got {layers!r}") from None
    if not layers or not all(isinstance(x, str) and x for x in layers) or len(set(layers)) != len(layers):
        raise ConfigError(f"layers must be one or more distinct layer names, got {layers!r}")
    return layers


@dataclass
class ModelConfig:
    """Settings shared by all models: each field's label, range, help and default are declared here
    once (:func:`hamacho_core.config.setting`); the CLI and the GUI's forms are built from them."""

    backbone: str = setting("efficientnet_lite0", label="Backbone", help="feature extractor: efficientnet_lite0 is "
                            "bundled (works offline); others need their weights file (see 'hamacho backbones')")
    layers: tuple[str, ...] | None = setting(None, label="Layers", help="comma-separated feature layers",
                                             special="the backbone's default for the model")
    image_size: int | tuple[int, int] = setting(
        256, label="Image size", help="input size in pixels: a square side or WxH such as 256x640 (geometry "
        "fixed, at most 2048); the short side (geometry aspect); set from the images with tiles", low=MIN_IMAGE_SIZE,
        high=MAX_CANVAS, step=32, gui=True)
    geometry: str = setting("fixed", label="Geometry", help="fixed: resize every image to image_size (aspect not "
                            "kept, no letterbox); aspect: keep the training images' aspect ratio, image_size as the "
                            "short side; tiles: scale images by tile_scale and inspect overlapping tiles "
                            "(small defects on large images)", choices=GEOMETRIES, gui=True)
    tile_size: int = setting(256, label="Tile size", help="side of one tile in pixels (geometry tiles)",
                             low=64, high=1024, step=32, gui=True)
    #: bench_resolution: 1/4 (121 tiles on 2048x2048, against 81 at 1/8 and 64 at 0) cost 2.9x the time of
    #: 1/8 for no gain; 1/8 keeps a 32 px blend between tiles.
    tile_overlap: float = setting(0.125, label="Tile overlap", help="share of a tile shared with its neighbour "
                                  "(geometry tiles)", low=0.0, high=0.75, step=0.025, gui=True)
    #: bench_resolution: at 1 (full resolution) image AUROC 1.000 on both high-resolution categories; at
    #: 0.5, 0.993 (plate) and 0.92 (strip).
    tile_scale: float = setting(1.0, label="Tile scale", help="tile pixels per image pixel: 1 inspects at full "
                                "resolution, 0.5 at half (geometry tiles)", low=0.05, high=4.0, step=0.05, gui=True)
    center_crop: int | None = setting(None, label="Centre crop", help="crop the resized image to this square size",
                                      special="no crop", low=MIN_IMAGE_SIZE, high=MAX_IMAGE_SIZE)
    blur_sigma: float = setting(4.0, label="Map smoothing", help="Gaussian sigma of the anomaly map (input pixels)",
                                low=0.0, high=64.0)
    device: str = setting("cpu", label="Device", help="cpu, cuda or auto")
    #: ``auto``: torch for CUDA or random weights, else onnxruntime.
    runtime: str = setting("auto", label="Runtime", help="onnxruntime (CPU, no torch needed), torch (CUDA; needs the "
                           "torch add-on) or auto", choices=RUNTIMES)
    threads: int | None = setting(None, label="Threads", help="runtime threads", low=1, high=256,
                                  special="HAMACHO_THREADS or the CPU count, at most 4")
    #: On CPU, 1 is fastest (measured: larger batches fall out of cache).
    batch_size: int = setting(1, label="Batch size", help="images per forward pass", low=1, high=256, cli=False)
    seed: int = setting(0, label="Seed", help="random seed (held-out images, coreset start, PaDiM channels)",
                        low=0, high=2**32 - 1)
    #: False builds the backbone with random weights: only for shape and speed tests, never a fallback.
    pretrained: bool = True
    allow_download: bool = True
    holdout_fraction: float = setting(0.2, label="Held-out good images", help="share of the good images kept out of "
                                      "training to set the thresholds", low=0.01, high=0.5, step=0.05, gui=True)
    #: Region of interest, normalised (x, y) points: 2 = rectangle, 3+ = polygon.  Only this region is
    #: learned and judged; it is stored with the model.
    roi: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        from hamacho_core.preprocess import normalize_roi

        check_settings(self)
        self.layers = check_layers(self.layers)
        sides = (self.image_size,) if isinstance(self.image_size, int) else self.image_size
        if self.geometry == "fixed" and max(sides) > MAX_IMAGE_SIZE:
            raise ConfigError(f"image_size must be at most {MAX_IMAGE_SIZE} px a side with geometry 'fixed' "
                              f"(use geometry 'tiles' for larger images), got {self.image_size}")
        if self.tile_size % GRID:
            raise ConfigError(f"tile_size must be a multiple of {GRID} pixels, got {self.tile_size}")
        if self.center_crop is not None:
            if self.geometry != "fixed" or not isinstance(self.image_size, int):
                raise ConfigError("center_crop needs geometry 'fixed' and a square image_size")
            if self.center_crop > self.image_size:
                raise ConfigError(f"center_crop must be {MIN_IMAGE_SIZE} to image_size ({self.image_size}), or "
                                  f"None, got {self.center_crop}")
        for name in ("pretrained", "allow_download"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        try:
            self.roi = normalize_roi(self.roi)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"roi must be None or 2+ (x, y) points inside 0..1, got {self.roi!r} ({exc})") from None

    def resolved_runtime(self) -> str:
        """The runtime ``auto`` stands for with these settings."""
        if self.runtime != "auto":
            return self.runtime
        return "torch" if (self.device != "cpu" or not self.pretrained) else "onnxruntime"


@dataclass
class Prediction:
    """Results for a batch of B images (a single image gives B = 1); maps are at input size."""

    image_scores: np.ndarray  # (B,) raw
    norm_image_scores: np.ndarray  # (B,) 0.5 = threshold
    anomaly_maps: np.ndarray  # (B, H, W) raw, float32
    masks: np.ndarray  # (B, H, W) bool, raw map >= pixel threshold
    is_anomalous: np.ndarray  # (B,) bool
    #: (B,) bool: below the NG threshold but at or above the optional review threshold.
    needs_review: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image_scores)

    def __getitem__(self, i: int) -> Prediction:
        s = slice(i, i + 1) if i >= 0 else slice(len(self) + i, len(self) + i + 1)
        review = None if self.needs_review is None else self.needs_review[s]
        return Prediction(self.image_scores[s], self.norm_image_scores[s], self.anomaly_maps[s],
                          self.masks[s], self.is_anomalous[s], review)

    @property
    def verdicts(self) -> list[str]:
        review = self.needs_review if self.needs_review is not None else np.zeros(len(self), bool)
        return [NG if flag else (REVIEW if rev else OK) for flag, rev in zip(self.is_anomalous, review, strict=True)]


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
    config: ModelConfig

    def __init__(self, config: ModelConfig, graph: bytes | None = None):
        self.config = config
        self.layers = tuple(config.layers or backbones.default_layers(config.backbone, self.kind))
        self._set_geometry(config.image_size)
        self.runtime = config.resolved_runtime()
        if self.runtime == "onnxruntime" and config.device != "cpu":
            raise ValueError("the onnxruntime runtime runs on the CPU; use runtime 'torch' for CUDA")
        if self.runtime == "onnxruntime" and not config.pretrained:
            raise ValueError("random backbone weights (pretrained=False) run on the torch runtime only")
        self.device = "cpu" if self.runtime == "onnxruntime" else _torch_device(config.device)
        self.image_scale: thresholds.ScoreScale | None = None
        self.pixel_scale: thresholds.ScoreScale | None = None
        #: Optional lower image threshold: scores in [review, image threshold) are sent to human review.
        self.review_threshold: float | None = None
        #: The model file's manifest once saved or loaded (see ``hamacho_core.model_io``).
        self.manifest: dict | None = None
        #: ``set_thresholds`` (the GUI thread) and ``predict`` (a live worker) see all thresholds change at once.
        self._thresholds_lock = threading.Lock()
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

    def _raw_scores(self, batch: np.ndarray, tile: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Raw image scores (B,) and unblurred patch-level maps (B, h, w) for a preprocessed batch
        (or, when tiled, for tile number ``tile`` of each image)."""
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
            return OrtEmbedder(graph, self.config.threads)
        if self.runtime == "torch":
            backbones.require_torch("the torch runtime")
            return self._torch_embedder()
        return OrtEmbedder(self._compose_graph(self._backbone_graph()), self.config.threads)

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
        from hamacho_core.models import REGISTRY

        spec = REGISTRY.get(self.kind)
        free = available_memory_mb()
        if spec is None or free is None:
            return
        need = spec.estimate_memory(self.config, n_images)["fit_peak_mb"]
        if need > 0.9 * free:
            raise MemoryError(f"this fit needs about {need / 1024:.1f} GB of memory and {free / 1024:.1f} GB are free "
                              f"({self.units} tile(s) of the {self._size_wh()[0]}x{self._size_wh()[1]} input): use a "
                              f"smaller tile scale or image size, larger tiles, fewer images"
                              + (", fewer kept channels or PatchCore" if self.kind == "padim" else
                                 " or a smaller coreset ratio"))

    @property
    def units(self) -> int:
        """Backbone passes per image: its tiles, or 1."""
        return 1 if self.tiler is None else len(self.tiler)

    def _scores(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``_raw_scores`` of a whole batch, tile by tile when tiled (patch maps stitched on the canvas)."""
        if self.tiler is None:
            return self._raw_scores(batch)
        stitcher = MapStitcher(self.tiler, len(batch))
        for number, x, y, tile in self.tiler.tiles(batch):
            _, patch_maps = self._raw_scores(np.ascontiguousarray(tile), tile=number)
            stitcher.add(x, y, patch_maps)
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

    def fit(self, images: Sequence[ImageLike], *, validation: ValidationSet | None = None,
            progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> FitReport:
        """Learn normality from good ``images``, then set thresholds from ``validation``.

        Without a validation set, ``holdout_fraction`` of the good images (at least one, when there
        are 5 or more) is held out for the good-only threshold rule; with fewer than 5 images the
        training images themselves are used, and the report says so.
        """
        started = time.perf_counter()
        images = list(images)
        if not images:
            raise ValueError("no training images")
        n_good = len(images) + (0 if validation is None else sum(1 for label in validation.labels if not label))
        if n_good < self.min_good_images:
            raise ValueError(f"{type(self).__name__} needs at least {self.min_good_images} good images (got {n_good}): "
                             f"with fewer, none is left to set the threshold on and every part would be NG; "
                             f"add good images or use PatchCore")
        holdout_note = ""
        if validation is None:
            train, validation, holdout_note = self._holdout(images)
        else:
            train = images
        previous = {name: getattr(self, name) for name in (*self.state_attrs, "image_scale", "pixel_scale")}
        previous_size = self.config.image_size
        try:
            self.resolve_geometry(train)
            self._check_fit_memory(len(train))
            details = self._fit_features(train, progress, should_stop)
            notes = self.calibrate(validation, progress=progress, should_stop=should_stop)
        except BaseException:
            for name, value in previous.items():  # a failed or cancelled fit changes nothing
                setattr(self, name, value)
            self._set_geometry(previous_size)
            raise
        if self.config.geometry != "fixed":
            details["input_size"] = list(self._size_wh())
            details["tiles"] = self.units
        source = f"image: {self.image_scale.method}; pixel: {self.pixel_scale.method}{holdout_note}"
        if notes["masks_left_out"]:
            details["masks_left_out"] = notes["masks_left_out"]
            source += (f"; {notes['masks_left_out']} mask(s) covering {MAX_MASK_COVERAGE:.0%} or more of their "
                       f"image left out of pixel calibration")
        return FitReport(len(train), len(validation.images), source, time.perf_counter() - started, details)

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
            return maps.reshape(len(maps), -1).max(axis=1), maps
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
        self.image_scale = thresholds.image_scale(scores, labels)
        self.pixel_scale = thresholds.pixel_scale(maps[keep], labels[keep], None if masks is None else masks[keep])
        return {"masks_left_out": int((~keep).sum())}

    def set_thresholds(self, image: float | None = None, pixel: float | None = None,
                       review: float | None = None, clear_review: bool = False) -> None:
        """Replace thresholds by user-chosen raw values (normalisation follows them), all in one step:
        a ``predict`` running meanwhile in another thread judges with the old set or the new one."""
        image_scale, pixel_scale, review_threshold = self.thresholds_snapshot()
        if image is not None and image != image_scale.threshold:
            image_scale = image_scale.with_threshold(image)
        if pixel is not None and pixel != pixel_scale.threshold:
            pixel_scale = pixel_scale.with_threshold(pixel)
        if clear_review:
            review_threshold = None
        elif review is not None:
            review_threshold = min(float(review), image_scale.threshold)
        with self._thresholds_lock:
            self.image_scale, self.pixel_scale, self.review_threshold = image_scale, pixel_scale, review_threshold

    def set_scales(self, image_scale: thresholds.ScoreScale, pixel_scale: thresholds.ScoreScale,
                   review: float | None = None) -> None:
        """Replace both scales and the review threshold in one step (e.g. the calibrated scales at a
        user's thresholds, so normalisation never drifts with the history of slider moves)."""
        if review is not None:
            review = min(float(review), image_scale.threshold)
        with self._thresholds_lock:
            self.image_scale, self.pixel_scale, self.review_threshold = image_scale, pixel_scale, review

    def thresholds_snapshot(self) -> tuple[thresholds.ScoreScale | None, thresholds.ScoreScale | None, float | None]:
        """(image scale, pixel scale, review threshold) as one consistent set."""
        with self._thresholds_lock:
            return self.image_scale, self.pixel_scale, self.review_threshold

    def predict(self, image_or_batch: ImageLike | Sequence[ImageLike], *, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None) -> Prediction:
        """Scores, maps, masks and verdicts for one image (an HxW[xC] array or a path), or for a
        batch (a sequence of those, a BxHxWxC array, or a BxHxW grey stack whose last axis is not
        1, 3 or 4 -- an HxWx3 array is always one colour image)."""
        single = isinstance(image_or_batch, str | Path) or (
            isinstance(image_or_batch, np.ndarray) and (image_or_batch.ndim == 2 or (
                image_or_batch.ndim == 3 and image_or_batch.shape[-1] in (1, 3, 4))))
        images = [image_or_batch] if single else list(image_or_batch)
        if self.image_scale is None:
            raise NotFittedError("the model has no thresholds: fit or calibrate it first")
        scores, maps = self.raw_predict(images, progress=progress, should_stop=should_stop)
        image_scale, pixel_scale, review = self.thresholds_snapshot()  # one set for all of this prediction
        labels = thresholds.verdict_labels(scores, image_scale.threshold, review)
        return Prediction(
            image_scores=scores,
            norm_image_scores=image_scale.normalize(scores),
            anomaly_maps=maps,
            masks=maps >= pixel_scale.threshold,
            is_anomalous=labels == NG,
            needs_review=labels == REVIEW,
        )


    def _size_wh(self) -> tuple[int, int]:
        return self.preprocess.width, self.preprocess.height


def available_memory_mb() -> float | None:
    """Memory this PC can still give: Linux ``MemAvailable``, Windows ``GlobalMemoryStatusEx``, else the
    free pages ``sysconf`` reports; None where unknown."""
    import sys

    if sys.platform == "win32":
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total", ctypes.c_ulonglong),
                        ("available", ctypes.c_ulonglong), ("page_total", ctypes.c_ulonglong),
                        ("page_available", ctypes.c_ulonglong), ("virtual_total", ctypes.c_ulonglong),
                        ("virtual_available", ctypes.c_ulonglong), ("extended", ctypes.c_ulonglong)]

        status = _Status(length=ctypes.sizeof(_Status))
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))
        return status.available / 2**20 if ok else None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (AttributeError, ValueError, OSError):
        return None


def _torch_device(device: str) -> str:
    from hamacho_core.features import resolve_device

    return str(resolve_device(device))


def _stage(progress: ProgressFn | None, stage: str) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda _stage_name, done, total: progress(stage, done, total)
