"""The Live tab's GenICam camera settings: the cameras found (with their current settings), trigger
mode, exposure, gain, frame rate and pixel format for the next Start.  The camera itself lives in
``hamacho_core.live.genicam``; finding and reading cameras runs on the ``devices`` lane of
:class:`~hamacho_gui.workers.Workers`."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QSizePolicy

from hamacho_core.live import SourceError
from hamacho_gui.workers import Workers, guard, panel_workers

#: trigger mode -> label (the core's GenicamSource ``trigger`` values)
TRIGGERS = {"free": "Free-run", "software": "Software",
            "line0": "Hardware, line 0", "line1": "Hardware, line 1", "line2": "Hardware, line 2",
            "line3": "Hardware, line 3"}
CAMERAS_DEFAULT = "camera's"


def find_cameras(progress, should_stop) -> tuple[list, list, str]:
    """The devices lane's job: the cameras, their settings (or an error text each), and an error text."""
    from hamacho_core.live.genicam import describe_camera, list_cameras

    try:
        cameras = list_cameras()
    except SourceError as exc:  # no camera library, say: said, not a failure with a traceback
        return [], [], str(exc)
    described = []
    for camera in cameras:
        try:
            described.append(describe_camera(camera.id))
        except SourceError as exc:  # in use by another program, say: still listed
            described.append(str(exc))
    return cameras, described, ""


