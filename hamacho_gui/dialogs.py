"""The window's questions and file choosers, in one place (each returns plain values)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from hamacho_core.review import holds_results, new_run_folder


def existing_folder(parent: QWidget, title: str, start) -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, title, str(start or ""))
    return Path(folder) if folder else None


def open_file(parent: QWidget, title: str, start, filters: str) -> Path | None:
    path, _ = QFileDialog.getOpenFileName(parent, title, str(start or ""), filters)
    return Path(path) if path else None


def save_file(parent: QWidget, title: str, start, filters: str, suffix: str | None = None) -> Path | None:
    """A file name to save to, or None.  ``suffix`` (e.g. "hmc") is added when the name typed has none (a model
    saved as "line 3" would otherwise be missing from the library and the Open dialog, which list *.hmc)."""
    dialog = QFileDialog(parent, title, str(start or ""), filters)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    if suffix:
        dialog.setDefaultSuffix(suffix)
    if not dialog.exec() or not dialog.selectedFiles():
        return None
    path = Path(dialog.selectedFiles()[0])
    if suffix and path.suffix.lower() != f".{suffix.lower()}":
        path = path.with_name(f"{path.name}.{suffix}")
    return path


def ask_unsaved(parent: QWidget, name: str, changes: list[str], doing: str) -> str:
    """"save", "discard" or "cancel" (Escape, closing the box)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                      f"Model \u201c{name}\u201d: {', '.join(changes)} not saved yet.\n\nSave before you {doing}?",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("unsaved_changes")
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)
    answer = box.exec()
    return {QMessageBox.StandardButton.Save: "save",
            QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")


def export_target(parent: QWidget, folder: Path) -> Path | None:
    """``folder`` if it is empty or new; for a folder that holds files: a new run folder inside it,
    the folder itself (replace) or None (cancel), as the user chooses."""
    folder = Path(folder)
    if not holds_results(folder):
        return folder
    run = new_run_folder(folder)
    box = QMessageBox(QMessageBox.Icon.Question, "Export results",
                      f"{folder} is not empty: exporting there would mix these results with other files.",
                      parent=parent)
    box.setObjectName("export_target")
    new_button = box.addButton(f"New folder {run.name}", QMessageBox.ButtonRole.AcceptRole)
    replace_button = box.addButton("Write into it (replace same names)", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(new_button)
    box.exec()
    clicked = box.clickedButton()
    if clicked is new_button:
        return run
    if clicked is replace_button:
        return folder
    return None
