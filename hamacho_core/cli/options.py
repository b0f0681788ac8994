"""Options several commands share, generated from the settings declared once in the config dataclasses."""

from __future__ import annotations

import argparse


def config_classes() -> list[type]:
    from hamacho_core.models import REGISTRY

    return [spec.config_cls for spec in REGISTRY.values()]


def model_options(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """Options generated from the config dataclasses (label, range, help and default declared there)."""
    from hamacho_core.config import add_options
    from hamacho_core.models import REGISTRY

    add_options(parser, config_classes(), only=only,
                names={spec.config_cls: spec.name for spec in REGISTRY.values()})


def add_runtime_options(parser: argparse.ArgumentParser, default_runtime: str | None = "auto") -> None:
    """``--runtime`` and ``--threads`` (shared by inspect, eval and live; fit and demo generate theirs)."""
    from hamacho_core.config import field_info
    from hamacho_core.models import ModelConfig

    runtime, threads = field_info(ModelConfig, "runtime"), field_info(ModelConfig, "threads")
    parser.add_argument("--runtime", choices=runtime.setting.choices, default=default_runtime, help=runtime.describe())
    parser.add_argument("--threads", type=int, default=None, help=threads.describe())


def kinds() -> list[str]:
    from hamacho_core.models import REGISTRY

    return list(REGISTRY)
