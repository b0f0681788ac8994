"""ModelManagerPanel with real widgets (offscreen), real model and weights files and its real worker
lane, in the isolated test environment (only the bundled efficientnet_lite0 has weights).  Disk work
runs in the background, so the tests wait for the panel's signals or its shown results.  Only
dialogs are patched (file and name choosers, the delete confirmation)."""

from __future__ import annotations

import logging
import pickle
import shutil
import threading

import pytest
import torch
import torchvision
from PySide6.QtCore import QEvent, Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QWidget,
)

from hamacho_core import backbones, library
from hamacho_core.model_io import save_model
from hamacho_core.models import REGISTRY, PadimConfig, PatchCore, PatchCoreConfig, ValidationSet
from hamacho_core.synthetic import make_samples
from hamacho_gui.model_manager import ERROR_COLOR, ModelManagerPanel
from hamacho_gui.workers import Workers

S = 64
WAIT_MS = 20000  # a limit for slow machines, not a timing assertion


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


def settled(qtbot, panel: ModelManagerPanel) -> ModelManagerPanel:
    qtbot.waitUntil(lambda: not panel.busy, timeout=WAIT_MS)
    return panel


@pytest.fixture
def panel(qtbot, lib):
    widget = ModelManagerPanel()
    qtbot.addWidget(widget)
    return settled(qtbot, widget)


def column(table, col: int) -> list[str]:
    return [table.item(r, col).text() for r in range(table.rowCount())]


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def random_resnet18_file(path, seed: int = 0):
    """A real resnet18 weights file (random values): loads strictly, but is not the published file."""
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def choose_file(monkeypatch, path) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))


def check(table, layer: str, state: Qt.CheckState) -> None:
    rows = [table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(table.rowCount())]
    table.item(rows.index(layer), 0).setCheckState(state)


# --- background work -----------------------------------------------------------------------------


def test_disk_work_runs_on_the_files_lane_with_busy_states(qtbot, lib, monkeypatch):
    threads = []
    for module, name in ((library, "backbone_rows"), (library, "list_models")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: threads.append(threading.current_thread())
                            or _real(*a, **k))
    workers = Workers()
    started = []
    workers.files.started.connect(started.append)
    widget = ModelManagerPanel(workers=workers)
    qtbot.addWidget(widget)
    # Before the lane answered: the pages say so and their buttons wait.
    assert widget.busy and widget.backbone_message.text() == "Checking weights\u2026"
    assert widget.model_message.text() == "Reading the library\u2026"
    assert not widget.refresh_backbones_button.isEnabled() and not widget.import_model_button.isEnabled()
    with qtbot.waitSignals([widget.backbones_refreshed, widget.models_refreshed], timeout=WAIT_MS):
        pass
    assert started == ["check weights", "list models"]
    assert len(threads) == 2 and threading.main_thread() not in threads
    assert widget.backbone_names() == backbones.available_names()
    assert column(widget.model_table, 0) == ["alpha", "bravo"]
    assert widget.backbone_message.text() == "" and widget.model_message.text() == ""
    assert widget.refresh_backbones_button.isEnabled() and widget.import_model_button.isEnabled()
    qtbot.waitUntil(lambda: not workers.files.busy, timeout=WAIT_MS)  # before the local workers go


def test_own_workers_are_stopped_when_the_panel_closes(qtbot, lib):
    widget = ModelManagerPanel()
    qtbot.addWidget(widget)
    widget.refresh_models()  # queued behind the start-up work
    widget.close()
    assert widget.workers.files.wait_idle(0), "closing waited for the running check"
    qtbot.waitUntil(lambda: not widget.workers.files.busy, timeout=WAIT_MS)
    assert widget.entries() == [], "the queued listings were dropped, not run after closing"


# --- backbones tab -------------------------------------------------------------------------------


def test_backbone_table(panel):
    table = panel.backbone_table
    assert column(table, 0) == backbones.available_names()
    states = dict(zip(column(table, 0), column(table, 1), strict=True))
    assert states["efficientnet_lite0"] == states["efficientnet_lite1"] == states["efficientnet_lite2"] == "bundled"
    assert states["wide_resnet50_2"] == "missing"
    sizes = dict(zip(column(table, 0), column(table, 2), strict=True))
    assert sizes["efficientnet_lite0"].endswith("MB") and sizes["resnet18"] == ""
    dims = dict(zip(column(table, 0), column(table, 3), strict=True))
    assert dims == {"efficientnet_lite0": "152", "efficientnet_lite1": "152", "efficientnet_lite2": "168",
                    "wide_resnet50_2": "1024", "resnet18": "384", "resnet50": "1024"}
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


