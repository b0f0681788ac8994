"""High-resolution synthetic inspection images with small defects (the resolution work's test data).

Categories, at ``scale=1``:

* ``"plate"``: a 2048x2048 ground steel plate (fine grinding marks, slow lighting ramp, vignetting);
* ``"strip"``: a 600x1600 (wide x tall) commutator strip: copper segments separated by dark mica
  slots, as tall line-scan images are.

Defects are *small in pixels of the original image*, whatever its size: ``"hairline"`` (a thin
scratch, 1-2 px wide, 8-20 px long), ``"pinhole"`` (a dark round pit, 6-12 px across) and ``"speck"``
(a bright or dark particle, 8-20 px).  Squashed to 256x256, a 2048 px image shrinks them 8x: a
hairline becomes a fraction of one pixel, which is what makes this category a test of aspect-kept
and tiled inspection.  ``scale`` shrinks the canvas for quick tests (defects keep their pixel size).

As in :mod:`hamacho_core.synthetic`, a defective sample is the same instance, lighting and noise as
its good reference, so its mask is the thresholded difference; everything is determined by
``(category, index, defect, scale, seed)``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hamacho_core.synthetic import MASK_THRESHOLD, Sample, _lowfreq, _rng, _unit, _write_png

HIRES_CATEGORIES = {"plate": (2048, 2048), "strip": (600, 1600)}  #: name -> (width, height) at scale 1
HIRES_DEFECTS = ("hairline", "pinhole", "speck")
#: Longest side of a defect's mask, in pixels (the issue's 6-20 px; a hairline up to 20 px long).
DEFECT_EXTENT = (6, 24)


def _size(category: str, scale: float) -> tuple[int, int]:
    if category not in HIRES_CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {tuple(HIRES_CATEGORIES)}")
    if not 0.05 <= scale <= 1.0:
        raise ValueError("scale must be in [0.05, 1]")
    w, h = HIRES_CATEGORIES[category]
    return max(64, round(w * scale)), max(64, round(h * scale))


def _plate(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Ground steel: fine anisotropic grinding marks at a small random angle, mottling, a light ramp."""
    big = int(max(w, h) * 1.2)
    noise = rng.standard_normal((big, big)).astype(np.float32)
    marks = 9 * _unit(cv2.blur(noise, (31, 1))) + 4 * _unit(cv2.blur(noise, (7, 1)))
    m = cv2.getRotationMatrix2D((big / 2, big / 2), rng.uniform(-4, 4), 1.0)
    m[:, 2] -= ((big - w) / 2, (big - h) / 2)
    marks = cv2.warpAffine(marks, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = 12 * ((x - w / 2) * np.cos(ang) + (y - h / 2) * np.sin(ang)) / max(w, h)
    mottle = cv2.resize(_lowfreq(rng, 64, 6), (w, h), interpolation=cv2.INTER_CUBIC)
    v = 140 + marks + 5 * mottle + ramp
    return v[..., None] * np.array([0.97, 1.0, 1.04], np.float32)


def _strip(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Copper segments across the strip, separated by dark mica slots, with a slight pitch jitter."""
    pitch = rng.uniform(0.045, 0.055) * h
    phase = rng.uniform(0, pitch)
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    pos = np.mod(y + phase + 2.0 * np.sin(x / w * np.pi), pitch)
    slot = (pos < 0.12 * pitch).astype(np.float32)
    slot = cv2.GaussianBlur(np.broadcast_to(slot, (h, w)).copy(), (0, 0), 1.2)
    grain = 6 * _unit(cv2.blur(rng.standard_normal((h, w)).astype(np.float32), (1, 15)))
    edge = 1 - 0.25 * (np.abs(x - w / 2) / (w / 2)) ** 4  # the strip's curved edges catch less light
    copper = (165 + grain) * edge
    v = copper * (1 - slot) + 35 * slot
    return np.stack([v * 1.08, v * 0.78, v * 0.55], axis=-1)


_SCENES = {"plate": _plate, "strip": _strip}


def _defect(rng: np.random.Generator, kind: str, img: np.ndarray) -> np.ndarray:
    """``img`` with one small defect drawn at a random place away from the border."""
    h, w = img.shape[:2]
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    layer = np.zeros((h, w), np.float32)
    if kind == "hairline":
        length, angle = rng.uniform(8, 20), rng.uniform(0, np.pi)
        dx, dy = 0.5 * length * np.cos(angle), 0.5 * length * np.sin(angle)
        cv2.line(layer, (round(cx - dx), round(cy - dy)), (round(cx + dx), round(cy + dy)), 1.0,
                 thickness=int(rng.integers(1, 3)), lineType=cv2.LINE_AA)
        return img - 70 * layer[..., None]  # a dark groove
    if kind == "pinhole":
        cv2.circle(layer, (round(cx), round(cy)), round(rng.uniform(3, 6)), 1.0, -1, lineType=cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), 0.8)
        return img * (1 - 0.8 * layer[..., None])  # a dark pit
    axes = (round(rng.uniform(4, 10)), round(rng.uniform(3, 8)))
    cv2.ellipse(layer, (round(cx), round(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), 1.0)
    sign = 1 if rng.random() < 0.5 else -1
    return img + sign * 80 * layer[..., None]  # a bright or dark particle


def _generate(category: str, index: int, defect: str, scale: float, seed: int, with_defect: bool):
    if defect and defect not in HIRES_DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; expected one of {HIRES_DEFECTS}")
    if int(index) < 0:
        raise ValueError("index must be >= 0")
    w, h = _size(category, scale)
    space = "bad" if defect else "good"
    rng = _rng("hires", category, space, index, w, h, seed)
    scene = _SCENES[category](rng, w, h)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    vignette = 1 - rng.uniform(0.04, 0.1) * (((x - w / 2) ** 2 + (y - h / 2) ** 2) / ((w * w + h * h) / 4))
    gain = rng.uniform(0.96, 1.04)
    noise = rng.standard_normal((h, w, 3), dtype=np.float32) * rng.uniform(1.5, 2.5)

    def capture(img: np.ndarray) -> np.ndarray:
        return np.clip(img * vignette[..., None] * gain + noise + 0.5, 0, 255).astype(np.uint8)

    good = capture(scene)
    if not (defect and with_defect):
        return good, np.zeros((h, w), np.uint8)
    drng = _rng("hires", category, space, index, w, h, seed, defect)
    bad = capture(_defect(drng, defect, scene))
    diff = cv2.absdiff(bad, good).max(axis=2)
    mask = np.where(diff > MASK_THRESHOLD, 255, 0).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    return bad, cv2.dilate(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel), kernel)


def make_hires_sample(category: str, index: int, *, defect: str = "", scale: float = 1.0, seed: int = 0) -> Sample:
    """One sample (``defect=""``: good); its size is the category's times ``scale``."""
    image, mask = _generate(category, index, defect, scale, seed, True)
    return Sample(image=image, mask=mask, label=int(bool(defect)), defect=defect,
                  name=f"{defect or 'good'}_{index:03d}")


def make_hires_reference(category: str, index: int, *, defect: str = "", scale: float = 1.0,
                         seed: int = 0) -> np.ndarray:
    """The defect-free image of the same instance as ``make_hires_sample``."""
    return _generate(category, index, defect, scale, seed, False)[0]


def write_hires_dataset(root: Path, category: str = "plate", n_train_good: int = 20, n_test_good: int = 6,
                        n_test_bad: int = 9, *, scale: float = 1.0, seed: int = 0) -> dict:
    """A hamacho-layout dataset (``good/``, ``bad/``, ``mask/``) of the category; defects cycle through
    :data:`HIRES_DEFECTS`.  Images are written one at a time (a 2048x2048 image is 12 MB in memory)."""
    root = Path(root)
    dirs = {k: root / k for k in ("good", "bad", "mask")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    for i in range(n_train_good + n_test_good):
        smp = make_hires_sample(category, i, scale=scale, seed=seed)
        _write_png(dirs["good"] / f"{smp.name}.png", smp.image)
    counts = dict.fromkeys(HIRES_DEFECTS, 0)
    for i in range(n_test_bad):
        kind = HIRES_DEFECTS[i % len(HIRES_DEFECTS)]
        smp = make_hires_sample(category, i, defect=kind, scale=scale, seed=seed)
        _write_png(dirs["bad"] / f"{smp.name}.png", smp.image)
        _write_png(dirs["mask"] / f"{smp.name}.png", smp.mask)
        counts[kind] += 1
    w, h = _size(category, scale)
    return {"root": root, "category": category, "width": w, "height": h, "defects": counts,
            "n_good": n_train_good + n_test_good, "n_bad": n_test_bad}
