"""Synthetic defects painted on real good images, with their masks: the validation data automatic
configuration judges candidates on (never the test set).

Four families, each drawn from the image's own colours (20-70 % of the way to black or white: real defects are
often faint), so a defect is neither invisible nor trivially bright:

* ``scratch``: anti-aliased scratches, cracks and fibres (a jittered polyline, 1 px to 2.5 % of the image wide,
  sharp or soft-edged), darker or lighter than around it;
* ``pit``: one to four small pits or specks (ellipses with a soft edge), dark or bright;
* ``texture``: a blob of foreign texture (another part of the same image, rotated and rescaled);
* ``colour``: a soft-edged blob whose brightness or tint changed (stains, burns, discolouration).

Sizes are drawn log-uniformly between :data:`AREA_RANGE` of the image (0.05 % to 5 %), placed inside the
region of interest when one is given.  Everything is determined by ``(image, family, seed)``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

FAMILIES = ("scratch", "pit", "texture", "colour")
#: Share of the image (or of its region of interest) one defect covers, smallest and largest.
AREA_RANGE = (0.0005, 0.05)
#: A pixel whose colour moved by more than this many grey levels belongs to the defect's mask.
MASK_LEVEL = 10


def _area(rng: np.random.Generator, pixels: int) -> float:
    low, high = AREA_RANGE
    return pixels * math.exp(rng.uniform(math.log(low), math.log(high)))


def _centre(rng: np.random.Generator, allowed: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(allowed)
    i = int(rng.integers(len(xs)))
    return int(xs[i]), int(ys[i])


def _blob(rng: np.random.Generator, shape: tuple[int, int], centre: tuple[int, int], area: float) -> np.ndarray:
    """A soft irregular blob (float32 0..1) of about ``area`` pixels around ``centre``."""
    h, w = shape
    radius = max(1.5, math.sqrt(area / math.pi))
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    wobble = 1.0 + 0.35 * np.convolve(np.tile(rng.standard_normal(24), 3), np.ones(5) / 5, "same")[24:48]
    aspect = rng.uniform(0.5, 1.0)
    turn = rng.uniform(0, np.pi)
    xs = radius * wobble * np.cos(angles) / math.sqrt(aspect)
    ys = radius * wobble * np.sin(angles) * math.sqrt(aspect)
    pts = np.stack([centre[0] + xs * math.cos(turn) - ys * math.sin(turn),
                    centre[1] + xs * math.sin(turn) + ys * math.cos(turn)], axis=1)
    blob = np.zeros((h, w), np.float32)
    cv2.fillPoly(blob, [np.round(pts * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    soft = max(0.5, radius / 6)
    return cv2.GaussianBlur(blob, (0, 0), soft) if soft >= 0.8 else blob


def _tone(rng: np.random.Generator, image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """A colour clearly off the image's local colour at ``where``: darker or lighter by 35-75 % of the room
    left towards black or white."""
    local = image[where > 0.5].reshape(-1, image.shape[2]).mean(axis=0) if (where > 0.5).any() else image.mean((0, 1))
    strength = rng.uniform(0.2, 0.7)
    if rng.random() < 0.5 or local.mean() > 200:
        return local * (1 - strength)
    return local + (255 - local) * strength


def _scratch(rng, image, allowed, area):
    h, w = allowed.shape
    widest = max(2, round(0.025 * min(h, w)))  # hairline scratches to fibres and cracks a few % of the image wide
    width = 1 if area < 40 else int(rng.integers(1, widest + 1))
    length = float(np.clip(area / width, 6, 1.5 * max(h, w)))
    x, y = _centre(rng, allowed)
    heading = rng.uniform(0, 2 * np.pi)
    steps = max(3, int(length / 6))
    pts = [(x, y)]
    for _ in range(steps):
        heading += rng.normal(0, 0.25)
        x, y = x + math.cos(heading) * length / steps, y + math.sin(heading) * length / steps
        pts.append((x, y))
    mask = np.zeros((h, w), np.float32)
    cv2.polylines(mask, [np.round(np.array(pts) * 16).astype(np.int32)], False, 1.0, width, cv2.LINE_AA, shift=4)
    if width >= 3 and rng.random() < 0.5:  # a soft-edged fibre rather than a sharp scratch
        mask = np.clip(cv2.GaussianBlur(mask, (0, 0), width / 4) * 1.3, 0, 1)
    return mask, _paint(image, mask, _tone(rng, image, cv2.dilate(mask, np.ones((9, 9), np.uint8))))


def _pit(rng, image, allowed, area):
    h, w = allowed.shape
    mask = np.zeros((h, w), np.float32)
    count = int(rng.integers(1, 5))
    x0, y0 = _centre(rng, allowed)
    spread = math.sqrt(area) * 2
    for _ in range(count):
        cx = int(np.clip(x0 + rng.normal(0, spread), 0, w - 1))
        cy = int(np.clip(y0 + rng.normal(0, spread), 0, h - 1))
        if not allowed[cy, cx]:  # pits stay in the region of interest
            cx, cy = x0, y0
        radius = max(1.0, math.sqrt(area / count / math.pi))
        axes = (max(1, round(radius * rng.uniform(0.7, 1.3))), max(1, round(radius * rng.uniform(0.7, 1.3))))
        cv2.ellipse(mask, (cx, cy), axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
    return mask, _paint(image, mask, _tone(rng, image, cv2.dilate(mask, np.ones((7, 7), np.uint8))))


def _texture(rng, image, allowed, area):
    h, w = allowed.shape
    mask = _blob(rng, (h, w), _centre(rng, allowed), area)
    scale = rng.uniform(0.5, 2.0)
    turn = rng.uniform(30, 150)
    src = (rng.uniform(0, w), rng.uniform(0, h))
    warp = cv2.getRotationMatrix2D(src, turn, scale)
    foreign = cv2.warpAffine(image, warp, (w, h), borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
    foreign = foreign * rng.uniform(0.75, 1.25) + rng.uniform(-25, 25)
    return mask, _blend(image, mask, np.clip(foreign, 0, 255))


def _colour(rng, image, allowed, area):
    mask = _blob(rng, allowed.shape, _centre(rng, allowed), area)
    gain = np.full(image.shape[2], rng.choice([rng.uniform(0.45, 0.75), rng.uniform(1.3, 1.7)]), np.float32)
    if image.shape[2] == 3 and rng.random() < 0.5:  # a tint: one channel moves more than the others
        gain[int(rng.integers(3))] *= rng.uniform(0.6, 1.4)
    changed = image.astype(np.float32) * gain + rng.uniform(-20, 20)
    return mask, _blend(image, mask, np.clip(changed, 0, 255))


def _paint(image: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    return _blend(image, mask, np.broadcast_to(colour.astype(np.float32), image.shape))


def _blend(image: np.ndarray, mask: np.ndarray, other: np.ndarray) -> np.ndarray:
    alpha = mask[..., None]
    return np.clip(image.astype(np.float32) * (1 - alpha) + other * alpha + 0.5, 0, 255).astype(np.uint8)


_DRAW = {"scratch": _scratch, "pit": _pit, "texture": _texture, "colour": _colour}


def paint_defect(image: np.ndarray, family: str, seed: int | tuple[int, ...],
                 region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(defective copy of ``image``, uint8 mask 0/255) with one defect of ``family``.  ``image``: HxW or
    HxWxC uint8; ``region``: HxW bool where defects may be centred (the region of interest; default: all)."""
    if family not in _DRAW:
        raise ValueError(f"unknown defect family {family!r}; choose from {', '.join(FAMILIES)}")
    grey = image.ndim == 2
    work = image[..., None] if grey else image
    allowed = np.ones(work.shape[:2], bool) if region is None else np.asarray(region, bool)
    if not allowed.any():
        raise ValueError("the region where defects may go is empty")
    rng = np.random.default_rng(seed)
    pixels = int(allowed.sum())
    for _attempt in range(8):
        area = _area(rng, pixels)
        mask, out = _DRAW[family](rng, work, allowed, area)
        change = np.abs(out.astype(np.int16) - work.astype(np.int16)).max(axis=2)
        binary = (mask >= 0.5) | ((change > MASK_LEVEL) & (mask > 0))
        # redraw one that fell mostly outside the image, or (foreign texture like the image's own) barely shows
        if binary.sum() >= max(3.0, 0.3 * area) and change[binary].mean() > MASK_LEVEL:
            break
    return (out[..., 0] if grey else out), (binary * 255).astype(np.uint8)
