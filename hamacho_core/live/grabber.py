"""Capture in its own thread, keeping only the newest frame ("the newest frame wins").

A slow consumer never builds a queue: frames it had no time for are overwritten (and counted as
dropped), so what it takes next is always at most one frame interval old.  Sources that are not
live (a video file read as fast as possible, a folder with no interval) are read on demand
instead: the next frame is read only once the previous one was taken, so none is dropped.

A paused grabber stops reading a source that can wait (a file, a folder: ``source.can_pause``); a
camera or stream runs on regardless, so it is still read (newest frame kept).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from hamacho_core.live.frames import WAITING
from hamacho_core.live.sources import Frame, FrameSource, SourceError

EventFn = Callable[[str, str], None]  # on_event(level, message); level "info", "warning" or "error"
STATES = ("idle", "connecting", "running", "reconnecting", "ended", "failed", "stopped")


class LatestFrameGrabber:
    """Reads ``source`` continuously in a daemon thread and keeps only its newest :class:`Frame`.

    After a :class:`SourceError` (a lost camera, garbage frames) the source is closed and, with
    ``reconnect``, reopened every ``retry_delay_s`` seconds, up to ``max_retries`` attempts in a row
    (None: forever); then the state is "failed".  A source that cannot be opened at all the first
    time fails at once (a wrong camera number should not be retried forever).  ``on_event`` is
    called from the capture thread.  Frame indices count every frame read, across reconnections.
    :meth:`set_paused` holds a source that can pause (see the module docstring).
    """

    def __init__(self, source: FrameSource, *, reconnect: bool = True, retry_delay_s: float = 1.0,
                 max_retries: int | None = None, on_event: EventFn | None = None) -> None:
        self.source = source
        self.reconnect = reconnect
        self.retry_delay_s = max(0.0, float(retry_delay_s))
        self.max_retries = max_retries
        self.on_event = on_event
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._frame: Frame | None = None
        self._taken = True  # whether the current frame was handed out
        self._state = "idle"
        self._last_error: str | None = None
        self._read = 0
        self._dropped = 0
        self._paused = False
        self._held = False  # the capture thread waits for a resume
        self._awaiting_take = False  # the capture thread waits until its on-demand frame is taken

    # --- public ------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        return self._state

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def frames_read(self) -> int:
        return self._read

    @property
    def frames_dropped(self) -> int:
        """Frames overwritten by a newer one before anyone took them."""
        return self._dropped

    @property
    def finished(self) -> bool:
        return self._state in ("ended", "failed", "stopped")

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def waiting(self) -> bool:
        """True while the capture thread reads nothing: held by a pause, or (a source read on demand)
        until its frame is taken.  Once paused and waiting, ``frames_read`` stays put until resumed."""
        return self._held or self._awaiting_take

    def set_paused(self, paused: bool) -> None:
        """Hold (True) or release (False) a source that can pause; any thread.  A camera or stream is
        read on regardless.  A frame left untaken over a pause counts as captured at the resume."""
        with self._cond:
            if self._paused and not paused and self.source.can_pause and self._frame is not None \
                    and not self._taken:
                self._frame = replace(self._frame, timestamp=time.monotonic())
            self._paused = bool(paused)
            self._cond.notify_all()

    def wait_resumed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds while paused (less if anything changes); True if not paused."""
        with self._cond:
            if self._paused and not self._stop.is_set():
                self._cond.wait(timeout)
            return not self._paused

    def start(self) -> LatestFrameGrabber:
        if self._thread is not None:
            raise RuntimeError("a grabber can only be started once")
        self._set_state("connecting")
        self.source.on_event = self._emit
        self._thread = threading.Thread(target=self._run, name=f"grab {self.source.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the capture thread to end and wait for it; False if it is still blocked in a read."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def latest(self, after_index: int = -1, timeout: float | None = None) -> Frame | None:
        """The newest frame with ``index > after_index``, waiting up to ``timeout`` seconds (None:
        until one comes).  None on timeout, or once the source ended/failed with nothing newer."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                frame = self._frame
                if frame is not None and frame.index > after_index:
                    self._taken = True
                    self._awaiting_take = False  # set here, not when the capture thread wakes: no stale True
                    self._cond.notify_all()  # an on-demand source may read the next one now
                    return frame
                if self.finished or self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def __enter__(self) -> LatestFrameGrabber:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- capture thread ----------------------------------------------------------------------
    def _set_state(self, state: str) -> None:
        with self._cond:
            self._state = state
            self._cond.notify_all()

    def _emit(self, level: str, message: str) -> None:
        if self.on_event is not None:
            try:
                self.on_event(level, message)
            except Exception:  # noqa: BLE001 - a broken callback must not kill capture
                pass

    def _publish(self, image) -> None:
        with self._cond:
            if not self._taken:
                self._dropped += 1
            # read() ran in this thread just before: the source's current file name belongs to this image
            self._frame = Frame(image, self._read, time.monotonic(), getattr(self.source, "current_name", ""))
            self._read += 1
            self._taken = False
            self._cond.notify_all()
            if not self.source.is_live:  # on demand: wait until this one was taken
                self._awaiting_take = True
                while not self._taken and not self._stop.is_set():
                    self._cond.wait()
                self._awaiting_take = False

    def _hold_while_paused(self) -> None:
        """Capture thread, before each read: a source that can pause waits here while paused."""
        if not self.source.can_pause:
            return
        with self._cond:
            if not self._paused:
                return
            self._held = True
            self._cond.notify_all()
            while self._paused and not self._stop.is_set():
                self._cond.wait()
            self._held = False
        if not self._stop.is_set():
            self.source.on_resume()

    def _run(self) -> None:
        attempts = 0  # failed attempts in a row
        ever_opened = False
        try:
            while not self._stop.is_set():
                try:
                    self.source.open()
                    if ever_opened:
                        self._emit("info", f"{self.source.name}: reconnected")
                    ever_opened = True
                    self._set_state("running")
                    while not self._stop.is_set():
                        self._hold_while_paused()
                        if self._stop.is_set():
                            break
                        image = self.source.read()
                        if image is WAITING:
                            continue
                        if image is None:
                            self._set_state("ended")
                            self._emit("info", f"{self.source.name}: end of stream")
                            return
                        attempts = 0
                        self._publish(image)
                    return
                except SourceError as exc:
                    message = str(exc)
                except Exception as exc:  # noqa: BLE001 - a driver error is a source failure, not a crash
                    message = f"{self.source.name}: {type(exc).__name__}: {exc}"
                self._last_error = message
                attempts += 1
                give_up = not ever_opened or not self.reconnect or (
                    self.max_retries is not None and attempts > self.max_retries)
                # The state first: closing a lost camera can take ~10 s of network timeouts, and the line (the
                # Modbus FAULT bit, the Live banner) must know it is lost now, not after that.
                self._set_state("failed" if give_up else "reconnecting")
                if give_up:
                    gave_up = "" if not ever_opened or not self.reconnect else \
                        f" (gave up after {attempts - 1} reconnection attempts)"
                    self._emit("error", message + gave_up)
                else:
                    self._emit("warning", f"{message}; reconnecting in {self.retry_delay_s:g} s (attempt {attempts})")
                self._close_source()
                if give_up:
                    return
                if self._stop.wait(self.retry_delay_s):
                    return
        finally:
            self._close_source()
            if not self.finished:
                self._set_state("stopped")

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:  # noqa: BLE001 - closing a broken device may fail too
            pass
