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

_JUDGE = None  # the ChunkJudge of a local worker process


def _exit_with_parent(parent: int) -> None:
    """A worker whose driver died (killed, say) exits within a second instead of lingering."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="hamacho-parent-watch", daemon=True).start()


def _init_local(model_bytes: bytes, model_sha256: str, evidence_dir: str | None, threads: int | None) -> None:
    global _JUDGE
    from hamacho_core.batch.worker import ChunkJudge

    _exit_with_parent(os.getppid())

    _JUDGE = ChunkJudge(model_bytes, model_sha256, evidence_dir=evidence_dir, threads=threads)


def _judge_local(paths: list[str]) -> tuple[list[dict], str]:
    return _JUDGE.judge(paths), _JUDGE.worker


class WorkerDied(RuntimeError):
    """A chunk whose worker died more often than allowed."""


class LocalPool:
    """``workers`` spawned processes; a chunk whose worker dies is retried (``max_retries`` times)."""

    kind = "local"

    def __init__(self, model_bytes: bytes, model_sha256: str, *, workers: int, evidence_dir: str | None = None,
                 threads: int | None = 1, max_retries: int = 3, on_event: Callable[[str, str], None] | None = None):
        self.workers = max(1, int(workers))
        self._args = (model_bytes, model_sha256, evidence_dir, threads)
        self.max_retries = max_retries
        self.on_event = on_event
        self._executor: cf.ProcessPoolExecutor | None = None
        self._futures: dict[cf.Future, tuple[int, list[str]]] = {}
        self._tries: dict[int, int] = {}
        self.restarts = 0
        self._start()

    @property
    def capacity(self) -> int:
        return self.workers

    def _start(self) -> None:
        self._executor = cf.ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_init_local, initargs=self._args)

    def submit(self, chunk_id: int, paths: list[str]) -> None:
        self._futures[self._executor.submit(_judge_local, paths)] = (chunk_id, paths)

    @property
    def in_flight(self) -> int:
        return len(self._futures)

    def next_done(self, timeout: float | None = None) -> tuple[int, list[dict], str] | None:
        """(chunk id, rows, worker) of a finished chunk, or None on timeout.  A dead worker's chunks are
        submitted again on a new pool; past ``max_retries`` a chunk raises :class:`WorkerDied`."""
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        if not done:
            return None
        future = next(iter(done))
        chunk_id, paths = self._futures.pop(future)
        try:
            rows, worker = future.result()
        except cf.process.BrokenProcessPool:
            self._restart_after_death(chunk_id, paths)
            return None
        return chunk_id, rows, worker

    def _restart_after_death(self, chunk_id: int, paths: list[str]) -> None:
        lost = [(chunk_id, paths)] + list(self._futures.values())  # a broken pool fails every pending chunk
        self._futures.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.restarts += 1
        if self.on_event is not None:
            self.on_event("warning", f"a worker process died; {len(lost)} chunk(s) submitted again to new workers")
        self._start()
        for cid, chunk in lost:
            self._tries[cid] = self._tries.get(cid, 0) + 1
            if self._tries[cid] > self.max_retries:
                raise WorkerDied(f"chunk {cid} ({chunk[0]} ...) killed its worker {self._tries[cid]} times")
            self.submit(cid, chunk)

    def worker_pids(self) -> list[int]:
        return [p.pid for p in (self._executor._processes or {}).values()] if self._executor else []

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class RayPool:
    """Ray actors (1 CPU each) on the cluster at ``address`` (``auto``: the one this machine belongs
    to; None: a new local Ray); ``workers`` None: one per CPU of the cluster."""

    kind = "ray"

    def __init__(self, model_bytes: bytes, model_sha256: str, *, address: str | None, workers: int | None = None,
                 evidence_dir: str | None = None, threads: int | None = 1, max_retries: int = 3,
                 on_event: Callable[[str, str], None] | None = None):
        import ray

        self.ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                     runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(1, int(workers) if workers else cpus)
        # once: every actor gets the bytes from the object store (a restarted one too: the driver keeps the ref)
        self._model_ref = ray.put(model_bytes)
        actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=max_retries)(BatchActor)
        self.actors = [actor.remote(self._model_ref, model_sha256, evidence_dir, threads) for _ in range(self.workers)]
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
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if not ready:
            return None
        chunk_id, paths, index = self._refs.pop(ready[0])
        self._load[index] -= 1
        try:
            rows, worker = self.ray.get(ready[0])
        except self.ray.exceptions.RayActorError as exc:  # retries exhausted
            raise WorkerDied(f"chunk {chunk_id} ({paths[0]} ...): its Ray worker died: {exc}") from None
        return chunk_id, rows, worker

    def worker_pids(self) -> list[int]:
        return self.ray.get([a.pid.remote() for a in self.actors])

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
