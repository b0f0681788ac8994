"""Whole jobs on datasets and folders (fit, inspect, evaluate), shared by the CLI and the GUI.

Each takes plain ``progress``/``should_stop`` callbacks and returns plain data; nothing here prints.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hamacho_core import fileio, review
from hamacho_core.dataset import Dataset, ImageItem, Skipped, list_images, no_images_reason
from hamacho_core.metrics import Metrics, evaluate
from hamacho_core.models import DEFAULT_KIND, AnomalyModel, FitReport, ModelConfig, ValidationSet, model_spec
from hamacho_core.models.base import holdout_indices
from hamacho_core.outputs import (
    CSV_FIELDS,
    INSPECTED,
    RESULTS_CSV,
    csv_row,
    save_result_images,
    unique_stem,
    write_results_csv,
)
from hamacho_core.progress import ProgressFn, StopFn
from hamacho_core.validation import Validation, validate

__all__ = ["CSV_FIELDS", "RESULTS_CSV", "EvalResult", "FitResult", "InspectResult", "InspectRow", "check_out_dir",
           "evaluate_dataset", "fit_dataset", "inspect_paths", "write_csv", "write_eval_plots"]


@dataclass
class FitResult:
    model: AnomalyModel
    report: FitReport
    training: dict  # summary stored in the model file


def _read_mask(item: ImageItem) -> np.ndarray | None:
    return review.read_mask(item.mask_path)


def fit_dataset(dataset: Dataset, kind: str = DEFAULT_KIND, *, config: ModelConfig | None = None,
                progress: ProgressFn | None = None, should_stop: StopFn | None = None, **fields) -> FitResult:
    """Fit on the dataset's good training images and set thresholds from a validation set.

    ``config``: the model's settings (a config dataclass of ``kind``), or ``fields`` to build one.
    Validation = a seeded ``holdout_fraction`` of the good images plus, in the hamacho layout, the
    defective images of ``bad/`` (with their masks), so thresholds are F1-optimal when defects are
    known.  MVTec's ``test/`` is left for evaluation, so its thresholds use the good-only rule.
    """
    spec = model_spec(kind)
    model = spec.model_cls(config if config is not None else spec.config(**fields))
    held_idx = set(holdout_indices(len(dataset.train), model.config.holdout_fraction, model.config.seed))
    train = [it for i, it in enumerate(dataset.train) if i not in held_idx]
    held = [it for i, it in enumerate(dataset.train) if i in held_idx]
    val_items = held + ([it for it in dataset.test if it.label == 1] if dataset.layout == "hamacho" else [])
    validation = None
    if val_items:
        validation = ValidationSet([it.path for it in val_items], [it.label for it in val_items],
                                   [_read_mask(it) for it in val_items])
    report = model.fit([it.path for it in train], validation=validation, progress=progress,
                       should_stop=should_stop)
    training = {
        "dataset": str(dataset.root), "layout": dataset.layout, "n_train": len(train),
        "n_validation": len(val_items), "n_skipped": len(dataset.skipped),
        "train_files": [str(it.path.resolve()) for it in train],
        "validation_files": [str(it.path.resolve()) for it in val_items],
        "threshold_source": report.threshold_source, "fit_seconds": round(report.seconds, 2),
    }
    training.update({k: v for k, v in report.details.items() if isinstance(v, int | float | str | bool)})
    if report.validation is not None:
        training["validation_summary"] = report.validation.to_dict()
    return FitResult(model, report, training)


@dataclass
class InspectRow:
    path: Path
    raw_score: float
    normalized_score: float
    verdict: str
    time_ms: float
    outputs: dict[str, Path] = field(default_factory=dict)
    label: int = -1
    set: str = INSPECTED


@dataclass
class InspectResult:
    rows: list[InspectRow]
    skipped: list[Skipped]
    csv_path: Path | None
    #: Output files that could not be written (path, reason); their images are judged and in the CSV.
    unwritten: list[Skipped] = field(default_factory=list)
    #: Why the CSV could not be written (then ``csv_path`` is None), naming the file.
    csv_error: str | None = None


def check_out_dir(out_dir: Path, overwrite: bool = False) -> None:
    """Refuse an output folder that is a file, or that holds an earlier ``results.csv`` (unless ``overwrite``)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"the output folder {out_dir} exists and is not a folder")
    csv_path = out_dir / RESULTS_CSV
    if not overwrite and (csv_path.exists() or csv_path.is_symlink()):
        raise FileExistsError(f"{csv_path} already exists (results of an earlier inspection): choose another "
                              f"output folder, or overwrite it on purpose (--overwrite)")


