"""The newcomer's main job, offline: generate demo data, fit it with the bundled backbone, save the
model, inspect new images and evaluate -- the same jobs as ``hamacho fit / inspect / eval``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from hamacho_core import synthetic
from hamacho_core.dataset import load_dataset
from hamacho_core.fileio import atomic_write_bytes
from hamacho_core.jobs import FitResult, InspectResult, evaluate_dataset, fit_dataset, inspect_paths
from hamacho_core.metrics import Metrics
from hamacho_core.model_io import save_model
from hamacho_core.models import DEFAULT_KIND, model_spec
from hamacho_core.progress import ProgressFn, StopFn


@dataclass
class DemoResult:
    model_path: Path
    results_dir: Path
    fit: FitResult
    inspection: InspectResult
    metrics: Metrics
    inspect_ms_per_image: float


def run_demo(root: Path, *, model: str = DEFAULT_KIND, category: str = "part", progress: ProgressFn | None = None,
             should_stop: StopFn | None = None, **config) -> DemoResult:
    """``root/train`` (30 good + 6 defective to set thresholds) and ``root/test`` (10 good + 12 defective,
    other instances) in the hamacho layout; model in ``root/model.hmc``; results in ``root/results`` (a rerun
    replaces them: the demo regenerates everything)."""
    root = Path(root)
    cfg = model_spec(model).config(**config)  # defaults from the config dataclass (bundled backbone, 256 px)
    image_size = cfg.image_size if isinstance(cfg.image_size, int) else max(cfg.image_size)  # square demo images
    synthetic.write_dataset(root / "train", category=category, n_train_good=30, n_test_good=0, n_test_bad=6,
                            size=image_size, seed=0)
    synthetic.write_dataset(root / "test", category=category, n_train_good=0, n_test_good=10, n_test_bad=12,
                            size=image_size, seed=1)
    fitted = fit_dataset(load_dataset(root / "train"), model, config=cfg, progress=progress, should_stop=should_stop)
    model_path = save_model(fitted.model, root / "model.hmc", training=fitted.training)
    results = root / "results"
    inspection = inspect_paths(fitted.model, [root / "test" / "good", root / "test" / "bad"], out_dir=results,
                               save_images=True, overwrite=True, progress=progress, should_stop=should_stop)
    evaluation = evaluate_dataset(fitted.model, load_dataset(root / "test"), progress=progress,
                                  should_stop=should_stop)
    atomic_write_bytes(results / "metrics.json", json.dumps(evaluation.metrics.to_dict(), indent=2).encode("utf-8"))
    per_image = sum(r.time_ms for r in inspection.rows) / max(1, len(inspection.rows))
    return DemoResult(model_path, results, fitted, inspection, evaluation.metrics, per_image)
