"""DatasetPanel with real widgets (offscreen): counts, skipped files, thumbnails off the GUI thread (as
partial results of the thumbnails lane; a newer dataset cancels the older generation)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog

from hamacho_core.dataset import load_dataset
from hamacho_core.synthetic import write_dataset
from hamacho_gui import dataset_panel as dp
from hamacho_gui.dataset_panel import DatasetPanel
from hamacho_gui.workers import THUMB_THREADS


def _labels(panel: DatasetPanel) -> dict[str, str]:
    form = panel.counts_form
    out = {}
    for row in range(form.rowCount()):
        label = form.itemAt(row, form.ItemRole.LabelRole).widget().text()
        out[label] = form.itemAt(row, form.ItemRole.FieldRole).widget().text()
    return out


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "ds"
    write_dataset(root, n_train_good=6, n_test_good=0, n_test_bad=4, size=64)
    (root / "good" / "x.png").write_bytes(b"")
    (root / "good" / "y.png").write_bytes(b"not an image")
    return load_dataset(root)


@pytest.fixture
def panel(qtbot):
    widget = DatasetPanel()
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    return widget


def test_placeholder_then_counts_and_skipped(panel, dataset):
    assert panel.dataset() is None
    assert panel.stack.currentIndex() == 0
    assert "No dataset" in panel.placeholder_label.text()

    panel.set_loading(dataset.root)
    assert "Scanning" in panel.placeholder_label.text() and "Scanning" in panel.status_label.text()
    assert panel.path_edit.text() == str(dataset.root)

    panel.set_dataset(dataset)
    assert panel.dataset() is dataset
    assert panel.stack.currentIndex() == 1
    labels = _labels(panel)
    assert labels["Train (good):"] == "6"
    assert labels["Test (good):"] == "0"
    assert labels["Defective \u2013 bad:"] == "4"
    assert labels["Masks found:"].startswith("4 of 4")
    assert labels["Layout:"].startswith("hamacho")

    assert panel.skipped_label.text() == "Skipped files: 2"
    assert "color" in panel.skipped_label.styleSheet()
    skipped = [panel.skipped_list.item(i).text() for i in range(panel.skipped_list.count())]
    assert any("good/x.png" in s and "empty file" in s for s in skipped)
    assert any("good/y.png" in s and "not an image" in s for s in skipped)
    assert "2 file(s) skipped" in panel.status_label.text()


def test_thumbnails_load_off_the_gui_thread(panel, dataset, qtbot, monkeypatch):
    threads = set()
    real = dp.make_thumbnail

    def spy(path, *args):
        threads.add(threading.get_ident())
        return real(path, *args)

    monkeypatch.setattr(dp, "make_thumbnail", spy)
    panel.set_dataset(dataset)
    n = len(dataset.train) + len(dataset.test)
    assert panel.thumbnails.count() == n
    assert panel.thumbnails_loaded() == 0  # results arrive as queued signals: set_dataset did not wait
    qtbot.waitUntil(lambda: panel.thumbnails_loaded() == n, timeout=10000)
    assert threads and threading.get_ident() not in threads
    texts = [panel.thumbnails.item(i).text() for i in range(n)]
    assert sum("[bad]" in t for t in texts) == 4  # defective ones are tagged


def test_second_dataset_supersedes_first(panel, dataset, tmp_path, qtbot, monkeypatch):
    other = tmp_path / "other"
    write_dataset(other, n_train_good=3, n_test_good=0, n_test_bad=1, size=64, seed=1)
    second = load_dataset(other)
    lane = panel.workers.thumbnails
    made, cancelled, delivered, gate = [], [], [], threading.Event()
    real = dp.make_thumbnail

    def slow_first(path, *args):  # the first dataset's thumbnails wait until the second dataset is set
        made.append(path)
        if path.is_relative_to(dataset.root):
            gate.wait(10)
        return real(path, *args)

    monkeypatch.setattr(dp, "make_thumbnail", slow_first)
    lane.cancelled.connect(cancelled.append)
    lane.partial.connect(lambda _name, thumb: delivered.append(thumb.path))
    panel.set_dataset(dataset)
    qtbot.waitUntil(lambda: bool(made), timeout=10000)  # the first generation is at work
    panel.set_dataset(second)  # at once: the first dataset's pending thumbnail jobs are cancelled
    gate.set()
    assert panel.dataset() is second
    assert panel.thumbnails.count() == 4
    assert _labels(panel)["Train (good):"] == "3"
    assert panel.skipped_label.text() == "Skipped files: none"
    assert panel.skipped_list.isHidden()
    qtbot.waitUntil(lambda: panel.thumbnails_loaded() == 4, timeout=10000)
    qtbot.waitUntil(lambda: not lane.busy, timeout=10000)
    assert cancelled == ["thumbnails"], "the first generation was cancelled by the second"
    # A late result of the first dataset is never delivered; its jobs not started never ran.
    first = [p for p in made if p.is_relative_to(dataset.root)]
    assert 1 <= len(first) <= THUMB_THREADS, "only the jobs running on the lane's threads"
    assert sorted(delivered) == sorted(it.path for it in second.train + second.test)
    assert panel.thumbnails.count() == 4 and panel.thumbnails_loaded() == 4
    paths = [panel.thumbnails.item(i).data(Qt.ItemDataRole.UserRole).path for i in range(4)]
    assert all(p.is_relative_to(other) for p in paths)


def test_thumbnail_cap(panel, dataset, monkeypatch):
    monkeypatch.setattr(dp, "MAX_THUMBNAILS", 3)
    panel.set_dataset(dataset)
    assert panel.thumbnails.count() == 3
    assert "first 3 of 10" in panel.thumbs_label.text()


def test_set_error_and_loading_clear_dataset(panel, dataset):
    panel.set_dataset(dataset)
    panel.set_error("no images in /x/good: expected PNG, JPEG, BMP or TIFF files")
    assert panel.dataset() is None
    assert panel.stack.currentIndex() == 0
    assert "no images in /x/good" in panel.placeholder_label.text()
    assert panel.thumbnails.count() == 0
    panel.set_dataset(dataset)
    panel.set_loading(Path("/somewhere"))
    assert panel.dataset() is None


def test_requests_from_button_line_edit_and_drop(panel, tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path)))
    with qtbot.waitSignal(panel.dataset_requested) as blocker:
        panel.open_button.click()
    assert blocker.args == [tmp_path]

    panel.path_edit.setText(str(tmp_path / "typed"))
    with qtbot.waitSignal(panel.dataset_requested) as blocker:
        qtbot.keyClick(panel.path_edit, Qt.Key.Key_Return)
    assert blocker.args == [tmp_path / "typed"]

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.dataset_requested) as blocker:
        panel.dropEvent(event)
    assert blocker.args == [tmp_path]

    file_mime = QMimeData()
    (tmp_path / "f.png").write_bytes(b"x")
    file_mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "f.png"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, file_mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.assertNotEmitted(panel.dataset_requested):
        panel.dropEvent(event)


def test_destroying_the_panel_with_pending_thumbnails(dataset, qtbot):
    widget = DatasetPanel()
    lane = widget.workers.thumbnails
    for _ in range(5):
        widget.set_dataset(dataset)
    shiboken6.delete(widget)  # waits only for the running jobs; the queued ones are cancelled
    assert lane.wait_idle(0)
    qtbot.waitUntil(lambda: not lane.busy, timeout=10000)  # the late handlers find no panel, and say nothing
    qtbot.wait(50)
