"""torch vs ONNX Runtime, side by side: import, model load, embed, inspect, fit, peak RSS, and the CLI.

Every figure comes from a fresh process (import time and peak RSS are per process), bundled
efficientnet_lite0, 256 px, batch 1, PNG files on disk (decoding included).  Each configuration runs
once on an idle machine and once while a second process keeps one core busy (a spinning Python loop,
the normal state of a station PC that also runs capture, the GUI and the plant's software).  Usage::

    python bench/bench_runtime.py                  # 200 training images, 40 test images
    python bench/bench_runtime.py --train 50 --test 20 --no-busy
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKER = r"""
import json, resource, statistics, sys, time
t0 = time.perf_counter()
runtime, kind, root, n_embed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if runtime == "torch":
    import torch, torchvision  # what the torch path pays at start-up
from hamacho_core.dataset import load_dataset
from hamacho_core.imageio import read_image
from hamacho_core.model_io import load_model, save_model
from hamacho_core.models import create_model
import_s = time.perf_counter() - t0
out = {"import_s": import_s}
train = load_dataset(root + "/train").train
fit_n = int(sys.argv[5])
path = root + f"/{runtime}-{kind}.hmc"
if fit_n:
    model = create_model(kind, backbone="efficientnet_lite0", image_size=256, runtime=runtime)
    t = time.perf_counter(); model.fit([it.path for it in train[:fit_n]]); out["fit_s"] = time.perf_counter() - t
    save_model(model, path)
# busy runs judge with the model (same memory bank) the idle run fitted and saved
t = time.perf_counter(); model = load_model(path, runtime=runtime); out["load_s"] = time.perf_counter() - t
tests = [it.path for it in load_dataset(root + "/test").test]
batch = model.preprocess.batch([read_image(tests[0])])
times = []
for i in range(n_embed + 3):
    t = time.perf_counter(); model.embed(batch); times.append(time.perf_counter() - t)
out["embed_ms"] = 1000 * statistics.median(times[3:])
times = []
for p in tests[:2] + tests:
    t = time.perf_counter(); model.predict(p); times.append(time.perf_counter() - t)
out["inspect_ms"] = 1000 * statistics.median(times[2:])
out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["torch_loaded"] = "torch" in sys.modules
print("RESULT " + json.dumps(out))
"""

SPIN = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def run_worker(runtime: str, kind: str, root: Path, n_embed: int, fit_n: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", WORKER, runtime, kind, str(root), str(n_embed), str(fit_n)],
                          capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"worker {runtime} {kind} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


def cli_inspect(runtime: str, model: Path, folder: Path) -> float:
    """Wall time of the whole ``hamacho inspect`` process (start-up, decoding, CSV)."""
    out = Path(tempfile.mkdtemp())
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hamacho_core.cli", "inspect", str(model), str(folder), "--recursive",
                    "--out", str(out / "r"), "--runtime", runtime], check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--embed-runs", type=int, default=30)
    parser.add_argument("--no-busy", action="store_true", help="skip the run with one core kept busy")
    parser.add_argument("--runtimes", nargs="+", default=["onnxruntime", "torch"])
    args = parser.parse_args()

    from hamacho_core import synthetic
    from hamacho_core.runtime import default_threads

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthetic.write_dataset(root / "train", category="part", n_train_good=args.train, n_test_good=0,
                                n_test_bad=0, size=256, seed=0)
        synthetic.write_dataset(root / "test", category="part", n_train_good=0, n_test_good=args.test // 2,
                                n_test_bad=args.test - args.test // 2, size=256, seed=1)
        print(f"{os.cpu_count()} CPUs, runtime threads {default_threads()}; efficientnet_lite0, 256 px, batch 1; "
              f"fit on {args.train} PNGs, inspect {args.test} PNGs (median ms, decoding included)")
        header = (f"{'load':6s} {'runtime':12s} {'model':9s} {'import s':>8s} {'load s':>7s} {'embed ms':>8s} "
                  f"{'inspect ms':>10s} {'fit s':>7s} {'RSS MB':>7s} {'CLI inspect s':>13s}")
        print(header)
        figures = {}
        for load in ["idle"] + ([] if args.no_busy else ["busy"]):
            spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if load == "busy" else None
            try:
                for kind in ("patchcore", "padim"):
                    for runtime in args.runtimes:
                        fit_n = args.train if load == "idle" else 0  # busy: the idle run's model
                        r = run_worker(runtime, kind, root, args.embed_runs if load == "idle" else 10, fit_n)
                        cli = cli_inspect(runtime, root / f"{runtime}-{kind}.hmc", root / "test") \
                            if kind == "patchcore" else float("nan")
                        figures[(load, runtime, kind)] = r
                        fit = f"{r['fit_s']:7.1f}" if "fit_s" in r else f"{'-':>7s}"
                        print(f"{load:6s} {runtime:12s} {kind:9s} {r['import_s']:8.2f} {r['load_s']:7.2f} "
                              f"{r['embed_ms']:8.1f} {r['inspect_ms']:10.1f} {fit} {r['rss_mb']:7.0f} "
                              f"{cli:13.1f}", flush=True)
            finally:
                if spinner is not None:
                    spinner.kill()
        if set(args.runtimes) >= {"onnxruntime", "torch"}:
            for load in ["idle"] + ([] if args.no_busy else ["busy"]):
                for kind in ("patchcore", "padim"):
                    ort, tch = figures[(load, "onnxruntime", kind)], figures[(load, "torch", kind)]
                    print(f"{load:6s} {kind:9s} inspect speed-up {tch['inspect_ms'] / ort['inspect_ms']:5.1f}x, "
                          f"embed {tch['embed_ms'] / ort['embed_ms']:5.1f}x "
                          f"(targets: >= 1.5x idle, >= 5x busy; PatchCore inspect <= 25 ms idle)")


if __name__ == "__main__":
    main()
