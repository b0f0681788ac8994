"""Live inspection: judge the newest camera frame whenever the model is free.

Capture runs in a :class:`~hamacho_core.live.grabber.LatestFrameGrabber` thread; :meth:`LiveInspector.run`
takes the newest frame, predicts, saves NG/REVIEW evidence, logs the verdict and reports it.  A
slow model therefore skips frames instead of queueing them, and the latency it shows stays about
one inference plus one frame interval, however slow it is.  Every callback of ``run`` is called
from the thread that called ``run`` (the GUI runs it in a worker thread).

Thresholds are read from the model for every frame (nothing is cached at the start), so
``model.set_thresholds`` from another thread applies from the next judged frame on; each
:class:`LiveResult` carries the :class:`~hamacho_core.judging.Judge` it was judged with (each frame is judged once).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hamacho_core.judging import Judge
from hamacho_core.live.grabber import LatestFrameGrabber
from hamacho_core.live.log import InspectionLog, LogWriter
from hamacho_core.live.sources import Frame, FrameSource, SourceError

if TYPE_CHECKING:
    from hamacho_core.models.base import AnomalyModel, Prediction

VERDICTS = ("OK", "NG", "REVIEW")
_PAUSE_POLL_S = 0.05  # while paused, how often the loop looks at should_stop
_FPS_WINDOW = 30  # results the displayed frame rate is averaged over
_LATENCY_KEEP = 10_000  # latencies kept for the percentile in the summary


@dataclass
class LiveResult:
    """One judged frame."""

    frame: Frame
    prediction: Prediction
    verdict: str
    score: float  # raw image score
    normalized: float  # 0.5 = the NG threshold
    inference_ms: float  # model.predict alone
    latency_ms: float  # capture to result ready (after saving and logging)
    fps: float  # judged frames per second, averaged over the last results
    dropped: int  # frames the model had no time for, so far
    counts: dict[str, int] = field(default_factory=dict)  # OK/NG/REVIEW counters
    saved_path: Path | None = None  # the saved original frame (NG/REVIEW with a save folder)
    judge: Judge | None = None  # the thresholds this frame was judged with
    part: int = 0  # the part number sent to the line outputs (1, 2, ... in this run)

    @property
    def comparison(self) -> str:
        """The raw score against the threshold that decided: "3.21 ≥ 2.80" (empty without thresholds)."""
        return self.judge.explain(self.score, self.verdict) if self.judge is not None else ""


#: What a station is doing, as ``LiveInspector.run`` reports it to ``on_station``.
STATIONS = ("connecting", "judging", "paused", "camera lost", "ended")


def station_name(capture: str, *, paused: bool) -> str:
    """One of :data:`STATIONS` from the capture's state (``LatestFrameGrabber.state``) and the pause."""
    if capture in ("reconnecting", "failed"):
        return "camera lost"
    if capture == "running":
        return "paused" if paused else "judging"
    return "ended" if capture in ("ended", "stopped") else "connecting"


