"""Batch throughput: ``hamacho batch`` (the real command, a process, start-up included) with 1 and 2 local
workers and on a 2-node Ray cluster on 127.0.0.1 (1 CPU each), with the per-image cost split.

The archive is the real hazelnut photos of ``../shared/data`` (512x512 PNG), copied until it holds
``--images`` files (default 400), or generated 512 px images when the photos are not there.  The
model is PatchCore with the bundled backbone and the default settings (256 px), fitted on the
photos' train/good.

    python bench/bench_batch.py [--images 400] [--no-ray]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PHOTOS = ROOT.parent / "shared" / "data" / "hazelnut_toy"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _archive(folder: Path, n: int) -> tuple[list[Path], str]:
    from hamacho_core.imageio import write_image
    from hamacho_core.synthetic import make_samples

    folder.mkdir(parents=True)
    if PHOTOS.is_dir():
        photos = sorted(PHOTOS.glob("t*/*/*.png"))
        for i in range(n):
            shutil.copyfile(photos[i % len(photos)], folder / f"{i // 100:03d}_{i:05d}.png")
        return sorted(PHOTOS.glob("train/good/*.png")), f"{len(photos)} hazelnut photos (512x512 PNG) copied to {n}"
    samples = make_samples("part", n // 2, n - n // 2, size=512, seed=1)
    for i, smp in enumerate(samples):
        write_image(folder / f"{i // 100:03d}_{i:05d}.png", smp.image)
    return [], f"{n} generated 512x512 images (no real photos found)"


def _run(args: list[str]) -> dict:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "batch", *args], capture_output=True, text=True,
                          env=env, timeout=3600)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    judged = re.search(r"Judged (\d+) of \d+ images in ([\d.]+) s \(([\d.]+) images/s", done.stdout)
    cost = re.search(r"read ([\d.]+) ms, decode ([\d.]+) ms, model ([\d.]+) ms, write ([\d.]+) ms", done.stdout)
    workers = re.findall(r"worker \S+: (\d+) images, ([\d.]+) images/s", done.stdout)
    return {"images": int(judged[1]), "batch_s": float(judged[2]), "rate": float(judged[3]), "wall_s": wall,
            "cost": tuple(map(float, cost.groups())), "per_worker": [float(r) for _n, r in workers]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray cluster run")
    args = parser.parse_args(argv)
    from hamacho_core.model_io import save_model
    from hamacho_core.models import PatchCore, PatchCoreConfig

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, described = _archive(tmp / "archive", args.images)
        model = PatchCore(PatchCoreConfig())
        if train:
            model.fit(train)
        else:
            from hamacho_core.synthetic import make_samples

            model.fit([s.image for s in make_samples("part", 20, 0, size=512, seed=0)])
        save_model(model, tmp / "model.hmc")
        for workers in (1, 2):
            results.append((f"local, {workers} worker process(es)",
                            _run([str(tmp / "model.hmc"), str(tmp / "archive"), "--out", str(tmp / f"local{workers}"),
                                  "--workers", str(workers)])))
        if not args.no_ray:
            ray = Path(sys.executable).with_name("ray")
            env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
            port = _free_port()
            subprocess.run([str(ray), "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                            "--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats"], check=True,
                           capture_output=True, env=env)
            try:
                subprocess.run([str(ray), "start", "--address", f"127.0.0.1:{port}", "--node-ip-address",
                                "127.0.0.1", "--num-cpus", "1"], check=True, capture_output=True, env=env)
                results.append(("Ray, 2 nodes x 1 CPU on 127.0.0.1",
                                _run([str(tmp / "model.hmc"), str(tmp / "archive"), "--out", str(tmp / "ray"),
                                      "--ray", f"127.0.0.1:{port}"])))
            finally:
                subprocess.run([str(ray), "stop", "--force"], capture_output=True, env=env)
        writes = _driver_writes(tmp / "writes")
        bookkeeping = _driver_bookkeeping(tmp / "million")
    print(f"\nArchive: {described}; PatchCore, bundled efficientnet_lite0, 256 px; this {os.cpu_count()}-CPU machine\n")
    print("| run | images | process wall (s) | batch (s) | images/s | per worker (images/s judging) | read | "
          "decode | model | write (ms/image) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results:
        read, decode, model_ms, write = r["cost"]
        print(f"| {name} | {r['images']} | {r['wall_s']:.1f} | {r['batch_s']:.1f} | {r['rate']:.1f} | "
              f"{', '.join(f'{x:.1f}' for x in r['per_worker'])} | {read:.1f} | {decode:.1f} | {model_ms:.1f} | "
              f"{write:.2f} |")
    print("\nDriver side, writing a chunk's rows (one Parquet file, fsynced) on this machine's disk:\n")
    print("| chunk size | ms per chunk | ms per image | chunks/s | images/s the driver can write |")
    print("|---|---|---|---|---|")
    for size, ms in writes:
        print(f"| {size} | {ms:.2f} | {ms / size:.4f} | {1000 / ms:.0f} | {size * 1000 / ms:,.0f} |")
    rows, scan_s, check_s, peak_mb = bookkeeping
    print(f"\nDriver bookkeeping on {rows:,} rows in {rows // 4000} files: resume scan {scan_s:.1f} s, end check "
          f"{check_s:.1f} s; peak RSS of this process {peak_mb} MB")
    return 0


def _driver_bookkeeping(folder: Path, files: int = 250, per_file: int = 4000) -> tuple[int, float, float, int]:
    """The resume scan and the end check on a dataset of ``files * per_file`` rows."""
    import resource

    from hamacho_core.batch.results import ResultStore, path_key

    store = ResultStore(folder, "0" * 64)
    row = {"path": "/archive/2026/11/30/line1/cam2/part", "size": 274088, "mtime": 1.8e9, "raw_score": 18.25,
           "normalized_score": 0.31, "verdict": "OK", "error": None, "worker": "node17:40211", "seconds": 0.027,
           "model_sha256": "0" * 64, "judged_at": "2026-12-02T06:42:35.123Z"}
    for f in range(files):
        store.write([dict(row, path=f"{row['path']}_{f}_{i}.png") for i in range(per_file)])
    started = time.perf_counter()
    store.scan()
    scanned = time.perf_counter()
    check = store.check(path_key(f"{row['path']}_{f}_{i}.png") for f in range(files) for i in range(per_file))
    assert check.exact
    return files * per_file, scanned - started, time.perf_counter() - scanned, \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _driver_writes(folder: Path) -> list[tuple[int, float]]:
    """Median time of ``ResultStore.write`` for chunks of typical rows."""
    import statistics

    from hamacho_core.batch.results import ResultStore

    store = ResultStore(folder, "0" * 64)
    row = {"path": "/archive/2026/11/30/line1/cam2/part_0012345.png", "size": 274088, "mtime": 1.8e9,
           "raw_score": 18.25, "normalized_score": 0.31, "verdict": "OK", "error": None, "worker": "node17:40211",
           "seconds": 0.027, "read_ms": 0.2, "decode_ms": 6.3, "model_ms": 20.1, "model_sha256": "0" * 64,
           "evidence": None, "judged_at": "2026-12-02T06:42:35.123Z"}
    out = []
    for size in (32, 256, 1024, 4096):
        rows = [dict(row, path=f"{row['path']}.{i}") for i in range(size)]
        times = []
        for _ in range(7):
            started = time.perf_counter()
            store.write(rows)
            times.append((time.perf_counter() - started) * 1000)
        out.append((size, statistics.median(times)))
    return out


if __name__ == "__main__":
    sys.exit(main())
