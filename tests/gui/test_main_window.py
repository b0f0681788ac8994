"""The real main window, offscreen: open a dataset, train with the bundled backbone, review, move the
thresholds, export, save/load a model, inspect a folder, cancel, and a responsive event loop.
Everything goes through the window's wiring (its session, lanes and panels' signals)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from hamacho_core import synthetic
from hamacho_gui.main_window import MainWindow
from hamacho_gui.verdicts import NG, OK, Thresholds

SIZE = 64


@pytest.fixture
def dataset_dir(tmp_path):
    synthetic.write_dataset(tmp_path / "data", category="texture", n_train_good=12, n_test_good=0, n_test_bad=6,
                            size=SIZE, seed=0)
    return tmp_path / "data"


@pytest.fixture
def window(qtbot):
    win = MainWindow()  # not qtbot.addWidget: pytest-qt would close it (and it would ask) before this teardown
    win.show()
    yield win
    win.session.changes.clear()  # closing at teardown must not ask about unsaved work
    win.close()
    win.deleteLater()


def wait_task(qtbot, window, name, timeout=180_000, lane=None):
    """Wait until the named task finished (or fail with its error message)."""
    outcome = {}
    runner = lane or window.runner
    runner.finished.connect(lambda n, _r: outcome.setdefault("done", n == name) if n == name else None)
    runner.failed.connect(lambda n, msg: outcome.setdefault("error", f"{n}: {msg}"))
    qtbot.waitUntil(lambda: bool(outcome), timeout=timeout)
    assert "error" not in outcome, outcome["error"]


def train_settings(window, **fields):
    """The Train tab's own widgets set as a technician would (small images keep the test fast)."""
    panel = window.training_panel
    for name, value in {"image_size": SIZE, **fields}.items():
        panel.set_field(name, value)


def click_train(qtbot, window):
    qtbot.waitUntil(lambda: not window.runner.busy and window.training_panel.train_button.isEnabled(), timeout=10_000)
    window.training_panel.train_button.click()
    wait_task(qtbot, window, "train")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)


def open_and_train(qtbot, window, dataset_dir, **fields):
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    assert window.dataset_panel.dataset() is not None
    train_settings(window, coreset_ratio=0.2, **fields)
    click_train(qtbot, window)


def answer_next_box(qtbot, button):
    """Press ``button`` on the next modal message box (the question the window asks)."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    def press():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            box.button(button).click() if isinstance(button, QMessageBox.StandardButton) else button(box).click()
        else:
            QTimer.singleShot(20, press)
    QTimer.singleShot(20, press)


def teach_button(box):
    """The confirmation's "Teach as good" button (for :func:`answer_next_box`)."""
    return next(b for b in box.buttons() if b.text() == "Teach as good")


def test_train_review_thresholds_export(qtbot, window, dataset_dir, tmp_path):
    open_and_train(qtbot, window, dataset_dir)
    # 12 good: 2 held out (not trained on) are reviewed together with the 6 defective ones, marked.
    results = window.session.results
    assert len(results) == 2 + 6
    assert [r.set for r in results].count("held-out") == 2
    assert all(r.time_ms > 0 for r in results)
    panel = window.results_panel
    assert panel.proxy.rowCount() == 8
    assert panel.current_row() >= 0, "the most suspicious result is selected and shown"
    assert window.viewer.has_overlay

    verdicts_before = panel.model.verdicts.copy()
    lowest = min(r.raw_score for r in results)
    highest = max(r.raw_score for r in results)
    t = window.session.thresholds
    window.threshold_panel.set_thresholds(Thresholds(image=lowest - 1e-3, pixel=t.pixel))
    assert set(panel.model.verdicts) == {NG}
    assert window.viewer.verdict_label.text() == NG, "the shown image's badge follows the slider (issue 24, 3)"
    window.threshold_panel.set_thresholds(Thresholds(image=highest + 1.0, pixel=t.pixel))
    assert set(panel.model.verdicts) == {OK}
    assert window.viewer.verdict_label.text() == OK, "no stale NG badge over an image the list says is OK"
    assert not np.array_equal(verdicts_before, panel.model.verdicts) or set(verdicts_before) == {OK}

    panel.set_filter(OK)
    assert panel.proxy.rowCount() == 8
    panel.set_filter(NG)
    assert panel.proxy.rowCount() == 0
    panel.set_filter("")

    assert window.session.model.image_scale.threshold == pytest.approx(highest + 1.0), "the model judges with it"

    out = tmp_path / "export"
    window.export(out)
    wait_task(qtbot, window, "export")
    rows = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    assert len(rows) == 8 and {r["verdict"] for r in rows} == {OK}
    assert {r["set"] for r in rows} == {"held-out", "validation"}
    assert {r["truth"] for r in rows} == {"good", "defective"} and {r["folder"] for r in rows} == {"good", "bad"}
    assert all(float(r["time_ms"]) > 0 for r in rows)
    assert len(list(out.glob("*_overlay.png"))) == 8 and len(list(out.glob("*_mask.png"))) == 8


