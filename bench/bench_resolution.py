"""Small defects on large images: input geometries side by side on the high-resolution synthetic
category (``hamacho_core.synthetic_hires``: 2048x2048 plates, 600x1600 strips, 13-23 px hairlines,
pin-holes and specks).  Per setting, each fitted and evaluated in its own process: fit seconds,
inspection ms per image (files decoded, end to end), peak RSS, memory-bank rows, image AUROC,
recall of the defective images at the calibrated threshold and pixel AUROC (maps and masks compared
on the original image at a quarter of its resolution, whatever the model's input).  Then a 20 MP
image inspected by ``hamacho inspect`` with a tiled full-resolution model: its peak RSS.

    python bench/bench_resolution.py                      # everything (about 30 min on 2 cores)
    python bench/bench_resolution.py --category strip --only fixed-256,aspect-256
    python bench/bench_resolution.py --skip-20mp --cache /tmp/hires   # keep the generated images
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: name -> (model kind, config fields); the ensemble combines the named settings' normalised scores.
SETTINGS: dict[str, dict] = {
    "fixed-256": {"geometry": "fixed", "image_size": 256},
    "fixed-512": {"geometry": "fixed", "image_size": 512},
    "aspect-256": {"geometry": "aspect", "image_size": 256},
    # the whole image through the backbone once, at full and half resolution of a 600 px strip (issue 22: what
    # tiles cost over one pass of the same pixels)
    "aspect-600": {"geometry": "aspect", "image_size": 600},
    "aspect-300": {"geometry": "aspect", "image_size": 300},
    "tiles-0.5": {"geometry": "tiles", "tile_scale": 0.5},
    "tiles-0.5-lite1": {"geometry": "tiles", "tile_scale": 0.5, "backbone": "efficientnet_lite1"},
    "tiles-0.5-lite2": {"geometry": "tiles", "tile_scale": 0.5, "backbone": "efficientnet_lite2"},
    "tiles": {"geometry": "tiles"},  # the defaults: full resolution, overlap 1/8, coreset auto
    "tiles-o0.25": {"geometry": "tiles", "tile_overlap": 0.25},
    "tiles-o0-c0.005": {"geometry": "tiles", "tile_overlap": 0.0, "coreset_ratio": 0.005},
    "tiles-0.5-padim": {"kind": "padim", "geometry": "tiles", "tile_scale": 0.5},
    "tiles-c0.005": {"geometry": "tiles", "coreset_ratio": 0.005},
    "tiles-0.5-c0.01": {"geometry": "tiles", "tile_scale": 0.5, "coreset_ratio": 0.01},
}
ENSEMBLE = ("tiles-0.5", "tiles-0.5-lite1", "tiles-0.5-lite2")
PIXEL_STEP = 4  # pixel AUROC on the original image at 1/4 of its resolution


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ``ru_maxrss`` it does not start from the parent's peak
    at fork, which here held the generated 2048x2048 images)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(name: str, train_dir: Path, test_dir: Path, out: Path) -> dict:
    """Fit and evaluate one setting (in this process); scores are saved for the ensemble."""
    import cv2

    from hamacho_core.dataset import load_dataset
    from hamacho_core.imageio import read_image
    from hamacho_core.jobs import fit_dataset
    from hamacho_core.metrics import _auroc
    from hamacho_core.models import REGISTRY

    fields = dict(SETTINGS[name])
    kind = fields.pop("kind", "patchcore")
    train, test = load_dataset(train_dir), load_dataset(test_dir)
    started = time.perf_counter()
    fit = fit_dataset(train, kind, config=REGISTRY[kind].config(**fields))
    fit_s = time.perf_counter() - started
    model = fit.model
    # A hamacho-layout test folder: its good/ (never trained on) and bad/; one MVTec dataset: its test/.
    items = list(test.test) if train_dir == test_dir else list(test.train) + list(test.test)
    scores, labels, pix_scores, pix_labels, times = [], [], [], [], []
    for item in items:
        t0 = time.perf_counter()
        pred = model.predict(item.path)  # decoded from the file, as inspect does
        times.append(time.perf_counter() - t0)
        scores.append(float(pred.image_scores[0]))
        labels.append(item.label)
        if item.mask_path is not None or item.label == 0:
            h, w = read_image(item.path).shape[:2]
            small = model.preprocess.to_image(pred.anomaly_maps[0], h // PIXEL_STEP, w // PIXEL_STEP)
            if item.mask_path is not None:
                mask = cv2.resize((read_image(item.mask_path) > 0).astype(np.float32), (w // PIXEL_STEP,
                                  h // PIXEL_STEP), interpolation=cv2.INTER_AREA) > 0
            else:
                mask = np.zeros_like(small, bool)
            pix_scores.append(small.ravel())
            pix_labels.append(mask.ravel())
    peak_mb = _peak_rss_mb()  # fit and inspection (the AUROC below sorts millions of pixels)
    scores, labels = np.array(scores), np.array(labels)
    judge = model.judge
    flagged = judge.verdicts(scores) == "NG"
    bank = getattr(model, "memory_bank", None)
    row = {
        "setting": name, "backbone": model.config.backbone, "model": kind,
        "input": "x".join(map(str, (model.preprocess.width, model.preprocess.height))),
        "tiles": model.units, "fit_s": fit_s, "ms_per_image": 1000 * float(np.median(times)),
        "peak_rss_mb": peak_mb,
        "bank_rows": int(len(bank)) if bank is not None else int(model.mean.shape[1]),
        "image_auroc": _auroc(labels, scores),
        "recall": float(np.mean(flagged[labels == 1])),
        "false_alarms": float(np.mean(flagged[labels == 0])),
        "pixel_auroc": _auroc(np.concatenate(pix_labels).astype(int), np.concatenate(pix_scores)),
    }
    np.savez(out / f"{name}.npz", scores=scores, labels=labels,
             normalised=judge.normalize(scores))
    return row


def ensemble_row(names: tuple[str, ...], out: Path, rows: dict) -> dict | None:
    """Mean of the settings' normalised scores (each normalised on its own good validation images,
    threshold at 0.5): the PatchCore paper's backbone ensemble."""
    from hamacho_core.metrics import _auroc

    files = [out / f"{n}.npz" for n in names]
    if not all(f.exists() for f in files):
        return None
    data = [np.load(f) for f in files]
    combined = np.mean([d["normalised"] for d in data], axis=0)
    labels = data[0]["labels"]
    return {"setting": "ensemble(" + "+".join(names) + ")", "backbone": "lite0+1+2", "model": "patchcore",
            "input": rows[names[0]]["input"], "tiles": rows[names[0]]["tiles"],
            "fit_s": sum(rows[n]["fit_s"] for n in names), "ms_per_image": sum(rows[n]["ms_per_image"] for n in names),
            "peak_rss_mb": max(rows[n]["peak_rss_mb"] for n in names),
            "bank_rows": sum(rows[n]["bank_rows"] for n in names), "image_auroc": _auroc(labels, combined),
            "recall": float(np.mean(combined[labels == 1] >= 0.5)),
            "false_alarms": float(np.mean(combined[labels == 0] >= 0.5)), "pixel_auroc": None}


