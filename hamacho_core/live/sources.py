"""Frame sources for live inspection: cameras, network streams, video files and image folders.

A :class:`FrameSource` is a plain blocking reader (``open`` / ``read`` / ``close``) that returns
HxWx3 uint8 RGB frames.  Threading, "newest frame wins" and reconnection live in
:mod:`hamacho_core.live.grabber`.  Every failure is a :class:`SourceError` with a clear message.
"""

from __future__ import annotations

import inspect
import re
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from hamacho_core.dataset import check_image
from hamacho_core.imageio import IMAGE_SUFFIXES, ImageReadError
from hamacho_core.live.frames import GARBAGE_LIMIT, Frame, FrameSource, SourceError, to_rgb_frame

__all__ = ["GARBAGE_LIMIT", "CameraSource", "FolderSource", "Frame", "FrameSource", "SourceError", "StreamSource",
           "VideoFileSource", "open_source", "to_rgb_frame"]

STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")


@contextmanager
def _quiet_opencv():
    """Silence OpenCV's own warnings while probing a device (we raise a clear error instead)."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


class _CaptureSource(FrameSource):
    """Common OpenCV ``VideoCapture`` handling: open checks, unusable frames, BGR to RGB."""

    def __init__(self) -> None:
        self._cap: cv2.VideoCapture | None = None

    def _create(self) -> cv2.VideoCapture:
        raise NotImplementedError

    def _open_error(self) -> str:
        return f"{self.name} could not be opened"

    def open(self) -> None:
        self.close()
        with _quiet_opencv():
            cap = self._create()
        if not cap.isOpened():
            cap.release()
            raise SourceError(self._open_error())
        self._cap = cap

    def _grab(self) -> tuple[bool, np.ndarray | None]:
        """One raw read from the device (the only place that touches OpenCV)."""
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        return self._cap.read()

    def read(self) -> np.ndarray | None:
        """The next frame; unusable ones are skipped, up to GARBAGE_LIMIT in a row, then SourceError."""
        last = "no frame"
        for _ in range(GARBAGE_LIMIT):
            ok, raw = self._grab()
            if not ok or raw is None:
                last = "no frame (read failed: disconnected?)"
                continue
            try:
                return to_rgb_frame(raw, self.name)
            except SourceError as exc:
                last = str(exc).removeprefix(f"{self.name}: ")
        raise SourceError(f"{self.name}: garbage frame: {GARBAGE_LIMIT} unusable reads in a row ({last})")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class CameraSource(_CaptureSource):
    """A local camera by OpenCV index (0 = first); optional requested resolution and OpenCV backend
    (e.g. ``cv2.CAP_DSHOW`` on Windows, which opens faster than the default there)."""

    def __init__(self, index: int, *, width: int | None = None, height: int | None = None,
                 backend: int = cv2.CAP_ANY) -> None:
        super().__init__()
        self.index, self.width, self.height, self.backend = int(index), width, height, backend
        self.name = f"camera {self.index}"

    def _create(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.index, self.backend)
        if cap.isOpened():
            if self.width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            if self.height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's own queue would add latency
        return cap

    def _open_error(self) -> str:
        return (f"camera {self.index} could not be opened (not connected, in use by another program, "
                f"or no permission)")


def _redact(url: str) -> str:
    """The URL with any password replaced by *** (names end up in logs and on screens)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return url
    return url.replace(f":{password}@", ":***@", 1) if password else url


