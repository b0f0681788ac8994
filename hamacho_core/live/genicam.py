"""GenICam cameras (GigE Vision, USB3 Vision) through Aravis, as a live frame source.

Needs Aravis with its GObject introspection data (Debian: ``gir1.2-aravis-0.8``) and PyGObject
(``pip install "hamacho[genicam]"``).  ``list_cameras()`` finds the cameras; ``GenicamSource`` opens
one by id (``genicam:<id>`` as a source spec), sets exposure, gain, frame rate, pixel format, region
and trigger mode (free-run, software, a hardware line), and converts Mono8/12/16, Bayer*8 (demosaiced)
and RGB8 buffers to RGB.  A camera that stops answering raises :class:`SourceError`, so the grabber
reports it, counts the attempt and reconnects, as for any other source.
"""

from __future__ import annotations

import collections
import functools
import math
import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from hamacho_core.live.frames import WAITING, FrameSource, SourceError, to_rgb_frame

PREFIX = "genicam:"
TRIGGERS = ("free", "software", "line0", "line1", "line2", "line3")
#: GenICam Bayer name -> OpenCV conversion (OpenCV names the pattern one pixel further on).
BAYER = {"BayerRG8": cv2.COLOR_BayerBG2RGB, "BayerBG8": cv2.COLOR_BayerRG2RGB,
         "BayerGR8": cv2.COLOR_BayerGB2RGB, "BayerGB8": cv2.COLOR_BayerGR2RGB}
#: Significant bits of the 16-bit containers.
MONO_BITS = {"Mono10": 10, "Mono12": 12, "Mono14": 14, "Mono16": 16}
SUPPORTED_FORMATS = ("Mono8", *MONO_BITS, *BAYER, "RGB8", "BGR8")
_BUFFERS = 4
#: Stream counters kept (Aravis info name -> ours)
_STREAM_COUNTS = {"missing_packets": "n_missing_packets", "resent_packets": "n_resent_packets",
                  "received_packets": "n_received_packets", "underruns": "n_underruns"}
#: A triggered camera's frames are parts: enough buffers for a burst of triggers while the model is busy.
_TRIGGERED_BUFFERS = 32
_WAIT_US = 200_000  # one wait for a buffer; the grabber's stop is checked in between


@functools.cache
def _check_range(what: str, value: float, bounds, unit: str) -> None:
    """Refuse a setting outside the camera's range, naming the range (instead of the camera clamping it)."""
    low, high = (float(b) for b in bounds)
    if not (math.isfinite(value) and low <= value <= high):
        raise SourceError(f"{what} {value:g}{' ' + unit if unit else ''} is outside this camera's range "
                          f"{low:g}-{high:g}{' ' + unit if unit else ''}")


#: Said to a technician where the camera library is missing: not a command to type, but who can fix it and how.
ARAVIS_MISSING = ("GenICam (GigE Vision / USB3 Vision) cameras are not available in this installation: its camera "
                  "library, Aravis, is missing. The packaged installer includes it; for an installation from source an "
                  "administrator adds it (Integrator's guide, \"GenICam cameras\": apt install gir1.2-aravis-0.8, then "
                  "pip install \"hamacho[genicam]\"). USB cameras, network streams, video files and folders work "
                  "without it")


def aravis():
    """The Aravis module (looked up once: every frame read uses it), or SourceError saying what to install."""
    try:
        import gi

        gi.require_version("Aravis", "0.8")
        from gi.repository import Aravis
    except (ImportError, ValueError) as exc:
        raise SourceError(ARAVIS_MISSING + f" ({exc})") from None
    return Aravis


@dataclass(frozen=True)
class CameraInfo:
    id: str
    vendor: str
    model: str
    serial: str
    address: str
    protocol: str


def _stream_counts(stream) -> dict[str, int]:
    """Aravis's stream counters that this version has (GigE Vision streams have the packet ones)."""
    names = {stream.get_info_name(i): i for i in range(stream.get_n_infos())}
    return {key: int(stream.get_info_uint64(names[info])) for key, info in _STREAM_COUNTS.items() if info in names}


def list_cameras() -> list[CameraInfo]:
    """The GenICam cameras Aravis finds now (GigE Vision on every interface, USB3 Vision)."""
    ar = aravis()
    ar.update_device_list()
    return [CameraInfo(ar.get_device_id(i), ar.get_device_vendor(i) or "", ar.get_device_model(i) or "",
                       ar.get_device_serial_nbr(i) or "", ar.get_device_address(i) or "",
                       ar.get_device_protocol(i) or "") for i in range(ar.get_n_devices())]


