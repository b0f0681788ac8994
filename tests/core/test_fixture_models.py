"""Model files saved by the Hamacho of 2026-12-07 (schema 1 and 2; ``tests/fixtures/models``) still load
and judge exactly as they did then: same raw and normalised scores, verdicts, maps and masks."""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pytest

from hamacho_core.model_io import load_model
from hamacho_core.synthetic import make_samples

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures" / "models"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())


def _probes(tiled: bool) -> list:
    if not tiled:
        return [str(FIXTURES / f"probe_{i}.png") for i in range(5)]
    return [np.concatenate([s.image, s.image[:, ::-1]], axis=1) for s in make_samples("part", 2, 3, size=64, seed=42)]


@pytest.mark.parametrize("schema", [1, 2])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_old_model_files_judge_as_they_did(name, schema):
    path = FIXTURES / f"{name}_schema{schema}.hmc"
    expected = EXPECTED[name]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected["sha256"][f"schema{schema}"]
    model = load_model(path)
    assert model.manifest["schema_version"] == schema
    judge = model.judge
    np.testing.assert_allclose([judge.image, judge.pixel, judge.review], expected["thresholds"], rtol=1e-7)
    result = model.predict(_probes(expected["tiled_probes"]))
    assert result.judge is judge
    np.testing.assert_allclose(result.image_scores, expected["image_scores"], rtol=1e-5)
    np.testing.assert_allclose(result.norm_image_scores, expected["norm_image_scores"], rtol=1e-5, atol=1e-6)
    assert result.verdicts == expected["verdicts"]
    np.testing.assert_allclose(result.anomaly_maps.reshape(len(result), -1).sum(axis=1, dtype=np.float64),
                               expected["map_sums"], rtol=1e-5)
    assert result.masks.reshape(len(result), -1).sum(axis=1).tolist() == expected["mask_pixels"]
