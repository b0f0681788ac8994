"""End to end through the real ``hamacho`` command (subprocess): fit -> inspect -> eval, and bad input."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest

from hamacho_core import synthetic
from tests.core.badinput import make_bad_input_folder

SIZE = "96"


def hamacho(*args):
    return subprocess.run([sys.executable, "-m", "hamacho_core.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    synthetic.write_dataset(root / "train", category="texture", n_train_good=16, n_test_good=0, n_test_bad=4,
                            size=int(SIZE), seed=0)
    synthetic.write_dataset(root / "test", category="texture", n_train_good=0, n_test_good=6, n_test_bad=8,
                            size=int(SIZE), seed=1)
    return root


@pytest.mark.parametrize("kind", ["patchcore", "padim"])
def test_fit_inspect_eval(datasets, tmp_path, kind):
    model = tmp_path / "model.hmc"
    fit = hamacho("fit", datasets / "train", "-o", model, "--model", kind, "--image-size", SIZE, "--offline")
    assert fit.returncode == 0, fit.stderr
    assert "Layout: hamacho" in fit.stdout or "hamacho" in fit.stdout
    assert "Saved" in fit.stdout and model.is_file()
    # issue 24: what the thresholds do, in words, on the validation images (held-out good + bad/)
    assert re.search(r"Of 4 known defective images, \d would pass as OK", fit.stdout), fit.stdout
    assert re.search(r"Of \d+ good images, \d+ would be rejected as NG", fit.stdout), fit.stdout
    # progress into a pipe (a log file, CI, cron): one plain line per stage, no bar redrawn with \r
    assert "\r" not in fit.stderr and "it/s" not in fit.stderr
    stages = [line for line in fit.stderr.splitlines() if line.startswith(("features:", "thresholds:"))]
    assert len(stages) >= 2 and all(" in " in line and " s" in line for line in stages), fit.stderr
    quiet = hamacho("fit", datasets / "train", "-o", tmp_path / "quiet.hmc", "--model", kind, "--image-size", SIZE,
                    "--offline", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == "" and "Saved" in quiet.stdout, quiet.stderr

    out = tmp_path / "results"
    ins = hamacho("inspect", model, datasets / "test" / "good", datasets / "test" / "bad", "--out", out,
                  "--save-images")
    assert ins.returncode == 0, ins.stderr
    rows = list(csv.DictReader(open(out / "results.csv", encoding="utf-8")))
    assert [r for r in rows[0]] == ["path", "folder", "set", "truth", "raw_score", "normalized_score", "verdict",
                                   "time_ms", "overlay"]
    assert all((out / r["overlay"]).is_file() for r in rows), "each row names its own overlay image"
    assert len(rows) == 14
    by_truth = {"good": [r for r in rows if "/good/" in r["path"]], "bad": [r for r in rows if "/bad/" in r["path"]]}
    assert sum(r["verdict"] == "NG" for r in by_truth["bad"]) >= 4  # tiny images, few: pipeline check only
    assert sum(r["verdict"] == "OK" for r in by_truth["good"]) >= 4
    assert all((float(r["normalized_score"]) >= 0.5) == (r["verdict"] == "NG") for r in rows)
    for kind_name in ("overlay", "map", "mask"):
        assert len(list(out.glob(f"*_{kind_name}.png"))) == 14

    ev_dir = tmp_path / "eval"
    ev = hamacho("eval", model, datasets / "test", "--out", ev_dir)
    assert ev.returncode == 0, ev.stderr
    metrics = json.loads((ev_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n_good"] == 6 and metrics["n_defective"] == 8
    assert metrics["image_auroc"] >= 0.9 and metrics["pixel_auroc"] >= 0.85
    assert sum(map(sum, metrics["confusion"])) == 14
    assert (ev_dir / "roc.png").stat().st_size > 1000 and (ev_dir / "histogram.png").stat().st_size > 1000
    assert "AUROC" in (ev_dir / "metrics.txt").read_text(encoding="utf-8")
    v = metrics["validation"]
    (tn, fp), (fn, tp) = metrics["confusion"]
    assert (v["defects"], v["good"]) == (8, 6) and len(v["false_alarms"]) == fp
    assert len(v["escapes"]) + v["defects_in_review"] == fn
    assert f"Of 8 known defective images, {len(v['escapes'])} would pass as OK" in ev.stdout
    page = (ev_dir / "report.html").read_text(encoding="utf-8")
    assert "In plain words" in page and v["lines"][0] in page and page.count("data:image/png;base64,") >= 2
    assert all(name in page for name in v["escapes"] + v["false_alarms"])


def test_bad_input_folder_is_fitted_and_inspected(tmp_path):
    data = tmp_path / "bad input"
    expected = make_bad_input_folder(data / "good")
    model = tmp_path / "m.hmc"
    fit = hamacho("fit", data, "-o", model, "--image-size", "64", "--offline")
    assert fit.returncode == 0, fit.stderr
    for name, usable in expected.items():
        if not usable:
            assert name in fit.stdout, f"{name} should be reported as skipped"
    ins = hamacho("inspect", model, data / "good", "--out", tmp_path / "res", "--save-images")
    assert ins.returncode == 0, ins.stderr
    rows = list(csv.DictReader(open(tmp_path / "res" / "results.csv", encoding="utf-8")))
    judged = {r["path"].rsplit("/", 1)[-1] for r in rows}
    assert judged == {name for name, usable in expected.items() if usable}
    for name, usable in expected.items():
        if not usable:
            assert name in ins.stdout


def test_errors_are_one_line_with_nonzero_exit(tmp_path):
    missing = hamacho("fit", tmp_path / "nowhere", "-o", tmp_path / "m.hmc")
    assert missing.returncode == 1 and missing.stderr.startswith("hamacho: error:")
    assert len(missing.stderr.strip().splitlines()) == 1
    bogus = tmp_path / "bogus.hmc"
    bogus.write_bytes(b"\x80\x04not a model")
    ins = hamacho("inspect", bogus, tmp_path)
    assert ins.returncode == 1 and "not a Hamacho model file" in ins.stderr


@pytest.mark.parametrize("command", ["fit", "inspect", "eval", "demo", "backbones"])
def test_every_command_has_help(command):
    result = hamacho(command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout


def test_inspect_of_a_folder_whose_images_are_in_sub_folders_says_how(datasets, tmp_path):
    model = tmp_path / "model.hmc"
    assert hamacho("fit", datasets / "train", "-o", model, "--image-size", SIZE, "--offline").returncode == 0
    out = tmp_path / "res"
    flat = hamacho("inspect", model, datasets / "test", "--out", out)  # images only in test/good, test/bad
    assert flat.returncode == 1 and "add --recursive" in flat.stderr and "test/" in flat.stderr
    assert not (out / "results.csv").exists()  # nothing judged, nothing written
    deep = hamacho("inspect", model, datasets / "test", "--out", out, "--recursive")
    assert deep.returncode == 0 and "Inspected" in deep.stdout
    assert int(deep.stdout.split("Inspected ")[1].split()[0]) >= 14  # good/ and bad/ (and mask/) images
    empty = tmp_path / "empty"
    empty.mkdir()
    none = hamacho("inspect", model, empty, "--out", tmp_path / "r2", "--recursive")
    assert none.returncode == 1 and "no images in" in none.stderr
