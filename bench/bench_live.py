"""Live-mode figures: judged frames per second and end-to-end latency (capture to verdict).

A 640x480 MJPG video (synthetic parts, some defective) plays in real time at 30 fps like a camera;
PatchCore and PaDiM with the bundled efficientnet_lite0 backbone judge the newest frame whenever
they are free (verdicts logged to SQLite, as on a station).  First, the timing of the sources and
of pause (the tests check what happens and in what order; the figures are measured here): a file
played at its rate, a folder slideshow, how soon a pause holds and a resume delivers, and the
latency of a model slower than the camera against its bound (2 inferences + 1 frame interval).
Usage::

    python bench/bench_live.py                    # 10 s at 30 fps, image size 256, onnxruntime
    python bench/bench_live.py --runtime torch --busy   # torch, while another process burns a core
    python bench/bench_live.py --timing-only      # only the source / pause / slow-model figures
    python bench/bench_live.py --frame 800x600 --geometry tiles --models patchcore   # a tiled model (issue 22)
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


def _wait(condition, timeout: float = 30.0) -> float:
    """Seconds until ``condition()`` (polled every 0.5 ms)."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise SystemExit("timed out")
        time.sleep(0.0005)
    return time.perf_counter() - started


def timing(workdir: Path, fps: float) -> None:
    """Source pacing, pause / resume reaction and the latency bound of a slow model (measured, printed)."""
    from hamacho_core.imageio import write_image
    from hamacho_core.live import FolderSource, LatestFrameGrabber, LiveInspector, VideoFileSource
    from hamacho_core.models import PatchCore, PatchCoreConfig
    from hamacho_core.synthetic import make_samples

    samples = make_samples("texture", 60, 0, size=64, seed=5)
    small = workdir / "small.avi"
    writer = cv2.VideoWriter(str(small), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 64))
    for s in samples:
        writer.write(cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
    writer.release()
    source = VideoFileSource(small, realtime=True)
    started = time.perf_counter()
    with source:
        n = 0
        while source.read() is not None:
            n += 1
    rate = (n - 1) / (time.perf_counter() - started)
    print(f"video file at its rate: {n} frames at {rate:.1f} fps (file: {fps:g} fps)")
    folder = workdir / "slides"
    folder.mkdir()
    for i, s in enumerate(samples[:6]):
        write_image(folder / f"{i}.png", s.image)
    slides = FolderSource(folder, interval_s=0.05)
    started = time.perf_counter()
    with slides:
        while slides.read() is not None:
            pass
    print(f"folder slideshow, 0.05 s per image: {(time.perf_counter() - started) / 5:.3f} s per image")

    grabber = LatestFrameGrabber(VideoFileSource(small, realtime=True, loop=True)).start()
    first = grabber.latest(timeout=30)
    t = time.perf_counter()
    grabber.latest(10**9, timeout=0.0)
    print(f"latest(timeout=0) returned in {(time.perf_counter() - t) * 1000:.2f} ms")
    _wait(lambda: grabber.frames_read >= first.index + 5)
    grabber.set_paused(True)
    held_s = _wait(lambda: grabber.waiting)
    newest = grabber.latest(timeout=1)
    read = grabber.frames_read
    time.sleep(0.5)
    held_ok = grabber.frames_read == read
    t = time.perf_counter()
    grabber.set_paused(False)
    nxt = grabber.latest(newest.index, timeout=5)
    print(f"pause held after {held_s * 1000:.1f} ms (frame interval {1000 / fps:.1f} ms); read while paused "
          f"0.5 s: {'none' if held_ok else grabber.frames_read - read}; first frame after resume in "
          f"{(time.perf_counter() - t) * 1000:.1f} ms (frame {nxt.index if nxt else None})")
    grabber.stop()

    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=64))
    model.fit([s.image for s in samples[:12]])

    class Slow:
        def __init__(self, delay):
            self.delay = delay

        def predict(self, image):
            time.sleep(self.delay)
            return model.predict(image)

        def __getattr__(self, name):
            return getattr(model, name)

    results = []
    source = VideoFileSource(small, realtime=True)
    summary = LiveInspector(Slow(0.2), source).run(results.append, lambda: False)
    interval_ms = 1000 / source.fps
    worst = max(r.latency_ms - (2 * r.inference_ms + interval_ms) for r in results)
    print(f"model 200 ms slower, camera {source.fps:g} fps: judged {summary['judged']} of {summary['frames_read']} "
          f"({summary['dropped']} dropped); latency p95 {summary['p95_latency_ms']:.0f} ms, max "
          f"{summary['max_latency_ms']:.0f} ms; worst margin to 2 inferences + 1 interval: {worst:+.0f} ms "
          f"({'within' if worst < 0 else 'OVER'} the bound)", flush=True)


def bench(kind: str, video: Path, n_frames: int, args, workdir: Path) -> dict:
    from hamacho_core.live import InspectionLog, LiveInspector, VideoFileSource
    from hamacho_core.models import create_model
    from hamacho_core.synthetic import make_samples

    train = [camera_frame(s.image) for s in make_samples("part", args.train, 0, size=H, seed=3)]
    geometry = {"geometry": "tiles", "tile_scale": 1.0} if args.geometry == "tiles" else {"geometry": args.geometry}
    model = create_model(kind, backbone="efficientnet_lite0", image_size=args.image_size, runtime=args.runtime,
                         threads=args.threads, **geometry)
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
    parser.add_argument("--frame", default=f"{W}x{H}", help="the camera's frame size, WxH")
    parser.add_argument("--geometry", choices=("fixed", "aspect", "tiles"), default="fixed",
                        help="the model's input geometry (tiles: full-resolution 256 px tiles)")
    parser.add_argument("--train", type=int, default=20, help="good training images")
    parser.add_argument("--models", nargs="+", default=["patchcore", "padim"])
    parser.add_argument("--threads", type=int, default=None,
                        help="runtime threads (default: HAMACHO_THREADS or the CPU count, at most 4)")
    parser.add_argument("--runtime", choices=("onnxruntime", "torch"), default="onnxruntime")
    parser.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    parser.add_argument("--timing-only", action="store_true",
                        help="only the source, pause and slow-model timing figures (a few seconds)")
    args = parser.parse_args()
    global W, H
    W, H = (int(v) for v in args.frame.lower().split("x"))

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
        timing(workdir, args.fps)
        if args.timing_only:
            return
        video, n = make_video(workdir / "camera.avi", args.seconds, args.fps)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{W}x{H} MJPG video, {n} frames at {args.fps:g} fps (realtime), image size {args.image_size}, "
              f"geometry {args.geometry}, "
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
