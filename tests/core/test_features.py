"""Tests for the multi-layer FeatureExtractor: normalisation, shapes, layer checks, determinism,
memory formats and inference-only behaviour.

ResNet-18 runs with random weights (``pretrained=False``) wherever only shapes or behaviour matter:
its ImageNet weights are not on this offline machine.  EfficientNet-Lite0's weights are bundled, so
it runs pretrained.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models import feature_extraction

from hamacho_core import backbones, efficientnet_lite
from hamacho_core.features import FeatureExtractor, resolve_device

LITE0 = "efficientnet_lite0"


@pytest.fixture(scope="module")
def lite0() -> FeatureExtractor:
    return FeatureExtractor(LITE0, ["blocks.2", "blocks.4"], pretrained=True, allow_download=False)


@pytest.fixture(scope="module")
def resnet18() -> FeatureExtractor:
    # Random weights: these tests only look at shapes and behaviour.
    return FeatureExtractor("resnet18", ["layer1", "layer2", "layer3"], pretrained=False)


def _images(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# --- normalisation ------------------------------------------------------------------------------


def test_lite0_normalisation_is_tf_lite_preprocessing(lite0):
    assert lite0.mean.shape == lite0.std.shape == (1, 3, 1, 1)
    assert torch.equal(lite0.mean.flatten(), torch.full((3,), 127 / 255))
    assert torch.equal(lite0.std.flatten(), torch.full((3,), 128 / 255))
    x = _images(2, 3, 8, 8)
    x[0, :, 0, 0], x[0, :, 0, 1] = 0.0, 1.0
    normalised = (x - lite0.mean) / lite0.std
    torch.testing.assert_close(normalised, (x * 255 - 127) / 128, rtol=0, atol=1e-6)
    torch.testing.assert_close(normalised[0, :, 0, 0], torch.full((3,), -127 / 128), rtol=0, atol=1e-6)
    torch.testing.assert_close(normalised[0, :, 0, 1], torch.ones(3), rtol=0, atol=1e-6)


def test_lite0_network_receives_the_normalised_input(lite0):
    """End to end: the extractor on [0, 1] images equals the bare network on (x*255-127)/128."""
    model = efficientnet_lite.load_pretrained()
    body = feature_extraction.create_feature_extractor(
        model, return_nodes=["blocks.2", "blocks.4"], tracer_kwargs=efficientnet_lite.tracer_kwargs())
    x = _images(1, 3, 96, 96, seed=1)
    with torch.inference_mode():
        expected = body((x * 255 - 127) / 128)
        unnormalised = body(x)
        got = lite0(x)
    torch.testing.assert_close(got[0], expected["blocks.2"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got[1], expected["blocks.4"], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(got[0], unnormalised["blocks.2"], rtol=1e-2, atol=1e-2)


def test_torchvision_backbones_use_imagenet_statistics(resnet18):
    assert torch.allclose(resnet18.mean.flatten(), torch.tensor(backbones.IMAGENET_MEAN))
    assert torch.allclose(resnet18.std.flatten(), torch.tensor(backbones.IMAGENET_STD))


# --- shapes and layer choice --------------------------------------------------------------------


def test_resnet18_output_shapes_non_square(resnet18):
    with torch.inference_mode():
        out = resnet18(_images(2, 3, 96, 128))
    assert isinstance(out, list) and len(out) == 3
    assert [tuple(t.shape) for t in out] == [(2, 64, 24, 32), (2, 128, 12, 16), (2, 256, 6, 8)]
    assert all(t.dtype == torch.float32 and t.is_contiguous() for t in out)


def test_lite0_output_shapes(lite0):
    with torch.inference_mode():
        out = lite0(_images(3, 3, 128, 128))
    assert [tuple(t.shape) for t in out] == [(3, 40, 16, 16), (3, 112, 8, 8)]
    assert all(t.is_contiguous() for t in out)


def test_outputs_follow_requested_layer_order():
    # Random weights: only the order of the outputs matters here.
    fe = FeatureExtractor("resnet18", ["layer3", "layer1"], pretrained=False)
    assert fe.layers == ("layer3", "layer1")
    with torch.inference_mode():
        out = fe(_images(1, 3, 64, 64))
    assert [t.shape[1] for t in out] == [256, 64]


def test_graph_is_cut_after_the_deepest_chosen_layer():
    # Random weights: only the graph's structure is checked.
    fe = FeatureExtractor("resnet18", ["layer1", "layer2"], pretrained=False)
    names = [name for name, _ in fe.body.named_parameters()]
    assert any(name.startswith("layer2.") for name in names)
    assert not any(name.startswith(("layer3", "layer4", "fc")) for name in names)


@pytest.mark.parametrize("layer", ["layer1", "layer2", "layer3", "layer4"])
def test_listed_channels_and_strides_match_extracted_maps(layer):
    # Random weights: only shapes are compared with list_layers.
    info = {i.name: i for i in backbones.list_layers("resnet18")}[layer]
    fe = FeatureExtractor("resnet18", [layer], pretrained=False)
    with torch.inference_mode():
        (out,) = fe(_images(1, 3, 128, 128))
    assert out.shape[1] == info.channels
    assert 128 // out.shape[-1] == info.stride


def test_container_layer_channels_match_extracted_map():
    # Random weights: only shapes are compared with list_layers.
    info = {i.name: i for i in backbones.list_layers("mobilenet_v3_small")}
    fe = FeatureExtractor("mobilenet_v3_small", ["features"], pretrained=False)
    with torch.inference_mode():
        (out,) = fe(_images(1, 3, 64, 64))
    assert out.shape[1] == 576 == info["features.12"].channels
    assert info["features"].channels == out.shape[1]


def test_unknown_layer_lists_valid_ones():
    with pytest.raises(ValueError, match="resnet18 has no layer") as info:
        FeatureExtractor("resnet18", ["layer2", "layer9"], pretrained=False)
    message = str(info.value)
    assert "layer9" in message
    assert all(name in message for name in ("'layer1'", "'layer2'", "'layer3'", "'layer4'"))
    with pytest.raises(ValueError, match="blocks.2"):
        FeatureExtractor(LITE0, ["layer2"], pretrained=True, allow_download=False)


# --- behaviour ----------------------------------------------------------------------------------


def test_outputs_are_deterministic(lite0, resnet18):
    x = _images(2, 3, 64, 64, seed=3)
    with torch.inference_mode():
        first, second = lite0(x), lite0(x)
        assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
        again = FeatureExtractor(LITE0, ["blocks.2", "blocks.4"], pretrained=True, allow_download=False)(x)
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # bundled weights: same net
        r1, r2 = resnet18(x), resnet18(x)
        assert all(torch.equal(a, b) for a, b in zip(r1, r2, strict=True))
        other = lite0(_images(2, 3, 64, 64, seed=4))
    assert not torch.allclose(first[0], other[0])  # the output does depend on the input


def test_batch_items_are_independent(resnet18):
    """Eval mode (running BatchNorm statistics): an image's features do not depend on its batch."""
    x = _images(3, 3, 64, 64, seed=5)
    with torch.inference_mode():
        batch = resnet18(x)
        single = resnet18(x[1:2])
    for b, s in zip(batch, single, strict=True):
        torch.testing.assert_close(b[1:2], s, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", LITE0])
def test_channels_last_and_contiguous_input_alike(name, lite0, resnet18):
    fe = {"resnet18": resnet18, LITE0: lite0}[name]
    x = _images(2, 3, 64, 64, seed=6)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    assert not channels_last.is_contiguous() and torch.equal(channels_last, x)
    with torch.inference_mode():
        a, b = fe(x), fe(channels_last)
    for ta, tb in zip(a, b, strict=True):
        torch.testing.assert_close(ta, tb, rtol=1e-5, atol=1e-6)
        assert ta.is_contiguous() and tb.is_contiguous()


def test_no_gradients_and_no_state_change(resnet18):
    assert not resnet18.training and not resnet18.body.training
    assert all(not p.requires_grad for p in resnet18.parameters())
    buffers = {name: b.clone() for name, b in resnet18.named_buffers()}
    x = _images(2, 3, 64, 64, seed=7)
    with torch.enable_grad():  # even where autograd is on, nothing is tracked
        out = resnet18(x)
    assert all(not t.requires_grad and t.grad_fn is None for t in out)
    for name, value in resnet18.named_buffers():  # BatchNorm running stats untouched
        assert torch.equal(value, buffers[name]), name


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")
