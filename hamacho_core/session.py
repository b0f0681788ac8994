"""One inspection session, without Qt: the dataset, the model, its results, one set of thresholds,
whether anything is unsaved and the file the model came from.

Views bind to its events (``session.events.connect("thresholds", callback)``) and change it only
through its methods, so what the technician sets is what judges: :meth:`InspectionSession.set_thresholds`
applies to the model at once (Review, Live, Inspect, Export and Save all use the model), and saving
writes exactly what the session shows.  Methods are called from one thread (the GUI's); long work
(fitting, scoring) runs elsewhere and hands its plain results to the session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from hamacho_core import review
from hamacho_core.dataset import Dataset
from hamacho_core.review import ReviewItem
from hamacho_core.thresholds import F1, GOOD_ONLY, Thresholds, f1_optimal_threshold, good_only_threshold

#: Event names and their callback arguments.
EVENTS = {
    "dataset": "(dataset)",
    "model": "(model)  a new model (trained, opened) or None",
    "results": "(results)  new results (maps kept)",
    "thresholds": "(thresholds)  the thresholds judging now",
    "dirty": "(dirty: bool)  unsaved changes appeared or were saved/discarded",
}


class EventHub:
    """Plain callbacks per event name (napari-style ``connect``), called in order."""

    def __init__(self, names) -> None:
        self._callbacks: dict[str, list[Callable]] = {name: [] for name in names}

    def connect(self, name: str, callback: Callable) -> None:
        if name not in self._callbacks:
            raise KeyError(f"unknown event {name!r}; events: {', '.join(self._callbacks)}")
        self._callbacks[name].append(callback)

    def disconnect(self, name: str, callback: Callable) -> None:
        self._callbacks[name].remove(callback)

    def emit(self, name: str, *args) -> None:
        for callback in list(self._callbacks[name]):
            callback(*args)


class InspectionSession:
    def __init__(self) -> None:
        self.events = EventHub(EVENTS)
        self.dataset: Dataset | None = None
        self.model = None
        self.training: dict = {}
        self.model_path: Path | None = None  #: the file the model came from or was last saved to
        self.results: list[ReviewItem] = []
        self.pixel_auroc: float | None = None
        self.thresholds: Thresholds | None = None
        self.calibrated: Thresholds | None = None  #: the thresholds the model came with
        self.calibrated_scales: tuple | None = None  #: (image, pixel) ScoreScale the model came with
        self.changes: list[str] = []  #: what is unsaved, for the Save/Discard question

    # --- state ------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self.changes)

    @property
    def model_name(self) -> str:
        if self.model is None:
            return ""
        return self.model_path.stem if self.model_path is not None else f"unsaved {self.model.kind} model"

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.dataset = dataset
        self.events.emit("dataset", dataset)

    def set_model(self, model, *, training: dict | None = None, path: Path | None = None,
                  results: list[ReviewItem] | None = None, pixel_auroc: float | None = None) -> None:
        """A trained (``path`` None: unsaved) or opened model; earlier results go (they were another
        model's) unless ``results`` of this model come with it."""
        self.model = model
        self.training = dict(training if training is not None else (model.manifest or {}).get("training", {})
                             if model is not None else {})
        self.model_path = Path(path) if path is not None else None
        self.calibrated = self._model_thresholds() if model is not None else None
        self.calibrated_scales = (model.image_scale, model.pixel_scale) if model is not None else None
        self.thresholds = self.calibrated
        self.changes = ["a newly trained model"] if model is not None and path is None else []
        self.events.emit("model", model)
        self._set_results(results or [], pixel_auroc)
        self.events.emit("thresholds", self.thresholds)
        self.events.emit("dirty", self.dirty)

    def set_results(self, results: list[ReviewItem], pixel_auroc: float | None = None) -> None:
        """New results of the current model; the thresholds stay as set."""
        self._set_results(results, pixel_auroc)

    def _set_results(self, results: list[ReviewItem], pixel_auroc: float | None) -> None:
        self.results, self.pixel_auroc = list(results), pixel_auroc
        self.events.emit("results", self.results)

    def set_thresholds(self, t: Thresholds) -> None:
        """Judge with ``t`` from now on: applied to the model at once (Live's next frame uses it)."""
        if self.model is None or t == self.thresholds:
            return
        image_cal, pixel_cal = self.calibrated_scales
        # From the calibrated scales, not the current ones: normalised scores never drift with slider history.
        self.model.set_scales(image_cal.at(t.image), pixel_cal.at(t.pixel), t.review)
        self.thresholds = self._model_thresholds()
        if self.thresholds == self.calibrated:  # back where the model came from (saved or trained)
            self.changes = [c for c in self.changes if c != "changed thresholds"]
        elif "changed thresholds" not in self.changes:
            self.changes.append("changed thresholds")
        self.events.emit("thresholds", self.thresholds)
        self.events.emit("dirty", self.dirty)

    def reset_thresholds(self) -> None:
        """Back to the thresholds the model came with."""
        if self.calibrated is not None:
            self.set_thresholds(self.calibrated)

    def model_changed(self, what: str) -> None:
        """The model itself changed (e.g. an image taught as good): unsaved until saved."""
        if what not in self.changes:
            self.changes.append(what)
        self.events.emit("dirty", self.dirty)

    def revert_change(self, what: str) -> None:
        """A change undone (e.g. an image taught as good, forgotten again): no longer unsaved work."""
        self.changes = [c for c in self.changes if c != what]
        self.events.emit("dirty", self.dirty)

    def saving(self) -> tuple:
        """What a save about to start writes: pass it to :meth:`mark_saved` when the save succeeded."""
        return self.model, self.thresholds, tuple(self.changes), self.model.judge

    def mark_saved(self, path: Path, saved: tuple | None = None) -> bool:
        """The model was written to ``path``; ``saved`` (from :meth:`saving`) says what was written, so
        changes made meanwhile stay unsaved.  False (nothing marked) when another model is open now."""
        model, t, changes, judge = saved if saved is not None else self.saving()
        if model is not self.model:
            return False
        self.model_path = Path(path)
        self.changes = [c for c in self.changes if c not in changes]
        self.calibrated = t  # what "back to the model" means from now on
        self.calibrated_scales = (judge.image_scale, judge.pixel_scale)
        self.events.emit("dirty", self.dirty)
        return True

    def _model_thresholds(self) -> Thresholds:
        return self.model.judge.thresholds

    # --- derived ----------------------------------------------------------------------------------
    def judged(self, items: list[ReviewItem] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Verdicts and normalised scores of the results (or ``items``) at the current thresholds."""
        items = self.results if items is None else items
        if self.model is None or self.thresholds is None:
            return np.array([], dtype="<U6"), np.array([], dtype=np.float32)
        return review.judge(self.model, items, self.thresholds)

    def dataset_sources(self) -> list[review.Source]:
        """The loaded dataset's images to score with the current model, with labels and sets."""
        if self.dataset is None:
            return []
        return review.dataset_sources(self.dataset, self.training)

    def suggest_threshold(self) -> tuple[Thresholds, str]:
        """An image threshold from the labelled results, and what was done, in words.

        Good images only: ``max(highest good score, mean + 3 std)`` over them (every good image
        passes, with a margin from their spread).  Both classes: the F1-optimal threshold.  The
        pixel threshold and the review band stay."""
        if self.model is None or self.thresholds is None or not self.results:
            raise ValueError("there are no results to suggest a threshold from: train, or score a dataset")
        scores = np.array([r.raw_score for r in self.results], dtype=np.float64)
        labels = np.array([r.label for r in self.results])
        finite = np.isfinite(scores)
        good, bad = scores[finite & (labels == 0)], scores[finite & (labels == 1)]
        if good.size == 0:
            raise ValueError("no result is labelled good: a threshold needs good images (open a dataset with good/ "
                             "images and score it)")
        if bad.size:
            known = finite & (labels >= 0)
            value = f1_optimal_threshold(scores[known], labels[known])
            how = (f"{F1}: the threshold with the best F1 over {good.size} good and {bad.size} defective images, "
                   "placed mid-way to the next lower score")
        else:
            value = good_only_threshold(good)
            how = (f"{GOOD_ONLY}: max(highest good score {good.max():.4g}, mean {good.mean():.4g} + 3 x std "
                   f"{good.std():.4g}) over {good.size} good images: every good image passes, with a margin")
        t = self.thresholds
        review_t = None if t.review is None else min(t.review, value)
        return Thresholds(float(value), t.pixel, review_t), f"Image threshold {value:.4g} ({how})."
