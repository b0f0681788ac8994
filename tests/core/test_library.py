"""The model library on real .hmc files (tiny PatchCore, bundled efficientnet_lite0, 64 px): listing
without unpickling, refusing imports of non-models, renames/duplicates/deletes with clear errors;
memory-bank estimates checked against real fits; the backbone overview."""

from __future__ import annotations

import os
import pickle

import pytest

from hamacho_core import backbones, library
from hamacho_core.model_io import ModelFileError, read_manifest, save_model
from hamacho_core.models import PatchCore, PatchCoreConfig, ValidationSet
from hamacho_core.models.patchcore.estimate import estimate_memory_bank
from hamacho_core.synthetic import make_samples

S = 64
N_TRAIN = 4
RATIO = 0.25
TRAINING = {"n_train": N_TRAIN, "layout": "hamacho"}


@pytest.fixture(scope="module")
def images():
    return [s.image for s in make_samples("texture", N_TRAIN, 0, size=S, seed=11)]


@pytest.fixture(scope="module")
def fitted(images):
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S, coreset_ratio=RATIO))
    report = model.fit(images, validation=ValidationSet(images[:2], [0, 0]))  # every image is learned
    model.fit_details = report.details
    return model


@pytest.fixture
def lib(fitted):
    """The (isolated, per-test) library folder holding two real models."""
    folder = library.library_dir()
    folder.mkdir(parents=True)
    save_model(fitted, folder / "Bravo.hmc", training=TRAINING)
    save_model(fitted, folder / "alpha.hmc", training=TRAINING)
    return folder


def names(folder=None) -> list[str]:
    return [entry.name for entry in library.list_models(folder)]


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_library_dir_follows_hamacho_home(isolated_user_dirs):
    assert library.library_dir() == isolated_user_dirs / "models"
    assert library.list_models() == []  # no folder yet: an empty library, nothing created
    assert not library.library_dir().exists()


def test_list_models_reads_manifests(lib, fitted):
    (lib / "notes.txt").write_text("not a model")
    (lib / ".alpha.hmc.1234abcd.tmp").write_bytes(b"half written")
    entries = library.list_models()
    assert [e.name for e in entries] == ["alpha", "Bravo"]  # by name, case-insensitively
    entry = entries[0]
    assert entry.ok and entry.error is None and entry.path == lib / "alpha.hmc"
    assert entry.kind == "patchcore" and entry.backbone == "efficientnet_lite0"
    assert entry.layers == tuple(fitted.layers) == ("blocks.2", "blocks.4")
    assert entry.image_size == S
    assert entry.thresholds == {"image": pytest.approx(fitted.image_scale.threshold),
                                "pixel": pytest.approx(fitted.pixel_scale.threshold)}
    assert entry.n_train == N_TRAIN
    assert entry.created is not None and entry.created.tzinfo is not None


def test_unreadable_file_is_listed_with_its_error(lib):
    (lib / "broken.hmc").write_bytes((lib / "alpha.hmc").read_bytes()[:500])
    with open(lib / "pickled.hmc", "wb") as fh:
        pickle.dump({"memory_bank": [1, 2, 3]}, fh)
    entries = {e.name: e for e in library.list_models()}
    assert list(entries) == ["alpha", "Bravo", "broken", "pickled"]
    assert not entries["broken"].ok and "truncated or corrupt" in entries["broken"].error
    assert entries["pickled"].error == "pickled.hmc is not a Hamacho model file"
    assert entries["broken"].manifest is None and entries["broken"].kind is None and entries["broken"].layers == ()
    assert entries["broken"].thresholds == {"image": None, "pixel": None} and entries["broken"].n_train is None


