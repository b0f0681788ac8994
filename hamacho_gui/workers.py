"""Running core jobs off the GUI thread.

A job is any callable ``fn(progress, should_stop)`` from ``hamacho_core`` (plain callbacks, no Qt).
:class:`TaskRunner` runs one at a time on a ``QThread`` and talks to widgets only through signals.
Starting a task while another runs cancels the running one and starts the new one when it has
stopped (the newest request wins; older queued ones are dropped).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from hamacho_core.progress import Cancelled

Job = Callable[[Callable[[str, int, int], None], Callable[[], bool]], Any]
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
    """One background task at a time, with progress, cancellation and clean shutdown."""

    started = Signal(str)  # task name
    progress = Signal(str, str, int, int, float)  # task name, stage, done, total, ETA seconds (-1: unknown)
    finished = Signal(str, object)  # task name, result
    failed = Signal(str, str)  # task name, message
    cancelled = Signal(str)  # task name
    idle = Signal()  # nothing running any more

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thread: _Thread | None = None
        self._name = ""
        self._pending: tuple[str, Job] | None = None
        self.last_traceback = ""

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def current(self) -> str:
        return self._name if self._thread is not None else ""

    def start(self, name: str, job: Job) -> None:
        """Run ``job``; if a task is running, cancel it and run this one after it stopped."""
        if self._thread is not None:
            self._pending = (name, job)
            self._thread.request_stop()
            return
        self._launch(name, job)

    def cancel(self) -> None:
        self._pending = None
        if self._thread is not None:
            self._thread.request_stop()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything and wait for the worker to end (window closing)."""
        self._pending = None
        thread = self._thread
        if thread is None:
            return True
        thread.request_stop()
        return thread.wait(timeout_ms)

    def _launch(self, name: str, job: Job) -> None:
        thread = _Thread(job)
        self._thread, self._name = thread, name
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
        self.finished.emit(self._name, result)

    def _on_errored(self, message: str, details: str) -> None:
        self.last_traceback = details
        self.failed.emit(self._name, message)

    def _on_stopped(self) -> None:
        self.cancelled.emit(self._name)

    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        if self._pending is not None:
            name, job = self._pending
            self._pending = None
            self._launch(name, job)
        else:
            self.idle.emit()
