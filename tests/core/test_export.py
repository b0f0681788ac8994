"""``hamacho export``: a line application reproduces Hamacho's scores from the exported files with
onnxruntime and NumPy alone, following model.json (no Hamacho code used for the reproduction)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from hamacho_core.imageio import write_image
from hamacho_core.model_io import load_model, save_model
from hamacho_core.models import create_model
from hamacho_core.synthetic import make_samples

S = 64


def _gaussian_blur(image: np.ndarray, sigma: float, kernel: int) -> np.ndarray:
    """Separable Gaussian blur, reflect-101 borders (as model.json says), in NumPy."""
    half = kernel // 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    weights /= weights.sum()
    out = image.astype(np.float64)
    for axis in (0, 1):
        padded = np.pad(out, [(half, half) if a == axis else (0, 0) for a in (0, 1)], mode="reflect")
        out = sum(w * np.take(padded, np.arange(i, i + out.shape[axis]), axis=axis) for i, w in enumerate(weights))
    return out


def _bilinear(grid: np.ndarray, size: int) -> np.ndarray:
    """Half-pixel-centre bilinear upsampling of (h, w) to (size, size), in NumPy."""
    def axis_weights(n_in: int) -> np.ndarray:
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((size, n_in))
        m[np.arange(size), lo] += 1 - (src - lo)
        m[np.arange(size), hi] += src - lo
        return m
    return axis_weights(grid.shape[0]) @ grid.astype(np.float64) @ axis_weights(grid.shape[1]).T


def _reproduce(folder, image_rgb: np.ndarray) -> tuple[float, np.ndarray]:
    doc = json.loads((folder / "model.json").read_text())
    session = ort.InferenceSession(str(folder / doc["graph"]["file"]), providers=["CPUExecutionProvider"])
    size = doc["preprocessing"]["resize"][0]
    assert image_rgb.shape[:2] == (size, size)  # already at the model's size: no resize needed
    x = (image_rgb.astype(np.float32) * np.float32(doc["preprocessing"]["scale"])).transpose(2, 0, 1)[None]
    emb = session.run([doc["graph"]["output"]], {doc["graph"]["input"]: np.ascontiguousarray(x)})[0][0]
    d, h, w = emb.shape
    q = emb.reshape(d, -1).T.astype(np.float64)  # (P, D), row-major grid positions
    if "whiten_matrix" in doc["arrays"]:  # whitened PatchCore: q = (e - mean) @ W first, as scoring says
        assert "whiten_mean" in doc["scoring"]["whitening"]
        q = (q - np.load(folder / doc["arrays"]["whiten_mean"])) @ np.load(folder / doc["arrays"]["whiten_matrix"])
    if doc["model"] in ("patchcore", "mhpatchcore"):
        bank = np.load(folder / doc["arrays"]["memory_bank"]).astype(np.float64)
        dist = np.sqrt(np.maximum(((q[:, None, :] - bank[None]) ** 2).sum(-1), 0))  # (P, M)
        patch = dist.min(axis=1)
        worst = int(patch.argmax())
        m = bank[dist[worst].argmin()]
        k = doc["scoring"]["num_neighbors"]
        neighbours = bank[np.argsort(((bank - m) ** 2).sum(1), kind="stable")[:k]]
        s = np.linalg.norm(q[worst] - neighbours, axis=1)
        score = patch[worst] * (1 - math.exp(s[0]) / np.exp(s).sum()) if k > 1 else patch[worst]
        grid = patch.reshape(h, w)
    else:
        mean = np.load(folder / doc["arrays"]["mean"]).astype(np.float64)
        inv = np.load(folder / doc["arrays"]["inv_cov"]).astype(np.float64)
        delta = q - mean.T
        grid = np.sqrt(np.maximum(np.einsum("pd,pde,pe->p", delta, inv, delta), 0)).reshape(h, w)
        score = None
    post = doc["postprocessing"]
    final = _gaussian_blur(_bilinear(grid, post["map_size"][0]), post["blur"]["sigma"], post["blur"]["kernel"])
    if score is None:  # the image score from the map, as model.json says (PaDiM: the mean of its top share)
        top = doc["scoring"].get("image_score_top_percent", 0.0)
        n = max(1, round(top / 100 * final.size)) if top > 0 else 1
        score = float(np.sort(final.ravel())[-n:].mean())
        assert (top > 0) == ("highest n values" in doc["scoring"]["image_score"])
    return float(score), final


@pytest.mark.parametrize("kind", ["patchcore", "padim", "mhpatchcore"])
def test_export_reproduces_scores_with_onnxruntime_and_numpy(kind, tmp_path):
    train = [s.image for s in make_samples("part", 8, 0, size=S, seed=51)]
    test = make_samples("part", 2, 2, size=S, seed=52)
    fields = {"patchcore": {"coreset_ratio": 0.2}, "padim": {"n_features": 40}, "mhpatchcore": {"bank_size": 200}}
    model = create_model(kind, backbone="efficientnet_lite0", image_size=S, **fields[kind])
    model.fit(train)
    path = save_model(model, tmp_path / "m.hmc")
    out = tmp_path / "export"
    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "export", str(path), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.md", "embedding.onnx", "model.json"]
        + {"patchcore": ["memory_bank.npy"], "padim": ["inv_cov.npy", "mean.npy"],
           "mhpatchcore": ["memory_bank.npy", "whiten_matrix.npy", "whiten_mean.npy"]}[kind])
    doc = json.loads((out / "model.json").read_text())
    loaded = load_model(path)
    for sample in test:
        write_image(tmp_path / "x.png", sample.image)  # what a line application would read
        pred = loaded.predict(tmp_path / "x.png")
        score, final = _reproduce(out, sample.image)
        assert score == pytest.approx(float(pred.image_scores[0]), rel=1e-4)
        span = float(np.ptp(pred.anomaly_maps[0]))
        assert np.abs(final - pred.anomaly_maps[0]).max() <= 1e-3 * span
        verdict = "NG" if score >= doc["thresholds"]["image"] else "OK"
        assert [verdict] == pred.verdicts or doc["thresholds"]["review"] is not None


def test_export_of_unknown_format_is_refused(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "export", str(tmp_path / "m.hmc"),
                           "--format", "tflite"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice" in done.stderr
