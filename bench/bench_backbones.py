"""The bundled backbones side by side: PatchCore on the demo data (hamacho layout, 256 px), per
backbone: fit seconds, inspection ms per image (ONNX Runtime, batch 1), memory-bank rows x width and
image AUROC on a held-out test set.  Usage::

    python bench/bench_backbones.py [--size 256] [--category part]
    python bench/bench_backbones.py --data ../shared/data/hazelnut_toy   # a real MVTec-layout dataset
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--category", default="part", choices=("part", "texture"))
    parser.add_argument("--data", type=Path, help="a real dataset (fit on its good images, evaluate on its test/)")
    args = parser.parse_args(argv)
    from hamacho_core import synthetic
    from hamacho_core.dataset import load_dataset
    from hamacho_core.jobs import evaluate_dataset, fit_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic.write_dataset(root / "train", category=args.category, n_train_good=30, n_test_good=0,
                                n_test_bad=6, size=args.size, seed=0)
        synthetic.write_dataset(root / "test", category=args.category, n_train_good=0, n_test_good=10,
                                n_test_bad=12, size=args.size, seed=1)
        train, test = load_dataset(root / "train"), load_dataset(root / "test")
        what = args.category
        if args.data is not None:
            train = test = load_dataset(args.data)
            what = args.data.name
        print(f"| backbone | fit (s) | inspect (ms/image) | memory bank | image AUROC ({what}) |")
        print("|---|---|---|---|---|")
        for name in BACKBONES:
            started = time.perf_counter()
            fit = fit_dataset(train, "patchcore", backbone=name, image_size=args.size)
            fit_s = time.perf_counter() - started
            model = fit.model
            from hamacho_core.imageio import read_image

            image = read_image(test.test[0].path) if args.data is not None else \
                np.asarray(synthetic.make_sample(args.category, 99, size=args.size, seed=5).image)
            model.predict(image)
            times = []
            for _ in range(20):
                t0 = time.perf_counter()
                model.predict(image)
                times.append(time.perf_counter() - t0)
            auroc = evaluate_dataset(model, test).metrics.image_auroc
            bank = model.memory_bank.shape
            print(f"| {name} | {fit_s:.1f} | {1000 * float(np.median(times)):.0f} | {bank[0]} x {bank[1]} | "
                  f"{auroc:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
