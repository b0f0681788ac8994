"""What a judged image leaves on disk, for every use case (inspect, review export, live, batch evidence):
output stems, the overlay / map / mask images at the image's own size, and the ``results.csv`` row."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamacho_core import fileio, visualize
from hamacho_core.imageio import write_image
from hamacho_core.judging import Judge

RESULTS_CSV = "results.csv"
#: Output names are ``<stem>_overlay.png`` etc.: stems longer than this (UTF-8 bytes) are shortened.
MAX_STEM_BYTES = 120
#: Which part of the data an image belongs to (the results list and CSV's "set" column).
HELD_OUT = "held-out"  #: a good training image kept out of the fit; it set the thresholds
VALIDATION = "validation"  #: a defective image that set the thresholds (hamacho layout bad/)
TEST = "test"  #: a labelled image the model has not seen
INSPECTED = "inspected"  #: an image without a label (inspect folder)
#: ``overlay``: the file name of the image's overlay PNG when images were written (names are made unique,
#: so two ``01.png`` of different folders get different overlays: this column says which is which).
CSV_FIELDS = ("path", "folder", "set", "truth", "raw_score", "normalized_score", "verdict", "time_ms", "overlay")
TRUTH = {1: "defective", 0: "good", -1: ""}


def short_stem(stem: str, limit: int = MAX_STEM_BYTES) -> str:
    """``stem`` if it fits in ``limit`` UTF-8 bytes, else its start plus ``~`` and 8 hex digits of its
    hash (so two long names with the same start stay distinct)."""
    stem = stem.rstrip(" .") or "image"
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= limit:
        return stem
    head = raw[:limit - 9].decode("utf-8", errors="ignore").rstrip(" .")
    return f"{head}~{hashlib.sha1(raw).hexdigest()[:8]}"


def unique_stem(path: Path, used: set[str]) -> str:
    """A short output stem for ``path``, unique in ``used`` (compared case-insensitively, as some file
    systems do); the stem is added to ``used``."""
    stem = short_stem(path.stem)
    if stem.casefold() in used:
        stem = short_stem(f"{path.parent.name}_{path.stem}")
    base, n = stem, 2
    while stem.casefold() in used:
        stem, n = short_stem(f"{base}_{n}"), n + 1
    used.add(stem.casefold())
    return stem


def full_size_maps(model, anomaly_map: np.ndarray, height: int, width: int,
                   judge: Judge | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The normalised map (0.5 = pixel threshold) and the predicted-defect mask at an image's own size
    (a region of interest places them where they belong): the one map -> image conversion.  ``judge``:
    the thresholds (e.g. those a live frame was judged with, or the user's); default the model's."""
    judge = judge or model.judge
    pre = model.preprocess
    norm = pre.to_image(judge.normalize_map(anomaly_map), height, width)
    predicted = pre.to_image(judge.defect_pixels(anomaly_map).astype(np.float32), height, width) >= 0.5
    return norm, predicted


def save_result_images(model, image: np.ndarray, anomaly_map: np.ndarray, out_dir: Path, stem: str, *,
                       judge: Judge | None = None, colormap: str = visualize.DEFAULT_COLORMAP,
                       alpha: float = 0.5) -> dict[str, Path]:
    """Heatmap overlay (``colormap``, ``alpha``; predicted-mask and region outlines), grayscale map and
    binary mask at the image's size, each written atomically; ``judge`` defaults to the model's.
    An :class:`OSError` names the files that could not be written (after trying all three)."""
    from hamacho_core.preprocess import to_rgb8

    rgb = to_rgb8(image)
    h, w = rgb.shape[:2]
    norm_full, mask_full = full_size_maps(model, anomaly_map, h, w, judge)
    outputs = {
        "overlay": out_dir / f"{stem}_overlay.png",
        "map": out_dir / f"{stem}_map.png",
        "mask": out_dir / f"{stem}_mask.png",
    }
    picture = visualize.render_overlay(rgb, norm_full, mask_full, region_polygon=model.preprocess.roi_polygon(h, w),
                                       colormap=colormap, alpha=alpha)
    pictures = {"overlay": picture, "map": (norm_full * 255 + 0.5).astype(np.uint8),
                "mask": mask_full.astype(np.uint8) * 255}
    failed = []
    for kind, path in outputs.items():
        try:
            write_image(path, pictures[kind])
        except OSError as exc:  # try the others all the same
            failed.append((exc, f"{path} was not written: {exc.strerror or exc}"))
    if failed:
        raise OSError(failed[0][0].errno, "; ".join(message for _, message in failed))
    return outputs


def csv_row(path: Path, raw: float, normalised: float, verdict: str, ms: float, label: int = -1,
            set_name: str = INSPECTED, overlay: Path | None = None) -> list:
    return [str(path), path.parent.name, set_name, TRUTH.get(label, ""), f"{raw:.6g}", f"{normalised:.4f}",
            verdict, f"{ms:.1f}", overlay.name if overlay is not None else ""]


def write_results_csv(rows: Sequence[Sequence], path: Path) -> Path:
    """``results.csv`` (:data:`CSV_FIELDS`) atomically; text cells neutralised against spreadsheet formulas."""
    fileio.write_csv(path, CSV_FIELDS, rows, text_columns=(0, 1, 2, 3, 6, 8))
    return Path(path)
