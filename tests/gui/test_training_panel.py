"""TrainingPanel with real widgets (offscreen), in the isolated test environment (only the bundled
efficientnet_lite0 has weights)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from hamacho_core import backbones
from hamacho_core.models import MODELS
from hamacho_gui.training_panel import TrainingPanel, format_eta, stage_label


@pytest.fixture
def panel(qtbot):
    widget = TrainingPanel()
    qtbot.addWidget(widget)
    return widget


def _item(panel: TrainingPanel, name: str):
    combo = panel.backbone_combo
    index = combo.findData(name)
    assert index >= 0, name
    return combo.model().item(index), combo.itemData(index, Qt.ItemDataRole.ToolTipRole)


def _layers_state(panel: TrainingPanel) -> dict[str, bool]:
    items = (panel.layers_list.item(i) for i in range(panel.layers_list.count()))
    return {it.data(Qt.ItemDataRole.UserRole): it.checkState() == Qt.CheckState.Checked for it in items}


def test_backbones_kinds_and_defaults(panel):
    assert [panel.kind_combo.itemData(i) for i in range(panel.kind_combo.count())] == list(MODELS)
    assert [panel.backbone_combo.itemData(i) for i in range(panel.backbone_combo.count())] == \
        backbones.available_names()
    resnet, tip = _item(panel, "resnet18")
    assert not resnet.isEnabled()
    assert "weights missing" in tip and "hamacho backbones --import resnet18 FILE" in tip and "Import weights" in tip
    lite, _ = _item(panel, "efficientnet_lite0")
    assert lite.isEnabled()
    assert panel.backbone() == "efficientnet_lite0"

    state = _layers_state(panel)
    assert list(state) == [info.name for info in backbones.list_layers("efficientnet_lite0")]
    assert panel.checked_layers() == backbones.default_layers("efficientnet_lite0", "patchcore")
    assert "blocks.2  (40 ch, /8)" in [panel.layers_list.item(i).text() for i in range(panel.layers_list.count())]
    assert not panel.coreset_spin.isHidden() and panel.coreset_spin.value() == pytest.approx(0.1)
    assert panel.size_combo.currentData() == 256
    assert [panel.size_combo.itemData(i) for i in (0, panel.size_combo.count() - 1)] == [64, 1024]

    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("padim"))
    assert panel.checked_layers() == backbones.default_layers("efficientnet_lite0", "padim")
    assert panel.checked_layers() != backbones.default_layers("efficientnet_lite0", "patchcore")
    assert panel.coreset_spin.isHidden()
    kind, cfg = panel.config()
    assert kind == "padim" and "coreset_ratio" not in cfg


def test_train_requested_and_enabled_states(panel, qtbot):
    assert not panel.train_button.isEnabled()  # no dataset yet
    assert "open a dataset" in panel.train_button.toolTip()
    panel.set_dataset_ready(True)
    assert panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()

    panel.coreset_spin.setValue(0.25)
    panel.size_combo.setCurrentIndex(panel.size_combo.findData(128))
    with qtbot.waitSignal(panel.train_requested) as blocker:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    kind, cfg = blocker.args
    assert kind == "patchcore"
    assert cfg == {"backbone": "efficientnet_lite0", "layers": ("blocks.2", "blocks.4"), "image_size": 128,
                   "coreset_ratio": 0.25}
    MODELS[kind][1](**cfg)  # the kwargs build the model's config

    # No layer checked: Train disabled until one is.
    for i in range(panel.layers_list.count()):
        panel.layers_list.item(i).setCheckState(Qt.CheckState.Unchecked)
    assert not panel.train_button.isEnabled() and "at least one layer" in panel.train_button.toolTip()
    panel.layers_default_button.click()
    assert panel.train_button.isEnabled()

    panel.set_running(True)
    assert not panel.train_button.isEnabled() and panel.cancel_button.isEnabled()
    assert not panel.backbone_combo.isEnabled()
    with qtbot.waitSignal(panel.cancel_requested):
        panel.cancel_button.click()
    panel.set_running(False)
    assert panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.set_dataset_ready(False)
    assert not panel.train_button.isEnabled()


def test_progress_and_status(panel):
    panel.set_running(True)
    panel.set_progress("features", 12, 40, 35.2)
    assert panel.progress_bar.maximum() == 40 and panel.progress_bar.value() == 12
    assert panel.progress_bar.text() == "12/40"
    assert panel.stage_label.text() == "Extracting features: 12/40 \u00b7 ETA 0:35"
    panel.set_progress("coreset", 3, 10, -1.0)
    assert panel.stage_label.text().startswith("Selecting coreset: 3/10") and "ETA unknown" in panel.stage_label.text()
    panel.set_progress("covariance", 0, 0, -1.0)
    assert panel.progress_bar.maximum() == 0 and "Estimating covariance" in panel.stage_label.text()
    panel.set_status("Trained on 24 images in 3.1 s")
    assert panel.status_label.text() == "Trained on 24 images in 3.1 s"
    assert stage_label("memory bank") == "Building memory bank"
    assert stage_label("thresholds") == "Setting thresholds"
    assert stage_label("scan") == "Scanning"
    assert stage_label("something new") == "Something new"
    assert format_eta(35) == "0:35" and format_eta(3723) == "1:02:03" and format_eta(-1) == "unknown"


def test_refresh_after_import_keeps_choice(panel, monkeypatch):
    real = backbones.weights_status

    def fake(name):
        if name == "resnet18":
            return backbones.WeightsStatus(backbones.IMPORTED, backbones.imported_weights_dir() / "r.pth")
        return real(name)

    monkeypatch.setattr(backbones, "weights_status", fake)
    panel.refresh_backbones()
    resnet, _ = _item(panel, "resnet18")
    assert resnet.isEnabled()
    assert panel.backbone() == "efficientnet_lite0"
    panel.backbone_combo.setCurrentIndex(panel.backbone_combo.findData("resnet18"))
    assert panel.checked_layers() == ("layer2", "layer3")