def test_held_out_toggle_hides_training_images(qtbot, window, dataset_dir):
    open_and_train(qtbot, window, dataset_dir)
    panel = window.results_panel
    assert "2 held-out" in panel.counts.text()
    panel.held_out_check.click()
    assert panel.proxy.rowCount() == 6 and panel.counts.text().startswith("6 images")
    assert all(window.session.results[r].set != "held-out" for r in panel.visible_rows())


def test_export_into_a_non_empty_folder_asks_and_writes_a_new_run(qtbot, window, dataset_dir, tmp_path):
    from hamacho_gui import dialogs

    open_and_train(qtbot, window, dataset_dir)
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("earlier files")
    answer_next_box(qtbot, lambda box: box.buttons()[0])  # "New folder run_..."
    target = dialogs.export_target(window, out)
    assert target is not None and target.parent == out and target.name.startswith("run_")
    window.export(target)
    wait_task(qtbot, window, "export")
    assert (target / "results.csv").is_file() and (out / "notes.txt").read_text() == "earlier files"
    answer_next_box(qtbot, lambda box: box.button(box.StandardButton.Cancel))
    assert dialogs.export_target(window, out) is None


def test_title_marks_unsaved_work_and_quit_asks(qtbot, dataset_dir, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    win = MainWindow()
    win.show()
    open_and_train(qtbot, win, dataset_dir)
    assert win.isWindowModified() and "[*]" in win.windowTitle()
    answer_next_box(qtbot, QMessageBox.StandardButton.Cancel)
    assert not win.close(), "Cancel keeps the window and the model"
    assert win.isVisible() and win.session.model is not None
    answer_next_box(qtbot, QMessageBox.StandardButton.Discard)
    assert win.close()
    win.workers.shutdown()


def test_save_in_the_unsaved_prompt_then_does_what_was_asked(qtbot, window, dataset_dir, tmp_path):
    """Issue 24 (5): "Save" in "Save before you open ...?" saves, then opens the model that was asked for."""
    from hamacho_core.model_io import save_model

    open_and_train(qtbot, window, dataset_dir)
    other = tmp_path / "other.hmc"
    save_model(window.session.model, other)
    window.library_dir().mkdir(parents=True, exist_ok=True)
    window.session.model_path = window.library_dir() / "current.hmc"  # Save writes there without a dialog
    answer_next_box(qtbot, QMessageBox.StandardButton.Save)
    window.open_model(other)
    wait_task(qtbot, window, "save", lane=window.workers.files)
    wait_task(qtbot, window, "load_model")
    assert (window.library_dir() / "current.hmc").is_file(), "saved first"
    assert window.session.model_path == other and not window.isWindowModified(), "then opened"


def test_save_goes_to_the_library_and_clears_the_mark(qtbot, window, dataset_dir):
    open_and_train(qtbot, window, dataset_dir)
    target = window.library_dir() / "line 3.hmc"
    window.save_model(target)
    wait_task(qtbot, window, "save", lane=window.workers.files)
    assert target.is_file() and not window.isWindowModified()
    assert window.session.model_path == target and "line 3" in window.windowTitle()
    t = window.session.thresholds
    window.threshold_panel.set_thresholds(Thresholds(t.image * 1.01, t.pixel))
    assert window.isWindowModified(), "a threshold move is unsaved work"
    window.threshold_panel.reset_button.click()
    assert not window.isWindowModified(), "back to the saved thresholds: nothing to save"
    window.threshold_panel.set_thresholds(Thresholds(t.image * 1.01, t.pixel))
    window.save_to_library()  # Ctrl+S: back into the same file, no dialog
    wait_task(qtbot, window, "save", lane=window.workers.files)
    assert not window.isWindowModified()
    from hamacho_core.model_io import load_model

    assert load_model(target).image_scale.threshold == pytest.approx(t.image * 1.01)


def test_reset_after_a_save_restores_the_saved_review_band(qtbot, window, dataset_dir):
    open_and_train(qtbot, window, dataset_dir)
    t = window.session.thresholds
    chosen = Thresholds(t.image * 1.2, t.pixel, review=t.image * 0.9)
    window.threshold_panel.set_thresholds(chosen)
    window.save_model(window.library_dir() / "band.hmc")
    assert not window.threshold_panel.isEnabled(), "no threshold moves while the file is written"
    wait_task(qtbot, window, "save", lane=window.workers.files)
    assert window.threshold_panel.isEnabled() and not window.isWindowModified()
    panel = window.threshold_panel
    panel.image_slider.setValue(panel.image_slider.maximum())
    assert window.isWindowModified()
    panel.reset_button.click()
    assert window.session.thresholds.review == pytest.approx(chosen.review)
    assert window.session.thresholds.image == pytest.approx(chosen.image) and not window.isWindowModified()


def test_thresholds_wait_while_a_job_replaces_the_model(qtbot, window, dataset_dir):
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    train_settings(window)
    started = []
    window.runner.started.connect(lambda name: started.append(window.threshold_panel.isEnabled()))
    click_train(qtbot, window)
    assert started == [False], "disabled from the start of the fit"
    qtbot.waitUntil(window.threshold_panel.isEnabled, timeout=10_000)
    row = max(range(len(window.session.results)), key=lambda i: window.session.results[i].raw_score)
    window.results_panel.select_row(row)
    window.session.changes.clear()
    answer_next_box(qtbot, teach_button)
    window.add_current_as_good()
    assert window.isWindowModified(), "teaching an image changes the model from its start"
    wait_task(qtbot, window, "add_good")


def test_opened_model_rescores_the_loaded_dataset(qtbot, window, dataset_dir):
    open_and_train(qtbot, window, dataset_dir)
    target = window.library_dir() / "rescore.hmc"
    window.save_model(target)
    wait_task(qtbot, window, "save", lane=window.workers.files)
    trained_scores = sorted(r.raw_score for r in window.session.results)
    window.open_model(target)
    wait_task(qtbot, window, "load_model")
    assert window.session.results == [] and window.results_panel.score_button.isEnabled()
    window.results_panel.score_button.click()
    wait_task(qtbot, window, "score")
    results = window.session.results
    assert sorted(r.raw_score for r in results) == pytest.approx(trained_scores, rel=1e-4)
    assert {r.label for r in results} == {0, 1} and window.threshold_panel.auroc_label.text() != "—"


def test_suggest_threshold_for_good_images_says_what_it_does(qtbot, window, dataset_dir):
    open_and_train(qtbot, window, dataset_dir)
    window.threshold_panel.suggest_button.click()
    text = window.threshold_panel.suggestion_label.text()
    assert "F1" in text and window.session.thresholds.image == pytest.approx(float(text.split()[2]), rel=1e-3)
    good = [r for r in window.session.results if r.label == 0]
    window.session.set_results(good)  # only good images reviewed
    window.threshold_panel.suggest_button.click()
    text = window.threshold_panel.suggestion_label.text()
    assert "mean" in text and "3 x std" in text
    assert all(r.raw_score < window.session.thresholds.image for r in good), "every good image passes"


def test_review_and_live_share_the_colormap(window):
    window.viewer.colormap_combo.setCurrentText("hot")
    assert window.live_panel.viewer.colormap_name == "hot"
    window.live_panel.viewer.colormap_combo.setCurrentText("inferno")
    assert window.viewer.colormap_name == "inferno"


def test_window_fits_a_1280x720_station_screen(qtbot, window):
    assert window.minimumSizeHint().width() <= 1280 and window.minimumSize().width() <= 1280
    assert window.minimumSizeHint().height() <= 720
    window.resize(1280, 720)
    qtbot.waitUntil(lambda: window.width() <= 1280)
    assert window.centralWidget().width() >= 400, "the image keeps most of the screen"
    assert window.threshold_panel.isVisible() and window.results_panel.isVisible()


def test_thumbnail_click_shows_the_image(qtbot, window, dataset_dir):
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    thumbs = window.dataset_panel.thumbnails
    item = thumbs.item(thumbs.count() - 1)
    thumbs.itemClicked.emit(item)
    from PySide6.QtCore import Qt

    assert item.data(Qt.ItemDataRole.UserRole).path.name in window.viewer.title_label.text()


def test_save_load_and_inspect_folder(qtbot, window, dataset_dir, tmp_path):
    open_and_train(qtbot, window, dataset_dir)
    t = window.session.thresholds
    chosen = Thresholds(image=t.image * 1.1, pixel=t.pixel, review=t.image * 0.9)
    window.threshold_panel.set_thresholds(chosen)
    saved = tmp_path / "station.hmc"
    window.save_model(saved)
    wait_task(qtbot, window, "save", lane=window.workers.files)
    assert saved.is_file()

    other = MainWindow()
    qtbot.addWidget(other)
    try:
        other.open_model(saved)
        wait_task(qtbot, other, "load_model")
        assert other.session.model.image_scale.threshold == pytest.approx(chosen.image)
        assert other.session.model.review_threshold == pytest.approx(chosen.review)
        assert not other.isWindowModified()
        other.inspect_folder(dataset_dir / "bad")
        wait_task(qtbot, other, "inspect")
        assert len(other.session.results) == 6
        assert other.threshold_panel.thresholds().review == pytest.approx(chosen.review), "inspect keeps thresholds"
    finally:
        other.workers.shutdown()


def test_event_loop_keeps_turning_during_fit(qtbot, window, dataset_dir):
    """Event-ordered, not timed: the GUI thread handles timer events between the fit's start and end
    (bench/bench_gui.py measures the longest stall)."""
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    events = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: events.append("tick"))
    window.runner.started.connect(lambda name: events.append(f"start {name}"))
    window.runner.progress.connect(lambda name, stage, *_: events.append(f"progress {stage}"))
    window.runner.finished.connect(lambda name, _r: events.append(f"end {name}"))
    timer.start()
    try:
        train_settings(window)
        click_train(qtbot, window)
    finally:
        timer.stop()
    during = events[events.index("start train"):events.index("end train")]
    assert during.count("tick") >= 3, during
    stages = [e for e in during if e.startswith("progress")]
    assert stages and any(e == "tick" for e in during[during.index(stages[0]):]), "ticks while the fit works"


