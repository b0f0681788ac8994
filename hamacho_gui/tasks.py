"""Jobs the window runs in its worker thread: plain functions of ``(progress, should_stop)``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hamacho_core.dataset import Dataset, ImageItem, Skipped, collect_images
from hamacho_core.imageio import read_image
from hamacho_core.jobs import FitResult, InspectRow, fit_dataset, save_result_images, unique_stem, write_csv
from hamacho_core.metrics import evaluate
from hamacho_core.models import AnomalyModel
from hamacho_core.progress import check_stop
from hamacho_gui.results_panel import ResultItem


@dataclass
class TrainOutcome:
    fit: FitResult
    results: list[ResultItem]
    pixel_auroc: float | None


def pixel_auroc(model: AnomalyModel, results: list[ResultItem]) -> float | None:
    """Pixel AUROC over results with known masks (good images count as all-normal), or None."""
    if not any(r.mask_path is not None for r in results):
        return None
    maps, masks = [], []
    for r in results:
        if r.mask_path is None and r.label != 0:
            continue
        maps.append(r.anomaly_map)
        if r.mask_path is None:
            masks.append(np.zeros(r.anomaly_map.shape, bool))
        else:
            raw = read_image(r.mask_path)
            masks.append(model.preprocess.mask(raw))
    n = len(maps)
    return evaluate(np.zeros(n), np.zeros(n, bool), np.zeros(n), np.stack(maps), np.stack(masks)).pixel_auroc


def evaluation_items(dataset: Dataset, training: dict) -> list[ImageItem]:
    """Images to review after training: test images plus good images the model did not learn from."""
    trained = set(training.get("train_files", []))
    goods = [it for it in dataset.train if str(it.path.resolve()) not in trained]
    return goods + list(dataset.test)


def run_items(model: AnomalyModel, items: list[tuple[Path, int, Path | None]], progress, should_stop,
              stage: str = "inspect") -> tuple[list[ResultItem], list[Skipped]]:
    """Raw scores and maps for (path, label, mask path) triples; unreadable files are skipped."""
    results, skipped = [], []
    for i, (path, label, mask_path) in enumerate(items):
        check_stop(should_stop, stage)
        try:
            scores, maps = model.raw_predict([read_image(path)])
        except (ValueError, OSError) as exc:
            skipped.append(Skipped(path, str(exc)))
            continue
        results.append(ResultItem(path, float(scores[0]), maps[0], label, mask_path))
        progress(stage, i + 1, len(items))
    return results, skipped


def train(dataset: Dataset, kind: str, config: dict):
    def job(progress, should_stop) -> TrainOutcome:
        fitted = fit_dataset(dataset, kind, progress=progress, should_stop=should_stop, **config)
        items = [(it.path, it.label, it.mask_path) for it in evaluation_items(dataset, fitted.training)]
        results, _ = run_items(fitted.model, items, progress, should_stop, stage="review")
        return TrainOutcome(fitted, results, pixel_auroc(fitted.model, results))
    return job


def inspect_folder(model: AnomalyModel, folder: Path):
    def job(progress, should_stop) -> tuple[list[ResultItem], list[Skipped]]:
        files, skipped = collect_images([folder], progress=progress, should_stop=should_stop)
        results, more = run_items(model, [(p, -1, None) for p in files], progress, should_stop)
        return results, skipped + more
    return job


def export_results(model: AnomalyModel, items: list[ResultItem], verdicts: np.ndarray, normalised: np.ndarray,
                   out_dir: Path):
    """CSV of the given results plus overlay, map and mask images, as ``hamacho inspect`` writes them."""
    def job(progress, should_stop) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        rows, used, failed = [], set(), []
        for i, item in enumerate(items):
            check_stop(should_stop, "export")
            stem = unique_stem(item.path, used)
            try:  # an image that cannot be written is reported; the others and the CSV still are
                outputs = save_result_images(model, read_image(item.path), item.anomaly_map, out_dir, stem)
            except (OSError, ValueError) as exc:
                failed.append(f"{item.path.name}: {exc}")
                outputs = {}
            rows.append(InspectRow(item.path, item.raw_score, float(normalised[i]), str(verdicts[i]), 0.0, outputs))
            progress("export", i + 1, len(items))
        csv_path = write_csv(rows, out_dir / "results.csv")
        if failed:
            raise OSError(f"{csv_path} was written, but the images of {len(failed)} result(s) were not: "
                          + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else ""))
        return csv_path
    return job


def add_good(model: AnomalyModel, path: Path, results: list[ResultItem]):
    """Incremental fit with one image judged wrongly, then the same results re-scored."""
    def job(progress, should_stop):
        details = model.add_images([path], progress=progress, should_stop=should_stop)
        items = [(r.path, r.label, r.mask_path) for r in results]
        # The model has changed now: finish re-scoring even if cancel is pressed, so results match it.
        rescored, _ = run_items(model, items, progress, lambda: False, stage="review")
        return rescored, {**details, "path": str(path)}
    return job
