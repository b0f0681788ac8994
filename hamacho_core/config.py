"""Typed settings: a config dataclass field carries its label, range, help and default, once.

``setting(default, label=..., help=..., low=..., high=...)`` is a ``dataclasses.field`` whose metadata
the command line (:func:`add_options`, :func:`options_to_fields`) and the GUI's forms read, so no
default or range is declared twice.  ``cli``/``gui`` say where a field is offered; ``step`` is the
GUI's increment; ``special`` names what ``None`` means (e.g. "backbone default").
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A setting of the wrong type or outside its range; the message names the field and the range."""


def check_int(name: str, value, low: int, high: int, allowed: str | None = None) -> int:
    """``value`` as an int if it is a whole number (not a bool or text) in ``[low, high]``, else ConfigError."""
    allowed = allowed or f"a whole number from {low} to {high}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {allowed}, got {value}")
    return int(value)


def check_float(name: str, value, low: float, high: float, allowed: str | None = None) -> float:
    """``value`` as a float if it is a finite number in ``[low, high]``, else ConfigError."""
    allowed = allowed or f"a number from {low:g} to {high:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{name} must be {allowed}, got {value}")
    return float(value)


@dataclass(frozen=True)
class Setting:
    label: str
    help: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[str, ...] | None = None
    special: str | None = None  #: what None means, for fields that may be None
    cli: bool = True
    gui: bool = False
    flag: str | None = None  #: command-line name when it is not ``--field-name``
    #: the value model files written before this setting existed were made with (None: the default)
    legacy: Any = None