def test_estimate_follows_the_training_settings(panel):
    panel.set_training_settings("patchcore", PatchCoreConfig(backbone="efficientnet_lite0", image_size=256))
    panel.select_backbone("wide_resnet50_2")
    assert "<b>1024</b>" in panel.feature_label.text() and "512 + 1024" in panel.feature_label.text()
    assert "open a dataset" in panel.estimate_label.text() and panel.estimate() is None

    panel.set_dataset_size(200)  # what the window does after a scan
    expected = REGISTRY["patchcore"].estimate_memory(
        PatchCoreConfig(backbone="wide_resnet50_2", layers=("layer2", "layer3"), image_size=256), 200)
    assert panel.estimate() == expected and expected["bank_rows"] == 20480
    text = panel.estimate_label.text()
    assert "20,480 patches" in text and "= 80 MB" in text and "200 training images" in text and "two passes" in text

    check(panel.layer_table, "layer3", Qt.CheckState.Unchecked)  # the checkbox itself
    assert panel.checked_layers() == ("layer2",) and "<b>512</b>" in panel.feature_label.text()
    assert panel.estimate()["feature_dim"] == 512 and "\u00d7 512 =" in panel.estimate_label.text()
    panel.set_checked_layers(())
    assert panel.feature_label.text() == "Check at least one layer." and panel.estimate_label.text() == ""
    panel.layers_default_button.click()
    assert panel.checked_layers() == ("layer2", "layer3")

    # The Train tab changes its image size and coreset ratio: the estimate follows.
    panel.set_training_settings("patchcore", PatchCoreConfig(backbone="resnet18", image_size=64, coreset_ratio=0.25))
    e = panel.estimate()
    assert (e["patches_per_image"], e["coreset_ratio"], e["backbone"]) == (64, 0.25, "wide_resnet50_2")
    assert "at 64 px, coreset 25%" in panel.estimate_label.text()


def test_padim_settings_give_padim_defaults_and_estimate(panel):
    panel.set_dataset_size(50)
    panel.select_backbone("resnet18")
    assert panel.checked_layers() == ("layer2", "layer3")
    panel.set_training_settings("padim", PadimConfig(backbone="resnet18", image_size=128))
    assert panel.checked_layers() == REGISTRY["padim"].default_layers("resnet18") == ("layer1", "layer2", "layer3")
    expected = REGISTRY["padim"].estimate_memory(
        PadimConfig(backbone="resnet18", layers=("layer1", "layer2", "layer3"), image_size=128), 50)
    assert panel.estimate() == expected
    assert f"{expected['bank_rows']:,} positions" in panel.estimate_label.text()
    assert f"<b>{expected['feature_dim']}</b>" in panel.feature_label.text()
    defaults = dict(zip(column(panel.backbone_table, 0), column(panel.backbone_table, 4), strict=True))
    assert defaults["resnet18"] == "layer1, layer2, layer3"  # the table shows the PaDiM defaults too

    check(panel.layer_table, "layer3", Qt.CheckState.Unchecked)  # chosen by hand: kept across kinds
    panel.set_training_settings("patchcore", {"backbone": "resnet18", "image_size": 128})
    assert panel.checked_layers() == ("layer1", "layer2") and panel.estimate()["coreset_ratio"] == 0.1
    with pytest.raises(TypeError):
        panel.set_training_settings("padim", PatchCoreConfig())


