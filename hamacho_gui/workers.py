"""Running work off the GUI thread: one mechanism, the window's lanes.

A job is a callable ``fn(progress, should_stop)`` built on ``hamacho_core`` (plain callbacks, no Qt);
started with an ``on_partial`` handler it is called as ``fn(progress, should_stop, partial)`` and may hand
results over while it runs (see :class:`Partial`).  A lane (:class:`TaskRunner`) runs its tasks on
``QThread``\\ s and talks to widgets only through signals queued to the GUI thread.  Whoever starts a task
passes that task's own handlers, called in the GUI thread: ``on_done(result)``, ``on_failed(message)``,
``on_cancelled()`` and ``on_partial(value)``; the lane's signals (``started``, ``progress``, ``partial``,
``finished``, ``failed``, ``cancelled``, ``idle``) also report every task by name, for generic displays
(progress bars, greyed actions) and observers.  :class:`Workers` holds the lanes of a window:

* ``jobs`` ("replace"): scan, train, inspect, score, export, add-as-good.  A new task cancels the running
  one and starts when it has stopped (the newest request wins; older queued ones are dropped).
* ``files`` ("queue"): model saving, weight hashing and import, library listing.  Queued in order, never
  cancelled by a newer request (a half-done save is never abandoned for a listing).
* ``devices`` ("queue"): camera discovery, line-output connection tests, software triggers: network
  work that may wait for a timeout, kept off the files lane so a save never waits behind it.
* ``thumbnails`` ("generation"): a task is a generation of many small jobs run on
  :data:`THUMB_THREADS` threads, each handing its thumbnail over as a partial result as soon as it is
  ready.  A newer generation (a newer dataset) cancels the older one: its jobs not started are dropped
  and its partial results not yet delivered are discarded.
* ``live`` ("replace", long-running): one job, the live inspection loop (or the camera preview), runs until
  stopped; stopping is its normal end (its summary is its result).  Its frames are handed over with
  :meth:`Partial.latest`: only the newest undelivered result is pending, so a slow display never queues
  results (newest frame wins).

Partial results of a task whose stop was requested are never delivered.  Every failure's traceback goes
to the ``hamacho`` log; the task's ``on_failed`` gets the one-line message.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from hamacho_core.progress import Cancelled

Progress = Callable[[str, int, int], None]
ShouldStop = Callable[[], bool]
Job = Callable[..., Any]  #: ``fn(progress, should_stop)``, or ``fn(progress, should_stop, partial)``
Done = Callable[[Any], None]
Failed = Callable[[str], None]
CancelHandler = Callable[[], None]
PartialHandler = Callable[[Any], None]
POLICIES = ("replace", "queue", "generation")
THUMB_THREADS = 2  #: threads of the thumbnails lane


@dataclass(frozen=True)
class Lane:
    """How a lane runs its tasks: ``policy`` "replace" (a new task cancels the running one), "queue"
    (in order) or "generation" (a task is many small jobs on ``threads`` threads; a new one replaces it);
    ``long_running``: the job runs until stopped, so a stop ends it normally (``on_done`` gets its result)."""

    policy: str
    threads: int = 1
    long_running: bool = False


#: The window's lanes (see the module docstring).
LANES = {"jobs": Lane("replace"), "files": Lane("queue"), "devices": Lane("queue"),
         "thumbnails": Lane("generation", threads=THUMB_THREADS), "live": Lane("replace", long_running=True)}
log = logging.getLogger("hamacho.workers")
_MIN_INTERVAL_S = 0.05  # progress signals at most 20 per second: the event loop stays free
_EMPTY = object()


def guard(widget: QObject, fn: Callable) -> Callable:
    """``fn`` that does nothing once ``widget`` is deleted (a task's handler may outlive its widget)."""
    def call(*args):
        if shiboken6.isValid(widget):
            return fn(*args)
        return None
    return call


class _Task:
    """One started task: its jobs, handlers, stop flag, threads and coalesced partial result."""

    def __init__(self, name: str, job: Job | list[Job], on_done: Done | None, on_failed: Failed | None,
                 on_cancelled: CancelHandler | None, on_partial: PartialHandler | None):
        self.name, self.job = name, job
        self.on_done, self.on_failed, self.on_cancelled, self.on_partial = on_done, on_failed, on_cancelled, on_partial
        self.stop = threading.Event()
        self.threads: list[_Thread] = []
        self.running = 0
        self.lock = threading.Lock()
        self.latest: Any = _EMPTY
        self.jobs: deque[Job] = deque(job) if isinstance(job, list) else deque()


class Partial:
    """Given to a job started with ``on_partial``: ``partial(value)`` delivers every value, in order;
    ``partial.latest(value)`` coalesces: only the newest value not yet delivered is pending (a new one
    replaces it), so a fast producer never queues work for a slow display."""

    def __init__(self, thread: _Thread):
        self._thread, self._task = thread, thread.task

    def __call__(self, value: Any) -> None:
        if not self._task.stop.is_set():
            self._thread.partial.emit(self._task, value)

    def latest(self, value: Any) -> None:
        task = self._task
        with task.lock:
            waiting = task.latest is not _EMPTY
            task.latest = value
        if not waiting and not task.stop.is_set():
            self._thread.latest_ready.emit(task)


class _Thread(QThread):
    progressed = Signal(object, str, int, int, float)  # task, stage, done, total, ETA
    partial = Signal(object, object)  # task, value
    latest_ready = Signal(object)  # task: take its newest partial result
    ended = Signal(object)  # this thread: its outcome is set

    def __init__(self, task: _Task, generation: bool):
        super().__init__()
        self.task, self._generation = task, generation
        self.outcome: tuple = ("cancelled",)  # ("done", result) | ("failed", message, details) | ("cancelled",)
        self._stage = ""
        self._stage_started = 0.0
        self._last_emit = 0.0

    def _progress(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self._stage:
            self._stage, self._stage_started = stage, now
        if done < total and now - self._last_emit < _MIN_INTERVAL_S:
            return
        self._last_emit = now
        elapsed = now - self._stage_started
        eta = elapsed * (total - done) / done if done > 0 and elapsed > 0.5 else -1.0
        self.progressed.emit(self.task, stage, int(done), int(total), float(eta))

    def _call(self, job: Job) -> Any:
        task = self.task
        if task.on_partial is None:
            return job(self._progress, task.stop.is_set)
        return job(self._progress, task.stop.is_set, Partial(self))

    def _drain(self) -> int:
        """A generation: take the next job until none is left or the generation is stopped."""
        task, count = self.task, 0
        while not task.stop.is_set():
            try:
                job = task.jobs.popleft()
            except IndexError:
                break
            try:
                self._call(job)
            except Exception:
                task.stop.set()  # one failed job fails the generation: the others stop
                raise
            count += 1
        return count

    def run(self) -> None:  # runs in the worker thread
        try:
            result = self._drain() if self._generation else self._call(self.task.job)
        except Cancelled:
            self.outcome = ("cancelled",)
        except Exception as exc:  # noqa: BLE001 - every failure must reach the window as a message
            self.outcome = ("failed", str(exc) or type(exc).__name__, traceback.format_exc())
        else:
            self.outcome = ("done", result)
        self.ended.emit(self)


class TaskRunner(QObject):
    """One lane: its tasks with progress, partial results, cancellation and clean shutdown.

    ``policy`` "replace": a new task cancels the running one (newest wins); "queue": tasks run in
    order; "generation": a task is a list of small jobs run on ``threads`` threads (newest wins).
    ``long_running``: a stopped job's result is its normal end (Live's summary), not a cancellation.
    """

    started = Signal(str)  # task name
    progress = Signal(str, str, int, int, float)  # task name, stage, done, total, ETA seconds (-1: unknown)
    partial = Signal(str, object)  # task name, partial result (delivered to its on_partial)
    finished = Signal(str, object)  # task name, result
    failed = Signal(str, str)  # task name, message
    cancelled = Signal(str)  # task name
    idle = Signal()  # nothing running any more

    def __init__(self, parent: QObject | None = None, *, lane: str = "jobs", policy: str = "replace",
                 threads: int = 1, long_running: bool = False):
        super().__init__(parent)
        if policy not in POLICIES:
            raise ValueError(f"unknown lane policy {policy!r}")
        self.lane, self.policy, self.threads, self.long_running = lane, policy, max(1, threads), long_running
        self._task: _Task | None = None
        self._pending: deque[_Task] = deque()
        self.last_traceback = ""

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def current(self) -> str:
        return self._task.name if self._task is not None else ""

    @property
    def _thread(self) -> QThread | None:
        """The running task's (first) thread."""
        return self._task.threads[0] if self._task is not None and self._task.threads else None

    def start(self, name: str, job: Job | Iterable[Job], on_done: Done | None = None, on_failed: Failed | None = None,
              *, on_cancelled: CancelHandler | None = None, on_partial: PartialHandler | None = None) -> None:
        """Run ``job`` now, or after the running task (which a "replace" or "generation" lane cancels first).

        On a "generation" lane ``job`` is an iterable of small jobs and ``on_done`` gets how many ran.
        With ``on_partial`` the job gets a third argument, a :class:`Partial`."""
        jobs = list(job) if self.policy == "generation" else job
        task = _Task(name, jobs, on_done, on_failed, on_cancelled, on_partial)
        if self._task is not None:
            if self.policy != "queue":
                self._pending.clear()
                self._task.stop.set()
            self._pending.append(task)
            return
        self._launch(task)

    def cancel(self) -> None:
        """Stop the running task (its partial results not yet delivered are dropped) and drop the queued ones."""
        self._pending.clear()
        if self._task is not None:
            self._task.stop.set()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything and wait for the workers to end (window closing)."""
        self.cancel()
        return self.wait_idle(timeout_ms)

    def wait_idle(self, timeout_ms: int = 30000) -> bool:
        """Wait (without cancelling) until the running task ended; queued ones are not run."""
        task = self._task
        if task is None:
            return True
        deadline = time.monotonic() + timeout_ms / 1000
        return all([thread.wait(max(0, int((deadline - time.monotonic()) * 1000))) for thread in task.threads])

    def deliver(self) -> None:
        """Deliver now what ended threads have sent (partial results, the end of a task): after
        :meth:`wait_idle`, a task's handlers have run when this returns."""
        QCoreApplication.sendPostedEvents(self, 0)

    def _launch(self, task: _Task) -> None:
        self._task = task
        generation = self.policy == "generation"
        n = max(1, min(self.threads, len(task.jobs))) if generation else 1
        for _ in range(n):
            thread = _Thread(task, generation)
            # Bound methods of this QObject (living in the GUI thread): queued, so they run in the GUI thread.
            thread.progressed.connect(self._on_progress)
            thread.partial.connect(self._on_partial)
            thread.latest_ready.connect(self._on_latest)
            thread.ended.connect(self._on_thread_ended)
            task.threads.append(thread)
        task.running = n
        self.started.emit(task.name)
        for thread in task.threads:
            thread.start()

    def _on_progress(self, task: _Task, stage: str, done: int, total: int, eta: float) -> None:
        if task is self._task:
            self.progress.emit(task.name, stage, done, total, eta)

    def _on_partial(self, task: _Task, value: Any) -> None:
        if task.stop.is_set() or task.on_partial is None:
            return  # cancelled or replaced: its late results are dropped
        task.on_partial(value)
        self.partial.emit(task.name, value)

    def _on_latest(self, task: _Task) -> None:
        with task.lock:
            value, task.latest = task.latest, _EMPTY
        if value is not _EMPTY:
            self._on_partial(task, value)

    def _on_thread_ended(self, thread: _Thread) -> None:
        task = thread.task
        thread.wait()  # run() has returned: only the thread's own exit is left
        thread.deleteLater()
        task.running -= 1
        if task.running > 0 or task is not self._task:
            return
        try:
            self._finish(task)
        finally:
            self._task = None
            if self._pending:
                self._launch(self._pending.popleft())
            else:
                self.idle.emit()

    def _finish(self, task: _Task) -> None:
        """All threads of ``task`` ended: call its handler, then the lane's signal."""
        outcomes = [thread.outcome for thread in task.threads]
        failure = next((o for o in outcomes if o[0] == "failed"), None)
        if failure is not None:
            _, message, details = failure
            self.last_traceback = details
            log.error("%s task %r failed: %s\n%s", self.lane, task.name, message, details)
            if task.on_failed is not None:
                task.on_failed(message)
            self.failed.emit(task.name, message)
        elif any(o[0] == "cancelled" for o in outcomes) or (task.stop.is_set() and not self.long_running):
            if task.on_cancelled is not None:
                task.on_cancelled()
            self.cancelled.emit(task.name)
        else:
            result = sum(o[1] for o in outcomes) if self.policy == "generation" else outcomes[0][1]
            if task.on_done is not None:
                task.on_done(result)
            self.finished.emit(task.name, result)


class Workers(QObject):
    """The window's lanes by name (see the module docstring)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.lanes = {name: TaskRunner(self, lane=name, policy=lane.policy, threads=lane.threads,
                                       long_running=lane.long_running) for name, lane in LANES.items()}

    @property
    def jobs(self) -> TaskRunner:
        return self.lanes["jobs"]

    @property
    def files(self) -> TaskRunner:
        return self.lanes["files"]

    @property
    def devices(self) -> TaskRunner:
        return self.lanes["devices"]

    @property
    def thumbnails(self) -> TaskRunner:
        return self.lanes["thumbnails"]

    @property
    def live(self) -> TaskRunner:
        return self.lanes["live"]

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Let file work (a save) finish, cancel the rest, wait for every lane."""
        ok = self.files.wait_idle(timeout_ms)
        return all([runner.shutdown(timeout_ms) for runner in self.lanes.values()]) and ok


def panel_workers(widget: QObject, workers: Workers | None) -> Workers:
    """``workers`` when given (the window's lanes); else lanes of a panel used on its own (tests, tools),
    owned by the application rather than the panel (a lane's queued "thread ended" call must find its lane
    alive even when the panel is deleted), cancelled and waited for when the panel is destroyed or the
    application quits."""
    if workers is not None:
        return workers
    app = QCoreApplication.instance()
    own = Workers(app)
    app.aboutToQuit.connect(own.shutdown)
    widget.destroyed.connect(lambda *_: own.shutdown() if shiboken6.isValid(own) else None)
    return own
