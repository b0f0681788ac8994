"""Live inspection: judge the newest camera frame whenever the model is free.

Capture runs in a :class:`~hamacho_core.live.grabber.LatestFrameGrabber` thread; :meth:`LiveInspector.run`
takes the newest frame, predicts, saves NG/REVIEW evidence, logs the verdict and reports it.  A
slow model therefore skips frames instead of queueing them, and the latency it shows stays about
one inference plus one frame interval, however slow it is.  Every callback of ``run`` is called
from the thread that called ``run`` (the GUI runs it in a worker thread).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hamacho_core.live.grabber import LatestFrameGrabber
from hamacho_core.live.log import InspectionLog, LogWriter
from hamacho_core.live.sources import Frame, FrameSource

if TYPE_CHECKING:
    from hamacho_core.models.base import AnomalyModel, Prediction

VERDICTS = ("OK", "NG", "REVIEW")
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


class LiveInspector:
    """Judges the frames of ``source`` with a fitted ``model`` (see :meth:`run`).

    ``save_dir``: frames whose verdict is in ``save_verdicts`` are saved there (original PNG plus
    overlay, map and mask PNGs).  ``log``: every verdict is appended to it.  ``reconnect``,
    ``retry_delay_s`` and ``max_retries`` are the capture thread's (see ``LatestFrameGrabber``).
    ``warmup`` runs one prediction on a blank image first, so the first frame is not slow.
    Setting ``paused`` keeps capture running (newest frame kept) but judges nothing.  Log rows are
    written by a :class:`~hamacho_core.live.log.LogWriter` thread: a log locked by another process
    never stalls judging; rows wait and are retried, at the end for up to ``log_wait_s`` seconds.
    """

    def __init__(self, model: AnomalyModel, source: FrameSource, *, save_dir: Path | None = None,
                 save_verdicts: tuple[str, ...] = ("NG", "REVIEW"), log: InspectionLog | None = None,
                 model_name: str = "", reconnect: bool = True, retry_delay_s: float = 1.0,
                 max_retries: int | None = None, warmup: bool = True, log_wait_s: float = 10.0) -> None:
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
        self.paused = False
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(VERDICTS, 0)

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
            on_frame: Callable[[Frame], None] | None = None) -> dict:
        """Judge the newest frame, again and again, until ``should_stop()``, ``max_frames`` judged,
        or the source ended or failed.  Source problems never raise: they come to ``on_event(level,
        message)`` ("info", "warning", "error") and end the run if capture gives up; model errors
        propagate.  ``on_frame`` sees every frame taken, judged or not (a preview while paused).

        Returns a summary: judged, frames_read, dropped, counts, mean/p95/max latency_ms,
        mean_inference_ms, fps, elapsed_s, state (capture's: "ended", "failed", "stopped"),
        reason ("stopped", "max_frames", "ended", "failed"), error (the last source error),
        unlogged (verdicts finally not written to the log) and log_error (the last log error).
        """
        events: queue.SimpleQueue = queue.SimpleQueue()

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
        if self.warmup:
            size = int(getattr(getattr(self.model, "config", None), "image_size", 64))
            self.model.predict(np.zeros((size, size, 3), np.uint8))
        grabber = LatestFrameGrabber(self.source, reconnect=self.reconnect, retry_delay_s=self.retry_delay_s,
                                     max_retries=self.max_retries, on_event=lambda lv, msg: events.put((lv, msg)))
        stats = _Stats()
        reason = "stopped"
        last_index = -1
        self._writer = LogWriter(self.log) if self.log is not None else None
        self._log_warned = False
        grabber.start()
        try:
            while True:
                drain()
                if should_stop():
                    break
                if max_frames is not None and stats.judged >= max_frames:
                    reason = "max_frames"
                    break
                if self.paused and not self.source.is_live:
                    time.sleep(0.05)  # on demand: leave the next frame where it is
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
                if self.paused:
                    continue
                on_result(self._judge(frame, grabber, stats, on_event))
        finally:
            grabber.stop()
            writer, self._writer = self._writer, None
            unlogged = writer.close(self.log_wait_s) if writer is not None else 0
            log_error = writer.last_error if writer is not None else None
            drain()
        if unlogged:
            _warn(on_event, f"{unlogged} verdict(s) could not be written to the inspection log {self.log.path} "
                            f"({log_error})")
        elif writer is not None and writer.failures and on_event is not None:
            on_event("info", f"the inspection log was busy ({log_error}): every verdict was written, some late")
        return {**stats.summary(grabber, reason, self.counts), "unlogged": unlogged, "log_error": log_error}

    def _judge(self, frame: Frame, grabber: LatestFrameGrabber, stats: _Stats,
               on_event: Callable[[str, str], None] | None) -> LiveResult:
        started = time.perf_counter()
        prediction = self.model.predict(frame.image)
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
        now = time.monotonic()
        latency_ms = (now - frame.timestamp) * 1000
        fps = stats.add(now, latency_ms, inference_ms)
        return LiveResult(frame, prediction, verdict, score, normalized, inference_ms, latency_ms, fps,
                          grabber.frames_dropped, counts, saved)

    def _save(self, frame: Frame, prediction: Prediction, verdict: str) -> Path:
        from hamacho_core.imageio import write_image
        from hamacho_core.jobs import save_result_images

        stem = f"{datetime.now():%Y%m%d_%H%M%S_%f}_f{frame.index:06d}_{verdict}"
        path = self.save_dir / f"{stem}.png"
        write_image(path, frame.image)
        save_result_images(self.model, frame.image, prediction.anomaly_maps[0], self.save_dir, stem)
        return path


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