class LiveInspector:
    """Judges the frames of ``source`` with a fitted ``model`` (see :meth:`run`).

    ``save_dir``: frames whose verdict is in ``save_verdicts`` are saved there (original PNG plus
    overlay, map and mask PNGs).  ``log``: every verdict is appended to it.  ``reconnect``,
    ``retry_delay_s`` and ``max_retries`` are the capture thread's (see ``LatestFrameGrabber``).
    ``warmup`` runs one prediction on a blank image first, so the first frame is not slow.
    Setting ``paused`` (any thread) judges nothing from the next frame on; a video file or folder
    also stops being read (it goes on where it stopped on resume, every frame still judged when read
    on demand), while a camera or stream keeps being read (newest frame kept).  Log rows are
    written by a :class:`~hamacho_core.live.log.LogWriter` thread: a log locked by another process
    never stalls judging; rows wait and are retried, at the end for up to ``log_wait_s`` seconds.
    """

    def __init__(self, model: AnomalyModel, source: FrameSource, *, save_dir: Path | None = None,
                 save_verdicts: tuple[str, ...] = ("NG", "REVIEW"), log: InspectionLog | None = None,
                 model_name: str = "", reconnect: bool = True, retry_delay_s: float = 1.0,
                 max_retries: int | None = None, warmup: bool = True, log_wait_s: float = 10.0,
                 sinks: Sequence = (), sink_wait_s: float = 3.0) -> None:
        self.model = model
        self.source = source
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self.save_verdicts = tuple(save_verdicts)
        self.log = log
        self.log_wait_s = log_wait_s
        self._writer: LogWriter | None = None
        self._log_warned = False
        self.model_name = model_name or getattr(model, "kind", "") or type(model).__name__
        self.reconnect, self.retry_delay_s, self.max_retries = reconnect, retry_delay_s, max_retries
        self.warmup = warmup
        self._paused = False
        self._grabber: LatestFrameGrabber | None = None
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(VERDICTS, 0)
        #: Line outputs (``hamacho_core.line``): each judged part goes to every sink, never waiting on one.
        self.sinks = list(sinks)
        #: At the end, seconds (for all sinks together) to deliver what is still waiting.
        self.sink_wait_s = sink_wait_s
        self._part = 0
        self._model_sha = _model_checksum(model)
        self._events: queue.SimpleQueue = queue.SimpleQueue()  # drained by run(); warnings from other threads
        self._judging = False  # run() is in its loop: a trigger's picture will be judged
        self._refusals: dict[str, int] = {}  # refused triggers by reason (repeats are reported sparingly)

    @property
    def software_triggered(self) -> bool:
        """Whether the source is a camera that takes a picture on :meth:`trigger` (GenICam, software)."""
        return bool(getattr(self.source, "software_triggered", False))

    def trigger(self) -> bool:
        """Take one picture with a software-triggered camera (the GUI's Trigger button, a PLC's trigger
        register, an MQTT trigger message; any thread).  False, reported as a warning, if the camera
        is not software-triggered, not open yet or lost."""
        try:
            if not self.software_triggered:
                raise SourceError(f"{self.source.name} is not a software-triggered camera")
            if not self._judging:
                raise SourceError("the inspection is not running (starting or stopping)")
            if self._paused:
                raise SourceError("the inspection is paused: its picture would not be judged")
            self.source.trigger()
            return True
        except SourceError as exc:
            reason = str(exc)
            repeats = self._refusals.get(reason, 0) + 1
            self._refusals[reason] = repeats
            if repeats <= 3 or repeats % 100 == 0:  # a PLC retrying while the camera opens: not 50 lines
                more = f" ({repeats} times so far)" if repeats > 1 else ""
                self._events.put(("warning", f"trigger refused: {reason}{more}"))
            return False

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, paused: bool) -> None:
        with self._lock:
            self._paused = bool(paused)
            if self._grabber is not None:
                self._grabber.set_paused(self._paused)

    @property
    def grabber(self) -> LatestFrameGrabber | None:
        """The capture of the current run (of the last one after it ended; None before any)."""
        return self._grabber

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_counts(self) -> None:
        """Zero the OK/NG/REVIEW counters (safe to call from another thread while running)."""
        with self._lock:
            self._counts = dict.fromkeys(VERDICTS, 0)

    def run(self, on_result: Callable[[LiveResult], None], should_stop: Callable[[], bool],
            on_event: Callable[[str, str], None] | None = None, max_frames: int | None = None,
            on_frame: Callable[[Frame], None] | None = None,
            on_station: Callable[[str], None] | None = None) -> dict:
        """Judge the newest frame, again and again, until ``should_stop()``, ``max_frames`` judged,
        or the source ended or failed.  Source problems never raise: they come to ``on_event(level,
        message)`` ("info", "warning", "error") and end the run if capture gives up; model errors
        propagate.  ``on_frame`` sees every frame taken, judged or not (a camera's preview while
        paused).  Pausing and resuming are reported to ``on_event`` ("info"), a pause once it holds:
        no frame is being judged any more and a file or folder is no longer read.  ``on_station`` hears the
        station's state whenever it changes: :data:`STATIONS` ("connecting", "judging", "paused", "camera lost").

        Returns a summary: judged, frames_read, dropped, counts, mean/p95/max latency_ms,
        mean_inference_ms, fps, elapsed_s, state (capture's: "ended", "failed", "stopped"),
        reason ("stopped", "max_frames", "ended", "failed"), error (the last source error),
        unlogged (verdicts finally not written to the log) and log_error (the last log error).
        """
        events = self._events

        def drain() -> None:
            while True:
                try:
                    level, message = events.get_nowait()
                except queue.Empty:
                    return
                if on_event is not None:
                    on_event(level, message)

        if self.save_dir is not None:
            self.save_dir.mkdir(parents=True, exist_ok=True)
        for sink in self.sinks:  # their warnings reach on_event from this thread, like the log's
            sink.set_station(ready=False, fault=False)  # not judging yet: the PLC sees "not ready"
            sink.on_event = lambda level, message: events.put((level, message))
            sink.on_trigger = self.trigger if self.software_triggered else None
            if sink._thread is None:
                sink.start()
        if self.warmup:
            preprocess = getattr(self.model, "preprocess", None)
            height, width = preprocess.output_shape if preprocess is not None else (64, 64)
            self.model.predict(np.zeros((height, width, 3), np.uint8))
        grabber = LatestFrameGrabber(self.source, reconnect=self.reconnect, retry_delay_s=self.retry_delay_s,
                                     max_retries=self.max_retries, on_event=lambda lv, msg: events.put((lv, msg)))
        with self._lock:
            self._grabber = grabber
            grabber.set_paused(self._paused)
        stats = _Stats()
        reason = "stopped"
        last_index = -1
        announced = False  # the pause was reported
        self._writer = LogWriter(self.log) if self.log is not None else None
        self._log_warned = False
        grabber.start()
        self._judging = True
        shown_state = shown_station = None
        try:
            while True:
                drain()
                state = (grabber.state == "running" and not self._paused, grabber.state in ("reconnecting", "failed"))
                if state != shown_state:
                    shown_state = state
                    for sink in self.sinks:
                        sink.set_station(*state)
                station = station_name(grabber.state, paused=self._paused)
                if station != shown_station:
                    shown_station = station
                    if on_station is not None:
                        on_station(station)
                if should_stop():
                    break
                if max_frames is not None and stats.judged >= max_frames:
                    reason = "max_frames"
                    break
                paused = self._paused
                if paused != announced and (not paused or not self.source.can_pause or grabber.waiting
                                            or grabber.finished):
                    announced = paused
                    if on_event is not None:
                        on_event("info", self._pause_message(paused, last_index))
                if paused and self.source.can_pause:
                    grabber.wait_resumed(_PAUSE_POLL_S)  # leave the next frame where it is
                    continue
                frame = grabber.latest(last_index, timeout=0.1)
                if frame is None:
                    if grabber.finished:
                        reason = "failed" if grabber.state == "failed" else "ended"
                        break
                    continue
                last_index = frame.index
                if on_frame is not None:
                    on_frame(frame)
                if self._paused and not self.source.can_pause:
                    continue  # a camera runs on: its frames are taken (newest kept) but not judged
                on_result(self._judge(frame, grabber, stats, on_event))
        finally:
            self._judging = False  # no trigger is accepted any more: its picture would not be judged
            for sink in self.sinks:
                sink.set_station(ready=False, fault=grabber.state == "failed")
            grabber.stop()
            writer, self._writer = self._writer, None
            unlogged = writer.close(self.log_wait_s) if writer is not None else 0
            log_error = writer.last_error if writer is not None else None
            deadline = time.monotonic() + self.sink_wait_s
            for sink in self.sinks:  # one budget for all: an unreachable peer cannot hold the end up for long
                sink.close(max(0.0, deadline - time.monotonic()))
            drain()
        if unlogged:
            _warn(on_event, f"{unlogged} verdict(s) could not be written to the inspection log {self.log.path} "
                            f"({log_error})")
        elif writer is not None and writer.failures and on_event is not None:
            on_event("info", f"the inspection log was busy ({log_error}): every verdict was written, some late")
        summary = {**stats.summary(grabber, reason, self.counts), "unlogged": unlogged, "log_error": log_error,
                   "sinks": [sink.status() for sink in self.sinks]}
        if hasattr(self.source, "statistics"):  # a GenICam camera's stream counts
            summary["camera"] = self.source.statistics()
        if self.software_triggered:
            summary["triggers"] = self.source.triggers_sent
            summary["triggers_refused"] = self.source.triggers_failed
            summary["triggers_unanswered"] = self.source.triggers_unanswered
            #: fired triggers whose picture was neither judged nor reported missing (waiting at the stop)
            summary["triggers_not_judged"] = max(0, self.source.triggers_sent - self.source.triggers_unanswered
                                                 - self.source.buffers_failed - summary["judged"])
        return summary

    def _pause_message(self, paused: bool, last_index: int) -> str:
        name = self.source.name
        if not paused:
            return f"resumed: {name}"
        if not self.source.can_pause:
            return f"paused: {name} keeps running (newest frame kept); no frame is judged until resumed"
        where = f"after frame {last_index}" if last_index >= 0 else "before the first frame"
        return f"paused {where}: {name} waits (nothing is read) until resumed"

    def _judge(self, frame: Frame, grabber: LatestFrameGrabber, stats: _Stats,
               on_event: Callable[[str, str], None] | None) -> LiveResult:
        # The model's judge, read once for this frame (never cached across frames): the verdict, normalised
        # score and mask come from it, and it is reported with them, even if the GUI changes thresholds meanwhile.
        judge = self.model.judge
        started = time.perf_counter()
        prediction = self.model.predict(frame.image, judge=judge)
        inference_ms = (time.perf_counter() - started) * 1000
        verdict = prediction.verdicts[0]
        score, normalized = float(prediction.image_scores[0]), float(prediction.norm_image_scores[0])
        with self._lock:
            self._counts[verdict] = self._counts.get(verdict, 0) + 1
            counts = dict(self._counts)
        saved = None
        if self.save_dir is not None and verdict in self.save_verdicts:
            try:
                saved = self._save(frame, prediction, verdict)
            except (OSError, ValueError) as exc:  # a full disk must not stop the line
                _warn(on_event, f"could not save frame {frame.index}: {exc}")
        if self._writer is not None:  # queued: written (and retried) by the writer thread
            self._writer.append(self.source.name, self.model_name, score, normalized, verdict, saved)
            if self._writer.failing and not self._log_warned:
                self._log_warned = True
                _warn(on_event, f"the inspection log cannot be written now ({self._writer.last_error}): "
                                f"verdicts are kept and retried ({self._writer.pending} waiting)")
            elif not self._writer.failing:
                self._log_warned = False
        self._part += 1  # the part number the line outputs and the window show alike
        if self.sinks:
            from hamacho_core.line.sinks import PartRecord

            record = PartRecord(self._part, verdict, score, normalized, _utc_now(), self.model_name, self._model_sha,
                                None if saved is None else str(saved), self.source.name)
            for sink in self.sinks:
                sink.submit(record)
        now = time.monotonic()
        latency_ms = (now - frame.timestamp) * 1000
        fps = stats.add(now, latency_ms, inference_ms)
        return LiveResult(frame, prediction, verdict, score, normalized, inference_ms, latency_ms, fps,
                          grabber.frames_dropped, counts, saved, judge, self._part)

    def _save(self, frame: Frame, prediction: Prediction, verdict: str) -> Path:
        from hamacho_core.imageio import write_image
        from hamacho_core.outputs import save_result_images

        stem = f"{datetime.now():%Y%m%d_%H%M%S_%f}_f{frame.index:06d}_{verdict}"
        path = self.save_dir / f"{stem}.png"
        write_image(path, frame.image)
        save_result_images(self.model, frame.image, prediction.anomaly_maps[0], self.save_dir, stem,
                           judge=prediction.judge)
        return path


