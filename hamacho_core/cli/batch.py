"""``hamacho batch``: re-judge an archive with a model, on this PC's cores or a Ray cluster.

Exit codes: 0 when every image the SOURCEs name has exactly one row (errors in bad files are rows and
are listed, not failures), 1 when the check found images missing or counted twice, 130 when stopped
(Ctrl-C; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

EPILOG = ("SOURCE is a folder (searched recursively), a glob pattern (quote it: '/archive/2026-*/**/*.png'), an "
          "image file, or a list of paths (@list.txt, or a .txt/.lst file: one path per line). RESULTS is a Parquet "
          "dataset (a folder of part-*.parquet files, one row per image: path, size, mtime, raw_score, "
          "normalized_score, verdict, error, worker, seconds, read/decode/model ms, model_sha256, evidence, "
          "judged_at). Running the same command again skips images this model already judged and redoes "
          "failed ones. Local workers are processes on this PC; --ray runs on a Ray cluster (pip install "
          "\"hamacho[cluster]\"; docs/cluster.md).")


def add_batch_parser(sub) -> None:
    batch = sub.add_parser("batch", help="judge an archive of images into a Parquet dataset (resumable; local "
                                         "processes or a Ray cluster)", epilog=EPILOG)
    batch.add_argument("model", type=Path, help="model file (.hmc)")
    batch.add_argument("sources", nargs="+", metavar="SOURCE", help="folders, glob patterns, images, @path lists")
    batch.add_argument("--out", type=Path, required=True, metavar="RESULTS", help="results folder (Parquet dataset)")
    where = batch.add_mutually_exclusive_group()
    where.add_argument("--ray", metavar="ADDRESS", default=None,
                       help="run on this Ray cluster: auto (the cluster this machine belongs to), HOST:PORT of the "
                            "head, or ray://HOST:10001")
    batch.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes (default: this PC's CPUs; with --ray: the cluster's CPUs)")
    batch.add_argument("--chunk-size", type=int, default=32, metavar="N", help="images per task (32)")
    batch.add_argument("--evidence", action="store_true",
                       help="save overlay, map and mask PNGs of NG and REVIEW images in RESULTS/_evidence/ (readers "
                            "of the dataset skip names starting with _)")
    batch.add_argument("--report", action="store_true",
                       help="write RESULTS/_report.html: counts, a score histogram, the top NG thumbnails")
    batch.set_defaults(func=cmd_batch)


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class _Progress:
    """A progress line on stderr: rewritten in place on a terminal, every 5 s otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int, rate: float) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < 5 and done < total:
            return
        self.last = now
        eta = _duration((total - done) / rate) if rate > 0 else "?"
        width = 30
        filled = int(width * done / total) if total else width
        line = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} images  {rate:.1f} images/s  ETA {eta}"
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def cmd_batch(args: argparse.Namespace) -> int:
    from hamacho_core.batch import BatchOptions, ResultStore, run_batch
    from hamacho_core.batch.report import write_report

    if args.chunk_size < 1 or (args.workers is not None and args.workers < 1):
        raise ValueError("--chunk-size and --workers must be at least 1")
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise ImportError('hamacho batch writes Parquet: pip install "hamacho[batch]" (with Ray: "hamacho[cluster]")')
    if args.ray and importlib.util.find_spec("ray") is None:
        raise ImportError('--ray needs the cluster add-on: pip install "hamacho[cluster]"')
    stop = threading.Event()
    previous = None

    def on_sigint(_signum, _frame) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, on_sigint)
    progress = _Progress()
    options = BatchOptions(workers=args.workers, ray_address=args.ray, chunk_size=args.chunk_size,
                           evidence=args.evidence)
    try:
        summary = run_batch(args.model, args.sources, args.out, options, progress=progress, should_stop=stop.is_set,
                            on_event=lambda level, message: print(f"[{level}] {message}", file=sys.stderr, flush=True))
    finally:
        progress.end()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    c = summary.counts
    where = "nothing to do" if summary.pool == "none" else \
        f"{summary.workers} {'Ray' if summary.pool == 'ray' else 'local'} worker(s)"
    print(f"Judged {summary.judged} of {summary.total} images in {summary.seconds:.1f} s "
          f"({summary.images_per_s:.1f} images/s, {where}); {summary.skipped} already judged by this model, skipped")
    print(f"Verdicts: OK {c['OK']}, NG {c['NG']}, REVIEW {c['REVIEW']}; errors {c['error']}")
    for path, reason in summary.errors:
        print(f"  error: {path}: {reason}")
    for worker, stats in sorted(summary.per_worker.items()):
        print(f"  worker {worker}: {stats['images']} images, {stats['images_per_s']:.1f} images/s while judging")
    if summary.cost_ms:
        m = summary.cost_ms
        print(f"Per image: read {m['read_ms']:.1f} ms, decode {m['decode_ms']:.1f} ms, model {m['model_ms']:.1f} ms, "
              f"write {m['write_ms']:.2f} ms")
    if summary.unreadable:
        print(f"{len(summary.unreadable)} folder(s) could not be read: their images are not in the results")
    if summary.restarts:
        print(f"Worker processes died {summary.restarts} time(s); their chunks were judged again")
    check = summary.check
    if summary.stopped:
        print(f"Stopped: {check.rows} of {summary.total} images have a row; run the same command again to resume")
    elif check.exact:
        print(f"Check: every image exactly once: {summary.total} images, one row each (0 missing, 0 counted twice; "
              f"{summary.pruned} replaced rows removed)"
              + (f"; {check.extra} more rows are of images the SOURCEs no longer name" if check.extra else ""))
    else:
        print(f"hamacho: error: the results do not match the images: {check.missing} missing, {check.duplicates} "
              "counted twice", file=sys.stderr)
    print(f"Results: {args.out} (Parquet dataset)")
    if args.report:
        columns = ["path", "verdict", "normalized_score", "error", "evidence"]
        target = write_report(ResultStore(args.out, "").table(columns), Path(args.out) / "_report.html",
                              title=f"Hamacho batch: {args.model.name}")
        print(f"Report: {target}")
    if summary.stopped:
        return 130
    return 0 if check.exact else 1
