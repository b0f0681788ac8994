"""Live-mode figures: judged frames per second and end-to-end latency (capture to verdict).

A 640x480 MJPG video (synthetic parts, some defective) plays in real time at 30 fps like a camera;
PatchCore and PaDiM with the bundled efficientnet_lite0 backbone judge the newest frame whenever
they are free (verdicts logged to SQLite, as on a station).  Usage::

    python bench/bench_live.py                    # 10 s at 30 fps, image size 256, onnxruntime
    python bench/bench_live.py --runtime torch --busy   # torch, while another process burns a core
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

W, H = 640, 480
TARGET_FPS = {"patchcore": 30.0}
#: Judged frames / offered frames at the camera's rate (issue 9's target for PatchCore).
TARGET_JUDGED = 0.9
SPIN = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def camera_frame(image: np.ndarray) -> np.ndarray:
    """A square synthetic capture framed as a 640x480 camera image (belt continued at the sides)."""
    side = (W - image.shape[1]) // 2
    return cv2.copyMakeBorder(image, 0, 0, side, W - image.shape[1] - side, cv2.BORDER_REFLECT_101)


def make_video(path: Path, seconds: float, fps: float) -> tuple[Path, int]:
    from hamacho_core.synthetic import make_samples

    pool = [camera_frame(s.image) for s in make_samples("part", 24, 6, size=H, seed=7)]
    order = np.random.default_rng(0).permutation(len(pool))
    n = int(round(seconds * fps))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    if not writer.isOpened():
        raise SystemExit("OpenCV cannot write MJPG video here")
    for i in range(n):
        writer.write(cv2.cvtColor(pool[order[i % len(pool)]], cv2.COLOR_RGB2BGR))
    writer.release()
    return path, n


def bench(kind: str, video: Path, n_frames: int, args, workdir: Path) -> dict:
    from hamacho_core.live import InspectionLog, LiveInspector, VideoFileSource
    from hamacho_core.models import create_model
    from hamacho_core.synthetic import make_samples

    train = [camera_frame(s.image) for s in make_samples("part", args.train, 0, size=H, seed=3)]
    model = create_model(kind, backbone="efficientnet_lite0", image_size=args.image_size, runtime=args.runtime,
                         threads=args.threads)
    started = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - started
    offline = []
    for image in train[:2] + train[:10]:  # 2 warm-up, then 10 timed
        t = time.perf_counter()
        model.predict(image)
        offline.append((time.perf_counter() - t) * 1000)
    offline_ms = float(np.mean(offline[2:]))

    results = []
    with InspectionLog(workdir / f"{kind}.sqlite") as log:
        source = VideoFileSource(video, realtime=True)
        summary = LiveInspector(model, source, log=log, model_name=kind).run(results.append, lambda: False)
    latency = np.array([r.latency_ms for r in results])
    inference = np.array([r.inference_ms for r in results])
    return {"kind": kind, "fit_s": fit_s, "offline_ms": offline_ms, "frames": n_frames,
            "judged": summary["judged"], "dropped": summary["dropped"], "fps": summary["fps"],
            "lat_mean": latency.mean(), "lat_p95": np.percentile(latency, 95), "lat_max": latency.max(),
            "inf_mean": inference.mean(), "inf_p95": np.percentile(inference, 95), "state": summary["reason"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=30.0, help="the video's (camera's) frame rate")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--train", type=int, default=20, help="good training images")
    parser.add_argument("--models", nargs="+", default=["patchcore", "padim"])
    parser.add_argument("--threads", type=int, default=None,
                        help="runtime threads (default: HAMACHO_THREADS or the CPU count, at most 4)")
    parser.add_argument("--runtime", choices=("onnxruntime", "torch"), default="onnxruntime")
    parser.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    args = parser.parse_args()

    from hamacho_core.runtime import default_threads

    threads = args.threads or default_threads()
    if args.runtime == "torch":
        import torch

        torch.set_num_threads(threads)
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if args.busy else None
    try:
        run(args, threads)
    finally:
        if spinner is not None:
            spinner.kill()


def run(args, threads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        video, n = make_video(workdir / "camera.avi", args.seconds, args.fps)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{W}x{H} MJPG video, {n} frames at {args.fps:g} fps (realtime), image size {args.image_size}, "
              f"efficientnet_lite0; {os.cpu_count()} CPUs, {args.runtime} threads {threads}, "
              f"load average {load:.2f}{', one core kept busy by another process' if args.busy else ''}")
        print(f"{'model':10s} {'fit s':>6s} {'predict ms':>10s} {'judged':>7s} {'dropped':>7s} {'judged %':>8s} "
              f"{'FPS':>6s} "
              f"{'latency mean':>12s} {'p95':>6s} {'max':>6s} {'inference mean':>14s} {'p95':>6s}")
        for kind in args.models:
            r = bench(kind, video, n, args, workdir)
            target = TARGET_FPS.get(kind)
            share = r["judged"] / max(1, r["frames"])
            verdict = "" if target is None else (
                f"  (targets >= {target:g} FPS and >= {TARGET_JUDGED:.0%} judged: "
                f"{'met' if r['fps'] >= 0.97 * target and share >= TARGET_JUDGED else 'NOT met'})")
            print(f"{kind:10s} {r['fit_s']:6.1f} {r['offline_ms']:10.1f} {r['judged']:7d} {r['dropped']:7d} "
                  f"{share:8.0%} "
                  f"{r['fps']:6.1f} {r['lat_mean']:9.0f} ms {r['lat_p95']:6.0f} {r['lat_max']:6.0f} "
                  f"{r['inf_mean']:11.0f} ms {r['inf_p95']:6.0f}{verdict}", flush=True)


if __name__ == "__main__":
    main()
