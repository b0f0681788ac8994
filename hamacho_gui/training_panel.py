"""Training panel: model kind, backbone, feature layers, region, and the model's settings; Train /
Cancel; progress with human stage names and ETA.

The settings rows are generated from the config dataclasses (fields marked ``gui`` in
:mod:`hamacho_core.config`: label, range, step, help and default declared once); a row shows when the
chosen model has that field.  The panel never trains: Train emits :attr:`TrainingPanel.train_requested`
with a :class:`~hamacho_gui.tasks.TrainRequest` (kind + checked config) and the main window runs the job
on its worker lane, forwarding progress to :meth:`set_progress` and the outcome to :meth:`set_status`.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from hamacho_core import autoconfig, backbones, config
from hamacho_core.config import ConfigError, FieldInfo
from hamacho_core.models import DEFAULT_KIND, REGISTRY, ModelConfig, planning
from hamacho_core.thresholds import NG, VERDICT_COLOURS
from hamacho_gui.tasks import TrainRequest

DEFAULT_BACKBONE = config.default(ModelConfig, "backbone")
STAGE_NAMES = {
    "scan": "Scanning",
    "features": "Extracting features",
    "coreset": "Selecting coreset",
    "memory bank": "Building memory bank",
    "covariance": "Estimating covariance",
    "thresholds": "Setting thresholds",
    "inspect": "Inspecting images",
    "review": "Scoring images to review",
    "export": "Exporting results",
    "saving": "Saving model",
}
_ROLE_NAME = Qt.ItemDataRole.UserRole


def stage_label(stage: str) -> str:
    """Human name of a core progress stage ("features" -> "Extracting features"; automatic configuration's
    "auto 2/6 PaDiM: features" -> "Trying 2/6 PaDiM: Extracting features")."""
    if stage.startswith("auto "):
        head, _, inner = stage[5:].partition(": ")
        return f"Trying {head}" + (f": {stage_label(inner)}" if inner else "")
    return STAGE_NAMES.get(stage, stage[:1].upper() + stage[1:] if stage else "Working")


def format_eta(seconds: float) -> str:
    """``0:35``, ``12:05``, ``1:02:03``; ``unknown`` for a negative (unknown) time."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return "unknown"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _budget_box(low: float, high: float, decimals: int, suffix: str, value: float, tip: str) -> QDoubleSpinBox:
    """A spin box of one of Find best settings' budgets."""
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setValue(value)
    box.setToolTip(tip)
    return box


def missing_weights_tip(name: str) -> str:
    return (f"{name}: weights missing on this machine. Use Model manager > Import weights, "
            f"or `hamacho backbones --import {name} FILE` (the file comes from torchvision; "
            "download it on a machine with internet).")


