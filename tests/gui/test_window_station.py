"""Issue 24, through the real main window: a model saved under a name typed without ".hmc" stays visible in the
model library (4); training that lets known defects pass says so at once (1)."""

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


def test_known_defects_that_would_pass_are_said_at_once(qtbot, window, tmp_path):  # noqa: F811
    """Issue 24 (1): training that lets labelled defective images pass as OK says how many, in the NG colour."""
    import cv2

    from hamacho_core import synthetic
    from tests.gui.test_main_window import SIZE, click_train, train_settings

    root = tmp_path / "mvtec"
    for sub in ("train/good", "test/good", "test/faint"):
        (root / sub).mkdir(parents=True)
    def write(folder, name, index):
        cv2.imwrite(str(root / folder / name), synthetic.make_sample("texture", index, size=SIZE).image)

    for i in range(12):
        write("train/good", f"{i:03d}.png", i)
    for i in range(3):  # "defective" parts nobody can tell from good ones: they pass as OK
        write("test/faint", f"{i:03d}.png", 50 + i)
        write("test/good", f"{i:03d}.png", 60 + i)
    window.open_dataset(root)
    wait_task(qtbot, window, "scan")
    train_settings(window)
    click_train(qtbot, window)
    label = window.training_panel.status_label
    passing = sum(window.session.model.judge.verdict(r.raw_score) == "OK" for r in window.session.results
                  if r.label == 1)
    assert passing >= 1
    assert label.text().startswith(f"Warning: {passing} of 3 known defective images would pass as OK")
    assert "font-weight: bold" in label.styleSheet()
