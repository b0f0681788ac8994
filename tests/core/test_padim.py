"""PaDiM: per-position Gaussians and Mahalanobis distances against an independent float64 NumPy
computation from the model's own embeddings; the channel-count rule and channel selection."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hamacho_core.models import Padim, PadimConfig, ValidationSet
from hamacho_core.models.padim import PAPER_DIMS, REGULARISATION, mahalanobis, padim_dims
from hamacho_core.progress import Cancelled
from hamacho_core.synthetic import make_samples

SIZE = 64


@pytest.fixture(scope="module")
def data():
    train = [s.image for s in make_samples("part", 10, 0, size=SIZE, seed=3)]
    test = make_samples("part", 2, 2, size=SIZE, seed=4)
    return train, [s.image for s in test]


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    # Bundled pretrained backbone (no network); an explicit validation set keeps every image for training.
    model = Padim(PadimConfig(backbone="efficientnet_lite0", image_size=SIZE))
    model.fit(train, validation=ValidationSet(train[:3], [0, 0, 0]))
    return model


def embeddings(model: Padim, images) -> np.ndarray:
    """(N, d, P) float64 from ``model.embed`` on preprocessed images, one at a time."""
    out = [model.embed(model.preprocess.batch([img])).reshape(1, len(model.channel_idx), -1) for img in images]
    return np.concatenate(out).astype(np.float64)


def numpy_gaussians(train_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-position mean (d, P) and inverse of (covariance (ddof=1) + 0.01 I), (P, d, d), float64."""
    n, d, p = train_emb.shape
    mean = train_emb.mean(axis=0)
    inv = np.empty((p, d, d))
    for j in range(p):
        cov = np.cov(train_emb[:, :, j], rowvar=False, ddof=1) + REGULARISATION * np.eye(d)
        inv[j] = np.linalg.inv(cov)
    return mean, inv


