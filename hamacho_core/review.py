"""The one review pipeline: score items -> results with maps -> evaluate -> export.

Used by the CLI's ``inspect`` (streaming: maps are not kept) and by the GUI's review (maps kept, so
thresholds can move without re-running the model).  Each image file is checked and decoded once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from hamacho_core import fileio
from hamacho_core.dataset import Dataset, Skipped, checked_image
from hamacho_core.imageio import read_image
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report
from hamacho_core.thresholds import Thresholds, verdict_labels

#: Which part of the data an image belongs to (the results list and CSV's "set" column).
HELD_OUT = "held-out"  #: a good training image kept out of the fit; it set the thresholds
VALIDATION = "validation"  #: a defective image that set the thresholds (hamacho layout bad/)
TEST = "test"  #: a labelled image the model has not seen
INSPECTED = "inspected"  #: an image without a label (inspect folder)
#: ``overlay``: the file name of the image's overlay PNG when images were written (names are made unique,
#: so two ``01.png`` of different folders get different overlays: this column says which is which).
CSV_FIELDS = ("path", "folder", "set", "truth", "raw_score", "normalized_score", "verdict", "time_ms", "overlay")
TRUTH = {1: "defective", 0: "good", -1: ""}


@dataclass
class ReviewItem:
    """One judged image; the raw map (model input size) is kept so thresholds can change freely."""

    path: Path
    raw_score: float
    anomaly_map: np.ndarray | None
    label: int = -1  #: 1 defective, 0 good, -1 unknown
    mask_path: Path | None = None
    set: str = INSPECTED
    time_ms: float = 0.0  #: decode + model, measured per image

    @property
    def folder(self) -> str:
        return self.path.parent.name


@dataclass(frozen=True)
class Source:
    """An image to judge with what is known about it."""

    path: Path
    label: int = -1
    mask_path: Path | None = None
    set: str = INSPECTED


def dataset_sources(dataset: Dataset, training: dict) -> list[Source]:
    """What to review after training or on opening a model: good images the model did not learn
    from (held out, they set the thresholds) plus the test images, each marked with its set."""
    trained = set(training.get("train_files", []))
    calibrated = set(training.get("validation_files", []))
    out = [Source(it.path, it.label, it.mask_path, HELD_OUT if trained else TEST)
           for it in dataset.train if str(it.path.resolve()) not in trained]
    for it in dataset.test:
        used = str(it.path.resolve()) in calibrated
        out.append(Source(it.path, it.label, it.mask_path, VALIDATION if used else TEST))
    return out


Scored = tuple[int, Path, np.ndarray, float, np.ndarray, float]


def iter_scored(model, paths: Sequence[Path], should_stop: StopFn | None = None,
                skipped: list[Skipped] | None = None) -> Iterator[Scored]:
    """``(index, path, image, raw score, raw map, ms)`` per readable file (decoded once); unreadable
    files go to ``skipped`` with the reason."""
    for i, path in enumerate(paths):
        check_stop(should_stop, "inspection")
        started = time.perf_counter()
        try:
            image, reason = checked_image(path)
            if reason:
                if skipped is not None:
                    skipped.append(Skipped(path, reason))
                continue
            scores, maps = model.raw_predict([image])
        except (ValueError, OSError) as exc:  # a file that changed or broke since it was listed
            if skipped is not None:
                skipped.append(Skipped(path, str(exc)))
            continue
        yield i, path, image, float(scores[0]), maps[0], (time.perf_counter() - started) * 1000


def score_sources(model, sources: Sequence[Source], progress: ProgressFn | None = None,
                  should_stop: StopFn | None = None, stage: str = "review") -> tuple[list[ReviewItem], list[Skipped]]:
    """Review items (with maps) for ``sources``; unreadable files are skipped with a reason."""
    skipped: list[Skipped] = []
    items = []
    for i, path, _image, score, raw_map, ms in iter_scored(model, [s.path for s in sources], should_stop, skipped):
        s = sources[i]
        items.append(ReviewItem(path, score, kept_map(model, raw_map), s.label, s.mask_path, s.set, ms))
        report(progress, stage, i + 1, len(sources))
    return items, skipped


#: Longest side of the maps kept for review: a 2048x2048 tiled model's maps are kept at 1024x1024 (4 MB
#: instead of 16 MB each); every map is shown and exported through ``to_image``, which takes any size.
MAX_REVIEW_MAP_SIDE = 1024


def kept_map(model, anomaly_map: np.ndarray) -> np.ndarray:
    """The map as kept for review: shrunk (area average) when its long side is over MAX_REVIEW_MAP_SIDE."""
    h, w = anomaly_map.shape
    if max(h, w) <= MAX_REVIEW_MAP_SIDE or model.preprocess.center_crop:
        return anomaly_map
    f = MAX_REVIEW_MAP_SIDE / max(h, w)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return np.ascontiguousarray(cv2.resize(anomaly_map, size, interpolation=cv2.INTER_AREA))


def read_mask(path: Path | None) -> np.ndarray | None:
    if path is None:
        return None
    mask = read_image(path)
    return mask if mask.ndim == 2 else mask.max(axis=2)


def pixel_auroc(model, items: Sequence[ReviewItem]) -> float | None:
    """Pixel AUROC over items with known masks (good images count as all-normal), or None; at most
    ``metrics.MAX_AUROC_PIXELS`` pixels, sampled evenly across the images."""
    if not any(r.mask_path is not None for r in items):
        return None
    from hamacho_core.metrics import _auroc, pixel_step

    used = [r for r in items if r.mask_path is not None or r.label == 0]
    step = pixel_step(sum(r.anomaly_map.size for r in used))
    scores, labels, offset = [], [], 0
    for r in used:  # each map sampled on its own: nothing is stacked
        h, w = r.anomaly_map.shape
        mask = np.zeros((h, w), bool)
        if r.mask_path is not None:
            full = model.preprocess.mask(read_mask(r.mask_path)).astype(np.uint8)
            mask = cv2.resize(full, (w, h), interpolation=cv2.INTER_NEAREST) > 0 if full.shape != (h, w) else full > 0
        start = (-offset) % step
        scores.append(r.anomaly_map.ravel()[start::step])
        labels.append(mask.ravel()[start::step])
        offset += r.anomaly_map.size
    return _auroc(np.concatenate(labels), np.concatenate(scores))


def full_size_maps(model, anomaly_map: np.ndarray, height: int, width: int,
                   thresholds: Thresholds | None = None, *, pixel_scale=None) -> tuple[np.ndarray, np.ndarray]:
    """The normalised map (0.5 = pixel threshold) and the predicted-defect mask at an image's own size
    (a region of interest places them where they belong): the one map -> image conversion.  The pixel
    threshold: ``pixel_scale`` (a :class:`ScoreScale`, e.g. the one a live frame was judged with), else
    ``thresholds.pixel``, else the model's."""
    if pixel_scale is not None:
        scale, pixel = pixel_scale, pixel_scale.threshold
    else:
        pixel = model.pixel_scale.threshold if thresholds is None else thresholds.pixel
        scale = model.pixel_scale.at(pixel)
    pre = model.preprocess
    norm = pre.to_image(scale.normalize(anomaly_map), height, width)
    predicted = pre.to_image((anomaly_map >= pixel).astype(np.float32), height, width) >= 0.5
    return norm, predicted


