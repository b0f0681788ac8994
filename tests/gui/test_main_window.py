"""The real main window, offscreen: open a dataset, train with the bundled backbone, review, move the
thresholds, export, save/load a model, inspect a folder, cancel, and a responsive event loop."""

from __future__ import annotations

import csv
import gc
import time

import numpy as np
import pytest
from PySide6.QtCore import QTimer

from hamacho_core import synthetic
from hamacho_gui.main_window import MainWindow
from hamacho_gui.verdicts import NG, OK, Thresholds

SIZE = 64
CONFIG = {"backbone": "efficientnet_lite0", "image_size": SIZE, "coreset_ratio": 0.2}


@pytest.fixture
def dataset_dir(tmp_path):
    synthetic.write_dataset(tmp_path / "data", category="texture", n_train_good=12, n_test_good=0, n_test_bad=6,
                            size=SIZE, seed=0)
    return tmp_path / "data"


@pytest.fixture
def window(qtbot):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    yield win
    win.runner.shutdown()


def wait_task(qtbot, window, name, timeout=180_000):
    """Wait until the named task finished (or fail with its error message)."""
    outcome = {}
    window.runner.finished.connect(lambda n, _r: outcome.setdefault("done", n == name))
    window.runner.failed.connect(lambda n, msg: outcome.setdefault("error", f"{n}: {msg}"))
    qtbot.waitUntil(lambda: bool(outcome), timeout=timeout)
    assert "error" not in outcome, outcome["error"]


def open_and_train(qtbot, window, dataset_dir):
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    assert window.dataset_panel.dataset() is not None
    window.train("patchcore", dict(CONFIG))
    wait_task(qtbot, window, "train")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)


def test_train_review_thresholds_export(qtbot, window, dataset_dir, tmp_path):
    open_and_train(qtbot, window, dataset_dir)
    # 12 good: 2 held out (not trained on) are reviewed together with the 6 defective ones.
    assert len(window.results) == 2 + 6
    panel = window.results_panel
    assert panel.proxy.rowCount() == 8
    assert panel.current_row() >= 0, "the most suspicious result is selected and shown"
    assert window.viewer.has_overlay

    verdicts_before = panel.model.verdicts.copy()
    lowest = min(r.raw_score for r in window.results)
    highest = max(r.raw_score for r in window.results)
    t = window.current_thresholds
    window.threshold_panel.set_thresholds(Thresholds(image=lowest - 1e-3, pixel=t.pixel))
    assert set(panel.model.verdicts) == {NG}
    window.threshold_panel.set_thresholds(Thresholds(image=highest + 1.0, pixel=t.pixel))
    assert set(panel.model.verdicts) == {OK}
    assert not np.array_equal(verdicts_before, panel.model.verdicts) or set(verdicts_before) == {OK}

    panel.set_filter(OK)
    assert panel.proxy.rowCount() == 8
    panel.set_filter(NG)
    assert panel.proxy.rowCount() == 0
    panel.set_filter("")

    out = tmp_path / "export"
    window.export(out)
    wait_task(qtbot, window, "export")
    rows = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    assert len(rows) == 8 and {r["verdict"] for r in rows} == {OK}
    assert len(list(out.glob("*_overlay.png"))) == 8 and len(list(out.glob("*_mask.png"))) == 8


def test_save_load_and_inspect_folder(qtbot, window, dataset_dir, tmp_path):
    open_and_train(qtbot, window, dataset_dir)
    t = window.current_thresholds
    chosen = Thresholds(image=t.image * 1.1, pixel=t.pixel, review=t.image * 0.9)
    window.threshold_panel.set_thresholds(chosen)
    saved = window.save_model(tmp_path / "station.hmc")
    assert saved is not None and saved.is_file()

    other = MainWindow()
    qtbot.addWidget(other)
    try:
        other.open_model(saved)
        wait_task(qtbot, other, "load_model")
        assert other.model.image_scale.threshold == pytest.approx(chosen.image)
        assert other.model.review_threshold == pytest.approx(chosen.review)
        other.inspect_folder(dataset_dir / "bad")
        wait_task(qtbot, other, "inspect")
        assert len(other.results) == 6
        assert other.threshold_panel.thresholds().review == pytest.approx(chosen.review)
    finally:
        other.runner.shutdown()


