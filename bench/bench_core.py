"""Core speed and memory figures: fit seconds, per-image inference (batch 1) and peak RSS.

Each configuration runs in its own process so peak RSS is its own.  Usage::

    python bench/bench_core.py                 # the README table (200 training images at 256 px)
    python bench/bench_core.py --train 50      # quicker
    python bench/bench_core.py --coreset-check # exact-greedy comparison of the coreset

Backbones other than the bundled efficientnet_lite0 run with random weights (speed only: their
pretrained weights cannot be downloaded on the machines these figures are measured on).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

CONFIGS = [
    ("patchcore", "efficientnet_lite0", True),
    ("patchcore", "resnet18", False),
    ("patchcore", "wide_resnet50_2", False),
    ("padim", "efficientnet_lite0", True),
    ("padim", "resnet18", False),
]


def _images(n_good: int, n_bad: int, seed: int, size: int):
    from hamacho_core.synthetic import make_samples

    return make_samples("part", n_good, n_bad, size=size, seed=seed)


def run_one(kind: str, backbone: str, pretrained: bool, n_train: int, size: int, n_test: int) -> dict:
    import numpy as np

    from hamacho_core.models import ValidationSet, create_model

    train = [s.image for s in _images(n_train, 0, 1, size)]
    val = _images(10, 10, 2, size)
    test = [s.image for s in _images(n_test, 0, 3, size)]
    model = create_model(kind, backbone=backbone, image_size=size, pretrained=pretrained)
    started = time.perf_counter()
    report = model.fit(train, validation=ValidationSet([s.image for s in val], [s.label for s in val]))
    fit_s = time.perf_counter() - started
    model.predict(test[0])  # warm-up
    times = []
    for image in test:
        t0 = time.perf_counter()
        model.predict(image)
        times.append(time.perf_counter() - t0)
    add_s = None
    if hasattr(model, "add_images"):  # "add as good" of one false alarm (the GUI's Ctrl+G)
        t0 = time.perf_counter()
        model.add_images([test[0]])
        add_s = round(time.perf_counter() - t0, 2)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": kind, "backbone": backbone, "weights": "bundled" if pretrained else "random",
            "train_images": n_train, "fit_s": round(fit_s, 1), "infer_ms": round(1000 * float(np.median(times)), 1),
            "peak_rss_mb": round(peak_mb), "bank": report.details.get("memory_bank"), "add_good_s": add_s}


def coreset_check(n_points: int, dim: int, ratio: float) -> dict:
    """Our coreset against a naive exact greedy loop (preallocated, in place) on real patch features."""
    import numpy as np

    from hamacho_core.coreset import covering_radius, greedy_coreset, random_projection
    from hamacho_core.models import create_model

    model = create_model("patchcore", backbone="efficientnet_lite0", image_size=256)
    feats = []
    for _done, batch in model.iter_batches([s.image for s in _images(n_points // 1024 + 1, 0, 1, 256)]):
        emb = model.embed(batch)
        feats.append(emb.permute(0, 2, 3, 1).reshape(-1, emb.shape[1]).numpy())
    features = np.concatenate(feats)[:n_points]
    k = int(ratio * len(features))
    t0 = time.perf_counter()
    ours = greedy_coreset(features, k, projection_dim=dim, seed=0, start_index=0)
    t_ours = time.perf_counter() - t0
    proj = random_projection(features, dim, 0)
    t0 = time.perf_counter()
    naive = np.empty(k, dtype=np.int64)
    naive[0] = 0
    best = np.empty(len(proj), dtype=np.float32)
    tmp = np.empty_like(proj)
    np.subtract(proj, proj[0], out=tmp)
    np.einsum("ij,ij->i", tmp, tmp, out=best)
    dist = np.empty_like(best)
    for step in range(1, k):
        naive[step] = int(np.argmax(best))
        np.subtract(proj, proj[naive[step]], out=tmp)
        np.einsum("ij,ij->i", tmp, tmp, out=dist)
        np.minimum(best, dist, out=best)
    t_naive = time.perf_counter() - t0
    return {"points": len(features), "selected": k, "ours_s": round(t_ours, 2), "naive_s": round(t_naive, 2),
            "same_indices": float(np.mean(np.sort(ours) == np.sort(naive))),
            "radius_ours_projected": covering_radius(proj, ours),
            "radius_naive_projected": covering_radius(proj, naive),
            "radius_ours_full": covering_radius(features, ours),
            "radius_naive_full": covering_radius(features, naive)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--test", type=int, default=20)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--coreset-check", action="store_true")
    parser.add_argument("--points", type=int, default=51200)
    args = parser.parse_args()
    if args.coreset_check:
        print(json.dumps(coreset_check(args.points, 128, 0.1), indent=2))
        return
    if args.one:
        kind, backbone, pretrained = args.one.split(":")
        print(json.dumps(run_one(kind, backbone, pretrained == "1", args.train, args.size, args.test)))
        return
    print(f"{os.cpu_count()} CPUs; {args.train} training images at {args.size} px; inference batch 1\n")
    print("| model | backbone | weights | fit (s) | inference (ms/image) | peak RSS (MB) | memory bank "
          "| add as good (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, backbone, pretrained in CONFIGS:
        cmd = [sys.executable, __file__, "--one", f"{kind}:{backbone}:{int(pretrained)}", "--train",
               str(args.train), "--size", str(args.size), "--test", str(args.test)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"| {kind} | {backbone} | failed: {out.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {r['model']} | {r['backbone']} | {r['weights']} | {r['fit_s']} | {r['infer_ms']} | "
              f"{r['peak_rss_mb']} | {r['bank'] or '-'} | {r['add_good_s'] or '-'} |", flush=True)


if __name__ == "__main__":
    main()
