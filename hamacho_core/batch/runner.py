"""``run_batch``: judge every image the SOURCEs name into a Parquet dataset, resumably and exactly once.

The driver lists paths lazily, skips those this model already judged (``ResultStore.scan``), cuts the
rest into chunks and keeps at most two chunks per worker in flight (back-pressure: memory stays flat
however big the archive); each finished chunk is written at once as one Parquet file.  At the end,
rows that the run replaced are pruned and the dataset is checked: one row per image, none missing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hamacho_core.batch.pools import LocalPool, RayPool
from hamacho_core.batch.results import Check, ResultStore, path_key, stored_path
from hamacho_core.batch.sources import check_sources, iter_paths

IN_FLIGHT_PER_WORKER = 2


@dataclass
class BatchOptions:
    """How a batch runs (the CLI's options; the defaults are the CLI's)."""

    #: local worker processes (default: this PC's CPUs), or Ray actors (default: the cluster's CPUs)
    workers: int | None = None
    ray_address: str | None = None  #: a Ray cluster ("auto", "HOST:PORT", "ray://..."); None: local processes
    chunk_size: int = 32  #: images per task
    evidence: bool = False  #: overlay/map/mask PNGs of NG and REVIEW images in RESULTS/_evidence/
    threads: int | None = 1  #: inference threads per worker (1: one worker per CPU)
    max_retries: int = 3  #: times a chunk is retried after its worker died


@dataclass
class BatchSummary:
    total: int  #: images the SOURCEs name
    skipped: int  #: already judged by this model (resumed)
    judged: int  #: judged by this run
    counts: dict[str, int]  #: this run's verdicts (OK/NG/REVIEW) and "error"
    errors: list[tuple[str, str]]  #: (path, reason), the first 20 of this run
    per_worker: dict[str, dict]  #: worker -> images, seconds judging, images/s
    seconds: float
    check: Check
    pruned: int
    pool: str
    workers: int
    restarts: int = 0
    cost_ms: dict[str, float] = field(default_factory=dict)  #: mean read/decode/model/write ms per image
    stopped: bool = False
    unreadable: list[str] = field(default_factory=list)  #: folders that could not be listed

    @property
    def images_per_s(self) -> float:
        return self.judged / self.seconds if self.seconds > 0 else 0.0


ProgressFn = Callable[[int, int, float], None]  # (done, to do, images/s)


class Listing:
    """The SOURCEs listed once, into a spill file in RESULTS (NUL-separated): the count, the chunks and
    the end check all use this one listing, so an archive that grows meanwhile is judged as it was
    listed (new images: the next run), and memory holds only the 64-bit keys of what is skipped."""

    def __init__(self, folder: Path, run_id: str):
        self.file = folder / f".listing-{run_id}"
        self.total = 0
        self.done = 0  #: paths of ``final`` (already judged) at writing

    def write(self, paths: Iterator[str], final: set[int]) -> None:
        with open(self.file, "wb") as handle:
            for path in paths:
                handle.write(path.encode("utf-8", "surrogateescape") + b"\0")
                self.total += 1
                self.done += path_key(path) in final

    def __iter__(self) -> Iterator[str]:
        with open(self.file, "rb") as handle:
            tail = b""
            while block := handle.read(1 << 20):
                *names, tail = (tail + block).split(b"\0")
                for name in names:
                    yield name.decode("utf-8", "surrogateescape")

    def remove(self) -> None:
        self.file.unlink(missing_ok=True)


def _chunks(paths: Iterator[str], size: int) -> Iterator[list[str]]:
    while chunk := list(itertools.islice(paths, size)):
        yield chunk


def _died_row(path: str, deaths: int, sha: str) -> dict:
    from hamacho_core.batch.worker import _utc_now

    return {"path": path, "model_sha256": sha, "judged_at": _utc_now(), "worker": "",
            "error": f"its worker process died while judging it ({deaths} times): a file that crashes the decoder "
                     "or needs more memory than a worker has"}


def run_batch(model_path: str | Path, sources: Sequence[str], out: str | Path, options: BatchOptions | None = None,
              *, progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
              on_event: Callable[[str, str], None] | None = None) -> BatchSummary:
    """Judge the images of ``sources`` with the model file into the Parquet dataset ``out``."""

    from hamacho_core.batch.sources import is_uri
    from hamacho_core.model_io import load_model, manifest_sha256, read_manifest

    options = options or BatchOptions()
    if is_uri(str(out)):
        raise ValueError(f"--out must be a local or shared folder, not {out} (the results are renamed into place, "
                         "which object stores cannot do): write them to disk, then copy them")
    check_sources(sources)
    model_path = Path(model_path)
    load_model(model_path)  # a bad model file fails here, clearly, before any worker starts
    sha = manifest_sha256(read_manifest(model_path))  # the model's identity: its tensors' checksums and more
    model_bytes = model_path.read_bytes()
    out = Path(out).resolve()  # workers on other nodes write evidence there too
    store = ResultStore(out, sha)
    store.lock()
    listing = Listing(out, store.run_id)
    try:
        return _run(store, listing, sources, model_bytes, sha, out, options, progress, should_stop, on_event)
    finally:
        listing.remove()
        store.unlock()


def _run(store, listing, sources, model_bytes, sha, out, options, progress, should_stop, on_event) -> BatchSummary:
    import os

    final, stale = store.scan()
    pruned = store.prune(final & stale)  # left by a run killed between writing and pruning
    unreadable: list[str] = []
    listing.write(iter_paths(sources, unreadable), final)
    for folder in unreadable:
        if on_event is not None:
            on_event("warning", f"folder not readable, its images are not judged: {stored_path(folder)}")
    total, skipped = listing.total, listing.done
    to_do = total - skipped
    evidence = str(out / "_evidence") if options.evidence else None
    started = time.monotonic()
    counts = {"OK": 0, "NG": 0, "REVIEW": 0, "error": 0}
    errors: list[tuple[str, str]] = []
    per_worker: dict[str, dict] = {}
    cost = {"read_ms": 0.0, "decode_ms": 0.0, "model_ms": 0.0, "write_ms": 0.0}
    judged = 0
    stopped = False
    pool = None
    if to_do:
        workers = options.workers or (os.cpu_count() or 1)
        if options.ray_address:
            pool = RayPool(model_bytes, sha, address=options.ray_address, workers=options.workers,
                           evidence_dir=evidence, threads=options.threads, max_retries=options.max_retries,
                           on_event=on_event)
        else:
            pool = LocalPool(model_bytes, sha, workers=workers, evidence_dir=evidence, threads=options.threads,
                             max_retries=options.max_retries, on_event=on_event)

    def record(rows: list[dict], worker: str) -> None:
        nonlocal judged
        write_started = time.perf_counter()
        store.write(rows)
        cost["write_ms"] += (time.perf_counter() - write_started) * 1000
        judged += len(rows)
        stats = per_worker.setdefault(worker or "(none)", {"images": 0, "seconds": 0.0})
        stats["images"] += len(rows)
        for row in rows:
            stats["seconds"] += row.get("seconds") or 0.0
            if row.get("error"):
                counts["error"] += 1
                if len(errors) < 20:
                    errors.append((stored_path(row["path"]), row["error"]))
            else:
                counts[row["verdict"]] += 1
            for key in ("read_ms", "decode_ms", "model_ms"):
                cost[key] += row.get(key) or 0.0
        if progress is not None:
            elapsed = time.monotonic() - started
            progress(judged, to_do, judged / elapsed if elapsed > 0 else 0.0)

    try:
        pending = _chunks((p for p in listing if path_key(p) not in final), options.chunk_size)
        chunk_ids = itertools.count(1)
        retry: list[list[str]] = []  # halves of chunks that took their worker down
        exhausted = pool is None
        while pool is not None and (not exhausted or retry or pool.in_flight):
            if should_stop is not None and should_stop():
                stopped = True
                break
            while (retry or not exhausted) and pool.in_flight < pool.capacity * IN_FLIGHT_PER_WORKER:
                chunk = retry.pop() if retry else next(pending, None)
                if chunk is None:
                    exhausted = True
                    break
                pool.submit(next(chunk_ids), chunk)
            done = pool.next_done(timeout=0.5)
            for _cid, paths, deaths in pool.take_given_up():
                if len(paths) > 1:  # find the image that kills its worker: halves, then single images
                    retry += [paths[len(paths) // 2:], paths[:len(paths) // 2]]
                else:
                    if on_event is not None:
                        on_event("warning", f"{stored_path(paths[0])} took its worker down {deaths} times: "
                                            "recorded as an error")
                    record([_died_row(paths[0], deaths, sha)], "")
            if done is not None:
                record(done[1], done[2])
    finally:
        restarts = getattr(pool, "restarts", 0)
        if pool is not None:
            pool.close()
    pruned += store.prune(stale)
    for stats in per_worker.values():
        stats["images_per_s"] = stats["images"] / stats["seconds"] if stats["seconds"] else 0.0
    return BatchSummary(total, skipped, judged, counts, errors, per_worker, time.monotonic() - started,
                        store.check(path_key(p) for p in listing), pruned, "none" if pool is None else pool.kind,
                        0 if pool is None else pool.workers, restarts,
                        {k: v / judged for k, v in cost.items()} if judged else {}, stopped, unreadable)
