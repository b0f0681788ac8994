"""Running core jobs off the GUI thread: one worker layer with lanes.

A job is any callable ``fn(progress, should_stop)`` from ``hamacho_core`` (plain callbacks, no Qt).
A lane (:class:`TaskRunner`) runs one job at a time on a ``QThread`` and talks to widgets only
through signals.  :class:`Workers` holds the window's lanes:

* ``jobs``: scan, train, inspect, export, add-as-good.  A new job cancels the running one and
  starts when it has stopped (the newest request wins; older queued ones are dropped).
* ``files``: model saving, weight hashing and import, backbone listing.  Queued in order, never
  cancelled by a newer request (a half-done save is never abandoned for a listing).

Two more lanes have their own machinery: thumbnails load in parallel on a thread pool
(``dataset_panel``; a newer dataset's generation cancels the older one's), and live video has its own
thread (``live_panel.LiveWorker``, newest frame wins).  Every failure's traceback goes to the
``hamacho`` log; the window shows the one-line message.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from hamacho_core.progress import Cancelled

Job = Callable[[Callable[[str, int, int], None], Callable[[], bool]], Any]
Done = Callable[[Any], None]
Failed = Callable[[str], None]
LANES = {"jobs": "replace", "files": "queue"}  #: lane name -> policy
log = logging.getLogger("hamacho.workers")
_MIN_INTERVAL_S = 0.05  # progress signals at most 20 per second: the event loop stays free


class _Thread(QThread):
    progressed = Signal(str, int, int, float)
    succeeded = Signal(object)
    errored = Signal(str, str)  # message, traceback
    stopped = Signal()

    def __init__(self, job: Job, parent: QObject | None = None):
        super().__init__(parent)
        self._job = job
        self._stop = threading.Event()
        self._stage = ""
        self._stage_started = 0.0
        self._last_emit = 0.0

    def request_stop(self) -> None:
        self._stop.set()

    def _progress(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self._stage:
            self._stage, self._stage_started = stage, now
        if done < total and now - self._last_emit < _MIN_INTERVAL_S:
            return
        self._last_emit = now
        elapsed = now - self._stage_started
        eta = elapsed * (total - done) / done if done > 0 and elapsed > 0.5 else -1.0
        self.progressed.emit(stage, int(done), int(total), float(eta))

    def run(self) -> None:  # runs in the worker thread
        try:
            result = self._job(self._progress, self._stop.is_set)
        except Cancelled:
            self.stopped.emit()
        except Exception as exc:  # noqa: BLE001 - every failure must reach the window as a message
            self.errored.emit(str(exc) or type(exc).__name__, traceback.format_exc())
        else:
            if self._stop.is_set():
                self.stopped.emit()
            else:
                self.succeeded.emit(result)


class TaskRunner(QObject):
    """One lane: one background task at a time, with progress, cancellation and clean shutdown.

    ``policy`` "replace": a new task cancels the running one (newest wins); "queue": tasks run in
    order.  ``start`` may take ``on_done(result)`` / ``on_failed(message)`` callables, called in
    the GUI thread for that task alone (the signals fire for every task).
    """

    started = Signal(str)  # task name
    progress = Signal(str, str, int, int, float)  # task name, stage, done, total, ETA seconds (-1: unknown)
    finished = Signal(str, object)  # task name, result
    failed = Signal(str, str)  # task name, message
    cancelled = Signal(str)  # task name
    idle = Signal()  # nothing running any more

    def __init__(self, parent: QObject | None = None, *, lane: str = "jobs", policy: str = "replace"):
        super().__init__(parent)
        if policy not in ("replace", "queue"):
            raise ValueError(f"unknown lane policy {policy!r}")
        self.lane, self.policy = lane, policy
        self._thread: _Thread | None = None
        self._name = ""
        self._callbacks: tuple[Done | None, Failed | None] = (None, None)
        self._pending: deque[tuple[str, Job, Done | None, Failed | None]] = deque()
        self.last_traceback = ""

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def current(self) -> str:
        return self._name if self._thread is not None else ""

    def start(self, name: str, job: Job, on_done: Done | None = None, on_failed: Failed | None = None) -> None:
        """Run ``job`` now, or after the running task (which a "replace" lane cancels first)."""
        if self._thread is not None:
            if self.policy == "replace":
                self._pending.clear()
                self._thread.request_stop()
            self._pending.append((name, job, on_done, on_failed))
            return
        self._launch(name, job, on_done, on_failed)

    def cancel(self) -> None:
        self._pending.clear()
        if self._thread is not None:
            self._thread.request_stop()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything and wait for the worker to end (window closing)."""
        self._pending.clear()
        thread = self._thread
        if thread is None:
            return True
        thread.request_stop()
        return thread.wait(timeout_ms)

    def wait_idle(self, timeout_ms: int = 30000) -> bool:
        """Wait (without cancelling) until the running task ended; queued ones are not run."""
        thread = self._thread
        return True if thread is None else thread.wait(timeout_ms)

    def _launch(self, name: str, job: Job, on_done: Done | None = None, on_failed: Failed | None = None) -> None:
        thread = _Thread(job)
        self._thread, self._name, self._callbacks = thread, name, (on_done, on_failed)
        # Bound methods of this QObject (living in the GUI thread): queued, so they run in the GUI thread.
        thread.progressed.connect(self._on_progress)
        thread.succeeded.connect(self._on_succeeded)
        thread.errored.connect(self._on_errored)
        thread.stopped.connect(self._on_stopped)
        thread.finished.connect(self._on_thread_finished)
        self.started.emit(name)
        thread.start()

    def _on_progress(self, stage: str, done: int, total: int, eta: float) -> None:
        self.progress.emit(self._name, stage, done, total, eta)

    def _on_succeeded(self, result: object) -> None:
        if self._callbacks[0] is not None:
            self._callbacks[0](result)
        self.finished.emit(self._name, result)

    def _on_errored(self, message: str, details: str) -> None:
        self.last_traceback = details
        log.error("%s task %r failed: %s\n%s", self.lane, self._name, message, details)
        if self._callbacks[1] is not None:
            self._callbacks[1](message)
        self.failed.emit(self._name, message)

    def _on_stopped(self) -> None:
        self.cancelled.emit(self._name)

    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        self._callbacks = (None, None)
        if thread is not None:
            thread.deleteLater()
        if self._pending:
            self._launch(*self._pending.popleft())
        else:
            self.idle.emit()


class Workers(QObject):
    """The window's lanes by name (see the module docstring)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.lanes = {name: TaskRunner(self, lane=name, policy=policy) for name, policy in LANES.items()}

    @property
    def jobs(self) -> TaskRunner:
        return self.lanes["jobs"]

    @property
    def files(self) -> TaskRunner:
        return self.lanes["files"]

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Let file work (a save) finish, cancel the rest, wait for every lane."""
        ok = self.files.wait_idle(timeout_ms)
        return all([runner.shutdown(timeout_ms) for runner in self.lanes.values()]) and ok
