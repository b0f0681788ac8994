"""The frame type and the source interface shared by every frame source (see ``sources``)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Consecutive unusable frames (read failures, empty or oddly shaped arrays) before a camera or
#: stream read raises :class:`SourceError`.
GARBAGE_LIMIT = 10


@dataclass(frozen=True)
class Frame:
    """One captured frame."""

    image: np.ndarray  # HxWx3 uint8 RGB
    index: int  # sequence number from the source (0, 1, 2, ...)
    timestamp: float  # time.monotonic() when captured
    name: str = ""  # the file it came from, for a folder source (which image was NG)


#: What ``FrameSource.read`` returns for "no frame yet, ask again" (a camera waiting for its trigger):
#: the grabber checks its stop request and reads again.  Compared by identity.
WAITING = np.zeros(0, np.uint8)


class SourceError(RuntimeError):
    """A source cannot be opened or stopped delivering usable frames; the message says which and why."""


def to_rgb_frame(raw: object, what: str, *, bgr: bool = True) -> np.ndarray:
    """A decoded frame (BGR(A) as OpenCV gives, RGB(A) with ``bgr=False``, or grey; 8 or 16 bit) as
    contiguous HxWx3 uint8 RGB; SourceError for garbage (None, empty, odd shape or type)."""
    if not isinstance(raw, np.ndarray) or raw.size == 0:
        raise SourceError(f"{what}: garbage frame (no image data)")
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    if raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[2] not in (3, 4)) or min(raw.shape[:2]) < 1:
        raise SourceError(f"{what}: garbage frame of shape {raw.shape}")
    if raw.dtype == np.uint16:
        raw = (raw.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif raw.dtype != np.uint8:
        raise SourceError(f"{what}: garbage frame of pixel type {raw.dtype}")
    if raw.ndim == 2:
        return cv2.cvtColor(raw, cv2.COLOR_GRAY2RGB)
    if bgr:
        return cv2.cvtColor(raw, cv2.COLOR_BGRA2RGB if raw.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(raw[:, :, :3])


class FrameSource:
    """Blocking frame reader.  ``read`` returns the next RGB frame, or None at the end of a file/folder."""

    name: str = "source"
    #: True: frames arrive on their own clock (a camera, a paced file); a slow consumer misses some.
    #: False: frames are read on demand, so a consumer can judge every one of them.
    is_live: bool = True
    #: True: the source can wait (a file, a folder): pausing stops reading.  False: a camera or stream,
    #: which runs on regardless, so a paused grabber keeps reading it (newest frame kept).
    can_pause: bool = False
    #: Set by the grabber: ``on_event(level, message)`` for trouble that does not stop capture
    #: (a camera's incomplete frames, say); called from the capture thread.
    on_event = None

    def warn(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event("warning", message)

    def open(self) -> None:
        raise NotImplementedError

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def on_resume(self) -> None:
        """Called (in the capture thread) after a pause, before the next read: a paced source
        restarts its clock here, so it neither bursts nor skips to catch up."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