class TrainingPanel(QWidget):
    """Model settings and the Train / Cancel buttons."""

    train_requested = Signal(object)  # TrainRequest
    settings_changed = Signal(object)  # TrainRequest, or None while the settings are not valid
    cancel_requested = Signal()
    roi_draw_requested = Signal(str)  # "rect" or "polygon": draw on the image viewer

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._running = False
        self._started = time.monotonic()  # when the running job began (its "so far")
        self._dataset_ready = False
        self._layers_error = ""
        self._build()
        self.refresh_backbones()
        self._on_kind_changed()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.kind_combo = QComboBox()
        for kind, spec in REGISTRY.items():
            self.kind_combo.addItem(spec.name, kind)
            self.kind_combo.setItemData(self.kind_combo.count() - 1, spec.description, Qt.ItemDataRole.ToolTipRole)
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)

        self.backbone_combo = QComboBox()
        self.backbone_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.backbone_combo.setMinimumContentsLength(14)
        self.backbone_combo.currentIndexChanged.connect(self._on_backbone_changed)

        self.layers_list = QListWidget()
        self.layers_list.setToolTip("Feature layers to use. Earlier layers see small details (low stride), "
                                    "later ones larger structures.")
        self.layers_list.setMinimumHeight(100)
        self.layers_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.layers_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.layers_list.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.layers_list.itemChanged.connect(self._update_enabled)
        self.layers_default_button = QPushButton("Defaults")
        self.layers_default_button.setToolTip("Check the recommended layers for this backbone and model")
        self.layers_default_button.clicked.connect(self._refresh_layers)
        layers_box = QWidget()
        layers_layout = QVBoxLayout(layers_box)
        layers_layout.setContentsMargins(0, 0, 0, 0)
        layers_layout.addWidget(self.layers_list, 1)
        row = QHBoxLayout()
        self.layers_hint = QLabel()
        self.layers_hint.setStyleSheet("color: #777777;")
        row.addWidget(self.layers_hint, 1)
        row.addWidget(self.layers_default_button)
        layers_layout.addLayout(row)

        settings = QGroupBox("Model")
        self.form = QFormLayout(settings)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        # Automatic configuration: settings left at their defaults are searched, changed ones are kept.
        self.auto_check = QCheckBox("Find best settings")
        self.auto_check.setToolTip("Try several settings (geometry, backbone, layers, model) on held-out good "
                                   "images with synthetic defects and keep the one that finds them best. Settings "
                                   "you change below are kept as you set them.")
        self.max_ms_box = _budget_box(5.0, 10000.0, 0, " ms", autoconfig.DEFAULT_MAX_MS,
                                      "Settings predicted to take longer than this for one image are not tried")
        self.budget_box = _budget_box(0.5, 600.0, 1, " min", autoconfig.DEFAULT_BUDGET_MIN,
                                      "How long the search may take; Cancel keeps the best settings tried so far")
        self.auto_check.toggled.connect(self._update_enabled)
        self.form.addRow(self.auto_check)
        self.form.addRow("Time an image at most:", self.max_ms_box)
        self.form.addRow("Search for at most:", self.budget_box)
        self.form.addRow("Model:", self.kind_combo)
        self.form.addRow("Backbone:", self.backbone_combo)
        self.form.addRow("Layers:", layers_box)
        self.fields: dict[str, QSpinBox | QDoubleSpinBox | QComboBox] = {}  # generated from the config dataclasses
        #: What the chosen geometry does to the loaded images, and what to try (hamacho_core.models.planning.advise):
        #: under the Geometry row.
        self.geometry_hint = QLabel()
        self.geometry_hint.setWordWrap(True)
        self.geometry_hint.setStyleSheet("color: #555555;")
        self.geometry_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.geometry_hint.setVisible(False)
        for cls in {spec.config_cls: None for spec in REGISTRY.values()}:
            for info in config.gui_fields(cls):
                if info.name not in self.fields:
                    self.fields[info.name] = self._field_widget(info)
                    self.form.addRow(f"{info.setting.label}:", self.fields[info.name])
                    if info.name == "geometry":
                        self.form.addRow(self.geometry_hint)
        self.roi: tuple | None = None
        self.roi_label = QLabel("whole image")
        roi_row = QVBoxLayout()  # the label above its buttons: narrow docks stay narrow
        roi_row.addWidget(self.roi_label)
        roi_buttons = QHBoxLayout()
        for text, kind in (("Rectangle", "rect"), ("Polygon", "polygon")):
            button = QPushButton(text)
            button.setToolTip("Draw on the image: only this region will be learned and judged")
            button.clicked.connect(lambda _checked=False, k=kind: self.roi_draw_requested.emit(k))
            roi_buttons.addWidget(button)
        self.roi_clear_button = QPushButton("Clear")
        self.roi_clear_button.clicked.connect(lambda: self.set_roi(None))
        roi_buttons.addWidget(self.roi_clear_button)
        roi_row.addLayout(roi_buttons)
        self.form.addRow("Region:", roi_row)
        self._image_dims: tuple[int, int] | None = None
        self._n_images: int | None = None
        self._emit_settings()  # fields the geometry does not use start disabled

        self.report_button = QPushButton("Search report")
        self.report_button.setToolTip("What the last 'Find best settings' tried, how each did and why one won")
        self.report_button.setVisible(False)
        self.report_button.clicked.connect(self.show_auto_report)
        self._auto_report = None
        self.report_dialog: QDialog | None = None
        self.train_button = QPushButton("Train")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self._on_train_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.report_button)
        buttons.addStretch(1)
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_button)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.progress_bar.setTextVisible(True)
        self.stage_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        line = self.fontMetrics().lineSpacing()  # room reserved: nothing moves when a status appears
        self.stage_label.setMinimumHeight(line + 2)
        self.status_label.setMinimumHeight(3 * line + 2)
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # The settings scroll on a small screen; Train/Cancel, progress and status always stay in view.
        scroll = QScrollArea()
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_area = scroll
        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.stage_label)
        layout.addWidget(self.status_label)

    def _field_widget(self, info: FieldInfo) -> QSpinBox | QDoubleSpinBox | QComboBox:
        """A spin box for a numeric setting (a combo box for a choice): its range, step, default and
        help from the dataclass; a field that may be None shows what None means at the bottom of its
        range.  A size field's box is a square side (or the short side); a (width, height) size is
        shown as its short side."""
        s = info.setting
        if s.choices:
            combo = QComboBox()
            for choice in s.choices:
                combo.addItem(choice, choice)
            combo.setCurrentIndex(s.choices.index(info.default))
            combo.setToolTip(info.describe())
            combo.setProperty("setting", info.name)
            combo.currentIndexChanged.connect(self._emit_settings)
            return combo
        if info.type in ("int", "size"):
            box = QSpinBox()
            low = int(s.low) - (1 if s.special else 0)
            box.setRange(low, int(s.high))
            box.setSingleStep(int(s.step or 1))
            box.setValue(low if info.default is None else int(info.default))
        else:
            box = QDoubleSpinBox()
            decimals = max(2, *(len(f"{v:g}".split(".")[1]) if "." in f"{v:g}" else 0 for v in (s.step or 0.01, s.low)))
            box.setDecimals(decimals)
            low = float(s.low) - (10 ** -decimals if s.special else 0.0)  # one notch below: "None" (special)
            box.setRange(low, float(s.high))
            box.setSingleStep(float(s.step or 0.01))
            box.setValue(low if info.default is None else float(info.default))
        if s.special:
            box.setSpecialValueText(s.special)
        box.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        box.setToolTip(info.describe())
        box.setProperty("setting", info.name)
        box.valueChanged.connect(self._emit_settings)
        return box

    def _field_value(self, name: str):
        box = self.fields[name]
        if isinstance(box, QComboBox):
            return box.currentData()
        if isinstance(box, QSpinBox):
            return None if box.specialValueText() and box.value() == box.minimum() else int(box.value())
        if box.specialValueText() and box.value() == box.minimum():
            return None
        return round(float(box.value()), box.decimals())

    # ------------------------------------------------------------------ public API
    def request(self) -> TrainRequest:
        """The model kind and its checked config (``ConfigError`` names a bad setting)."""
        kind = self.kind()
        spec = REGISTRY[kind]
        own = {f.name for f in config.fields_of(spec.config_cls)}
        fields = {name: self._field_value(name) for name in self.fields if name in own}
        cfg = spec.config(backbone=self.backbone(), layers=self.checked_layers() or None, roi=self.roi, **fields)
        if not self.auto_check.isChecked():
            return TrainRequest(kind, cfg)
        defaults = spec.config()
        pinned = {name: value for name, value in fields.items() if value != getattr(defaults, name)}
        if self.backbone() != defaults.backbone:
            pinned["backbone"] = self.backbone()
        if self.checked_layers() != spec.default_layers(self.backbone()):
            pinned["layers"] = self.checked_layers()
        if self.roi is not None:
            pinned["roi"] = self.roi
        return TrainRequest(kind, cfg, auto=autoconfig.AutoRequest(
            pinned, None if kind == DEFAULT_KIND else kind, self.max_ms_box.value(), self.budget_box.value()))

    def set_field(self, name: str, value) -> None:
        """Set a generated setting's widget (``None`` where the setting allows it)."""
        box = self.fields[name]
        if isinstance(box, QComboBox):
            index = box.findData(value)
            if index < 0:
                raise ValueError(f"{name} must be one of {', '.join(box.itemData(i) for i in range(box.count()))}, "
                                 f"got {value!r}")
            box.setCurrentIndex(index)
        elif isinstance(value, list | tuple):  # (width, height): the short side
            box.setValue(min(value))
        else:
            box.setValue(box.minimum() if value is None else value)

    def settings_request(self) -> TrainRequest | None:
        """The request Train would send now, or None while the settings are incomplete or invalid."""
        try:
            return self.request() if self.kind() and self.backbone() and self.checked_layers() else None
        except (ConfigError, KeyError):
            return None

    def _emit_settings(self, *_args) -> None:
        geometry = self.fields.get("geometry")
        if geometry is not None:  # only the fields the chosen geometry uses are editable
            tiles = geometry.currentData() == "tiles"
            editable = not getattr(self, "_running", False)
            for name, box in self.fields.items():
                if name.startswith("tile_"):
                    box.setEnabled(editable and tiles)
            if "image_size" in self.fields:
                self.fields["image_size"].setEnabled(editable and not tiles)
        if hasattr(self, "roi_label"):  # not while the form is being built
            request = self.settings_request()
            self._update_geometry_hint(request)
            self.settings_changed.emit(request)

    def set_image_dims(self, dims: tuple[int, int] | None, n_images: int | None = None) -> None:
        """The training images' typical (width, height) and their number, for the geometry advice and
        its cost estimate (None: no dataset)."""
        self._image_dims = None if dims is None else (int(dims[0]), int(dims[1]))
        self._n_images = n_images
        self._emit_settings()

    def _update_geometry_hint(self, request: TrainRequest | None) -> None:
        text = ""
        if request is not None and self._image_dims is not None:
            n_fit = None if not self._n_images else round(self._n_images * (1 - request.config.holdout_fraction))
            text = planning.advise(request.config, self._image_dims, n_fit)  # the region of interest applies
        self.geometry_hint.setText(text)
        self.geometry_hint.setVisible(bool(text))

    def set_roi(self, points) -> None:
        """The region of interest for the next training (normalised points), or None for all."""
        self.roi = tuple(tuple(p) for p in points) if points else None
        if self.roi is None:
            self.roi_label.setText("whole image")
        else:
            self.roi_label.setText("rectangle" if len(self.roi) == 2 else f"polygon, {len(self.roi)} corners")
        self._emit_settings()

    def kind(self) -> str:
        return self.kind_combo.currentData() or ""

    def backbone(self) -> str:
        return self.backbone_combo.currentData() or ""

    def checked_layers(self) -> tuple[str, ...]:
        """Checked layers in the backbone's order (shallow to deep)."""
        items = (self.layers_list.item(i) for i in range(self.layers_list.count()))
        return tuple(it.data(_ROLE_NAME) for it in items if it.checkState() == Qt.CheckState.Checked)

    def set_running(self, running: bool) -> None:
        self._running = bool(running)
        self._started = time.monotonic()
        if self._running:
            self.progress_bar.setRange(0, 0)  # busy until the first progress report
            self.progress_bar.setFormat("")
            self.stage_label.setText("Starting ...")
        else:  # the outcome goes to set_status; a stale bar would look like work in progress
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
            self.stage_label.setText("")
        self._update_enabled()

    def set_progress(self, stage: str, done: int, total: int, eta_s: float) -> None:
        name = stage_label(stage)
        if total > 0:
            done = max(0, min(int(done), int(total)))
            self.progress_bar.setRange(0, int(total))
            self.progress_bar.setValue(done)
            self.progress_bar.setFormat(f"{done}/{total}")
            # The ETA is of this step (a training has several, a search many): said so, with the time so far,
            # so a new step's ETA is not read as the whole job's growing (issue 24, 9).
            self.stage_label.setText(f"{name}: {done}/{total} \u00b7 this step {format_eta(eta_s)} left"
                                     f" \u00b7 {format_eta(time.monotonic() - self._started)} so far")
        else:
            self.progress_bar.setRange(0, 0)
            self.progress_bar.setFormat("")
            self.stage_label.setText(f"{name} ...")

    def set_auto_report(self, report) -> None:
        """The last automatic configuration's report (an ``AutoReport``), or None: the Search report button."""
        self._auto_report = report
        self.report_button.setVisible(report is not None)
        if self.report_dialog is not None:
            self.report_dialog.close()
            self.report_dialog = None

    def show_auto_report(self) -> None:
        """The search's table in a window that stays open beside the main one."""
        if self._auto_report is None:
            return
        dialog = QDialog(self)
        dialog.setWindowTitle("Find best settings: report")
        text = QPlainTextEdit(self._auto_report.table())
        text.setReadOnly(True)
        text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        close = QPushButton("Close")
        close.clicked.connect(dialog.close)
        layout = QVBoxLayout(dialog)
        layout.addWidget(text)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        dialog.resize(min(1100, 9 * text.fontMetrics().averageCharWidth() * 14), 420)
        self.report_dialog = dialog
        dialog.show()

    def set_status(self, text: str, warning: bool = False) -> None:
        """The outcome under the progress bar; ``warning`` shows it in the NG colour (known defects would pass)."""
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {VERDICT_COLOURS[NG]}; font-weight: bold;" if warning else "")

    def set_dataset_ready(self, ready: bool) -> None:
        self._dataset_ready = bool(ready)
        self._update_enabled()

    def refresh_backbones(self) -> None:
        """Re-read which backbones have weights (e.g. after an import); keeps the choice if still usable."""
        current = self.backbone() or DEFAULT_BACKBONE
        combo = self.backbone_combo
        combo.blockSignals(True)
        try:
            combo.clear()
            model = combo.model()
            for name in backbones.available_names():
                try:
                    status = backbones.weights_status(name)
                except Exception as exc:  # noqa: BLE001 - an unusable entry is shown disabled, never fatal
                    available, state, tip = False, "unavailable", f"{name}: {exc}"
                else:
                    available, state = status.available, status.state
                    tip = (f"{backbones.describe(name)}\nweights: {state} ({status.path})"
                           if available else missing_weights_tip(name))
                text = name if available else f"{name} (weights missing)"
                combo.addItem(text, name)
                index = combo.count() - 1
                combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
                if not available:
                    model.item(index).setEnabled(False)
            usable = [i for i in range(combo.count()) if model.item(i).isEnabled()]
            wanted = combo.findData(current)
            if wanted not in usable:
                wanted = combo.findData(DEFAULT_BACKBONE)
            if wanted not in usable:
                wanted = usable[0] if usable else 0
            combo.setCurrentIndex(wanted)
        finally:
            combo.blockSignals(False)
        self._on_backbone_changed()

    # ------------------------------------------------------------------ reactions
    def _on_kind_changed(self, *_args) -> None:
        kind = self.kind()
        own = {f.name for f in config.fields_of(REGISTRY[kind].config_cls)} if kind else set()
        for name, box in self.fields.items():
            self.form.setRowVisible(box, name in own)
        self._refresh_layers()

    def _on_backbone_changed(self, *_args) -> None:
        self._refresh_layers()

    def _backbone_usable(self) -> bool:
        index = self.backbone_combo.currentIndex()
        item = self.backbone_combo.model().item(index) if index >= 0 else None
        return item is not None and item.isEnabled()

    def _refresh_layers(self, *_args) -> None:
        """List the backbone's layers (``list_layers`` is cached) with the defaults for the model kind checked."""
        name, kind = self.backbone(), self.kind()
        self.layers_list.blockSignals(True)
        try:
            self.layers_list.clear()
            self._layers_error = ""
            if not name or not kind:
                return
            try:
                layers = backbones.list_layers(name)
            except Exception as exc:  # noqa: BLE001
                self._layers_error = f"cannot list the layers of {name}: {exc}"
                return
            try:
                defaults = set(REGISTRY[kind].default_layers(name))
            except ValueError:
                defaults = set()
            for info in layers:
                item = QListWidgetItem(f"{info.name}  ({info.channels} ch, /{info.stride})")
                item.setData(_ROLE_NAME, info.name)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if info.name in defaults else Qt.CheckState.Unchecked)
                item.setToolTip(f"{info.name}: {info.channels} channels, 1/{info.stride} of the input size")
                self.layers_list.addItem(item)
        finally:
            self.layers_list.blockSignals(False)
            self._fit_layers_height()
            self._update_enabled()

    def _fit_layers_height(self) -> None:
        """Tall enough for every layer (up to 8 rows, then it scrolls), no empty space below."""
        lst = self.layers_list
        rows = min(max(lst.count(), 4), 8)
        row_h = lst.sizeHintForRow(0) if lst.count() else lst.fontMetrics().height() + 4
        lst.setMaximumHeight(rows * row_h + 2 * lst.frameWidth() + 4)

    def _update_enabled(self, *_args) -> None:
        layers = self.checked_layers()
        idle = not self._running
        for w in (self.kind_combo, self.backbone_combo, self.layers_list, self.layers_default_button,
                  *self.fields.values(), self.auto_check):
            w.setEnabled(idle)
        for w in (self.max_ms_box, self.budget_box):
            w.setEnabled(idle and self.auto_check.isChecked())
        self.train_button.setText("Find best settings and train" if self.auto_check.isChecked() else "Train")
        reasons = []
        if not self._dataset_ready:
            reasons.append("open a dataset first")
        if not self._backbone_usable():
            reasons.append(f"the weights of {self.backbone() or 'the backbone'} are missing")
        if self._layers_error:
            reasons.append(self._layers_error)
        elif not layers:
            reasons.append("check at least one layer")
        self.train_button.setEnabled(idle and not reasons)
        self.train_button.setToolTip("Train a model on the dataset's good images" if not reasons
                                     else "Cannot train: " + "; ".join(reasons))
        self.cancel_button.setEnabled(self._running)
        n = len(layers)
        self.layers_hint.setText(self._layers_error or f"{n} layer{'s' if n != 1 else ''} checked")
        self._emit_settings()

    def _on_train_clicked(self) -> None:
        if not self.train_button.isEnabled():
            return
        try:
            request = self.request()
        except ConfigError as exc:
            self.set_status(f"Cannot train: {exc}")
            return
        self.train_requested.emit(request)