def test_import_copies_and_never_overwrites(lib, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    source = outside / "alpha.hmc"
    source.write_bytes((lib / "alpha.hmc").read_bytes())
    first = library.import_model(source)
    assert first.path == lib / "alpha (2).hmc" and first.ok
    second = library.import_model(source)
    assert second.path == lib / "alpha (3).hmc"
    named = library.import_model(source, name="line 3 part.hmc")
    assert named.path == lib / "line 3 part.hmc"
    assert (lib / "alpha (2).hmc").read_bytes() == source.read_bytes() and source.is_file()
    assert names() == ["alpha", "alpha (2)", "alpha (3)", "Bravo", "line 3 part"]
    assert not any(name.startswith(".") for name in files(lib))  # no temporary file left behind
    other = tmp_path / "elsewhere"
    assert library.import_model(source, folder=other).path == other / "alpha.hmc"


@pytest.mark.parametrize("kind", ["pickle", "garbage", "empty", "torch"])
def test_import_refuses_files_that_are_not_models(lib, tmp_path, kind):
    bad = tmp_path / f"evil_{kind}.hmc"
    if kind == "pickle":
        with open(bad, "wb") as fh:
            pickle.dump({"memory_bank": list(range(10))}, fh)
    elif kind == "garbage":
        bad.write_bytes(os.urandom(4096))
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        import torch

        torch.save({"memory_bank": torch.zeros(3, 3)}, bad)
    before = files(lib)
    with pytest.raises(ModelFileError, match="not a Hamacho model file|empty"):
        library.import_model(bad)
    assert files(lib) == before  # nothing copied, not even a temporary file


def test_import_refuses_damaged_and_missing_files(lib, tmp_path):
    damaged = tmp_path / "damaged.hmc"
    damaged.write_bytes((lib / "alpha.hmc").read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        library.import_model(damaged)
    with pytest.raises(ModelFileError, match="not found"):
        library.import_model(tmp_path / "nope.hmc")
    assert files(lib) == ["Bravo.hmc", "alpha.hmc"]


def test_import_refuses_invalid_name(lib):
    with pytest.raises(ValueError, match="must not contain"):
        library.import_model(lib / "alpha.hmc", name="../escape")
    assert files(lib) == ["Bravo.hmc", "alpha.hmc"]


def test_rename(lib):
    target = library.rename_model(lib / "alpha.hmc", "  Line 1 (front)  ")
    assert target == lib / "Line 1 (front).hmc"
    assert files(lib) == ["Bravo.hmc", "Line 1 (front).hmc"]
    assert library.rename_model(target, "line A.hmc") == lib / "line A.hmc"  # the suffix is optional
    assert read_manifest(lib / "line A.hmc")["model"] == "patchcore"
    with pytest.raises(FileExistsError, match="'Bravo' already exists"):
        library.rename_model(lib / "line A.hmc", "Bravo")
    for bad in ("a/b", "a\\b", "", "   ", ".hidden", "x:y"):
        with pytest.raises(ValueError, match="invalid model name|empty"):
            library.rename_model(lib / "line A.hmc", bad)
    with pytest.raises(FileNotFoundError, match="not found"):
        library.rename_model(lib / "gone.hmc", "new")
    assert files(lib) == ["Bravo.hmc", "line A.hmc"]


def test_duplicate(lib):
    copy = library.duplicate_model(lib / "alpha.hmc")
    assert copy == lib / "alpha (2).hmc" and copy.read_bytes() == (lib / "alpha.hmc").read_bytes()
    assert library.duplicate_model(copy) == lib / "alpha (3).hmc"  # numbered from the base name
    assert library.duplicate_model(lib / "alpha.hmc") == lib / "alpha (4).hmc"
    with pytest.raises(FileNotFoundError):
        library.duplicate_model(lib / "gone.hmc")
    assert all(e.ok for e in library.list_models())


def test_delete(lib):
    library.delete_model(lib / "alpha.hmc")
    assert names() == ["Bravo"]
    with pytest.raises(FileNotFoundError, match="not found"):
        library.delete_model(lib / "alpha.hmc")
    (lib / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not a model file"):
        library.delete_model(lib / "keep.txt")
    assert (lib / "keep.txt").is_file()


def test_estimate_matches_a_real_fit(fitted):
    details = fitted.fit_details
    est = estimate_memory_bank("efficientnet_lite0", fitted.layers, S, N_TRAIN, RATIO)
    assert est["stride"] == 8 and est["grid"] == 8 and est["patches_per_image"] == 64
    assert est["total_patches"] == details["patches"] == N_TRAIN * 64
    assert est["bank_rows"] == details["memory_bank"] == len(fitted.memory_bank)
    assert est["channels"] == 40 + 112 and est["feature_dim"] == fitted.memory_bank.shape[1] == 152
    assert est["bank_mb"] == pytest.approx(fitted.memory_bank.nbytes / 2**20)
    assert est["two_pass"] is details["two_pass"] is False
    assert est["feature_memory_mb"] == pytest.approx(N_TRAIN * 64 * 152 * 4 / 2**20)
    assert est["fit_peak_mb"] > est["feature_memory_mb"] > est["bank_mb"]
    # layers=None means the PatchCore defaults
    assert estimate_memory_bank("efficientnet_lite0", None, S, N_TRAIN, RATIO)["bank_rows"] == est["bank_rows"]


def test_estimate_matches_an_odd_size_two_pass_fit(images):
    """72 px is not a multiple of the stride (ceil), and a tiny feature budget forces two passes."""
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=72, coreset_ratio=0.1,
                                      max_feature_memory_mb=0))
    details = model._fit_features(images[:2], None, None)
    est = estimate_memory_bank("efficientnet_lite0", model.layers, 72, 2, 0.1, max_feature_memory_mb=0)
    assert est["grid"] == 9
    assert est["total_patches"] == details["patches"] == 2 * 81
    assert est["bank_rows"] == details["memory_bank"] == round(0.1 * 162)
    assert est["two_pass"] is details["two_pass"] is True
    assert est["feature_memory_mb"] == pytest.approx(162 * 128 * 4 / 2**20)  # only the projections


def test_estimate_paper_setting_and_feature_cap():
    est = estimate_memory_bank("wide_resnet50_2", ("layer2", "layer3"), 256, 200, 0.1)
    assert est["channels"] == 512 + 1024 and est["feature_dim"] == 1024
    assert est["patches_per_image"] == 32 * 32
    assert est["bank_rows"] == round(0.1 * 200 * 1024)
    assert est["bank_mb"] == pytest.approx(est["bank_rows"] * 1024 * 4 / 2**20)
    assert est["two_pass"]  # 800 MB of features > the 512 MB default budget
    uncapped = estimate_memory_bank("wide_resnet50_2", ("layer2", "layer3"), 256, 200, 0.1, None)
    assert uncapped["feature_dim"] == 1536
    assert estimate_memory_bank("resnet18", ("layer1",), 224, 0, 0.1)["bank_rows"] == 0
    with pytest.raises(ValueError, match="no layer"):
        estimate_memory_bank("resnet18", ("layer9",), 224, 10, 0.1)
    with pytest.raises(ValueError, match="coreset_ratio"):
        estimate_memory_bank("resnet18", ("layer2",), 224, 10, 0.0)


def test_backbone_rows():
    rows = {row["name"]: row for row in library.backbone_rows()}
    assert list(rows) == backbones.available_names()
    lite = rows["efficientnet_lite0"]
    assert lite["state"] == backbones.BUNDLED and lite["error"] is None
    assert lite["weights_mb"] == pytest.approx(lite["weights_path"].stat().st_size / 2**20) and lite["weights_mb"] > 1
    assert lite["default_layers"] == ("blocks.2", "blocks.4") and lite["feature_dim"] == 152
    assert "bundled" in lite["description"]
    wide = rows["wide_resnet50_2"]
    assert wide["state"] == backbones.MISSING and wide["weights_mb"] is None and wide["weights_path"] is None
    assert wide["default_layers"] == ("layer2", "layer3") and wide["channels"] == 1536 and wide["feature_dim"] == 1024
    assert wide["weights_filename"].startswith("wide_resnet50_2-") and wide["weights_url"].startswith("https://")
    assert rows["resnet18"]["feature_dim"] == 128 + 256
