"""Model manager: the "Models" tab, with a "Backbones" page (weights, layers, memory estimate:
:mod:`hamacho_gui.backbones_tab`) and a "Saved models" page (the library: :mod:`hamacho_gui.library_tab`).

The panel never loads a model: "Open" emits :attr:`ModelManagerPanel.open_requested` and the main
window loads the file.  Disk work (weights checks and imports, library listing and file operations)
runs on the ``files`` lane of the :class:`~hamacho_gui.workers.Workers` given to the constructor (its
own when none is given), so results arrive after the call returns: wait for :attr:`weights_imported`,
:attr:`models_changed`, :attr:`models_refreshed` / :attr:`backbones_refreshed`, or for ``busy`` to end.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from hamacho_core.models import ModelConfig
from hamacho_gui.backbones_tab import BackbonesTab
from hamacho_gui.library_tab import LibraryTab
from hamacho_gui.manager_widgets import ERROR_COLOR
from hamacho_gui.workers import Workers

__all__ = ["ERROR_COLOR", "BackbonesTab", "LibraryTab", "ModelManagerPanel"]

#: Widgets of the pages that are also attributes of the panel (tests, the main window).
_BACKBONE_WIDGETS = ("backbone_table", "import_weights_button", "refresh_backbones_button", "backbone_message",
                     "layers_box", "layer_table", "layers_default_button", "feature_label", "estimate_label")
_LIBRARY_WIDGETS = ("folder_label", "folder_field", "model_table", "open_button", "rename_button",
                    "duplicate_button", "delete_button", "import_model_button", "reveal_button",
                    "refresh_models_button", "model_message")


class ModelManagerPanel(QWidget):
    """Two pages: "Backbones" (:class:`BackbonesTab`) and "Saved models" (:class:`LibraryTab`)."""

    open_requested = Signal(Path)
    weights_imported = Signal(str)  # backbone name
    models_changed = Signal()
    models_refreshed = Signal()
    backbones_refreshed = Signal()

    BACKBONE_COLUMNS = BackbonesTab.COLUMNS
    LAYER_COLUMNS = BackbonesTab.LAYER_COLUMNS
    MODEL_COLUMNS = LibraryTab.COLUMNS

    def __init__(self, parent: QWidget | None = None, *, folder: Path | None = None,
                 workers: Workers | None = None):
        """``folder``: the library folder (default ``library.library_dir()``); ``workers``: the window's
        lanes (its ``files`` lane runs this panel's disk work).  None creates the panel's own, owned by
        the application rather than the panel: a lane's queued "thread finished" call must find its
        lane alive even when the panel is deleted right after closing.  They are shut down (waited
        for) when the panel is closed or the application quits."""
        super().__init__(parent)
        self._own_workers = workers is None
        if workers is None:
            app = QCoreApplication.instance()
            workers = Workers(app)
            app.aboutToQuit.connect(workers.shutdown)
        self.workers = workers
        self.backbones = BackbonesTab(self.workers)
        self.library = LibraryTab(self.workers, folder=folder)
        for name in _BACKBONE_WIDGETS:
            setattr(self, name, getattr(self.backbones, name))
        for name in _LIBRARY_WIDGETS:
            setattr(self, name, getattr(self.library, name))
        self.backbones.weights_imported.connect(self.weights_imported)
        self.backbones.backbones_refreshed.connect(self.backbones_refreshed)
        self.library.open_requested.connect(self.open_requested)
        self.library.models_changed.connect(self.models_changed)
        self.library.models_refreshed.connect(self.models_refreshed)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.backbones, "Backbones")
        self.tabs.addTab(self.library, "Saved models")
        self.tabs.currentChanged.connect(self._on_tab_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

    @property
    def busy(self) -> bool:
        """Work of this panel is queued or running on the files lane."""
        return self.backbones.busy or self.library.busy

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.library:
            self.library.refresh_models()

    def _shutdown_own_workers(self) -> None:
        if self._own_workers:
            self.workers.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._shutdown_own_workers()  # no thread of ours outlives the panel
        super().closeEvent(event)

    # ------------------------------------------------------------------ backbones
    def refresh_backbones(self) -> None:
        self.backbones.refresh_backbones()

    def backbone_names(self) -> list[str]:
        return self.backbones.backbone_names()

    def selected_backbone(self) -> str | None:
        return self.backbones.selected_backbone()

    def select_backbone(self, name: str) -> bool:
        return self.backbones.select_backbone(name)

    def layer_rows(self) -> list[tuple[str, int, int]]:
        return self.backbones.layer_rows()

    def checked_layers(self) -> tuple[str, ...]:
        return self.backbones.checked_layers()

    def set_checked_layers(self, layers) -> None:
        self.backbones.set_checked_layers(layers)

    def import_weights_file(self, backbone: str, path: Path) -> None:
        self.backbones.import_weights_file(backbone, path)

    def set_training_settings(self, kind: str, config: ModelConfig | Mapping) -> None:
        """What the Train tab will train (model kind and its config dataclass): the memory estimate's
        model, image size, coreset ratio and feature caps.  See :meth:`BackbonesTab.set_training_settings`."""
        self.backbones.set_training_settings(kind, config)

    def set_dataset_size(self, n_images: int | None, dims: tuple[int, int] | None = None) -> None:
        """Training images of the dataset (None: none) and their typical (width, height)."""
        self.backbones.set_dataset_size(n_images, dims)

    def estimate(self) -> dict | None:
        return self.backbones.estimate()

    # ------------------------------------------------------------------ saved models
    def library_folder(self) -> Path:
        return self.library.library_folder()

    def refresh_models(self) -> None:
        self.library.refresh_models()

    def entries(self):
        return self.library.entries()

    def select_model(self, name: str) -> bool:
        return self.library.select_model(name)

    def selected_model(self):
        return self.library.selected_model()

    def open_selected(self) -> Path | None:
        return self.library.open_selected()

    def rename_selected(self, new_name: str) -> None:
        self.library.rename_selected(new_name)

    def duplicate_selected(self) -> None:
        self.library.duplicate_selected()

    def delete_selected(self, confirm: bool = False) -> bool:
        return self.library.delete_selected(confirm)

    def import_model_file(self, path: Path) -> None:
        self.library.import_model_file(path)

    def reveal_library(self) -> None:
        self.library.reveal_library()
