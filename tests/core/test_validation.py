"""Validation in plain words (issue 24): the counts behind "of N known defects, K would pass as OK", the
warning when one good image holds the threshold up, the calibration rule that keeps every good calibration
image OK, and the release report (HTML with the histogram and the escapes' thumbnails)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hamacho_core import report
from hamacho_core.imageio import write_image
from hamacho_core.judging import OK
from hamacho_core.models import PatchCore, PatchCoreConfig, ValidationSet
from hamacho_core.synthetic import make_samples
from hamacho_core.thresholds import Thresholds, good_only_threshold, robust_good_threshold
from hamacho_core.validation import synthetic_from_auto, validate

S = 64


def test_counts_in_plain_words():
    scores = [1.0, 2.0, 3.0, 9.0, 5.0, 6.0, 7.5, float("nan"), 4.0]
    labels = [0, 0, 0, 0, 1, 1, 1, 1, -1]
    v = validate(scores, labels, Thresholds(image=7.0, pixel=1.0, review=5.5),
                 names=[f"f/{i}.png" for i in range(9)])
    assert (v.defects, v.good) == (4, 4), "the unlabelled image is left out"
    assert v.escape_names == ["f/4.png"] and v.defects_in_review == 1  # 6.0 is in the review band
    assert v.false_alarm_names == ["f/3.png"] and v.good_in_review == 0
    lines = v.lines()
    assert lines[0] == "Of 4 known defective images, 1 would pass as OK (1 more go to review)."
    assert lines[1] == "Of 4 good images, 1 would be rejected as NG."
    assert v.to_dict()["escapes"] == ["f/4.png"] and v.to_dict()["lines"] == lines
    nothing = validate([1.0, 2.0], [-1, -1], Thresholds(1.5, 1.0))
    assert not nothing.any_labels and "No labelled images" in nothing.text()


def test_one_good_image_holding_the_threshold_up_is_named():
    rng = np.random.default_rng(0)
    good = np.r_[rng.normal(10.0, 0.3, 20), 18.0]  # one unusual good part
    labels = np.zeros(good.size, int)
    lifted = good_only_threshold(good)
    v = validate(good, labels, Thresholds(lifted, 1.0), names=[f"good/{i}.png" for i in range(good.size)])
    assert v.dominant == good.size - 1 and v.dominant_score == 18.0
    assert "good/20.png" in v.lines()[-1] and v.lines()[-1].startswith("Warning")
    assert not v.false_alarms, "the plain rule keeps every good calibration image OK"
    robust = validate(good, labels, Thresholds(robust_good_threshold(good), 1.0))
    assert robust.dominant == -1 and robust.false_alarms == (good.size - 1,)  # said as a false alarm instead
    by_defects = validate(np.r_[good, 30.0], np.r_[labels, 1], Thresholds(24.0, 1.0))  # mid-way to a defect
    assert by_defects.dominant == -1, "a threshold the defects placed is not the good image's doing"
    few = validate(good[-4:], labels[-4:], Thresholds(good_only_threshold(good[-4:]), 1.0))
    assert few.dominant == -1, "too few good images to tell"


def test_synthetic_counts_come_from_the_search_report():
    auto = {"validation": {"synthetic": 40, "good": 10, "real": 0}, "threshold": {"synthetic_escapes": 3}}
    assert synthetic_from_auto(auto) == (40, 3)
    assert synthetic_from_auto({"validation": {}}) is None and synthetic_from_auto(None) is None
    v = validate([1.0], [0], Thresholds(2.0, 1.0), synthetic=(40, 3))
    assert "Of 40 synthetic defects placed on held-out good images, 3 would pass as OK" in v.text()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    model = PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=S))
    train = [s.image for s in make_samples("part", 10, 0, size=S, seed=3)]
    held = [s.image for s in make_samples("part", 6, 0, size=S, seed=4)]
    fit = model.fit(train, validation=ValidationSet(held, [0] * len(held)))
    paths, labels = [], []
    for i, sample in enumerate(make_samples("part", 3, 4, size=S, seed=5)):
        folder = root / ("bad" if sample.label else "good")
        folder.mkdir(exist_ok=True)
        write_image(folder / f"{i}.png", sample.image)
        paths.append(folder / f"{i}.png")
        labels.append(sample.label)
    return model, fit, paths, labels


def test_fit_reports_how_it_judges_its_validation_images(fitted):
    model, fit, _paths, _labels = fitted
    v = fit.validation
    assert v is not None and v.good == 6 and v.defects == 0
    assert not v.false_alarms, "the good-only rule never rejects one of its own calibration images"
    held_scores = model.predict([s.image for s in make_samples("part", 6, 0, size=S, seed=4)]).image_scores
    assert (model.judge.verdicts(held_scores) == OK).all()


def test_release_report_shows_escapes_with_thumbnails(fitted, tmp_path):
    model, _fit, paths, labels = fitted
    scores = model.predict(paths).image_scores
    judge = model.judge.with_thresholds(image=float(np.max(scores)) + 1.0)  # every defect passes
    content = report.build_content(model, paths, scores, labels, judge=judge, metrics=["Image AUROC 1.0"])
    assert [n.split("/")[0] for n in content.validation.escape_names] == ["bad"] * 4
    assert len(content.escapes) == 4 and all(t.png.startswith(b"\x89PNG") for t in content.escapes)
    out = report.write_report(tmp_path / "report.html", content)
    page = out.read_text(encoding="utf-8")
    assert "Of 4 known defective images, 4 would pass as OK." in page
    assert all(name in page for name in content.validation.escape_names)
    assert len(re.findall(r'<img alt="[^"]*" src="data:image/png;base64,', page)) == 4 + 2  # thumbs, hist, ROC
    assert "<script" not in page and list(tmp_path.iterdir()) == [out], "written atomically, no temp left"


def test_report_survives_an_escape_that_can_no_longer_be_read(fitted, tmp_path):
    model, _fit, paths, labels = fitted
    scores = model.predict(paths).image_scores
    judge = model.judge.with_thresholds(image=float(np.max(scores)) + 1.0)
    moved = tmp_path / "bad"
    moved.mkdir()
    gone = [moved / p.name for p in paths]  # the images were moved away after they were judged
    content = report.build_content(model, gone, scores, labels, judge=judge)
    assert all(not t.png and "not shown" in t.caption for t in content.escapes)
    assert "not shown" in report.render_html(content)
