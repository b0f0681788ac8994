"""Dataset panel: pick a dataset folder, then show what the scan found (counts, skipped files, warnings,
thumbnails).

The panel never scans or trains itself: it emits :attr:`DatasetPanel.dataset_requested` and the main window
runs ``load_dataset`` through its :class:`~hamacho_gui.workers.TaskRunner`, then calls :meth:`set_loading`,
:meth:`set_dataset` or :meth:`set_error`.  Thumbnails are decoded and downscaled on the ``thumbnails`` lane
of :class:`~hamacho_gui.workers.Workers` (the window's, or the panel's own): one generation of small jobs
per dataset, each thumbnail arriving as a partial result as soon as it is ready; a new dataset (or a new
scan, or an error) cancels the older generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from hamacho_core.dataset import HAMACHO, Dataset, ImageItem
from hamacho_core.imageio import read_image
from hamacho_core.preprocess import to_rgb8
from hamacho_gui.workers import Workers, guard, panel_workers

THUMB_SIZE = 96  # pixels, longest side of a thumbnail
MAX_THUMBNAILS = 300  # only the first images of a dataset get a thumbnail
DEFECT_COLOR = QColor("#d32f2f")
WARN_COLOR = QColor("#b26a00")
PLACEHOLDER_TEXT = ("No dataset loaded.\n\nClick \u201cOpen dataset folder...\u201d or drop a folder here.\n\n"
                    "Expected layouts:\n"
                    "  hamacho: good/ (optional bad/ and mask/)\n"
                    "  MVTec AD: train/good/ (optional test/<kind>/ and ground_truth/<kind>/)")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- thumbnails off the GUI thread
@dataclass(frozen=True)
class Thumbnail:
    """A partial result of the thumbnails lane: the thumbnail of row ``row`` (``path``), or why there is none."""

    row: int
    path: Path
    image: QImage | None
    error: str = ""


def make_thumbnail(path: Path, size: int = THUMB_SIZE) -> QImage:
    """Decode ``path`` and scale it so its longest side is ``size`` (RGB8 QImage; safe in any thread)."""
    image = to_rgb8(read_image(path))
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale < 1.0:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()  # copy: owns its pixels


def thumbnail_job(row: int, path: Path):
    """One small job of a thumbnails generation: hands its :class:`Thumbnail` over as a partial result."""
    def job(progress, should_stop, partial) -> None:
        try:
            thumb = make_thumbnail(path)
        except Exception as exc:  # noqa: BLE001 - a thumbnail failure is shown on its item, never raised
            partial(Thumbnail(row, path, None, str(exc) or type(exc).__name__))
            return
        partial(Thumbnail(row, path, thumb))
    return job


# --------------------------------------------------------------------------- the panel
class DatasetPanel(QWidget):
    """Choose a dataset folder and review it before training."""

    dataset_requested = Signal(object)  # Path of the folder the user picked, typed or dropped
    image_activated = Signal(object)  # Path of a thumbnail clicked: show that image

    def __init__(self, parent: QWidget | None = None, *, workers: Workers | None = None):
        """``workers``: the window's lanes (its ``thumbnails`` lane decodes the thumbnails); None: the panel's own."""
        super().__init__(parent)
        self._dataset: Dataset | None = None
        self._thumb_items: list[QListWidgetItem] = []
        self.workers = panel_workers(self, workers)
        self.setAcceptDrops(True)
        self._build()
        self._show_placeholder(PLACEHOLDER_TEXT)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("Dataset folder (type a path and press Enter, or drop a folder here)")
        self.path_edit.setClearButtonEnabled(True)
        self.path_edit.returnPressed.connect(self._on_path_entered)
        self.open_button = QPushButton("Open dataset folder...")
        self.open_button.clicked.connect(self._on_open_clicked)
        top = QHBoxLayout()
        top.addWidget(self.path_edit, 1)
        top.addWidget(self.open_button)

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Page 0: placeholder / scanning / error message.
        self.placeholder_label = QLabel()
        self.placeholder_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder_label.setWordWrap(True)
        self.placeholder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.placeholder_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

        # Page 1: the dataset.
        counts_box = QGroupBox("Contents")
        self.counts_form = QFormLayout(counts_box)
        self.counts_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.counts_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.skipped_label = QLabel()
        self.skipped_list = QListWidget()
        self.skipped_list.setAlternatingRowColors(True)
        self.warnings_label = QLabel()
        self.warnings_list = QListWidget()
        self.warnings_list.setAlternatingRowColors(True)
        self.warnings_list.setWordWrap(True)
        issues = QWidget()
        issues_layout = QVBoxLayout(issues)
        issues_layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.skipped_label, self.skipped_list, self.warnings_label, self.warnings_list):
            issues_layout.addWidget(w)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(counts_box)
        left_layout.addWidget(issues, 1)

        self.thumbs_label = QLabel("Images")
        self.thumbnails = QListWidget()
        self.thumbnails.setViewMode(QListView.ViewMode.IconMode)
        self.thumbnails.setIconSize(QSize(THUMB_SIZE, THUMB_SIZE))
        self.thumbnails.setGridSize(QSize(THUMB_SIZE + 36, THUMB_SIZE + 44))  # room for two text lines
        self.thumbnails.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbnails.setMovement(QListView.Movement.Static)
        self.thumbnails.setWordWrap(False)
        self.thumbnails.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.thumbnails.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.thumbnails.itemClicked.connect(self._on_thumbnail_clicked)
        self.thumbnails.itemActivated.connect(self._on_thumbnail_clicked)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.thumbs_label)
        right_layout.addWidget(self.thumbnails, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder_label)
        self.stack.addWidget(splitter)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status_label)
        layout.addWidget(self.stack, 1)

    # ------------------------------------------------------------------ public API
    def _on_thumbnail_clicked(self, item: QListWidgetItem) -> None:
        it = item.data(Qt.ItemDataRole.UserRole)
        if it is not None:
            self.image_activated.emit(it.path)

    def dataset(self) -> Dataset | None:
        return self._dataset

    def set_loading(self, path: Path) -> None:
        """A scan of ``path`` started: the previous dataset is dropped (``dataset()`` is None until the result)."""
        path = Path(path)
        self._clear_dataset()
        self.path_edit.setText(str(path))
        self._set_status(f"Scanning {path} ...")
        self._show_placeholder(f"Scanning {path} ...\n\nEvery image is checked; unusable files will be listed "
                               "with the reason.")

    def set_scan_progress(self, done: int, total: int) -> None:
        """Optional: scan progress (e.g. from the runner's ``"scan"`` stage) while loading."""
        if self._dataset is None and total > 0:
            self._set_status(f"Scanning {self.path_edit.text()} ... {done}/{total} files")

    def set_dataset(self, dataset: Dataset) -> None:
        self._clear_dataset()
        self._dataset = dataset
        self.path_edit.setText(str(dataset.root))
        self._fill_counts(dataset)
        self._fill_issues(dataset)
        self._fill_thumbnails(dataset)
        n_bad = sum(it.label for it in dataset.test)
        text = f"{len(dataset.train)} training images, {len(dataset.test)} test images ({n_bad} defective)"
        if dataset.skipped:
            text += f", {len(dataset.skipped)} file(s) skipped"
        self._set_status(text)
        self.stack.setCurrentIndex(1)

    def set_error(self, message: str) -> None:
        self._clear_dataset()
        self._set_status("Could not open the dataset", error=True)
        self._show_placeholder(f"Could not open the dataset:\n\n{message}", error=True)

    # ------------------------------------------------------------------ filling
    def _clear_dataset(self) -> None:
        self._dataset = None
        self.workers.thumbnails.cancel()  # the pending thumbnails are dropped, late ones never delivered
        self._thumb_items = []
        self.thumbnails.clear()
        self.skipped_list.clear()
        self.warnings_list.clear()
        while self.counts_form.rowCount():
            self.counts_form.removeRow(0)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {DEFECT_COLOR.name()};" if error else "")

    def _show_placeholder(self, text: str, *, error: bool = False) -> None:
        self.placeholder_label.setText(text)
        color = DEFECT_COLOR.name() if error else "#777777"
        self.placeholder_label.setStyleSheet(f"color: {color}; font-size: 11pt; padding: 24px;")
        self.stack.setCurrentIndex(0)

    def _add_count(self, label: str, value: str, *, color: QColor | None = None, tooltip: str = "") -> None:
        field = QLabel(value)
        field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        field.setWordWrap(True)
        if color is not None:
            field.setStyleSheet(f"color: {color.name()}; font-weight: bold;")
        if tooltip:
            field.setToolTip(tooltip)
        self.counts_form.addRow(label, field)

    def _fill_counts(self, ds: Dataset) -> None:
        folders = "good/, bad/, mask/" if ds.layout == HAMACHO else "train/, test/, ground_truth/"
        bad = [it for it in ds.test if it.label]
        kinds: dict[str, list[ImageItem]] = {}
        for it in bad:
            kinds.setdefault(it.kind, []).append(it)
        self._add_count("Folder:", str(ds.root), tooltip=str(ds.root))
        self._add_count("Layout:", f"{'hamacho' if ds.layout == HAMACHO else 'MVTec AD'} ({folders})")
        self._add_count("Train (good):", str(len(ds.train)))
        self._add_count("Test (good):", str(len(ds.test) - len(bad)))
        if not kinds:
            self._add_count("Defective:", "0 (thresholds will use good images only)")
        for kind, items in kinds.items():
            self._add_count(f"Defective \u2013 {kind}:", str(len(items)), color=DEFECT_COLOR)
        if bad:
            n_masks = sum(it.mask_path is not None for it in bad)
            self._add_count("Masks found:", f"{n_masks} of {len(bad)} defective images",
                            color=None if n_masks == len(bad) else WARN_COLOR)

    def _fill_issues(self, ds: Dataset) -> None:
        n = len(ds.skipped)
        self.skipped_label.setText(f"Skipped files: {n}" if n else "Skipped files: none")
        self.skipped_label.setStyleSheet(f"color: {DEFECT_COLOR.name()}; font-weight: bold;" if n else "")
        for s in ds.skipped:
            item = QListWidgetItem(f"{_rel(s.path, ds.root)} \u2014 {s.reason}")
            item.setToolTip(f"{s.path}\n{s.reason}")
            item.setForeground(QBrush(DEFECT_COLOR))
            self.skipped_list.addItem(item)
        self.skipped_list.setVisible(bool(n))
        m = len(ds.warnings)
        self.warnings_label.setText(f"Warnings: {m}" if m else "Warnings: none")
        self.warnings_label.setStyleSheet(f"color: {WARN_COLOR.name()}; font-weight: bold;" if m else "")
        for w in ds.warnings:
            item = QListWidgetItem(w)
            item.setToolTip(w)
            self.warnings_list.addItem(item)
        self.warnings_list.setVisible(bool(m))

    def _fill_thumbnails(self, ds: Dataset) -> None:
        # Above the cap, test images (the defective ones) still get up to half of the thumbnails.
        n_test = min(len(ds.test), max(MAX_THUMBNAILS // 2, MAX_THUMBNAILS - len(ds.train)))
        n_train = min(len(ds.train), MAX_THUMBNAILS - n_test)
        shown = [("train", it) for it in ds.train[:n_train]] + [("test", it) for it in ds.test[:n_test]]
        n_all = len(ds.train) + len(ds.test)
        more = f" (first {len(shown)} of {n_all})" if n_all > len(shown) else f" ({n_all})"
        self.thumbs_label.setText("Images" + more)
        placeholder = self._placeholder_icon()
        for split, it in shown:
            text = it.path.name if not it.label else f"{it.path.name}\n[{it.kind}]"
            item = QListWidgetItem(placeholder, text)
            tip = f"{it.path}\n{split}: {'defective (' + it.kind + ')' if it.label else 'good'}"
            if it.label:
                tip += f"\nmask: {it.mask_path.name if it.mask_path else 'none'}"
                item.setForeground(QBrush(DEFECT_COLOR))
            item.setToolTip(tip)
            item.setData(Qt.ItemDataRole.UserRole, it)
            self.thumbnails.addItem(item)
            self._thumb_items.append(item)
        jobs = [thumbnail_job(row, it.path) for row, (_split, it) in enumerate(shown)]
        self.workers.thumbnails.start("thumbnails", jobs, on_partial=guard(self, self._on_thumbnail))

    @staticmethod
    def _placeholder_icon() -> QIcon:
        pix = QPixmap(THUMB_SIZE, THUMB_SIZE)
        pix.fill(QColor("#e0e0e0"))
        return QIcon(pix)

    def _on_thumbnail(self, thumb: Thumbnail) -> None:
        """A partial result of the current generation (the lane drops those of a cancelled one)."""
        if thumb.row >= len(self._thumb_items):
            return
        item = self._thumb_items[thumb.row]
        if item.data(Qt.ItemDataRole.UserRole).path != thumb.path:
            return
        if thumb.image is None:
            item.setToolTip(f"{item.toolTip()}\nno thumbnail: {thumb.error}")
            item.setData(Qt.ItemDataRole.UserRole + 1, False)
            return
        image = thumb.image
        it: ImageItem = item.data(Qt.ItemDataRole.UserRole)
        pix = QPixmap(THUMB_SIZE, THUMB_SIZE)  # square canvas: every icon lines up on the grid
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        painter.drawImage((THUMB_SIZE - image.width()) // 2, (THUMB_SIZE - image.height()) // 2, image)
        if it.label:
            painter.setPen(QPen(DEFECT_COLOR, 4))
            painter.drawRect(2, 2, THUMB_SIZE - 4, THUMB_SIZE - 4)
        painter.end()
        item.setIcon(QIcon(pix))
        item.setData(Qt.ItemDataRole.UserRole + 1, True)  # loaded

    def thumbnails_loaded(self) -> int:
        """How many thumbnails of the current dataset are decoded (for tests and the status bar)."""
        return sum(bool(item.data(Qt.ItemDataRole.UserRole + 1)) for item in self._thumb_items)

    # ------------------------------------------------------------------ choosing a folder
    def _on_open_clicked(self) -> None:
        start = self.path_edit.text().strip()
        folder = QFileDialog.getExistingDirectory(self, "Open dataset folder", start if Path(start).is_dir() else "")
        if folder:
            self._request(Path(folder))

    def _on_path_entered(self) -> None:
        text = self.path_edit.text().strip()
        if text:
            self._request(Path(text).expanduser())

    def _request(self, path: Path) -> None:
        self.path_edit.setText(str(path))
        self.dataset_requested.emit(path)

    @staticmethod
    def _dropped_folder(mime) -> Path | None:
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                path = Path(url.toLocalFile())
                if path.is_dir():
                    return path
        return None

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        folder = self._dropped_folder(event.mimeData())
        if folder is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self._request(folder)
