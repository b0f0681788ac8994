"""Where chunks are judged: worker processes on this PC, or Ray actors on a cluster.  Both load the
model once per worker and take chunks through the same ``submit``/``next_done`` calls, so the batch
loop (``runner``) is one code path.

Local workers are plain processes (``concurrent.futures``, spawned): the station install does not carry
Ray, they start in about a second where a local Ray takes several, and a worker that dies only loses
its chunk (the pool is rebuilt and the chunk submitted again).  On Ray, each worker is an actor built
from the model file's bytes in the object store (``ray.put`` once: a node fetches it once, never from
the file again); Ray restarts an actor whose process dies and retries its chunk.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable

STARTUP_TIMEOUT_S = 300
_JUDGE = None  # the ChunkJudge of a local worker process
_INIT_ERROR: str | None = None  # why it could not be built
#: A chunk that took its worker down this many times is split (an image that kills its worker alone
#: becomes an error row, see ``runner``).
SPLIT_AFTER_DEATHS = 2


def _exit_with_parent(parent: int) -> None:
    """A worker whose driver died (killed, say) exits within a second instead of lingering."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="hamacho-parent-watch", daemon=True).start()


def _init_local(driver: int, model_bytes: bytes, model_sha256: str, evidence_dir: str | None,
                threads: int | None) -> None:
    global _JUDGE, _INIT_ERROR
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's: it stops cleanly
    _exit_with_parent(driver)
    try:
        from hamacho_core.batch.worker import ChunkJudge

        _JUDGE = ChunkJudge(model_bytes, model_sha256, evidence_dir=evidence_dir, threads=threads)
    except Exception as exc:  # noqa: BLE001 - reported by the first task, not as a dead pool
        _INIT_ERROR = f"{type(exc).__name__}: {exc}"


class WorkerSetupError(RuntimeError):
    """A worker could not load the model: the batch cannot run."""


def _judge_local(paths: list[str]) -> tuple[list[dict], str]:
    if _JUDGE is None:
        raise WorkerSetupError(f"a worker could not load the model: {_INIT_ERROR}")
    return _JUDGE.judge(paths), _JUDGE.worker


class LocalPool:
    """``workers`` spawned processes.  When one dies, the pool is rebuilt and every chunk in flight is
    submitted again; a chunk that went down with its worker ``SPLIT_AFTER_DEATHS`` times (a single
    image: ``max_retries`` times) is handed back through :meth:`take_given_up`."""

    kind = "local"

    def __init__(self, model_bytes: bytes, model_sha256: str, *, workers: int, evidence_dir: str | None = None,
                 threads: int | None = 1, max_retries: int = 3, on_event: Callable[[str, str], None] | None = None):
        self.workers = max(1, int(workers))
        self._args = (os.getpid(), model_bytes, model_sha256, evidence_dir, threads)
        self.max_retries = max_retries
        self.on_event = on_event
        self._executor: cf.ProcessPoolExecutor | None = None
        self._futures: dict[cf.Future, tuple[int, list[str]]] = {}
        self._tries: dict[int, int] = {}
        self._ready: list[tuple[int, list[dict], str]] = []
        self._given_up: list[tuple[int, list[str], int]] = []
        self.restarts = 0
        self._start()

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def in_flight(self) -> int:
        return len(self._futures) + len(self._ready)

    def _start(self) -> None:
        self._executor = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_init_local, initargs=self._args)

    def submit(self, chunk_id: int, paths: list[str]) -> None:
        try:
            self._futures[self._executor.submit(_judge_local, paths)] = (chunk_id, paths)
        except cf.process.BrokenProcessPool:  # a worker died since the last look
            self._recover([(chunk_id, paths)], charge=False)

    def take_given_up(self) -> list[tuple[int, list[str], int]]:
        """Chunks that keep killing their worker: (chunk id, paths, deaths)."""
        given_up, self._given_up = self._given_up, []
        return given_up

    def next_done(self, timeout: float | None = None) -> tuple[int, list[dict], str] | None:
        """(chunk id, rows, worker) of a finished chunk, or None (timeout, or a worker died: its chunks
        were submitted again).  A worker that cannot load the model raises :class:`WorkerSetupError`."""
        if not self._ready and self._futures:
            done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
            broken = []
            for future in done:
                chunk = self._futures.pop(future)
                exc = future.exception()
                if exc is None:
                    self._ready.append((chunk[0], *future.result()))
                elif isinstance(exc, cf.process.BrokenProcessPool):
                    broken.append(chunk)
                else:
                    raise exc
            if broken:
                self._recover(broken)
        return self._ready.pop(0) if self._ready else None

    def _recover(self, lost: list[tuple[int, list[str]]], *, charge: bool = True) -> None:
        """Rebuild the pool after a worker died; submit again what was in flight (finished chunks are kept)."""
        while True:
            for future, chunk in list(self._futures.items()):  # a broken pool fails every pending chunk
                if future.done() and future.exception() is None:
                    self._ready.append((chunk[0], *future.result()))
                else:
                    lost.append(chunk)
            self._futures.clear()
            self._terminate()
            self.restarts += 1
            if self.on_event is not None:
                self.on_event("warning", f"a worker process died; {len(lost)} chunk(s) submitted again to new "
                                         "workers")
            self._start()
            resubmit = []
            for cid, chunk in lost:
                if charge:
                    self._tries[cid] = self._tries.get(cid, 0) + 1
                limit = self.max_retries if len(chunk) == 1 else SPLIT_AFTER_DEATHS
                if self._tries.get(cid, 0) >= limit:
                    self._given_up.append((cid, chunk, self._tries[cid]))
                else:
                    resubmit.append((cid, chunk))
            lost, charge = [], True
            try:
                for cid, chunk in resubmit:
                    self._futures[self._executor.submit(_judge_local, chunk)] = (cid, chunk)
                return
            except cf.process.BrokenProcessPool:  # died again at once: the same again, counted
                lost = [c for c in resubmit if c not in self._futures.values()]

    def _terminate(self) -> None:
        if self._executor is not None:
            for process in list((self._executor._processes or {}).values()):
                if process.is_alive():
                    process.terminate()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        self._terminate()  # a stopped run does not wait for its running chunks: they are judged next time


