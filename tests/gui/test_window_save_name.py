"""Issue 24 (4): a model saved under a name typed without ".hmc" gets the suffix, so it stays visible in the model
library and the Open dialog -- through the real Save dialog of the main window."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.gui.test_main_window import dataset_dir, open_and_train, wait_task, window  # noqa: F401 - fixtures


def _type_into_save_dialog(name: str) -> None:
    def answer():
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QFileDialog):
            QTimer.singleShot(20, answer)
            return
        dialog.selectFile(name)
        dialog.accept()
    QTimer.singleShot(20, answer)


def test_a_name_typed_without_suffix_is_saved_as_a_model_file(qtbot, window, dataset_dir):  # noqa: F811
    open_and_train(qtbot, window, dataset_dir)
    folder = window.library_dir()
    _type_into_save_dialog(str(folder / "line 4"))
    window.save_to_library()  # a new model: Ctrl+S opens the save dialog in the library
    wait_task(qtbot, window, "save", lane=window.workers.files)
    assert (folder / "line 4.hmc").is_file() and not (folder / "line 4").exists()
    qtbot.waitUntil(lambda: "line 4" in [e.name for e in window.model_manager.entries()], timeout=30_000)
    assert window.session.model_path == folder / "line 4.hmc"