def judge(model, items: Sequence[ReviewItem], thresholds: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Verdicts and normalised scores (0.5 = image threshold) of ``items`` at ``thresholds``."""
    scores = np.array([r.raw_score for r in items], dtype=np.float64)
    return (verdict_labels(scores, thresholds.image, thresholds.review),
            model.image_scale.at(thresholds.image).normalize(scores))


def csv_row(path: Path, raw: float, normalised: float, verdict: str, ms: float, label: int = -1,
            set_name: str = INSPECTED, overlay: Path | None = None) -> list:
    return [str(path), path.parent.name, set_name, TRUTH.get(label, ""), f"{raw:.6g}", f"{normalised:.4f}",
            verdict, f"{ms:.1f}", overlay.name if overlay is not None else ""]


def write_results_csv(rows: Sequence[Sequence], path: Path) -> Path:
    """``results.csv`` (:data:`CSV_FIELDS`) atomically; text cells neutralised against spreadsheet formulas."""
    fileio.write_csv(path, CSV_FIELDS, rows, text_columns=(0, 1, 2, 3, 6, 8))
    return Path(path)


def holds_results(folder: Path) -> bool:
    """True when ``folder`` exists and is not empty (an export there would mix runs)."""
    folder = Path(folder)
    return folder.is_dir() and any(folder.iterdir())


def new_run_folder(base: Path) -> Path:
    """A fresh ``run_YYYYmmdd_HHMMSS[_n]`` folder name under ``base`` (not created)."""
    stamp = datetime.now().strftime("run_%Y%m%d_%H%M%S")
    candidate, n = Path(base) / stamp, 2
    while candidate.exists():
        candidate, n = Path(base) / f"{stamp}_{n}", n + 1
    return candidate


def export_items(model, items: Sequence[ReviewItem], thresholds: Thresholds, out_dir: Path, *,
                 colormap: str = "jet", alpha: float = 0.5, progress: ProgressFn | None = None,
                 should_stop: StopFn | None = None) -> Path:
    """``results.csv`` of ``items`` judged at ``thresholds`` plus overlay (``colormap``, ``alpha``: as on
    screen), map and mask images, as ``hamacho inspect --save-images`` writes them.  An image that
    cannot be written is reported in the :class:`OSError` raised at the end; the others and the CSV are
    written all the same."""
    from hamacho_core.jobs import save_result_images, unique_stem

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    verdicts, normalised = judge(model, items, thresholds)
    rows, used, failed = [], set(), []
    for i, item in enumerate(items):
        check_stop(should_stop, "export")
        overlay = None
        try:
            overlay = save_result_images(model, read_image(item.path), item.anomaly_map, out_dir,
                                         unique_stem(item.path, used), thresholds=thresholds, colormap=colormap,
                                         alpha=alpha)["overlay"]
        except (OSError, ValueError) as exc:
            failed.append(f"{item.path.name}: {exc}")
        rows.append(csv_row(item.path, item.raw_score, float(normalised[i]), str(verdicts[i]), item.time_ms,
                            item.label, item.set, overlay))
        report(progress, "export", i + 1, len(items))
    csv_path = write_results_csv(rows, out_dir / "results.csv")
    if failed:
        raise OSError(f"{csv_path} was written, but the images of {len(failed)} result(s) were not: "
                      + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else ""))
    return csv_path
