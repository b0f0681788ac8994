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

from hamacho_core.dataset import Dataset, Skipped, checked_image
from hamacho_core.imageio import read_image
from hamacho_core.outputs import (
    CSV_FIELDS,
    HELD_OUT,
    INSPECTED,
    RESULTS_CSV,
    TEST,
    TRUTH,
    VALIDATION,
    csv_row,
    save_result_images,
    unique_stem,
    write_results_csv,
)
from hamacho_core.progress import ProgressFn, StopFn, check_stop, report
from hamacho_core.thresholds import Thresholds

__all__ = ["CSV_FIELDS", "HELD_OUT", "INSPECTED", "TEST", "TRUTH", "VALIDATION", "ReviewItem", "Source",
           "dataset_sources", "export_items", "holds_results", "iter_scored", "judge", "kept_map", "new_run_folder",
           "pixel_auroc", "read_mask", "score_sources"]


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
    from hamacho_core.metrics import PixelSample

    used = [r for r in items if r.mask_path is not None or r.label == 0]
    sample = PixelSample(sum(r.anomaly_map.size for r in used))
    for r in used:  # each map sampled on its own: nothing is stacked
        h, w = r.anomaly_map.shape
        mask = np.zeros((h, w), bool)
        if r.mask_path is not None:
            full = model.preprocess.mask(read_mask(r.mask_path)).astype(np.uint8)
            mask = cv2.resize(full, (w, h), interpolation=cv2.INTER_NEAREST) > 0 if full.shape != (h, w) else full > 0
        sample.add(r.anomaly_map, mask)
    return sample.auroc()


def judge(model, items: Sequence[ReviewItem], thresholds: Thresholds) -> tuple[np.ndarray, np.ndarray]:
    """Verdicts and normalised scores (0.5 = image threshold) of ``items`` at ``thresholds``."""
    scores = np.array([r.raw_score for r in items], dtype=np.float64)
    judge = model.judge.at(thresholds)
    return judge.verdicts(scores), judge.normalize(scores)


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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    at = model.judge.at(thresholds)
    verdicts, normalised = judge(model, items, thresholds)
    rows, used, failed = [], set(), []
    for i, item in enumerate(items):
        check_stop(should_stop, "export")
        overlay = None
        try:
            overlay = save_result_images(model, read_image(item.path), item.anomaly_map, out_dir,
                                         unique_stem(item.path, used), judge=at, colormap=colormap,
                                         alpha=alpha)["overlay"]
        except (OSError, ValueError) as exc:
            failed.append(f"{item.path.name}: {exc}")
        rows.append(csv_row(item.path, item.raw_score, float(normalised[i]), str(verdicts[i]), item.time_ms,
                            item.label, item.set, overlay))
        report(progress, "export", i + 1, len(items))
    csv_path = write_results_csv(rows, out_dir / RESULTS_CSV)
    if failed:
        raise OSError(f"{csv_path} was written, but the images of {len(failed)} result(s) were not: "
                      + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else ""))
    return csv_path
