"""Tests for the deterministic synthetic inspection-image generator."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hamacho_core.synthetic import (
    CATEGORIES,
    DEFECT_KINDS,
    MASK_THRESHOLD,
    Sample,
    make_reference,
    make_sample,
    make_samples,
    write_dataset,
)

SIZE = 96
ALL = [(c, d) for c in CATEGORIES for d in ("", *DEFECT_KINDS)]


def _read(path, flags=cv2.IMREAD_UNCHANGED):
    return cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), flags)


@pytest.mark.parametrize(("category", "defect"), ALL)
def test_shapes_dtypes_labels(category, defect):
    s = make_sample(category, 3, defect=defect, size=SIZE)
    assert isinstance(s, Sample)
    assert s.image.shape == (SIZE, SIZE, 3) and s.image.dtype == np.uint8
    assert s.mask.shape == (SIZE, SIZE) and s.mask.dtype == np.uint8
    assert set(np.unique(s.mask)) <= {0, 255}
    assert s.label == int(bool(defect)) and s.defect == defect
    assert s.name == f"{defect or 'good'}_003"


@pytest.mark.parametrize(("category", "defect"), ALL)
def test_deterministic(category, defect):
    a = make_sample(category, 5, defect=defect, size=SIZE, seed=7)
    b = make_sample(category, 5, defect=defect, size=SIZE, seed=7)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, make_sample(category, 6, defect=defect, size=SIZE, seed=7).image)
    assert not np.array_equal(a.image, make_sample(category, 5, defect=defect, size=SIZE, seed=8).image)


@pytest.mark.parametrize("category", CATEGORIES)
def test_good_and_bad_index_spaces_differ(category):
    good = make_sample(category, 0, size=SIZE).image
    assert np.array_equal(make_reference(category, 0, size=SIZE), good)
    for d in DEFECT_KINDS:
        assert not np.array_equal(make_reference(category, 0, defect=d, size=SIZE), good)


@pytest.mark.parametrize("category", CATEGORIES)
def test_good_images_vary_but_stay_similar(category):
    imgs = np.stack([make_sample(category, i, size=SIZE).image for i in range(6)]).astype(np.float32)
    assert all(not np.array_equal(imgs[0], im) for im in imgs[1:])
    means = imgs.mean(axis=(1, 2, 3))
    assert means.max() - means.min() < 20  # one distribution: lighting varies by a few percent only
    for s in make_samples(category, 6, 0, size=SIZE):
        assert s.label == 0 and not s.mask.any()


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize(("category", "defect"), [(c, d) for c in CATEGORIES for d in DEFECT_KINDS])
def test_mask_marks_exactly_the_changed_pixels(category, defect, size):
    for index in range(4):
        s = make_sample(category, index, defect=defect, size=size)
        ref = make_reference(category, index, defect=defect, size=size)
        m = s.mask > 0
        assert 0.002 <= m.mean() <= 0.1, m.mean()
        diff = cv2.absdiff(s.image, ref).max(axis=2)
        assert diff[~m].max() <= MASK_THRESHOLD  # nothing visible left outside the mask
        assert np.mean(diff[m] > MASK_THRESHOLD) > 0.3  # mask is not mostly dilation
        assert diff[m].mean() > 15 and np.percentile(diff[m], 90) >= 30  # visible to a human
        if category == "part":  # the defect sits on the part, not on the empty belt
            part = cv2.dilate(
                (cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY) > 110).astype(np.uint8), np.ones((5, 5), np.uint8)
            )
            assert (m & (part > 0)).sum() / m.sum() > 0.75


def test_make_samples_order_and_names():
    samples = make_samples("part", 3, 5, size=64)
    assert [s.label for s in samples] == [0, 0, 0, 1, 1, 1, 1, 1]
    assert [s.defect for s in samples[3:]] == [DEFECT_KINDS[i % 3] for i in range(5)]
    names = [s.name for s in samples]
    assert len(set(names)) == len(names)
    assert names[:3] == ["good_000", "good_001", "good_002"]


def test_invalid_arguments():
    with pytest.raises(ValueError):
        make_sample("bottle", 0)
    with pytest.raises(ValueError):
        make_sample("part", 0, defect="crack")


@pytest.mark.parametrize("folder", ["plain", "données_検査"])
def test_write_dataset(tmp_path, folder):
    root = tmp_path / folder / "demo"
    info = write_dataset(root, category="texture", n_train_good=4, n_test_good=2, n_test_bad=4, size=64)
    assert info["n_good"] == 6 and info["n_bad"] == 4
    goods = sorted(p.name for p in (root / "good").glob("*.png"))
    assert goods == [f"good_{i:03d}.png" for i in range(6)]
    bads = sorted(p.name for p in (root / "bad").glob("*.png"))
    assert len(bads) == 4 and bads == sorted(p.name for p in (root / "mask").glob("*.png"))
    for name in bads:
        img = _read(root / "bad" / name)
        mask = _read(root / "mask" / name)
        assert img.shape == (64, 64, 3) and mask.shape == (64, 64) and mask.max() == 255
        stem = name[:-4]
        index = int(stem.split("_")[1])
        expected = make_sample("texture", index, defect=stem.split("_")[0], size=64)
        assert np.array_equal(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), expected.image)
        assert np.array_equal(mask, expected.mask)
    assert np.array_equal(
        cv2.cvtColor(_read(root / "good" / "good_005.png"), cv2.COLOR_BGR2RGB),
        make_sample("texture", 5, size=64).image,
    )
