"""The main window: assembles the panels, runs jobs through one TaskRunner, keeps the results."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QTabWidget

from hamacho_core import __version__
from hamacho_core.dataset import Dataset, load_dataset
from hamacho_core.imageio import read_image
from hamacho_core.model_io import load_model, save_model
from hamacho_core.models import AnomalyModel
from hamacho_gui import tasks
from hamacho_gui.about import show_about
from hamacho_gui.dataset_panel import DatasetPanel
from hamacho_gui.live_panel import LivePanel
from hamacho_gui.model_manager import ModelManagerPanel
from hamacho_gui.results_panel import ResultItem, ResultsPanel
from hamacho_gui.roi_tool import RoiTool
from hamacho_gui.settings import open_settings
from hamacho_gui.threshold_panel import ThresholdPanel
from hamacho_gui.training_panel import TrainingPanel
from hamacho_gui.verdicts import Thresholds, display_scale, verdicts
from hamacho_gui.viewer import ImageViewer
from hamacho_gui.workers import TaskRunner


def _settle_heap() -> None:
    """Move everything alive now (libraries, models) out of the cyclic garbage collector's view.

    A full collection walks every tracked object on the GUI thread; with torch and a model loaded that
    pause reached 450 ms (measured).  Frozen objects are still freed by reference counting.
    """
    gc.freeze()


class MainWindow(QMainWindow):
    """Dataset + training on the left, the image in the middle, results and thresholds on the right."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Hamacho {__version__}")
        self.settings = open_settings()
        self.runner = TaskRunner(self)
        self.model: AnomalyModel | None = None
        self.training: dict = {}
        self.results: list[ResultItem] = []
        self.current_thresholds: Thresholds | None = None
        self._current_row = -1
        self._shown_size: tuple[int, int] | None = None

        self.viewer = ImageViewer()
        self.roi_tool = RoiTool(self.viewer)
        self.dataset_panel = DatasetPanel()
        self.training_panel = TrainingPanel()
        self.results_panel = ResultsPanel()
        self.threshold_panel = ThresholdPanel()
        self.live_panel = LivePanel()
        self.central_tabs = QTabWidget()
        self.central_tabs.addTab(self.viewer, "Review")
        self.central_tabs.addTab(self.live_panel, "Live")
        self.setCentralWidget(self.central_tabs)
        left = QTabWidget()
        left.addTab(self.dataset_panel, "Dataset")
        left.addTab(self.training_panel, "Train")
        self.model_manager = ModelManagerPanel()
        left.addTab(self.model_manager, "Models")
        self.left_tabs = left
        data_dock = self._dock("Data and training", left, Qt.DockWidgetArea.LeftDockWidgetArea)
        results_dock = self._dock("Results", self.results_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Thresholds and metrics", self.threshold_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._default_docks = (data_dock, results_dock)
        self._build_menu()
        self._connect()
        self.resize(1400, 860)
        self._restore_layout()
        self.statusBar().showMessage("Open a dataset folder to start (File > Open dataset...)")
        _settle_heap()

    # --- assembly ---------------------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.replace(" ", "_"))
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        actions = [
            ("Open &dataset...", QKeySequence.StandardKey.Open, self.choose_dataset),
            ("Open &model...", None, self.choose_model),
            ("&Save model as...", QKeySequence.StandardKey.Save, self.choose_save_model),
            ("&Inspect folder with current model...", None, self.choose_inspect_folder),
            ("&Export results...", None, self.choose_export),
            ("&Quit", QKeySequence.StandardKey.Quit, self.close),
        ]
        for text, shortcut, slot in actions:
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        review_menu = self.menuBar().addMenu("&Review")
        add_good = QAction("&Add current image as good (fix a false alarm)", self)
        add_good.setShortcut(QKeySequence("Ctrl+G"))
        add_good.triggered.connect(self.add_current_as_good)
        review_menu.addAction(add_good)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Hamacho", self)
        about.triggered.connect(lambda: show_about(self))
        help_menu.addAction(about)

    def _connect(self) -> None:
        self.dataset_panel.dataset_requested.connect(self.open_dataset)
        self.training_panel.train_requested.connect(self.train)
        self.training_panel.cancel_requested.connect(self.runner.cancel)
        self.training_panel.roi_draw_requested.connect(self.draw_roi)
        self.roi_tool.roi_drawn.connect(self.training_panel.set_roi)
        self.model_manager.open_requested.connect(self.open_model)
        self.model_manager.weights_imported.connect(lambda _name: self.training_panel.refresh_backbones())
        self.results_panel.item_selected.connect(self.show_result)
        self.threshold_panel.thresholds_changed.connect(self.apply_thresholds)
        self.viewer.next_requested.connect(lambda: self.results_panel.step(+1))
        self.viewer.previous_requested.connect(lambda: self.results_panel.step(-1))
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.started.connect(lambda name: self.training_panel.set_running(True))
        self.runner.idle.connect(lambda: self.training_panel.set_running(False))

    # --- user actions -----------------------------------------------------------------------------
    def choose_dataset(self) -> None:
        start = str(self.settings.value("last_dataset", "") or "")
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", start)
        if folder:
            self.open_dataset(Path(folder))

    def open_dataset(self, folder: Path) -> None:
        self.settings.setValue("last_dataset", str(folder))
        self.dataset_panel.set_loading(Path(folder))
        self.training_panel.set_dataset_ready(False)
        self.runner.start("scan", lambda progress, stop: load_dataset(folder, progress=progress, should_stop=stop))

    def train(self, kind: str, config: dict) -> None:
        dataset = self.dataset_panel.dataset()
        if dataset is None:
            self.show_error("Open a dataset first.")
            return
        self.training_panel.set_status(f"Training {kind} on {len(dataset.train)} good images...")
        self.runner.start("train", tasks.train(dataset, kind, config))

    def draw_roi(self, kind: str) -> None:
        try:
            self.roi_tool.start(kind)
        except RuntimeError as exc:
            self.show_error(str(exc))
            return
        self.statusBar().showMessage("Draw the region on the image: drag a rectangle, or click corners and "
                                     "double-click to close a polygon; Esc cancels.")

    def _preview_first_image(self, dataset: Dataset) -> None:
        """Show a good image right after scanning, so a region of interest can be drawn before training."""
        if not dataset.train or self.results:
            return
        try:
            image = read_image(dataset.train[0].path)
        except ValueError:
            return
        self.viewer.show_result(image, None, None, None, title=f"{dataset.train[0].path.name} (training image)")
        self.roi_tool.show_roi(self.training_panel.roi)

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", str(self.settings.value("last_model", "") or ""),
                                              "Hamacho models (*.hmc);;All files (*)")
        if path:
            self.open_model(Path(path))

    def open_model(self, path: Path) -> None:
        self.settings.setValue("last_model", str(path))
        self.runner.start("load_model", lambda progress, stop: load_model(path))

    def choose_save_model(self) -> None:
        if self.model is None:
            self.show_error("There is no model to save yet: train one or open one.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save model", str(self.settings.value("last_model", "model.hmc")),
                                              "Hamacho models (*.hmc)")
        if path:
            self.save_model(Path(path))

    def save_model(self, path: Path) -> Path | None:
        """Save the model with the thresholds currently set on the sliders."""
        if self.model is None:
            return None
        self._push_thresholds_to_model()
        try:
            saved = save_model(self.model, path, training=self.training)
        except (OSError, ValueError, TypeError) as exc:
            self.show_error(f"The model was not saved: {exc}")
            return None
        self.settings.setValue("last_model", str(saved))
        self.model_manager.refresh_models()
        self.statusBar().showMessage(f"Model saved to {saved}")
        return saved

    def add_current_as_good(self) -> None:
        """Teach the model that the shown image is good (PatchCore memory bank grows), then re-score."""
        row = self._current_row
        if self.model is None or not 0 <= row < len(self.results):
            self.show_error("Select a result first.")
            return
        if not hasattr(self.model, "add_images"):
            self.show_error(f"{self.model.kind} cannot learn incrementally; retrain with the image in good/.")
            return
        self.runner.start("add_good", tasks.add_good(self.model, self.results[row].path, self.results))

    def choose_inspect_folder(self) -> None:
        if self.model is None:
            self.show_error("Train or open a model first.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Folder to inspect",
                                                  str(self.settings.value("last_inspect", "") or ""))
        if folder:
            self.inspect_folder(Path(folder))

    def inspect_folder(self, folder: Path) -> None:
        self.settings.setValue("last_inspect", str(folder))
        self.runner.start("inspect", tasks.inspect_folder(self.model, Path(folder)))

    def choose_export(self) -> None:
        if not self.results:
            self.show_error("There are no results to export.")
            return
        start = str(self.settings.value("last_export", "") or "")
        folder = QFileDialog.getExistingDirectory(self, "Export results to", start)
        if not folder:
            return
        if (Path(folder) / "results.csv").exists():  # earlier results are never replaced silently
            answer = QMessageBox.question(self, "Hamacho", f"{folder} already holds a results.csv. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.export(Path(folder))

    def export(self, folder: Path) -> None:
        """CSV and overlay/map/mask images of the results currently listed (filter applies)."""
        self.settings.setValue("last_export", str(folder))
        rows = self.results_panel.visible_rows()
        model = self.results_panel.model
        self._push_thresholds_to_model()
        self.runner.start("export", tasks.export_results(
            self.model, [self.results[r] for r in rows], model.verdicts[rows], model.normalised[rows], Path(folder)))

    # --- results and thresholds -------------------------------------------------------------------
    def set_results(self, results: list[ResultItem], pixel_auroc: float | None = None) -> None:
        """Show new results (pixel AUROC is computed by the worker that produced them)."""
        self.results = results
        self._pixel_auroc = pixel_auroc
        scores = np.array([r.raw_score for r in results], dtype=np.float64)
        labels = np.array([r.label for r in results], dtype=int)
        self.threshold_panel.set_data(scores, labels, self.model.image_scale, self.model.pixel_scale, pixel_auroc)
        self.current_thresholds = Thresholds(self.model.image_scale.threshold, self.model.pixel_scale.threshold,
                                             self.model.review_threshold)
        if self.model.review_threshold is not None or self.threshold_panel.thresholds() != self.current_thresholds:
            self.threshold_panel.set_thresholds(self.current_thresholds)
        v, norm = self._labels_for(self.current_thresholds)
        self.results_panel.set_items(results, v, norm)
        if not results:
            self.viewer.clear()

    def _labels_for(self, t: Thresholds) -> tuple[np.ndarray, np.ndarray]:
        scores = np.array([r.raw_score for r in self.results], dtype=np.float64)
        return verdicts(scores, t), display_scale(self.model.image_scale, t.image).normalize(scores)

    def apply_thresholds(self, t: Thresholds) -> None:
        """Re-label every result and redraw the current mask, without running the model."""
        self.current_thresholds = t
        if self.model is None or not self.results:
            return
        v, norm = self._labels_for(t)
        self.results_panel.set_verdicts(v, norm)
        if 0 <= self._current_row < len(self.results) and self._shown_size is not None:
            item = self.results[self._current_row]
            mask = (item.anomaly_map >= t.pixel).astype(np.float32)
            self.viewer.update_masks(self.model.preprocess.to_image(mask, *self._shown_size) >= 0.5)

    def _push_thresholds_to_model(self) -> None:
        t = self.current_thresholds
        if self.model is not None and t is not None:
            self.model.set_thresholds(image=t.image, pixel=t.pixel, review=t.review, clear_review=t.review is None)

    def show_result(self, row: int) -> None:
        if not 0 <= row < len(self.results) or self.model is None:
            return
        self._current_row = row
        item = self.results[row]
        try:
            image = read_image(item.path)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        t = self.current_thresholds
        scale = display_scale(self.model.pixel_scale, t.pixel)
        verdict = str(self.results_panel.model.verdicts[row])
        norm, pred, gt = self._image_maps(item, image.shape[0], image.shape[1], scale, t.pixel)
        self.viewer.show_result(image, norm, pred, gt, title=f"{item.path.name}   score {item.raw_score:.4g}",
                                verdict=verdict)
        self.roi_tool.show_roi(self.model.config.roi)

    def _image_maps(self, item: ResultItem, height: int, width: int, scale, pixel_threshold: float):
        """Normalised map, predicted and true masks at the image's own size (a region of interest
        places them where they belong)."""
        pre = self.model.preprocess
        norm = pre.to_image(scale.normalize(item.anomaly_map), height, width)
        pred = pre.to_image((item.anomaly_map >= pixel_threshold).astype(np.float32), height, width) >= 0.5
        gt = None
        if item.mask_path is not None:
            try:
                raw = read_image(item.mask_path)
                gt = (raw if raw.ndim == 2 else raw.max(axis=2)) > 0  # the viewer scales it to the image
            except ValueError:
                gt = None
        self._shown_size = (height, width)
        return norm, pred, gt

    # --- task results -----------------------------------------------------------------------------
    def _on_progress(self, name: str, stage: str, done: int, total: int, eta: float) -> None:
        self.training_panel.set_progress(stage, done, total, eta)

    def _on_finished(self, name: str, result) -> None:
        _settle_heap()
        if name == "scan":
            self.dataset_panel.set_dataset(result)
            self.training_panel.set_dataset_ready(bool(result.train))
            self._report_dataset(result)
            self._preview_first_image(result)
            self.model_manager.set_dataset_size(len(result.train))
        elif name == "train":
            self.model, self.training = result.fit.model, result.fit.training
            self.live_panel.set_model(self.model, f"{self.model.kind} (trained {len(result.results)} reviewed)")
            r = result.fit.report
            self.training_panel.set_status(f"Trained on {r.n_train} images in {r.seconds:.1f} s; "
                                           f"thresholds: {r.threshold_source}")
            self.set_results(result.results, result.pixel_auroc)
            self.statusBar().showMessage(f"Training done: {len(result.results)} images to review")
        elif name == "load_model":
            self.model, self.training = result, dict((result.manifest or {}).get("training", {}))
            self.live_panel.set_model(self.model, Path(self.settings.value("last_model", "model")).stem)
            self.set_results([])
            self.statusBar().showMessage(f"Model loaded: {result.kind} on {result.config.backbone}. "
                                         "Use File > Inspect folder to run it.")
        elif name == "inspect":
            results, skipped = result
            self.set_results(results)
            self.statusBar().showMessage(f"Inspected {len(results)} images" +
                                         (f"; {len(skipped)} skipped: " + "; ".join(
                                             f"{s.path.name} ({s.reason})" for s in skipped[:5]) if skipped else ""))
        elif name == "add_good":
            results, details = result
            self.set_results(results, self.threshold_panel_pixel_auroc())
            self.training.setdefault("added_good_files", []).append(details["path"])
            self.statusBar().showMessage(f"Added {Path(details['path']).name} as good: memory bank "
                                         f"{details['previous_memory_bank']} -> {details['memory_bank']} patches")
        elif name == "export":
            self.statusBar().showMessage(f"Exported to {result}")

    def threshold_panel_pixel_auroc(self) -> float | None:
        return getattr(self, "_pixel_auroc", None)

    def _report_dataset(self, dataset: Dataset) -> None:
        self.statusBar().showMessage(f"Dataset: {dataset.layout} layout, {len(dataset.train)} good images to learn "
                                     f"from, {len(dataset.test)} test images, {len(dataset.skipped)} skipped")

    def _on_failed(self, name: str, message: str) -> None:
        if name == "scan":
            self.dataset_panel.set_error(message)
        self.training_panel.set_status(f"{name} failed: {message}")
        self.show_error(f"{name.replace('_', ' ').capitalize()} failed: {message}")

    def _on_cancelled(self, name: str) -> None:
        self.training_panel.set_status(f"{name.capitalize()} cancelled; nothing was changed.")
        self.statusBar().showMessage(f"{name.capitalize()} cancelled")

    def show_error(self, message: str) -> None:
        """Errors go to the status bar and a non-blocking message box, never a silent traceback."""
        self.statusBar().showMessage(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "Hamacho", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_error = message

    # --- layout persistence -----------------------------------------------------------------------
    def _restore_layout(self) -> None:
        geometry, state = self.settings.value("geometry"), self.settings.value("window_state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)
        else:  # first start: sizes apply once the window is laid out
            QTimer.singleShot(0, self._default_dock_sizes)

    def _default_dock_sizes(self) -> None:
        data_dock, results_dock = self._default_docks
        self.resizeDocks([data_dock, results_dock], [470, 390], Qt.Orientation.Vertical)
        self.resizeDocks([data_dock], [470], Qt.Orientation.Horizontal)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        self.settings.sync()
        self.live_panel.stop()
        self.runner.shutdown()
        super().closeEvent(event)
