"""Where a tiled inspection's milliseconds go: decode, preprocess, embed, search, stitch, blur, judge.

Fits a tiled PatchCore (full-resolution 256 px tiles) and a tiled PaDiM on generated 800x600 parts (and
2048x2048 plates with ``--plate``), then judges PNG files one at a time, timing each stage by wrapping the
functions that do it.  Prints the split per image, with ``TILE_BATCH`` values to compare (``--batches``).

    python bench/bench_tiles.py                    # 800x600, 30 training images, 20 judged
    python bench/bench_tiles.py --plate --batches 1,4,8
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np


def _images(kind: str, n: int, seed: int) -> list[np.ndarray]:
    if kind == "plate":
        from hamacho_core.synthetic_hires import make_hires_sample

        return [make_hires_sample("plate", i, seed=seed).image for i in range(n)]
    from hamacho_core.synthetic import make_samples

    return [cv2.resize(s.image, (800, 600), interpolation=cv2.INTER_LINEAR)
            for s in make_samples("part", n, 0, size=512, seed=seed)]


class Timer:
    """Wraps callables so each call's seconds add to a named stage."""

    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[stage] += time.perf_counter() - started
        if isinstance(owner, type):
            setattr(owner, name, timed)
        else:
            object.__setattr__(owner, name, timed)  # also on frozen dataclasses (Preprocess)


def run(kind: str, images: list[np.ndarray], files: list[Path], batch: int) -> dict:
    from hamacho_core.models import base, create_model

    base.TILE_BATCH = batch
    model = create_model(kind, geometry="tiles", tile_scale=1.0, tile_size=256)
    started = time.perf_counter()
    model.fit(images)
    fit_s = time.perf_counter() - started
    timer = Timer()
    timer.wrap(base, "read_image", "decode")  # base.iter_batches reads paths through this name
    timer.wrap(model.preprocess, "batch", "preprocess")
    timer.wrap(model, "embed", "embed")
    if hasattr(model, "index"):
        timer.wrap(model.index, "search", "search")
    timer.wrap(base.MapStitcher, "add", "stitch")
    timer.wrap(base.MapStitcher, "result", "stitch")
    timer.wrap(model, "_finish_maps", "upsample + blur")
    model.predict(str(files[0]))  # warm-up
    timer.totals.clear()
    times = []
    for path in files:
        t = time.perf_counter()
        model.predict(str(path))
        times.append((time.perf_counter() - t) * 1000)
    per_image = {stage: 1000 * total / len(files) for stage, total in timer.totals.items()}
    per_image["other (scores, judge, glue)"] = statistics.mean(times) - sum(per_image.values())
    return {"kind": kind, "batch": batch, "tiles": model.units, "input": f"{model.preprocess.width}x"
            f"{model.preprocess.height}", "fit_s": fit_s, "median_ms": statistics.median(times), "split": per_image,
            "bank": len(model.memory_bank) if hasattr(model, "memory_bank") else None,
            "search": "exact" if not hasattr(model, "index") or model.index.exact else "ivf"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plate", action="store_true", help="2048x2048 plates instead of 800x600 parts")
    parser.add_argument("--train", type=int, default=30)
    parser.add_argument("--test", type=int, default=20)
    parser.add_argument("--batches", default="1,4", help="TILE_BATCH values to compare")
    parser.add_argument("--kinds", default="patchcore,padim")
    args = parser.parse_args()
    from hamacho_core.imageio import write_image

    kind_of_images = "plate" if args.plate else "part"
    train = _images(kind_of_images, args.train, seed=21)
    test = _images(kind_of_images, args.test, seed=22)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, image in enumerate(test):
            files.append(Path(tmp) / f"{i:03d}.png")
            write_image(files[-1], image)
        for kind in args.kinds.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                r = run(kind, train, files, batch)
                split = ", ".join(f"{stage} {ms:.1f}" for stage, ms in r["split"].items())
                print(f"{r['kind']:9s} {r['input']} {r['tiles']} tiles, TILE_BATCH {batch}, bank {r['bank']} "
                      f"({r['search']}): {r['median_ms']:.0f} ms/image median (fit {r['fit_s']:.0f} s) | {split}",
                      flush=True)


if __name__ == "__main__":
    main()
