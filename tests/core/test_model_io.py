"""Model files (.hmc): exact round trips, refusal of pickles and damaged or foreign files, clear
messages for newer schemas and missing or different backbone weights, atomic saving."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import pathlib
import pickle
import shutil

import numpy as np
import pytest
import safetensors.numpy
import torch
from safetensors import safe_open

from hamacho_core import __version__, backbones, model_io
from hamacho_core.model_io import MANIFEST_KEY, MANIFEST_SHA_KEY, ModelFileError, load_model, read_manifest, save_model
from hamacho_core.models import create_model
from hamacho_core.models.base import NotFittedError
from hamacho_core.synthetic import make_samples

S = 64
TRAINING = {"n_images": 8, "files": ["good_000.png", "良品_001.png"], "layout": "folder", "skipped": 0}


@pytest.fixture(scope="module")
def data():
    train = [s.image for s in make_samples("part", 8, 0, size=S, seed=31)]
    test = [s.image for s in make_samples("part", 3, 3, size=S, seed=32)]
    return train, test


@pytest.fixture(scope="module", params=["patchcore", "padim"])
def fitted(request, data):
    model = create_model(request.param, backbone="efficientnet_lite0", image_size=S)
    model.fit(data[0])
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory, data):
    """A valid PatchCore model file (for the damage tests)."""
    model = create_model("patchcore", backbone="efficientnet_lite0", image_size=S)
    model.fit(data[0])
    return save_model(model, tmp_path_factory.mktemp("saved") / "model.hmc", training=TRAINING)


def rewrite(src: pathlib.Path, dst: pathlib.Path, edit=None, metadata: dict | None = None,
            sign: bool = True) -> pathlib.Path:
    """Copy a model file, letting ``edit`` change its manifest (or replacing the metadata).  ``sign``
    recomputes the manifest's checksum, as a deliberate forger would, so later checks are reached."""
    with safe_open(src, framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = f.metadata()
    if metadata is None:
        manifest = json.loads(meta[MANIFEST_KEY])
        edit(manifest)
        metadata = {MANIFEST_KEY: json.dumps(manifest)}
        if sign:
            metadata[MANIFEST_SHA_KEY] = model_io.manifest_sha256(manifest)
    dst.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))
    return dst


def test_round_trip_is_exact(fitted, data, tmp_path):
    path = save_model(fitted, tmp_path / "m.hmc", training=TRAINING)
    loaded = load_model(path)
    assert type(loaded) is type(fitted)
    assert loaded.config == dataclasses.replace(fitted.config, layers=fitted.layers, allow_download=False)
    before, after = fitted.predict(data[1]), loaded.predict(data[1])
    for name in ("image_scores", "norm_image_scores", "anomaly_maps", "masks", "is_anomalous"):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name), err_msg=name)
    assert after.verdicts == before.verdicts
    assert loaded.image_scale == fitted.image_scale and loaded.pixel_scale == fitted.pixel_scale


def test_manifest_content(fitted, tmp_path):
    path = save_model(fitted, tmp_path / "model.bin", training=TRAINING)  # the suffix does not matter
    manifest = read_manifest(path)
    assert manifest["format"] == "hamacho-model" and manifest["schema_version"] == 2
    assert manifest["app_version"] == __version__ and manifest["created"].endswith("+00:00")
    assert manifest["model"] == fitted.kind and manifest["layers"] == list(fitted.layers)
    bundled = backbones.resolve_weights("efficientnet_lite0", allow_download=False)
    assert manifest["backbone"] == {"name": "efficientnet_lite0", "weights": {
        "state": "bundled", "filename": bundled.name, "sha256": backbones.file_sha256(bundled)}}
    assert manifest["preprocessing"]["image_size"] == S and len(manifest["preprocessing"]["mean"]) == 3
    assert manifest["thresholds"] == {"image": fitted.image_scale.to_dict(), "pixel": fitted.pixel_scale.to_dict(),
                                      "review": fitted.review_threshold}
    assert manifest["training"] == TRAINING
    arrays = fitted.state_arrays()
    graph = np.frombuffer(fitted.runtime_graph(), np.uint8)
    arrays["runtime_graph"] = graph
    assert manifest["tensors"] == {k: [list(a.shape), a.dtype.name] for k, a in arrays.items()}
    assert manifest["checksums"] == {k: hashlib.sha256(a.tobytes()).hexdigest() for k, a in arrays.items()}
    assert manifest["runtime"]["graph_sha256"] == hashlib.sha256(graph.tobytes()).hexdigest()
    assert manifest["runtime"]["input"] == "image" and manifest["runtime"]["output"] == "embedding"
    assert load_model(path).manifest == manifest == fitted.manifest
    if os.name == "posix":  # readable by other accounts as any file the user creates (umask)
        umask = os.umask(0o22)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


