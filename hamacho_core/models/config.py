"""The settings every model kind shares, declared once (label, range, help, default): the CLI options and
the Train form are built from them (:mod:`hamacho_core.config`)."""

from __future__ import annotations

from dataclasses import dataclass

from hamacho_core.config import ConfigError, check_settings, setting
from hamacho_core.geometry import MAX_CANVAS
from hamacho_core.runtime import RUNTIMES
from hamacho_core.tiling import GRID

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

