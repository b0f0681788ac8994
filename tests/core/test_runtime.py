"""The torch-free runtime: ONNX graphs give the same answers as the torch path, threads are fixed,
the bundled graph is what the bundled weights give, and the heads built in plain ONNX equal torch's."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from hamacho_core import backbones, graphs, runtime, torch_backend
from hamacho_core.model_io import load_model, save_model
from hamacho_core.models import create_model
from hamacho_core.models.padim import onnx_head as padim_onnx_head
from hamacho_core.models.padim import torch_head as padim_torch_head
from hamacho_core.models.patchcore import onnx_head as patchcore_onnx_head
from hamacho_core.models.patchcore import torch_head as patchcore_torch_head
from hamacho_core.synthetic import make_samples

S = 96


@pytest.fixture(scope="module")
def data():
    train = [s.image for s in make_samples("part", 12, 0, size=S, seed=41)]
    test = [s.image for s in make_samples("part", 3, 4, size=S, seed=42)]
    return train, test


def _agree(a, b):
    """The issue's tolerance: relative 1e-4 on image scores, maps within 1e-3 of their range."""
    np.testing.assert_allclose(a.image_scores, b.image_scores, rtol=1e-4)
    span = float(np.ptp(b.anomaly_maps))
    assert span > 0
    assert float(np.abs(a.anomaly_maps - b.anomaly_maps).max()) <= 1e-3 * span
    assert a.verdicts == b.verdicts


@pytest.mark.parametrize("kind", ["patchcore", "padim", "mhpatchcore"])
def test_onnxruntime_and_torch_paths_agree(kind, data, tmp_path):
    train, test = data
    fitted = {}
    for rt in ("onnxruntime", "torch"):
        model = create_model(kind, backbone="efficientnet_lite0", image_size=S, runtime=rt)
        assert model.embedder.runtime == rt
        model.fit(train)
        fitted[rt] = model
    _agree(fitted["onnxruntime"].predict(test), fitted["torch"].predict(test))
    # A model fitted on one path judges the same on the other (through its model file).
    for fit_rt, judge_rt in (("torch", "onnxruntime"), ("onnxruntime", "torch")):
        path = save_model(fitted[fit_rt], tmp_path / f"{fit_rt}.hmc")
        moved = load_model(path, runtime=judge_rt)
        assert moved.embedder.runtime == judge_rt
        _agree(moved.predict(test), fitted[fit_rt].predict(test))


def test_auto_runtime_is_onnxruntime_on_cpu_and_torch_for_random_weights():
    assert create_model("patchcore", backbone="efficientnet_lite0", image_size=64).embedder.runtime == "onnxruntime"
    random = create_model("patchcore", backbone="resnet18", image_size=64, pretrained=False)
    assert random.embedder.runtime == "torch"
    with pytest.raises(ValueError, match="torch runtime only"):
        create_model("patchcore", backbone="resnet18", image_size=64, pretrained=False, runtime="onnxruntime")
    with pytest.raises(ValueError, match="runtime must be one of"):
        create_model("patchcore", backbone="efficientnet_lite0", runtime="tensorflow")


def test_threads_are_fixed_and_configurable(monkeypatch):
    model = create_model("patchcore", backbone="efficientnet_lite0", image_size=64, threads=1)
    assert model.embedder.threads == 1
    assert model.embedder.session.get_session_options().intra_op_num_threads == 1
    assert model.embedder.session.get_session_options().inter_op_num_threads == 1
    monkeypatch.setenv("HAMACHO_THREADS", "3")
    assert runtime.default_threads() == 3
    assert create_model("padim", backbone="efficientnet_lite0", image_size=64).embedder.threads == 3
    monkeypatch.setenv("HAMACHO_THREADS", "lots")
    with pytest.raises(ValueError, match="HAMACHO_THREADS must be a whole number"):
        runtime.default_threads()
    with pytest.raises(ValueError, match="threads must be a whole number"):
        create_model("patchcore", backbone="efficientnet_lite0", threads=0)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_bundled_graph_is_the_bundled_weights_exported(name):
    bundled = graphs.bundled_graph(name)
    assert bundled is not None and bundled.source == "bundled"
    weights = backbones.resolve_weights(name, allow_download=False)
    assert bundled.weights_sha256 == backbones.file_sha256(weights)
    fx = {info.name: (info.channels, info.stride) for info in backbones._fx_layers(name, 2, 224)}
    assert {name: (c, s) for name, c, s in bundled.layers} == {name: fx[name] for name in bundled.layer_names}
    session = ort.InferenceSession(bundled.read(), providers=["CPUExecutionProvider"])
    extractor = torch_backend.FeatureExtractor(name, bundled.layer_names)
    for size in (64, 96, 160):  # dynamic sizes: the TF "SAME" padding stays right
        x = np.random.default_rng(size).random((2, 3, size, size), dtype=np.float32)
        got = session.run(None, {graphs.INPUT: x})
        with torch.inference_mode():
            ref = [t.numpy() for t in extractor(torch.from_numpy(x))]
        for g, r in zip(got, ref, strict=True):
            np.testing.assert_allclose(g, r, atol=2e-4 * max(1.0, float(np.abs(r).max())))


