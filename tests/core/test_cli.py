"""The real ``hamacho`` command in a subprocess: the README's main job and the backbone listing."""

from __future__ import annotations

import csv
import json
import subprocess
import sys


def _hamacho(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hamacho_core.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_demo_fits_inspects_and_writes_results(tmp_path):
    out = tmp_path / "démo 検査"
    result = _hamacho("demo", str(out), "--image-size", "128")
    assert result.returncode == 0, result.stderr
    assert "Image AUROC" in result.stdout and (out / "model.hmc").is_file()
    rows = list(csv.DictReader(open(out / "results" / "results.csv", encoding="utf-8")))
    assert len(rows) == 10 + 12
    assert {r["verdict"] for r in rows} <= {"OK", "NG"}
    assert all(0.0 <= float(r["normalized_score"]) <= 1.0 for r in rows)
    for kind in ("overlay", "map", "mask"):
        assert len(list((out / "results").glob(f"*_{kind}.png"))) == len(rows)
    metrics = json.loads((out / "results" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["image_auroc"] >= 0.9 and metrics["pixel_auroc"] >= 0.9
    flagged_good = sum(r["verdict"] == "NG" for r in rows if "/good/" in r["path"].replace("\\", "/"))
    missed_bad = sum(r["verdict"] == "OK" for r in rows if "/bad/" in r["path"].replace("\\", "/"))
    assert flagged_good <= 2 and missed_bad <= 2


def test_backbones_lists_weight_status():
    result = _hamacho("backbones")
    assert result.returncode == 0, result.stderr
    assert "efficientnet_lite0" in result.stdout and "bundled" in result.stdout
    assert "resnet18" in result.stdout and "missing" in result.stdout


def test_import_of_a_wrong_weights_file_fails_with_one_line(tmp_path):
    bogus = tmp_path / "resnet18.pth"
    bogus.write_bytes(b"not weights")
    result = _hamacho("backbones", "--import", "resnet18", str(bogus))
    assert result.returncode == 1
    assert result.stderr.startswith("hamacho: error:") and len(result.stderr.strip().splitlines()) == 1
    assert "sha256" in result.stderr