@dataclass(frozen=True)
class CameraSettings:
    """A camera's current main settings and what it allows (read, nothing changed)."""

    width: int
    height: int
    pixel_format: str
    pixel_formats: tuple[str, ...]  #: the camera's formats that Hamacho converts
    exposure_us: float | None = None
    exposure_range: tuple[float, float] | None = None
    gain: float | None = None
    gain_range: tuple[float, float] | None = None
    frame_rate: float | None = None
    frame_rate_range: tuple[float, float] | None = None

    def summary(self) -> str:
        """"512x512 Mono8, exposure 10000 µs, gain 0, 25 fps"."""
        parts = [f"{self.width}x{self.height} {self.pixel_format}"]
        if self.exposure_us is not None:
            parts.append(f"exposure {self.exposure_us:g} µs")
        if self.gain is not None:
            parts.append(f"gain {self.gain:g}")
        if self.frame_rate is not None:
            parts.append(f"{self.frame_rate:g} fps")
        return ", ".join(parts)


def describe_camera(camera_id: str) -> CameraSettings:
    """Read a camera's main settings (SourceError if it cannot be opened, e.g. in use elsewhere)."""
    ar = aravis()
    try:
        camera = ar.Camera.new(camera_id)
        region = camera.get_region()
        formats = tuple(f for f in camera.dup_available_pixel_formats_as_strings() if f in SUPPORTED_FORMATS)

        def feature(available, value, bounds):
            if not available():
                return None, None
            low, high = bounds()
            return float(value()), (float(low), float(high))

        exposure, exposure_range = feature(camera.is_exposure_time_available, camera.get_exposure_time,
                                           camera.get_exposure_time_bounds)
        gain, gain_range = feature(camera.is_gain_available, camera.get_gain, camera.get_gain_bounds)
        rate, rate_range = feature(camera.is_frame_rate_available, camera.get_frame_rate,
                                   camera.get_frame_rate_bounds)
        return CameraSettings(region.width, region.height, camera.get_pixel_format_as_string(), formats,
                              exposure, exposure_range, gain, gain_range, rate, rate_range)
    except Exception as exc:  # noqa: BLE001 - GLib.Error: not found, in use
        raise SourceError(f"GenICam camera {camera_id} could not be read: {getattr(exc, 'message', exc)}") from None


def convert(data: np.ndarray, width: int, height: int, pixel_format: str, what: str) -> np.ndarray:
    """One buffer's bytes as HxWx3 uint8 RGB, by GenICam pixel format."""
    if pixel_format == "Mono8":
        return to_rgb_frame(data[:width * height].reshape(height, width), what)
    if pixel_format in MONO_BITS:
        raw = data[:2 * width * height].view("<u2").reshape(height, width)
        scaled = (raw.astype(np.float32) * (255.0 / ((1 << MONO_BITS[pixel_format]) - 1)) + 0.5)
        return to_rgb_frame(np.clip(scaled, 0, 255).astype(np.uint8), what)
    if pixel_format in BAYER:
        return cv2.cvtColor(data[:width * height].reshape(height, width), BAYER[pixel_format])
    if pixel_format == "RGB8":
        return np.ascontiguousarray(data[:3 * width * height].reshape(height, width, 3))
    if pixel_format == "BGR8":
        return cv2.cvtColor(data[:3 * width * height].reshape(height, width, 3), cv2.COLOR_BGR2RGB)
    raise SourceError(f"{what}: pixel format {pixel_format} is not supported (Mono8/10/12/14/16, Bayer*8, RGB8, "
                      f"BGR8)")


