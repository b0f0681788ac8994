"""Camera setup figures on synthetic frames: focus measure, histogram, exposure hints."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hamacho_core.live import setup_view
from hamacho_core.live.setup_view import analyse, exposure_hints, focus_measure, histogram


def checkerboard(h: int = 120, w: int = 160, square: int = 8, low: int = 40, high: int = 200) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    grey = np.where((yy // square + xx // square) % 2 == 0, low, high).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def test_sharp_checkerboard_has_higher_focus_than_its_blurred_copy():
    sharp = checkerboard()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    assert focus_measure(sharp) > 5 * focus_measure(blurred) > 0
    assert focus_measure(np.full((50, 60, 3), 128, np.uint8)) == 0.0  # nothing to focus on


def test_saturated_frame_gives_the_saturation_hint():
    frame = checkerboard(low=120, high=255)  # half the pixels white
    hints = exposure_hints(frame)
    assert any(h.startswith("50 % of the pixels are saturated (white): lower the exposure or gain") for h in hints)
    assert not any("dark" in h for h in hints)


def test_dark_frame_gives_the_dark_hint():
    frame = checkerboard(low=10, high=26)  # mean 18
    hints = exposure_hints(frame)
    assert any(h.startswith("the image is dark (mean 18 of 255): raise the exposure or gain") for h in hints), hints
    assert not any("saturated" in h for h in hints)


def test_black_and_flat_frames_are_told_and_a_good_one_is_not():
    assert any("black (clipped)" in h for h in exposure_hints(checkerboard(low=0, high=150)))
    assert any(h.startswith("little contrast") for h in exposure_hints(np.full((40, 40, 3), 128, np.uint8)))
    assert exposure_hints(checkerboard()) == []


def test_histogram_counts_grey_levels():
    frame = checkerboard(low=40, high=200)
    counts = histogram(frame, bins=64)
    assert counts.shape == (64,) and counts.sum() == 120 * 160
    assert counts[40 // 4] == counts[200 // 4] == 120 * 160 // 2  # 64 bins of 4 grey levels each
    assert histogram(frame, bins=16).shape == (16,)


def test_large_frames_are_analysed_downsampled_with_the_same_answers():
    frame = cv2.resize(checkerboard(h=60, w=80, square=4, low=10, high=255), (3000, 2000),
                       interpolation=cv2.INTER_NEAREST)  # 6 MP
    counts = histogram(frame)
    assert counts.sum() <= setup_view.MAX_ANALYSIS_PIXELS  # subsampled, about 1.5 MP
    assert counts.sum() >= setup_view.MAX_ANALYSIS_PIXELS // 2
    figures = analyse(frame)
    assert figures.focus == pytest.approx(focus_measure(frame)) and figures.focus > 0
    assert np.array_equal(figures.histogram, counts)
    assert figures.hints == exposure_hints(frame) and any("saturated" in h for h in figures.hints)
    assert figures.mean == pytest.approx(132.5, abs=2)
