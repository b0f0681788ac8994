"""Aspect-kept and tiled models through the commands a user runs: ``hamacho fit``, ``inspect``,
``eval``, ``live`` (each a real process on image files) and ``export``."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from hamacho_core.imageio import read_image, write_image
from hamacho_core.synthetic_hires import write_hires_dataset


def hamacho(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "hamacho_core.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def strips(tmp_path_factory):
    """High-resolution synthetic strips at 1/8 scale (75x200 px): good/, bad/ with masks."""
    root = tmp_path_factory.mktemp("strips")
    write_hires_dataset(root / "data", "strip", n_train_good=10, n_test_good=3, n_test_bad=3, scale=0.125, seed=0)
    return root / "data"


@pytest.mark.parametrize("options,shape", [
    (("--geometry", "aspect", "--image-size", "64"), (160, 64)),  # 75x200 -> short side 64, aspect kept
    (("--geometry", "tiles", "--tile-size", "64", "--tile-scale", "1.0"), (192, 64)),  # 75x200 -> 64x192
])
def test_fit_inspect_eval_live(strips, tmp_path, options, shape):
    model = tmp_path / "m.hmc"
    done = hamacho("fit", strips, "-o", model, "--coreset-ratio", "0.2", "--blur-sigma", "1", *options)
    assert done.returncode == 0, done.stderr
    from hamacho_core.model_io import load_model

    loaded = load_model(model)
    assert loaded.preprocess.output_shape == shape and loaded.config.geometry == options[1]

    out = tmp_path / "out"
    done = hamacho("inspect", model, strips / "bad", "--out", out, "--save-images")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    assert len(rows) == 3 and all(float(r["raw_score"]) > 0 for r in rows)
    for row in rows:  # overlays at the image's own size
        assert read_image(out / row["overlay"]).shape[:2] == (200, 75)

    done = hamacho("eval", model, strips, "--out", tmp_path / "eval")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["pixel_auroc"] is not None and 0.0 <= metrics["pixel_auroc"] <= 1.0

    done = hamacho("live", model, "--source", strips / "bad", "--max-frames", 3, "--as-fast-as-possible",
                   "--no-log")
    assert done.returncode == 0, done.stderr
    assert sum(line.startswith("frame ") for line in done.stdout.splitlines()) == 3


def test_wxh_and_bad_sizes(strips, tmp_path):
    model = tmp_path / "wxh.hmc"
    done = hamacho("fit", strips, "-o", model, "--image-size", "64x160", "--coreset-ratio", "0.2")
    assert done.returncode == 0, done.stderr
    from hamacho_core.model_io import load_model

    assert load_model(model).preprocess.output_shape == (160, 64)
    done = hamacho("fit", strips, "-o", tmp_path / "x.hmc", "--image-size", "64by160")
    assert done.returncode == 2 and "invalid size value" in done.stderr


def test_tiled_models_are_not_exported_silently_wrong(strips, tmp_path):
    model = tmp_path / "t.hmc"
    assert hamacho("fit", strips, "-o", model, "--geometry", "tiles", "--tile-size", "64",
                   "--tile-scale", "1.0").returncode == 0
    done = hamacho("export", model, "--format", "onnx", "--out", tmp_path / "export")
    assert done.returncode == 1 and "tiled models cannot be exported" in done.stderr


def test_mixed_sizes_follow_the_typical_aspect(tmp_path):
    """Images of a few sizes: the input keeps the median aspect; every map goes back to its own image."""
    from hamacho_core.models import PatchCore, PatchCoreConfig
    from hamacho_core.synthetic import make_sample

    images = []
    for i, (w, h) in enumerate([(100, 250), (96, 240), (104, 260), (90, 250), (100, 250), (98, 245)]):
        image = np.asarray(make_sample("texture", i, size=128, seed=0).image)
        images.append(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA))
    for i, image in enumerate(images):
        write_image(tmp_path / f"img_{i}.png", image)
    model = PatchCore(PatchCoreConfig(geometry="aspect", image_size=64))
    model.fit([tmp_path / f"img_{i}.png" for i in range(6)])  # paths: only their headers are read for the size
    assert model.preprocess.output_shape == (160, 64)
    pred = model.predict(images[3])
    assert model.preprocess.to_image(pred.anomaly_maps[0], 250, 90).shape == (250, 90)