def test_import_weights_with_wrong_hash_is_refused(panel, qtbot, tmp_path, monkeypatch, caplog):
    source = random_resnet18_file(tmp_path / "downloads" / "resnet18-f37072fd.pth")
    panel.select_backbone("resnet18")
    choose_file(monkeypatch, source)
    with qtbot.assertNotEmitted(panel.weights_imported), caplog.at_level(logging.ERROR, "hamacho.workers"):
        panel.import_weights_button.click()
        assert panel.backbone_message.text() == "Importing\u2026" and not panel.import_weights_button.isEnabled()
        qtbot.waitUntil(lambda: panel.backbone_message.is_error, timeout=WAIT_MS)
    message = panel.backbone_message.text()
    assert message.startswith("Not imported:") and "sha256 does not start with f37072fd" in message
    assert "Traceback" not in message and not panel.backbone_message.isHidden()
    assert any("Traceback" in record.getMessage() for record in caplog.records), "the details are logged"
    assert backbones.weights_status("resnet18").state == backbones.MISSING
    assert panel.import_weights_button.isEnabled()

    panel.import_weights_file("resnet18", tmp_path / "missing.pth")
    qtbot.waitUntil(lambda: "not found" in panel.backbone_message.text(), timeout=WAIT_MS)
    assert panel.backbone_message.is_error


def test_import_weights_success_refreshes_and_signals(panel, qtbot, tmp_path, monkeypatch):
    # The real check minus the published hash (no real weights here): the file must still load strictly.
    monkeypatch.setattr(backbones.BackboneSpec, "expected_hash_prefix", property(lambda self: None))
    source = random_resnet18_file(tmp_path / "resnet18-f37072fd.pth", seed=1)
    panel.select_backbone("wide_resnet50_2")
    with qtbot.assertNotEmitted(panel.weights_imported):  # resnet18 weights are not wide_resnet50_2 weights
        panel.import_weights_file("wide_resnet50_2", source)
        qtbot.waitUntil(lambda: panel.backbone_message.is_error, timeout=WAIT_MS)
    assert "does not hold wide_resnet50_2 weights" in panel.backbone_message.text()

    panel.select_backbone("resnet18")
    choose_file(monkeypatch, source)
    with qtbot.waitSignal(panel.weights_imported, timeout=WAIT_MS) as signal:
        panel.import_weights_button.click()
    assert signal.args == ["resnet18"]
    target = backbones.imported_weights_dir() / "resnet18-f37072fd.pth"
    assert target.read_bytes() == source.read_bytes()
    table = panel.backbone_table
    states = dict(zip(column(table, 0), column(table, 1), strict=True))
    sizes = dict(zip(column(table, 0), column(table, 2), strict=True))
    assert states["resnet18"] == "imported" and sizes["resnet18"].endswith("MB")
    assert panel.selected_backbone() == "resnet18" and panel.import_weights_button.isEnabled()
    assert "Imported the weights of resnet18" in panel.backbone_message.text() and not panel.backbone_message.is_error


# --- saved models tab ----------------------------------------------------------------------------