class Touch:
    """Unpickling this creates ``marker``: the classic code-execution payload."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_pickles_are_never_unpickled(tmp_path):
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(Touch(proof)))  # the payload really works ...
    assert proof.exists()
    marker = tmp_path / "pwned"
    (tmp_path / "model.hmc").write_bytes(pickle.dumps(Touch(marker)))
    torch.save({"state": Touch(marker), "x": torch.zeros(3)}, tmp_path / "torch.hmc")  # zip + pickle
    for name in ("model.hmc", "torch.hmc"):
        for reader in (read_manifest, load_model):
            with pytest.raises(ModelFileError, match="not a Hamacho model file"):
                reader(tmp_path / name)
    assert not marker.exists()  # ... but was never run


def test_damaged_and_foreign_files(saved, tmp_path):
    data = saved.read_bytes()
    cases = {
        "half.hmc": (data[: len(data) // 2], "truncated or corrupt"),
        "short.hmc": (data[:-1], "truncated or corrupt"),
        "header_cut.hmc": (data[:40], "truncated or corrupt"),
        "random.hmc": (np.random.default_rng(0).bytes(4096), "not a Hamacho model file"),
        "text.hmc": (b"\x10\x00\x00\x00\x00\x00\x00\x00hello, world!!!!", "not a Hamacho model file"),
        "empty.hmc": (b"", "empty"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        for reader in (read_manifest, load_model):
            with pytest.raises(ModelFileError, match=message):
                reader(tmp_path / name)
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "absent.hmc")
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(safetensors.numpy.save({"x": np.zeros(3, np.float32)}, metadata={"a": "b"}))
    with pytest.raises(ModelFileError, match="no Hamacho manifest"):
        read_manifest(plain)
    rewrite(saved, tmp_path / "garbled.hmc", metadata={MANIFEST_KEY: "{not json"})
    with pytest.raises(ModelFileError, match="corrupt"):
        read_manifest(tmp_path / "garbled.hmc")


def test_manifest_problems(saved, tmp_path):
    def schema(m):
        m["schema_version"] = 99

    def kind(m):
        m["model"] = "fastflow"

    def shape(m):
        m["tensors"]["memory_bank"][0][0] += 1

    def dtype(m):
        m["tensors"]["memory_bank"][1] = "float64"

    def foreign(m):
        m["format"] = "something-else"

    expectations = [(schema, r"made by a newer Hamacho \(schema 99\), this version reads up to 2: please update"),
                    (kind, "unknown model kind 'fastflow'"), (shape, "corrupt: tensor 'memory_bank'"),
                    (dtype, "corrupt: tensor 'memory_bank'"), (foreign, "not a Hamacho model file")]
    for edit, message in expectations:
        with pytest.raises(ModelFileError, match=message):
            load_model(rewrite(saved, tmp_path / f"{edit.__name__}.hmc", edit))


def test_backbone_weights_must_match_for_the_torch_runtime(saved, tmp_path):
    """The stored graph needs no weights; the torch runtime rebuilds the backbone, which must be the same."""
    def other_sha(m):
        m["backbone"]["weights"]["sha256"] = "0" * 64

    edited = rewrite(saved, tmp_path / "sha.hmc", other_sha)
    assert load_model(edited).embedder.runtime == "onnxruntime"
    with pytest.raises(ModelFileError, match="differ from those the model was trained with"):
        load_model(edited, runtime="torch")
    with pytest.raises(ModelFileError, match="differ from those the model was trained with"):
        load_model(schema_1(edited, tmp_path / "old_sha.hmc"))


def schema_1(src: pathlib.Path, dst: pathlib.Path) -> pathlib.Path:
    """The same model as a version-0.1 file: no runtime graph, no checksums."""
    with safe_open(src, framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys() if k != "runtime_graph"}
        manifest = json.loads(f.metadata()[MANIFEST_KEY])
    manifest["schema_version"] = 1
    for key in ("runtime", "checksums"):
        manifest.pop(key)
    manifest["tensors"].pop("runtime_graph")
    dst.write_bytes(safetensors.numpy.save(tensors, metadata={MANIFEST_KEY: json.dumps(manifest)}))
    return dst


def test_schema_1_files_still_load_and_judge_the_same(fitted, data, tmp_path):
    path = save_model(fitted, tmp_path / "new.hmc")
    old = load_model(schema_1(path, tmp_path / "old.hmc"))
    assert old.embedder.runtime == "onnxruntime" and old.manifest["schema_version"] == 1
    np.testing.assert_array_equal(old.predict(data[1]).image_scores, fitted.predict(data[1]).image_scores)


def _flip_byte(path: pathlib.Path, tensor: str, dst: pathlib.Path) -> pathlib.Path:
    """Flip one byte in the middle of a tensor's stored data (the header stays valid)."""
    raw = bytearray(path.read_bytes())
    n = int.from_bytes(raw[:8], "little")
    begin, end = json.loads(raw[8:8 + n])[tensor]["data_offsets"]
    raw[8 + n + (begin + end) // 2] ^= 0x5A
    dst.write_bytes(bytes(raw))
    return dst


@pytest.mark.parametrize("tensor", ["memory_bank", "runtime_graph"])
def test_flipped_bytes_are_refused(saved, tmp_path, tensor):
    with pytest.raises(ModelFileError, match=f"corrupt: the data of '{tensor}' fails its checksum"):
        load_model(_flip_byte(saved, tensor, tmp_path / "flipped.hmc"))


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_thresholds_are_refused(saved, tmp_path, value):
    def edit(m):
        m["thresholds"]["image"]["threshold"] = value

    with pytest.raises(ModelFileError, match="not a finite number"):
        load_model(rewrite(saved, tmp_path / "inf.hmc", edit))


@pytest.mark.parametrize("edit", ["image_size", "threshold", "roi", "num_neighbors"])
def test_edited_settings_are_refused(saved, tmp_path, edit):
    """Settings that change verdicts are covered by the manifest's checksum."""
    def change(m):
        if edit == "image_size":
            m["config"]["image_size"] = 96
        elif edit == "threshold":
            m["thresholds"]["image"]["threshold"] = 1e6
        elif edit == "roi":
            m["config"]["roi"] = [[0.1, 0.1], [0.5, 0.5]]
        else:
            m["config"]["num_neighbors"] = 1

    with pytest.raises(ModelFileError, match="manifest .settings, thresholds. fails its checksum"):
        read_manifest(rewrite(saved, tmp_path / "edited.hmc", change, sign=False))


def test_schema_downgrade_does_not_skip_the_checks(saved, tmp_path):
    def downgrade(m):
        m["schema_version"] = 1

    with pytest.raises(ModelFileError, match="schema-1 file with schema-2 contents"):
        load_model(rewrite(saved, tmp_path / "down.hmc", downgrade))


def test_deeply_nested_or_malformed_headers_are_model_file_errors(saved, tmp_path):
    deep = tmp_path / "deep.hmc"
    header = b'{"__metadata__": {"hamacho_manifest": "x"}, "a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    deep.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(ModelFileError):
        read_manifest(deep)

    def bad_entry(m):
        m["tensors"]["memory_bank"] = 5

    with pytest.raises(ModelFileError, match="corrupt"):
        read_manifest(rewrite(saved, tmp_path / "entry.hmc", bad_entry))


def test_missing_checksums_are_refused(saved, tmp_path):
    with pytest.raises(ModelFileError, match="checksums are missing"):
        load_model(rewrite(saved, tmp_path / "nosum.hmc", lambda m: m.pop("checksums")))


def test_missing_backbone_weights_say_how_to_import(saved, tmp_path):
    def resnet(m):  # the isolated TORCH_HOME / HAMACHO_HOME hold no resnet18 weights
        m["config"].update(backbone="resnet18", layers=["layer2", "layer3"])
        m["layers"] = ["layer2", "layer3"]
        m["backbone"] = {"name": "resnet18", "weights": {"state": "cached", "filename": "resnet18-f37072fd.pth",
                                                         "sha256": "f37072fd" + "0" * 56}}

    with pytest.raises(ModelFileError, match=r"(?s)'resnet18' \(resnet18-f37072fd.pth\).*missing.*import"):
        load_model(rewrite(saved, tmp_path / "resnet.hmc", resnet), runtime="torch")


def test_refuses_unfitted_and_random_weight_models(tmp_path):
    unfitted = create_model("patchcore", backbone="efficientnet_lite0", image_size=S)
    with pytest.raises(NotFittedError, match="not fitted"):
        save_model(unfitted, tmp_path / "u.hmc")
    random = create_model("padim", backbone="efficientnet_lite0", image_size=S, pretrained=False)
    with pytest.raises(ValueError, match="random backbone weights"):
        save_model(random, tmp_path / "r.hmc")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_keeps_the_old_file(saved, tmp_path, monkeypatch):
    model = load_model(saved)
    target = shutil.copy(saved, tmp_path / "model.hmc")
    good = target.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)  # a real full disk: see the tmpfs test below
    with pytest.raises(OSError, match="was not written: No space left on device") as info:
        save_model(model, target)
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["model.hmc"]


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A real 8 MiB tmpfs (needs root on Linux; skipped where mounting is impossible)."""
    from tests.tmpfs import mounted_tmpfs

    with mounted_tmpfs(tmp_path / "tiny", "8m") as mount:
        yield mount


def test_full_disk_keeps_the_old_file(saved, tiny_filesystem):
    model = load_model(saved)
    target = save_model(model, tiny_filesystem / "model.hmc")
    good = target.read_bytes()
    with open(tiny_filesystem / "filler", "wb", buffering=0) as fh, pytest.raises(OSError):  # fill the disk for real
        while True:
            fh.write(b"\0" * 4096)
    with pytest.raises(OSError, match="was not written: No space left on device") as info:
        save_model(model, target, training={"retry": True})
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == good
    assert sorted(p.name for p in tiny_filesystem.iterdir()) == ["filler", "model.hmc"]
    assert read_manifest(target)["training"] == {}


def test_user_thresholds_and_review_band_round_trip(tmp_path):
    train = [s.image for s in make_samples("part", 6, 0, size=64, seed=8)]
    model = create_model("patchcore", backbone="efficientnet_lite0", image_size=64)
    model.fit(train)
    image_thr = model.image_scale.threshold * 1.2
    model.set_thresholds(image=image_thr, pixel=model.pixel_scale.threshold * 0.9, review=image_thr * 0.8)
    loaded = load_model(save_model(model, tmp_path / "m.hmc"))
    assert loaded.image_scale == model.image_scale and loaded.pixel_scale == model.pixel_scale
    assert loaded.review_threshold == pytest.approx(image_thr * 0.8)
    pred = loaded.predict(train)
    expected = np.where(pred.image_scores >= image_thr, "NG", np.where(pred.image_scores >= image_thr * 0.8,
                                                                       "REVIEW", "OK"))
    assert pred.verdicts == expected.tolist()


def _forged(src: pathlib.Path, dst: pathlib.Path, graph: bytes) -> pathlib.Path:
    """The model with another runtime graph, every checksum recomputed (a deliberate forgery)."""
    with safe_open(src, framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        manifest = json.loads(f.metadata()[MANIFEST_KEY])
    tensors["runtime_graph"] = np.frombuffer(graph, np.uint8)
    sha = hashlib.sha256(graph).hexdigest()
    manifest["checksums"]["runtime_graph"] = manifest["runtime"]["graph_sha256"] = sha
    manifest["tensors"]["runtime_graph"] = [[len(graph)], "uint8"]
    dst.write_bytes(safetensors.numpy.save(tensors, metadata={
        MANIFEST_KEY: json.dumps(manifest), MANIFEST_SHA_KEY: model_io.manifest_sha256(manifest)}))
    return dst


def _graph(nodes, inits=(), domain="", sparse=()):
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "forged", [helper.make_tensor_value_info("image", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, None)], list(inits),
                              sparse_initializer=list(sparse))
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def test_forged_graphs_are_refused_before_they_run(saved, tmp_path):
    """External data (reading files), loops, load-time allocations and custom operators never reach ONNX Runtime."""
    from onnx import TensorProto, helper, numpy_helper

    external = numpy_helper.from_array(np.zeros((1, 3, 1, 1), np.float32), "w")
    external.data_location = TensorProto.EXTERNAL
    external.ClearField("raw_data")
    external.external_data.add(key="location", value="secret.txt")
    body = helper.make_graph([], "body", [], [])
    # issue 26: a sparse initializer whose values are external data (./sub/secret.bin) read at load, a
    # Constant's sparse value declaring 1x1x20000x20000 (1.6 GB at load), a Constant value with external data
    sparse_values = numpy_helper.from_array(np.zeros(1, np.float32), "sv")
    sparse_values.data_location = TensorProto.EXTERNAL
    sparse_values.ClearField("raw_data")
    sparse_values.external_data.add(key="location", value="sub/secret.bin")
    sparse = helper.make_sparse_tensor(sparse_values, numpy_helper.from_array(np.array([0], np.int64), "si"),
                                       [1, 3, 1, 1])
    huge = helper.make_sparse_tensor(numpy_helper.from_array(np.ones(1, np.float32), "hv"),
                                     numpy_helper.from_array(np.array([0], np.int64), "hi"), [1, 1, 20000, 20000])
    sparse_cases = {
        "sparse initializer with external data": _graph([helper.make_node("Add", ["image", "sv"], ["embedding"])],
                                                        sparse=[sparse]),
        "Constant sparse_value": _graph([helper.make_node("Constant", [], ["c"], sparse_value=huge),
                                         helper.make_node("Add", ["image", "c"], ["embedding"])]),
    }
    for name, graph in sparse_cases.items():  # refused for what they are, before ONNX Runtime reads anything
        with pytest.raises(ModelFileError, match="sparse tensors"):
            load_model(_forged(saved, tmp_path / f"{name}.hmc", graph))
    # sizes that look computed but are constants: Resize by 40 x 40 (1.4 GB), Pad of 12,000 px (1.9 GB)
    sized_cases = {
        "Resize 40x": _graph([helper.make_node("Resize", ["image", "", "sc"], ["embedding"])],
                             [numpy_helper.from_array(np.array([1, 1, 40, 40], np.float32), "sc")]),
        "Pad 12000": _graph([helper.make_node("Pad", ["image", "pd"], ["embedding"])],
                            [numpy_helper.from_array(np.array([0, 0, 12000, 12000, 0, 0, 12000, 12000], np.int64),
                                                     "pd")]),
    }
    for name, graph in sized_cases.items():
        with pytest.raises(ModelFileError, match="resizes by 40x|pads by 12000 px"):
            load_model(_forged(saved, tmp_path / f"{name}.hmc", graph))
    # sizes computed from the input's: ConstantOfShape(Shape(image) * 40) asks 2.9 GB for one 64 px image
    # (the file: 1.7 GB per image, 51 GB in all); refused at load, from the sizes inferred at the
    # model's own input size
    computed = _graph([helper.make_node("Shape", ["image"], ["s"]), helper.make_node("Mul", ["s", "k"], ["big"]),
                       helper.make_node("ConstantOfShape", ["big"], ["embedding"])],
                      [numpy_helper.from_array(np.array([1, 40, 40, 40], np.int64), "k")])
    with pytest.raises(ModelFileError, match=r"a tensor of 1x120x2560x2560 \(2.9 GB\) for one 64x64 image"):
        load_model(_forged(saved, tmp_path / "computed.hmc", computed))
    unknown = _graph([helper.make_node("Shape", ["image"], ["s"]), helper.make_node("Relu", ["s"], ["r"]),
                      helper.make_node("ConstantOfShape", ["r"], ["embedding"])])
    with pytest.raises(ModelFileError, match="cannot be worked out"):
        load_model(_forged(saved, tmp_path / "unknown.hmc", unknown))
    cases = {
        "Constant value with external data": _graph([helper.make_node("Constant", [], ["c"], value=external),
                                                     helper.make_node("Add", ["image", "c"], ["embedding"])]),
        "external data": _graph([helper.make_node("Add", ["image", "w"], ["embedding"])], [external]),
        "Loop": _graph([helper.make_node("Loop", ["", ""], ["embedding"], body=body)]),
        "ConstantOfShape": _graph([helper.make_node("ConstantOfShape", ["s"], ["embedding"])],
                                  [numpy_helper.from_array(np.array([1, 64, 2048, 2048], np.int64), "s")]),
        "custom": _graph([helper.make_node("Evil", ["image"], ["embedding"], domain="x.y")], domain="x.y"),
    }
    for name, graph in cases.items():
        with pytest.raises(ModelFileError, match="not allowed|external data|subgraphs|custom"):
            load_model(_forged(saved, tmp_path / f"{name}.hmc", graph))
