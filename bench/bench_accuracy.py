"""Accuracy, speed and memory of model settings on every shared real set and the synthetic categories.

For each (dataset, setting): fit on ``train/good`` as ``hamacho fit`` does (20 % held out for the threshold),
then judge ``test/`` image by image: image AUROC, pixel AUROC, AUPRO (FPR <= 0.3), the false-alarm rate at
95 % recall, F1 at the model's own threshold and the best F1 any threshold reaches, fit seconds, ms per
image (``predict`` of the PNG/JPEG file, decoding included, median) and the process's peak RSS.  Each pair
runs in a fresh process.  Nothing here chooses a setting: test sets are only measured.

    python bench/bench_accuracy.py                                   # defaults on every set
    python bench/bench_accuracy.py --sets piped_PA_BRG03_TL,hazelnut_toy \\
        --setting default --setting "coreset 0.01=patchcore:coreset_ratio=0.01"
    python bench/bench_accuracy.py --hires                          # adds the 2048 px plates, 600x1600 strips
    python bench/bench_accuracy.py --setting default --setting auto --candidates   # fit --auto, and how well
                                                                    # its validation ranks the candidates

Shared sets are read from ``../shared/data`` (``--shared``); synthetic sets are generated into ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL_SETS = {
    "hazelnut_toy": "hazelnut_toy",
    "bsdata_pitting": "bsdata_pitting",
    "piped_PA_BRG03_TL": "piped_paper/PA_BRG03_TL",
    "piped_PA_GLA01_TL": "piped_paper/PA_GLA01_TL",
    "piped_PA_FLR01_TL": "piped_paper/PA_FLR01_TL",
}
SYNTHETIC_SETS = ("synthetic_part", "synthetic_texture")
HIRES_SETS = ("synthetic_plate", "synthetic_strip")

WORKER = r"""
import json, resource, sys, time
import numpy as np
from pathlib import Path
from hamacho_core.dataset import load_dataset
from hamacho_core.jobs import fit_dataset
from hamacho_core.metrics import PixelSample, ProCurve, _auroc
from hamacho_core.models import model_spec
from hamacho_core.review import read_mask

root, kind, fields = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
dataset = load_dataset(root)
started = time.perf_counter()
if kind == "auto":  # the product's automatic configuration (its own held-out split and synthetic defects)
    from hamacho_core import autoconfig
    budgets = {k: fields.pop(k) for k in ("max_ms", "budget_min") if k in fields}  # the search's own settings
    fit = autoconfig.search(dataset, pinned=fields, **budgets)
    threshold_source, auto = fit.training["threshold_source"], fit.report.to_dict()
else:
    fit = fit_dataset(dataset, kind, config=model_spec(kind).config(**fields))
    threshold_source, auto = fit.report.threshold_source, None
fit_s = time.perf_counter() - started
model = fit.model
items = list(dataset.test)
h, w = model.preprocess.output_shape
pixels, pro = PixelSample(len(items) * h * w), ProCurve(len(items) * h * w)
scores, labels, verdicts, times = [], [], [], []
TOPK = (0.001, 0.01)  # issue 25: the image score as the mean of the top k of the map's pixels, against its maximum
topk_scores = {k: [] for k in TOPK}
model.predict(str(items[0].path))  # warm-up
for it in items:
    t = time.perf_counter()
    pred = model.predict(str(it.path))
    times.append((time.perf_counter() - t) * 1000)
    scores.append(float(pred.image_scores[0])); labels.append(it.label); verdicts.append(pred.verdicts[0])
    flat = pred.anomaly_maps[0].ravel()
    for k in TOPK:
        n = max(1, int(round(k * flat.size)))
        topk_scores[k].append(float(np.partition(flat, flat.size - n)[flat.size - n:].mean()))
    mask = read_mask(it.mask_path) if it.mask_path is not None else None
    mask = model.preprocess.mask(mask) if mask is not None else np.zeros((h, w), bool)
    pixels.add(pred.anomaly_maps[0], mask)
    pro.add(pred.anomaly_maps[0], mask)
scores, labels = np.array(scores), np.array(labels)
flagged = np.array([v == "NG" for v in verdicts])

