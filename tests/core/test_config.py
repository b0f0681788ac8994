"""Typed configs are the one source of defaults, ranges and help: the CLI is generated from them."""

from __future__ import annotations

import dataclasses

import pytest

from hamacho_core import config
from hamacho_core.cli import build_parser, main
from hamacho_core.models import REGISTRY, ModelConfig, PadimConfig, PatchCoreConfig


def test_cli_options_carry_the_dataclass_defaults_and_ranges():
    text = " ".join(build_parser()._subparsers._group_actions[0].choices["fit"].format_help().split())
    size = config.field_info(ModelConfig, "image_size")
    assert f"({int(size.setting.low)} to {int(size.setting.high)}; default {size.default})" in text
    ratio = config.field_info(PatchCoreConfig, "coreset_ratio")
    assert ratio.default is None and "(0.001 to 1; default auto); PatchCore/PatchCore (whitened) only" in text
    args = build_parser().parse_args(["fit", "data", "-o", "m.hmc"])
    assert config.options_to_fields(args, PatchCoreConfig) == {}, "no default re-declared on the parser"
    args = build_parser().parse_args(["fit", "data", "-o", "m.hmc", "--image-size", "96", "--coreset-ratio", "0.3"])
    assert config.options_to_fields(args, PatchCoreConfig) == {"image_size": 96, "coreset_ratio": 0.3}


def test_one_default_backbone_everywhere():
    assert ModelConfig().backbone == PatchCoreConfig().backbone == PadimConfig().backbone == "efficientnet_lite0"
    assert build_parser().parse_args(["demo"]).backbone is None  # the dataclass decides


def test_ranges_come_from_the_settings(tmp_path):
    with pytest.raises(config.ConfigError, match="coreset_ratio must be a number from 0.001 to 1"):
        PatchCoreConfig(coreset_ratio=2.0)
    with pytest.raises(config.ConfigError, match="image_size must be a whole number from 32 to 8192"):
        ModelConfig(image_size=9000)
    with pytest.raises(config.ConfigError, match="image_size must be at most 2048 px a side with geometry 'fixed'"):
        ModelConfig(image_size=4096)
    with pytest.raises(config.ConfigError, match="image_size must be sides from 32 to 8192"):
        ModelConfig(image_size=(16, 256))
    with pytest.raises(config.ConfigError, match="geometry must be one of fixed, aspect, tiles"):
        ModelConfig(geometry="letterbox")
    with pytest.raises(config.ConfigError, match="threads must be a whole number from 1 to 256, or None"):
        ModelConfig(threads=0)
    assert main(["fit", str(tmp_path), "-o", str(tmp_path / "m.hmc"), "--n-features", "8"]) == 1


def test_every_gui_field_has_a_range_and_help():
    for spec in REGISTRY.values():
        for info in config.gui_fields(spec.config_cls):
            if info.setting.choices:
                assert info.default in info.setting.choices and info.setting.help
                continue
            assert info.setting.low is not None and info.setting.high is not None and info.setting.help
            assert info.setting.low <= (info.default if info.default is not None else info.setting.low) \
                <= info.setting.high
        names = {f.name for f in dataclasses.fields(spec.config_cls)}
        assert "image_size" in names
