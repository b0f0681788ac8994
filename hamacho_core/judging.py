"""The one place that judges: raw scores and maps + thresholds -> verdicts, normalised scores, masks.

A :class:`Judge` is immutable: the image scale (threshold and the normalisation that follows it), the
pixel scale and the optional review band.  A model holds one and swaps it whole when thresholds change,
so a prediction running in another thread is judged with the old set or the new one, never a mix; every
:class:`Prediction` carries the Judge it was judged with.  Rules, for an image score ``s``:

* ``s >= image threshold``                       -> ``NG``
* ``review <= s < image threshold`` (if review)  -> ``REVIEW`` (a human takes a look)
* otherwise                                      -> ``OK``

A score that is not a number is ``NG``: a result that cannot be judged must never pass.  A map pixel is a
predicted defect when its raw value is at or above the pixel threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hamacho_core.thresholds import NG, OK, REVIEW, ScoreScale, Thresholds

__all__ = ["NG", "OK", "REVIEW", "Judge", "Prediction", "format_pair"]


@dataclass(frozen=True)
class Judge:
    """Image and pixel scales plus an optional review threshold (raw scores, the model's own units)."""

    image_scale: ScoreScale
    pixel_scale: ScoreScale
    review: float | None = None  #: review <= score < image threshold -> REVIEW

    def __post_init__(self) -> None:
        for name, value in (("image", self.image), ("pixel", self.pixel), ("review", self.review)):
            if value is not None and math.isnan(value):
                raise ValueError(f"{name} threshold is NaN")
        if self.review is not None:  # a review threshold never lies above the NG threshold
            object.__setattr__(self, "review", min(float(self.review), self.image))

    @property
    def image(self) -> float:
        """The image threshold (raw score)."""
        return self.image_scale.threshold

    @property
    def pixel(self) -> float:
        """The pixel threshold (raw map value)."""
        return self.pixel_scale.threshold

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(float(self.image), float(self.pixel), self.review)

    def at(self, thresholds: Thresholds) -> Judge:
        """This judge at user-chosen ``thresholds`` (normalisation follows them: 0.5 stays the threshold)."""
        if thresholds == self.thresholds:
            return self
        return Judge(self.image_scale.at(thresholds.image), self.pixel_scale.at(thresholds.pixel), thresholds.review)

    def with_thresholds(self, image: float | None = None, pixel: float | None = None,
                        review: float | None = None, clear_review: bool = False) -> Judge:
        """A new judge with the given thresholds replaced (None keeps one; ``clear_review`` drops the band)."""
        image_scale = self.image_scale if image is None else self.image_scale.at(image)
        pixel_scale = self.pixel_scale if pixel is None else self.pixel_scale.at(pixel)
        band = None if clear_review else (self.review if review is None else float(review))
        return Judge(image_scale, pixel_scale, band)

    # --- the comparisons ------------------------------------------------------------------------
    def verdicts(self, scores: np.ndarray | float) -> np.ndarray:
        """``OK``/``NG``/``REVIEW`` of every raw image score (a ``str`` array of the scores' shape)."""
        scores = np.asarray(scores, dtype=np.float64)
        out = np.full(scores.shape, OK, dtype="<U6")
        if self.review is not None:
            out[scores >= self.review] = REVIEW
        out[~(scores < self.image)] = NG  # NaN compares False: never OK
        return out

    def verdict(self, score: float) -> str:
        return str(self.verdicts(np.array([score]))[0])

    def normalize(self, scores: np.ndarray | float) -> np.ndarray:
        """Normalised image scores: 0.5 is the image threshold."""
        return self.image_scale.normalize(scores)

    def normalize_map(self, anomaly_map: np.ndarray) -> np.ndarray:
        """A normalised map: 0.5 is the pixel threshold."""
        return self.pixel_scale.normalize(anomaly_map)

    def defect_pixels(self, maps: np.ndarray) -> np.ndarray:
        """The predicted-defect mask of raw maps (any shape)."""
        return np.asarray(maps) >= self.pixel

    def explain(self, score: float, verdict: str) -> str:
        """The comparison behind ``verdict``: "3.21 ≥ 2.80" (NG), "2.50 ≥ 2.40" (REVIEW, the review
        threshold), "1.02 < 2.80" (OK: below the review threshold when one is set)."""
        if not math.isfinite(score):
            return f"{score} (not a number; threshold {_fmt(self.image)})"
        review = self.review if self.review is not None and self.review < self.image else None
        threshold = self.image if verdict == NG or review is None else review
        sign = "≥" if verdict in (NG, REVIEW) else "<"
        a, b = format_pair(score, threshold)
        return f"{a} {sign} {b}"

    def judge(self, scores: np.ndarray, maps: np.ndarray) -> Prediction:
        """The :class:`Prediction` of raw image scores (B,) and raw maps (B, H, W)."""
        labels = self.verdicts(scores)
        return Prediction(np.asarray(scores), self.normalize(scores), maps, self.defect_pixels(maps),
                          labels == NG, labels == REVIEW, self)


@dataclass
class Prediction:
    """Results for a batch of B images (a single image gives B = 1); maps are at input size."""

    image_scores: np.ndarray  # (B,) raw
    norm_image_scores: np.ndarray  # (B,) 0.5 = threshold
    anomaly_maps: np.ndarray  # (B, H, W) raw, float32
    masks: np.ndarray  # (B, H, W) bool, raw map >= pixel threshold
    is_anomalous: np.ndarray  # (B,) bool
    #: (B,) bool: below the NG threshold but at or above the optional review threshold.
    needs_review: np.ndarray | None = None
    #: The judge these verdicts, normalised scores and masks came from.
    judge: Judge | None = None

    def __len__(self) -> int:
        return len(self.image_scores)

    def __getitem__(self, i: int) -> Prediction:
        s = slice(i, i + 1) if i >= 0 else slice(len(self) + i, len(self) + i + 1)
        review = None if self.needs_review is None else self.needs_review[s]
        return Prediction(self.image_scores[s], self.norm_image_scores[s], self.anomaly_maps[s],
                          self.masks[s], self.is_anomalous[s], review, self.judge)

    @property
    def verdicts(self) -> list[str]:
        review = self.needs_review if self.needs_review is not None else np.zeros(len(self), bool)
        return [NG if flag else (REVIEW if rev else OK) for flag, rev in zip(self.is_anomalous, review, strict=True)]


def _fmt(value: float, decimals: int | None = None) -> str:
    if decimals is None:
        decimals = _decimals(value)
    return f"{value:.{decimals}f}"


def _decimals(value: float) -> int:
    """Decimals giving ``value`` at least 3 significant digits (2.80, 28.0, 0.0119; none from 100 on)."""
    if not math.isfinite(value) or value == 0:
        return 2
    return max(0, min(8, 2 - math.floor(math.log10(abs(value)))))


def format_pair(score: float, threshold: float) -> tuple[str, str]:
    """``score`` and ``threshold`` with the same decimals, enough that a score just below the threshold
    never reads as equal to it (2.7996 vs 2.80 -> "2.7996", "2.8000")."""
    decimals = _decimals(threshold)
    while decimals < 8 and score != threshold and _fmt(score, decimals) == _fmt(threshold, decimals):
        decimals += 1
    return _fmt(score, decimals), _fmt(threshold, decimals)
