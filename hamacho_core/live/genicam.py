"""GenICam cameras (GigE Vision, USB3 Vision) through Aravis, as a live frame source.

Needs Aravis with its GObject introspection data (Debian: ``gir1.2-aravis-0.8``) and PyGObject
(``pip install "hamacho[genicam]"``).  ``list_cameras()`` finds the cameras; ``GenicamSource`` opens
one by id (``genicam:<id>`` as a source spec), sets exposure, gain, frame rate, pixel format, region
and trigger mode (free-run, software, a hardware line), and converts Mono8/12/16, Bayer*8 (demosaiced)
and RGB8 buffers to RGB.  A camera that stops answering raises :class:`SourceError`, so the grabber
reports it, counts the attempt and reconnects, as for any other source.
"""

from __future__ import annotations

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
_BUFFERS = 4
_WAIT_US = 200_000  # one wait for a buffer; the grabber's stop is checked in between


def aravis():
    """The Aravis module, or SourceError saying what to install."""
    try:
        import gi

        gi.require_version("Aravis", "0.8")
        from gi.repository import Aravis
    except (ImportError, ValueError) as exc:
        raise SourceError(f"GenICam cameras need Aravis and PyGObject (Debian: apt install gir1.2-aravis-0.8; "
                          f"then pip install \"hamacho[genicam]\"): {exc}") from None
    return Aravis


@dataclass(frozen=True)
class CameraInfo:
    id: str
    vendor: str
    model: str
    serial: str
    address: str
    protocol: str


def list_cameras() -> list[CameraInfo]:
    """The GenICam cameras Aravis finds now (GigE Vision on every interface, USB3 Vision)."""
    ar = aravis()
    ar.update_device_list()
    return [CameraInfo(ar.get_device_id(i), ar.get_device_vendor(i) or "", ar.get_device_model(i) or "",
                       ar.get_device_serial_nbr(i) or "", ar.get_device_address(i) or "",
                       ar.get_device_protocol(i) or "") for i in range(ar.get_n_devices())]


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
    call) or ``line0``..``line3`` (a hardware trigger on that input line, rising edge).
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
        self._camera = None
        self._stream = None
        self._lock = threading.Lock()
        self.triggers_sent = 0
        self.buffers_failed = 0

    def open(self) -> None:
        ar = aravis()
        try:
            ar.update_device_list()
            camera = ar.Camera.new(self.camera_id)
            if self.pixel_format:
                camera.set_pixel_format_from_string(self.pixel_format)
            if self.region:
                camera.set_region(*self.region)
            if self.exposure_us is not None:
                camera.set_exposure_time(float(self.exposure_us))
            if self.gain is not None:
                camera.set_gain(float(self.gain))
            if self.trigger_mode == "free":
                camera.clear_triggers()
                if self.frame_rate:
                    camera.set_frame_rate(float(self.frame_rate))
            else:
                camera.set_trigger("Software" if self.trigger_mode == "software" else
                                   f"Line{self.trigger_mode[-1]}")
            stream = camera.create_stream(None, None)
            payload = camera.get_payload()
            for _ in range(_BUFFERS):
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

    def trigger(self) -> None:
        """Fire the software trigger: the camera takes one frame (``trigger='software'``)."""
        with self._lock:
            camera = self._camera
        if camera is None:
            raise SourceError(f"{self.name} is not open")
        try:
            camera.software_trigger()
        except Exception as exc:  # noqa: BLE001 - GLib.Error from a lost camera
            raise SourceError(f"{self.name}: software trigger failed: {getattr(exc, 'message', exc)}") from None
        self.triggers_sent += 1

    def read(self) -> np.ndarray | None:
        ar = aravis()
        while True:
            with self._lock:
                stream, camera = self._stream, self._camera
            if stream is None:
                raise SourceError(f"{self.name} is closed")
            buffer = stream.timeout_pop_buffer(_WAIT_US)
            if buffer is None:
                waited = time.monotonic() - self._last_frame_at
                if self.trigger_mode == "free" and waited > self.lost_after_s:
                    raise SourceError(f"{self.name}: no frame for {waited:.1f} s (unplugged or stopped?)")
                if self.trigger_mode != "free":  # waiting for a trigger is normal: is the camera still there?
                    try:
                        camera.get_device().get_integer_feature_value("Width")
                    except Exception as exc:  # noqa: BLE001 - GLib.Error: the camera does not answer
                        raise SourceError(f"{self.name}: lost ({getattr(exc, 'message', exc)})") from None
                return WAITING
            try:
                if buffer.get_status() != ar.BufferStatus.SUCCESS:
                    self.buffers_failed += 1
                    continue  # a lost-packet buffer: counted, skipped
                image = convert(np.frombuffer(buffer.get_data(), np.uint8), buffer.get_image_width(),
                                buffer.get_image_height(), self._format, self.name)
                self._last_frame_at = time.monotonic()
                return image
            finally:
                stream.push_buffer(buffer)

    def close(self) -> None:
        with self._lock:
            camera, self._camera, self._stream = self._camera, None, None
        if camera is not None:
            try:
                camera.stop_acquisition()
            except Exception:  # noqa: BLE001 - a lost camera cannot be stopped
                pass

