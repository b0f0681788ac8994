"""Evaluation metrics (scikit-learn): image/pixel AUROC, AUPRO, F1 and the confusion matrix."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hamacho_core import stats

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
    #: Area under the per-region overlap curve up to 30 % false-positive rate (:class:`ProCurve`).
    aupro: float | None = None

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
    return stats.roc_auc(labels, np.asarray(scores, dtype=np.float64).ravel())


def evaluate(image_scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray,
             maps: np.ndarray | None = None, masks: np.ndarray | None = None, aupro: float | None = None) -> Metrics:
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
    return Metrics(
        image_auroc=_auroc(labels, image_scores),
        pixel_auroc=pixel,
        image_f1=stats.f1(labels, predicted),
        confusion=stats.confusion(labels, predicted),
        n_good=int((~labels).sum()),
        n_defective=int(labels.sum()),
        aupro=aupro,
    )


def roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rate, true-positive rate and thresholds of the ROC curve."""
    return stats.roc_curve(labels, scores)


class ProCurve:
    """Per-region overlap (PRO, Bergmann et al., MVTec AD): each connected defect region of the masks counts
    once, whatever its size, so small defects weigh as much as large ones.  Maps are added one image at a
    time; the normal pixels are sampled (at most ``limit`` of ``total_pixels``, a stride) for the false
    positive rate, every defect pixel is kept for the overlaps."""

    def __init__(self, total_pixels: int, limit: int = MAX_AUROC_PIXELS):
        self._normal = PixelSample(total_pixels, limit)
        self._regions: list[np.ndarray] = []  # each region's map values, sorted

    def add(self, anomaly_map: np.ndarray, mask: np.ndarray | None) -> None:
        import cv2

        values = np.asarray(anomaly_map, np.float32)
        truth = np.zeros(values.shape, bool) if mask is None else np.asarray(mask, bool)
        self._normal.add(np.where(truth, np.nan, values), np.zeros(values.shape, bool))
        if truth.any():
            count, labels = cv2.connectedComponents(truth.astype(np.uint8), connectivity=8)
            for region in range(1, count):
                self._regions.append(np.sort(values[labels == region]))

    def aupro(self, fpr_limit: float = 0.3, steps: int = 1000) -> float | None:
        """Area under the PRO curve up to ``fpr_limit`` false-positive rate, divided by ``fpr_limit``
        (1 = every region fully found before any false positive); None without regions or normal pixels."""
        normal, _ = self._normal.arrays()
        normal = np.sort(normal[np.isfinite(normal)])
        if not self._regions or normal.size == 0:
            return None
        # Thresholds from the normal pixels' upper quantiles: FPR runs 0 .. fpr_limit in ``steps`` steps.
        fprs = np.linspace(0.0, fpr_limit, steps + 1)
        thresholds = np.quantile(normal, 1.0 - fprs)
        fpr = 1.0 - np.searchsorted(normal, thresholds, side="left") / normal.size
        pro = np.mean([1.0 - np.searchsorted(r, thresholds, side="left") / r.size for r in self._regions], axis=0)
        fpr = np.clip(fpr, 0.0, fpr_limit)
        return float(np.trapezoid(pro, fpr) / fpr_limit)