def test_event_loop_never_stalls_during_fit(qtbot, window, dataset_dir):
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    gc_pauses = []
    gc_start = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_start[0]))

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    gc.callbacks.append(on_gc)
    timer.start()
    try:
        window.train("patchcore", dict(CONFIG))
        wait_task(qtbot, window, "train")
    finally:
        timer.stop()
        gc.callbacks.remove(on_gc)
    assert len(gaps) >= 5  # the timer kept ticking while the fit ran (it takes ~0.5 s on the runtime)
    worst = max(gaps)
    slow_gc = [p for p in gc_pauses if p[1] > 0.05]
    # 250 ms: a stall a user notices, with room for a loaded CI machine (bench/ measures the real figure).
    assert worst < 0.250, f"longest event-loop stall {worst * 1000:.0f} ms at tick {gaps.index(worst)}/{len(gaps)}; " \
                          f"slow garbage collections: {slow_gc}"


def test_cancel_mid_fit_leaves_app_usable(qtbot, window, dataset_dir):
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    cancelled = []
    window.runner.cancelled.connect(cancelled.append)
    window.runner.progress.connect(
        lambda name, stage, done, total, eta: window.runner.cancel() if stage == "features" else None)
    window.train("patchcore", dict(CONFIG))
    qtbot.waitUntil(lambda: cancelled == ["train"], timeout=60_000)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    assert window.model is None and window.results == []
    assert window.training_panel.train_button.isEnabled()
    window.runner.progress.disconnect()
    window.runner.progress.connect(window._on_progress)
    window.train("patchcore", dict(CONFIG))
    wait_task(qtbot, window, "train")
    assert window.model is not None and len(window.results) == 8


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
    win.open_dataset(dataset_dir)
    wait_task(qtbot, win, "scan")
    win.train("patchcore", dict(CONFIG))
    qtbot.waitUntil(lambda: win.runner.current == "train", timeout=10_000)
    win.close()
    assert not win.runner.busy or win.runner._thread.isFinished()


def test_region_drawn_before_training_is_learned_and_saved(qtbot, window, dataset_dir, tmp_path):
    from hamacho_core.model_io import load_model

    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    assert window.viewer.image_item.pixmap().width() == SIZE, "a training image is shown for drawing"
    window.roi_tool.roi_drawn.emit(((0.1, 0.1), (0.9, 0.9)))  # as the mouse tool reports it
    kind, config = window.training_panel.config()
    assert config["roi"] == ((0.1, 0.1), (0.9, 0.9))
    window.train(kind, {**config, "image_size": SIZE})
    wait_task(qtbot, window, "train")
    assert window.model.config.roi == ((0.1, 0.1), (0.9, 0.9))
    assert load_model(window.save_model(tmp_path / "roi.hmc")).config.roi == ((0.1, 0.1), (0.9, 0.9))


def test_add_current_image_as_good_lowers_its_score(qtbot, window, dataset_dir):
    open_and_train(qtbot, window, dataset_dir)
    row = max(range(len(window.results)), key=lambda i: window.results[i].raw_score)
    path, before = window.results[row].path, window.results[row].raw_score
    window.results_panel.select_row(row)
    assert window._current_row == row
    window.add_current_as_good()
    wait_task(qtbot, window, "add_good")
    after = next(r.raw_score for r in window.results if r.path == path)
    assert after < 0.5 * before, (before, after)
    assert len(window.results) == 8
    assert str(path) in window.training["added_good_files"]


def test_model_manager_is_part_of_the_window(qtbot, window, dataset_dir, tmp_path):
    from hamacho_core.library import library_dir

    open_and_train(qtbot, window, dataset_dir)
    library_dir().mkdir(parents=True, exist_ok=True)
    window.save_model(library_dir() / "line 3.hmc")
    assert window.model_manager.model_table.rowCount() == 1, "saving refreshes the library list"
    window.model_manager.select_model("line 3")
    with qtbot.waitSignal(window.model_manager.open_requested):
        window.model_manager.open_selected()
    wait_task(qtbot, window, "load_model")
    assert window.model.config.backbone == "efficientnet_lite0"


def test_settings_persist_between_sessions(qtbot, dataset_dir):
    from hamacho_gui.settings import settings_path

    first = MainWindow()
    qtbot.addWidget(first)
    first.open_dataset(dataset_dir)
    wait_task(qtbot, first, "scan")
    first.resize(640, 480)  # inside the offscreen screen, which restoreGeometry clamps to
    first.close()
    assert settings_path().is_file() and "hamacho_home" in str(settings_path())  # the test's own folder
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.settings.value("last_dataset") == str(dataset_dir)
    assert (second.width(), second.height()) == (640, 480)
    second.close()
