"""The worker lanes: a files lane runs its jobs in order and never cancels one for a newer; the jobs lane
cancels the running job for the newest; a failure reaches the window as a message and the log as a traceback."""

from __future__ import annotations

import logging
import threading

from hamacho_core.progress import check_stop
from hamacho_gui.workers import Workers


def _job(name, log, gate=None):
    def job(progress, should_stop):
        if gate is not None:
            gate.wait(10)
        check_stop(should_stop, name)
        log.append(name)
        return name
    return job


def test_files_lane_queues_in_order(qtbot):
    workers = Workers()
    done, gate = [], threading.Event()
    for name in ("save", "hash", "list"):
        workers.files.start(name, _job(name, done, gate if name == "save" else None))
    gate.set()
    qtbot.waitUntil(lambda: len(done) == 3, timeout=10_000)
    assert done == ["save", "hash", "list"], "none was cancelled by a newer request"
    assert workers.shutdown()


def test_jobs_lane_newest_wins_and_failures_are_logged(qtbot, caplog):
    workers = Workers()
    done, cancelled, gate = [], [], threading.Event()
    workers.jobs.cancelled.connect(cancelled.append)
    workers.jobs.start("train", _job("train", done, gate))
    workers.jobs.start("scan", _job("scan", done))
    gate.set()
    qtbot.waitUntil(lambda: done == ["scan"], timeout=10_000)
    assert cancelled == ["train"]

    def broken(progress, should_stop):
        raise OSError("disk full")
    messages = []
    with caplog.at_level(logging.ERROR, logger="hamacho.workers"):
        with qtbot.waitSignal(workers.jobs.failed):
            workers.jobs.start("export", broken, on_failed=messages.append)
    assert messages == ["disk full"]
    assert "Traceback" in caplog.text and "OSError: disk full" in caplog.text
    assert workers.shutdown()