def setting(default: Any, *, label: str, help: str, low: float | None = None, high: float | None = None,  # noqa: A002
            step: float | None = None, choices: tuple[str, ...] | None = None, special: str | None = None,
            cli: bool = True, gui: bool = False, flag: str | None = None, legacy: Any = None) -> Any:
    """A dataclass field with its :class:`Setting` (immutable defaults only)."""
    meta = Setting(label, help, low, high, step, choices, special, cli, gui, flag, legacy)
    return dataclasses.field(default=default, metadata={"setting": meta})


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str  #: "int", "float", "str", "bool", "layers", "roi", "size" (a side or (width, height))
    default: Any
    setting: Setting

    @property
    def flag(self) -> str:
        return self.setting.flag or "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """Help text with range and default, e.g. ``Input size in pixels (32 to 2048; default 256)``."""
        parts = []
        # choices: argparse lists them
        if not self.setting.choices and self.setting.low is not None and self.setting.high is not None:
            low, high = self.setting.low, self.setting.high
            parts.append(f"{int(low)} to {int(high)}" if self.type in ("int", "size") else f"{low:g} to {high:g}")
        default = self.setting.special if self.default is None and self.setting.special else self.default
        if isinstance(default, tuple):
            default = ",".join(default)
        parts.append(f"default {default}")
        return f"{self.setting.help} ({'; '.join(parts)})"


def _kind(annotation: str) -> str:
    text = str(annotation)
    if "tuple[int, int]" in text:
        return "size"
    if "tuple[str" in text:
        return "layers"
    if "tuple[tuple[float" in text:
        return "roi"
    for name in ("bool", "int", "float", "str"):
        if text.startswith(name):
            return name
    raise TypeError(f"no setting type for annotation {text!r}")


def fields_of(cls: type) -> list[FieldInfo]:
    """The fields of config dataclass ``cls`` that carry a :class:`Setting`, in declaration order."""
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("setting")
        if meta is not None:
            out.append(FieldInfo(f.name, _kind(f.type), f.default, meta))
    return out


def field_info(cls: type, name: str) -> FieldInfo:
    for info in fields_of(cls):
        if info.name == name:
            return info
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def default(cls: type, name: str) -> Any:
    """The one default of a field (e.g. ``default(ModelConfig, "image_size")``)."""
    return field_info(cls, name).default


def check_settings(config) -> None:
    """Type and range of every numeric, boolean and choice field of ``config`` (in place), from its
    :class:`Setting`: ``None`` is allowed where the setting names what it means (``special``)."""
    for info in fields_of(type(config)):
        value, s = getattr(config, info.name), info.setting
        if value is None and s.special is not None:
            continue
        if info.type == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{info.name} must be True or False, got {value!r}")
        elif info.type in ("int", "float") and s.low is not None and s.high is not None:
            check = check_int if info.type == "int" else check_float
            low, high = (int(s.low), int(s.high)) if info.type == "int" else (s.low, s.high)
            what = (f"a whole number from {low} to {high}"
                    if info.type == "int" else f"a number from {low:g} to {high:g}")
            setattr(config, info.name, check(info.name, value, low, high,
                                             what + (", or None" if s.special is not None else "")))
        elif info.type == "size":
            setattr(config, info.name, check_size(info.name, value, int(s.low), int(s.high)))
        elif info.type == "str":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{info.name} must be a name (text), got {value!r}")
            if s.choices and value not in s.choices:
                raise ConfigError(f"{info.name} must be one of {', '.join(s.choices)}, got {value!r}")


def gui_fields(cls: type) -> list[FieldInfo]:
    return [info for info in fields_of(cls) if info.setting.gui]


def _union(classes) -> dict[str, tuple[FieldInfo, list[type]]]:
    merged: dict[str, tuple[FieldInfo, list[type]]] = {}
    for cls in classes:
        for info in fields_of(cls):
            if info.setting.cli:
                merged.setdefault(info.name, (info, []))[1].append(cls)
    return merged


def add_options(parser: argparse.ArgumentParser, classes, *, only: tuple[str, ...] | None = None,
                names: dict[type, str] | None = None) -> None:
    """``--option`` per command-line field of ``classes`` (the union; a field of some classes only says
    which).  Defaults stay ``None`` on the parser: the dataclass' default applies, declared once."""
    for name, (info, owners) in _union(classes).items():
        if only is not None and name not in only:
            continue
        help_text = info.describe()
        defaults = {cls: f.default for cls in owners for f in dataclasses.fields(cls) if f.name == name}
        if len(set(map(repr, defaults.values()))) > 1 and names:
            help_text = info.setting.help + " (default " + ", ".join(
                f"{names.get(cls, cls.__name__)} {value}" for cls, value in defaults.items()) + ")"
        if len(owners) < len(classes) and names:
            help_text += "; " + "/".join(names.get(cls, cls.__name__) for cls in owners) + " only"
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text.replace("%", "%%")}
        if info.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif info.type in ("int", "float"):
            kwargs["type"] = int if info.type == "int" else float
        elif info.type == "layers":
            kwargs["type"] = _layers
        elif info.type == "size":
            kwargs["type"] = parse_size
            kwargs["metavar"] = "SIZE|WxH"
        elif info.type == "roi":
            continue  # drawn in the GUI; stored in the model file
        if info.setting.choices:
            kwargs["choices"] = info.setting.choices
        parser.add_argument(info.flag, **kwargs)


def parse_size(text: str) -> int | tuple[int, int]:
    """``"256"`` -> 256, ``"256x640"`` (width x height) -> (256, 640); ValueError otherwise."""
    parts = [p.strip() for p in str(text).lower().replace("×", "x").split("x")]
    if len(parts) not in (1, 2) or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a size: {text!r} (give a side such as 256 or width x height such as 256x640)")
    values = [int(p) for p in parts]
    return values[0] if len(values) == 1 or values[0] == values[1] else (values[0], values[1])


parse_size.__name__ = "size"  # argparse's message: "invalid size value"


def check_size(name: str, value, low: int, high: int) -> int | tuple[int, int]:
    """A square side (int) or (width, height), each in ``[low, high]``; text like ``256x640`` is parsed."""
    if isinstance(value, str):
        try:
            value = parse_size(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ConfigError(f"{name} must be a side or (width, height), got {value!r}")
        w, h = (check_int(name, v, low, high, f"sides from {low} to {high}") for v in value)
        return w if w == h else (w, h)
    return check_int(name, value, low, high, f"a whole number from {low} to {high} or (width, height)")


def _layers(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def options_to_fields(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` the user gave on the command line (``None`` = not given)."""
    return {info.name: getattr(args, info.name) for info in fields_of(cls)
            if info.setting.cli and getattr(args, info.name, None) is not None}
