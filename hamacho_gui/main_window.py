"""The main window: assembles the panels around one :class:`~hamacho_core.session.InspectionSession`.

Panels bind to the session's events; the window turns user actions into jobs on its worker lanes
(:class:`~hamacho_gui.workers.Workers`), each started with its own completion handlers, which hand the
results to the session.  Menu actions are declared once in :mod:`hamacho_gui.actions` and greyed
whenever they cannot run.  Unsaved changes show as ``*`` in the title and are never lost silently
(Save / Discard / Cancel on quit and open).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QTabWidget

from hamacho_core import __version__
from hamacho_core.dataset import Dataset, load_dataset
from hamacho_core.imageio import read_image
from hamacho_core.library import unique_path
from hamacho_core.model_io import load_model
from hamacho_core.outputs import full_size_maps
from hamacho_core.review import read_mask
from hamacho_core.runtime import preload as preload_runtime
from hamacho_core.session import InspectionSession
from hamacho_core.validation import validate
from hamacho_gui import dialogs, layout, tasks
from hamacho_gui import settings as settings_module
from hamacho_gui.about import show_about
from hamacho_gui.actions import MODEL_JOBS, Actions
from hamacho_gui.dataset_panel import DatasetPanel
from hamacho_gui.live_panel import LivePanel
from hamacho_gui.model_manager import ModelManagerPanel
from hamacho_gui.results_panel import ResultsPanel
from hamacho_gui.roi_tool import RoiTool
from hamacho_gui.settings import open_settings
from hamacho_gui.station import AuditTrail, Station
from hamacho_gui.teaching import Teacher
from hamacho_gui.threshold_panel import ThresholdPanel
from hamacho_gui.training_panel import TrainingPanel
from hamacho_gui.viewer import ImageViewer
from hamacho_gui.workers import Workers

#: The window must fit the 1280x720 and 1366x768 panel PCs found at stations.
MIN_WIDTH, MIN_HEIGHT = 1024, 600


def _settle_heap() -> None:
    """Move everything alive now (libraries, models) out of the cyclic garbage collector's view.

    A full collection walks every tracked object on the GUI thread; with a model loaded that pause
    reached 450 ms (measured).  Frozen objects are still freed by reference counting.
    """
    gc.freeze()


class MainWindow(QMainWindow):
    """Dataset + training on the left, the image in the middle, results and thresholds on the right."""

    def __init__(self, parent=None, *, session: InspectionSession | None = None):
        super().__init__(parent)
        preload_runtime()  # under the splash, not in the first fit's worker (it would freeze this thread)
        self.settings = open_settings()
        self.session = session or InspectionSession()
        self.workers = Workers(self)
        self.runner = self.workers.jobs  # the lane of long jobs (scan, train, inspect, export)
        self._current_row = -1
        #: (model, its fitted state before, results before, pixel AUROC, change text) per image taught as good
        self._shown_size: tuple[int, int] | None = None
        self._close_after_save = False
        self._after_save = None  # what to do once a save asked for by "Save before you ...?" has succeeded
        self._train_started = time.monotonic()
        self.last_error = ""

        self.viewer = ImageViewer()
        self.roi_tool = RoiTool(self.viewer)
        self.dataset_panel = DatasetPanel(workers=self.workers)
        self.training_panel = TrainingPanel()
        self.results_panel = ResultsPanel()
        self.threshold_panel = ThresholdPanel()
        self.live_panel = LivePanel(workers=self.workers)
        self.model_manager = ModelManagerPanel(workers=self.workers)
        self.central_tabs = QTabWidget()
        self.central_tabs.addTab(self.viewer, "Review")
        self.central_tabs.addTab(self.live_panel, "Live")
        self.setCentralWidget(self.central_tabs)
        left = layout.SideTabs()  # its size hint never widens the left side (issue 24, 8)
        left.addTab(self.dataset_panel, "Dataset")
        left.addTab(self.training_panel, "Train")  # scrolls its settings itself, Train stays in view
        left.addTab(self.model_manager, "Models")
        self.left_tabs = left
        data_dock = self._dock("Data and training", left, Qt.DockWidgetArea.LeftDockWidgetArea)
        results_dock = self._dock("Results", self.results_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        thresholds_dock = self._dock("Thresholds and metrics", layout.SideScroll(self.threshold_panel),
                                     Qt.DockWidgetArea.RightDockWidgetArea)
        self.default_docks = (data_dock, results_dock, thresholds_dock)
        self.audit = AuditTrail(self)
        self.station = Station(self)
        self.teacher = Teacher(self)
        self.menu_actions = Actions(self)
        self._bind()
        self._connect()
        self.setMinimumSize(MIN_WIDTH, MIN_HEIGHT)
        self.resize(1280, 720)
        self.initial_state = self.saveState()  # what View > Reset layout goes back to
        layout.restore(self)
        layout.fit_to_screen(self)
        self._update_title()
        self.statusBar().showMessage(settings_module.last_problem
                                     or "Open a dataset folder to start (File > Open dataset...)")
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

    def _bind(self) -> None:
        """Panels follow the session (napari style: ``_on_<event>``)."""
        s = self.session
        self.results_panel.bind(s)
        self.threshold_panel.bind(s)
        s.events.connect("model", self._on_model)
        s.events.connect("results", self._on_results)
        s.events.connect("thresholds", self._on_thresholds)
        s.events.connect("dirty", lambda _dirty: self._update_title())
        for event in ("dataset", "model", "results"):
            s.events.connect(event, self.menu_actions.refresh)

    def _connect(self) -> None:
        self.dataset_panel.dataset_requested.connect(self.open_dataset)
        self.dataset_panel.image_activated.connect(self.show_image)
        self.training_panel.train_requested.connect(self.train)
        self.training_panel.settings_changed.connect(self._on_train_settings)
        self.training_panel.cancel_requested.connect(self.runner.cancel)
        self.training_panel.roi_draw_requested.connect(self.draw_roi)
        self.roi_tool.roi_drawn.connect(self.training_panel.set_roi)
        self.model_manager.open_requested.connect(self.open_model)
        self.model_manager.weights_imported.connect(lambda _name: self.training_panel.refresh_backbones())
        self.results_panel.item_selected.connect(self.show_result)
        self.results_panel.score_dataset_requested.connect(self.score_dataset)
        self.threshold_panel.thresholds_changed.connect(self.session.set_thresholds)
        self.threshold_panel.suggest_requested.connect(self.suggest_threshold)
        self.threshold_panel.show_mistakes.connect(self.results_panel.set_filter)
        for a, b in ((self.viewer, self.live_panel.viewer), (self.live_panel.viewer, self.viewer)):
            a.colormap_combo.currentTextChanged.connect(b.set_colormap)  # one colormap on both tabs
        self.viewer.next_requested.connect(lambda: self.results_panel.step(+1))
        self.viewer.previous_requested.connect(lambda: self.results_panel.step(-1))
        for lane in (self.runner, self.workers.files):
            lane.progress.connect(self._on_progress)
            lane.started.connect(self.menu_actions.refresh)
            lane.idle.connect(self.menu_actions.refresh)
        self.results_panel.item_selected.connect(self.menu_actions.refresh)
        self.runner.started.connect(self._on_job_started)
        self.runner.idle.connect(lambda: self.training_panel.set_running(False))
        self.runner.idle.connect(lambda: self._model_work_ended())
        self._on_train_settings(self.training_panel.settings_request())

    @property
    def current_row(self) -> int:
        """The row of the result shown (-1: none)."""
        return self._current_row

    # --- user actions -----------------------------------------------------------------------------
    def about(self) -> None:
        show_about(self)

    def choose_dataset(self) -> None:
        folder = dialogs.existing_folder(self, "Open dataset folder", self.settings.value("last_dataset", ""))
        if folder:
            self.open_dataset(folder)

    def open_dataset(self, folder: Path) -> None:
        self.settings.setValue("last_dataset", str(folder))
        self.dataset_panel.set_loading(Path(folder))
        self.training_panel.set_dataset_ready(False)
        self.run_job("scan", lambda progress, stop: load_dataset(folder, progress=progress, should_stop=stop),
                  self._on_scanned, on_failed=self._on_scan_failed)

    def train(self, request: tasks.TrainRequest) -> None:
        dataset = self.session.dataset
        if dataset is None:
            self.show_error("Open a dataset first.")
            return
        if not self._may_replace_model("train a new model", then=lambda: self.train(request)):
            return
        self.training_panel.set_status(
            f"Finding the best settings on {len(dataset.train)} good images "
            f"(at most {request.auto.budget_min:g} min)..."
            if request.auto is not None else f"Training {request.kind} on {len(dataset.train)} good images...")
        self._train_started = time.monotonic()
        self.run_job("train", tasks.train(dataset, request), self._on_trained)

    def draw_roi(self, kind: str) -> None:
        try:
            self.roi_tool.start(kind)
        except RuntimeError as exc:
            self.show_error(str(exc))
            return
        self.statusBar().showMessage("Draw the region on the image: drag a rectangle, or click corners and "
                                     "double-click to close a polygon; Esc cancels.")

    def choose_model(self) -> None:
        start = self.settings.value("last_model", "") or str(self.library_dir())
        path = dialogs.open_file(self, "Open model", start, "Hamacho models (*.hmc);;All files (*)")
        if path:
            self.open_model(path)

    def open_model(self, path: Path) -> None:
        if not self._may_replace_model(f"open {Path(path).name}", then=lambda: self.open_model(path)):
            return
        self.settings.setValue("last_model", str(path))
        self.run_job("load_model", lambda progress, stop: (load_model(path), Path(path)), self._on_model_loaded)

    def library_dir(self) -> Path:
        return self.model_manager.library_folder()

    def save_to_library(self) -> None:
        """Save: to the file the model came from, else into the model library under a new name."""
        s = self.session
        if s.model is None:
            self.show_error("There is no model to save yet: train one or open one.")
            return
        if s.model_path is not None:
            self.save_model(s.model_path)
        else:
            self.choose_save_model()

    def choose_save_model(self) -> None:
        s = self.session
        if s.model is None:
            self.show_error("There is no model to save yet: train one or open one.")
            return
        folder = self.library_dir()
        folder.mkdir(parents=True, exist_ok=True)
        start = s.model_path or unique_path(folder, f"{s.model.kind}_{s.model.config.backbone}")
        path = dialogs.save_file(self, "Save model (the model library is the default place)", start,
                                 "Hamacho models (*.hmc)", suffix="hmc")
        if path:
            self.save_model(path)

    def save_model(self, path: Path) -> None:
        """Write the model as the session judges (its thresholds included), on the files lane."""
        s = self.session
        if s.model is None:
            return
        self.statusBar().showMessage(f"Saving {Path(path).name}...")
        library = self.library_dir()
        what = s.saving()  # the thresholds cannot move meanwhile: the panel is off while saving
        self.threshold_panel.setEnabled(False)
        self.workers.files.start("save", tasks.save(s.model, Path(path), s.training,
                                                    make_folder=Path(path).parent == library),
                                 on_done=lambda saved: self._on_saved(saved, what), on_failed=self._on_save_failed)

    def _on_saved(self, saved: Path, what: tuple | None = None) -> None:
        self._model_work_ended(save_done=True)
        if not self.session.mark_saved(saved, what):  # another model was opened meanwhile
            self.model_manager.refresh_models()
            self.statusBar().showMessage(f"The previous model was saved to {saved}")
            return
        self.settings.setValue("last_model", str(saved))
        self.model_manager.refresh_models()
        self.live_panel.model_name = self.session.model_name
        self.audit.record("model saved", "", str(saved))
        self.statusBar().showMessage(f"Model saved to {saved}")
        if self._close_after_save:
            self.close()
            return
        then, self._after_save = self._after_save, None
        if then is not None:
            QTimer.singleShot(0, then)  # what the Save in "Save before you ...?" was for

    def _on_save_failed(self, message: str) -> None:
        self._model_work_ended(save_done=True)
        self._close_after_save = False
        self._after_save = None
        self.show_error(f"The model was not saved: {message}")

    def add_current_as_good(self) -> None:
        self.teacher.add_current()

    def can_undo_good(self) -> bool:
        return self.teacher.can_undo()

    def undo_teach_good(self) -> None:
        self.teacher.undo()

    def score_dataset(self) -> None:
        """Judge the loaded dataset's images with the current model (labels and sets kept)."""
        s = self.session
        if s.model is None or s.dataset is None:
            self.show_error("Open a dataset and a model first.")
            return
        self.run_job("score", tasks.score(s.model, s.dataset_sources()), self._on_scored)

    def suggest_threshold(self) -> None:
        try:
            t, how = self.session.suggest_threshold()
        except ValueError as exc:
            self.threshold_panel.show_suggestion(str(exc), error=True)
            self.statusBar().showMessage(str(exc))
            return
        self.session.set_thresholds(t)
        self.threshold_panel.show_suggestion(how)
        self.statusBar().showMessage(how)

    def choose_inspect_folder(self) -> None:
        if self.session.model is None:
            self.show_error("Train or open a model first.")
            return
        folder = dialogs.existing_folder(self, "Folder to inspect", self.settings.value("last_inspect", ""))
        if folder:
            self.inspect_folder(folder)

    def inspect_folder(self, folder: Path) -> None:
        self.settings.setValue("last_inspect", str(folder))
        self.run_job("inspect", tasks.inspect_folder(self.session.model, Path(folder)), self._on_scored)

    def choose_export(self) -> None:
        if not self.session.results:
            self.show_error("There are no results to export.")
            return
        dataset = self.session.dataset
        start = self.settings.value("last_export", "") or (dataset.root.parent if dataset is not None else Path.home())
        folder = dialogs.existing_folder(self, "Export results to", start)
        if not folder:
            return
        target = dialogs.export_target(self, folder)  # a non-empty folder: replace, new run folder or cancel
        if target is not None:
            self.export(target)

    def choose_export_report(self) -> None:
        """File > Export validation report: one HTML file a quality engineer can attach to a release."""
        start = Path(self.settings.value("last_report", "") or Path.home()) / "validation_report.html"
        path = dialogs.save_file(self, "Export validation report", start, "HTML report (*.html)", suffix="html")
        if path is not None:
            self.export_report(path)

    def export_report(self, path: Path) -> None:
        s = self.session
        self.settings.setValue("last_report", str(Path(path).parent))
        self.run_job("report", tasks.export_report(s.model, list(s.results), s.thresholds, Path(path), s.model_path,
                                                      s.training),
                  lambda written: self.statusBar().showMessage(f"Validation report written: {written}"))

    def export(self, folder: Path) -> None:
        """CSV and overlay/map/mask images of the results listed (filter applies), as shown on screen."""
        self.settings.setValue("last_export", str(folder))
        s = self.session
        items = [s.results[r] for r in self.results_panel.visible_rows()]
        self.run_job("export", tasks.export(s.model, items, s.thresholds, Path(folder), self.viewer.colormap_name,
                                         self.viewer.opacity),
                  lambda folder: self.statusBar().showMessage(f"Exported to {folder}"))

    def _on_job_started(self, name: str) -> None:
        self.training_panel.set_running(True)
        if name in MODEL_JOBS:  # the model is replaced or changed when it ends: no threshold moves meanwhile
            self.threshold_panel.setEnabled(False)

    def _model_work_ended(self, save_done: bool = False) -> None:
        saving = self.workers.files.current == "save" and not save_done
        if self.runner.current not in MODEL_JOBS and not saving:
            self.threshold_panel.setEnabled(True)

    # --- session events ---------------------------------------------------------------------------
    def _on_model(self, model) -> None:
        self.live_panel.set_model(model, self.session.model_name)
        self.training_panel.set_status("")  # a status of the previous model would be stale
        self._current_row = -1
        self._update_title()

    def _on_results(self, results) -> None:
        if not results:
            self._current_row = -1
            self.viewer.clear()

    def _on_thresholds(self, t) -> None:
        """Redraw the shown image's predicted mask and its verdict badge (the list's verdicts follow in the results
        panel): a badge left at NG while the slider made the image OK contradicts the list."""
        s = self.session
        if t is None or not 0 <= self._current_row < len(s.results) or self._shown_size is None:
            return
        item = s.results[self._current_row]
        _norm, predicted = full_size_maps(s.model, item.anomaly_map, *self._shown_size)
        self.viewer.update_masks(predicted)
        if s.model.judge is not None:
            self.viewer.set_verdict(s.model.judge.verdict(item.raw_score))

    def _on_train_settings(self, request) -> None:
        if request is not None:
            self.model_manager.set_training_settings(request.kind, request.config)

    # --- showing images ---------------------------------------------------------------------------
    def show_result(self, row: int) -> None:
        s = self.session
        if not 0 <= row < len(s.results) or s.model is None:
            return
        self._current_row = row
        item = s.results[row]
        try:
            image = read_image(item.path)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        verdict = str(self.results_panel.model.verdicts[row])
        norm, predicted = full_size_maps(s.model, item.anomaly_map, image.shape[0], image.shape[1])  # as judged now
        try:
            truth = read_mask(item.mask_path)
            truth = None if truth is None else truth > 0  # the viewer scales it to the image
        except ValueError:
            truth = None
        self._shown_size = image.shape[:2]
        self.viewer.show_result(image, norm, predicted, truth, verdict=verdict,
                                title=f"{item.folder}/{item.path.name}   {item.set}   score {item.raw_score:.4g}")
        self.roi_tool.show_roi(s.model.config.roi)

    def show_image(self, path: Path) -> None:
        """A dataset thumbnail clicked: its result if it has one, else the image itself."""
        self.central_tabs.setCurrentWidget(self.viewer)
        for row, item in enumerate(self.session.results):
            if item.path == Path(path):
                self.results_panel.select_row(row)
                return
        try:
            image = read_image(path)
        except ValueError as exc:
            self.show_error(str(exc))
            return
        self._current_row, self._shown_size = -1, None
        self.viewer.show_result(image, None, None, None, title=f"{Path(path).parent.name}/{Path(path).name}")
        self.roi_tool.show_roi(self.training_panel.roi)
        self.menu_actions.refresh()

    def _preview_first_image(self, dataset: Dataset) -> None:
        """Show a good image right after scanning, so a region of interest can be drawn before training."""
        if dataset.train and not self.session.results:
            self.show_image(dataset.train[0].path)

    # --- task results -----------------------------------------------------------------------------
    def _on_progress(self, name: str, stage: str, done: int, total: int, eta: float) -> None:
        self.training_panel.set_progress(stage, done, total, eta)

    def run_job(self, name: str, job, on_done, on_failed=None) -> None:
        """Start ``job`` on the jobs lane with its own handlers: ``on_done(result)`` (after the heap is
        settled), ``on_failed(message)`` (default: said), a cancellation is said."""
        def done(result) -> None:
            _settle_heap()
            on_done(result)
        self.runner.start(name, job, done, on_failed or (lambda message: self._report_failure(name, message)),
                          on_cancelled=lambda: self._report_cancelled(name))

    def _on_scanned(self, dataset: Dataset) -> None:
        self.session.set_dataset(dataset)
        self.training_panel.set_status("")
        self.dataset_panel.set_dataset(dataset)
        self.training_panel.set_dataset_ready(bool(dataset.train))
        self.training_panel.set_image_dims(dataset.image_dims, len(dataset.train))
        self._report_dataset(dataset)
        self._preview_first_image(dataset)
        self.model_manager.set_dataset_size(len(dataset.train), dataset.image_dims)

    def _on_scan_failed(self, message: str) -> None:
        self.dataset_panel.set_error(message)
        self._report_failure("scan", message)

    def _on_trained(self, result: tasks.TrainOutcome) -> None:
        self.session.set_model(result.fit.model, training=result.fit.training, results=result.results,
                               pixel_auroc=result.pixel_auroc)
        r = result.fit.report
        self.training_panel.set_auto_report(result.auto_report)
        if result.auto_report is not None:
            a = result.auto_report
            self.training_panel.set_status(
                f"Chose {a.winner} in {a.seconds:.0f} s. At its threshold {a.threshold['false_alarms']} of "
                f"{a.validation['good']} held-out good images are flagged and {a.threshold['synthetic_escapes']} of "
                f"{a.validation['synthetic']} synthetic defects would pass as OK"
                + (f" ({a.threshold['real_escapes']} of {a.validation['real']} real ones)" if a.validation["real"]
                   else "") + ". Not saved yet (File > Save).")
        else:
            self.training_panel.set_status(f"Trained on {r.n_train} images in {r.seconds:.1f} s; "
                                           f"thresholds: {r.threshold_source}. Not saved yet (File > Save).")
        self.statusBar().showMessage(f"Training done: {len(result.results)} images to review")
        self._warn_escapes()

    def _warn_escapes(self) -> None:
        """Issue 24 (1): a model that lets known defects pass, or whose threshold one good image holds up,
        says so at once, in words, before it is saved."""
        s = self.session
        if s.model is None or s.model.judge is None or not s.results:
            return
        v = validate([r.raw_score for r in s.results], [r.label for r in s.results], s.model.judge,
                     names=[f"{r.folder}/{r.path.name}" for r in s.results])
        warnings = []
        if v.escapes:
            warnings.append(f"Warning: {len(v.escapes)} of {v.defects} known defective images would pass as OK "
                            "at this threshold (Results, Show: Escapes).")
        if v.dominant >= 0:
            warnings.append(v.lines()[-1])
        if warnings:
            self.training_panel.set_status(" ".join(warnings) + " " + self.training_panel.status_label.text(),
                                           warning=True)

    def _on_model_loaded(self, result) -> None:
        s, (model, path) = self.session, result
        s.set_model(model, path=path)
        hint = "Review > Score the loaded dataset" if s.dataset is not None else "File > Inspect folder"
        self.statusBar().showMessage(f"Model loaded: {model.kind} on {model.config.backbone}. Use {hint} to run it.")

    def _on_scored(self, result: tasks.Scored) -> None:
        """Inspect folder or score the dataset: the results replace the shown ones."""
        self.session.set_results(result.results, result.pixel_auroc)
        skipped = result.skipped
        self.statusBar().showMessage(f"Judged {len(result.results)} images" + (
            f"; {len(skipped)} skipped: " + "; ".join(f"{k.path.name} ({k.reason})" for k in skipped[:5])
            if skipped else ""))

    def _report_dataset(self, dataset: Dataset) -> None:
        self.statusBar().showMessage(f"Dataset: {dataset.layout} layout, {len(dataset.train)} good images to learn "
                                     f"from, {len(dataset.test)} test images, {len(dataset.skipped)} skipped")

    def _report_failure(self, name: str, message: str) -> None:
        self.training_panel.set_status(f"{name} failed: {message}")
        self.show_error(f"{name.replace('_', ' ').capitalize()} failed: {message}")

    def _report_cancelled(self, name: str) -> None:
        self.training_panel.set_status(f"{name.capitalize()} cancelled; nothing was changed.")
        self.statusBar().showMessage(f"{name.capitalize()} cancelled")

    def show_error(self, message: str) -> None:
        """Errors go to the status bar and a non-blocking message box, never a silent traceback."""
        self.statusBar().showMessage(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "Hamacho", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_error = message

    # --- unsaved work -----------------------------------------------------------------------------
    def _update_title(self) -> None:
        s = self.session
        name = f" - {s.model_name}" if s.model is not None else ""
        self.setWindowTitle(f"Hamacho {__version__}{name}[*]")
        self.setWindowModified(s.dirty)

    def _may_replace_model(self, doing: str, then=None) -> bool:
        """True when the current model may go: nothing unsaved, or the user chose Discard.  Save saves, and
        ``then`` (what was asked for: the Open, the Train) runs once the save has succeeded (issue 24: it was
        dropped); Cancel keeps everything."""
        s = self.session
        if not s.dirty:
            return True
        answer = dialogs.ask_unsaved(self, s.model_name, s.changes, doing)
        if answer == "discard":
            return True
        if answer == "save":
            self._after_save = then
            self.save_to_library()
            if self.session.model_path is None and not self.workers.files.busy:
                self._after_save = None  # the Save dialog was cancelled
        return False

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        s = self.session
        if self.runner.current == "train" and not dialogs.confirm_quit_training(self, self._train_started):
            event.ignore()  # issue 24: quitting during a long training discarded it without a word
            return
        if s.dirty:
            answer = dialogs.ask_unsaved(self, s.model_name, s.changes, "quit")
            if answer == "cancel":
                event.ignore()
                return
            if answer == "save":
                event.ignore()
                self._close_after_save = True  # closes once the save has succeeded
                self.save_to_library()
                if self.session.model_path is None and not self.workers.files.busy:
                    self._close_after_save = False  # the Save dialog was cancelled
                return
            s.changes = []  # discarded
        layout.save(self)
        self.live_panel.stop()
        self.workers.shutdown()
        self.audit.close()
        super().closeEvent(event)