def test_cancel_mid_fit_leaves_app_usable(qtbot, window, dataset_dir):
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    cancelled = []
    window.runner.cancelled.connect(cancelled.append)
    window.runner.progress.connect(
        lambda name, stage, done, total, eta: window.runner.cancel() if stage == "features" else None)
    train_settings(window)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    window.training_panel.train_button.click()
    qtbot.waitUntil(lambda: cancelled == ["train"], timeout=60_000)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    assert window.session.model is None and window.session.results == []
    assert window.training_panel.train_button.isEnabled() and not window.isWindowModified()
    window.runner.progress.disconnect()
    window.runner.progress.connect(window._on_progress)
    click_train(qtbot, window)
    assert window.session.model is not None and len(window.session.results) == 8


def test_errors_are_shown_not_raised(qtbot, window, tmp_path):
    empty = tmp_path / "empty"
    (empty / "good").mkdir(parents=True)
    (empty / "good" / "broken.png").write_bytes(b"")
    failures = []
    window.runner.failed.connect(lambda name, msg: failures.append((name, msg)))
    window.open_dataset(empty)
    qtbot.waitUntil(lambda: bool(failures), timeout=30_000)
    assert failures[0][0] == "scan" and "broken.png" in failures[0][1]
    assert "broken.png" in window.statusBar().currentMessage()


