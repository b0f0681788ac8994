"""Covariance-aware (whitened) PatchCore: PCA + shrinkage whitening + bounded bank, stored, reloaded and taught
like PatchCore, and a candidate of automatic configuration."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.numpy
from safetensors import safe_open

from hamacho_core import autoconfig, model_io
from hamacho_core.metrics import _auroc
from hamacho_core.model_io import MANIFEST_KEY, MANIFEST_SHA_KEY, ModelFileError, load_model, save_model
from hamacho_core.models import REGISTRY, create_model
from hamacho_core.models.mhpatchcore.model import whitening
from hamacho_core.synthetic import make_samples

S = 96


@pytest.fixture(scope="module")
def fitted():
    train = [s.image for s in make_samples("part", 16, 0, size=S, seed=71)]
    model = create_model("mhpatchcore", image_size=S, bank_size=300)
    report = model.fit(train)
    return model, report


def test_whitening_makes_the_kept_components_unit_variance():
    rng = np.random.default_rng(0)
    scales = np.array([30.0, 10.0, 3.0, 1.0, 0.3, 0.01])
    sample = rng.normal(size=(5000, 6)) * scales @ np.linalg.qr(rng.normal(size=(6, 6)))[0] + 5.0
    mean, matrix, kept, shrinkage = whitening(sample, 0.98)
    assert kept == 2 and matrix.shape == (6, 2) and 0.0 <= shrinkage < 0.1  # 30^2+10^2 are 99.0 % of 1010
    white = (sample - mean) @ matrix
    assert np.allclose(np.cov(white.T), np.eye(2), atol=0.05)


def test_fit_keeps_a_bounded_whitened_bank_and_finds_defects(fitted):
    model, report = fitted
    assert len(model.memory_bank) == 300 and report.details["memory_bank"] == 300
    k = report.details["pca_components"]
    assert model.whiten_matrix.shape[1] == k == model.memory_bank.shape[1] < model.whiten_matrix.shape[0]
    test = make_samples("part", 8, 8, size=S, seed=72)
    scores = model.predict([s.image for s in test]).image_scores
    assert _auroc(np.array([s.label for s in test]), scores) >= 0.9


def test_saved_and_loaded_it_scores_the_same_and_forged_whitening_is_refused(fitted, tmp_path):
    model, _ = fitted
    path = save_model(model, tmp_path / "w.hmc")
    loaded = load_model(path)
    images = [s.image for s in make_samples("part", 2, 2, size=S, seed=73)]
    assert np.allclose(loaded.predict(images).image_scores, model.predict(images).image_scores, rtol=1e-5)

    with safe_open(path, framework="numpy") as f:
        tensors = {key: f.get_tensor(key) for key in f.keys()}
        manifest = json.loads(f.metadata()[MANIFEST_KEY])
    tensors["whiten_matrix"] = np.ascontiguousarray(tensors["whiten_matrix"][:, :-1])  # no longer fits the bank
    import hashlib

    data = tensors["whiten_matrix"].tobytes()
    manifest["checksums"]["whiten_matrix"] = hashlib.sha256(data).hexdigest()
    manifest["tensors"]["whiten_matrix"] = [list(tensors["whiten_matrix"].shape), "float32"]
    forged = tmp_path / "forged.hmc"
    forged.write_bytes(safetensors.numpy.save(tensors, metadata={
        MANIFEST_KEY: json.dumps(manifest), MANIFEST_SHA_KEY: model_io.manifest_sha256(manifest)}))
    with pytest.raises(ModelFileError, match="memory bank|whitening"):
        load_model(forged)


def test_taught_as_good_and_tried_by_automatic_configuration(fitted):
    model, _ = fitted
    odd = make_samples("part", 1, 1, size=S, seed=74)[1].image
    before = float(model.predict(odd).image_scores[0])
    model.add_images([odd])
    assert float(model.predict(odd).image_scores[0]) < 0.8 * before
    assert REGISTRY["mhpatchcore"].incremental
    names = [c.label for c in autoconfig.candidates({}, None, (256, 256))]
    assert "PatchCore (whitened), its defaults" in names


def test_the_estimate_knows_the_bank_is_bounded(fitted):
    model, report = fitted
    spec = REGISTRY["mhpatchcore"]
    assert spec.estimate_memory(model.config, report.n_train)["bank_rows"] == report.details["memory_bank"] == 300
    big = spec.estimate_memory(model.config, 500)
    plain = REGISTRY["patchcore"].estimate_memory(create_model("patchcore", image_size=S).config, 500)
    assert big["bank_rows"] == 300 < plain["bank_rows"]
    assert spec.search_ms(model.config, 500) < REGISTRY["patchcore"].search_ms(plain_config(), 500)


def plain_config():
    return REGISTRY["patchcore"].config(image_size=S)