def _spin(decimals: int, low: float, high: float, suffix: str, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setDecimals(decimals)
    box.setRange(low, high)  # the lowest value shows as "camera's": the setting is left as the camera has it
    box.setSpecialValueText(CAMERAS_DEFAULT)
    box.setSuffix(suffix)
    box.setToolTip(tip + " (lowest value: leave the camera's own setting)")
    return box


class CameraBox(QGroupBox):
    """GenICam camera choice and settings; :meth:`options` gives the ``open_source`` keywords."""

    #: cameras found (``CameraInfo`` list), or an empty list with the error text
    found = Signal(list, str)
    #: a camera chosen in the list: its ``genicam:<id>`` source spec
    chosen = Signal(str)

    def __init__(self, parent=None, *, workers: Workers | None = None):
        super().__init__("GenICam camera", parent)
        self.workers = panel_workers(self, workers)
        self.cameras: list = []
        self.settings_found: list = []
        self.camera_combo = QComboBox()
        self.camera_combo.setToolTip("The cameras found (Find cameras...), with their current settings")
        self.camera_combo.currentIndexChanged.connect(self._on_camera)
        self.described = QLabel("Press Find cameras... to list the GigE Vision and USB3 Vision cameras.")
        self.described.setWordWrap(True)
        self.described.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.trigger_combo = QComboBox()
        for mode, label in TRIGGERS.items():
            self.trigger_combo.addItem(label, mode)
        self.trigger_combo.setToolTip("Free-run: the camera streams, the newest frame is judged. Software: one "
                                      "picture per trigger (the Trigger button, a PLC writing 1 to Modbus register "
                                      "8, a message on MQTT TOPIC/trigger), every one judged. Hardware: the camera's "
                                      "input line (rising edge), every picture judged.")
        self.exposure_spin = _spin(0, 0, 10_000_000, " µs", "Exposure time")
        self.gain_spin = _spin(1, -100.1, 100, "", "Gain (the camera's unit, often dB)")
        self.rate_spin = _spin(1, 0, 1000, " fps", "Frame rate (free-run; with a trigger, the fastest the camera "
                                                   "accepts triggers: faster ones are ignored)")
        self._available = {"exposure_us": True, "gain": True, "frame_rate": True}
        self.format_combo = QComboBox()
        self.format_combo.setToolTip("Pixel format (Bayer formats are demosaiced, 10-16 bit scaled to 8 bit)")
        self._wanted_format: str | None = None
        self._set_formats(())
        grid = QGridLayout(self)
        grid.addWidget(QLabel("Camera:"), 0, 0)
        grid.addWidget(self.camera_combo, 0, 1, 1, 5)
        grid.addWidget(QLabel("Trigger:"), 0, 6)
        grid.addWidget(self.trigger_combo, 0, 7)
        for i, (label, widget) in enumerate((("Format:", self.format_combo), ("Exposure:", self.exposure_spin),
                                             ("Gain:", self.gain_spin), ("Rate:", self.rate_spin))):
            grid.addWidget(QLabel(label), 1, 2 * i)
            grid.addWidget(widget, 1, 2 * i + 1)
        grid.addWidget(self.described, 2, 0, 1, 8)
        for column in (1, 3, 5, 7):
            grid.setColumnStretch(column, 1)

    # --- public -----------------------------------------------------------------------------
    def options(self) -> dict:
        """``open_source`` keywords for a GenICam source (None: the camera's own setting)."""
        def value(spin: QDoubleSpinBox) -> float | None:
            return None if spin.value() <= spin.minimum() else spin.value()

        return {"trigger": self.trigger_combo.currentData(), "exposure_us": value(self.exposure_spin),
                "gain": value(self.gain_spin), "frame_rate": value(self.rate_spin),
                "pixel_format": self.format_combo.currentData()}

    @property
    def software_trigger(self) -> bool:
        return self.trigger_combo.currentData() == "software"

    def find(self) -> None:
        """List the cameras and read their settings on the devices lane; ``found`` fires when done."""
        self._say("Looking for GenICam cameras ...")
        self.workers.devices.start("find cameras", find_cameras, on_done=guard(self, lambda r: self._on_found(*r)),
                                   on_failed=guard(self, lambda message: self._on_found([], [], message)))

    def set_running(self, running: bool) -> None:
        for widget in (self.camera_combo, self.trigger_combo, self.format_combo):
            widget.setEnabled(not running)
        for key, spin in self._spins().items():  # a setting the camera lacks stays disabled
            spin.setEnabled(not running and self._available[key])

    def save(self, qsettings) -> None:
        options = self.options()
        for key, value in options.items():
            qsettings.setValue(f"genicam/{key}", "" if value is None else value)

    def restore(self, qsettings) -> None:
        index = self.trigger_combo.findData(str(qsettings.value("genicam/trigger", "free")))
        self.trigger_combo.setCurrentIndex(max(0, index))
        for key, spin in self._spins().items():
            try:
                value = float(qsettings.value(f"genicam/{key}", ""))
            except (TypeError, ValueError):  # "" (the camera's) or garbage
                spin.setValue(spin.minimum())
                continue
            spin.setValue(value if value > spin.minimum() else spin.minimum() + 10 ** -spin.decimals())
        self._wanted_format = str(qsettings.value("genicam/pixel_format", "") or "") or None
        self._set_formats(())

    def _spins(self) -> dict[str, QDoubleSpinBox]:
        return {"exposure_us": self.exposure_spin, "gain": self.gain_spin, "frame_rate": self.rate_spin}

    # --- internals --------------------------------------------------------------------------
    def _say(self, text: str) -> None:
        self.described.setText(text)
        self.described.setVisible(bool(text))

    def _set_formats(self, formats) -> None:
        """The chosen camera's formats (the one asked for kept, even before its camera is found)."""
        wanted = self.format_combo.currentData() or self._wanted_format
        if formats:
            self._wanted_format = None  # a restored choice is applied to the first camera found, once
        self.format_combo.clear()
        self.format_combo.addItem(CAMERAS_DEFAULT, None)
        for name in dict.fromkeys([*formats, *([wanted] if wanted else [])]):
            self.format_combo.addItem(name, name)
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(wanted)))

    def _on_found(self, cameras: list, described: list, error: str) -> None:
        self.cameras, self.settings_found = cameras, described
        self.camera_combo.blockSignals(True)
        self.camera_combo.clear()
        for camera, settings in zip(cameras, described, strict=True):
            now = "settings not readable" if isinstance(settings, str) else settings.summary()
            self.camera_combo.addItem(f"{camera.vendor} {camera.model} (serial {camera.serial}, {camera.address}): "
                                      f"{now}", f"genicam:{camera.id}")
        self.camera_combo.blockSignals(False)
        if error:
            self._say(error)
        elif not cameras:
            self._say("No GenICam camera found (connected, powered, on this PC's network?)")
        else:
            self._on_camera(0)
        self.found.emit(cameras, error)

    def _on_camera(self, index: int) -> None:
        if not 0 <= index < len(self.cameras):
            return
        settings = self.settings_found[index]
        if isinstance(settings, str):
            self._say(settings)
            self._set_formats(())
        else:
            self._say("")
            self.camera_combo.setToolTip(f"Now: {settings.summary()}; formats {', '.join(settings.pixel_formats)}")
            self._set_formats(settings.pixel_formats)
            spans = {"exposure_us": settings.exposure_range, "gain": settings.gain_range,
                     "frame_rate": settings.frame_rate_range}
            for key, spin in self._spins().items():
                span = spans[key]
                self._available[key] = span is not None
                spin.setEnabled(span is not None)
                if span is not None:  # one notch below the camera's lowest value stays "camera's"
                    explicit, value = spin.value() > spin.minimum(), spin.value()
                    spin.setRange(span[0] - 10 ** -spin.decimals(), span[1])
                    # a value asked for is kept, moved into the camera's range if need be
                    spin.setValue(min(span[1], max(span[0], value)) if explicit else spin.minimum())
        self.chosen.emit(self.camera_combo.itemData(index))