@pytest.mark.parametrize("feature_dim", [None, 100])
def test_patchcore_head_in_onnx_equals_torch_head(feature_dim):
    """Random resnet18 (no weights needed): the plain-ONNX head, with and without channel pooling."""
    layers = ("layer2", "layer3")
    torch.manual_seed(0)
    module = patchcore_torch_head.embedder("resnet18", layers, feature_dim, pretrained=False)
    # The exported backbone must carry the same random weights as the eager module: export from it.
    extractor = module.module.extractor
    buffer = io.BytesIO()
    torch.onnx.export(torch_backend._Outputs(extractor).eval(), (torch.rand(1, 3, 64, 64),), buffer,
                      input_names=[graphs.INPUT], output_names=list(layers), opset_version=graphs.OPSET,
                      dynamo=False, dynamic_axes={graphs.INPUT: {0: "b", 2: "h", 3: "w"}})
    backbone = buffer.getvalue()
    head = patchcore_onnx_head.embedding_graph(backbone, layers, [128, 256], feature_dim)
    x = np.random.default_rng(1).random((2, 3, 80, 80), dtype=np.float32)
    got = runtime.OrtEmbedder(head, threads=1)(x)
    want = module(x)
    assert got.shape == want.shape == (2, feature_dim or 384, 10, 10)
    np.testing.assert_allclose(got, want, atol=1e-4 * float(np.abs(want).max()))


def test_padim_head_in_onnx_equals_torch_head():
    layers = ("blocks.1", "blocks.2", "blocks.4")
    idx = np.sort(np.random.default_rng(3).permutation(176)[:50])
    head = padim_onnx_head.embedding_graph(graphs.bundled_graph("efficientnet_lite0").read(), layers, idx)
    x = np.random.default_rng(2).random((1, 3, 96, 96), dtype=np.float32)
    got = runtime.OrtEmbedder(head, threads=1)(x)
    want = padim_torch_head.embedder("efficientnet_lite0", layers, idx)(x)
    assert got.shape == want.shape == (1, 50, 24, 24)
    np.testing.assert_allclose(got, want, atol=2e-4 * float(np.abs(want).max()))


def test_channel_pool_matrix_is_adaptive_average_pooling():
    x = torch.rand(5, 1, 37)
    want = torch.nn.functional.adaptive_avg_pool1d(x, 10)[:, 0].numpy()
    np.testing.assert_allclose(x[:, 0].numpy() @ graphs.channel_pool_matrix(37, 10), want, rtol=1e-6, atol=1e-6)


def test_other_backbone_is_exported_once_into_the_graph_cache(isolated_user_dirs):
    """A torchvision backbone without weights here: exporting says what is missing; with random
    weights the torch runtime still runs.  An exported lite0 layer set lands in the cache and is reused."""
    with pytest.raises(backbones.WeightsUnavailableError):
        torch_backend.ensure_backbone_graph("resnet18", ["layer2", "layer3"], allow_download=False)
    layers = ("blocks.2", "conv_head")  # conv_head is not in the bundled graph
    assert graphs.find_backbone_graph("efficientnet_lite0", layers) is None
    model = create_model("patchcore", backbone="efficientnet_lite0", layers=layers, image_size=64)
    exported = graphs.find_backbone_graph("efficientnet_lite0", layers)
    assert exported.source == "exported" and exported.path.parent == graphs.graph_cache_dir()
    assert model.embedder.runtime == "onnxruntime" and model.embedding_dim() == 1024  # 1320 pooled
    again = torch_backend.ensure_backbone_graph("efficientnet_lite0", list(layers))
    assert again.path == exported.path


REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "hazelnut_toy"


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the real photo set is not here ({REAL}): only on dev machines/CI")
@pytest.mark.parametrize("kind", ["patchcore", "padim"])
def test_paths_agree_on_real_photos(kind):
    """Hazelnut photos (512x512, real camera noise): same scores on both paths, fitted once on torch."""
    from hamacho_core.dataset import load_dataset

    dataset = load_dataset(REAL)
    train = [it.path for it in dataset.train][:16]
    test = [it.path for it in dataset.test][::3]
    torch_model = create_model(kind, backbone="efficientnet_lite0", image_size=224, runtime="torch")
    torch_model.fit(train)
    ort_model = create_model(kind, backbone="efficientnet_lite0", image_size=224, runtime="onnxruntime")
    ort_model.load_state_arrays(torch_model.state_arrays())
    ort_model.judge = torch_model.judge
    _agree(ort_model.predict(test), torch_model.predict(test))


def test_cli_exports_a_backbone_once_and_lists_it(isolated_user_dirs):
    import subprocess
    import sys

    def hamacho(*args):
        return subprocess.run([sys.executable, "-m", "hamacho_core.cli", *args], capture_output=True, text=True,
                              timeout=300)

    done = hamacho("backbones", "--export", "efficientnet_lite0", "--layers", "blocks.1,conv_head")
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (isolated_user_dirs / "graphs").iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".onnx")
    assert "blocks.1, conv_head" in done.stdout and "exported" in done.stdout
    listing = hamacho("backbones")
    assert listing.returncode == 0 and "efficientnet_lite0" in listing.stdout
    assert "runtime graph: bundled graph efficientnet_lite0.onnx" in listing.stdout
    bad = hamacho("backbones", "--export", "efficientnet_lite0", "--layers", "blocks.99")
    assert bad.returncode == 1 and "has no layer ['blocks.99']" in bad.stderr
