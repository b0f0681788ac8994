"""The Qt-free inspection session: thresholds judge at once, unsaved work is tracked, events in order."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core import review, synthetic
from hamacho_core.dataset import load_dataset
from hamacho_core.jobs import fit_dataset
from hamacho_core.model_io import load_model, save_model
from hamacho_core.session import InspectionSession
from hamacho_core.thresholds import Thresholds

SIZE = 64


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("session")
    synthetic.write_dataset(root / "data", category="texture", n_train_good=12, n_test_good=0, n_test_bad=6,
                            size=SIZE, seed=0)
    dataset = load_dataset(root / "data")
    fit = fit_dataset(dataset, "patchcore", image_size=SIZE, coreset_ratio=0.2)
    results, skipped = review.score_sources(fit.model, review.dataset_sources(dataset, fit.training))
    assert not skipped
    return dataset, fit, results


def test_thresholds_apply_to_the_model_and_mark_unsaved(fitted, tmp_path):
    dataset, fit, results = fitted
    s = InspectionSession()
    events = []
    for name in ("model", "results", "thresholds", "dirty"):
        s.events.connect(name, lambda value, name=name: events.append(name))
    s.set_dataset(dataset)
    s.set_model(fit.model, training=fit.training, results=results)
    assert events == ["model", "results", "thresholds", "dirty"] and s.dirty
    assert s.changes == ["a newly trained model"]
    path = save_model(fit.model, tmp_path / "m.hmc", training=fit.training)
    s.mark_saved(path)
    assert not s.dirty and s.model_name == "m"

    low = min(r.raw_score for r in results) - 1e-3
    s.set_thresholds(Thresholds(low, s.thresholds.pixel))
    assert fit.model.image_scale.threshold == pytest.approx(low), "the model judges with it at once"
    verdicts, _ = s.judged()
    assert set(verdicts) == {"NG"} and s.dirty and s.changes == ["changed thresholds"]
    assert fit.model.predict(np.zeros((SIZE, SIZE, 3), np.uint8)).verdicts[0] == "NG"
    s.reset_thresholds()
    assert s.thresholds == s.calibrated


def test_results_of_a_new_model_replace_the_old_and_thresholds_stay_on_new_results(fitted):
    dataset, fit, results = fitted
    s = InspectionSession()
    s.set_model(fit.model, training=fit.training, results=results)
    chosen = Thresholds(s.thresholds.image * 1.2, s.thresholds.pixel)
    s.set_thresholds(chosen)
    s.set_results(results[:3])
    assert s.thresholds.image == pytest.approx(chosen.image) and len(s.results) == 3
    s.set_model(fit.model, path=None)
    assert s.results == []


def test_dataset_sources_mark_held_out_and_validation(fitted):
    dataset, fit, results = fitted
    sets = [r.set for r in results]
    assert sets.count(review.HELD_OUT) == 2 and sets.count(review.VALIDATION) == 6
    assert {r.folder for r in results} == {"good", "bad"}


def test_suggest_threshold_good_only_and_f1(fitted):
    dataset, fit, results = fitted
    s = InspectionSession()
    s.set_model(fit.model, training=fit.training, results=[r for r in results if r.label == 0])
    t, how = s.suggest_threshold()
    good = np.array([r.raw_score for r in s.results])
    assert t.image == pytest.approx(max(good.max(), good.mean() + 3 * good.std()))
    assert "every good image passes" in how
    s.set_results(results)
    t, how = s.suggest_threshold()
    assert "F1" in how and t.image > min(r.raw_score for r in results)
    s.set_results([r for r in results if r.label == 1])
    with pytest.raises(ValueError, match="labelled good"):
        s.suggest_threshold()


def test_opened_model_rescores_the_dataset_like_the_trained_one(fitted, tmp_path):
    dataset, fit, results = fitted
    path = save_model(fit.model, tmp_path / "m.hmc", training=fit.training)
    s = InspectionSession()
    s.set_dataset(dataset)
    s.set_model(load_model(path), path=path)
    assert not s.dirty and s.training["train_files"] == fit.training["train_files"]
    again, _ = review.score_sources(s.model, s.dataset_sources())
    assert [r.set for r in again] == [r.set for r in results]
    assert [r.raw_score for r in again] == pytest.approx([r.raw_score for r in results], rel=1e-4)


def test_export_writes_truth_set_folder_and_time(fitted, tmp_path):
    import csv

    dataset, fit, results = fitted
    t = Thresholds(fit.model.image_scale.threshold, fit.model.pixel_scale.threshold)
    csv_path = review.export_items(fit.model, results, t, tmp_path / "out", colormap="hot")
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    assert list(rows[0]) == list(review.CSV_FIELDS)
    assert {r["truth"] for r in rows} == {"good", "defective"}
    assert {r["set"] for r in rows} == {"held-out", "validation"}
    assert all(float(r["time_ms"]) > 0 for r in rows)
    assert len({r["overlay"] for r in rows}) == len(rows) and all((csv_path.parent / r["overlay"]).is_file()
                                                                  for r in rows)
    jet = review.export_items(fit.model, results[:1], t, tmp_path / "jet", colormap="jet")
    from hamacho_core.imageio import read_image

    stem = results[0].path.stem
    assert not np.array_equal(read_image(tmp_path / "out" / f"{stem}_overlay.png"),
                              read_image(jet.parent / f"{stem}_overlay.png")), "the chosen colormap is used"


def test_thresholds_change_in_one_step_for_a_predict_in_another_thread(fitted):
    """The session moves thresholds from the GUI thread while Live predicts in a worker: every prediction
    is judged with one whole set (image and pixel thresholds from the same move)."""
    import threading

    dataset, fit, results = fitted
    model = fit.model
    saved = model.judge
    scores = [r.raw_score for r in results]
    low = Thresholds(min(scores) - 1.0, -1e9)  # everything NG, every pixel a defect
    high = Thresholds(max(scores) + 1e6, 1e9)  # nothing NG, no defect pixel
    stop = threading.Event()

    def flip():
        while not stop.is_set():
            for t in (low, high):
                model.set_thresholds(image=t.image, pixel=t.pixel)
    mover = threading.Thread(target=flip)
    mover.start()
    try:
        image = np.zeros((SIZE, SIZE, 3), np.uint8)
        seen = set()
        for _ in range(150):
            p = model.predict(image)
            ng = bool(p.is_anomalous[0])
            assert bool(p.masks[0].all()) == bool(p.masks[0].any()) == ng, "image and pixel thresholds of one set"
            assert ng == (float(p.norm_image_scores[0]) >= 0.5)
            seen.add(ng)
    finally:
        stop.set()
        mover.join()
        model.judge = saved
    assert seen == {True, False}, "both sets were used while they changed"


def test_normalisation_does_not_drift_with_slider_history(fitted):
    dataset, fit, results = fitted
    s = InspectionSession()
    s.set_model(fit.model, training=fit.training, results=results)
    calibrated = fit.model.image_scale
    for image in (calibrated.threshold * 0.5, calibrated.threshold * 0.2, calibrated.threshold):
        s.set_thresholds(Thresholds(image, s.thresholds.pixel))
    assert fit.model.image_scale == calibrated, "back at the calibrated value: the calibrated scale itself"
    assert "changed thresholds" not in s.changes


def test_a_save_marks_saved_only_what_it_wrote(fitted, tmp_path):
    dataset, fit, results = fitted
    s = InspectionSession()
    s.set_model(fit.model, training=fit.training, results=results)
    what = s.saving()  # the save starts ...
    s.set_thresholds(Thresholds(s.thresholds.image * 1.1, s.thresholds.pixel))  # ... a move while it runs
    assert s.mark_saved(tmp_path / "m.hmc", what)
    assert s.changes == ["changed thresholds"], "the move made during the save is still unsaved"
    s.reset_thresholds()
    assert s.thresholds == what[1] and not s.dirty, "reset goes back to what was saved"
    other = InspectionSession()
    other.set_model(fit.model, training=fit.training)
    stale = other.saving()
    b = save_model(fit.model, tmp_path / "b.hmc", training=fit.training)
    other.set_model(load_model(b), path=b)
    assert not other.mark_saved(tmp_path / "a.hmc", stale) and other.model_path == b, "another model is open now"
