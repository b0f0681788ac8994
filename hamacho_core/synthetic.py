"""Deterministic synthetic industrial inspection images with pixel-accurate defect masks.

Categories: ``"texture"`` (brushed steel sheet filling the frame) and ``"part"`` (a turned
steel flange with six bolt holes on a dark conveyor belt).  Defects: ``"scratch"``,
``"spot"`` (stain / contamination) and ``"missing"`` (broken-off chunk / hole torn in the sheet).

Good images vary like real captures (pose jitter, lighting gain/offset, vignetting, sensor
noise, per-instance texture).  A defective sample is rendered from the very same instance
and noise as its good reference (see :func:`make_reference`), so its mask is simply the
thresholded difference between the two.  Everything is fully determined by
``(category, index, defect, size, seed)``.  Only numpy, OpenCV and the stdlib are used.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

CATEGORIES = ("texture", "part")
DEFECT_KINDS = ("scratch", "spot", "missing")

MASK_THRESHOLD = 10  # grey levels: a pixel is defective if any channel moved by more than this
_AREA_RANGE = (0.002, 0.08)  # accepted mask area fraction; defect parameters are redrawn otherwise


@dataclass(frozen=True)
class Sample:
    """One synthetic capture."""

    image: np.ndarray  # HxWx3 uint8 RGB
    mask: np.ndarray  # HxW uint8, 0 good / 255 defect
    label: int  # 0 good, 1 defective
    defect: str  # "" for good, else one of DEFECT_KINDS
    name: str  # stable file stem, e.g. "good_003" or "scratch_002"


def _rng(*parts: object) -> np.random.Generator:
    ent = [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) % 2**64 for p in parts]
    return np.random.default_rng([0x4A3C, *ent])


@lru_cache(maxsize=4)
def _grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:s, 0:s].astype(np.float32)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _lowfreq(rng: np.random.Generator, s: int, cells: int) -> np.ndarray:
    """Smooth unit-variance noise with about ``cells`` blobs across the image."""
    n = cv2.resize(
        rng.standard_normal((cells, cells)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC
    )
    return (n - n.mean()) / (n.std() + 1e-6)


def _unit(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / (a.std() + 1e-6)


# --------------------------------------------------------------------------- scenes
def _texture_scene(rng: np.random.Generator, s: int) -> SimpleNamespace:
    """Brushed steel: long + short anisotropic streaks, mottling, a soft light ramp."""
    x, y = _grid(s)
    big = int(s * 1.5)
    noise = rng.standard_normal((big, big)).astype(np.float32)
    streak = 14 * _unit(cv2.blur(noise, (max(3, s // 4), 1))) + 7 * _unit(
        cv2.blur(noise, (max(3, s // 16), 1))
    )
    m = cv2.getRotationMatrix2D((big / 2, big / 2), rng.uniform(-3, 3), 1.0)
    m[:, 2] -= (big - s) / 2
    streak = cv2.warpAffine(streak, m, (s, s), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ang = rng.uniform(0, 2 * np.pi)
    ramp = 10 * ((x - s / 2) * np.cos(ang) + (y - s / 2) * np.sin(ang)) / s
    v = 150 + streak + 6 * _lowfreq(rng, s, 6) + ramp
    tint = np.array([0.96, 1.0, 1.05], np.float32)
    base = v[..., None] * tint
    hole = (26 + 6 * _lowfreq(rng, s, 12))[..., None] * np.array([1.0, 0.95, 0.9], np.float32)

    def render(cut: np.ndarray | None = None) -> np.ndarray:
        if cut is None:
            return base.copy()
        k = max(1.0, s / 256)
        rim = np.clip(cv2.GaussianBlur(cut, (0, 0), 1.5 * k) - cut, 0, 1)  # curled burr around the tear
        shade = cv2.GaussianBlur(cut, (0, 0), 2.5 * k)  # inner shadow: darker close to the edge
        inner = hole * (0.5 + 0.5 * np.clip(2 * shade - 1, 0, 1))[..., None]
        return base * (1 - cut[..., None]) + inner * cut[..., None] + 160 * rim[..., None]

    ones = np.ones((s, s), np.float32)
    margin = int(0.12 * s)
    place = np.zeros((s, s), np.float32)
    place[margin:-margin, margin:-margin] = 1
    return SimpleNamespace(
        kind="texture", s=s, render=render, support=ones, place=place, center=(s / 2, s / 2), radii=None
    )


def _part_scene(rng: np.random.Generator, s: int) -> SimpleNamespace:
    """Turned steel flange with bore, raised hub and six bolt holes, casting a soft shadow."""
    x, y = _grid(s)
    k = s / 256
    cx, cy = s / 2 + rng.uniform(-3, 3, 2) * k
    theta = float(np.deg2rad(rng.uniform(-4, 4)))
    r_out, r_bore, r_hub, r_pcd, r_hole = (f * s for f in (0.37, 0.12, 0.19, 0.27, 0.042))
    dx, dy = x - cx, y - cy
    r = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    cov = np.clip(r_out - r + 0.5, 0, 1) * np.clip(r - r_bore + 0.5, 0, 1)
    cw = max(1.5, 3 * k)  # chamfer width
    light = float(np.deg2rad(-135 + rng.uniform(-5, 5)))
    edge_dark = np.zeros((s, s), np.float32)
    for i in range(6):
        a = theta + i * np.pi / 3
        dh = np.hypot(x - cx - r_pcd * np.cos(a), y - cy - r_pcd * np.sin(a)) - r_hole
        cov *= np.clip(dh + 0.5, 0, 1)
        edge_dark += np.exp(-np.maximum(dh, 0) / (0.6 * cw))
    # Concentric turning marks: 1-D noise profiles looked up by radius.
    ridx = np.clip(r, 0, s - 1).astype(np.int32)
    fine = _unit(cv2.GaussianBlur(rng.standard_normal((1, s)).astype(np.float32), (0, 0), 0.7)).ravel()
    coarse = _unit(cv2.GaussianBlur(rng.standard_normal((1, s)).astype(np.float32), (0, 0), 4 * k)).ravel()
    cl = np.cos(phi - light)
    turned = 158 + 5 * fine[ridx] + 5 * coarse[ridx] + 20 * np.cos(2 * (phi - light))  # anisotropic sheen
    steps = 10 * (r < r_hub) - 45 * np.exp(-(((r - r_hub) / (0.8 * cw)) ** 2))  # raised hub + groove
    chamfers = (
        45 * np.clip((r - r_out + cw) / cw, 0, 1) * -cl + 35 * np.clip((r_bore + cw - r) / cw, 0, 1) * cl
    )
    metal = (
        turned + steps + chamfers - 35 * edge_dark - 10 * (dx * np.cos(light) + dy * np.sin(light)) / r_out
    )
    metal = metal[..., None] * np.array([1.0, 1.0, 1.02], np.float32)
    grain = _unit(cv2.GaussianBlur(rng.standard_normal((s, s)).astype(np.float32), (0, 0), 0.8))
    belt = (62 + 5 * _lowfreq(rng, s, 8) + 4 * grain)[..., None] * np.array([0.9, 1.0, 0.97], np.float32)
    shift = (int(round(3 * k)), int(round(2 * k)))
    sigma = 3 * k

    def render(cut: np.ndarray | None = None) -> np.ndarray:
        c = cov if cut is None else cov * (1 - cut)
        shadow = cv2.GaussianBlur(np.roll(c, shift, axis=(0, 1)), (0, 0), sigma)
        bg = belt * (1 - 0.55 * shadow)[..., None]
        return bg * (1 - c[..., None]) + metal * c[..., None]

    solid = cv2.erode((cov > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, s // 50))
    place = ((r > r_hub + 0.03 * s) & (r < r_out - 0.03 * s) & (solid > 0)).astype(np.float32)
    return SimpleNamespace(
        kind="part", s=s, render=render, support=cov, place=place, center=(cx, cy), radii=(r_hub, r_out)
    )


_SCENES = {"texture": _texture_scene, "part": _part_scene}


# --------------------------------------------------------------------------- defects
def _pick(rng: np.random.Generator, place: np.ndarray) -> tuple[float, float]:
    idx = np.flatnonzero(place > 0.5)
    i = int(idx[rng.integers(len(idx))])
    return float(i % place.shape[1]), float(i // place.shape[1])


def _scratch(rng: np.random.Generator, sc: SimpleNamespace) -> np.ndarray:
    s = sc.s
    cx, cy = _pick(rng, sc.place)
    length = rng.uniform(0.2, 0.4) * s
    if sc.kind == "part":  # roughly tangential so it stays on the flange face
        ang = np.arctan2(cy - sc.center[1], cx - sc.center[0]) + np.pi / 2 + rng.uniform(-0.4, 0.4)
        length = min(length, 0.3 * s)
    else:
        ang = rng.uniform(0, np.pi)
    d, n = np.array([np.cos(ang), np.sin(ang)]), np.array([-np.sin(ang), np.cos(ang)])
    c = np.array([cx, cy])
    p0, p2 = c - d * length / 2, c + d * length / 2
    p1 = c + n * rng.uniform(-0.25, 0.25) * length
    t = np.linspace(0, 1, 25)[:, None]
    pts = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2) * 16  # 4 fractional bits
    width = rng.uniform(2, 4) * max(1.0, s / 256)
    canvas = np.zeros((s, s), np.uint8)
    for i in range(len(pts) - 1):
        taper = min(1.0, 0.35 + 4 * min(t[i, 0], 1 - t[i + 1, 0]))
        a, b = tuple(int(v) for v in pts[i]), tuple(int(v) for v in pts[i + 1])
        cv2.line(canvas, a, b, 255, max(1, int(round(width * taper))), cv2.LINE_AA, shift=4)
    alpha = canvas.astype(np.float32) / 255 * sc.support
    delta = rng.choice([-1, 1]) * rng.uniform(55, 85)
    return sc.render() + delta * alpha[..., None]


def _spot(rng: np.random.Generator, sc: SimpleNamespace) -> np.ndarray:
    s = sc.s
    x, y = _grid(s)
    cx, cy = _pick(rng, sc.place)
    rr = rng.uniform(0.05, 0.085) * s
    a = np.arctan2(y - cy, x - cx)
    rad = rr * (1 + sum(rng.uniform(0, 0.12) * np.cos(k * a + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 5)))
    alpha = np.clip((rad - np.hypot(x - cx, y - cy)) / (0.35 * rr), 0, 1)
    alpha = alpha * alpha * (3 - 2 * alpha) * (0.8 + 0.2 * np.tanh(_lowfreq(rng, s, 24)))
    alpha = alpha * sc.support * rng.uniform(0.75, 0.95)
    img = sc.render()
    lum = float((img.mean(-1) * alpha).sum() / (alpha.sum() + 1e-6))
    look = rng.integers(3 if lum < 165 else 2)  # no white residue on bright highlights
    if look == 0:  # rust
        target = np.array([150, 78, 40], np.float32) * (0.6 + 0.4 * img.mean(-1, keepdims=True) / 160)
    elif look == 1:  # oil / burn mark
        target = img * np.array([0.42, 0.37, 0.3], np.float32)
    else:  # dried coolant / white residue
        target = np.array([242, 236, 205], np.float32) + 0 * img
    return img * (1 - alpha[..., None]) + target * alpha[..., None]


def _missing(rng: np.random.Generator, sc: SimpleNamespace) -> np.ndarray:
    s = sc.s
    if sc.kind == "part":  # chunk broken off the outer rim
        rr = rng.uniform(0.07, 0.11) * s
        psi = rng.uniform(0, 2 * np.pi)
        dist = sc.radii[1] - rng.uniform(0.1, 0.5) * rr
        cx, cy = sc.center[0] + dist * np.cos(psi), sc.center[1] + dist * np.sin(psi)
        aspect, rot = 1.0, 0.0
    else:  # torn hole in the sheet
        rr = rng.uniform(0.05, 0.08) * s
        cx, cy = _pick(rng, sc.place)
        aspect, rot = rng.uniform(1.0, 2.5), rng.uniform(0, np.pi)
    nv = int(rng.integers(10, 16))
    ang = np.sort(rng.uniform(0, 2 * np.pi, nv))
    rad = rr * rng.uniform(0.65, 1.15, nv)
    px, py = rad * np.cos(ang) * np.sqrt(aspect), rad * np.sin(ang) / np.sqrt(aspect)
    px, py = px * np.cos(rot) - py * np.sin(rot) + cx, px * np.sin(rot) + py * np.cos(rot) + cy
    canvas = np.zeros((s, s), np.uint8)
    poly = (np.stack([px, py], 1) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [poly], 255, cv2.LINE_AA, shift=4)
    return sc.render(canvas.astype(np.float32) / 255)


_DEFECTS = {"scratch": _scratch, "spot": _spot, "missing": _missing}


# --------------------------------------------------------------------------- public API
def _generate(category: str, index: int, defect: str, size: int, seed: int, with_defect: bool):
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; expected one of {CATEGORIES}")
    if defect and defect not in DEFECT_KINDS:
        raise ValueError(f"unknown defect {defect!r}; expected one of {DEFECT_KINDS}")
    if not 32 <= int(size) <= 4096 or int(index) < 0:
        raise ValueError("size must be in [32, 4096] and index >= 0")
    s = int(size)
    space = "bad" if defect else "good"  # good and defective indices are distinct instances
    rng = _rng(category, space, index, s, seed)
    scene = _SCENES[category](rng, s)
    x, y = _grid(s)
    vignette = 1 - rng.uniform(0.05, 0.12) * (((x - s / 2) ** 2 + (y - s / 2) ** 2) / (s * s / 2))
    gain = rng.uniform(0.96, 1.04) * (1 + rng.uniform(-0.01, 0.01, 3)).astype(np.float32)
    offset = rng.uniform(-4, 4)
    noise = rng.standard_normal((s, s, 3), dtype=np.float32) * rng.uniform(1.5, 3.0)

    def capture(img: np.ndarray) -> np.ndarray:
        out = img * vignette[..., None] * gain + (offset + 0.5) + noise
        return np.clip(out, 0, 255).astype(np.uint8)

    good = capture(scene.render())
    if not (defect and with_defect):
        return good, np.zeros((s, s), np.uint8)
    drng = _rng(category, space, index, s, seed, defect)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(12):  # redraw the defect until its area is sane (almost always first try)
        bad = capture(_DEFECTS[defect](drng, scene))
        diff = cv2.absdiff(bad, good).max(axis=2)
        mask = np.where(diff > MASK_THRESHOLD, 255, 0).astype(np.uint8)
        mask = cv2.dilate(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel), kernel)
        if _AREA_RANGE[0] <= np.count_nonzero(mask) / mask.size <= _AREA_RANGE[1]:
            break
    return bad, mask


def make_sample(category: str, index: int, *, defect: str = "", size: int = 256, seed: int = 0) -> Sample:
    """Render one sample; ``defect=""`` gives a good one.  Deterministic in all arguments."""
    image, mask = _generate(category, index, defect, size, seed, True)
    name = f"{defect or 'good'}_{index:03d}"
    return Sample(image=image, mask=mask, label=int(bool(defect)), defect=defect, name=name)


def make_reference(
    category: str, index: int, *, defect: str = "", size: int = 256, seed: int = 0
) -> np.ndarray:
    """Defect-free image of the same instance (pose, texture, lighting, noise) as ``make_sample``."""
    return _generate(category, index, defect, size, seed, False)[0]


def make_samples(
    category: str, n_good: int, n_bad: int, *, size: int = 256, seed: int = 0, defects=DEFECT_KINDS
) -> list[Sample]:
    """``n_good`` good samples, then ``n_bad`` defective ones cycling through ``defects``."""
    out = [make_sample(category, i, size=size, seed=seed) for i in range(n_good)]
    out += [
        make_sample(category, i, defect=defects[i % len(defects)], size=size, seed=seed) for i in range(n_bad)
    ]
    return out


def _write_png(path: Path, img: np.ndarray) -> None:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    path.write_bytes(buf.tobytes())  # unlike cv2.imwrite, works with non-ASCII paths


def write_dataset(
    root: Path,
    category: str = "part",
    n_train_good: int = 30,
    n_test_good: int = 10,
    n_test_bad: int = 12,
    size: int = 256,
    seed: int = 0,
) -> dict:
    """Write a hamacho-layout dataset: ``root/good``, ``root/bad`` and ``root/mask`` (same names).

    ``good`` holds the train images then the test ones (``good_000.png`` ...).  Existing files
    with other names are left untouched.  Returns a summary dict (counts and folders).
    """
    root = Path(root)
    dirs = {k: root / k for k in ("good", "bad", "mask")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    samples = make_samples(category, n_train_good + n_test_good, n_test_bad, size=size, seed=seed)
    counts = dict.fromkeys(DEFECT_KINDS, 0)
    for smp in samples:
        if smp.label:
            _write_png(dirs["bad"] / f"{smp.name}.png", smp.image)
            _write_png(dirs["mask"] / f"{smp.name}.png", smp.mask)
            counts[smp.defect] += 1
        else:
            _write_png(dirs["good"] / f"{smp.name}.png", smp.image)
    n_good = n_train_good + n_test_good
    info = {"root": root, "category": category, "size": size, "seed": seed, "defects": counts}
    info.update(n_good=n_good, n_train_good=n_train_good, n_test_good=n_test_good, n_bad=n_test_bad)
    info.update({f"{k}_dir": d for k, d in dirs.items()})  # good_dir, bad_dir, mask_dir
    return info
