"""The newcomer's main job: generate the demo dataset, fit it with the bundled backbone, inspect
the test images and write results (CSV, overlays) -- offline, in about a minute on a 2-core CPU."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hamacho_core import synthetic, visualize
from hamacho_core.imageio import read_image, write_image
from hamacho_core.metrics import Metrics, evaluate
from hamacho_core.models import create_model
from hamacho_core.progress import ProgressFn, StopFn


@dataclass
class DemoResult:
    data_dir: Path
    results_dir: Path
    csv_path: Path
    metrics: Metrics
    fit_seconds: float
    inspect_ms_per_image: float
    n_train: int
    memory_bank: int | None


def run_demo(root: Path, *, model: str = "patchcore", category: str = "part", backbone: str = "efficientnet_lite0",
             image_size: int = 256, progress: ProgressFn | None = None,
             should_stop: StopFn | None = None) -> DemoResult:
    root = Path(root)
    info = synthetic.write_dataset(root / "data", category=category, size=image_size)
    goods = sorted(info["good_dir"].glob("*.png"))
    train, test_good = goods[: info["n_train_good"]], goods[info["n_train_good"]:]
    bad = sorted(info["bad_dir"].glob("*.png"))
    test = test_good + bad
    labels = np.array([0] * len(test_good) + [1] * len(bad))

    detector = create_model(model, backbone=backbone, image_size=image_size)
    report = detector.fit(train, progress=progress, should_stop=should_stop)
    started = time.perf_counter()
    pred = detector.predict(test, progress=progress, should_stop=should_stop)
    per_image_ms = (time.perf_counter() - started) * 1000 / len(test)

    size = detector.preprocess.output_size
    masks = np.stack([np.zeros((size, size), bool) for _ in test_good]
                     + [detector.preprocess.mask(read_image(info["mask_dir"] / p.name)) for p in bad])
    metrics = evaluate(pred.image_scores, pred.is_anomalous, labels, pred.anomaly_maps, masks)

    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    csv_path = results / "results.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "raw_score", "normalized_score", "verdict", "label"])
        for i, path in enumerate(test):
            item = pred[i]
            writer.writerow([str(path), f"{item.image_scores[0]:.6g}", f"{item.norm_image_scores[0]:.4f}",
                             item.verdicts[0], "bad" if labels[i] else "good"])
            image = detector.preprocess.image(read_image(path))
            norm_map = detector.pixel_scale.normalize(item.anomaly_maps[0])
            picture = visualize.draw_outline(visualize.overlay(image, norm_map), item.masks[0])
            write_image(results / f"{path.parent.name}_{path.stem}_overlay.png", picture)
    (results / "metrics.json").write_text(json.dumps(metrics.to_dict(), indent=2), encoding="utf-8")
    return DemoResult(root / "data", results, csv_path, metrics, report.seconds, per_image_ms, report.n_train,
                      report.details.get("memory_bank"))