def f1(pred):
    tp, fp = int((pred & (labels == 1)).sum()), int((pred & (labels == 0)).sum())
    fn = int((~pred & (labels == 1)).sum())
    return 2 * tp / max(1, 2 * tp + fp + fn)

order = np.unique(scores)
best_f1 = max(f1(scores >= t) for t in order)
bad = np.sort(scores[labels == 1])
cut = bad[int(np.floor(0.05 * len(bad)))] if len(bad) else np.inf  # 95 % of the defects score at least this
out = {
    "image_auroc": _auroc(labels, scores), "pixel_auroc": pixels.auroc(), "aupro": pro.aupro(),
    "fa_at_95_recall": float(np.mean(scores[labels == 0] >= cut)),
    "f1_at_threshold": f1(flagged), "best_f1": best_f1,
    "escapes": int((~flagged & (labels == 1)).sum()), "false_alarms": int((flagged & (labels == 0)).sum()),
    "n_good": int((labels == 0).sum()), "n_bad": int((labels == 1).sum()),
    "fit_s": fit_s, "ms_per_image": float(np.median(times)),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "input": f"{model.preprocess.width}x{model.preprocess.height}", "tiles": model.units,
    "threshold_source": threshold_source, "auto": auto,
    "image_auroc_topk": {f"{k:.1%}": _auroc(labels, np.array(v)) for k, v in topk_scores.items()},
}
print("RESULT " + json.dumps(out))
"""


def _write_mvtec(root: Path, samples_train, samples_test) -> Path:
    """An MVTec-layout folder from synthetic samples (train/good, test/good|defect, ground_truth)."""
    from hamacho_core.synthetic import _write_png

    for sub in ("train/good", "test/good", "test/defect", "ground_truth/defect"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, smp in enumerate(samples_train):
        _write_png(root / "train/good" / f"{i:03d}.png", smp.image)
    for i, smp in enumerate(samples_test):
        if smp.label:
            _write_png(root / "test/defect" / f"{i:03d}.png", smp.image)
            _write_png(root / "ground_truth/defect" / f"{i:03d}_mask.png", smp.mask)
        else:
            _write_png(root / "test/good" / f"{i:03d}.png", smp.image)
    (root / "DONE").write_text("ok")
    return root


def synthetic_set(name: str, cache: Path) -> Path:
    """Generated once into ``cache`` (deterministic): 60 training images, 20 good and 20 defective tests."""
    root = cache / name
    if (root / "DONE").exists():
        return root
    if name in SYNTHETIC_SETS:
        from hamacho_core.synthetic import make_samples

        category = name.split("_", 1)[1]
        train = make_samples(category, 60, 0, size=256, seed=11)
        test = make_samples(category, 20, 20, size=256, seed=12)
        return _write_mvtec(root, train, test)
    from hamacho_core.synthetic_hires import HIRES_DEFECTS, make_hires_sample

    category = name.split("_", 1)[1]
    train = [make_hires_sample(category, i, seed=11) for i in range(20)]
    test = [make_hires_sample(category, 100 + i, seed=12) for i in range(10)]
    test += [make_hires_sample(category, i, defect=HIRES_DEFECTS[i % len(HIRES_DEFECTS)], seed=12) for i in range(10)]
    return _write_mvtec(root, train, test)


def parse_setting(text: str) -> tuple[str, str, dict]:
    """``name=kind:field=value,field=value`` (values as JSON, else text); ``default`` alone is PatchCore's
    defaults."""
    if text == "default":
        return "default", "patchcore", {}
    if text == "auto":  # fit --auto; "NAME=auto:max_ms=2000,geometry=tiles": budgets, and settings pinned by hand
        return "auto", "auto", {}
    name, _, rest = text.partition("=")
    kind, _, assignments = rest.partition(":")
    fields = {}
    for part in filter(None, assignments.split(",")):
        key, _, value = part.partition("=")
        try:
            fields[key] = json.loads(value)
        except json.JSONDecodeError:
            fields[key] = value
    return name, kind, fields


def run_one(root: Path, kind: str, fields: dict, timeout_s: float) -> dict:
    done = subprocess.run([sys.executable, "-c", WORKER, str(root), kind, json.dumps(fields)], capture_output=True,
                          text=True, timeout=timeout_s)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", action="append", help="name=kind:field=value,... (repeatable; default: "
                                                           "'default')")
    parser.add_argument("--sets", help="comma-separated data sets (default: every shared and synthetic set)")
    parser.add_argument("--hires", action="store_true", help="add the high-resolution synthetic categories")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hamacho_bench_accuracy")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--json", type=Path, help="also write every row to this JSON-lines file")
    parser.add_argument("--candidates", action="store_true", help="with the 'auto' setting: also measure every "
                        "candidate auto judged on the test set, and the rank correlation of the two")
    args = parser.parse_args()
    settings = [parse_setting(s) for s in (args.setting or ["default"])]
    names = list(REAL_SETS) + list(SYNTHETIC_SETS) + (list(HIRES_SETS) if args.hires else [])
    if args.sets:
        names = args.sets.split(",")
    print(f"# bench_accuracy {time.strftime('%Y-%m-%d %H:%M')}, settings: "
          + "; ".join(f"{n} = {k} {f}" for n, k, f in settings))
    header = ("| set | setting | image AUROC | pixel AUROC | AUPRO | FA@95%rec | F1 at thr / best | escapes | "
              "fit s | ms/img | peak MB | image AUROC, score = top 0.1 % / 1 % mean |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name in names:
        if name in REAL_SETS:
            root = args.shared / REAL_SETS[name]
            if not root.is_dir():
                print(f"| {name} | (not found at {root}) |")
                continue
        else:
            root = synthetic_set(name, args.cache)
        for setting, kind, fields in settings:
            row = _run_row(root, name, setting, kind, fields, args)
            if kind == "auto" and args.candidates and "auto" in row:
                _honesty(root, name, row["auto"], args)


def _run_row(root: Path, name: str, setting: str, kind: str, fields: dict, args) -> dict:
    row = run_one(root, kind, fields, args.timeout)
    row.update(set=name, setting=setting, kind=kind, fields=fields)
    if args.json:
        with args.json.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
    if "error" in row:
        print(f"| {name} | {setting} | error: {row['error']} |")
        return row
    what = f"{setting} ({row['auto']['winner']})" if row.get("auto") else setting
    print(f"| {name} | {what} | {_fmt(row['image_auroc'])} | {_fmt(row['pixel_auroc'])} | "
          f"{_fmt(row['aupro'])} | {_fmt(row['fa_at_95_recall'], 2)} | {_fmt(row['f1_at_threshold'], 2)} / "
          f"{_fmt(row['best_f1'], 2)} | {row['escapes']}/{row['n_bad']} | {row['fit_s']:.1f} | "
          f"{row['ms_per_image']:.1f} | {row['peak_rss_mb']:.0f} | "
          + " / ".join(_fmt(v) for v in row.get("image_auroc_topk", {}).values()) + " |", flush=True)
    return row


def _honesty(root: Path, name: str, auto: dict, args) -> None:
    """Each candidate auto judged, fitted as ``hamacho fit`` does and measured on the test set; then how well
    auto's validation ranked them (Spearman's rank correlation of validation and test image AUROC)."""
    from scipy.stats import spearmanr

    pairs = []
    for cand in auto["rows"]:
        if cand["image_auroc"] is None:
            continue
        row = _run_row(root, name, f"candidate: {cand['name']} (validation {cand['image_auroc']:.3f})",
                       cand["kind"], cand["settings"], args)
        if "error" not in row and row["image_auroc"] is not None:
            pairs.append((cand["image_auroc"], row["image_auroc"]))
    if len(pairs) >= 3:
        test = [t for _v, t in pairs]
        rho = (f"{spearmanr(*zip(*pairs, strict=True)).statistic:.2f}" if max(test) - min(test) > 1e-9
               else "n/a (every candidate has the same test AUROC)")
        print(f"| {name} | rank correlation, validation vs test image AUROC ({len(pairs)} candidates) | {rho} |",
              flush=True)


if __name__ == "__main__":
    main()