def test_closing_during_fit_stops_the_worker(qtbot, dataset_dir):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.open_dataset(dataset_dir)
    wait_task(qtbot, win, "scan")
    train_settings(win)
    win.training_panel.auto_check.setChecked(True)  # a search: long enough to be asked about twice
    qtbot.waitUntil(lambda: not win.runner.busy, timeout=10_000)
    win.training_panel.train_button.click()
    qtbot.waitUntil(lambda: win.runner.current == "train", timeout=10_000)

    def button(text):
        return lambda box: next(b for b in box.buttons() if b.text() == text)

    try:  # issue 24 (5): quitting during a training asks first; "Keep training" (the default) keeps it running
        answer_next_box(qtbot, button("Keep training"))
        assert not win.close() and win.isVisible() and win.runner.current == "train"
        answer_next_box(qtbot, button("Quit and lose it"))
        assert win.close()
        assert not win.runner.busy or win.runner._thread.isFinished()
    finally:  # whatever failed above, the teardown's close must not wait on a question
        win.runner.cancel()
        qtbot.waitUntil(lambda: win.runner.current != "train", timeout=60_000)


def test_region_drawn_before_training_is_learned_and_saved(qtbot, window, dataset_dir, tmp_path):
    from hamacho_core.model_io import load_model

    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    assert window.viewer.image_item.pixmap().width() == SIZE, "a training image is shown for drawing"
    window.roi_tool.roi_drawn.emit(((0.1, 0.1), (0.9, 0.9)))  # as the mouse tool reports it
    assert window.training_panel.request().config.roi == ((0.1, 0.1), (0.9, 0.9))
    train_settings(window)
    click_train(qtbot, window)
    assert window.session.model.config.roi == ((0.1, 0.1), (0.9, 0.9))
    window.save_model(tmp_path / "roi.hmc")
    wait_task(qtbot, window, "save", lane=window.workers.files)
    assert load_model(tmp_path / "roi.hmc").config.roi == ((0.1, 0.1), (0.9, 0.9))


