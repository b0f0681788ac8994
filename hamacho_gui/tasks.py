"""Jobs the window runs on its worker lanes: plain functions of ``(progress, should_stop)`` built on
the core's review pipeline (:mod:`hamacho_core.review`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hamacho_core import autoconfig, review
from hamacho_core.autoconfig import AutoReport, AutoRequest
from hamacho_core.dataset import Dataset, Skipped, collect_images
from hamacho_core.jobs import FitResult, fit_dataset
from hamacho_core.model_io import save_model
from hamacho_core.models import AnomalyModel, FitReport, ModelConfig
from hamacho_core.progress import check_stop
from hamacho_core.review import ReviewItem, Source
from hamacho_core.thresholds import Thresholds


@dataclass(frozen=True)
class TrainRequest:
    """What the Train tab asks for: the model kind and its checked config, or (``auto``) a search for the
    best settings that keeps the ones set by hand."""

    kind: str
    config: ModelConfig
    auto: AutoRequest | None = None


@dataclass
class TrainOutcome:
    fit: FitResult
    results: list[ReviewItem]
    pixel_auroc: float | None
    auto_report: AutoReport | None = None


@dataclass
class Scored:
    results: list[ReviewItem]
    skipped: list[Skipped]
    pixel_auroc: float | None = None


def train(dataset: Dataset, request: TrainRequest):
    def job(progress, should_stop) -> TrainOutcome:
        auto_report = None
        if request.auto is not None:
            a = request.auto
            found = autoconfig.search(dataset, pinned=a.pinned, kind=a.kind, max_ms=a.max_ms, budget_min=a.budget_min,
                                      progress=progress, should_stop=should_stop)
            auto_report, training = found.report, found.training
            fitted = FitResult(found.model, FitReport(training["n_train"], training["n_validation"],
                                                      training["threshold_source"], auto_report.seconds), training)
        else:
            fitted = fit_dataset(dataset, request.kind, config=request.config, progress=progress,
                                 should_stop=should_stop)
        sources = review.dataset_sources(dataset, fitted.training)
        results, _ = review.score_sources(fitted.model, sources, progress, should_stop)
        return TrainOutcome(fitted, results, review.pixel_auroc(fitted.model, results), auto_report)
    return job


def score(model: AnomalyModel, sources: list[Source]):
    """Results (with maps) for labelled sources, e.g. the loaded dataset with an opened model."""
    def job(progress, should_stop) -> Scored:
        results, skipped = review.score_sources(model, sources, progress, should_stop)
        return Scored(results, skipped, review.pixel_auroc(model, results))
    return job


def inspect_folder(model: AnomalyModel, folder: Path):
    def job(progress, should_stop) -> Scored:
        files, skipped = collect_images([folder], progress=progress, should_stop=should_stop)
        results, more = review.score_sources(model, [Source(p) for p in files], progress, should_stop, "inspect")
        return Scored(results, skipped + more)
    return job


def export(model: AnomalyModel, items: list[ReviewItem], thresholds: Thresholds, out_dir: Path, colormap: str,
           alpha: float):
    """CSV of the given results plus overlay, map and mask images as shown on screen."""
    def job(progress, should_stop) -> Path:
        return review.export_items(model, items, thresholds, out_dir, colormap=colormap, alpha=alpha,
                                   progress=progress, should_stop=should_stop)
    return job


def export_report(model: AnomalyModel, items: list[ReviewItem], thresholds: Thresholds, path: Path,
                  model_path: Path | None, training: dict | None = None):
    """The release report (HTML: summary, histogram, escapes' thumbnails) of the results at ``thresholds``."""
    def job(progress, should_stop) -> Path:
        from hamacho_core import report

        progress("report", 0, 1)
        content = report.build_content(model, [r.path for r in items], [r.raw_score for r in items],
                                       [r.label for r in items], maps=[r.anomaly_map for r in items],
                                       judge=model.judge.at(thresholds), model_path=model_path,
                                       training=training)
        check_stop(should_stop, "report")
        written = report.write_report(path, content)
        progress("report", 1, 1)
        return written
    return job


def add_good(model: AnomalyModel, path: Path, results: list[ReviewItem]):
    """Incremental fit with one image judged wrongly, then the same results re-scored."""
    def job(progress, should_stop):
        details = model.add_images([path], progress=progress, should_stop=should_stop)
        sources = [Source(r.path, r.label, r.mask_path, r.set) for r in results]
        # The model has changed now: finish re-scoring even if cancel is pressed, so results match it.
        rescored, _ = review.score_sources(model, sources, progress, lambda: False)
        return Scored(rescored, [], review.pixel_auroc(model, rescored)), {**details, "path": str(path)}
    return job


def save(model: AnomalyModel, path: Path, training: dict, make_folder: bool = False):
    """Write the model (with the thresholds it judges with) on the files lane; ``make_folder`` creates
    its folder first (the model library on first use)."""
    def job(progress, should_stop) -> Path:
        progress("saving", 0, 1)
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        saved = save_model(model, path, training=training)
        progress("saving", 1, 1)
        return saved
    return job
