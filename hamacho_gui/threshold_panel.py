"""Threshold panel: pick the image / pixel / review thresholds and see their effect live.

* Sliders (1000 steps, linear over a raw-score range) for the image threshold, the pixel threshold
  and, behind the "Review band" check box, a lower review threshold (never above the image one).
  Each shows the raw value and the normalised value (0.5 = the model's threshold).
* A histogram of the raw image scores (good / defective / unknown) with draggable threshold lines
  that stay in sync with the sliders.
* With both classes labelled: the ROC curve with the current operating point, image AUROC, F1 and
  the confusion counts at the current threshold.

Everything that depends on the whole data set (AUROC, ROC curve, histogram) is computed once in
:meth:`ThresholdPanel.set_data`; a slider move costs only a few numpy comparisons over the scores,
so :attr:`ThresholdPanel.thresholds_changed` can drive instant re-labelling of the results.

:meth:`ThresholdPanel.bind` follows an :class:`~hamacho_core.session.InspectionSession`: new results or
a new model redraw the panel (the thresholds stay what the session judges with), and a user's move is
emitted for the window to hand to the session.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from hamacho_core.metrics import evaluate, roc
from hamacho_core.session import InspectionSession
from hamacho_core.thresholds import ScoreScale, Thresholds
from hamacho_core.validation import validate
from hamacho_gui.threshold_plots import (
    draw_histogram,
    legend_html,
    make_histogram,
    make_roc,
)
from hamacho_gui.verdicts import NG, REVIEW, display_scale, judge_at, plain_words_html

STEPS = 1000  #: slider positions 0..STEPS map linearly onto the raw range
_MARGIN = 0.05  #: extra room around the image scores, as a fraction of their span
_UNSET = object()

_NO_LABELS = "No ground-truth labels: ROC, AUROC, F1 and confusion need labelled good and defective images."
_ONE_CLASS = "Only one class is labelled: ROC and AUROC need both good and defective images."


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


def _fmt_auroc(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _span(lo: float, hi: float) -> tuple[float, float]:
    """A non-empty range around ``lo..hi``."""
    if hi > lo:
        return lo, hi
    pad = max(abs(lo), 1.0) * 0.05
    return lo - pad, hi + pad


class ThresholdPanel(QWidget):
    """Interactive thresholds with histogram, ROC and live metrics (fits a ~350-450 px dock)."""

    #: a :class:`~hamacho_gui.verdicts.Thresholds`, on every change (slider, line drag, check box, reset,
    #: :meth:`set_thresholds`, :meth:`set_data`).  Cheap to handle: re-label the results.
    thresholds_changed = Signal(object)
    suggest_requested = Signal()  #: the "Suggest threshold" button
    #: a link of the plain-words summary: show the ``escapes`` or ``false alarms`` in the results list
    show_mistakes = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._scores = np.empty(0, dtype=np.float64)
        self._labels = np.empty(0, dtype=np.int64)
        self._truth = np.empty(0, dtype=bool)  # labelled images only: True = defective
        self._known_scores = np.empty(0, dtype=np.float64)
        self._n_pos = self._n_neg = 0
        self._image_scale: ScoreScale | None = None
        self._pixel_scale: ScoreScale | None = None
        self._image_auroc: float | None = None
        self._pixel_auroc: float | None = None
        self._image = 0.5
        self._pixel = 0.5
        self._review: float | None = None
        self._review_memory: float | None = None  # review value to restore when the band is re-enabled
        self._image_range = (0.0, 1.0)
        self._pixel_range = (0.0, 1.0)
        self._syncing = False
        self._silent = False  # following the session: show, do not emit
        self._last_emitted: Thresholds | None = None
        self._hist_items: list[pg.PlotDataItem] = []
        self.validation = None  #: the plain-words counts at the current thresholds (a Validation)
        self._build_ui()
        self._set_controls_enabled(False)

    # ------------------------------------------------------------------ public API

    def set_data(self, scores: np.ndarray, labels: np.ndarray | None, image_scale: ScoreScale,
                 pixel_scale: ScoreScale, pixel_auroc: float | None = None, *,
                 keep_thresholds: bool = False) -> None:
        """Show a new set of results.

        ``scores``: raw image scores; ``labels``: 1 defective, 0 good, -1 unknown (``None``: all
        unknown); the scales carry the model's thresholds, where the sliders start (unless
        ``keep_thresholds`` and data was shown before: then the current thresholds stay).
        Emits :attr:`thresholds_changed` once.
        """
        scores = np.asarray(scores, dtype=np.float64).ravel()
        if labels is None:
            labels = np.full(scores.shape, -1, dtype=np.int64)
        labels = np.asarray(labels).astype(np.int64).ravel()
        if labels.shape != scores.shape:
            raise ValueError(f"{labels.size} labels for {scores.size} scores")
        if not np.isin(labels, (-1, 0, 1)).all():
            raise ValueError("labels must be 1 (defective), 0 (good) or -1 (unknown)")
        keep = keep_thresholds and self._image_scale is not None
        self._scores, self._labels = scores, labels
        self._image_scale, self._pixel_scale = image_scale, pixel_scale
        self._pixel_auroc = pixel_auroc
        known = labels >= 0
        self._known_scores = scores[known]
        self._truth = labels[known] == 1
        self._n_pos = int(self._truth.sum())
        self._n_neg = int((~self._truth).sum())

        # Label-dependent, threshold-independent: once here, never per slider move.
        self._image_auroc = None
        fpr = tpr = np.empty(0)
        if self._n_pos and self._n_neg:
            finite = np.isfinite(self._known_scores)
            if finite.any() and self._truth[finite].any() and not self._truth[finite].all():
                s, y = self._known_scores[finite], self._truth[finite]
                self._image_auroc = evaluate(s, judge_at(image_scale.threshold).verdicts(s) == NG, y).image_auroc
                fpr, tpr, _ = roc(y, s)
        self._roc_curve.setData(fpr, tpr)

        if keep:
            image, pixel, review = self._image, self._pixel, self._review
            self._image_range = self._compute_image_range(image, review)
        else:
            image, pixel = image_scale.threshold, pixel_scale.threshold
            self._image_range = self._compute_image_range(image, None)
            review = None if self._review is None else self._default_review(image)
            self._review_memory = None
        self._pixel_range = self._compute_pixel_range(pixel)
        self._draw_histogram()
        self._show_label_state()
        self._set_controls_enabled(True)
        self._update(image=image, pixel=pixel, review=review, force_emit=True)

    def bind(self, session: InspectionSession) -> None:
        """Show ``session``'s results and thresholds (what the window's wiring does)."""
        self._session = session
        self._new_model = False

        def on_model(model) -> None:  # the model's results follow at once: redraw once, then
            self._new_model = True
            if model is None:
                self.suggest_button.setEnabled(False)

        def on_results(_results) -> None:
            keep, self._new_model = not self._new_model, False
            self._follow(session, keep=keep)
        session.events.connect("model", on_model)
        session.events.connect("results", on_results)
        self.reset_button.clicked.disconnect(self.reset_to_model)
        self.reset_button.clicked.connect(session.reset_thresholds)  # what the model came with or was saved at
        session.events.connect("thresholds", self._on_session_thresholds)

    def _follow(self, session: InspectionSession, keep: bool) -> None:
        model = session.model
        self.suggest_button.setEnabled(model is not None and bool(session.results))
        if model is None or session.thresholds is None:
            return
        scores = np.array([r.raw_score for r in session.results], dtype=np.float64)
        labels = np.array([r.label for r in session.results], dtype=np.int64)
        image_scale, pixel_scale = session.calibrated_scales
        self._silent = True
        try:
            self.set_data(scores, labels, image_scale, pixel_scale, session.pixel_auroc, keep_thresholds=keep)
            self.set_thresholds(session.thresholds)
        finally:
            self._silent = False
        if not keep:
            self.suggestion_label.setText("")

    def _on_session_thresholds(self, t: Thresholds | None) -> None:
        if t is not None and t != self.thresholds() and self._image_scale is not None:
            self._silent = True
            try:
                self.set_thresholds(t)
            finally:
                self._silent = False

    def show_suggestion(self, text: str, error: bool = False) -> None:
        self.suggestion_label.setText(text)
        self.suggestion_label.setToolTip(text)
        self.suggestion_label.setStyleSheet("color: #c62828;" if error else "")

    def thresholds(self) -> Thresholds:
        """The current raw thresholds."""
        return Thresholds(self._image, self._pixel, self._review)

    def set_thresholds(self, t: Thresholds) -> None:
        """Move everything to ``t`` (e.g. thresholds loaded with a model); emits exactly once.
        The slider ranges grow to include values outside them."""
        lo, hi = self._image_range
        values = [t.image] + ([t.review] if t.review is not None else [])
        if min(values) < lo or max(values) > hi:
            self._image_range = self._compute_image_range(t.image, t.review)
            self._draw_histogram()
        lo, hi = self._pixel_range
        if not lo <= t.pixel <= hi:
            self._pixel_range = self._compute_pixel_range(t.pixel)
        self._update(image=float(t.image), pixel=float(t.pixel),
                     review=None if t.review is None else float(t.review), force_emit=True)

    def reset_to_model(self) -> None:
        """Back to the model's thresholds (the review band, if on, goes back to its default)."""
        if self._image_scale is None or self._pixel_scale is None:
            return
        image = self._image_scale.threshold
        review = None if self._review is None else self._default_review(image)
        self._review_memory = None
        self._update(image=image, pixel=self._pixel_scale.threshold, review=review)

    def image_display_scale(self) -> ScoreScale | None:
        """Normalisation for displaying image scores at the current threshold (0.5 = threshold)."""
        return None if self._image_scale is None else display_scale(self._image_scale, self._image)

    def pixel_display_scale(self) -> ScoreScale | None:
        """Normalisation for displaying anomaly maps at the current pixel threshold."""
        return None if self._pixel_scale is None else display_scale(self._pixel_scale, self._pixel)

    def image_range(self) -> tuple[float, float]:
        """Raw values of the image (and review) slider's ends."""
        return self._image_range

    def pixel_range(self) -> tuple[float, float]:
        """Raw values of the pixel slider's ends."""
        return self._pixel_range

    def operating_point(self) -> tuple[float, float] | None:
        """(FPR, TPR) at the current image threshold, when both classes are labelled."""
        if not (self._n_pos and self._n_neg):
            return None
        tp, fp, _tn, _fn = self._confusion()
        return fp / self._n_neg, tp / self._n_pos

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        small = QFont(self.font())
        small.setPointSizeF(max(self.font().pointSizeF() - 1.0, 7.0))

        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        root.setSpacing(6)

        box = QGroupBox("Thresholds")
        grid = QGridLayout(box)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(0, 1)
        norm_tip = "raw score · normalised score (0.5 = the model's threshold)"

        def value_label() -> QLabel:
            label = QLabel("—")
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setToolTip(norm_tip)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            return label

        def slider(tip: str) -> QSlider:
            s = QSlider(Qt.Orientation.Horizontal)
            s.setRange(0, STEPS)
            s.setSingleStep(1)
            s.setPageStep(STEPS // 20)
            s.setToolTip(tip)
            return s

        self.image_value = value_label()
        self.image_slider = slider("Images scoring at or above this are NG")
        self.review_check = QCheckBox("Review band")
        self.review_check.setToolTip("Images scoring between the review and image thresholds go to manual review")
        self.review_value = value_label()
        self.review_value.setToolTip("raw score · normalised score at the current image threshold")
        self.review_slider = slider("Lower edge of the review band (never above the image threshold)")
        self.pixel_value = value_label()
        self.pixel_slider = slider("Anomaly-map values at or above this are marked as defect pixels")
        self.reset_button = QPushButton("Reset to model")
        self.reset_button.setToolTip("Back to the thresholds the model was calibrated (or saved) with")
        self.suggest_button = QPushButton("Suggest threshold")
        self.suggest_button.setToolTip("Set the image threshold from the labelled results: good images only: "
                                       "max(highest good score, mean + 3 std); with defects: best F1")
        self.suggest_button.setEnabled(False)
        self.suggest_button.clicked.connect(self.suggest_requested)
        self.suggestion_label = QLabel()
        self.suggestion_label.setWordWrap(True)
        # Room for the explanation is kept from the start and the text is cut to it (full text in the tool
        # tip): a suggestion never re-lays out the panel.
        self.suggestion_label.setFixedHeight(3 * self.suggestion_label.fontMetrics().lineSpacing() + 4)
        self.suggestion_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.suggestion_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.suggestion_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        grid.addWidget(QLabel("Image threshold (NG ≥)"), 0, 0)
        grid.addWidget(self.image_value, 0, 1)
        grid.addWidget(self.image_slider, 1, 0, 1, 2)
        grid.addWidget(self.review_check, 2, 0)
        grid.addWidget(self.review_value, 2, 1)
        grid.addWidget(self.review_slider, 3, 0, 1, 2)
        grid.addWidget(QLabel("Pixel threshold (defect ≥)"), 4, 0)
        grid.addWidget(self.pixel_value, 4, 1)
        grid.addWidget(self.pixel_slider, 5, 0, 1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.suggest_button)
        grid.addLayout(buttons, 6, 0, 1, 2)
        grid.addWidget(self.suggestion_label, 7, 0, 1, 2)
        root.addWidget(box)
        self.plain_label = QLabel("—")  # issue 24: what the threshold does, in words, right under the sliders
        self.plain_label.setWordWrap(True)
        self.plain_label.setMinimumWidth(10)
        self.plain_label.setStyleSheet("background: #f4f4f4; border-left: 4px solid #888; padding: 4px;")
        self.plain_label.setToolTip("Counted on the labelled images at the current thresholds; "
                                    "the links list them in the Results")
        self.plain_label.linkActivated.connect(self.show_mistakes)
        root.addWidget(self.plain_label)

        self.histogram_plot, self.image_line, self.review_line, self.review_band = make_histogram(self, small)
        root.addWidget(self.histogram_plot, 3)
        self.legend_label = QLabel(self._legend_html())
        self.legend_label.setFont(small)
        self.legend_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        root.addWidget(self.legend_label)
        self.roc_plot, self._roc_curve, self.roc_marker = make_roc(self, small)
        root.addWidget(self.roc_plot, 2)

        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        note_font = QFont(small)
        note_font.setItalic(True)
        self.note_label.setFont(note_font)
        root.addWidget(self.note_label)

        # Live metrics.
        metrics = QGroupBox("Metrics")
        form = QFormLayout(metrics)
        form.setContentsMargins(6, 6, 6, 6)
        form.setVerticalSpacing(2)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.auroc_label = QLabel("—")
        self.pixel_auroc_label = QLabel("—")
        self.f1_label = QLabel("—")
        self.confusion_label = QLabel("—")
        self.confusion_label.setToolTip("TP: defective and NG · FP: good but NG · TN: good and not NG · "
                                        "FN: defective but not NG (review counts as not NG)")
        self.review_count_label = QLabel("—")
        self.counts_label = QLabel("—")
        self.counts_label.setToolTip("Verdicts of all images at the current thresholds")
        for label in (self.auroc_label, self.pixel_auroc_label, self.f1_label, self.confusion_label,
                      self.review_count_label, self.counts_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Image AUROC", self.auroc_label)
        form.addRow("Pixel AUROC", self.pixel_auroc_label)
        form.addRow("F1 @ threshold", self.f1_label)
        form.addRow("Confusion", self.confusion_label)
        form.addRow("In review", self.review_count_label)
        form.addRow("Verdicts", self.counts_label)
        self._review_row_label = form.labelForField(self.review_count_label)
        root.addWidget(metrics)

        self.setMinimumWidth(260)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self.image_slider.valueChanged.connect(self._on_image_slider)
        self.review_slider.valueChanged.connect(self._on_review_slider)
        self.pixel_slider.valueChanged.connect(self._on_pixel_slider)
        self.review_check.toggled.connect(self._on_review_toggled)
        self.reset_button.clicked.connect(self.reset_to_model)
        for line, handler in ((self.image_line, self._on_image_line), (self.review_line, self._on_review_line)):
            line.sigPositionChanged.connect(handler)
            line.sigPositionChangeFinished.connect(handler)

    def _legend_html(self) -> str:
        return legend_html(self._labels)

    def _set_controls_enabled(self, on: bool) -> None:
        for widget in (self.image_slider, self.pixel_slider, self.review_check, self.reset_button):
            widget.setEnabled(on)
        self.review_slider.setEnabled(on and self._review is not None)
        self.image_line.setMovable(on)
        self.review_line.setMovable(on)

    # ------------------------------------------------------------------ ranges and mapping

    def _compute_image_range(self, image: float, review: float | None) -> tuple[float, float]:
        finite = self._scores[np.isfinite(self._scores)]
        values = [image] + ([review] if review is not None else [])
        if self._image_scale is not None:
            values += [self._image_scale.low, self._image_scale.high]
        if finite.size:
            values += [float(finite.min()), float(finite.max())]
        lo, hi = _span(min(values), max(values))
        margin = _MARGIN * (hi - lo)
        return lo - margin, hi + margin

    def _compute_pixel_range(self, pixel: float) -> tuple[float, float]:
        values = [pixel]
        if self._pixel_scale is not None:
            values += [self._pixel_scale.low, self._pixel_scale.high]
        return _span(min(values), max(values))

    @staticmethod
    def _to_raw(pos: int, rng: tuple[float, float]) -> float:
        lo, hi = rng
        return lo + (hi - lo) * pos / STEPS

    @staticmethod
    def _to_pos(raw: float, rng: tuple[float, float]) -> int:
        lo, hi = rng
        return int(np.clip(round((raw - lo) / (hi - lo) * STEPS), 0, STEPS))

    def _default_review(self, image: float) -> float:
        """Initial review threshold: 0.4 on the normalised scale at ``image`` (i.e. the top fifth of
        the distance from the lowest good score to the threshold)."""
        if self._image_scale is None:
            return image
        scale = display_scale(self._image_scale, image)
        return max(scale.low + 0.8 * (image - scale.low), self._image_range[0])

    # ------------------------------------------------------------------ state changes

    @contextmanager
    def _guard(self):
        previous, self._syncing = self._syncing, True
        try:
            yield
        finally:
            self._syncing = previous

    def _update(self, *, image: float | None = None, pixel: float | None = None, review=_UNSET,
                force_emit: bool = False) -> None:
        """The single place where thresholds change: clamp, sync every widget, refresh, emit."""
        if image is not None:
            self._image = float(image)
        if pixel is not None:
            self._pixel = float(pixel)
        if review is not _UNSET:
            self._review = review
        if self._review is not None:
            self._review = min(float(self._review), self._image)  # the review band lies below NG
            self._review_memory = self._review
        self._sync_widgets()
        self._refresh()
        t = self.thresholds()
        if force_emit or t != self._last_emitted:
            self._last_emitted = t
            if not self._silent:
                self.thresholds_changed.emit(t)

    def _sync_widgets(self) -> None:
        with self._guard():
            lo, hi = self._image_range
            review_on = self._review is not None
            self.image_slider.setValue(self._to_pos(self._image, self._image_range))
            self.pixel_slider.setValue(self._to_pos(self._pixel, self._pixel_range))
            self.review_check.setChecked(review_on)
            self.review_slider.setEnabled(review_on and self.image_slider.isEnabled())
            self.image_line.setBounds((lo, hi))
            self.image_line.setValue(self._image)
            self.review_line.setVisible(review_on)
            self.review_band.setVisible(review_on)
            self._review_row_label.setVisible(review_on)
            self.review_count_label.setVisible(review_on)
            if review_on:
                self.review_slider.setValue(self._to_pos(self._review, self._image_range))
                self.review_line.setBounds((lo, self._image))
                self.review_line.setValue(self._review)
                self.review_band.setRegion((self._review, self._image))
            plot = self.histogram_plot
            if plot.getViewBox().viewRange()[0] != [lo, hi]:
                plot.setXRange(lo, hi, padding=0.0)

    def _on_image_slider(self, pos: int) -> None:
        if not self._syncing:
            self._update(image=self._to_raw(pos, self._image_range))

    def _on_review_slider(self, pos: int) -> None:
        if not self._syncing and self._review is not None:
            self._update(review=self._to_raw(pos, self._image_range))

    def _on_pixel_slider(self, pos: int) -> None:
        if not self._syncing:
            self._update(pixel=self._to_raw(pos, self._pixel_range))

    def _on_review_toggled(self, on: bool) -> None:
        if self._syncing:
            return
        if on:
            review = self._review_memory if self._review_memory is not None else self._default_review(self._image)
        else:
            review = None
        self._update(review=review)

    def _on_image_line(self, line: pg.InfiniteLine) -> None:
        if not self._syncing:
            lo, hi = self._image_range
            self._update(image=float(np.clip(line.value(), lo, hi)))

    def _on_review_line(self, line: pg.InfiniteLine) -> None:
        if not self._syncing and self._review is not None:
            self._update(review=float(max(line.value(), self._image_range[0])))

    # ------------------------------------------------------------------ drawing and metrics

    def _draw_histogram(self) -> None:
        self._hist_items = draw_histogram(self.histogram_plot, self._hist_items, self._scores, self._labels,
                                          self._image_range)

    def _show_label_state(self) -> None:
        both = bool(self._n_pos and self._n_neg)
        self.roc_plot.setVisible(both)
        self.roc_plot.setEnabled(both)
        if not (self._n_pos or self._n_neg):
            note = _NO_LABELS
        elif not both:
            note = _ONE_CLASS
        else:
            note = ""
        unknown = int((self._labels < 0).sum())
        if note == "" and unknown:
            note = f"{unknown} image(s) without a label are left out of the metrics."
        self.note_label.setText(note)
        self.note_label.setVisible(bool(note))
        self.auroc_label.setText(_fmt_auroc(self._image_auroc))
        self.pixel_auroc_label.setText(_fmt_auroc(self._pixel_auroc))
        self.legend_label.setText(self._legend_html())
        self.auroc_label.setEnabled(both)
        self.f1_label.setEnabled(bool(self._n_pos))
        self.confusion_label.setEnabled(bool(self._n_pos or self._n_neg))

    def _confusion(self) -> tuple[int, int, int, int]:
        """TP, FP, TN, FN of the labelled images at the image threshold (NG = score >= threshold)."""
        ng = judge_at(self._image).verdicts(self._known_scores) == NG
        tp = int(np.count_nonzero(ng & self._truth))
        fp = int(np.count_nonzero(ng)) - tp
        return tp, fp, self._n_neg - fp, self._n_pos - tp

    def _refresh(self) -> None:
        """Per-move update: numpy counts over the scores, label texts, the ROC marker."""
        image, pixel, review = self._image, self._pixel, self._review
        if self._image_scale is not None:
            self.image_value.setText(f"{_fmt(image)} · {float(self._image_scale.normalize(image)):.2f}")
            if review is not None:
                shown = display_scale(self._image_scale, image)
                self.review_value.setText(f"{_fmt(review)} · {float(shown.normalize(review)):.2f}")
            else:
                self.review_value.setText("off")
        if self._pixel_scale is not None:
            self.pixel_value.setText(f"{_fmt(pixel)} · {float(self._pixel_scale.normalize(pixel)):.2f}")

        scores = self._scores
        judge = judge_at(image, pixel, review)
        labels = judge.verdicts(scores)
        n_ng, n_review = int(np.count_nonzero(labels == NG)), int(np.count_nonzero(labels == REVIEW))
        n_ok = scores.size - n_ng - n_review
        parts = [f"OK {n_ok}"] + ([f"REVIEW {n_review}"] if review is not None else []) + [f"NG {n_ng}"]
        self.counts_label.setText(" · ".join(parts) + f"  (of {scores.size})")
        self.validation = validate(scores, self._labels, judge)
        self.plain_label.setText(plain_words_html(self.validation))

        if not (self._n_pos or self._n_neg):
            self.f1_label.setText("—")
            self.confusion_label.setText("—")
            self.review_count_label.setText(f"{n_review}")
            self.roc_marker.setData([], [])
            return
        tp, fp, tn, fn = self._confusion()
        self.confusion_label.setText(f"TP {tp} · FP {fp} · TN {tn} · FN {fn}")
        self.f1_label.setText(f"{2 * tp / (2 * tp + fp + fn):.3f}" if self._n_pos else "—")
        if review is not None:
            known = self._known_scores
            band = judge.verdicts(known) == REVIEW
            bad = int(np.count_nonzero(band & self._truth))
            good = int(np.count_nonzero(band)) - bad
            self.review_count_label.setText(f"{n_review}  ({good} good, {bad} defective)")
        if self._n_pos and self._n_neg:
            self.roc_marker.setData([fp / self._n_neg], [tp / self._n_pos])
        else:
            self.roc_marker.setData([], [])