def _model_checksum(model) -> str:
    """The sha256 of the model file's manifest (as ``hamacho_core.model_io`` checks it), or ''."""
    manifest = getattr(model, "manifest", None)
    if not manifest:
        return ""
    from hamacho_core.model_io import manifest_sha256

    return manifest_sha256(manifest)


def _utc_now() -> str:
    from datetime import UTC

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _warn(on_event: Callable[[str, str], None] | None, message: str) -> None:
    if on_event is not None:
        on_event("warning", message)


class _Stats:
    """Running figures of one run."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.judged = 0
        self.times: deque[float] = deque(maxlen=_FPS_WINDOW)
        self.latencies: deque[float] = deque(maxlen=_LATENCY_KEEP)
        self.latency_sum = self.latency_max = self.inference_sum = 0.0
        self.first = self.last = None

    def add(self, now: float, latency_ms: float, inference_ms: float) -> float:
        self.judged += 1
        self.times.append(now)
        self.latencies.append(latency_ms)
        self.latency_sum += latency_ms
        self.latency_max = max(self.latency_max, latency_ms)
        self.inference_sum += inference_ms
        self.first = now if self.first is None else self.first
        self.last = now
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0

    def summary(self, grabber: LatestFrameGrabber, reason: str, counts: dict[str, int]) -> dict:
        n = self.judged
        span = (self.last - self.first) if n >= 2 else 0.0
        return {
            "judged": n, "frames_read": grabber.frames_read, "dropped": grabber.frames_dropped,
            "counts": counts, "mean_latency_ms": self.latency_sum / n if n else None,
            "p95_latency_ms": float(np.percentile(self.latencies, 95)) if n else None,
            "max_latency_ms": self.latency_max if n else None,
            "mean_inference_ms": self.inference_sum / n if n else None,
            "fps": (n - 1) / span if span > 0 else 0.0, "elapsed_s": time.monotonic() - self.started,
            "state": grabber.state, "reason": reason, "error": grabber.last_error,
        }