def test_models_table(panel, qtbot, lib):
    (lib / "broken.hmc").write_bytes(b"\x00" * 64)
    with qtbot.waitSignal(panel.models_refreshed, timeout=WAIT_MS):
        panel.refresh_models_button.click()
    table = panel.model_table
    assert column(table, 0) == ["alpha", "bravo", "broken"]
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert header == list(ModelManagerPanel.MODEL_COLUMNS)
    row = [table.item(0, c).text() for c in range(table.columnCount())]
    entry = library.list_models()[0]
    assert row[:5] == ["alpha", REGISTRY["patchcore"].name, "efficientnet_lite0", "blocks.2, blocks.4", "64 px"]
    assert row[5] == f"{entry.thresholds['image']:.4g} / {entry.thresholds['pixel']:.4g}"
    assert row[6] == "3" and row[7][:2] == "20"
    broken_name, broken_error = table.item(2, 0), table.item(2, 1)
    assert broken_error.text() == "broken.hmc is not a Hamacho model file"
    assert broken_name.foreground().color() == ERROR_COLOR and broken_error.foreground().color() == ERROR_COLOR
    assert table.columnSpan(2, 1) == len(ModelManagerPanel.MODEL_COLUMNS) - 1
    assert "3 models" in panel.folder_label.text() and panel.folder_field.text() == str(lib)

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
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Line 1 front", True))
    with qtbot.waitSignal(panel.models_changed, timeout=WAIT_MS):
        panel.rename_button.click()
        assert not panel.rename_button.isEnabled() and not panel.open_button.isEnabled()  # while it runs
    assert files(lib) == ["Line 1 front.hmc", "bravo.hmc"]
    assert panel.selected_model().name == "Line 1 front"
    assert column(panel.model_table, 0) == ["bravo", "Line 1 front"]
    assert panel.model_message.text() == "Renamed alpha to Line 1 front."

    panel.rename_selected("bravo")
    qtbot.waitUntil(lambda: panel.model_message.is_error, timeout=WAIT_MS)
    assert "already exists" in panel.model_message.text()
    panel.rename_selected("a/b")
    qtbot.waitUntil(lambda: "must not contain" in panel.model_message.text(), timeout=WAIT_MS)
    assert files(lib) == ["Line 1 front.hmc", "bravo.hmc"] and panel.rename_button.isEnabled()

    with qtbot.waitSignal(panel.models_changed, timeout=WAIT_MS):
        panel.duplicate_button.click()
    assert panel.selected_model().name == "Line 1 front (2)"
    assert column(panel.model_table, 0) == ["bravo", "Line 1 front", "Line 1 front (2)"]
    assert (lib / "Line 1 front (2).hmc").read_bytes() == (lib / "Line 1 front.hmc").read_bytes()

    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    with qtbot.assertNotEmitted(panel.models_changed):
        assert not panel.delete_selected(confirm=True)
    assert len(asked) == 1 and (lib / "Line 1 front (2).hmc").is_file()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    with qtbot.waitSignal(panel.models_changed, timeout=WAIT_MS):
        qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert files(lib) == ["Line 1 front.hmc", "bravo.hmc"]
    assert panel.selected_model().name == "Line 1 front"  # the neighbouring row is selected
    with qtbot.waitSignal(panel.models_changed, timeout=WAIT_MS):
        assert panel.delete_selected()
    assert [e.name for e in panel.entries()] == ["bravo"] and "Deleted Line 1 front" in panel.model_message.text()

    (lib / "bravo.hmc").unlink()  # deleted behind the panel's back
    panel.select_model("bravo")
    panel.delete_selected()
    qtbot.waitUntil(lambda: panel.model_message.is_error, timeout=WAIT_MS)
    assert "not found" in panel.model_message.text()
    with qtbot.waitSignal(panel.models_refreshed, timeout=WAIT_MS):
        panel.refresh_models_button.click()
    assert panel.model_table.rowCount() == 0 and panel.selected_model() is None
    assert "not found" in panel.model_message.text(), "a listing keeps the message it found"
    panel.rename_selected("x")
    assert panel.model_message.text() == "Select a model first."


def test_import_model_file(panel, qtbot, lib, model_file, tmp_path, monkeypatch):
    garbage = tmp_path / "crafted.hmc"
    with open(garbage, "wb") as fh:
        pickle.dump({"memory_bank": [0.0] * 10}, fh)
    with qtbot.assertNotEmitted(panel.models_changed):
        panel.import_model_file(garbage)
        qtbot.waitUntil(lambda: panel.model_message.is_error, timeout=WAIT_MS)
    assert panel.model_message.text() == "Not imported: crafted.hmc is not a Hamacho model file"
    assert files(lib) == ["alpha.hmc", "bravo.hmc"]

    outside = tmp_path / "alpha.hmc"
    shutil.copyfile(model_file, outside)
    choose_file(monkeypatch, outside)
    with qtbot.waitSignal(panel.models_changed, timeout=WAIT_MS):
        panel.import_model_button.click()
    assert panel.selected_model().name == "alpha (2)"
    assert "Imported alpha.hmc as alpha (2)" in panel.model_message.text()
    assert column(panel.model_table, 0) == ["alpha", "alpha (2)", "bravo"]
    assert (lib / "alpha (2).hmc").read_bytes() == model_file.read_bytes()


def test_reveal_opens_the_library_folder(qtbot, tmp_path, monkeypatch, model_file):
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    widget = settled(qtbot, ModelManagerPanel())
    qtbot.addWidget(widget)
    assert widget.model_table.rowCount() == 0 and not library.library_dir().exists()
    widget.reveal_button.click()
    assert opened == [QUrl.fromLocalFile(str(library.library_dir()))] and library.library_dir().is_dir()

    other = tmp_path / "line2"  # a panel on another folder
    other.mkdir()
    shutil.copyfile(model_file, other / "m.hmc")
    elsewhere = ModelManagerPanel(folder=other)
    qtbot.addWidget(elsewhere)
    with qtbot.waitSignal(elsewhere.models_refreshed, timeout=WAIT_MS):
        pass
    assert column(elsewhere.model_table, 0) == ["m"] and elsewhere.library_folder() == other


