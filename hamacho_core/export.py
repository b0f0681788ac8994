"""``hamacho export``: a model as plain files for a line application (C++, C#, ...) to reproduce its scores.

The folder holds the embedding graph (``embedding.onnx``), the fitted state as NumPy ``.npy`` arrays
(little-endian float32, C order), ``model.json`` (pre- and post-processing, thresholds, verdict rule)
and ``README.md`` saying step by step how to compute a score.  Files are written atomically.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from hamacho_core import __version__, graphs
from hamacho_core.fileio import atomic_write_bytes
from hamacho_core.models import AnomalyModel

FORMATS = ("onnx",)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")), allow_pickle=False)
    return buffer.getvalue()


def describe(model: AnomalyModel, arrays: dict[str, str]) -> dict:
    """The JSON description of how ``model`` turns an image into scores and a verdict."""
    cfg, pre, judge = model.config, model.preprocess, model.judge
    blur = cfg.blur_sigma
    doc = {
        "format": "hamacho-export", "version": 1, "app_version": __version__, "model": model.kind,
        "backbone": cfg.backbone, "layers": list(model.layers),
        "graph": {"file": "embedding.onnx", "input": graphs.INPUT, "output": graphs.OUTPUT,
                  "input_layout": "NCHW float32, RGB, values in [0, 1] (backbone normalisation is inside)",
                  "output_layout": "N x D x h x w float32 patch embeddings"},
        "preprocessing": {
            "decode": "8-bit RGB (16-bit / 257, grey repeated to 3 channels, alpha dropped)",
            "roi": None if cfg.roi is None else [list(p) for p in cfg.roi],
            "roi_rule": "crop to the bounding box of the normalised points (x, y); a polygon (3+ points) "
                        "blanks pixels outside it to 0",
            "resize": [pre.width, pre.height],
            "interpolation": "area when the image is larger than the size in either axis, else bilinear "
                             "(OpenCV INTER_AREA / INTER_LINEAR)",
            "center_crop": cfg.center_crop, "scale": 1.0 / 255.0,
        },
        "postprocessing": {
            "map_size": [pre.output_shape[1], pre.output_shape[0]],
            "size_order": "width, height",
            "upsample": "bilinear, half-pixel centres (OpenCV INTER_LINEAR, PyTorch align_corners=False)",
            "blur": {"sigma": blur, "kernel": 2 * int(4.0 * blur + 0.5) + 1,
                     "border": "reflect-101 (OpenCV BORDER_REFLECT_101)"} if blur > 0 else None,
        },
        "arrays": arrays,
        "thresholds": {"image": judge.image, "pixel": judge.pixel, "review": judge.review,
                       "image_low": judge.image_scale.low, "pixel_low": judge.pixel_scale.low},
        "normalised_score": "raw < t: 0.5 * (raw - low) / (t - low); else 0.5 + 0.5 * (raw - t) / (t - low); "
                            "clipped to [0, 1] (t = threshold, low = *_low)",
        "verdict": "NG if image score >= image threshold (or not a number); REVIEW if review is set and "
                   "score >= review; else OK.  Defect pixels: blurred map >= pixel threshold",
    }
    doc["scoring"] = model.export_scoring()
    return doc


_README = """# Hamacho model export

Reproduce the scores of `{name}` ({kind}, backbone {backbone}) without Hamacho:

1. Pre-process the image as `model.json` → `preprocessing` says (RGB, resize to {size} (width x height),
   scale to [0, 1], NCHW float32).
2. Run `embedding.onnx` (ONNX Runtime or any ONNX runtime, opset {opset}): input `{input}`, output `{output}`
   (N x D x h x w).
3. Score every patch as `model.json` → `scoring` says, with the arrays listed under `arrays` (`.npy` files:
   NumPy's documented format, little-endian float32, C order; C++ readers: cnpy, xtensor; C#: NumSharp).
4. Upsample and blur the map (`postprocessing`), then apply `thresholds` and the `verdict` rule.

Tested: Hamacho's test suite recomputes its scores from these files with onnxruntime and NumPy alone.
"""


def export_model(model: AnomalyModel, out_dir: str | Path, *, fmt: str = "onnx", name: str = "model") -> list[Path]:
    """Write the export folder; returns the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(FORMATS)}")
    if model.tiler is not None:
        raise ValueError("tiled models cannot be exported yet: the export describes one whole-image pass "
                         "(inspect them with Hamacho, or train with geometry 'fixed' or 'aspect')")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arrays = model.export_arrays()
    files = {"embedding.onnx": model.runtime_graph()}
    files.update({f"{key}.npy": _npy_bytes(np.asarray(value, np.float32)) for key, value in arrays.items()})
    doc = describe(model, {key: f"{key}.npy" for key in arrays})
    files["model.json"] = json.dumps(doc, indent=2).encode()
    files["README.md"] = _README.format(name=name, kind=model.kind, backbone=model.config.backbone,
                                        size=f"{model.preprocess.width}x{model.preprocess.height}", opset=graphs.OPSET,
                                        input=graphs.INPUT, output=graphs.OUTPUT).encode()
    return [atomic_write_bytes(out / file, data) for file, data in files.items()]
