"""Through the real main window: background work runs on its lanes only (thumbnails as partial results of
a generation a newer dataset cancels, connection tests on the devices lane), each task calls its own
failure handler, and menu actions are greyed exactly while they cannot run."""

from __future__ import annotations

import threading

from PySide6.QtGui import QKeySequence

from hamacho_core import synthetic
from hamacho_gui import dataset_panel as dp
from tests.gui.test_main_window import (  # noqa: F401 - fixtures
    answer_next_box,
    dataset_dir,
    open_and_train,
    teach_button,
    wait_task,
    window,
)
from tests.line.test_sinks import broker  # noqa: F401 - a real MQTT broker


def test_thumbnails_are_partial_results_and_a_newer_dataset_cancels_the_older(qtbot, window, dataset_dir,  # noqa: F811
                                                                               tmp_path, monkeypatch):
    other = tmp_path / "other"
    synthetic.write_dataset(other, category="texture", n_train_good=4, n_test_good=0, n_test_bad=2, size=32, seed=1)
    lane = window.workers.thumbnails
    gate, made, delivered, cancelled, threads = threading.Event(), [], [], [], set()
    real = dp.make_thumbnail

    def slow_first(path, *args):  # the first dataset's thumbnails wait until the second is asked for
        made.append(path)
        threads.add(threading.get_ident())
        if path.is_relative_to(dataset_dir):
            gate.wait(10)
        return real(path, *args)

    monkeypatch.setattr(dp, "make_thumbnail", slow_first)
    lane.partial.connect(lambda name, thumb: delivered.append((name, thumb.path)))
    lane.cancelled.connect(cancelled.append)
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    qtbot.waitUntil(lambda: bool(made), timeout=10_000)
    assert window.dataset_panel.thumbnails_loaded() == 0
    window.open_dataset(other)  # the scan starts: the first dataset's thumbnails are cancelled
    gate.set()
    wait_task(qtbot, window, "scan")
    qtbot.waitUntil(lambda: window.dataset_panel.thumbnails_loaded() == 6, timeout=10_000)
    qtbot.waitUntil(lambda: not lane.busy, timeout=10_000)
    assert cancelled == ["thumbnails"]
    assert len(delivered) == 6 and all(name == "thumbnails" and p.is_relative_to(other) for name, p in delivered)
    assert threading.get_ident() not in threads, "decoded on the lane's threads"


def test_test_connections_runs_on_the_devices_lane(qtbot, window, broker, tmp_path):  # noqa: F811
    box = window.live_panel.line_box
    box.edits["mqtt"].setText(f"mqtt://127.0.0.1:{broker.port}/hamacho")
    started, answers = [], []
    window.workers.devices.started.connect(started.append)
    box.checked.connect(lambda message, ok: answers.append((message, ok)))
    box.test_button.click()
    assert not box.test_button.isEnabled() and box.state_label.text() == "Testing ..."
    qtbot.waitUntil(lambda: bool(answers), timeout=20_000)
    assert started == ["test connections"]
    message, ok = answers[0]
    assert ok and f"127.0.0.1:{broker.port}/hamacho: reachable" in message and box.test_button.isEnabled()


def test_a_failing_task_calls_its_own_failure_handler(qtbot, window, tmp_path):  # noqa: F811
    broken = tmp_path / "broken.hmc"
    broken.write_bytes(b"not a model")
    failures = []
    window.runner.failed.connect(lambda name, message: failures.append(name))
    window.open_model(broken)
    qtbot.waitUntil(lambda: bool(failures), timeout=30_000)
    assert failures == ["load_model"]
    assert window.last_error.startswith("Load model failed: ") and window.session.model is None
    assert window.dataset_panel.stack.currentIndex() == 0 and "Could not open" not in \
        window.dataset_panel.status_label.text(), "only the scan's failure handler touches the dataset panel"


def test_actions_are_greyed_while_they_cannot_run(qtbot, window, dataset_dir, tmp_path):  # noqa: F811
    actions = window.menu_actions
    assert actions["save"].text() == "&Save model"
    assert actions["save"].shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    assert actions["add_good"].shortcut() == QKeySequence("Ctrl+G")
    no_model = ("save", "save_as", "inspect_folder", "export", "score_dataset", "suggest_threshold", "add_good")
    assert not any(actions[name].isEnabled() for name in no_model), "nothing to save, export or judge with"
    assert actions["open_dataset"].isEnabled() and actions["open_model"].isEnabled()

    open_and_train(qtbot, window, dataset_dir)
    for name in ("save", "save_as", "inspect_folder", "export", "score_dataset", "suggest_threshold", "add_good"):
        assert actions[name].isEnabled(), name
    assert window.current_row >= 0, "the most suspicious result is shown: it can be taught as good"

    at_start = []
    window.runner.started.connect(lambda name: at_start.append((name, actions["save"].isEnabled(),
                                                                actions["add_good"].isEnabled())))
    answer_next_box(qtbot, teach_button)
    window.add_current_as_good()
    wait_task(qtbot, window, "add_good")
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)
    assert at_start == [("add_good", False, False)], "no saving or teaching while the model changes"
    assert actions["save"].isEnabled()

    saving = []
    window.workers.files.started.connect(lambda name: saving.append((name, actions["save"].isEnabled())))
    window.save_model(tmp_path / "first.hmc")
    wait_task(qtbot, window, "save", lane=window.workers.files)
    qtbot.waitUntil(lambda: not window.workers.files.busy, timeout=30_000)  # the library listing that follows
    assert saving[0] == ("save", False) and actions["save"].isEnabled(), "greyed while saving, enabled again after"
    (tmp_path / "plain.txt").write_text("a file, not a folder")
    window.save_model(tmp_path / "plain.txt" / "under_a_file.hmc")
    qtbot.waitUntil(lambda: not window.workers.files.busy, timeout=30_000)
    assert window.last_error.startswith("The model was not saved"), "the save's own failure handler"

    window.session.set_results([])
    assert not actions["export"].isEnabled() and not actions["suggest_threshold"].isEnabled()
