"""Model manager: backbones (weights, layers, memory estimate) and the library of saved models.

The panel never loads a model: "Open" emits :attr:`ModelManagerPanel.open_requested` and the main
window loads the file.  Every operation is also a method without dialogs (``rename_selected``,
``import_model_file``, ...) so tests and other code can drive it; errors are shown in the panel's
message line, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from hamacho_core import backbones, library
from hamacho_core.model_io import SUFFIX
from hamacho_core.models.patchcore import PatchCoreConfig
from hamacho_gui.manager_widgets import (
    _ROLE,
    DEFAULT_CORESET_RATIO,
    DEFAULT_IMAGE_SIZE,
    ERROR_COLOR,
    MUTED_COLOR,
    STATE_COLORS,
    STATE_TEXT,
    _fit_height,
    _item,
    _MessageLine,
    _table,
    format_created,
    format_mb,
    format_thresholds,
)
from hamacho_gui.training_panel import MODEL_NAMES


class ModelManagerPanel(QWidget):
    """Two tabs: "Backbones" (weights, layers, memory estimate) and "Saved models" (the library)."""

    open_requested = Signal(Path)
    weights_imported = Signal(str)  # backbone name
    models_changed = Signal()

    BACKBONE_COLUMNS = ("Backbone", "Weights", "Size", "Feature dim", "Default layers")
    LAYER_COLUMNS = ("Layer", "Channels", "Stride")
    MODEL_COLUMNS = ("Name", "Model", "Backbone", "Layers", "Input", "Thresholds", "Images", "Saved")
    MODEL_TIPS = ("File name in the library", "Model kind", "Feature extractor", "Feature layers",
                  "Square size images are resized to", "Raw thresholds saved with the model: image / pixel",
                  "Good images the model learned from", "When the model was saved (local time)")

    def __init__(self, parent: QWidget | None = None, *, folder: Path | None = None):
        super().__init__(parent)
        self._folder = Path(folder) if folder is not None else None
        self._n_images: int | None = None
        self._image_size = DEFAULT_IMAGE_SIZE
        self._coreset_ratio = DEFAULT_CORESET_RATIO
        self._feature_cap = PatchCoreConfig.feature_dim
        self._rows: list[dict] = []
        self._entries: list[library.ModelEntry] = []
        self._shown_layers_of: str | None = None
        self._layers_error = ""
        self._build()
        self.refresh_backbones()
        self.refresh_models()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_backbones_tab(), "Backbones")
        self._models_tab = self._build_models_tab()
        self.tabs.addTab(self._models_tab, "Saved models")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

    def _build_backbones_tab(self) -> QWidget:
        self.backbone_table = _table(self.BACKBONE_COLUMNS)
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
        self.layer_table.horizontalHeader().setStretchLastSection(False)
        self.layer_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.layer_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.layer_table.setToolTip("Check layers to see the feature dimension and the memory bank they give. "
                                    "Earlier layers see small details (low stride), later ones larger structures.")
        self.layer_table.itemChanged.connect(self._on_layer_toggled)
        self.layers_default_button = QPushButton("Defaults")
        self.layers_default_button.setToolTip("Check the PatchCore defaults of this backbone")
        self.layers_default_button.clicked.connect(self._check_default_layers)
        self.feature_label = QLabel()
        self.feature_label.setWordWrap(True)
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        info = QVBoxLayout()
        info.addWidget(self.feature_label)
        info.addSpacing(6)
        info.addWidget(self.estimate_label)
        info.addStretch(1)
        info.addWidget(self.layers_default_button, 0, Qt.AlignmentFlag.AlignLeft)
        box = QHBoxLayout(self.layers_box)
        box.addWidget(self.layer_table, 0)
        box.addLayout(info, 1)

        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.backbone_table)
        layout.addLayout(buttons)
        layout.addWidget(self.backbone_message)
        layout.addWidget(self.layers_box, 1)
        return tab

    def _build_models_tab(self) -> QWidget:
        self.folder_label = QLabel()
        self.folder_label.setStyleSheet(f"color: {MUTED_COLOR.name()};")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_table = _table(self.MODEL_COLUMNS)
        for c, tip in enumerate(self.MODEL_TIPS):
            self.model_table.horizontalHeaderItem(c).setToolTip(tip)
        self.model_table.itemSelectionChanged.connect(self._update_model_buttons)
        self.model_table.itemDoubleClicked.connect(lambda *_: self.open_selected())
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Load this model in the main window")
        self.open_button.clicked.connect(self.open_selected)
        self.rename_button = QPushButton("Rename...")
        self.rename_button.clicked.connect(self._on_rename_clicked)
        self.duplicate_button = QPushButton("Duplicate")
        self.duplicate_button.clicked.connect(self.duplicate_selected)
        self.delete_button = QPushButton("Delete...")
        self.delete_button.clicked.connect(lambda: self.delete_selected(confirm=True))
        self.reveal_button = QPushButton("Reveal in file manager")
        self.reveal_button.clicked.connect(self.reveal_library)
        self.import_model_button = QPushButton("Import model file...")
        self.import_model_button.clicked.connect(self._on_import_model_clicked)
        self.refresh_models_button = QPushButton("Refresh")
        self.refresh_models_button.clicked.connect(self.refresh_models)
        first = QHBoxLayout()
        for button in (self.open_button, self.rename_button, self.duplicate_button, self.delete_button):
            first.addWidget(button)
        first.addStretch(1)
        second = QHBoxLayout()
        for button in (self.import_model_button, self.reveal_button):
            second.addWidget(button)
        second.addStretch(1)
        second.addWidget(self.refresh_models_button)
        self.model_message = _MessageLine()

        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.model_table, 1)
        layout.addLayout(first)
        layout.addLayout(second)
        layout.addWidget(self.model_message)
        return tab

    # ------------------------------------------------------------------ backbones
    def refresh_backbones(self) -> None:
        """Re-read the backbones' weights (e.g. after an import); keeps the selection."""
        current = self.selected_backbone()
        self._rows = library.backbone_rows()
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
                layers = ", ".join(row["default_layers"])
                dim = row["feature_dim"]
                dim_tip = (f"{row['channels']} channels" + (f", averaged down to {dim}" if dim != row["channels"]
                                                             else "")) if dim is not None else ""
                cells = (
                    _item(name, data=name, tooltip=tip),
                    _item(STATE_TEXT.get(state, state), tooltip=tip, color=STATE_COLORS.get(state)),
                    _item(format_mb(row["weights_mb"]), align_right=True),
                    _item("" if dim is None else str(dim), tooltip=dim_tip, align_right=True),
                    _item(layers, tooltip=row["error"] or layers),
                )
                for c, cell in enumerate(cells):
                    table.setItem(r, c, cell)
        finally:
            table.blockSignals(False)
        _fit_height(table, 8)
        if not self.select_backbone(current or "") and self._rows:
            self.select_backbone(self._rows[0]["name"])
        self._update_backbone_buttons()

    def backbone_names(self) -> list[str]:
        return [row["name"] for row in self._rows]

    def selected_backbone(self) -> str | None:
        rows = self.backbone_table.selectionModel().selectedRows() if self.backbone_table.selectionModel() else []
        if not rows:
            return None
        return self.backbone_table.item(rows[0].row(), 0).data(_ROLE)

    def select_backbone(self, name: str) -> bool:
        """Select a backbone by name (shows its layers); False if it is not listed."""
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
        if name == self._shown_layers_of:
            return
        self._shown_layers_of = name
        self.backbone_message.show_message("")  # a message is about the previous backbone
        self._fill_layers(name)
        self._update_backbone_buttons()

    def _update_backbone_buttons(self) -> None:
        row = self._backbone_row(self.selected_backbone())
        bundled = row is not None and row["state"] == backbones.BUNDLED
        self.import_weights_button.setEnabled(row is not None and not bundled)
        if row is None:
            tip = "Select a backbone first"
        elif bundled:
            tip = f"{row['name']} comes with its weights: nothing to import"
        else:
            tip = (f"Import the weights file of {row['name']} ({row['weights_filename']}), downloaded on a "
                   "machine with internet; its checksum is verified")
        self.import_weights_button.setToolTip(tip)

    def _fill_layers(self, name: str | None) -> None:
        table = self.layer_table
        table.blockSignals(True)
        try:
            table.setRowCount(0)
            self.layers_box.setTitle(f"Layers of {name}" if name else "Layers")
            self._layers_error = ""
            if not name:
                return
            try:
                layers = backbones.list_layers(name)
                defaults = set(backbones.default_layers(name, "patchcore"))
            except Exception as exc:  # noqa: BLE001
                self._layers_error = f"cannot list the layers of {name}: {exc}"
                return
            table.setRowCount(len(layers))
            for r, info in enumerate(layers):
                check = _item(info.name, data=info.name,
                              tooltip=f"{info.name}: {info.channels} channels, 1/{info.stride} of the input size")
                check.setFlags(check.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                check.setCheckState(Qt.CheckState.Checked if info.name in defaults else Qt.CheckState.Unchecked)
                table.setItem(r, 0, check)
                table.setItem(r, 1, _item(str(info.channels), align_right=True))
                table.setItem(r, 2, _item(f"/{info.stride}", align_right=True))
        finally:
            table.blockSignals(False)
            self._fit_layer_table()
            self._update_estimate()

    def _fit_layer_table(self) -> None:
        """As wide as its columns (the estimate gets the rest); the first checked layer in view."""
        table = self.layer_table
        table.resizeColumnsToContents()
        width = table.horizontalHeader().length() + table.verticalScrollBar().sizeHint().width()
        table.setFixedWidth(max(width + 2 * table.frameWidth() + 2, 220))
        self._scroll_to_checked()
        QTimer.singleShot(0, self, self._scroll_to_checked)  # again once laid out (the viewport's height is known)

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

    def _check_default_layers(self) -> None:
        name = self.selected_backbone()
        if name:
            self.set_checked_layers(backbones.default_layers(name, "patchcore"))

    def _on_layer_toggled(self, *_args) -> None:
        self._update_estimate()

    # ------------------------------------------------------------------ estimate
    def set_dataset_size(self, n_images: int | None) -> None:
        """Number of good training images of the current dataset (None: no dataset)."""
        self._n_images = None if n_images is None else max(0, int(n_images))
        self._update_estimate()

    def set_image_size(self, size: int) -> None:
        self._image_size = int(size)
        self._update_estimate()

    def set_coreset_ratio(self, ratio: float) -> None:
        self._coreset_ratio = float(ratio)
        self._update_estimate()

    def estimate(self) -> dict | None:
        """The memory-bank estimate for the checked layers and current dataset, or None."""
        name, layers = self.selected_backbone(), self.checked_layers()
        if not name or not layers or not self._n_images:
            return None
        return library.estimate_memory_bank(name, layers, self._image_size, self._n_images, self._coreset_ratio,
                                            self._feature_cap)

    def _update_estimate(self) -> None:
        name, layers = self.selected_backbone(), self.checked_layers()
        if self._layers_error:
            self.feature_label.setText(self._layers_error)
            self.feature_label.setStyleSheet(f"color: {ERROR_COLOR.name()};")
            self.estimate_label.setText("")
            return
        self.feature_label.setStyleSheet("")
        if not name or not layers:
            self.feature_label.setText("Check at least one layer." if name else "Select a backbone.")
            self.estimate_label.setText("")
            return
        channels, dim = library.feature_dim_of(name, layers, self._feature_cap)
        text = f"Feature dimension: <b>{dim}</b>"
        if len(layers) > 1:
            text += f" ({' + '.join(str(c) for *_, c in self._channels_of(layers))} channels"
            text += f", averaged down to {dim})" if dim != channels else ")"
        elif dim != channels:
            text += f" ({channels} channels averaged down to {dim})"
        self.feature_label.setText(text)
        if not self._n_images:
            self.estimate_label.setStyleSheet(f"color: {MUTED_COLOR.name()};")
            self.estimate_label.setText("Memory bank: open a dataset to estimate its size.")
            return
        e = self.estimate()
        self.estimate_label.setStyleSheet("")
        self.estimate_label.setText(
            f"Memory bank for {e['n_images']} training images at {e['image_size']} px, coreset "
            f"{e['coreset_ratio']:.0%}: <b>{e['bank_rows']:,} patches \u00d7 {e['feature_dim']} = "
            f"{format_mb(e['bank_mb'])}</b><br>"
            f"<span style='color:{MUTED_COLOR.name()}'>{e['patches_per_image']:,} patches per image "
            f"({e['grid']}\u00d7{e['grid']} at stride {e['stride']}); about {format_mb(e['fit_peak_mb'])} "
            f"of features in memory while training{' (two passes)' if e['two_pass'] else ''}</span>")

    def _channels_of(self, layers) -> list[tuple[str, int]]:
        table = {name: channels for name, channels, _ in self.layer_rows()}
        return [(layer, table[layer]) for layer in layers]

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

    def import_weights_file(self, backbone: str, path: Path) -> Path | None:
        """Check and import a weights file; the error is shown in the panel (returns None) on refusal."""
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            target = backbones.import_weights(backbone, Path(path))
        except Exception as exc:  # noqa: BLE001 - wrong file, unreadable, unknown backbone: a message
            self.backbone_message.show_message(f"Not imported: {exc}", error=True)
            return None
        finally:
            QGuiApplication.restoreOverrideCursor()
        self.refresh_backbones()
        self.select_backbone(backbone)
        self.backbone_message.show_message(f"Imported the weights of {backbone} ({target.name}).", ok=True)
        self.weights_imported.emit(backbone)
        return target

    # ------------------------------------------------------------------ saved models
    def library_folder(self) -> Path:
        return self._folder if self._folder is not None else library.library_dir()

    def refresh_models(self) -> None:
        """Re-read the library folder; keeps the selection when the file is still there."""
        current = self.selected_model()
        self._entries = library.list_models(self.library_folder())
        self.folder_label.setText(f"Library: {self.library_folder()}  \u00b7  {len(self._entries)} "
                                  f"model{'s' if len(self._entries) != 1 else ''}")
        table = self.model_table
        table.blockSignals(True)
        try:
            table.clearSpans()
            table.setRowCount(len(self._entries))
            for r, entry in enumerate(self._entries):
                if entry.ok:
                    thresholds = format_thresholds(entry)
                    cells = [
                        _item(entry.name, data=str(entry.path), tooltip=str(entry.path)),
                        _item(MODEL_NAMES.get(entry.kind, entry.kind or ""), data=entry.kind),
                        _item(entry.backbone or ""),
                        _item(", ".join(entry.layers)),
                        _item("" if entry.image_size is None else f"{entry.image_size} px", align_right=True),
                        _item(thresholds, tooltip=f"Raw thresholds saved with the model: image / pixel = {thresholds}"),
                        _item("" if entry.n_train is None else str(entry.n_train), align_right=True),
                        _item(format_created(entry)),
                    ]
                    for c, cell in enumerate(cells):
                        table.setItem(r, c, cell)
                else:
                    tip = f"{entry.path}\n{entry.error}"
                    table.setItem(r, 0, _item(entry.name, data=str(entry.path), tooltip=tip, color=ERROR_COLOR))
                    table.setItem(r, 1, _item(entry.error or "unreadable", tooltip=tip, color=ERROR_COLOR))
                    for c in range(2, len(self.MODEL_COLUMNS)):
                        table.setItem(r, c, _item(""))
                    table.setSpan(r, 1, 1, len(self.MODEL_COLUMNS) - 1)
        finally:
            table.blockSignals(False)
        if current is None or not self._select_path(current.path):
            table.clearSelection()
        self._update_model_buttons()

    def entries(self) -> list[library.ModelEntry]:
        return list(self._entries)

    def selected_model(self) -> library.ModelEntry | None:
        model = self.model_table.selectionModel()
        rows = model.selectedRows() if model is not None else []
        if not rows or rows[0].row() >= len(self._entries):
            return None
        return self._entries[rows[0].row()]

    def _select_path(self, path: Path) -> bool:
        for r, entry in enumerate(self._entries):
            if entry.path == Path(path):
                self.model_table.selectRow(r)
                return True
        return False

    def select_model(self, name: str) -> bool:
        """Select a saved model by name (file stem); False if there is none of that name."""
        for r, entry in enumerate(self._entries):
            if entry.name == name:
                self.model_table.selectRow(r)
                return True
        return False

    def _update_model_buttons(self) -> None:
        entry = self.selected_model()
        for button in (self.rename_button, self.duplicate_button, self.delete_button):
            button.setEnabled(entry is not None)
        self.open_button.setEnabled(entry is not None and entry.ok)
        self.open_button.setToolTip("Load this model in the main window" if entry is None or entry.ok
                                    else f"Cannot open: {entry.error}")

    def _require_selection(self) -> library.ModelEntry | None:
        entry = self.selected_model()
        if entry is None:
            self.model_message.show_message("Select a model first.", error=True)
        return entry

    def open_selected(self) -> Path | None:
        entry = self._require_selection()
        if entry is None:
            return None
        if not entry.ok:
            self.model_message.show_message(f"Cannot open {entry.name}: {entry.error}", error=True)
            return None
        self.model_message.show_message(f"Opening {entry.name}...")
        self.open_requested.emit(entry.path)
        return entry.path

    def _on_rename_clicked(self) -> None:
        entry = self.selected_model()
        if entry is None:
            return
        name, accepted = QInputDialog.getText(self, "Rename model", f"New name for {entry.name}:", text=entry.name)
        if accepted:
            self.rename_selected(name)

    def rename_selected(self, new_name: str) -> Path | None:
        entry = self._require_selection()
        if entry is None:
            return None
        try:
            target = library.rename_model(entry.path, new_name)
        except (OSError, ValueError) as exc:
            self.model_message.show_message(f"Not renamed: {exc}", error=True)
            return None
        self._after_change(target, f"Renamed {entry.name} to {target.stem}.")
        return target

    def duplicate_selected(self) -> Path | None:
        entry = self._require_selection()
        if entry is None:
            return None
        try:
            target = library.duplicate_model(entry.path)
        except (OSError, ValueError) as exc:
            self.model_message.show_message(f"Not duplicated: {exc}", error=True)
            return None
        self._after_change(target, f"Duplicated {entry.name} as {target.stem}.")
        return target

    def delete_selected(self, confirm: bool = False) -> bool:
        """Delete the selected model file; with ``confirm``, ask first (Yes / No)."""
        entry = self._require_selection()
        if entry is None:
            return False
        if confirm:
            answer = QMessageBox.question(
                self, "Delete model", f"Delete the model \u201c{entry.name}\u201d?\n\n{entry.path}\n\n"
                "The file is deleted permanently.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return False
        row = self.model_table.currentRow()
        try:
            library.delete_model(entry.path)
        except (OSError, ValueError) as exc:
            self.model_message.show_message(f"Not deleted: {exc}", error=True)
            return False
        self.refresh_models()
        if self._entries:
            self.model_table.selectRow(min(max(row, 0), len(self._entries) - 1))
        self.model_message.show_message(f"Deleted {entry.name}.", ok=True)
        self.models_changed.emit()
        return True

    def _on_import_model_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import model file", "",
                                              f"Hamacho models (*{SUFFIX});;All files (*)")
        if path:
            self.import_model_file(Path(path))

    def import_model_file(self, path: Path) -> Path | None:
        """Copy a model file into the library; a file that is not a valid model is refused (message)."""
        try:
            entry = library.import_model(Path(path), self.library_folder())
        except (OSError, ValueError) as exc:  # ModelFileError is a ValueError
            self.model_message.show_message(f"Not imported: {exc}", error=True)
            return None
        self._after_change(entry.path, f"Imported {Path(path).name} as {entry.name}.")
        return entry.path

    def reveal_library(self) -> None:
        folder = self.library_folder()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.model_message.show_message(f"Cannot create {folder}: {exc}", error=True)
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.model_message.show_message(f"Could not open a file manager; the folder is {folder}", error=True)

    def _after_change(self, path: Path, message: str) -> None:
        self.refresh_models()
        self._select_path(path)
        self.model_message.show_message(message, ok=True)
        self.models_changed.emit()

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self._models_tab:
            self.refresh_models()
