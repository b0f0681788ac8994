"""ModelManagerPanel with real widgets (offscreen) and real model files, in the isolated test
environment (only the bundled efficientnet_lite0 has weights).  Dialogs are bypassed through the
panel's methods; the only patched dialog is the delete confirmation (QMessageBox.question)."""

from __future__ import annotations

import pickle
import shutil

import pytest
import torch
import torchvision
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from hamacho_core import backbones, library
from hamacho_core.model_io import save_model
from hamacho_core.models import PatchCore, PatchCoreConfig, ValidationSet
from hamacho_core.synthetic import make_samples
from hamacho_gui.model_manager import ERROR_COLOR, ModelManagerPanel

S = 64


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    images = [s.image for s in make_samples("part", 3, 0, size=S, seed=21)]
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S, coreset_ratio=0.25))
    model.fit(images, validation=ValidationSet(images[:2], [0, 0]))
    return save_model(model, tmp_path_factory.mktemp("models") / "source.hmc", training={"n_train": 3})


@pytest.fixture
def lib(model_file):
    folder = library.library_dir()
    folder.mkdir(parents=True)
    for name in ("alpha", "bravo"):
        shutil.copyfile(model_file, folder / f"{name}.hmc")
    return folder


@pytest.fixture
def panel(qtbot, lib):
    widget = ModelManagerPanel()
    qtbot.addWidget(widget)
    return widget


def column(table, col: int) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def random_resnet18_file(path, seed: int = 0):
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


# --- backbones tab -------------------------------------------------------------------------------


def test_backbone_table(panel):
    table = panel.backbone_table
    assert column(table, 0) == backbones.available_names()
    states = dict(zip(column(table, 0), column(table, 1), strict=True))
    assert states["efficientnet_lite0"] == "bundled" and states["wide_resnet50_2"] == "missing"
    sizes = dict(zip(column(table, 0), column(table, 2), strict=True))
    assert sizes["efficientnet_lite0"].endswith("MB") and sizes["resnet18"] == ""
    dims = dict(zip(column(table, 0), column(table, 3), strict=True))
    assert dims == {"efficientnet_lite0": "152", "wide_resnet50_2": "1024", "resnet18": "384", "resnet50": "1024"}
    assert panel.selected_backbone() == "efficientnet_lite0"
    assert not panel.import_weights_button.isEnabled()  # bundled: nothing to import
    assert panel.select_backbone("resnet18") and panel.import_weights_button.isEnabled()
    assert not panel.select_backbone("no_such_net")


@pytest.mark.parametrize(("name", "expected", "defaults"), [
    ("resnet18", {"layer1": (64, 4), "layer2": (128, 8), "layer3": (256, 16), "layer4": (512, 32)},
     ("layer2", "layer3")),
    ("wide_resnet50_2", {"layer1": (256, 4), "layer2": (512, 8), "layer3": (1024, 16), "layer4": (2048, 32)},
     ("layer2", "layer3")),
    ("efficientnet_lite0", {"blocks.1": (24, 4), "blocks.2": (40, 8), "blocks.4": (112, 16),
                            "conv_head": (1280, 32)}, ("blocks.2", "blocks.4")),
])
def test_layers_of_the_selected_backbone(panel, name, expected, defaults):
    assert panel.select_backbone(name)
    assert panel.layers_box.title() == f"Layers of {name}"
    rows = {layer: (channels, stride) for layer, channels, stride in panel.layer_rows()}
    assert [layer for layer, *_ in panel.layer_rows()] == [info.name for info in backbones.list_layers(name)]
    assert {layer: rows[layer] for layer in expected} == expected
    assert panel.checked_layers() == defaults
    channels, dim = library.feature_dim_of(name, defaults)
    assert f"<b>{dim}</b>" in panel.feature_label.text()


