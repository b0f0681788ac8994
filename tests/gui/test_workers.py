"""The worker lanes: a files lane runs its jobs in order and never cancels one for a newer; the jobs lane
cancels the running job for the newest; a failure reaches the window as a message and the log as a
traceback; each task calls its own handlers; a generation of small jobs hands partial results over and a
newer one cancels it; a long-running job keeps only its newest result pending."""

from __future__ import annotations

import logging
import threading
import time

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


def test_each_task_calls_its_own_handlers(qtbot):
    workers = Workers()
    calls, gate = [], threading.Event()

    def handlers(name):
        return {"on_done": lambda r: calls.append((name, "done", r)),
                "on_failed": lambda m: calls.append((name, "failed", m)),
                "on_cancelled": lambda: calls.append((name, "cancelled"))}

    def broken(progress, should_stop):
        raise ValueError("no such model")

    workers.jobs.start("train", _job("train", [], gate), **handlers("train"))
    workers.jobs.start("load", broken, **handlers("load"))  # replaces the training
    gate.set()
    workers.files.start("save", _job("save", []), **handlers("save"))
    qtbot.waitUntil(lambda: len(calls) == 3, timeout=10_000)
    assert sorted(calls) == [("load", "failed", "no such model"), ("save", "done", "save"), ("train", "cancelled")]
    assert workers.shutdown()


def test_generation_lane_partial_results_and_newer_generation_cancels_older(qtbot):
    workers = Workers()
    lane = workers.thumbnails
    first, second, gate, cancelled, done = [], [], threading.Event(), [], []

    def small(i, gated):
        def job(progress, should_stop, partial):
            if gated:
                gate.wait(10)
            partial(i)
        return job

    lane.start("thumbnails", [small(i, True) for i in range(20)], on_partial=first.append,
               on_cancelled=lambda: cancelled.append("first"), on_done=done.append)
    qtbot.wait(50)
    lane.start("thumbnails", [small(i, False) for i in range(20)], on_partial=second.append, on_done=done.append)
    gate.set()
    qtbot.waitUntil(lambda: done == [20], timeout=10_000)
    assert first == [] and cancelled == ["first"], "the older generation's late results are dropped"
    assert sorted(second) == list(range(20)), "every job of the newer one handed its result over"
    assert workers.shutdown()


def test_long_running_lane_keeps_only_the_newest_result_and_ends_normally_when_stopped(qtbot):
    workers = Workers()
    lane = workers.live
    shown, summary, produced = [], [], threading.Event()

    def live(progress, should_stop, partial):
        partial(("info", "started"))  # events: every one delivered
        for i in range(2000):
            partial.latest(i)  # results: only the newest undelivered one waits
        produced.set()
        while not should_stop():
            time.sleep(0.005)
        return {"judged": 2000}

    lane.start("live", live, on_done=summary.append, on_partial=shown.append)
    assert produced.wait(10)  # 2000 results made while the GUI thread handled none of them
    qtbot.waitUntil(lambda: 1999 in shown, timeout=10_000)
    assert shown[0] == ("info", "started") and len(shown) <= 3, shown  # coalesced, not 2000 queued
    lane.cancel()
    assert lane.wait_idle(10_000)
    lane.deliver()
    assert summary == [{"judged": 2000}], "a stop is a long-running job's normal end"
    assert not lane.busy
    assert workers.shutdown()
