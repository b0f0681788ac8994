"""Camera setup figures for aiming, focusing and lighting a camera before any model exists.

Pure functions on an HxWx3 uint8 RGB frame, cheap enough to run on every preview frame: a frame over
:data:`MAX_ANALYSIS_PIXELS` (about 2 MP) is analysed downsampled (area-averaged for the focus measure,
every n-th pixel for the histogram and the hints).  :func:`analyse` gives all three at once; measured on
one core: about 1 ms at 640x480, 8 ms at 1920x1080, 40 ms at 12 MP (the full-size grey conversion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Frames larger than this (pixels) are downsampled before analysis (Full HD, 2.1 MP, is analysed whole).
MAX_ANALYSIS_PIXELS = 2_500_000
#: A pixel with any channel at or above this level is saturated (clipped white).
SATURATED_LEVEL = 250
#: More saturated pixels than this fraction: the "lower the exposure" hint.
SATURATED_FRACTION = 0.01
#: A pixel whose grey level is at or below this is clipped black.
BLACK_LEVEL = 5
#: More black pixels than this fraction: the "raise the exposure" hint.
BLACK_FRACTION = 0.10
#: Mean grey level below this: the image is dark.
DARK_MEAN = 50
#: Mean grey level above this: the image is bright.
BRIGHT_MEAN = 205
#: Standard deviation of the grey levels below this: little contrast.
LOW_CONTRAST_STD = 10.0


@dataclass(frozen=True)
class SetupFigures:
    """What :func:`analyse` finds in one frame."""

    focus: float  #: :func:`focus_measure`
    histogram: np.ndarray  #: :func:`histogram`
    hints: list[str]  #: :func:`exposure_hints` (empty: exposure looks right)
    mean: float  #: mean grey level, 0..255


def _step(frame: np.ndarray) -> int:
    """The subsampling step that brings ``frame`` to at most MAX_ANALYSIS_PIXELS (1: none)."""
    pixels = frame.shape[0] * frame.shape[1]
    return 1 if pixels <= MAX_ANALYSIS_PIXELS else math.ceil(math.sqrt(pixels / MAX_ANALYSIS_PIXELS))


def _small(frame: np.ndarray) -> np.ndarray:
    """Every n-th pixel of a frame over MAX_ANALYSIS_PIXELS (contiguous, as OpenCV wants it)."""
    step = _step(frame)
    return np.ascontiguousarray(frame[::step, ::step] if step > 1 else frame)


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def _focus(grey: np.ndarray) -> float:
    step = _step(grey)
    if step > 1:  # area averaging: striding would alias and inflate the measure
        grey = cv2.resize(grey, (max(1, grey.shape[1] // step), max(1, grey.shape[0] // step)),
                          interpolation=cv2.INTER_AREA)
    _, std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_16S))  # 3x3 Laplacian of 8 bit fits in 16 bit
    return float(std[0, 0]) ** 2


def focus_measure(frame: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: higher = sharper.  Only comparable between frames of
    the same scene at the same resolution (more texture or contrast also raises it): turn the lens to
    the highest value."""
    return _focus(_grey(frame))


def _levels(grey: np.ndarray) -> np.ndarray:
    """Counts of the 256 grey levels."""
    return cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel().astype(np.int64)


def _binned(levels: np.ndarray, bins: int) -> np.ndarray:
    edges = np.ceil(np.linspace(0, 256, bins + 1)).astype(int)  # the integer levels of np.histogram's bins
    return np.add.reduceat(levels, edges[:-1]) if bins <= 256 else np.histogram(
        np.arange(256), bins, (0, 256), weights=levels)[0].astype(np.int64)


def histogram(frame: np.ndarray, bins: int = 64) -> np.ndarray:
    """Grey-level counts in ``bins`` equal bins over 0..255, shape (bins,); of the subsampled frame when
    it is over MAX_ANALYSIS_PIXELS (then the counts sum to fewer than H*W)."""
    return _binned(_levels(_grey(_small(frame))), bins)


def _hints(small: np.ndarray, levels: np.ndarray) -> tuple[list[str], float]:
    """The hints and the mean grey level, from the subsampled RGB frame and its grey-level counts."""
    total = max(1, int(levels.sum()))
    unclipped = cv2.inRange(small, (0, 0, 0), (SATURATED_LEVEL - 1,) * 3)  # every channel below the level
    saturated = (small.shape[0] * small.shape[1] - cv2.countNonZero(unclipped)) / total
    black = int(levels[:BLACK_LEVEL + 1].sum()) / total
    values = np.arange(256)
    mean = float(levels @ values) / total
    std = math.sqrt(max(0.0, float(levels @ (values - mean) ** 2) / total))
    hints = []
    if saturated > SATURATED_FRACTION:
        hints.append(f"{_percent(saturated)} of the pixels are saturated (white): lower the exposure or gain")
    if mean < DARK_MEAN:
        hints.append(f"the image is dark (mean {mean:.0f} of 255): raise the exposure or gain, or add light")
    elif mean > BRIGHT_MEAN and saturated <= SATURATED_FRACTION:
        hints.append(f"the image is bright (mean {mean:.0f} of 255): lower the exposure or gain")
    if black > BLACK_FRACTION:
        hints.append(f"{_percent(black)} of the pixels are black (clipped): raise the exposure or gain, "
                     "or add light")
    if std < LOW_CONTRAST_STD:
        hints.append(f"little contrast (grey levels spread {std:.0f}): check the lighting, focus and aim")
    return hints, mean


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f} %" if fraction < 0.1 else f"{fraction * 100:.0f} %"


def exposure_hints(frame: np.ndarray) -> list[str]:
    """Plain-words advice on exposure and lighting (thresholds: this module's constants); empty when
    nothing looks wrong."""
    small = _small(frame)
    return _hints(small, _levels(_grey(small)))[0]


def analyse(frame: np.ndarray, bins: int = 64) -> SetupFigures:
    """All the figures of one frame, converting it to grey once (what a preview calls per frame)."""
    grey = _grey(frame)
    step = _step(frame)
    levels = _levels(np.ascontiguousarray(grey[::step, ::step]))
    hints, mean = _hints(_small(frame), levels)
    return SetupFigures(_focus(grey), _binned(levels, bins), hints, mean)