def test_feature_dim_and_memory_estimate(panel):
    panel.select_backbone("wide_resnet50_2")
    assert "<b>1024</b>" in panel.feature_label.text() and "512 + 1024" in panel.feature_label.text()
    assert "open a dataset" in panel.estimate_label.text()
    assert panel.estimate() is None
    panel.set_dataset_size(200)
    panel.set_image_size(256)
    expected = library.estimate_memory_bank("wide_resnet50_2", ("layer2", "layer3"), 256, 200, 0.1)
    assert panel.estimate() == expected
    text = panel.estimate_label.text()
    assert f"{expected['bank_rows']:,} patches" in text and "= 80 MB" in text and "200 training images" in text
    assert "two passes" in text

    # Unchecking layer3 by the checkbox: 512 features, estimate follows.
    table = panel.layer_table
    row = [table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(table.rowCount())].index("layer3")
    table.item(row, 0).setCheckState(Qt.CheckState.Unchecked)
    assert panel.checked_layers() == ("layer2",)
    assert "<b>512</b>" in panel.feature_label.text()
    assert panel.estimate()["feature_dim"] == 512 and "\u00d7 512 =" in panel.estimate_label.text()
    panel.set_checked_layers(())
    assert panel.feature_label.text() == "Check at least one layer." and panel.estimate_label.text() == ""
    panel.layers_default_button.click()
    assert panel.checked_layers() == ("layer2", "layer3")

    panel.set_image_size(64)
    panel.set_coreset_ratio(0.25)
    panel.select_backbone("efficientnet_lite0")
    assert panel.estimate()["patches_per_image"] == 64 and panel.estimate()["coreset_ratio"] == 0.25


def test_import_weights_with_wrong_hash_is_refused(panel, qtbot, tmp_path):
    source = random_resnet18_file(tmp_path / "downloads" / "resnet18-f37072fd.pth")
    panel.select_backbone("resnet18")
    with qtbot.assertNotEmitted(panel.weights_imported):
        assert panel.import_weights_file("resnet18", source) is None
    message = panel.backbone_message.text()
    assert message.startswith("Not imported:") and "sha256 does not start with f37072fd" in message
    assert "Traceback" not in message and panel.backbone_message.is_error and not panel.backbone_message.isHidden()
    assert backbones.weights_status("resnet18").state == backbones.MISSING
    assert panel.import_weights_file("resnet18", tmp_path / "missing.pth") is None
    assert "not found" in panel.backbone_message.text()


def test_import_weights_success_refreshes_and_signals(panel, qtbot, tmp_path, monkeypatch):
    # The real check minus the published hash (no real weights here): the file must still load strictly.
    monkeypatch.setattr(backbones.BackboneSpec, "expected_hash_prefix", property(lambda self: None))
    source = random_resnet18_file(tmp_path / "resnet18-f37072fd.pth", seed=1)
    panel.select_backbone("wide_resnet50_2")
    with qtbot.assertNotEmitted(panel.weights_imported):  # resnet18 weights are not wide_resnet50_2 weights
        assert panel.import_weights_file("wide_resnet50_2", source) is None
    assert "does not hold wide_resnet50_2 weights" in panel.backbone_message.text()
    with qtbot.waitSignal(panel.weights_imported, timeout=1000) as signal:
        target = panel.import_weights_file("resnet18", source)
    assert signal.args == ["resnet18"]
    assert target == backbones.imported_weights_dir() / "resnet18-f37072fd.pth" and target.is_file()
    states = dict(zip(column(panel.backbone_table, 0), column(panel.backbone_table, 1), strict=True))
    assert states["resnet18"] == "imported" and panel.selected_backbone() == "resnet18"
    assert "Imported the weights of resnet18" in panel.backbone_message.text() and not panel.backbone_message.is_error


# --- saved models tab ----------------------------------------------------------------------------


def test_models_table(panel, qtbot, lib):
    (lib / "broken.hmc").write_bytes(b"\x00" * 64)
    panel.refresh_models()
    table = panel.model_table
    assert column(table, 0) == ["alpha", "bravo", "broken"]
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert header == list(ModelManagerPanel.MODEL_COLUMNS)
    row = [table.item(0, c).text() for c in range(table.columnCount())]
    entry = library.list_models()[0]
    assert row[:5] == ["alpha", "PatchCore", "efficientnet_lite0", "blocks.2, blocks.4", "64 px"]
    assert row[5] == f"{entry.thresholds['image']:.4g} / {entry.thresholds['pixel']:.4g}"
    assert row[6] == "3" and row[7][:2] == "20"
    broken_name, broken_error = table.item(2, 0), table.item(2, 1)
    assert broken_error.text() == "broken.hmc is not a Hamacho model file"
    assert broken_name.foreground().color() == ERROR_COLOR and broken_error.foreground().color() == ERROR_COLOR
    assert table.columnSpan(2, 1) == len(ModelManagerPanel.MODEL_COLUMNS) - 1
    assert "3 models" in panel.folder_label.text() and str(lib) in panel.folder_label.text()

    assert panel.select_model("broken")
    assert not panel.open_button.isEnabled() and panel.delete_button.isEnabled()
    with qtbot.assertNotEmitted(panel.open_requested):
        assert panel.open_selected() is None
    assert "Cannot open broken" in panel.model_message.text()


