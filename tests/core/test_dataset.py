"""Dataset discovery and validation on real files: layouts, masks by name, broken and awkward inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hamacho_core.dataset import (
    HAMACHO,
    MVTEC,
    DatasetError,
    ImageItem,
    check_image,
    collect_images,
    load_dataset,
)
from hamacho_core.imageio import ImageReadError, read_image, write_image
from hamacho_core.progress import Cancelled
from hamacho_core.synthetic import write_dataset
from tests.core.badinput import EXPECTED_REASONS, LARGE_NAME, UNICODE_NAME, make_bad_input_folder


def _img(path, h=32, w=32, value=100, box=None):
    """Write a small grey-ish RGB PNG; ``box=(y0, y1, x0, x1)`` paints a white rectangle."""
    image = np.full((h, w, 3), value, np.uint8)
    if box:
        image[box[0]:box[1], box[2]:box[3]] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, image)
    return path


def test_hamacho_layout_from_synthetic(tmp_path):
    info = write_dataset(tmp_path, category="texture", n_train_good=3, n_test_good=1, n_test_bad=3, size=64)
    ds = load_dataset(tmp_path)
    assert ds.layout == HAMACHO
    assert len(ds.train) == info["n_good"] == 4
    assert all(it.label == 0 and it.kind == "good" and it.mask_path is None for it in ds.train)
    assert [it.path.name for it in ds.train] == sorted(p.name for p in info["good_dir"].iterdir())
    assert len(ds.test) == 3 and all(it.label == 1 and it.kind == "bad" for it in ds.test)
    for it in ds.test:
        assert it.mask_path == info["mask_dir"] / it.path.name
    assert not ds.skipped and not ds.warnings
    text = ds.summary()
    assert "hamacho" in text and "train: 4 good" in text and "3 defective" in text and "masks: 3 of 3" in text


def test_mvtec_layout(tmp_path):
    for i in range(3):
        _img(tmp_path / "train" / "good" / f"{i:03d}.png")
    _img(tmp_path / "test" / "good" / "000.png")
    for i in range(2):
        _img(tmp_path / "test" / "scratch" / f"{i:03d}.png", box=(4, 8, 4, 8))
        _img(tmp_path / "ground_truth" / "scratch" / f"{i:03d}_mask.png", value=0, box=(4, 8, 4, 8))
    _img(tmp_path / "test" / "crack" / "000.png")  # no ground_truth/crack/
    ds = load_dataset(tmp_path)
    assert ds.layout == MVTEC
    assert len(ds.train) == 3 and all(it.label == 0 for it in ds.train)
    by_kind = {}
    for it in ds.test:
        by_kind.setdefault(it.kind, []).append(it)
    assert sorted(by_kind) == ["crack", "good", "scratch"]
    assert by_kind["good"][0].label == 0 and by_kind["good"][0].mask_path is None
    assert [it.label for it in by_kind["scratch"]] == [1, 1]
    assert [it.mask_path.name for it in by_kind["scratch"]] == ["000_mask.png", "001_mask.png"]
    assert by_kind["crack"] == [ImageItem(tmp_path / "test" / "crack" / "000.png", 1, "crack", None)]
    assert any("crack" in w for w in ds.warnings)
    text = ds.summary()
    assert "mvtec" in text and "train: 3 good" in text and "1 good, 3 defective" in text
    assert "scratch: 2" in text and "masks: 2 of 3" in text


def test_masks_matched_by_exact_name_not_order(tmp_path):
    _img(tmp_path / "good" / "ok.png")
    for n in (1, 2, 10):
        _img(tmp_path / "bad" / f"anomaly-{n}.png")
    _img(tmp_path / "mask" / "anomaly-1.png", value=0, box=(0, 16, 0, 16))  # top-left
    _img(tmp_path / "mask" / "anomaly-10_mask.png", value=0, box=(16, 32, 16, 32))  # bottom-right
    _img(tmp_path / "mask" / "anomaly-3.png", value=0)  # orphan
    ds = load_dataset(tmp_path)
    items = {it.path.stem: it for it in ds.test}
    assert [it.path.stem for it in ds.test] == ["anomaly-1", "anomaly-2", "anomaly-10"]  # natural order
    assert items["anomaly-1"].mask_path.name == "anomaly-1.png"
    assert items["anomaly-10"].mask_path.name == "anomaly-10_mask.png"
    assert items["anomaly-2"].mask_path is None
    m1, m10 = read_image(items["anomaly-1"].mask_path), read_image(items["anomaly-10"].mask_path)
    assert m1[0, 0].max() == 255 and m1[31, 31].max() == 0
    assert m10[0, 0].max() == 0 and m10[31, 31].max() == 255
    assert "mask/ has no mask for bad/anomaly-2.png" in ds.warnings
    assert any(w.startswith("mask/anomaly-3.png matches no") for w in ds.warnings)


def test_unreadable_mask_is_a_warning(tmp_path):
    _img(tmp_path / "good" / "ok.png")
    _img(tmp_path / "bad" / "x.png")
    (tmp_path / "mask").mkdir()
    (tmp_path / "mask" / "x.png").write_bytes(b"")
    ds = load_dataset(tmp_path)
    assert ds.test == [ImageItem(tmp_path / "bad" / "x.png", 1, "bad", None)]
    assert not ds.skipped
    assert any("mask/x.png" in w and "empty file" in w for w in ds.warnings)


def test_bad_input_folder(tmp_path):
    expected = make_bad_input_folder(tmp_path / "good")
    assert UNICODE_NAME in expected and LARGE_NAME in expected
    for name in (".hidden.png", "Thumbs.db", "notes.txt", "readme.md"):  # ignored silently
        (tmp_path / "good" / name).write_bytes(b"junk")
    ds = load_dataset(tmp_path)
    assert sorted(it.path.name for it in ds.train) == sorted(n for n, ok in expected.items() if ok)
    reasons = {s.path.name: s.reason for s in ds.skipped}
    assert sorted(reasons) == sorted(n for n, ok in expected.items() if not ok)
    for name, reason in EXPECTED_REASONS.items():
        assert reason in reasons[name], (name, reasons[name])
    assert reasons["tiny_1x1.png"] == "too small (1x1 px, at least 8x8 needed)"
    text = ds.summary()
    for name, reason in reasons.items():
        assert f"good/{name}: {reason}" in text
    assert check_image(tmp_path / "good" / LARGE_NAME).shape == (4000, 6000, 3)
    assert check_image(tmp_path / "good" / "grey16.tif").dtype == np.uint16
    assert check_image(tmp_path / "good" / "rgba.png").shape[2] == 4
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        check_image(tmp_path / "good" / "truncated.jpg")


def test_truncated_jpeg_missing_only_its_end_marker(tmp_path):
    image = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), (0, 0), 2)
    data = cv2.imencode(".jpg", image)[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(data[:-2])
    (tmp_path / "padded.jpg").write_bytes(data + b"\x00" * 16)  # trailing padding after EOI is fine
    with pytest.raises(ImageReadError, match="truncated JPEG"):
        check_image(tmp_path / "cut.jpg")
    assert check_image(tmp_path / "padded.jpg").shape == (64, 64, 3)
    png = cv2.imencode(".png", image)[1].tobytes()
    (tmp_path / "no_iend.png").write_bytes(png[:-12])
    with pytest.raises(ImageReadError, match="truncated PNG"):
        check_image(tmp_path / "no_iend.png")


def test_no_usable_training_images(tmp_path):
    (tmp_path / "good").mkdir()
    with pytest.raises(DatasetError, match="no images in .*good"):
        load_dataset(tmp_path)
    (tmp_path / "good" / "a.png").write_bytes(b"")
    (tmp_path / "good" / "b.png").write_bytes(b"hello")
    _img(tmp_path / "good" / "c.png", h=4, w=4)
    with pytest.raises(DatasetError) as err:
        load_dataset(tmp_path)
    msg = str(err.value)
    assert "no usable images in" in msg and "3 file(s) skipped" in msg
    assert "a.png (empty file)" in msg and "b.png (not an image (text file))" in msg and "c.png (too small" in msg


def test_unknown_layout_and_missing_folder(tmp_path):
    _img(tmp_path / "images" / "a.png")
    with pytest.raises(DatasetError, match="expected one of these layouts") as err:
        load_dataset(tmp_path)
    assert "good/" in str(err.value) and "train/good/" in str(err.value)
    with pytest.raises(DatasetError, match="holds 1 images directly"):
        load_dataset(tmp_path / "images")
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nope")


def test_collect_images(tmp_path):
    folder = tmp_path / "lot"
    _img(folder / "img10.png")
    _img(folder / "img2.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    (folder / "notes.txt").write_text("named as skipped")
    _img(folder / "sub" / "deep.png")
    odd = tmp_path / "capture.dat"
    odd.write_bytes((folder / "img2.png").read_bytes())  # a PNG under another suffix, named explicitly
    calls = []
    paths, skipped = collect_images([odd, folder, tmp_path / "missing.png"],
                                    progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert paths == [odd, folder / "img2.png", folder / "img10.png"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert reasons.pop("notes.txt").startswith("not an image file (.txt; readable: png, jpg")  # named, with why
    assert reasons == {"broken.jpg": "truncated JPEG file", "missing.png": "not found"}
    assert calls[-1] == ("scan", 5, 5) and all(c[0] == "scan" for c in calls)
    paths, _ = collect_images([folder], recursive=True)
    assert folder / "sub" / "deep.png" in paths


def test_cancellation(tmp_path):
    for i in range(5):
        _img(tmp_path / "good" / f"{i}.png")
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(Cancelled):
        collect_images([tmp_path / "good"], should_stop=stop)
    asked.clear()
    with pytest.raises(Cancelled):
        load_dataset(tmp_path, should_stop=stop)


def test_progress_covers_all_files(tmp_path):
    write_dataset(tmp_path, category="texture", n_train_good=2, n_test_good=0, n_test_bad=2, size=64)
    calls = []
    load_dataset(tmp_path, progress=lambda *a: calls.append(a))
    assert calls[-1] == ("scan", 6, 6)  # 2 good + 2 bad + 2 masks
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)


def test_folder_names_case_insensitive_and_odd_names(tmp_path):
    _img(tmp_path / "Train" / "Good" / "²x.png")
    _img(tmp_path / "Train" / "Good" / "１２.png")  # full-width digits
    ds = load_dataset(tmp_path)
    assert ds.layout == MVTEC and len(ds.train) == 2 and ds.test == []


def test_folder_of_hamacho_datasets_is_not_read_as_mvtec(tmp_path):
    """The demo writes train/ and test/ as two hamacho-layout datasets: opening their parent must not
    count test/mask/ as a defect kind."""
    from hamacho_core import synthetic
    from hamacho_core.dataset import DatasetError, load_dataset

    for part, seed in (("train", 0), ("test", 1)):
        synthetic.write_dataset(tmp_path / part, category="part", n_train_good=3, n_test_good=0, n_test_bad=2,
                                size=64, seed=seed)
    with pytest.raises(DatasetError, match=r"is not one dataset.*Open .*train to train"):
        load_dataset(tmp_path)
    assert load_dataset(tmp_path / "train").layout == "hamacho"


def test_webp_and_gif_are_read_and_other_files_named(tmp_path):
    """Issue 26: ``inspect`` of a folder silently ignored image files it did not read (an animated GIF, a
    WebP photo): no row and no word.  What OpenCV reads is read; every other file is named with why."""
    from PIL import Image

    folder = tmp_path / "lot"
    folder.mkdir()
    frames = [Image.fromarray(np.full((40, 40, 3), v, np.uint8)) for v in (60, 200)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[1].save(folder / "photo.webp")
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    paths, skipped = collect_images([folder])
    assert sorted(p.name for p in paths) == ["anim.gif", "photo.webp"]
    assert [(s.path.name, s.reason.split(" (")[0]) for s in skipped] == [("clip.mp4", "not an image file")]
