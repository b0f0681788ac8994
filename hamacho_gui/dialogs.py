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


def confirm_teach_good(parent: QWidget, name: str, labelled_defective: bool) -> bool:
    """Ask before an image is taught as good (it changes what the model accepts); Cancel is the default, and a
    labelled defective image is said to be one."""
    if labelled_defective:
        text = (f"\u201c{name}\u201d is labelled DEFECTIVE. Teaching it as good makes the model pass this defect, "
                f"and defects like it, as OK.\n\nTeach it as good anyway?")
        icon = QMessageBox.Icon.Warning
    else:
        text = (f"Teach \u201c{name}\u201d as good? The model learns it as normal, so parts like it pass as OK "
                f"(Review > Undo forgets it again).")
        icon = QMessageBox.Icon.Question
    box = QMessageBox(icon, "Teach as good", text, QMessageBox.StandardButton.Cancel, parent)
    teach = box.addButton("Teach as good", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.setEscapeButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is teach


def confirm_quit_training(parent: QWidget, started: float) -> bool:
    """Quit while a training runs?  Its work is lost; "Keep training" is the default."""
    import time

    minutes = (time.monotonic() - started) / 60
    box = QMessageBox(QMessageBox.Icon.Warning, "Training in progress",
                      f"A training has been running for {minutes:.0f} min. Quitting now loses it.\n\nQuit anyway?",
                      QMessageBox.StandardButton.NoButton, parent)
    keep = box.addButton("Keep training", QMessageBox.ButtonRole.RejectRole)
    quit_button = box.addButton("Quit and lose it", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is quit_button