class RayPool:
    """Ray actors (1 CPU each) on the cluster at ``address`` (``auto``: the one this machine belongs
    to; None: a new local Ray); ``workers`` None: one per CPU of the cluster."""

    kind = "ray"

    def __init__(self, model_bytes: bytes, model_sha256: str, *, address: str | None, workers: int | None = None,
                 evidence_dir: str | None = None, threads: int | None = 1, max_retries: int = 3,
                 on_event: Callable[[str, str], None] | None = None):
        import ray

        self.ray = ray
        self.max_retries = max_retries
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                     runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if workers and int(workers) > cpus and on_event is not None:
            on_event("warning", f"--workers {workers}: the cluster has {cpus} CPUs; {cpus} workers")
        self.workers = min(cpus, max(1, int(workers))) if workers else cpus
        # once: every actor gets the bytes from the object store (a restarted one too: the driver keeps the ref)
        self._model_ref = ray.put(model_bytes)
        actor = ray.remote(num_cpus=1, max_restarts=10 * max(1, max_retries), max_task_retries=max_retries)(BatchActor)
        self.actors = [actor.remote(self._model_ref, model_sha256, evidence_dir, threads) for _ in range(self.workers)]
        try:  # every worker up, its model loaded: else say why now rather than wait for ever
            ray.get([a.pid.remote() for a in self.actors], timeout=STARTUP_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise RuntimeError(f"the Ray workers did not start within {STARTUP_TIMEOUT_S} s (are {self.workers} "
                               "CPUs free on the cluster?)") from None
        except ray.exceptions.RayError as exc:
            self.close()
            raise WorkerSetupError(f"a Ray worker could not load the model: {exc}") from None
        self._given_up: list[tuple[int, list[str], int]] = []
        self._refs: dict[object, tuple[int, list[str], int]] = {}  # ref -> chunk id, paths, actor index
        self._load = [0] * self.workers

    @property
    def capacity(self) -> int:
        return self.workers

    @property
    def in_flight(self) -> int:
        return len(self._refs)

    def submit(self, chunk_id: int, paths: list[str]) -> None:
        index = min(range(self.workers), key=self._load.__getitem__)
        self._load[index] += 1
        self._refs[self.actors[index].judge.remote(paths)] = (chunk_id, paths, index)

    def next_done(self, timeout: float | None = None) -> tuple[int, list[dict], str] | None:
        if not self._refs:
            return None
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if not ready:
            return None
        chunk_id, paths, index = self._refs.pop(ready[0])
        self._load[index] -= 1
        try:
            rows, worker = self.ray.get(ready[0])
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.OutOfMemoryError):  # retries exhausted
            self._given_up.append((chunk_id, paths, self.max_retries + 1))
            return None
        return chunk_id, rows, worker

    def take_given_up(self) -> list[tuple[int, list[str], int]]:
        given_up, self._given_up = self._given_up, []
        return given_up

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        if self._owns_ray:
            self.ray.shutdown()


class BatchActor:
    """A Ray worker (``ray::BatchActor`` in the process list): the model loaded once, chunks judged."""

    def __init__(self, model_bytes: bytes, model_sha256: str, evidence_dir: str | None, threads: int | None):
        from hamacho_core.batch.worker import ChunkJudge

        self.judge_ = ChunkJudge(model_bytes, model_sha256, evidence_dir=evidence_dir, threads=threads)

    def judge(self, paths: list[str]) -> tuple[list[dict], str]:
        return self.judge_.judge(paths), self.judge_.worker

    def pid(self) -> int:
        return os.getpid()