def test_add_current_image_as_good_lowers_its_score(qtbot, window, dataset_dir):
    open_and_train(qtbot, window, dataset_dir)
    results = window.session.results
    row = max(range(len(results)), key=lambda i: results[i].raw_score)
    path, before = results[row].path, results[row].raw_score
    window.results_panel.select_row(row)
    assert window._current_row == row
    t = window.session.thresholds
    window.threshold_panel.set_thresholds(Thresholds(t.image * 1.05, t.pixel))
    bank = len(window.session.model.memory_bank)
    asked = []

    def teach(box):
        asked.append(box.text())
        return teach_button(box)

    # issue 24 (2): Ctrl+G asks first (Cancel changes nothing), says when the image is labelled defective
    answer_next_box(qtbot, QMessageBox.StandardButton.Cancel)
    window.add_current_as_good()
    assert not window.runner.busy and len(window.session.model.memory_bank) == bank
    answer_next_box(qtbot, teach)
    window.add_current_as_good()
    wait_task(qtbot, window, "add_good")
    assert ("labelled DEFECTIVE" in asked[0]) == (results[row].label == 1)
    after = next(r.raw_score for r in window.session.results if r.path == path)
    assert after < 0.5 * before, (before, after)
    assert len(window.session.results) == 8
    assert str(path) in window.session.training["added_good_files"]
    assert window.threshold_panel.thresholds().image == pytest.approx(t.image * 1.05), "sliders did not snap back"
    assert any("taught as good" in c for c in window.session.changes)

    # ... and Review > Undo (Ctrl+Z) forgets it again: the bank, the scores and the unsaved mark come back
    qtbot.waitUntil(lambda: window.menu_actions["undo_good"].isEnabled(), timeout=10_000)
    window.menu_actions["undo_good"].trigger()
    assert len(window.session.model.memory_bank) == bank
    assert next(r.raw_score for r in window.session.results if r.path == path) == pytest.approx(before)
    assert not any("taught as good" in c for c in window.session.changes)
    assert str(path) not in window.session.training.get("added_good_files", [])
    assert not window.menu_actions["undo_good"].isEnabled()
    window.score_dataset()  # the restored model scores as before it learned the image
    wait_task(qtbot, window, "score")
    assert next(r.raw_score for r in window.session.results if r.path == path) == pytest.approx(before, rel=1e-4)


def test_model_manager_is_part_of_the_window(qtbot, window, dataset_dir, tmp_path):
    from hamacho_core.library import library_dir

    open_and_train(qtbot, window, dataset_dir)
    library_dir().mkdir(parents=True, exist_ok=True)
    window.save_model(library_dir() / "line 3.hmc")
    wait_task(qtbot, window, "save", lane=window.workers.files)
    qtbot.waitUntil(lambda: [e.name for e in window.model_manager.entries()] == ["line 3"], timeout=30_000)
    window.model_manager.select_model("line 3")
    with qtbot.waitSignal(window.model_manager.open_requested):
        window.model_manager.open_selected()
    wait_task(qtbot, window, "load_model")
    assert window.session.model.config.backbone == "efficientnet_lite0" and not window.isWindowModified()


def test_settings_persist_between_sessions(qtbot, dataset_dir):
    from hamacho_gui.settings import settings_path

    first = MainWindow()
    qtbot.addWidget(first)
    first.open_dataset(dataset_dir)
    wait_task(qtbot, first, "scan")
    first.close()
    assert settings_path().is_file() and "hamacho_home" in str(settings_path())  # the test's own folder
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.settings.value("last_dataset") == str(dataset_dir)
    assert second.settings.value("window_state") == first.saveState()
    second.close()


@pytest.mark.parametrize("content", [b"[General]\nversion=abc\n", b"\x00\xff\xfe garbage \x00" * 50])
def test_a_corrupt_settings_file_is_set_aside_and_the_app_starts(qtbot, content):
    """Issue 26: a settings file with ``version=abc`` stopped the GUI from starting until someone deleted it.
    It is renamed (kept), the window says so, and the app starts with defaults."""
    from hamacho_gui.settings import settings_path

    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    w = MainWindow()
    qtbot.addWidget(w)
    kept = list(path.parent.glob("hamacho-gui.ini.broken-*"))
    if content.startswith(b"[General]"):
        assert len(kept) == 1 and kept[0].read_bytes() == content
        assert "set aside" in w.statusBar().currentMessage()
    assert int(w.settings.value("version")) == 1  # started from defaults either way
