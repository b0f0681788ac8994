"""The high-resolution synthetic category: sizes, small defects with exact masks, determinism, layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hamacho_core.dataset import load_dataset
from hamacho_core.synthetic_hires import (
    DEFECT_EXTENT,
    HIRES_CATEGORIES,
    HIRES_DEFECTS,
    _size,
    make_hires_reference,
    make_hires_sample,
    write_hires_dataset,
)

SCALE = 0.25  # 512x512 plates and 150x400 strips: defects keep their pixel size


def test_sizes_are_the_lines_and_keep_their_aspect():
    assert _size("plate", 1.0) == (2048, 2048) and _size("strip", 1.0) == (600, 1600)
    assert make_hires_sample("strip", 0, scale=SCALE).image.shape == (400, 150, 3)
    with pytest.raises(ValueError, match="unknown category"):
        make_hires_sample("gear", 0)


@pytest.mark.parametrize("category", list(HIRES_CATEGORIES))
@pytest.mark.parametrize("defect", HIRES_DEFECTS)
def test_small_defect_with_exact_mask(category, defect):
    smp = make_hires_sample(category, 3, defect=defect, scale=SCALE)
    ref = make_hires_reference(category, 3, defect=defect, scale=SCALE)
    mask = smp.mask > 0
    n, _ = cv2.connectedComponents(mask.astype(np.uint8))
    ys, xs = np.nonzero(mask)
    extent = max(np.ptp(ys), np.ptp(xs)) + 1
    assert n - 1 == 1 and DEFECT_EXTENT[0] <= extent <= DEFECT_EXTENT[1], (n - 1, extent)
    changed = cv2.absdiff(smp.image, ref).max(axis=2) > 10
    assert changed.any() and not (changed & ~mask).any(), "the mask covers every changed pixel"
    assert mask.mean() < 0.01, "small: under 1% of the image"


def test_deterministic_and_instances_differ():
    a = make_hires_sample("plate", 1, scale=SCALE, seed=4)
    assert np.array_equal(a.image, make_hires_sample("plate", 1, scale=SCALE, seed=4).image)
    assert not np.array_equal(a.image, make_hires_sample("plate", 2, scale=SCALE, seed=4).image)
    assert not make_hires_sample("plate", 1, scale=SCALE).mask.any()


def test_squashed_to_256_a_hairline_nearly_vanishes():
    """Why the category exists: at full size a hairline is ~10-20 px; squashed 8x it is a faint pixel."""
    smp = make_hires_sample("plate", 0, defect="hairline")  # 2048x2048
    ref = make_hires_reference("plate", 0, defect="hairline")
    diff_full = cv2.absdiff(smp.image, ref).max()
    small = [cv2.resize(im, (256, 256), interpolation=cv2.INTER_AREA) for im in (smp.image, ref)]
    diff_small = cv2.absdiff(*small).max()
    assert diff_full > 40 and diff_small < diff_full / 3, (diff_full, diff_small)


def test_dataset_in_hamacho_layout(tmp_path):
    info = write_hires_dataset(tmp_path / "strip", "strip", n_train_good=3, n_test_good=1, n_test_bad=3,
                               scale=SCALE)
    dataset = load_dataset(tmp_path / "strip")
    assert dataset.layout == "hamacho" and len(dataset.train) == 4 and len(dataset.test) == 3
    assert all(it.mask_path is not None for it in dataset.test) and not dataset.skipped
    assert info["defects"] == dict.fromkeys(HIRES_DEFECTS, 1) and (info["width"], info["height"]) == (150, 400)
