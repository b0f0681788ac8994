"""The Models tab's "Backbones" page: each featured backbone's weights (state, size, import), its
layers, and what a fit with the checked layers will hold in memory.

Everything that touches the disk (weights status, the hashing behind it, layer listing, imports) runs
on the ``files`` lane of :class:`~hamacho_gui.workers.Workers`; the page shows "Checking weights…" or
"Importing…" meanwhile.  The memory estimate is the model registry's
(:meth:`hamacho_core.models.ModelSpec.estimate_memory`) for the model the Train tab will train
(:meth:`BackbonesTab.set_training_settings`), with this page's backbone and checked layers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hamacho_core import backbones, library
from hamacho_core.models import REGISTRY, ModelConfig
from hamacho_gui.manager_widgets import (
    _ROLE,
    ERROR_COLOR,
    MUTED_COLOR,
    STATE_COLORS,
    STATE_TEXT,
    _fit_height,
    _item,
    _MessageLine,
    _scrolling,
    _table,
    _wrapped_label,
    format_mb,
    start_file_work,
)
from hamacho_gui.workers import Workers

CHECKING = "Checking weights\u2026"
IMPORTING = "Importing\u2026"


def _scan_backbones(_progress, _should_stop) -> tuple[list[dict], dict[str, tuple | str]]:
    """(``library.backbone_rows()``, name -> layers or why they cannot be listed): runs on the files lane."""
    rows = library.backbone_rows()
    layers: dict[str, tuple | str] = {}
    for row in rows:
        try:
            layers[row["name"]] = backbones.list_layers(row["name"])
        except Exception as exc:  # noqa: BLE001 - shown in the page, one backbone must not hide the others
            layers[row["name"]] = str(exc) or type(exc).__name__
    return rows, layers


class BackbonesTab(QWidget):
    """Backbones table, import button, layers of the selected backbone and the memory estimate."""

    weights_imported = Signal(str)  # backbone name, once the table shows the imported weights
    backbones_refreshed = Signal()  # a weights check ended (the table is up to date, or the error is shown)

    COLUMNS = ("Backbone", "Weights", "Size", "Feature dim", "Default layers")
    LAYER_COLUMNS = ("Layer", "Channels", "Stride")

    def __init__(self, workers: Workers, parent: QWidget | None = None):
        super().__init__(parent)
        self._workers = workers
        self._rows: list[dict] = []
        self._layers: dict[str, tuple | str] = {}
        self._jobs = 0
        self._n_images: int | None = None
        self._image_dims: tuple[int, int] | None = None
        self._kind = next(iter(REGISTRY))
        self._config: ModelConfig = REGISTRY[self._kind].config_cls()
        self._shown_layers_of: str | None = None
        self._layers_error = ""
        self._build()
        self._update_estimate()
        self.refresh_backbones()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.backbone_table = _table(self.COLUMNS)
        self.backbone_table.itemSelectionChanged.connect(self._on_backbone_selected)
        self.import_weights_button = QPushButton("Import weights file...")
        self.import_weights_button.clicked.connect(self._on_import_weights_clicked)
        self.refresh_backbones_button = QPushButton("Refresh")
        self.refresh_backbones_button.setToolTip("Look again for weights files on this machine")
        self.refresh_backbones_button.clicked.connect(self.refresh_backbones)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_weights_button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_backbones_button)
        self.backbone_message = _MessageLine()

        self.layers_box = QGroupBox("Layers")
        self.layer_table = _table(self.LAYER_COLUMNS)
        self.layer_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.layer_table.setToolTip("Check layers to see the feature dimension and the memory they need. "
                                    "Earlier layers see small details (low stride), later ones larger structures.")
        self.layer_table.itemChanged.connect(self._on_layer_toggled)
        _fit_height(self.layer_table, 6)
        self.layers_default_button = QPushButton("Defaults")
        self.layers_default_button.clicked.connect(self._check_default_layers)
        self.feature_label = _wrapped_label()
        self.estimate_label = _wrapped_label()
        box = QVBoxLayout(self.layers_box)
        box.addWidget(self.layer_table)
        box.addWidget(self.feature_label)
        box.addWidget(self.estimate_label)
        box.addWidget(self.layers_default_button, 0, Qt.AlignmentFlag.AlignLeft)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.backbone_table)
        layout.addLayout(buttons)
        layout.addWidget(self.backbone_message)
        layout.addWidget(self.layers_box)
        layout.addStretch(1)
        self.content = content
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(_scrolling(content))

    # ------------------------------------------------------------------ background work
    @property
    def busy(self) -> bool:
        """A weights check or import of this page is queued or running."""
        return self._jobs > 0

    def _run(self, name: str, job, on_done, on_failed, busy_text: str) -> None:
        start_file_work(self, self._workers, name, job, on_done, on_failed, self.backbone_message, busy_text,
                        self._update_backbone_buttons)

    def refresh_backbones(self) -> None:
        """Check the backbones' weights and list their layers again (in the background); keeps the selection."""
        self._run("check weights", _scan_backbones, self._on_scanned, self._on_scan_failed, CHECKING)

    def _on_scanned(self, result) -> None:
        self._rows, self._layers = result
        self._fill_table()
        if not self.busy:
            self.backbone_message.restore()
        self.backbones_refreshed.emit()

    def _on_scan_failed(self, message: str) -> None:
        self.backbone_message.show_message(f"Could not check the weights: {message}", error=True)
        self.backbones_refreshed.emit()

    # ------------------------------------------------------------------ backbones table
    def _fill_table(self) -> None:
        """Rows from the last check; the selected backbone stays selected with its checked layers."""
        current, checked = self.selected_backbone(), self.checked_layers()
        table = self.backbone_table
        table.blockSignals(True)
        try:
            table.setRowCount(len(self._rows))
            for r, row in enumerate(self._rows):
                name, state = row["name"], row["state"]
                tip = row["description"] or name
                if row["error"]:
                    tip += f"\n{row['error']}"
                if state == backbones.MISSING and row["weights_url"]:
                    tip += (f"\nWeights missing: download {row['weights_filename']} on a machine with internet "
                            f"({row['weights_url']}), then use \u201cImport weights file...\u201d.")
                elif row["weights_path"] is not None:
                    tip += f"\nWeights: {row['weights_path']}"
                layers, dim, dim_tip = self._defaults_summary(name)
                cells = (
                    _item(name, data=name, tooltip=tip),
                    _item(STATE_TEXT.get(state, state), tooltip=tip, color=STATE_COLORS.get(state)),
                    _item(format_mb(row["weights_mb"]), align_right=True),
                    _item(dim, tooltip=dim_tip, align_right=True),
                    _item(layers, tooltip=dim_tip if not dim else layers),
                )
                for c, cell in enumerate(cells):
                    table.setItem(r, c, cell)
        finally:
            table.blockSignals(False)
        _fit_height(table, 6)
        self._shown_layers_of = None  # the listing may have changed: fill the layers again
        if self.select_backbone(current or ""):
            if checked and set(checked) <= {name for name, *_ in self.layer_rows()}:
                self.set_checked_layers(checked)
        elif self._rows:
            self.select_backbone(self._rows[0]["name"])
        else:
            self._on_backbone_selected()

    def _defaults_summary(self, name: str) -> tuple[str, str, str]:
        """(default layers, feature dim, tool tip) of ``name`` for the training settings' model kind."""
        listed = self._layers.get(name)
        if not isinstance(listed, tuple):
            return "", "", listed or ""
        try:
            layers = REGISTRY[self._kind].default_layers(name)
            channels, dim = self._dims(name, layers)
        except Exception as exc:  # noqa: BLE001 - e.g. no layer at a default stride: said in the tip
            return "", "", str(exc)
        tip = f"{channels} channels" + (f", reduced to {dim}" if dim != channels else "")
        return ", ".join(layers), str(dim), f"{REGISTRY[self._kind].name} defaults: {tip}"

    def backbone_names(self) -> list[str]:
        return [row["name"] for row in self._rows]

    def selected_backbone(self) -> str | None:
        model = self.backbone_table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        if not rows:
            return None
        return self.backbone_table.item(rows[0].row(), 0).data(_ROLE)

    def select_backbone(self, name: str) -> bool:
        """Select a listed backbone by name (shows its layers); False if it is not listed (yet)."""
        for r in range(self.backbone_table.rowCount()):
            if self.backbone_table.item(r, 0).data(_ROLE) == name:
                self.backbone_table.selectRow(r)
                if self._shown_layers_of != name:
                    self._on_backbone_selected()
                return True
        return False

    def _backbone_row(self, name: str | None) -> dict | None:
        return next((row for row in self._rows if row["name"] == name), None)

    def _on_backbone_selected(self) -> None:
        name = self.selected_backbone()
        if name == self._shown_layers_of and name is not None:
            return
        if self._shown_layers_of is not None and not self.busy:
            self.backbone_message.show_message("")  # a message is about the previous backbone
        self._shown_layers_of = name
        self._fill_layers(name)
        self._update_backbone_buttons()

    def _update_backbone_buttons(self) -> None:
        self.refresh_backbones_button.setEnabled(not self.busy)
        row = self._backbone_row(self.selected_backbone())
        bundled = row is not None and row["state"] == backbones.BUNDLED
        self.import_weights_button.setEnabled(row is not None and not bundled and not self.busy)
        if row is None:
            tip = "Select a backbone first"
        elif bundled:
            tip = f"{row['name']} comes with its weights: nothing to import"
        else:
            tip = (f"Import the weights file of {row['name']} ({row['weights_filename']}), downloaded on a "
                   "machine with internet; its checksum is verified")
        self.import_weights_button.setToolTip(tip)
        self.layers_default_button.setToolTip(f"Check the {REGISTRY[self._kind].name} defaults of this backbone")

    # ------------------------------------------------------------------ layers
    def _fill_layers(self, name: str | None) -> None:
        table = self.layer_table
        table.blockSignals(True)
        try:
            table.setRowCount(0)
            self.layers_box.setTitle(f"Layers of {name}" if name else "Layers")
            self._layers_error = ""
            if not name:
                return
            listed = self._layers.get(name)
            if not isinstance(listed, tuple):
                self._layers_error = f"Cannot list the layers of {name}: {listed or 'not checked yet'}"
                return
            try:
                defaults = set(REGISTRY[self._kind].default_layers(name))
            except ValueError:
                defaults = set()
            table.setRowCount(len(listed))
            for r, info in enumerate(listed):
                check = _item(info.name, data=info.name,
                              tooltip=f"{info.name}: {info.channels} channels, 1/{info.stride} of the input size")
                check.setFlags(check.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                check.setCheckState(Qt.CheckState.Checked if info.name in defaults else Qt.CheckState.Unchecked)
                table.setItem(r, 0, check)
                table.setItem(r, 1, _item(str(info.channels), align_right=True))
                table.setItem(r, 2, _item(f"/{info.stride}", align_right=True))
        finally:
            table.blockSignals(False)
            _fit_height(table, 6)
            self._scroll_to_checked()
            QTimer.singleShot(0, self, self._scroll_to_checked)  # again once laid out (viewport height known)
            self._update_estimate()

    def _scroll_to_checked(self) -> None:
        table = self.layer_table
        checked = [r for r in range(table.rowCount()) if table.item(r, 0).checkState() == Qt.CheckState.Checked]
        if checked:
            table.scrollToItem(table.item(checked[0], 0), QAbstractItemView.ScrollHint.PositionAtTop)

    def layer_rows(self) -> list[tuple[str, int, int]]:
        """(name, channels, stride) of the selected backbone's listed layers."""
        out = []
        for r in range(self.layer_table.rowCount()):
            stride = int(self.layer_table.item(r, 2).text().lstrip("/"))
            out.append((self.layer_table.item(r, 0).data(_ROLE), int(self.layer_table.item(r, 1).text()), stride))
        return out

    def checked_layers(self) -> tuple[str, ...]:
        table = self.layer_table
        return tuple(table.item(r, 0).data(_ROLE) for r in range(table.rowCount())
                     if table.item(r, 0).checkState() == Qt.CheckState.Checked)

    def set_checked_layers(self, layers) -> None:
        wanted = set(layers)
        table = self.layer_table
        table.blockSignals(True)
        try:
            for r in range(table.rowCount()):
                item = table.item(r, 0)
                item.setCheckState(Qt.CheckState.Checked if item.data(_ROLE) in wanted else Qt.CheckState.Unchecked)
        finally:
            table.blockSignals(False)
        self._update_estimate()

    def _default_layers(self, name: str | None) -> tuple[str, ...]:
        if not name or not isinstance(self._layers.get(name), tuple):
            return ()
        try:
            return REGISTRY[self._kind].default_layers(name)
        except ValueError:
            return ()

    def _check_default_layers(self) -> None:
        self.set_checked_layers(self._default_layers(self.selected_backbone()))

    def _on_layer_toggled(self, *_args) -> None:
        self._update_estimate()

    # ------------------------------------------------------------------ estimate
    def set_training_settings(self, kind: str, config: ModelConfig | Mapping) -> None:
        """The model the Train tab will train: its kind (a ``REGISTRY`` key) and config (a config dataclass
        of that kind, or its fields as a mapping).  The estimate uses its image size, coreset ratio,
        feature caps...; backbone and layers are this page's.  Checked layers that were the old kind's
        defaults become the new kind's."""
        spec = REGISTRY[kind]
        if isinstance(config, Mapping):
            config = spec.config(**config)
        if not isinstance(config, spec.config_cls):
            raise TypeError(f"a {spec.name} needs a {spec.config_cls.__name__}, got {type(config).__name__}")
        name = self.selected_backbone()
        had_defaults = bool(self.checked_layers()) and set(self.checked_layers()) == set(self._default_layers(name))
        old_kind = self._kind
        self._kind, self._config = kind, config
        if kind != old_kind:
            self._fill_table()  # default layers and feature dims are the new kind's
            if had_defaults:
                self.set_checked_layers(self._default_layers(name))
        self._update_backbone_buttons()
        self._update_estimate()

    def training_settings(self) -> tuple[str, ModelConfig]:
        return self._kind, self._config

    def set_dataset_size(self, n_images: int | None, dims: tuple[int, int] | None = None) -> None:
        """Number of good training images of the current dataset (None: no dataset) and their typical
        (width, height), which sets the input size of geometry ``aspect`` and ``tiles``."""
        self._n_images = None if n_images is None else max(0, int(n_images))
        self._image_dims = dims
        self._update_estimate()

    def _config_for(self, backbone: str, layers: tuple[str, ...]) -> ModelConfig:
        return dataclasses.replace(self._config, backbone=backbone, layers=tuple(layers))

    def _dims(self, backbone: str, layers: tuple[str, ...]) -> tuple[int, int]:
        """(channels of the layers, feature width the model keeps)."""
        e = REGISTRY[self._kind].estimate_memory(self._config_for(backbone, layers), 0)
        return e["channels"], e["feature_dim"]

    def estimate(self) -> dict | None:
        """``ModelSpec.estimate_memory`` of the training settings with this page's backbone and checked
        layers, for the current dataset; None without a backbone, layers or dataset."""
        name, layers = self.selected_backbone(), self.checked_layers()
        if not name or not layers or not self._n_images or self._layers_error:
            return None
        return REGISTRY[self._kind].estimate_memory(self._config_for(name, layers), self._n_images,
                                                    self._image_dims)

    def _update_estimate(self) -> None:
        name, layers = self.selected_backbone(), self.checked_layers()
        self.estimate_label.setStyleSheet("")
        self.estimate_label.setText("")
        if self._layers_error:
            self._show_feature_error(self._layers_error)
            return
        self.feature_label.setStyleSheet("")
        if not name or not layers:
            self.feature_label.setText("Check at least one layer." if name else "Select a backbone.")
            return
        try:
            channels, dim = self._dims(name, layers)
            e = self.estimate()
        except Exception as exc:  # noqa: BLE001 - a setting the model refuses: said, not raised
            self._show_feature_error(f"No estimate: {exc}")
            return
        spec = REGISTRY[self._kind]
        text = f"Feature dimension ({spec.name}): <b>{dim}</b>"
        if len(layers) > 1 or dim != channels:
            parts = " + ".join(str(c) for n, c, _ in self.layer_rows() if n in layers)
            text += f" ({parts} channels" + (f", reduced to {dim})" if dim != channels else ")")
        self.feature_label.setText(text)
        if e is None:
            self.estimate_label.setStyleSheet(f"color: {MUTED_COLOR.name()};")
            self.estimate_label.setText("Memory: open a dataset to estimate it.")
            return
        self.estimate_label.setText(self._estimate_text(spec.name, e))

    def _show_feature_error(self, text: str) -> None:
        self.feature_label.setText(text)
        self.feature_label.setStyleSheet(f"color: {ERROR_COLOR.name()};")

    @staticmethod
    def _estimate_text(model: str, e: dict) -> str:
        muted = MUTED_COLOR.name()
        if "coreset_ratio" in e:  # a memory bank of patches
            what = (f"Memory bank ({model}) for {e['n_images']} training images at {_size_text(e)}, coreset "
                    f"{e['coreset_ratio'] * 100:.2g}%: <b>{e['bank_rows']:,} patches \u00d7 {e['feature_dim']} = "
                    f"{format_mb(e['bank_mb'])}</b>")
        else:  # one Gaussian per position
            what = (f"{model} model for {e['n_images']} training images at {_size_text(e)}: <b>"
                    f"{e['bank_rows']:,} positions \u00d7 {e['feature_dim']}\u00b2 covariance = "
                    f"{format_mb(e['bank_mb'])}</b>")
        return (f"{what}<br><span style='color:{muted}'>{e['patches_per_image']:,} patches per image "
                f"({_grid_text(e)} at stride {e['stride']}); about {format_mb(e['fit_peak_mb'])} "
                f"in memory while training{' (two passes)' if e.get('two_pass') else ''}</span>")

    # ------------------------------------------------------------------ weights import
    def _on_import_weights_clicked(self) -> None:
        row = self._backbone_row(self.selected_backbone())
        if row is None:
            return
        pattern = f"{row['weights_filename']} ({row['weights_filename']})" if row["weights_filename"] else ""
        path, _ = QFileDialog.getOpenFileName(
            self, f"Import weights file for {row['name']}", "",
            ";;".join(p for p in (pattern, "PyTorch weights (*.pth *.pt)", "All files (*)") if p))
        if path:
            self.import_weights_file(row["name"], Path(path))

    def import_weights_file(self, backbone: str, path: Path) -> None:
        """Check and import a weights file in the background.  Then the table is checked again, the
        message says what happened and :attr:`weights_imported` is emitted; a refused file (wrong
        checksum, not these weights, unreadable) is said in the message line."""
        source = Path(path)

        def done(target: Path) -> None:
            self._run("check weights", _scan_backbones, lambda result: self._after_import(result, backbone, target),
                      self._on_scan_failed, IMPORTING)

        self._run("import weights", lambda _p, _s: backbones.import_weights(backbone, source), done,
                  lambda message: self.backbone_message.show_message(f"Not imported: {message}", error=True),
                  IMPORTING)

    def _after_import(self, result, backbone: str, target: Path) -> None:
        self._rows, self._layers = result
        self._fill_table()
        self.select_backbone(backbone)
        self.backbone_message.show_message(f"Imported the weights of {backbone} ({target.name}).", ok=True)
        self.backbones_refreshed.emit()
        self.weights_imported.emit(backbone)


def _size_text(e: dict) -> str:
    size = e["image_size"]
    text = f"{size} px" if isinstance(size, int) else f"{size[0]}x{size[1]} px"
    return f"{e['tiles']} tiles of {text}" if e.get("tiles", 1) > 1 else text


def _grid_text(e: dict) -> str:
    gw, gh = e.get("grid_wh", (e["grid"], e["grid"]))
    return (f"{e['tiles']} \u00d7 " if e.get("tiles", 1) > 1 else "") + f"{gw}\u00d7{gh}"
