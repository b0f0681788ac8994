"""Threshold panel (real widgets, offscreen) and the pure-numpy verdict rules."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score

from hamacho_core.thresholds import ScoreScale, image_scale
from hamacho_gui.threshold_panel import STEPS, ThresholdPanel
from hamacho_gui.verdicts import NG, OK, REVIEW, Thresholds, display_scale, verdicts

PIXEL_SCALE = ScoreScale(0.6, 0.1, "f1-optimal")


# ---------------------------------------------------------------- verdicts (no Qt)


def test_verdicts_without_review_band():
    scores = np.array([0.0, 0.999, 1.0, 1.001, 5.0, np.nan])
    out = verdicts(scores, Thresholds(image=1.0, pixel=0.5))
    assert out.tolist() == [OK, OK, NG, NG, NG, NG]  # at the threshold -> NG; NaN never passes


def test_verdicts_review_band_edges_and_shape():
    t = Thresholds(image=1.0, pixel=0.5, review=0.5)
    scores = np.array([[0.4999, 0.5, 0.75], [0.9999, 1.0, -np.inf]])
    out = verdicts(scores, t)
    assert out.shape == (2, 3)
    assert out.tolist() == [[OK, REVIEW, REVIEW], [REVIEW, NG, OK]]
    # an empty band (review == image) sends nothing to review
    assert verdicts(np.array([0.9, 1.0]), Thresholds(1.0, 0.5, 1.0)).tolist() == [OK, NG]


def test_verdicts_match_a_loop():
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 1, 500)
    t = Thresholds(image=0.7, pixel=0.0, review=-0.2)
    expected = [NG if s >= t.image else REVIEW if s >= t.review else OK for s in scores]
    assert verdicts(scores, t).tolist() == expected


def test_thresholds_validation_and_display_scale():
    with pytest.raises(ValueError):
        Thresholds(image=1.0, pixel=0.5, review=1.5)
    with pytest.raises(ValueError):
        Thresholds(image=float("nan"), pixel=0.5)
    model = ScoreScale(10.0, 6.0, "f1-optimal")
    assert display_scale(model, 10.0) is model
    moved = display_scale(model, 12.0)
    assert float(moved.normalize(12.0)) == pytest.approx(0.5)


# ---------------------------------------------------------------- the panel


def make_data(seed: int = 3):
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(10, 1, 30), rng.normal(16, 2, 15)]
    labels = np.r_[np.zeros(30, int), np.ones(15, int)]
    return scores, labels, image_scale(scores, labels)


@pytest.fixture
def panel(qtbot):
    widget = ThresholdPanel()
    qtbot.addWidget(widget)
    widget.resize(400, 900)
    return widget


@pytest.fixture
def loaded(panel):
    scores, labels, scale = make_data()
    emitted = []
    panel.thresholds_changed.connect(emitted.append)
    panel.set_data(scores, labels, scale, PIXEL_SCALE, pixel_auroc=0.95)
    return panel, scores, labels, scale, emitted


def expected_pos(raw, rng):
    lo, hi = rng
    return int(round((raw - lo) / (hi - lo) * STEPS))


def confusion_from_label(panel) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"(TP|FP|TN|FN) (\d+)", panel.confusion_label.text())}


def test_set_data_positions_sliders_at_model_thresholds(loaded):
    panel, scores, _labels, scale, emitted = loaded
    assert len(emitted) == 1 and emitted[0] == panel.thresholds()
    assert panel.thresholds() == Thresholds(scale.threshold, PIXEL_SCALE.threshold, None)
    lo, hi = panel.image_range()
    assert lo < min(scores.min(), scale.low) and hi > max(scores.max(), scale.high)
    assert panel.image_slider.value() == expected_pos(scale.threshold, panel.image_range())
    assert panel.pixel_range() == pytest.approx((PIXEL_SCALE.low, PIXEL_SCALE.high))
    assert panel.pixel_slider.value() == expected_pos(PIXEL_SCALE.threshold, panel.pixel_range()) == STEPS // 2
    assert panel.image_line.value() == pytest.approx(scale.threshold)
    assert panel.image_value.text().endswith("0.50")  # normalised: the model threshold is 0.5
    assert panel.pixel_value.text().endswith("0.50")
    assert not panel.review_check.isChecked() and not panel.review_slider.isEnabled()
    assert panel.auroc_label.text() != "—" and panel.pixel_auroc_label.text() == "0.950"


def test_image_slider_emits_mapped_value_and_updates_metrics(loaded):
    panel, scores, labels, _scale, emitted = loaded
    lo, hi = panel.image_range()
    for pos in (300, 420, 555, 700):
        panel.image_slider.setValue(pos)
        raw = lo + (hi - lo) * pos / STEPS
        assert emitted[-1].image == pytest.approx(raw)
        assert panel.thresholds().image == pytest.approx(raw)
        assert panel.image_line.value() == pytest.approx(raw)

        predicted = scores >= raw
        (tn, fp), (fn, tp) = confusion_matrix(labels, predicted, labels=[0, 1])
        assert confusion_from_label(panel) == {"TP": tp, "FP": fp, "TN": tn, "FN": fn}
        assert float(panel.f1_label.text()) == pytest.approx(f1_score(labels, predicted), abs=5e-4)
        v = verdicts(scores, panel.thresholds())
        assert panel.counts_label.text().startswith(f"OK {(v == OK).sum()} · NG {(v == NG).sum()}")
    assert len(emitted) == 5  # set_data + one per move


def test_pixel_slider_emits_mapped_value(loaded):
    panel, *_rest, emitted = loaded
    panel.pixel_slider.setValue(800)
    lo, hi = panel.pixel_range()
    assert emitted[-1].pixel == pytest.approx(lo + (hi - lo) * 0.8)
    assert emitted[-1].image == panel.thresholds().image


def test_review_band_clamped_below_image_threshold(loaded):
    panel, scores, labels, _scale, emitted = loaded
    panel.review_check.setChecked(True)
    t = emitted[-1]
    assert t.review is not None and t.review < t.image
    assert panel.review_slider.isEnabled() and panel.review_line.isVisible()

    panel.review_slider.setValue(STEPS)  # try to go above the image threshold
    assert panel.thresholds().review == panel.thresholds().image
    assert panel.review_slider.value() == panel.image_slider.value()

    panel.review_slider.setValue(panel.image_slider.value() - 100)
    review = panel.thresholds().review
    panel.image_slider.setValue(panel.image_slider.value() - 200)  # image below review pushes it down
    t = panel.thresholds()
    assert t.review == t.image < review

    panel.review_line.setValue(t.image + 1.0)  # dragging the review line past the image line
    assert panel.thresholds().review <= panel.thresholds().image

    panel.review_slider.setValue(panel.image_slider.value() - 150)
    t = panel.thresholds()
    v = verdicts(scores, t)
    assert f"REVIEW {(v == REVIEW).sum()}" in panel.counts_label.text()
    band = (scores >= t.review) & (scores < t.image)
    assert panel.review_count_label.text().startswith(
        f"{band.sum()}  ({(band & (labels == 0)).sum()} good, {(band & (labels == 1)).sum()} defective)")

    panel.review_check.setChecked(False)
    assert emitted[-1].review is None and not panel.review_line.isVisible()
    panel.review_check.setChecked(True)
    assert emitted[-1].review == pytest.approx(t.review)  # remembered


def test_dragging_the_line_moves_the_slider(loaded):
    panel, *_rest, emitted = loaded
    lo, hi = panel.image_range()
    target = lo + 0.3 * (hi - lo) + 0.0123
    n = len(emitted)
    panel.image_line.setValue(target)  # emits sigPositionChanged
    panel.image_line.sigPositionChangeFinished.emit(panel.image_line)
    assert panel.image_slider.value() == expected_pos(target, (lo, hi))
    assert panel.thresholds().image == pytest.approx(target)
    assert len(emitted) == n + 1 and emitted[-1].image == pytest.approx(target)  # no duplicate, no loop

    panel.review_check.setChecked(True)
    review = lo + 0.2 * (hi - lo)
    panel.review_line.setValue(review)
    panel.review_line.sigPositionChangeFinished.emit(panel.review_line)
    assert panel.review_slider.value() == expected_pos(review, (lo, hi))
    assert panel.thresholds().review == pytest.approx(review)


def test_reset_button(loaded, qtbot):
    panel, _scores, _labels, scale, emitted = loaded
    panel.image_slider.setValue(100)
    panel.pixel_slider.setValue(900)
    assert panel.thresholds().image != scale.threshold
    panel.reset_button.click()
    assert panel.thresholds() == Thresholds(scale.threshold, PIXEL_SCALE.threshold, None)
    assert emitted[-1] == panel.thresholds()
    assert panel.image_slider.value() == expected_pos(scale.threshold, panel.image_range())


def test_roc_marker_is_the_operating_point(loaded):
    panel, scores, labels, _scale, _emitted = loaded
    assert panel.roc_plot.isVisibleTo(panel)
    for pos in (350, 450, 600):
        panel.image_slider.setValue(pos)
        t = panel.thresholds().image
        tp = np.sum((scores >= t) & (labels == 1))
        fn = np.sum((scores < t) & (labels == 1))
        fp = np.sum((scores >= t) & (labels == 0))
        tn = np.sum((scores < t) & (labels == 0))
        x, y = panel.roc_marker.getData()
        assert (x[0], y[0]) == pytest.approx((fp / (fp + tn), tp / (tp + fn)))
        assert panel.operating_point() == pytest.approx((x[0], y[0]))


def test_unlabelled_data_disables_roc(panel):
    scores, _labels, scale = make_data()
    panel.set_data(scores, None, scale, PIXEL_SCALE)
    assert not panel.roc_plot.isVisibleTo(panel)
    assert panel.note_label.isVisibleTo(panel) and "label" in panel.note_label.text()
    assert panel.auroc_label.text() == "—" and panel.f1_label.text() == "—"
    assert panel.operating_point() is None
    panel.image_slider.setValue(500)
    v = verdicts(scores, panel.thresholds())
    assert panel.counts_label.text().startswith(f"OK {(v == OK).sum()} · NG {(v == NG).sum()}")
    assert len(panel._hist_items) == 1  # one histogram: unknown


def test_partly_labelled_and_one_class(panel):
    scores, labels, scale = make_data()
    labels = labels.copy()
    labels[::4] = -1
    panel.set_data(scores, labels, scale, PIXEL_SCALE)
    assert panel.roc_plot.isVisibleTo(panel) and "without a label" in panel.note_label.text()
    known = labels >= 0
    t = panel.thresholds().image
    tp = np.sum((scores >= t) & (labels == 1))
    assert confusion_from_label(panel)["TP"] == tp
    assert sum(confusion_from_label(panel).values()) == known.sum()

    panel.set_data(scores[:30], labels[:30] * 0, scale, PIXEL_SCALE)  # good images only
    assert not panel.roc_plot.isVisibleTo(panel)
    assert panel.auroc_label.text() == "—" and panel.f1_label.text() == "—"
    assert panel.confusion_label.text().startswith("TP 0 · FP")


def test_set_thresholds_emits_exactly_once(loaded):
    panel, *_rest, emitted = loaded
    n = len(emitted)
    lo, hi = panel.image_range()
    t = Thresholds(image=lo + 0.6 * (hi - lo), pixel=0.3, review=lo + 0.4 * (hi - lo))
    panel.set_thresholds(t)
    assert len(emitted) == n + 1 and emitted[-1] == t == panel.thresholds()
    assert panel.review_check.isChecked()
    assert panel.image_slider.value() == expected_pos(t.image, (lo, hi))
    assert panel.review_slider.value() == expected_pos(t.review, (lo, hi))
    assert panel.review_line.value() == pytest.approx(t.review)

    panel.set_thresholds(t)  # the same again still emits once (e.g. a model re-loaded)
    assert len(emitted) == n + 2

    far = Thresholds(image=hi + 10.0, pixel=PIXEL_SCALE.high + 1.0)  # outside: the ranges grow
    panel.set_thresholds(far)
    assert len(emitted) == n + 3 and panel.thresholds() == far
    assert panel.image_range()[1] >= far.image and panel.pixel_range()[1] >= far.pixel
    assert not panel.review_check.isChecked()


def test_keep_thresholds_on_new_data(loaded):
    panel, scores, labels, scale, emitted = loaded
    panel.image_slider.setValue(640)
    kept = panel.thresholds()
    panel.set_data(scores[:20], labels[:20], scale, PIXEL_SCALE, keep_thresholds=True)
    assert emitted[-1] == kept == panel.thresholds()
    panel.set_data(scores, labels, scale, PIXEL_SCALE)
    assert panel.thresholds().image == scale.threshold


def test_bad_input_and_empty_data(panel):
    scores, labels, scale = make_data()
    with pytest.raises(ValueError):
        panel.set_data(scores, labels[:-1], scale, PIXEL_SCALE)
    with pytest.raises(ValueError):
        panel.set_data(scores, labels * 2, scale, PIXEL_SCALE)
    panel.set_data(np.empty(0), None, scale, PIXEL_SCALE)  # a model loaded, no results yet
    assert panel.thresholds().image == scale.threshold
    assert panel.counts_label.text().startswith("OK 0 · NG 0")
