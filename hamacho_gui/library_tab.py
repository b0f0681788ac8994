"""The Models tab's "Saved models" page: the model library (open, rename, duplicate, delete, import,
reveal).

The page never loads a model: "Open" emits :attr:`LibraryTab.open_requested`.  Listing reads every
file's manifest and the operations copy or move files, so they all run, in order, on the ``files``
lane of :class:`~hamacho_gui.workers.Workers`; meanwhile the buttons are disabled and the message line
says what is going on.  Each operation is also a method without dialogs (``rename_selected``,
``import_model_file``, ...): its outcome is shown in the message line and, on success,
:attr:`LibraryTab.models_changed` is emitted once the table shows it.  Errors are messages, never
tracebacks (those go to the log).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from hamacho_core import library
from hamacho_core.model_io import SUFFIX
from hamacho_core.models import REGISTRY
from hamacho_gui.manager_widgets import (
    ERROR_COLOR,
    MUTED_COLOR,
    _item,
    _MessageLine,
    _scrolling,
    _table,
    _wrapped_label,
    format_created,
    format_thresholds,
    start_file_work,
)
from hamacho_gui.manager_widgets import (
    button as make_button,
)
from hamacho_gui.workers import Workers

READING = "Reading the library\u2026"


class LibraryTab(QWidget):
    """Table of the library's model files and the buttons that manage them."""

    open_requested = Signal(Path)
    models_changed = Signal()  # a file was added, renamed or deleted (the table shows it)
    models_refreshed = Signal()  # a listing ended (the table is up to date, or the error is shown)

    COLUMNS = ("Name", "Model", "Backbone", "Layers", "Input", "Thresholds", "Images", "Saved")
    TIPS = ("File name in the library", "Model kind", "Feature extractor", "Feature layers",
            "Square size images are resized to", "Raw thresholds saved with the model: image / pixel",
            "Good images the model learned from", "When the model was saved (local time)")

    def __init__(self, workers: Workers, parent: QWidget | None = None, *, folder: Path | None = None):
        super().__init__(parent)
        self._workers = workers
        self._folder = Path(folder) if folder is not None else None
        self._entries: list[library.ModelEntry] = []
        self._jobs = 0
        self._build()
        self._show_folder()
        self.refresh_models()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.folder_label = _wrapped_label()
        self.folder_label.setStyleSheet(f"color: {MUTED_COLOR.name()};")
        self.folder_field = QLineEdit()
        self.folder_field.setReadOnly(True)
        self.model_table = _table(self.COLUMNS)
        for c, tip in enumerate(self.TIPS):
            self.model_table.horizontalHeaderItem(c).setToolTip(tip)
        self.model_table.setMinimumHeight(self.model_table.horizontalHeader().sizeHint().height()
                                          + 4 * self.model_table.verticalHeader().defaultSectionSize())
        self.model_table.itemSelectionChanged.connect(self._update_model_buttons)
        self.model_table.itemDoubleClicked.connect(lambda *_: self.open_selected())
        self.open_button = make_button("Open", self.open_selected, "Load this model in the main window")
        self.rename_button = make_button("Rename...", self._on_rename_clicked)
        self.duplicate_button = make_button("Duplicate", self.duplicate_selected)
        self.delete_button = make_button("Delete...", lambda: self.delete_selected(confirm=True))
        self.import_model_button = make_button("Import model file...", self._on_import_model_clicked,
                                               "Copy a model file into the library (it is checked first)")
        self.reveal_button = make_button("Show folder", self.reveal_library,
                                         "Open the library folder in the file manager")
        self.refresh_models_button = make_button("Refresh", self.refresh_models, "Read the library folder again")
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

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.folder_field)
        layout.addWidget(self.model_table, 1)
        layout.addLayout(first)
        layout.addLayout(second)
        layout.addWidget(self.model_message)
        self.content = content
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(_scrolling(content))

    def _show_folder(self) -> None:
        n = len(self._entries)
        self.folder_label.setText(f"Library folder ({n} model{'s' if n != 1 else ''}):")
        folder = str(self.library_folder())
        self.folder_field.setText(folder)
        self.folder_field.setToolTip(folder)
        self.folder_field.setCursorPosition(0)

    # ------------------------------------------------------------------ background work
    @property
    def busy(self) -> bool:
        """A listing or file operation of this page is queued or running."""
        return self._jobs > 0

    def _run(self, name: str, job, busy_text: str, on_done, on_failed) -> None:
        """``job`` on the files lane; the buttons are disabled and ``busy_text`` shown until it ends."""
        start_file_work(self, self._workers, name, job, on_done, on_failed, self.model_message, busy_text,
                        self._update_model_buttons)

    def _refused(self, prefix: str):
        return lambda message: self.model_message.show_message(f"{prefix}: {message}", error=True)

    def refresh_models(self) -> None:
        """Read the library folder again (in the background); keeps the selection when the file is still there."""
        self._refresh()

    def _refresh(self, *, select: Path | None = None, select_row: int | None = None,
                 message: str | None = None) -> None:
        """List the folder, then select ``select`` (default: the selected file) or the row ``select_row``;
        with ``message`` (a success), show it and emit :attr:`models_changed`."""
        folder = self.library_folder()

        def listed(entries: list[library.ModelEntry]) -> None:
            current = self.selected_model()  # now: it may have been chosen while the listing ran
            wanted = Path(select) if select is not None else current.path if current is not None else None
            self._fill(entries)
            if not (wanted is not None and self._select_path(wanted)):
                if select_row is not None and self._entries:
                    self.model_table.selectRow(min(max(select_row, 0), len(self._entries) - 1))
                else:
                    self.model_table.clearSelection()
            if message is not None:
                self.model_message.show_message(message, ok=True)
            elif not self.busy:
                self.model_message.restore()
            self.models_refreshed.emit()
            if message is not None:
                self.models_changed.emit()

        def failed(error: str) -> None:
            self.model_message.show_message(f"Could not read the library: {error}", error=True)
            self.models_refreshed.emit()

        self._run("list models", lambda _p, _s: library.list_models(folder), READING, listed, failed)

    def _fill(self, entries: list[library.ModelEntry]) -> None:
        self._entries = list(entries)
        self._show_folder()
        table = self.model_table
        table.blockSignals(True)
        try:
            table.clearSpans()
            table.setRowCount(len(self._entries))
            for r, entry in enumerate(self._entries):
                if entry.ok:
                    thresholds = format_thresholds(entry)
                    spec = REGISTRY.get(entry.kind or "")
                    cells = [
                        _item(entry.name, data=str(entry.path), tooltip=str(entry.path)),
                        _item((spec.name if spec else entry.kind or "") + (" (auto)" if entry.auto_summary else ""),
                              data=entry.kind, tooltip="\n".join(filter(None, (
                                  spec.description if spec else "", entry.auto_summary)))),
                        _item(entry.backbone or ""),
                        _item(", ".join(entry.layers)),
                        _item(entry.size_text, align_right=True),
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
                    for c in range(2, len(self.COLUMNS)):
                        table.setItem(r, c, _item(""))
                    table.setSpan(r, 1, 1, len(self.COLUMNS) - 1)
        finally:
            table.blockSignals(False)

    # ------------------------------------------------------------------ selection
    def library_folder(self) -> Path:
        return self._folder if self._folder is not None else library.library_dir()

    def entries(self) -> list[library.ModelEntry]:
        """The files of the last listing."""
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
        """Select a listed model by name (file stem); False if the last listing has none of that name."""
        for r, entry in enumerate(self._entries):
            if entry.name == name:
                self.model_table.selectRow(r)
                return True
        return False

    def _update_model_buttons(self) -> None:
        entry = self.selected_model()
        idle = not self.busy
        for button in (self.rename_button, self.duplicate_button, self.delete_button):
            button.setEnabled(entry is not None and idle)
        for button in (self.import_model_button, self.refresh_models_button):
            button.setEnabled(idle)
        self.open_button.setEnabled(entry is not None and entry.ok and idle)
        self.open_button.setToolTip("Load this model in the main window" if entry is None or entry.ok
                                    else f"Cannot open: {entry.error}")

    def _require_selection(self) -> library.ModelEntry | None:
        entry = self.selected_model()
        if entry is None:
            self.model_message.show_message("Select a model first.", error=True)
        return entry

    # ------------------------------------------------------------------ operations
    def open_selected(self) -> Path | None:
        """Emit :attr:`open_requested` with the selected file (the window loads it); its path, or None."""
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

    def rename_selected(self, new_name: str) -> None:
        """Rename the selected file (a name in use or with forbidden characters is refused)."""
        entry = self._require_selection()
        if entry is None:
            return
        self._run("rename model", lambda _p, _s: library.rename_model(entry.path, new_name), "Renaming\u2026",
                  lambda target: self._refresh(select=target, message=f"Renamed {entry.name} to {target.stem}."),
                  self._refused("Not renamed"))

    def duplicate_selected(self) -> None:
        """Copy the selected file next to it under a free name (``name (2)``), then select the copy."""
        entry = self._require_selection()
        if entry is None:
            return
        self._run("duplicate model", lambda _p, _s: library.duplicate_model(entry.path), "Duplicating\u2026",
                  lambda target: self._refresh(select=target, message=f"Duplicated {entry.name} as {target.stem}."),
                  self._refused("Not duplicated"))

    def delete_selected(self, confirm: bool = False) -> bool:
        """Delete the selected file; with ``confirm``, ask first (Yes / No).  False when nothing is deleted
        (no selection, answered No); the deletion itself runs in the background."""
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
        self._run("delete model", lambda _p, _s: library.delete_model(entry.path), "Deleting\u2026",
                  lambda _result: self._refresh(select_row=row, message=f"Deleted {entry.name}."),
                  self._refused("Not deleted"))
        return True

    def _on_import_model_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import model file", "",
                                              f"Hamacho models (*{SUFFIX});;All files (*)")
        if path:
            self.import_model_file(Path(path))

    def import_model_file(self, path: Path) -> None:
        """Copy a model file into the library (a free name if taken); a file that is not a valid model is
        refused with a message."""
        source, folder = Path(path), self.library_folder()
        self._run("import model", lambda _p, _s: library.import_model(source, folder), "Importing\u2026",
                  lambda entry: self._refresh(select=entry.path, message=f"Imported {source.name} as {entry.name}."),
                  self._refused("Not imported"))

    def reveal_library(self) -> None:
        folder = self.library_folder()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.model_message.show_message(f"Cannot create {folder}: {exc}", error=True)
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.model_message.show_message(f"Could not open a file manager; the folder is {folder}", error=True)