def numpy_mahalanobis(emb: np.ndarray, mean: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """(B, P) distances, one explicit quadratic form per image and position."""
    b, d, p = emb.shape
    out = np.empty((b, p))
    for i in range(b):
        for j in range(p):
            delta = emb[i, :, j] - mean[:, j]
            out[i, j] = np.sqrt(delta @ inv[j] @ delta)
    return out


@pytest.fixture(scope="module")
def reference(fitted, data):
    train, test = data
    mean, inv = numpy_gaussians(embeddings(fitted, train))
    test_emb = embeddings(fitted, test)
    return mean, inv, test_emb, numpy_mahalanobis(test_emb, mean, inv)


def test_stored_statistics_match_numpy(fitted, reference):
    mean, inv, _, _ = reference
    d, p = mean.shape
    assert fitted.grid == (SIZE // 4, SIZE // 4) and p == (SIZE // 4) ** 2  # layer at stride 4
    assert fitted.mean.shape == (d, p) and fitted.inv_cov.shape == (p, d, d)
    np.testing.assert_allclose(fitted.mean, mean, rtol=1e-5, atol=1e-5 * np.abs(mean).max())
    got_inv = fitted.inv_cov.astype(np.float64)
    np.testing.assert_allclose(got_inv, inv, rtol=1e-3, atol=1e-3 * np.abs(inv).max())
    np.testing.assert_allclose(got_inv, np.transpose(got_inv, (0, 2, 1)), atol=1e-3 * np.abs(inv).max())


def test_mahalanobis_function_matches_numpy(fitted, reference):
    mean, inv, test_emb, expected = reference
    got = mahalanobis(test_emb.astype(np.float32), mean.astype(np.float32), inv.astype(np.float32))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-3)


def test_model_distances_match_numpy(fitted, reference, data):
    _, test = data
    _, _, test_emb, expected = reference
    # with the model's own stored statistics
    got = mahalanobis(test_emb.astype(np.float32), fitted.mean, fitted.inv_cov)
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    # and through the model's scoring path (unblurred patch maps on the grid)
    scores, maps = fitted._raw_scores(fitted.preprocess.batch(test))
    assert maps.shape == (len(test), *fitted.grid)
    np.testing.assert_allclose(maps.reshape(len(test), -1), expected, rtol=1e-3)
    np.testing.assert_allclose(scores, expected.max(axis=1), rtol=1e-3)


def test_image_score_is_the_mean_of_the_final_maps_top_percent(fitted, data):
    _, test = data
    assert fitted.config.score_top_percent == 1.0, "the default: the mean of the map's highest 1 %"
    pred = fitted.predict(test)
    assert pred.anomaly_maps.shape == (len(test), SIZE, SIZE)
    flat = np.sort(pred.anomaly_maps.reshape(len(test), -1), axis=1)
    n = round(0.01 * flat.shape[1])
    np.testing.assert_allclose(pred.image_scores, flat[:, -n:].mean(axis=1), rtol=1e-6)
    assert (pred.image_scores < flat[:, -1]).all(), "not the maximum"
    fitted.config = dataclasses.replace(fitted.config, score_top_percent=0.0)  # 0: the map's maximum
    try:
        np.testing.assert_array_equal(fitted.predict(test).image_scores, flat[:, -1])
    finally:
        fitted.config = dataclasses.replace(fitted.config, score_top_percent=1.0)


def test_a_file_from_before_the_setting_keeps_the_maximum(fitted, data, tmp_path):
    """Model files written before ``score_top_percent`` existed were calibrated on the map's maximum (the
    stored files of ``tests/fixtures/models`` check their scores end to end in test_fixture_models)."""
    from hamacho_core import model_io

    _, test = data
    path = model_io.save_model(fitted, tmp_path / "m.hmc")
    manifest = model_io.read_manifest(path)
    assert manifest["config"]["score_top_percent"] == 1.0
    config = dict(manifest["config"])
    del config["score_top_percent"]
    old = model_io._config_from({**manifest, "config": config}, type(fitted.config), {}, False)
    assert old.score_top_percent == 0.0


def test_embed_is_upsampled_concatenation_of_selected_channels(fitted, data):
    """The runtime graph's embedding equals torch's layers, nearest-upsampled, concatenated, subset."""
    from hamacho_core.features import FeatureExtractor

    _, test = data
    batch = fitted.preprocess.batch(test[:2])
    with torch.inference_mode():
        maps = FeatureExtractor("efficientnet_lite0", fitted.layers)(torch.from_numpy(batch))
    size = maps[0].shape[-2:]
    full = torch.cat([F.interpolate(m, size=size, mode="nearest") for m in maps], dim=1).numpy()
    # nearest upsampling by an integer factor repeats each cell
    deep = maps[1].numpy()
    factor = size[0] // deep.shape[-2]
    np.testing.assert_array_equal(full[:, maps[0].shape[1]:maps[0].shape[1] + deep.shape[1]],
                                  deep.repeat(factor, axis=2).repeat(factor, axis=3))
    idx = fitted.channel_idx
    np.testing.assert_allclose(fitted.embed(batch), full[:, idx], rtol=1e-4, atol=2e-4 * np.abs(full).max())


def test_progress_and_fit_report(data):
    train, _ = data
    events = []
    model = Padim(PadimConfig(backbone="efficientnet_lite0", image_size=SIZE, n_features=20))
    report = model.fit(train, progress=lambda *a: events.append(a))
    stages = [e[0] for e in events]
    assert {"features", "covariance", "thresholds"} <= set(stages)
    assert ("features", 8, 8) in events  # 10 images, 2 held out for the good-only threshold
    assert events[[i for i, s in enumerate(stages) if s == "covariance"][-1]][1:] == (256, 256)
    assert report.n_train == 8 and report.n_validation == 2
    assert report.details == {"embedding_dim": 20, "positions": 256}


# --- channel count rule and selection --------------------------------------------------------


@pytest.mark.parametrize(("backbone", "total", "expected"), [
    ("resnet18", 448, 100),
    ("resnet18", 60, 60),
    ("wide_resnet50_2", 1792, 550),
    ("wide_resnet50_2", 500, 500),
    ("efficientnet_lite0", 176, 100),  # max(100, 53)
    ("resnet50", 1792, 538),  # round(537.6)
    ("some_net", 1000, 300),
    ("some_net", 400, 120),
    ("some_net", 250, 100),
    ("some_net", 80, 80),
])
def test_padim_dims(backbone, total, expected):
    assert padim_dims(backbone, total) == expected
    assert padim_dims(backbone, total) == (
        min(total, PAPER_DIMS[backbone]) if backbone in PAPER_DIMS else min(total, max(100, round(0.3 * total))))


def test_channel_selection_resnet18_rule():
    torch.manual_seed(0)
    # random weights: only channel bookkeeping matters here
    model = Padim(PadimConfig(backbone="resnet18", pretrained=False, image_size=SIZE))
    idx = model.channel_idx
    assert len(idx) == 100 and len(np.unique(idx)) == 100
    assert (np.diff(idx) > 0).all() and idx.min() >= 0 and idx.max() < 64 + 128 + 256
    emb = model.embed(model.preprocess.batch([np.zeros((SIZE, SIZE, 3), np.uint8)]))
    assert emb.shape == (1, 100, SIZE // 4, SIZE // 4)


def test_channel_selection_seeded_and_sorted():
    def channels(**kw):
        return Padim(PadimConfig(backbone="efficientnet_lite0", image_size=SIZE, **kw)).channel_idx

    a = channels(seed=0)
    assert len(a) == padim_dims("efficientnet_lite0", 24 + 40 + 112) == 100
    assert (np.diff(a) > 0).all() and a.max() < 176
    np.testing.assert_array_equal(a, channels(seed=0))
    b = channels(seed=1)
    assert (np.diff(b) > 0).all() and not np.array_equal(a, b)
    c = channels(seed=0, n_features=30)
    assert len(c) == 30 and (np.diff(c) > 0).all()
    # it is the seeded permutation's prefix, sorted (independent of global RNG state)
    np.random.seed(123)
    expected = np.sort(np.random.default_rng(0).permutation(176)[:100])
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize("stage", [
    "features",
    "covariance",
    "thresholds",
])
def test_cancel_fit_leaves_model_unfitted(data, stage):
    train, _ = data
    # 96 px -> a 24 x 24 grid = 576 positions, inverted in chunks of 256: three covariance reports
    model = Padim(PadimConfig(backbone="efficientnet_lite0", image_size=96, n_features=20))
    seen = []
    with pytest.raises(Cancelled):
        model.fit(train, progress=lambda name, *_: seen.append(name), should_stop=lambda: stage in seen)
    assert not model.is_fitted and model.image_scale is None
