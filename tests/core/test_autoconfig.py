"""Automatic configuration (``hamacho fit --auto``): synthetic defects, the robust threshold, the candidates, the
search, its report and the model it writes, driven through the CLI a technician's script uses."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from hamacho_core import autoconfig, defects, thresholds
from hamacho_core.cli.main import main
from hamacho_core.dataset import load_dataset
from hamacho_core.model_io import load_model
from hamacho_core.models import planning
from hamacho_core.synthetic import make_sample, write_dataset


def _textured(h=160, w=200, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.normal(128, 40, (h, w, 3)).astype(np.float32), (0, 0), 2)
    return np.clip(base, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("family", defects.FAMILIES)
def test_each_family_paints_a_visible_defect_where_its_mask_says(family):
    image = _textured()
    sizes = []
    for seed in range(12):
        out, mask = defects.paint_defect(image, family, seed)
        assert out.shape == image.shape and out.dtype == np.uint8 and mask.dtype == np.uint8
        inside = mask > 0
        sizes.append(inside.mean())
        diff = np.abs(out.astype(int) - image.astype(int)).max(axis=2)
        assert diff[inside].mean() > 8, "the defect is visible inside its mask"
        near = cv2.dilate(mask, np.ones((7, 7), np.uint8)) > 0
        assert diff[~near].max() <= defects.MASK_LEVEL, "nothing visible changes away from the mask"
        again, again_mask = defects.paint_defect(image, family, seed)
        assert np.array_equal(again, out) and np.array_equal(again_mask, mask), "determined by the seed"
    low, high = defects.AREA_RANGE
    assert min(sizes) >= low / 4 and max(sizes) <= high * 2.5, (family, sizes)
    assert max(sizes) / min(sizes) > 3, "sizes vary from small to large"


def test_defects_are_centred_in_the_region_and_grey_images_work():
    image = _textured()[..., 0]
    region = np.zeros(image.shape, bool)
    region[:, 120:] = True
    for seed in range(10):
        out, mask = defects.paint_defect(image, "pit", seed, region)
        assert out.ndim == 2
        ys, xs = np.nonzero(mask)
        assert (xs >= 100).mean() > 0.9, "pits sit in the region of interest"
    with pytest.raises(ValueError, match="empty"):
        defects.paint_defect(image, "pit", 0, np.zeros(image.shape, bool))
    with pytest.raises(ValueError, match="unknown defect family"):
        defects.paint_defect(image, "dent", 0)


def test_one_unusual_good_image_does_not_lift_the_robust_threshold():
    good = np.random.default_rng(0).normal(10.0, 1.0, 20)
    with_outlier = np.append(good, 40.0)
    assert thresholds.good_only_threshold(with_outlier) >= 40.0  # the old rule: every defect under 40 passes
    robust = thresholds.robust_good_threshold(with_outlier)
    assert robust == pytest.approx(thresholds.good_only_threshold(good)) and robust < 14.5
    assert thresholds.robust_good_threshold(good) == thresholds.good_only_threshold(good), "no outlier: the plain rule"
    two = np.append(good, [40.0, 41.0])  # two unusual good parts are a pattern, not an accident
    assert thresholds.robust_good_threshold(two) >= 40.0
    assert thresholds.robust_good_threshold(with_outlier[-4:]) == thresholds.good_only_threshold(with_outlier[-4:])


def test_candidates_keep_what_was_set_by_hand():
    wide = autoconfig.candidates({}, None, (1130, 460))
    labels = [c.label for c in wide]
    assert labels[0] == f"PatchCore, {autoconfig.BASELINE}" and wide[0].settings == {}
    assert any("tiles at scale 1" in x for x in labels) and any("aspect" in x for x in labels)
    assert {c.kind for c in wide} == {"patchcore", "padim", "mhpatchcore"}
    square = [c.label for c in autoconfig.candidates({}, None, (256, 256))]
    assert not any("tiles" in x or "aspect" in x for x in square), "no tiles or aspect for small square images"
    pinned = autoconfig.candidates({"backbone": "efficientnet_lite0", "geometry": "fixed"}, "padim", (1130, 460))
    assert {c.kind for c in pinned} == {"padim"}
    assert all(c.settings["backbone"] == "efficientnet_lite0" and c.settings["geometry"] == "fixed" for c in pinned)
    assert len({tuple(sorted(map(str, c.settings.items()))) for c in pinned}) == len(pinned), "no duplicates"


@pytest.fixture(scope="module")
def good_only(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto") / "parts"
    write_dataset(root, "texture", 16, 0, 0, size=128, seed=3)
    for sub in ("bad", "mask"):
        shutil.rmtree(root / sub)
    return root


def test_fit_auto_end_to_end(good_only, tmp_path, capsys):
    """The CLI searches, skips what is over the time budget, saves the winner with its report, and the saved model
    judges a defect NG and a new good part OK."""
    dataset = load_dataset(good_only)
    cands = autoconfig.candidates({"image_size": 128}, None, dataset.image_dims)
    predicted = {c.label: planning.planned_cost(c.config(), dataset.image_dims, 12)[2] for c in cands}
    slowest = max(predicted, key=predicted.get)
    max_ms = (predicted[slowest] + sorted(predicted.values())[-2]) / 2
    out = tmp_path / "auto.hmc"
    assert main(["fit", str(good_only), "-o", str(out), "--auto", "--image-size", "128",
                 "--max-ms", f"{max_ms:.3f}"]) == 0
    printed = capsys.readouterr().out
    assert "Winner:" in printed and "synthetic defects would pass as OK" in printed

    report = json.loads((tmp_path / "auto_report.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert rows[slowest]["status"] == "skipped" and "above the budget" in rows[slowest]["reason"]
    judged = [r for r in report["rows"] if r["image_auroc"] is not None]
    assert len(judged) >= 3 and all(r["settings"].get("image_size") == 128 for r in report["rows"])
    (winner,) = [r for r in report["rows"] if r["status"] == "winner"]
    assert winner["name"] == report["winner"]
    others = [r for r in judged if not r["default"]]
    (default,) = [r for r in judged if r["default"]]
    if default["over_budget"]:  # measured far over the time budget (a busy machine): the rule steps aside
        assert not winner["over_budget"] or all(r["over_budget"] for r in judged)
    elif not winner["default"]:  # a candidate replaces today's default only when clearly better
        assert winner["beats_default"] >= autoconfig.CONFIDENCE and not winner["over_budget"]
    else:
        assert all(r["beats_default"] is not None and r["beats_default"] < autoconfig.CONFIDENCE
                   for r in others if not r["over_budget"])
    assert report["validation"]["good"] >= 4 and report["validation"]["synthetic"] >= 8
    assert report["validation"]["real"] == 0 and report["threshold"]["rule"] == thresholds.ROBUST

    model = load_model(out)
    assert model.manifest["training"]["auto"]["winner"] == report["winner"]
    assert model.kind == winner["kind"]
    for name, value in winner["settings"].items():
        got = getattr(model.config, name)
        assert (list(got) if isinstance(got, tuple) else got) == value, name
    goods = [make_sample("texture", 500 + i, size=128, seed=3).image for i in range(10)]
    bads = [make_sample("texture", 500 + i, defect="missing", size=128, seed=3).image for i in range(5)]
    verdicts = list(model.predict(goods + bads).verdicts)
    assert verdicts[10:] == ["NG"] * 5 and verdicts[:10].count("OK") >= 7, verdicts

    held = tmp_path / "unseen"  # eval says the settings were chosen automatically, and gives AUPRO
    write_dataset(held, "texture", 0, 6, 4, size=128, seed=9)
    assert main(["eval", str(out), str(held), "--out", str(tmp_path / "eval")]) == 0
    printed = capsys.readouterr().out
    assert f"Settings chosen automatically: {report['winner']}" in printed
    aupro = json.loads((tmp_path / "eval" / "metrics.json").read_text())["aupro"]
    assert aupro is not None and 0.0 < aupro <= 1.0 and "AUPRO" in printed


def test_real_defects_count_and_mvtec_test_is_never_used(tmp_path):
    hamacho = tmp_path / "hamacho"
    write_dataset(hamacho, "part", 14, 0, 6, size=128, seed=5)
    found = autoconfig.search(load_dataset(hamacho), pinned={"image_size": 96}, kind="padim", budget_min=5)
    v, t = found.report.validation, found.report.threshold
    assert v["real"] == 6 and t["rule"] == thresholds.F1
    assert 0 <= t["real_escapes"] <= 6 and found.model.judge is not None

    mvtec = tmp_path / "mvtec"
    for sub in ("train/good", "test/good", "test/crack", "ground_truth/crack"):
        (mvtec / sub).mkdir(parents=True)
    for i in range(10):
        cv2.imwrite(str(mvtec / "train/good" / f"{i:03d}.png"), make_sample("part", i, size=96, seed=5).image)
    smp = make_sample("part", 0, defect="scratch", size=96, seed=5)
    cv2.imwrite(str(mvtec / "test/crack/000.png"), smp.image)
    cv2.imwrite(str(mvtec / "ground_truth/crack/000_mask.png"), smp.mask)
    found = autoconfig.search(load_dataset(mvtec), pinned={"image_size": 96}, kind="padim", budget_min=5)
    assert found.report.validation["real"] == 0, "MVTec's test/ is for eval, never for choosing"
    assert not any("/test/" in f for f in found.training["validation_files"])


def test_a_stop_keeps_the_best_so_far(good_only):
    judged = []

    def progress(stage, done, total):
        if stage.startswith("auto ") and ":" not in stage and done == total:
            judged.append(stage)

    found = autoconfig.search(load_dataset(good_only), pinned={"image_size": 96}, progress=progress,
                              should_stop=lambda: len(judged) >= 2)
    statuses = [r.status for r in found.report.rows]
    assert "Stopped" in found.report.stopped and "not tried" in statuses
    assert statuses.count("winner") == 1 and len(judged) == 2
    assert found.model.predict(make_sample("texture", 1, size=96, seed=3).image).verdicts[0] in ("OK", "NG")


def test_a_large_set_is_screened_and_the_budget_is_kept(tmp_path):
    """More than SCREEN_IMAGES training images: every candidate is screened on a subset; with the budget spent
    the rest are listed as not tried, and the best is still fitted on every training image."""
    root = tmp_path / "many"
    write_dataset(root, "texture", autoconfig.SCREEN_IMAGES + 20, 0, 0, size=64, seed=4)
    for sub in ("bad", "mask"):
        shutil.rmtree(root / sub)
    dataset = load_dataset(root)
    found = autoconfig.search(dataset, pinned={"image_size": 64}, budget_min=0.001)
    rows = found.report.rows
    statuses = [r.status for r in rows]
    assert statuses[0] == "winner" and "not tried" in statuses, statuses
    assert "budget" in found.report.stopped
    train, _val = autoconfig.split(dataset, 0)
    assert rows[0].n_train == len(train) > autoconfig.SCREEN_IMAGES, "the winner learned from every image"
    assert found.training["n_train"] == len(train) == len(found.training["train_files"])