class StreamSource(_CaptureSource):
    """A network stream (RTSP, HTTP MJPEG, ...) read through OpenCV's FFmpeg backend."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.name = f"stream {_redact(url)}"

    def _create(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG)
        if cap.isOpened():
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    def _open_error(self) -> str:
        return f"{self.name} could not be opened (wrong address, camera offline or unsupported protocol)"


class VideoFileSource(_CaptureSource):
    """A video file.  ``realtime`` paces reads at the file's frame rate, like a camera; otherwise
    frames are read on demand (every frame can be judged).  ``loop`` restarts at the end.  A file
    can pause: nothing is read meanwhile, and playback goes on from the next frame."""

    can_pause = True

    def __init__(self, path: str | Path, *, realtime: bool = True, loop: bool = False) -> None:
        super().__init__()
        self.path, self.realtime, self.loop = Path(path), bool(realtime), bool(loop)
        self.name = self.path.name
        self.is_live = self.realtime
        self.fps = 30.0
        self._next_due = 0.0
        self._pending: np.ndarray | None = None

    def _create(self) -> cv2.VideoCapture:
        return cv2.VideoCapture(str(self.path))

    def _open_error(self) -> str:
        return f"{self.path} is not a readable video file"

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        super().open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if 0.5 <= fps <= 1000 else 30.0
        ok, raw = self._cap.read()  # a file that opens but holds no decodable frame is no video
        if not ok or raw is None:
            self.close()
            raise SourceError(f"{self.path} holds no readable video frames")
        self._pending = raw
        self._next_due = time.monotonic()

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        if self._pending is not None:
            raw, self._pending = self._pending, None
        else:
            ok, raw = self._cap.read()
            if (not ok or raw is None) and self.loop:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, raw = self._cap.read()
            if not ok or raw is None:
                return None  # end of file (or the first undecodable frame of a damaged one)
        if self.realtime:
            self._pace()
        return to_rgb_frame(raw, self.name)

    def on_resume(self) -> None:
        self._next_due = time.monotonic() + 1.0 / self.fps  # the frame shown while paused lasts one interval

    def _pace(self) -> None:
        interval = 1.0 / self.fps
        now = time.monotonic()
        if now > self._next_due + interval:  # fell behind: resynchronise instead of bursting
            self._next_due = now
        if self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due += interval


def _natural_key(path: Path) -> tuple:
    return [int(t) if t.isdecimal() else t.lower() for t in re.split(r"(\d+)", path.name)], path.name


class FolderSource(FrameSource):
    """A slideshow of the images in a folder (natural name order), one every ``interval_s``
    seconds (0: on demand, every image judged).  Files that ``inspect`` would refuse (unreadable,
    corrupt, too small, over 200 megapixels, ...) are skipped and listed in ``skipped`` with the reason.
    A single image file is a one-image slideshow.  A folder can pause (the slideshow waits)."""

    can_pause = True

    def __init__(self, path: str | Path, *, interval_s: float = 0.5, loop: bool = False) -> None:
        self.path, self.interval_s, self.loop = Path(path), max(0.0, float(interval_s)), bool(loop)
        self.name = self.path.name or str(self.path)
        self.is_live = self.interval_s > 0
        self.files: list[Path] = []
        self.skipped: dict[Path, str] = {}
        self.current_name = ""  # the file of the image read last
        self._pos = 0
        self._next_due = 0.0

    def open(self) -> None:
        if self.path.is_file():
            self.files = [self.path]
        elif self.path.is_dir():
            self.files = sorted((p for p in self.path.iterdir() if p.is_file() and not p.name.startswith(".")
                                 and p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
        else:
            raise SourceError(f"folder not found: {self.path}")
        if not self.files:
            raise SourceError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {self.path}")
        self._pos = 0
        self._next_due = time.monotonic()

    def on_resume(self) -> None:
        self._next_due = time.monotonic() + self.interval_s

    def read(self) -> np.ndarray | None:
        misses = 0
        while True:
            if self._pos >= len(self.files):
                if not self.loop or misses >= len(self.files):
                    return None
                self._pos = 0
            path = self.files[self._pos]
            self._pos += 1
            try:  # the checks and size limits of inspect and fit (refused from the header, before decoding)
                rgb = to_rgb_frame(check_image(path), f"{self.name}/{path.name}", bgr=False)
            except (ImageReadError, SourceError) as exc:
                self.skipped[path] = str(exc)
                misses += 1
                continue
            if self.interval_s > 0:
                now = time.monotonic()
                if self._next_due > now:
                    time.sleep(self._next_due - now)
                self._next_due = max(self._next_due, now) + self.interval_s
            self.current_name = path.name  # read by the capture thread with this image (Frame.name)
            return rgb


def open_source(spec: str | int | Path, **kw) -> FrameSource:
    """The source for ``spec``, not yet opened: ``0``/``"0"`` a camera, ``genicam:<id>`` a GenICam
    camera through Aravis, ``rtsp://``/``http(s)://`` a stream, an existing video file, an existing
    folder (or image file) a slideshow.

    Keyword arguments go to the chosen source (``realtime``, ``loop``, ``interval_s``, ``width``,
    ...); those it does not take are ignored, so callers can pass one set for any spec
    (``realtime=False`` reads a folder on demand, like a video file).
    """
    if isinstance(spec, bool):
        raise SourceError(f"not a frame source: {spec!r}")
    if isinstance(spec, str) and spec.strip().lower().startswith("genicam:"):
        from hamacho_core.live.genicam import GenicamSource

        return _build(GenicamSource, spec.strip()[len("genicam:"):], kw)
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdecimal()):
        return _build(CameraSource, int(spec), kw)
    text = str(spec).strip()
    if text.lower().startswith(STREAM_PREFIXES):
        return _build(StreamSource, text, kw)
    path = Path(text).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES):
        if kw.get("realtime") is False:  # as fast as possible: every image, on demand
            kw = {**kw, "interval_s": 0.0}
        return _build(FolderSource, path, kw)
    if path.is_file():
        return _build(VideoFileSource, path, kw)
    raise SourceError(f"no camera, video file, folder or stream URL named {text!r} (nothing exists at {path})")


def _build(cls: type[FrameSource], arg: object, kw: dict) -> FrameSource:
    accepted = inspect.signature(cls).parameters
    return cls(arg, **{k: v for k, v in kw.items() if k in accepted})
