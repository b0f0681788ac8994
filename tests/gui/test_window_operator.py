"""Issue 24: the operator view (full-screen state, verdict, counters, Start/Pause; engineer mode behind a PIN),
the audit trail of threshold and model changes, keyboard shortcuts for the run actions (listed in Help),
Reset layout, and a window that never opens larger than its screen."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QDockWidget

from hamacho_core import synthetic
from hamacho_gui import layout, operator_view
from hamacho_gui.main_window import MainWindow
from hamacho_gui.results_panel import ResultsModel
from hamacho_gui.settings import open_settings
from hamacho_gui.station import shortcuts_html
from hamacho_gui.verdicts import Thresholds
from tests.gui.test_main_window import SIZE, train_settings, wait_task

RUN_SHORTCUTS = {"train": "Ctrl+T", "start_live": "F5", "stop_live": "Shift+F5", "pause_live": "F6",
                 "trigger": "F8", "operator_view": "F11", "shortcuts": "F1"}


@pytest.fixture
def window():
    win = MainWindow()
    win.show()
    yield win
    win.live_panel.stop()
    if win.station.operator_view is not None:
        win.station.operator_view.hide()
    win.session.changes.clear()
    win.close()
    win.deleteLater()


@pytest.fixture
def data(tmp_path):
    root = tmp_path / "data"
    synthetic.write_dataset(root, category="texture", n_train_good=12, n_test_good=0, n_test_bad=6, size=SIZE, seed=0)
    return root


def test_run_actions_have_shortcuts_listed_in_help(qtbot, window, data):
    for name, keys in RUN_SHORTCUTS.items():
        assert window.menu_actions[name].shortcut().toString() == keys, name
    listed = shortcuts_html(window)
    assert all(keys in listed for keys in RUN_SHORTCUTS.values()) and "Ctrl+S" in listed
    box = window.station.show_shortcuts()
    assert "F5" in box.text()
    box.close()

    window.open_dataset(data)
    wait_task(qtbot, window, "scan")
    train_settings(window, coreset_ratio=0.2)
    qtbot.waitUntil(lambda: window.menu_actions["train"].isEnabled() and not window.runner.busy, timeout=10_000)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    qtbot.keyClick(window, Qt.Key.Key_T, Qt.KeyboardModifier.ControlModifier)  # no Tab walk to the Train button
    wait_task(qtbot, window, "train")
    assert window.session.model is not None


def test_operator_view_pin_and_audit_trail(qtbot, window, data, tmp_path, monkeypatch):
    window.open_dataset(data)
    wait_task(qtbot, window, "scan")
    train_settings(window, coreset_ratio=0.2)
    qtbot.waitUntil(lambda: window.training_panel.train_button.isEnabled() and not window.runner.busy)
    window.menu_actions["train"].trigger()
    wait_task(qtbot, window, "train")
    qtbot.waitUntil(lambda: not window.runner.busy)
    s = window.session
    old = s.thresholds.image
    window.threshold_panel.set_thresholds(Thresholds(image=old * 1.5, pixel=s.thresholds.pixel))
    window.threshold_panel.set_thresholds(Thresholds(image=old * 2.0, pixel=s.thresholds.pixel))  # one more move
    window.audit.flush_thresholds()  # what settling does after 1.5 s
    frames = tmp_path / "frames"
    frames.mkdir()
    for path in sorted((data / "bad").iterdir())[:3]:
        shutil.copy(path, frames / path.name)
    live = window.live_panel
    live.set_file_options(realtime=False, loop=True)
    live.source_edit.setText(str(frames))
    window.station.store_pin("4711")

    view = window.station.enter_operator_view(full_screen=False)
    assert view.isVisible() and not window.isVisible(), "the engineer's window is out of reach"
    assert view.state_label.text() == operator_view.READY and view.start_button.isEnabled()
    view.start_button.click()
    qtbot.waitUntil(lambda: live.last_result is not None, timeout=60_000)
    qtbot.waitUntil(lambda: view.state_label.text() == operator_view.RUNNING and "part" in view.verdict_label.text(),
                    timeout=10_000)
    assert view.verdict_label.text().split()[0] in ("OK", "NG", "REVIEW")
    assert "OK" in view.counters_label.text() and "NG" in view.counters_label.text()
    view.pause_button.click()
    qtbot.waitUntil(lambda: view.state_label.text() == operator_view.PAUSED, timeout=10_000)
    assert view.pause_button.text().startswith("Resume") and "part" in view.verdict_label.text(), (
        "paused: the last verdict stays, the state says it is not judging")
    height = view.verdict_label.height()
    view.pause_button.click()
    qtbot.waitUntil(lambda: view.state_label.text() == operator_view.RUNNING, timeout=10_000)
    assert view.verdict_label.height() == height, "nothing moves on pause and resume"

    typed = iter(["1234", "4711"])
    monkeypatch.setattr(operator_view, "ask_pin", lambda _parent: next(typed))
    assert not view.request_engineer_mode(), "a wrong PIN is refused"
    assert view.isVisible() and not window.isVisible() and "Wrong PIN" in view.why_label.text()
    view.refresh()  # the next poll keeps the refusal up (it was overwritten at once)
    assert "Wrong PIN" in view.why_label.text()
    view.pause_button.click()  # paused, then stopped: the Live tab must not keep saying PAUSED
    qtbot.waitUntil(lambda: view.state_label.text() == operator_view.PAUSED, timeout=10_000)
    view.stop_button.click()
    assert not live.running and not live.banner.text().startswith("PAUSED")
    assert view.request_engineer_mode()
    assert window.isVisible() and not view.isVisible()

    rows = window.audit.rows()
    actions = [(r["action"], r["old"], r["new"]) for r in reversed(rows)]
    assert actions[0][0] == "model" and actions[0][1] == "none", "training replaced 'no model'"
    assert ("image threshold", f"{old:.6g}", f"{old * 2.0:.6g}") in actions, "one row for the settled move"
    assert not any(a == ("image threshold", f"{old:.6g}", f"{old * 1.5:.6g}") for a in actions)
    assert ("engineer PIN", "none", "set") in actions
    assert [a[2] for a in actions if a[0] == "engineer mode"] == ["operator view", "refused: wrong PIN", "engineer"]
    assert all(r["user"] for r in rows)


def test_reset_layout_and_a_window_that_fits_its_screen(qtbot, tmp_path):
    settings = open_settings()
    big = MainWindow()
    big.resize(1920, 1080)
    settings.setValue("geometry", big.saveGeometry())  # a session on a bigger screen
    big.session.changes.clear()
    big.close()
    settings.sync()
    assert isinstance(settings.value("geometry"), QByteArray)
    win = MainWindow()
    win.show()
    try:
        free = win.screen().availableGeometry()
        assert win.height() <= free.height(), "never taller than the screen: the status bar stays in view"
        dock = win.findChildren(QDockWidget)[0]
        dock.setFloating(True)
        win.findChildren(QDockWidget)[1].hide()
        win.menu_actions["reset_layout"].trigger()
        assert all(not d.isFloating() and d.isVisible() for d in win.findChildren(QDockWidget))
        assert win.statusBar().currentMessage() == "Layout reset"
        win.resize(1280, 720)  # a station screen (the test display is 800 px wide, so sized by hand)
        layout.default_dock_sizes(win)
        thresholds = next(d for d in win.findChildren(QDockWidget) if d.windowTitle() == "Thresholds and metrics")
        qtbot.waitUntil(lambda: thresholds.width() >= 280, timeout=5_000)  # was squeezed to ~120 px at 1280x720
        table = win.results_panel.table
        truth_end = table.columnViewportPosition(ResultsModel.TRUTH) + table.columnWidth(ResultsModel.TRUTH)
        assert 0 < truth_end <= table.viewport().width(), "the Truth column is in view, not clipped"
    finally:
        win.session.changes.clear()
        win.close()


def test_a_new_pin_is_typed_twice(qtbot, window, monkeypatch):
    """A typo in a new PIN would lock the station in the operator view: two different PINs change nothing."""
    from hamacho_gui import station

    warnings = []
    answers = iter([("1234", True), ("1243", True), ("1234", True), ("1234", True)])
    monkeypatch.setattr(station.QInputDialog, "getText", lambda *_a, **_k: next(answers))
    monkeypatch.setattr(station.QMessageBox, "warning", lambda _p, _t, text: warnings.append(text))
    window.menu_actions["engineer_pin"].trigger()
    assert warnings and "differ" in warnings[0] and not window.settings.value("engineer_pin", "")
    window.menu_actions["engineer_pin"].trigger()
    stored = str(window.settings.value("engineer_pin", ""))
    assert stored and "1234" not in stored and operator_view.check_pin("1234", stored)