def inspect_paths(model: AnomalyModel, paths: Sequence[str | Path], *, out_dir: Path | None = None,
                  save_images: bool = False, recursive: bool = False, overwrite: bool = False,
                  progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> InspectResult:
    """Judge every readable image under ``paths``; unreadable ones are reported, never fatal.

    With ``out_dir``, writes ``results.csv`` there (refused if one is there already, unless
    ``overwrite``) and, with ``save_images``, per-image overlay, grayscale map and mask PNGs.  Every
    file is written atomically; one that cannot be written is reported in ``unwritten`` (or
    ``csv_error``) and the batch goes on.  Nothing to judge at all raises :class:`FileNotFoundError`
    saying why (e.g. the images are in sub-folders).
    """
    if out_dir is not None:
        out_dir = Path(out_dir)
        check_out_dir(out_dir, overwrite)
    skipped: list[Skipped] = []
    files = list_images(paths, recursive=recursive, skipped=skipped)
    if not files and not skipped:  # nothing to judge: say why, write nothing
        raise FileNotFoundError(no_images_reason(paths, recursive))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[InspectRow] = []
    unwritten: list[Skipped] = []
    used: set[str] = set()
    judge = model.judge  # one set of thresholds for the whole run
    for i, path, image, score, raw_map, ms in review.iter_scored(model, files, should_stop, skipped):
        row = InspectRow(path, score, float(judge.normalize(score)), judge.verdict(score), ms)
        if out_dir is not None and save_images:
            try:
                row.outputs = save_result_images(model, image, raw_map, out_dir, unique_stem(path, used), judge=judge)
            except OSError as exc:  # a full disk or an unwritable name: report it, keep judging
                unwritten.append(Skipped(path, str(exc)))
        rows.append(row)
        if progress is not None:
            progress("inspect", i + 1, len(files))
    result = InspectResult(rows, skipped, None, unwritten)
    if out_dir is not None:
        try:
            result.csv_path = write_csv(rows, out_dir / RESULTS_CSV)
        except OSError as exc:
            result.csv_error = f"{out_dir / RESULTS_CSV} was not written: {exc.strerror or exc}"
    return result


def write_csv(rows: Sequence[InspectRow], path: Path) -> Path:
    """``results.csv`` (``CSV_FIELDS``), atomically; text cells are neutralised against spreadsheet formulas."""
    return write_results_csv([csv_row(r.path, r.raw_score, r.normalized_score, r.verdict, r.time_ms, r.label, r.set,
                                      r.outputs.get("overlay")) for r in rows], path)


@dataclass
class EvalResult:
    metrics: Metrics
    items: list[ImageItem]
    image_scores: np.ndarray
    verdicts: np.ndarray
    used_for_thresholds: int  # evaluated images that were also in the model's validation set
    validation: Validation | None = None  #: the plain-words summary at the model's thresholds


def evaluate_dataset(model: AnomalyModel, dataset: Dataset, *, progress: ProgressFn | None = None,
                     should_stop: StopFn | None = None) -> EvalResult:
    """Image/pixel metrics on the dataset's test images plus good images the model did not train on."""
    training = (model.manifest or {}).get("training", {})
    trained = set(training.get("train_files", []))
    calibrated = set(training.get("validation_files", []))
    items = [it for it in dataset.train if str(it.path.resolve()) not in trained] if dataset.layout == "hamacho" else []
    items += list(dataset.test)
    if not items:
        raise ValueError("nothing to evaluate: every image of this dataset was used for training")
    from hamacho_core.metrics import PixelSample, ProCurve
    from hamacho_core.progress import check_stop, report

    shape = model.preprocess.output_shape
    has_masks = any(it.mask_path is not None for it in items if it.label == 1)
    pixels = PixelSample(len(items) * shape[0] * shape[1])
    regions = ProCurve(len(items) * shape[0] * shape[1])
    judge = model.judge  # one set of thresholds for the whole evaluation
    scores, flagged = [], []
    for n, it in enumerate(items):  # one image at a time, its pixels sampled: memory stays flat
        check_stop(should_stop, "evaluation")
        pred = model.predict(it.path, judge=judge)
        scores.append(pred.image_scores[0])
        flagged.append(pred.is_anomalous[0])
        if has_masks:
            mask = _read_mask(it)
            mask = model.preprocess.mask(mask) if mask is not None else np.zeros(shape, bool)
            pixels.add(pred.anomaly_maps[0], mask)
            regions.add(pred.anomaly_maps[0], mask)
        report(progress, "inspect", n + 1, len(items))
    labels = np.array([it.label for it in items])
    scores, flagged = np.array(scores, np.float32), np.array(flagged, bool)
    pix_scores, pix_labels = pixels.arrays() if has_masks else (None, None)
    metrics = evaluate(scores, flagged, labels, pix_scores, pix_labels, regions.aupro() if has_masks else None)
    overlap = sum(str(it.path.resolve()) in calibrated for it in items)
    names = [f"{it.path.parent.name}/{it.path.name}" for it in items]
    return EvalResult(metrics, items, scores, flagged, overlap, validate(scores, labels, judge, names=names))


def write_eval_plots(result: EvalResult, threshold: float, out_dir: Path) -> dict[str, Path]:
    """ROC curve and score histogram (good vs defective, threshold line) as PNG files."""
    from hamacho_core.report import histogram_figure, roc_figure

    labels = np.array([it.label for it in result.items])
    paths = {}
    roc = roc_figure(result.image_scores, labels)
    if roc is not None:
        paths["roc"] = _save_figure(roc, out_dir / "roc.png")
    histogram = histogram_figure(result.image_scores, labels, threshold)
    paths["histogram"] = _save_figure(histogram, out_dir / "histogram.png")
    return paths


def write_eval_report(model, result: EvalResult, path: Path, model_path: Path | None = None,
                      metrics: Sequence[str] = ()) -> Path:
    """The release report (:mod:`hamacho_core.report`) of an evaluation; the escapes and false alarms are
    judged again, one image each, for their thumbnails."""
    from hamacho_core import report as report_module

    content = report_module.build_content(
        model, [it.path for it in result.items], result.image_scores, [it.label for it in result.items],
        model_path=model_path, metrics=metrics)
    return report_module.write_report(path, content)


def _save_figure(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return fileio.atomic_write_bytes(path, buf.getvalue())
