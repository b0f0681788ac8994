"""Evaluation metrics (scikit-learn): image/pixel AUROC, F1 and the confusion matrix."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# scikit-learn is imported where it is used: it costs ~1.4 s at start-up, and judging needs none of it.


@dataclass(frozen=True)
class Metrics:
    image_auroc: float | None
    pixel_auroc: float | None
    image_f1: float
    #: [[true OK, false NG], [missed NG, true NG]] (rows: truth good/defective, cols: predicted).
    confusion: list[list[int]]
    n_good: int
    n_defective: int

    def to_dict(self) -> dict:
        return asdict(self)


#: Pixels a pixel AUROC is computed on at most: larger sets are sampled evenly (a stride), so a tiled
#: full-resolution model's maps need neither gigabytes nor minutes (sampling changes the AUROC by
#: well under 0.001 at this size).
MAX_AUROC_PIXELS = 4_000_000


def pixel_step(n_pixels: int, limit: int = MAX_AUROC_PIXELS) -> int:
    """Stride that keeps at most ``limit`` of ``n_pixels`` pixels."""
    return max(1, -(-int(n_pixels) // limit))


class PixelSample:
    """An evenly strided sample of the pixels of many maps (at most ``limit`` of ``total_pixels``), taken one
    map at a time so nothing is stacked: what pixel AUROC is computed on (evaluation and review alike)."""

    def __init__(self, total_pixels: int, limit: int = MAX_AUROC_PIXELS):
        self.step = pixel_step(total_pixels, limit)
        self._offset = 0
        self._scores: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def add(self, scores: np.ndarray, truth: np.ndarray) -> None:
        """One map's values and its defect mask (same shape)."""
        start = (-self._offset) % self.step
        self._scores.append(np.asarray(scores).ravel()[start::self.step])
        self._labels.append(np.asarray(truth).ravel()[start::self.step])
        self._offset += np.asarray(scores).size

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(sampled values, their labels)."""
        if not self._scores:
            return np.empty(0, np.float32), np.empty(0, bool)
        return np.concatenate(self._scores), np.concatenate(self._labels)

    def auroc(self) -> float | None:
        scores, labels = self.arrays()
        return _auroc(labels, scores)


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    labels = np.asarray(labels).astype(bool).ravel()
    if labels.all() or not labels.any():
        return None  # undefined with one class only
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64).ravel()))


def evaluate(image_scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray,
             maps: np.ndarray | None = None, masks: np.ndarray | None = None) -> Metrics:
    """Metrics for raw image scores, predicted verdicts (True = NG) and true labels (1 = defective).

    Pixel AUROC is computed only when masks are given and contain defect pixels.
    """
    labels = np.asarray(labels).astype(bool)
    predicted = np.asarray(predicted).astype(bool)
    pixel = None
    if maps is not None and masks is not None:
        masks, maps = np.asarray(masks).ravel(), np.asarray(maps).ravel()
        step = pixel_step(maps.size)
        pixel = _auroc(masks[::step], maps[::step])
    from sklearn.metrics import confusion_matrix, f1_score

    matrix = confusion_matrix(labels, predicted, labels=[False, True])
    return Metrics(
        image_auroc=_auroc(labels, image_scores),
        pixel_auroc=pixel,
        image_f1=float(f1_score(labels, predicted, zero_division=0.0)),
        confusion=matrix.astype(int).tolist(),
        n_good=int((~labels).sum()),
        n_defective=int(labels.sum()),
    )


def roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds of the ROC curve."""
    from sklearn.metrics import roc_curve

    return roc_curve(np.asarray(labels).astype(bool), np.asarray(scores, dtype=np.float64))
