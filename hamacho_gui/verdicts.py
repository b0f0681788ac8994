"""OK / NG / REVIEW verdicts from raw scores and user-chosen thresholds (pure numpy, no Qt).

The thresholds are *raw* scores (the model's own units), so the verdicts never depend on how
scores are normalised for display.  Rules, for an image score ``s``:

* ``s >= image``                       -> ``NG``
* ``review <= s < image`` (if review)  -> ``REVIEW`` (a human takes a look)
* otherwise                            -> ``OK``

A score that is not a number (NaN) is ``NG``: a result that cannot be judged must never pass.
"""

from __future__ import annotations

import numpy as np

from hamacho_core.thresholds import NG, OK, REVIEW, ScoreScale, Thresholds, verdict_labels

__all__ = ["NG", "OK", "REVIEW", "Thresholds", "defect_pixels", "display_scale", "verdicts"]


def verdicts(scores: np.ndarray, t: Thresholds) -> np.ndarray:
    """Verdict (``OK``/``NG``/``REVIEW``) of every raw image score, as a numpy array of ``str``
    with the shape of ``scores``."""
    return verdict_labels(scores, t.image, t.review)


def defect_pixels(anomaly_map: np.ndarray, t: Thresholds) -> np.ndarray:
    """Boolean mask of the predicted defect pixels of a raw anomaly map."""
    return np.asarray(anomaly_map) >= t.pixel


def display_scale(model: ScoreScale, threshold: float) -> ScoreScale:
    """The normalised (0.5 at the threshold) scale for displaying scores when the user has moved
    the threshold: the model's own scale at its own threshold, else ``model.with_threshold``."""
    return model.at(threshold)
