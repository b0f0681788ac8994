"""TrainingPanel with real widgets (offscreen), in the isolated test environment (only the bundled
efficientnet_lite0 has weights)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from hamacho_core import backbones
from hamacho_core.models import MODELS, REGISTRY, ModelConfig, PadimConfig, PatchCoreConfig
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
    assert panel.checked_layers() == REGISTRY["patchcore"].default_layers("efficientnet_lite0")
    assert "blocks.2  (40 ch, /8)" in [panel.layers_list.item(i).text() for i in range(panel.layers_list.count())]
    # The settings rows are generated from the config dataclasses: their defaults, ranges and help.
    coreset, size = panel.fields["coreset_ratio"], panel.fields["image_size"]
    assert panel.form.isRowVisible(coreset) and coreset.text() == "auto" and PatchCoreConfig().coreset_ratio is None
    assert panel.request().config.coreset_ratio is None, "auto reaches the config as None"
    assert size.value() == ModelConfig().image_size and (size.minimum(), size.maximum()) == (32, 8192)
    assert size.singleStep() == 32 and "default 256" in size.toolTip()
    coreset.setValue(0.001)
    assert coreset.text() != "auto" and panel.request().config.coreset_ratio == pytest.approx(0.001), \
        "every ratio the config allows can be entered"
    coreset.setValue(coreset.minimum())
    assert not panel.form.isRowVisible(panel.fields["n_features"])

    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("padim"))
    assert panel.checked_layers() == REGISTRY["padim"].default_layers("efficientnet_lite0")
    assert panel.checked_layers() != REGISTRY["patchcore"].default_layers("efficientnet_lite0")
    assert not panel.form.isRowVisible(coreset) and panel.form.isRowVisible(panel.fields["n_features"])
    request = panel.request()
    assert request.kind == "padim" and isinstance(request.config, PadimConfig)
    assert request.config.n_features is None, "the lowest position means 'the paper's value'"


def test_train_requested_and_enabled_states(panel, qtbot):
    assert not panel.train_button.isEnabled()  # no dataset yet
    assert "open a dataset" in panel.train_button.toolTip()
    panel.set_dataset_ready(True)
    assert panel.train_button.isEnabled() and not panel.cancel_button.isEnabled()

    panel.fields["coreset_ratio"].setValue(0.25)
    panel.fields["image_size"].setValue(128)
    with qtbot.waitSignal(panel.train_requested) as blocker:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    (request,) = blocker.args
    assert request.kind == "patchcore"
    assert request.config == PatchCoreConfig(layers=("blocks.2", "blocks.4"), image_size=128, coreset_ratio=0.25)

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
    assert panel.stage_label.text() == "Extracting features: 12/40 \u00b7 this step 0:35 left \u00b7 0:00 so far"
    panel.set_progress("coreset", 3, 10, -1.0)
    text = panel.stage_label.text()
    assert text.startswith("Selecting coreset: 3/10") and "step unknown left" in text
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
