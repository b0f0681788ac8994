"""Thresholds from validation data and the 0.5-centred normalised score scale.

* With defective validation images: the threshold that maximises F1 (scikit-learn's PR curve), placed
  mid-way between the best-F1 score and the next lower score (same F1, maximum margin).
* With good images only: ``max(max(good), mean(good) + 3 * std(good))`` -- every good validation
  image passes, with a margin from the spread of the good scores.  Never "flag everything".

Normalised scores are piecewise linear in the raw score: ``low`` -> 0, threshold -> 0.5,
``high`` -> 1, clipped to [0, 1], where ``low`` is the lowest good validation score and ``high``
mirrors it (``2 * threshold - low``).  So 0.5 always separates OK from NG, as technicians expect.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from hamacho_core import stats

OK, NG, REVIEW = "OK", "NG", "REVIEW"
#: The one place verdict colours are defined (results list, Live banner, viewer, reports); "" = no verdict.
VERDICT_COLOURS = {OK: "#1b8a3a", NG: "#c62828", REVIEW: "#e07b00", "": "#555555"}
F1 = "f1-optimal"
GOOD_ONLY = "good-only (max, mean+3std)"
ROBUST = "good-only (max, mean+3std; one outlying good image left out)"


@dataclass(frozen=True)
class Thresholds:
    """The raw-score thresholds a session judges with (the model's own units)."""

    image: float  #: raw image score >= image -> NG
    pixel: float  #: raw anomaly-map value >= pixel -> predicted defect pixel
    review: float | None = None  #: optional lower image threshold: review <= score < image -> REVIEW

    def __post_init__(self) -> None:
        for name in ("image", "pixel", "review"):
            value = getattr(self, name)
            if value is not None and math.isnan(value):
                raise ValueError(f"{name} threshold is NaN")
        if self.review is not None and self.review > self.image:
            raise ValueError(f"review threshold {self.review} is above the image threshold {self.image}")


@dataclass(frozen=True)
class ScoreScale:
    """One threshold and its normalisation (image level or pixel level)."""

    threshold: float
    low: float
    method: str

    @property
    def high(self) -> float:
        return 2.0 * self.threshold - self.low

    def normalize(self, raw: np.ndarray | float) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        below = 0.5 * (raw - self.low) / max(self.threshold - self.low, 1e-12)
        above = 0.5 + 0.5 * (raw - self.threshold) / max(self.high - self.threshold, 1e-12)
        return np.clip(np.where(raw < self.threshold, below, above), 0.0, 1.0).astype(np.float32)

    def at(self, threshold: float) -> ScoreScale:
        """This scale if ``threshold`` is its own, else :meth:`with_threshold` (normalisation for a
        user-chosen threshold: 0.5 stays the threshold)."""
        return self if float(threshold) == self.threshold else self.with_threshold(threshold)

    def with_threshold(self, threshold: float) -> ScoreScale:
        """The same scale with a user-chosen threshold (e.g. from a slider)."""
        return ScoreScale(float(threshold), min(self.low, float(threshold) - 1e-6), "manual")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ScoreScale:
        return cls(float(data["threshold"]), float(data["low"]), str(data["method"]))


def good_only_threshold(good_scores: np.ndarray) -> float:
    good = np.asarray(good_scores, dtype=np.float64)
    if good.size == 0:
        raise ValueError("no good scores to set a threshold from")
    # Just above the highest good score: NG means score >= threshold, so no good calibration image is NG.
    return float(max(np.nextafter(good.max(), np.inf), good.mean() + 3.0 * good.std()))


def robust_good_threshold(good_scores: np.ndarray) -> float:
    """:func:`good_only_threshold`, but one good image that stands out on its own cannot lift it: when the
    highest good score is above the rule applied to the others, the rule of the others is used (that image is
    then a false alarm, which the report shows) -- so one unusual good part is not the reason every defect
    passes.  Needs 5 good scores; with fewer, the plain rule."""
    good = np.sort(np.asarray(good_scores, dtype=np.float64))
    if good.size < 5:
        return good_only_threshold(good)
    others = good_only_threshold(good[:-1])
    return others if good[-1] > others else good_only_threshold(good)


def f1_optimal_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """A threshold with the best F1 for label 1 (anomalous = score >= threshold), placed in the middle
    of the gap below the best-F1 score rather than on it: the same F1 on these samples, but a new
    defect slightly weaker than the weakest one seen is not missed by a hair (max margin)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).astype(bool).ravel()
    if labels.all() or not labels.any():
        raise ValueError("F1-optimal threshold needs both good and defective samples")
    precision, recall, thresholds = stats.precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = float(thresholds[int(np.argmax(f1))])
    below = scores[scores < best]
    return best if below.size == 0 else float((best + below.max()) / 2.0)


def image_scale(scores: np.ndarray, labels: np.ndarray) -> ScoreScale:
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    good = scores[~labels]
    if labels.any() and good.size:
        threshold, method = f1_optimal_threshold(scores, labels), F1
    else:
        threshold, method = good_only_threshold(good if good.size else scores), GOOD_ONLY
    low = float(good.min()) if good.size else float(scores.min())
    return ScoreScale(threshold, min(low, threshold - 1e-6), method)


def pixel_scale(maps: np.ndarray, labels: np.ndarray, masks: np.ndarray | None,
                max_pixels: int = 2_000_000, seed: int = 0) -> ScoreScale:
    """Pixel threshold: F1-optimal over pixels when ground-truth masks of defects are known,
    otherwise the good-only rule applied to each good image's map maximum."""
    maps, labels = np.asarray(maps, dtype=np.float32), np.asarray(labels).astype(bool)
    good_maps = maps[~labels] if (~labels).any() else maps
    low = float(np.percentile(good_maps, 1.0))
    if masks is not None and labels.any() and np.asarray(masks).any():
        values, truth = maps.ravel(), np.asarray(masks).astype(bool).ravel()
        if values.size > max_pixels:
            pick = np.random.default_rng(seed).choice(values.size, max_pixels, replace=False)
            values, truth = values[pick], truth[pick]
        if truth.any() and not truth.all():
            threshold = f1_optimal_threshold(values, truth)
            return ScoreScale(threshold, min(low, threshold - 1e-6), F1)
    threshold = good_only_threshold(good_maps.reshape(len(good_maps), -1).max(axis=1))
    return ScoreScale(threshold, min(low, threshold - 1e-6), GOOD_ONLY)