def test_switching_to_the_models_tab_refreshes(panel, qtbot, lib, model_file):
    shutil.copyfile(model_file, lib / "charlie.hmc")
    assert panel.model_table.rowCount() == 2
    with qtbot.waitSignal(panel.models_refreshed, timeout=WAIT_MS):
        panel.tabs.setCurrentIndex(1)
    assert column(panel.model_table, 0) == ["alpha", "bravo", "charlie"]


def test_a_selection_made_while_listing_is_kept(panel, qtbot, lib):
    with qtbot.waitSignal(panel.models_refreshed, timeout=WAIT_MS):
        panel.refresh_models_button.click()
        assert panel.select_model("bravo")  # from the previous listing, before this one answered
    assert panel.selected_model().name == "bravo" and panel.open_button.isEnabled()


# --- layout --------------------------------------------------------------------------------------


def clipped(page) -> list[str]:
    """Texts of ``page`` that do not fit where they are shown."""
    out = []
    for label in page.findChildren(QLabel):
        if label.isVisibleTo(page) and label.text():
            need = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
            if label.height() < need or (not label.wordWrap() and label.width() < label.sizeHint().width()):
                out.append(label.text())
    out += [b.text() for b in page.findChildren(QPushButton)
            if b.isVisibleTo(page) and b.width() < b.sizeHint().width()]
    return out


def laid_out() -> None:
    """Run the pending layout requests (not the lanes' results)."""
    for _ in range(4):  # a label's new size asks its box, which asks the page...
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)


def test_fits_a_narrow_dock_and_nothing_moves(qtbot, lib, tmp_path, monkeypatch):
    window = QMainWindow()
    qtbot.addWidget(window)
    widget = ModelManagerPanel()
    dock = QDockWidget("Models", window)
    dock.setWidget(widget)
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    window.setCentralWidget(QWidget())  # the image viewer's place
    window.resize(1280, 720)
    window.show()
    qtbot.waitExposed(window)
    window.resizeDocks([dock], [420], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: dock.width() == 420)
    settled(qtbot, widget)
    widget.set_dataset_size(240)
    widget.select_backbone("wide_resnet50_2")  # the longest texts
    assert 380 <= widget.width() <= 440
    for page in (widget.backbones, widget.library):
        widget.tabs.setCurrentWidget(page)
        qtbot.waitUntil(lambda page=page: page.isVisible())
        area = page.findChild(QScrollArea)
        qtbot.waitUntil(lambda area=area: area.widget().width() == area.viewport().width())
        assert not area.horizontalScrollBar().isVisible(), "the page is as wide as the dock"
        qtbot.waitUntil(lambda page=page: clipped(page) == [], timeout=WAIT_MS)  # once laid out

    widget.tabs.setCurrentWidget(widget.backbones)
    source = random_resnet18_file(tmp_path / "resnet18-f37072fd.pth")
    widget.select_backbone("resnet18")
    laid_out()
    box = widget.layers_box.geometry()
    widget.import_weights_file("resnet18", source)  # "Importing…", then a two-line refusal
    laid_out()
    assert widget.backbone_message.text() == "Importing\u2026" and widget.layers_box.geometry() == box
    qtbot.waitUntil(lambda: widget.backbone_message.is_error, timeout=WAIT_MS)
    laid_out()
    assert widget.layers_box.geometry() == box and clipped(widget.backbones) == []

    widget.tabs.setCurrentWidget(widget.library)
    laid_out()
    table = widget.model_table.geometry()
    widget.select_model("alpha")
    widget.rename_selected("bravo")
    laid_out()
    assert widget.model_message.text() == "Renaming\u2026" and widget.model_table.geometry() == table
    qtbot.waitUntil(lambda: widget.model_message.is_error, timeout=WAIT_MS)
    laid_out()
    assert widget.model_table.geometry() == table and clipped(widget.library) == []

    long_name = "a/" + "very long model name " * 12  # a refusal longer than the message line
    widget.rename_selected(long_name)
    qtbot.waitUntil(lambda: widget.model_message.full_text.startswith("Not renamed: invalid model name"),
                    timeout=WAIT_MS)
    laid_out()
    message = widget.model_message
    assert message.text().endswith("\u2026") and message.toolTip() == message.full_text
    assert long_name.strip() in message.full_text and widget.model_table.geometry() == table
    assert clipped(widget.library) == []