def twenty_mp(work: Path) -> dict:
    """Fit a tiled model (defaults: full resolution) on three 5472x3648 images, then ``hamacho inspect`` one
    in a fresh process: that process's peak RSS is what the 2 GB budget is about."""
    import cv2

    from hamacho_core.imageio import write_image
    from hamacho_core.synthetic_hires import make_hires_sample

    data = work / "mp20"
    (data / "good").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        image = cv2.resize(make_hires_sample("plate", i, seed=3).image, (5472, 3648), interpolation=cv2.INTER_CUBIC)
        write_image(data / "good" / f"good_{i}.png", image)
    model = work / "mp20.hmc"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    fit = [sys.executable, "-m", "hamacho_core.cli", "fit", str(data), "-o", str(model), "--geometry", "tiles"]
    t0 = time.perf_counter()
    subprocess.run(fit, check=True, env=env, capture_output=True)
    fit_s = time.perf_counter() - t0
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    inspect = [sys.executable, "-m", "hamacho_core.cli", "inspect", str(model), str(data / "good" / "good_2.png"),
               "--out", str(work / "mp20_out"), "--overwrite"]
    out = subprocess.run([sys.executable, "-c", probe, *inspect], check=True, env=env, capture_output=True, text=True)
    seconds, rss = (float(v) for v in out.stdout.split())
    return {"fit_s": fit_s, "inspect_s": seconds, "peak_rss_mb": rss}


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="plate,strip", help="plate, strip or both (comma-separated)")
    parser.add_argument("--only", help="comma-separated settings (default all): " + ", ".join(SETTINGS))
    parser.add_argument("--scale", type=float, default=1.0, help="generator scale (1: 2048x2048 plates)")
    parser.add_argument("--train", type=int, default=20, help="good training images")
    parser.add_argument("--test", type=int, default=12, help="good and defective test images (each)")
    parser.add_argument("--cache", type=Path, help="keep the generated images here (reused when present)")
    parser.add_argument("--skip-20mp", action="store_true")
    parser.add_argument("--data", type=Path, help="a real MVTec-layout dataset instead of the generated categories "
                        "(fit on train/good, evaluate on test/)")
    parser.add_argument("--one", nargs=4, metavar=("SETTING", "TRAIN", "TEST", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        name, train, test, out = args.one
        print(json.dumps(run_one(name, Path(train), Path(test), Path(out))))
        return 0
    from hamacho_core.synthetic_hires import write_hires_dataset

    names = args.only.split(",") if args.only else list(SETTINGS)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.cache or Path(tmp)
        for category in [args.data.name] if args.data else args.category.split(","):
            base = work / f"{category}-{args.scale:g}"
            train_dir, test_dir = base / "train", base / "test"
            if args.data:
                train_dir = test_dir = args.data.resolve()
                base.mkdir(parents=True, exist_ok=True)
            elif not (base / "done").exists():
                write_hires_dataset(train_dir, category, args.train, 0, 0, scale=args.scale, seed=0)
                write_hires_dataset(test_dir, category, 0, args.test, args.test, scale=args.scale, seed=1)
                (base / "done").write_text("")
            out = base / "scores"
            out.mkdir(exist_ok=True)
            rows = {}
            for name in names:
                proc = subprocess.run([sys.executable, __file__, "--one", name, str(train_dir), str(test_dir),
                                       str(out)], capture_output=True, text=True, env=dict(os.environ,
                                       PYTHONPATH=str(ROOT)))
                if proc.returncode:
                    print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows[name] = json.loads(proc.stdout.strip().splitlines()[-1])
                print(f"  {category} {name}: {rows[name]}", file=sys.stderr, flush=True)
            if all(n in rows for n in ENSEMBLE):
                rows["ensemble"] = ensemble_row(ENSEMBLE, out, rows)
            size = rows[next(iter(rows))]["input"] if rows else "?"
            what = ("fit on train/good, evaluated on test/" if args.data else
                    f"{args.train} good training images; test {args.test} good + {args.test} defective")
            print(f"\n{category} ({what}; first setting's input {size})\n")
            print("| setting | backbone | input | tiles | fit (s) | ms/image | peak RSS (MB) | bank rows | "
                  "image AUROC | recall | false alarms | pixel AUROC |")
            print("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for row in rows.values():
                print(f"| {row['setting']} | {row['backbone']} | {row['input']} | {row['tiles']} | "
                      f"{row['fit_s']:.1f} | {row['ms_per_image']:.0f} | {row['peak_rss_mb']:.0f} | "
                      f"{row['bank_rows']} | {_fmt(row['image_auroc'])} | {_fmt(row['recall'], 2)} | "
                      f"{_fmt(row['false_alarms'], 2)} | {_fmt(row['pixel_auroc'])} |", flush=True)
        if not args.skip_20mp:
            r = twenty_mp(work)
            print(f"\n20 MP (5472x3648) tiled at full resolution: fit {r['fit_s']:.0f} s on 3 images; "
                  f"`hamacho inspect` of one image {r['inspect_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
