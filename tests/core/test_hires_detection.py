"""The point of tiling: small defects on a large image.  High-resolution synthetic strips at half
scale (300x800, defects of 6-11 px): squashed to a small square most defects are missed; inspected in
full-resolution tiles they are found.  Same backbone, same training images, same calibration rule."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core.metrics import _auroc
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic_hires import HIRES_DEFECTS, make_hires_sample

SCALE = 0.5


@pytest.fixture(scope="module")
def strips():
    train = [make_hires_sample("strip", i, scale=SCALE, seed=0).image for i in range(10)]
    good = [make_hires_sample("strip", i, scale=SCALE, seed=1).image for i in range(4)]
    bad = [make_hires_sample("strip", i, defect=HIRES_DEFECTS[i % len(HIRES_DEFECTS)], scale=SCALE, seed=1)
           for i in range(6)]
    return train, good, bad


def _evaluate(model, good, bad):
    scores = np.concatenate([model.predict(img).image_scores for img in good + [s.image for s in bad]])
    labels = np.array([0] * len(good) + [1] * len(bad))
    threshold = model.image_scale.threshold
    recall = float(np.mean(scores[labels == 1] >= threshold))
    pixel_scores, pixel_labels = [], []
    for smp in bad:
        h, w = smp.mask.shape
        full = model.preprocess.to_image(model.predict(smp.image).anomaly_maps[0], h, w)
        pixel_scores.append(full.ravel())
        pixel_labels.append((smp.mask > 0).ravel())
    return _auroc(labels, scores), recall, _auroc(np.concatenate(pixel_labels).astype(int),
                                                  np.concatenate(pixel_scores))


@pytest.mark.slow
def test_tiles_find_the_small_defects_that_squashing_misses(strips):
    train, good, bad = strips
    squashed = PatchCore(PatchCoreConfig(image_size=128))
    tiled = PatchCore(PatchCoreConfig(geometry="tiles", tile_size=128))  # full resolution, 24 tiles
    squashed.fit(train)
    tiled.fit(train)
    assert tiled.units == 24 and tiled.preprocess.output_shape == (800, 288)
    sq_auroc, sq_recall, sq_pixel = _evaluate(squashed, good, bad)
    ti_auroc, ti_recall, ti_pixel = _evaluate(tiled, good, bad)
    print(f"squashed 128: image AUROC {sq_auroc:.3f}, recall {sq_recall:.2f}, pixel AUROC {sq_pixel:.3f}; "
          f"tiled: {ti_auroc:.3f}, {ti_recall:.2f}, {ti_pixel:.3f}")
    assert sq_recall <= 0.5, "squashed to 128 px, most 6-11 px defects are below the threshold"
    assert ti_recall >= 0.8 and ti_auroc >= 0.95 and ti_pixel >= 0.98
    assert ti_pixel > sq_pixel