class GenicamSource(FrameSource):
    """A GenICam camera by Aravis id (see ``list_cameras``), with its main settings.

    ``trigger``: ``free`` (free-run at ``frame_rate``), ``software`` (one frame per :meth:`trigger`
    call) or ``line0``..``line3`` (a hardware trigger on that input line, rising edge).  A free-running
    camera is live (the newest frame wins); a triggered one is read on demand, because each of its
    frames is a part: frames wait in the camera's stream buffers while the model judges the previous
    one, and none is dropped unless more than ``_TRIGGERED_BUFFERS`` wait.
    """

    is_live = True
    can_pause = False

    def __init__(self, camera_id: str, *, exposure_us: float | None = None, gain: float | None = None,
                 frame_rate: float | None = None, pixel_format: str | None = None,
                 region: tuple[int, int, int, int] | None = None, trigger: str = "free",
                 lost_after_s: float = 2.0) -> None:
        if trigger not in TRIGGERS:
            raise SourceError(f"trigger must be one of {', '.join(TRIGGERS)}, got {trigger!r}")
        self.camera_id = camera_id
        self.name = f"GenICam camera {camera_id}"
        self.exposure_us, self.gain, self.frame_rate = exposure_us, gain, frame_rate
        self.pixel_format, self.region, self.trigger_mode = pixel_format, region, trigger
        self.lost_after_s = lost_after_s
        self.is_live = trigger == "free"
        self._camera = None
        self._stream = None
        self._lock = threading.Lock()
        self.triggers_sent = 0
        self.frames_received = 0
        #: triggers fired that brought no picture within ``trigger_timeout_s`` (the camera ignored them)
        self.triggers_unanswered = 0
        #: a triggered picture later than this is counted as never coming (exposure allowed for)
        self.trigger_timeout_s = max(1.0, 2 * (exposure_us or 0) / 1e6 + 0.5)
        self._pending_triggers: collections.deque[float] = collections.deque()
        self._incomplete_since_frame = 0
        self._closed_totals: dict[str, int] = {}
        self.triggers_failed = 0
        self.buffers_failed = 0

    def open(self) -> None:
        ar = aravis()
        try:
            ar.update_device_list()
            camera = ar.Camera.new(self.camera_id)
            if self.pixel_format:
                camera.set_pixel_format_from_string(self.pixel_format)
            if self.region:
                self._set_region(camera)
            if self.exposure_us is not None:
                _check_range("exposure", self.exposure_us, camera.get_exposure_time_bounds(), "µs")
                camera.set_exposure_time(float(self.exposure_us))
            if self.gain is not None:
                _check_range("gain", self.gain, camera.get_gain_bounds(), "")
                camera.set_gain(float(self.gain))
            if self.frame_rate is not None:  # first: Aravis turns the trigger off when it sets a frame rate
                _check_range("frame rate", self.frame_rate, camera.get_frame_rate_bounds(), "fps")
                camera.set_frame_rate(float(self.frame_rate))
            if self.trigger_mode == "free":
                camera.clear_triggers()
            else:
                camera.set_trigger("Software" if self.trigger_mode == "software" else
                                   f"Line{self.trigger_mode[-1]}")
            stream = camera.create_stream(None, None)
            payload = camera.get_payload()
            for _ in range(_BUFFERS if self.trigger_mode == "free" else _TRIGGERED_BUFFERS):
                stream.push_buffer(ar.Buffer.new_allocate(payload))
            camera.start_acquisition()
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - GLib.Error: not found, in use, refused setting
            raise SourceError(f"{self.name} could not be opened: {getattr(exc, 'message', exc)}") from None
        with self._lock:
            self._camera, self._stream = camera, stream
        self._format = camera.get_pixel_format_as_string()
        self._last_frame_at = time.monotonic()

    def _set_region(self, camera) -> None:
        """Set the region, refusing one the sensor cannot give (Aravis would silently clamp it)."""
        x, y, w, h = self.region
        sensor_w, sensor_h = camera.get_sensor_size()
        if x + w > sensor_w or y + h > sensor_h:
            raise SourceError(f"{self.name}: the region {x},{y},{w},{h} does not fit the sensor ({sensor_w}x{sensor_h}:"
                              f" X+WIDTH <= {sensor_w}, Y+HEIGHT <= {sensor_h})")
        camera.set_region(x, y, w, h)
        got = camera.get_region()
        if tuple(got) != (x, y, w, h):
            raise SourceError(f"{self.name}: the camera gave the region {','.join(map(str, got))} instead of "
                              f"{x},{y},{w},{h} (sizes on its step grid; sensor {sensor_w}x{sensor_h})")

    @property
    def software_triggered(self) -> bool:
        return self.trigger_mode == "software"

    def trigger(self) -> None:
        """Fire the software trigger: the camera takes one frame (``trigger='software'``).  Any thread;
        raises SourceError if the camera is not open (yet) or does not answer (counted)."""
        with self._lock:
            camera = self._camera
            try:
                if camera is None:
                    raise SourceError(f"{self.name} is not open")
                if not self.software_triggered:
                    raise SourceError(f"{self.name} is not in software-trigger mode ({self.trigger_mode})")
                self._pending_triggers.append(time.monotonic())  # before: its picture may come at once
                try:
                    camera.software_trigger()
                except Exception as exc:  # noqa: BLE001 - GLib.Error from a lost camera
                    self._pending_triggers.pop()
                    raise SourceError(f"{self.name}: software trigger failed: "
                                      f"{getattr(exc, 'message', exc)}") from None
            except SourceError:
                self.triggers_failed += 1
                raise
            self.triggers_sent += 1

    def read(self) -> np.ndarray | None:
        ar = aravis()
        with self._lock:
            stream, camera = self._stream, self._camera
        if stream is None:
            raise SourceError(f"{self.name} is closed")
        buffer = stream.timeout_pop_buffer(_WAIT_US)
        if buffer is None:
            self._check_free_run()
            self._check_unanswered()
            if self.trigger_mode != "free":  # waiting for a trigger is normal: is the camera still there?
                try:
                    camera.get_device().get_integer_feature_value("Width")
                except Exception as exc:  # noqa: BLE001 - GLib.Error: the camera does not answer
                    raise SourceError(f"{self.name}: lost ({getattr(exc, 'message', exc)})") from None
            return WAITING
        try:
            if self._pending_triggers:
                self._pending_triggers.popleft()  # this buffer answers the oldest trigger
            status = buffer.get_status()
            if status != ar.BufferStatus.SUCCESS:  # lost packets, a timeout: counted, reported, skipped
                self.buffers_failed += 1
                self._incomplete_since_frame += 1
                if self.trigger_mode != "free":
                    self.warn(f"{self.name}: a triggered picture arrived incomplete ({status.value_nick}): "
                              f"that part has no verdict ({self.buffers_failed} so far)")
                elif self.buffers_failed == 1 or self.buffers_failed % 100 == 0:
                    self.warn(f"{self.name}: {self.buffers_failed} incomplete frame(s) skipped so far "
                              f"({status.value_nick}; lost packets: {self.statistics()['missing_packets']})")
                self._check_free_run()
                return WAITING  # the grabber checks for a stop before the next read
            image = convert(np.frombuffer(buffer.get_data(), np.uint8), buffer.get_image_width(),
                            buffer.get_image_height(), self._format, self.name)
            self._last_frame_at = time.monotonic()
            self._incomplete_since_frame = 0
            self.frames_received += 1
            return image
        finally:
            stream.push_buffer(buffer)

    def _check_unanswered(self) -> None:
        """Software triggers whose picture did not come within ``trigger_timeout_s``: counted, reported."""
        now = time.monotonic()
        while self._pending_triggers and now - self._pending_triggers[0] > self.trigger_timeout_s:
            self._pending_triggers.popleft()
            self.triggers_unanswered += 1
            self.warn(f"{self.name}: a software trigger brought no picture within {self.trigger_timeout_s:g} s (the "
                      f"camera ignored it: busy, or triggered too soon after the previous one); that part has no "
                      f"verdict ({self.triggers_unanswered} so far)")

    def _check_free_run(self) -> None:
        """A free-running camera with no complete frame for ``lost_after_s`` is lost: SourceError."""
        waited = time.monotonic() - self._last_frame_at
        if self.trigger_mode != "free" or waited <= self.lost_after_s:
            return
        if self._incomplete_since_frame:
            raise SourceError(f"{self.name}: no complete frame for {waited:.1f} s; {self._incomplete_since_frame} "
                              "arrived with lost packets (network overloaded? check the cable, the packet size and "
                              "the inter-packet delay)")
        raise SourceError(f"{self.name}: no frame for {waited:.1f} s (unplugged or stopped?)")

    def statistics(self) -> dict[str, int]:
        """The stream's counts since the source was created (all connections): frames received,
        incomplete, and packets missing, resent and received (GigE Vision)."""
        totals = dict(self._closed_totals)
        with self._lock:
            stream = self._stream
        if stream is not None:
            for key, value in _stream_counts(stream).items():
                totals[key] = totals.get(key, 0) + value
        return {"frames": self.frames_received, "incomplete": self.buffers_failed,
                **{key: totals.get(key, 0) for key in _STREAM_COUNTS}}

    def close(self) -> None:
        with self._lock:
            camera, stream, self._camera, self._stream = self._camera, self._stream, None, None
        if stream is not None:
            for key, value in _stream_counts(stream).items():
                self._closed_totals[key] = self._closed_totals.get(key, 0) + value
        if self._pending_triggers:  # their pictures will not come from this connection
            lost = len(self._pending_triggers)
            self._pending_triggers.clear()
            self.triggers_unanswered += lost
            self.warn(f"{self.name}: {lost} software trigger(s) brought no picture before the camera was closed; "
                      "those parts have no verdict")
        if camera is not None:
            try:
                camera.stop_acquisition()
            except Exception:  # noqa: BLE001 - a lost camera cannot be stopped
                pass

