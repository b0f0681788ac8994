"""The user's model library: the ``.hmc`` files in ``user_data_dir()/"models"``, and the numbers the
model manager shows (backbones and their weights, memory-bank size estimates).

Listing and importing read only a file's manifest (:func:`hamacho_core.model_io.read_manifest`):
nothing is unpickled and no model is built.  Files are never overwritten: imports and duplicates get
a free name (``part (2).hmc``), renames onto an existing name are refused.  Copies are atomic (a
hidden temporary file in the library folder, checked, then linked or renamed into place).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hamacho_core import backbones
from hamacho_core.model_io import SUFFIX, ModelFileError, read_manifest
from hamacho_core.models import DEFAULT_KIND, model_spec
from hamacho_core.paths import user_data_dir

#: Characters refused in model names (path separators, and those Windows forbids in file names).
_BAD_CHARS = set('/\\<>:"|?*')
_NUMBERED = re.compile(r"^(.*) \((\d+)\)$")
_MB = 2**20


@dataclass(frozen=True)
class ModelEntry:
    """One file of the library: its manifest, or why it cannot be read (listed, never hidden)."""

    path: Path
    manifest: dict | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.error is None

    @property
    def name(self) -> str:
        return self.path.stem

    def _get(self, *keys, default=None):
        value = self.manifest
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return value

    @property
    def kind(self) -> str | None:
        return self._get("model")

    @property
    def backbone(self) -> str | None:
        return self._get("backbone", "name")

    @property
    def layers(self) -> tuple[str, ...]:
        layers = self._get("layers", default=[])
        return tuple(str(layer) for layer in layers) if isinstance(layers, list) else ()

    @property
    def image_size(self) -> int | tuple[int, int] | None:
        """A square side or (width, height)."""
        size = self._get("preprocessing", "image_size")
        if size is None:
            size = self._get("config", "image_size")
        if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
            return tuple(size)
        return int(size) if isinstance(size, int | float) else None

    @property
    def size_text(self) -> str:
        """``256 px``, ``256x640 px``, or '' when unknown."""
        size = self.image_size
        if size is None:
            return ""
        return f"{size} px" if isinstance(size, int) else f"{size[0]}x{size[1]} px"

    @property
    def thresholds(self) -> dict[str, float | None]:
        """Raw thresholds: ``{"image": ..., "pixel": ...}`` (None where unknown)."""
        out: dict[str, float | None] = {}
        for level in ("image", "pixel"):
            value = self._get("thresholds", level, "threshold")
            out[level] = float(value) if isinstance(value, int | float) else None
        return out

    @property
    def n_train(self) -> int | None:
        """Number of good images the model learned from, when the file records it."""
        training = self._get("training", default={})
        if not isinstance(training, dict):
            return None
        for key in ("n_train", "n_images"):
            if isinstance(training.get(key), int):
                return training[key]
        files = training.get("train_files")
        return len(files) if isinstance(files, list) else None

    @property
    def auto_summary(self) -> str | None:
        """"Chosen automatically: <winner> (<why>)" when the settings came from ``fit --auto``, else None."""
        auto = self._get("training", "auto")
        if not isinstance(auto, dict) or not isinstance(auto.get("winner"), str):
            return None
        why = auto.get("why")
        return f"Chosen automatically: {auto['winner']}" + (f" ({why})" if isinstance(why, str) and why else "")

    @property
    def created(self) -> datetime | None:
        """When the model was saved (timezone-aware), or None."""
        value = self._get("created")
        if not isinstance(value, str):
            return None
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None


def library_dir() -> Path:
    """The model library folder (not created here)."""
    return user_data_dir() / "models"


def _folder(folder: Path | None) -> Path:
    return Path(folder) if folder is not None else library_dir()


def read_entry(path: Path) -> ModelEntry:
    """The library entry of one file; an unreadable file gets its error message, never an exception."""
    path = Path(path)
    try:
        return ModelEntry(path, read_manifest(path), None)
    except ModelFileError as exc:
        return ModelEntry(path, None, str(exc))
    except OSError as exc:
        return ModelEntry(path, None, f"{path.name} cannot be read: {exc.strerror or exc}")


def list_models(folder: Path | None = None) -> list[ModelEntry]:
    """Every ``*.hmc`` file of the folder (default: the library), sorted by name (case-insensitive)."""
    folder = _folder(folder)
    if not folder.is_dir():
        return []
    paths = [p for p in folder.iterdir()
             if p.suffix.lower() == SUFFIX and not p.name.startswith(".") and p.is_file()]
    paths.sort(key=lambda p: (p.stem.casefold(), p.stem))
    return [read_entry(p) for p in paths]


def validate_name(name: str) -> str:
    """The model name (file stem) to use, or :class:`ValueError` saying why it is not acceptable."""
    stem = str(name).strip()
    if stem.lower().endswith(SUFFIX):
        stem = stem[: -len(SUFFIX)].strip()
    if not stem:
        raise ValueError("the model name is empty")
    bad = sorted({c for c in stem if c in _BAD_CHARS or ord(c) < 32})
    if bad:
        shown = " ".join(repr(c) if ord(c) >= 32 else f"\\x{ord(c):02x}" for c in bad)
        raise ValueError(f"invalid model name {stem!r}: it must not contain {shown}")
    if stem.startswith("."):
        raise ValueError(f"invalid model name {stem!r}: it must not start with a dot")
    if stem.endswith("."):
        raise ValueError(f"invalid model name {stem!r}: it must not end with a dot")
    if len((stem + SUFFIX).encode("utf-8")) > 255:
        raise ValueError("the model name is too long")
    return stem


def _candidates(folder: Path, stem: str):
    """``stem.hmc``, then ``base (2).hmc``, ``base (3).hmc``, ... (``base`` without any `` (n)``)."""
    yield folder / f"{stem}{SUFFIX}"
    match = _NUMBERED.match(stem)
    base, start = (match.group(1), int(match.group(2)) + 1) if match else (stem, 2)
    n = start
    while True:
        yield folder / f"{base} ({n}){SUFFIX}"
        n += 1


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def unique_path(folder: Path, stem: str) -> Path:
    """The first free ``stem.hmc`` / ``stem (n).hmc`` in ``folder``."""
    return next(p for p in _candidates(folder, stem) if not _exists(p))


def _place_without_overwrite(tmp: Path, folder: Path, stem: str) -> Path:
    """Move the finished temporary file to the first free name, never replacing a file.

    A hard link fails if the name was taken in the meantime (then the next name is tried); where
    links are unsupported, the name is checked and the file renamed.
    """
    for target in _candidates(folder, stem):
        if _exists(target):
            continue
        try:
            os.link(tmp, target)
        except FileExistsError:
            continue
        except OSError:  # no hard links here (e.g. FAT, some network shares)
            if _exists(target):
                continue
            os.replace(tmp, target)
            return target
        os.unlink(tmp)
        return target
    raise AssertionError("unreachable")


def _atomic_copy(src: Path, folder: Path, stem: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{stem}.{uuid.uuid4().hex[:8]}.part"
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "r+b") as fh:
            os.fsync(fh.fileno())
        read_manifest(tmp)  # the copy is complete and still a valid model file
        return _place_without_overwrite(tmp, folder, stem)
    finally:
        with suppress(OSError):
            os.unlink(tmp)


def import_model(src: Path, folder: Path | None = None, name: str | None = None) -> ModelEntry:
    """Copy a model file into the library after checking that it is a readable Hamacho model.

    Raises :class:`~hamacho_core.model_io.ModelFileError` (not a model, damaged, too new: nothing is
    copied), :class:`ValueError` for an invalid ``name``, :class:`OSError` when the copy fails.  An
    existing file is never replaced: the copy gets a free name (``name (2).hmc``).
    """
    src = Path(src)
    read_manifest(src)  # validates before anything is written
    stem = validate_name(name if name is not None else src.stem)
    target = _atomic_copy(src, _folder(folder), stem)
    return read_entry(target)


def _existing_model(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    return path


def rename_model(path: Path, new_name: str) -> Path:
    """Rename a model file in its folder (``new_name`` with or without ``.hmc``); returns the new path.

    Raises :class:`FileNotFoundError`, :class:`ValueError` (invalid name) or :class:`FileExistsError`.
    """
    path = _existing_model(path)
    stem = validate_name(new_name)
    target = path.with_name(f"{stem}{SUFFIX}")
    if target == path:
        return path
    if _exists(target):
        if os.path.samefile(target, path):  # a change of case on a case-insensitive file system
            os.rename(path, target)
            return target
        raise FileExistsError(f"a model named {stem!r} already exists")
    try:
        os.link(path, target)  # fails instead of replacing a file created meanwhile
    except FileExistsError:
        raise FileExistsError(f"a model named {stem!r} already exists") from None
    except OSError:
        os.rename(path, target)
        return target
    os.unlink(path)
    return target


def duplicate_model(path: Path) -> Path:
    """A copy of the model file next to it, under a free name (``name (2).hmc``)."""
    path = _existing_model(path)
    return _atomic_copy(path, path.parent, path.stem)


def delete_model(path: Path) -> None:
    """Delete a model file (only ``.hmc`` files; folders and other files are refused)."""
    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        raise ValueError(f"{path.name} is not a model file ({SUFFIX}): not deleted")
    _existing_model(path).unlink()


# --- estimates and backbone overview --------------------------------------------------------------


def feature_dim_of(backbone: str, layers, feature_dim: int | None = 1024) -> tuple[int, int]:
    """(sum of the layers' channels, patch feature width after the ``feature_dim`` cap); ``layers`` empty or
    None: the backbone's PatchCore defaults."""
    layers = tuple(layers) if layers else model_spec(DEFAULT_KIND).default_layers(backbone)
    channels = sum(info.channels for info in backbones.layer_infos(backbone, layers))
    return channels, channels if feature_dim is None else min(channels, int(feature_dim))


def backbone_rows() -> list[dict]:
    """One row per featured backbone for the model manager: weights state and file, default layers.

    Keys: ``name``, ``state`` (bundled / imported / cached / missing), ``weights_path``,
    ``weights_mb`` (None when missing), ``weights_filename``, ``weights_url``, ``description``,
    ``default_layers``, ``channels`` (of the default layers), ``feature_dim`` (capped at 1024, the
    PatchCore default) and ``error`` (None, or why this backbone cannot be described).
    """
    rows = []
    for name in backbones.available_names():
        row = {"name": name, "state": backbones.MISSING, "weights_path": None, "weights_mb": None,
               "weights_filename": None, "weights_url": None, "description": "", "default_layers": (),
               "channels": None, "feature_dim": None, "error": None}
        try:
            featured = backbones.featured_info(name)
            if featured.get("weights_url"):  # no torchvision import at start-up
                url = featured["weights_url"]
                row.update(description=featured["description"], weights_filename=url.rsplit("/", 1)[-1],
                           weights_url=url)
            else:
                spec = backbones.get_spec(name)
                row.update(description=spec.description, weights_filename=spec.weights_filename,
                           weights_url=spec.weights_url)
            status = backbones.weights_status(name)
            row["state"] = status.state
            if status.path is not None:
                row["weights_path"] = status.path
                row["weights_mb"] = status.path.stat().st_size / _MB
            layers = model_spec(DEFAULT_KIND).default_layers(name)
            channels, dim = feature_dim_of(name, layers)
            row.update(default_layers=layers, channels=channels, feature_dim=dim)
        except Exception as exc:  # noqa: BLE001 - one broken entry must not hide the others
            row["error"] = str(exc)
        rows.append(row)
    return rows
