"""Find best settings, through the real window: the Train tab's check box runs the search on the worker lane,
keeps the settings changed by hand, says what it chose and what would escape, shows its report, and the saved
model carries the report."""

from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit

from hamacho_core.model_io import load_model
from hamacho_gui.training_panel import stage_label
from tests.gui.test_main_window import SIZE, dataset_dir, wait_task, window  # noqa: F401 - fixtures


def test_find_best_settings_from_the_train_tab(qtbot, window, dataset_dir):  # noqa: F811 - fixtures
    window.open_dataset(dataset_dir)
    wait_task(qtbot, window, "scan")
    panel = window.training_panel
    panel.set_field("image_size", SIZE)  # changed by hand: the search keeps it
    panel.auto_check.setChecked(True)
    assert panel.train_button.text() == "Find best settings and train" and panel.max_ms_box.isEnabled()
    assert panel.report_button.isHidden()
    stages = []
    window.runner.progress.connect(lambda name, stage, *_: stages.append(stage))
    qtbot.waitUntil(lambda: not window.runner.busy and panel.train_button.isEnabled(), timeout=10_000)
    panel.train_button.click()
    assert not panel.auto_check.isEnabled() and not panel.max_ms_box.isEnabled(), "locked while it searches"
    wait_task(qtbot, window, "train", timeout=300_000)
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=10_000)

    assert any(s.startswith("auto ") for s in stages)
    assert "Trying" in stage_label("auto 2/6 PaDiM, its defaults: features")
    status = panel.status_label.text()
    assert status.startswith("Chose ") and "synthetic defects would pass as OK" in status and "real ones" in status
    model = window.session.model
    report = window.session.training["auto"]
    assert model.config.image_size == SIZE and all(r["settings"]["image_size"] == SIZE for r in report["rows"])
    assert report["validation"]["real"] == 6 and report["winner"] in status
    assert window.session.results, "the review list is filled as after a plain training"

    assert not panel.report_button.isHidden()
    panel.report_button.click()
    dialog = panel.report_dialog
    assert dialog is not None and dialog.isVisible()
    table = dialog.findChild(QPlainTextEdit).toPlainText()
    assert "Winner:" in table and report["winner"] in table and "img AUROC" in table

    target = window.library_dir() / "auto.hmc"
    window.save_model(target)
    wait_task(qtbot, window, "save", lane=window.workers.files)
    assert load_model(target).manifest["training"]["auto"]["winner"] == report["winner"]
    manager = window.model_manager  # the Models tab says the settings were chosen automatically, and why
    qtbot.waitUntil(lambda: [e.name for e in manager.entries()] == ["auto"], timeout=30_000)
    (entry,) = manager.entries()
    assert entry.auto_summary.startswith(f"Chosen automatically: {report['winner']}")
    qtbot.waitUntil(lambda: manager.model_table.item(0, 1) is not None
                    and manager.model_table.item(0, 1).text().endswith("(auto)"), timeout=30_000)
    assert report["winner"] in manager.model_table.item(0, 1).toolTip()
    panel.auto_check.setChecked(False)
    assert panel.train_button.text() == "Train" and not panel.max_ms_box.isEnabled()