def test_open_emits_the_path(panel, qtbot, lib):
    assert panel.selected_model() is None and not panel.open_button.isEnabled()
    assert panel.select_model("bravo")
    with qtbot.waitSignal(panel.open_requested, timeout=1000) as signal:
        qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert signal.args == [lib / "bravo.hmc"]
    assert not panel.select_model("charlie")


def test_rename_duplicate_delete(panel, qtbot, lib, monkeypatch):
    panel.select_model("alpha")
    with qtbot.waitSignal(panel.models_changed, timeout=1000):
        assert panel.rename_selected("Line 1 front") == lib / "Line 1 front.hmc"
    assert files(lib) == ["Line 1 front.hmc", "bravo.hmc"]
    assert panel.selected_model().name == "Line 1 front"
    assert column(panel.model_table, 0) == ["bravo", "Line 1 front"]

    assert panel.rename_selected("bravo") is None
    assert "already exists" in panel.model_message.text() and panel.model_message.is_error
    assert panel.rename_selected("a/b") is None and "must not contain" in panel.model_message.text()
    assert files(lib) == ["Line 1 front.hmc", "bravo.hmc"]

    assert panel.duplicate_selected() == lib / "Line 1 front (2).hmc"
    assert panel.selected_model().name == "Line 1 front (2)"
    assert column(panel.model_table, 0) == ["bravo", "Line 1 front", "Line 1 front (2)"]

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    assert not panel.delete_selected(confirm=True)
    assert len(asked) == 1 and (lib / "Line 1 front (2).hmc").is_file()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert files(lib) == ["Line 1 front.hmc", "bravo.hmc"]
    assert panel.selected_model() is not None  # the neighbouring row is selected
    assert panel.delete_selected() and len(library.list_models()) == 1
    assert "Deleted" in panel.model_message.text()

    (lib / "bravo.hmc").unlink()  # deleted behind the panel's back
    panel.select_model("bravo")
    assert not panel.delete_selected() and "not found" in panel.model_message.text()
    panel.refresh_models_button.click()
    assert panel.model_table.rowCount() == 0 and panel.selected_model() is None
    assert panel.rename_selected("x") is None and panel.model_message.text() == "Select a model first."


def test_import_model_file(panel, qtbot, lib, model_file, tmp_path):
    garbage = tmp_path / "crafted.hmc"
    with open(garbage, "wb") as fh:
        pickle.dump({"memory_bank": [0.0] * 10}, fh)
    with qtbot.assertNotEmitted(panel.models_changed):
        assert panel.import_model_file(garbage) is None
    assert panel.model_message.text() == "Not imported: crafted.hmc is not a Hamacho model file"
    assert files(lib) == ["alpha.hmc", "bravo.hmc"]

    outside = tmp_path / "alpha.hmc"
    shutil.copyfile(model_file, outside)
    with qtbot.waitSignal(panel.models_changed, timeout=1000):
        assert panel.import_model_file(outside) == lib / "alpha (2).hmc"
    assert panel.selected_model().name == "alpha (2)" and "Imported alpha.hmc as alpha (2)" in \
        panel.model_message.text()
    assert column(panel.model_table, 0) == ["alpha", "alpha (2)", "bravo"]


def test_reveal_opens_the_library_folder(qtbot, tmp_path, monkeypatch, model_file):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    widget = ModelManagerPanel()
    qtbot.addWidget(widget)
    assert widget.model_table.rowCount() == 0 and not library.library_dir().exists()
    widget.reveal_button.click()
    assert opened == [QUrl.fromLocalFile(str(library.library_dir()))] and library.library_dir().is_dir()

    other = tmp_path / "line2"  # a panel on another folder
    other.mkdir()
    shutil.copyfile(model_file, other / "m.hmc")
    elsewhere = ModelManagerPanel(folder=other)
    qtbot.addWidget(elsewhere)
    assert column(elsewhere.model_table, 0) == ["m"]


def test_switching_to_the_models_tab_refreshes(panel, lib, model_file):
    shutil.copyfile(model_file, lib / "charlie.hmc")
    assert panel.model_table.rowCount() == 2
    panel.tabs.setCurrentIndex(1)
    assert column(panel.model_table, 0) == ["alpha", "bravo", "charlie"]
