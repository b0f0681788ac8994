"""PatchCore: patch embeddings, memory bank, nearest-neighbour maps and the paper's image score,
checked against independent NumPy computations; fit determinism, cancellation and progress."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hamacho_core.coreset import greedy_coreset
from hamacho_core.models import PatchCore, PatchCoreConfig, ValidationSet, create_model
from hamacho_core.progress import Cancelled
from hamacho_core.synthetic import make_samples

SIZE = 64


def lite(**kw) -> PatchCore:
    """Bundled pretrained EfficientNet-Lite0 (no network) on small images."""
    return PatchCore(PatchCoreConfig(backbone="efficientnet_lite0", image_size=SIZE, **kw))


def resnet18_random(**kw) -> PatchCore:
    """ResNet-18 with random weights: only for shape checks, where the weights do not matter."""
    torch.manual_seed(0)
    return PatchCore(PatchCoreConfig(backbone="resnet18", pretrained=False, **kw))


@pytest.fixture(scope="module")
def data():
    train = [s.image for s in make_samples("texture", 10, 0, size=SIZE, seed=5)]
    test = [s.image for s in make_samples("texture", 3, 3, size=SIZE, seed=6)]
    return train, test


def keep_all(images) -> ValidationSet:
    """An explicit validation set, so that no training image is held out."""
    return ValidationSet(images[:3], [0, 0, 0])


@pytest.fixture(scope="module")
def fitted(data):
    train, _ = data
    model = lite(coreset_ratio=0.25)
    model.fit(train, validation=keep_all(train))
    return model


def embed_np(model: PatchCore, images) -> np.ndarray:
    """(N, h*w, D) float64 patch embeddings from the model's own embedder, image by image."""
    out = []
    for img in images:
        emb = model.embed(model.preprocess.batch([img]))
        out.append(emb.transpose(0, 2, 3, 1).reshape(1, -1, emb.shape[1]))
    return np.concatenate(out).astype(np.float64)


def sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def numpy_scores(queries: np.ndarray, bank: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw patch maps (N, P) and the paper's re-weighted image scores (N,), float64.

    s* = max over patches of the distance to the nearest bank vector m*; the score is
    s* * (1 - exp(|m_test* - m*|) / sum over the k nearest bank neighbours m of m* of exp(|m_test* - m|)).
    """
    bank = np.asarray(bank, dtype=np.float64)
    maps, scores = [], []
    for q in queries:
        d2 = sq_dists(q, bank)
        nearest = d2.argmin(axis=1)
        patch = np.sqrt(d2.min(axis=1))
        worst = int(patch.argmax())
        s_star = patch[worst]
        m_star = nearest[worst]
        if k > 1:
            around = np.sqrt(((bank - bank[m_star]) ** 2).sum(1))
            neighbours = np.argsort(around, kind="stable")[:k]
            assert neighbours[0] == m_star
            d = np.sqrt(((bank[neighbours] - q[worst]) ** 2).sum(1))
            weight = 1.0 - np.exp(d[0]) / np.exp(d).sum()
            s_star = weight * s_star
        maps.append(patch)
        scores.append(s_star)
    return np.asarray(maps), np.asarray(scores)


# --- patch embeddings -----------------------------------------------------------------------------


def box3(x: np.ndarray) -> np.ndarray:
    """3x3 mean with zero padding, divided by 9 everywhere (avg_pool2d's count_include_pad)."""
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, w = x.shape[-2:]
    return sum(p[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9.0


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of 1-D bilinear resampling with half-pixel centres (align_corners=False)."""
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        src = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        frac = src - i0
        m[o, i0] += 1 - frac
        m[o, i1] += frac
    return m


def adaptive_avg_channels(x: np.ndarray, out: int) -> np.ndarray:
    """Adaptive average pooling over the last axis: bin i covers [floor(i L/out), ceil((i+1) L/out))."""
    length = x.shape[-1]
    bins = [x[..., (i * length) // out: -((-(i + 1) * length) // out)].mean(-1) for i in range(out)]
    return np.stack(bins, axis=-1)


@pytest.mark.parametrize(("image_size", "feature_dim", "expected_dim"), [
    (64, 1024, 384),  # 128 + 256 concatenated channels: narrower than 1024, nothing reduced
    (64, None, 384),
    (64, 100, 100),
    (96, 384, 384),
    (96, 200, 200),
])
def test_patch_embedding_shapes(image_size, feature_dim, expected_dim):
    model = resnet18_random(image_size=image_size, feature_dim=feature_dim)
    assert model.layers == ("layer2", "layer3")
    batch = model.preprocess.batch([np.zeros((50, 70, 3), np.uint8)] * 2)
    emb = model.embed(batch)
    assert emb.shape == (2, expected_dim, image_size // 8, image_size // 8)  # layer2 (stride 8) grid


def test_patch_embedding_values_match_numpy():
    model = resnet18_random(image_size=64, feature_dim=None)
    rng = np.random.default_rng(0)
    batch = model.preprocess.batch([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(2)])
    with torch.inference_mode():
        extractor = model.embedder.module.extractor
        l2, l3 = (m.numpy().astype(np.float64) for m in extractor(torch.from_numpy(batch)))
    assert l2.shape == (2, 128, 8, 8) and l3.shape == (2, 256, 4, 4)
    up = bilinear_matrix(4, 8)
    deep = np.einsum("oi,bcij,pj->bcop", up, box3(l3), up)
    expected = np.concatenate([box3(l2), deep], axis=1)
    got = model.embed(batch)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * scale)

    # Narrower feature_dim: adaptive average pooling over the concatenated channels of each patch.
    reduced = resnet18_random(image_size=64, feature_dim=100).embed(batch)
    expected_reduced = adaptive_avg_channels(np.moveaxis(expected, 1, -1), 100)
    np.testing.assert_allclose(np.moveaxis(reduced, 1, -1), expected_reduced, rtol=1e-4, atol=1e-5 * scale)


def test_lite0_embedding_shape(fitted):
    assert fitted.layers == ("blocks.2", "blocks.4")
    emb = fitted.embed(fitted.preprocess.batch([np.zeros((SIZE, SIZE, 3), np.uint8)]))
    assert emb.shape == (1, 40 + 112, SIZE // 8, SIZE // 8)


# --- memory bank and scores --------------------------------------------------------------------


def test_memory_bank_is_the_greedy_coreset_of_training_patches(fitted, data):
    train, _ = data
    features = embed_np(fitted, train).reshape(-1, 152).astype(np.float32)
    n_select = int(round(0.25 * len(features)))
    assert len(features) == 10 * 64
    picked = greedy_coreset(features, n_select, projection_dim=128, seed=0)
    np.testing.assert_allclose(fitted.memory_bank, features[np.sort(picked)], rtol=1e-6, atol=1e-6)


def test_raw_patch_map_equals_brute_force(fitted, data):
    _, test = data
    queries = embed_np(fitted, test)
    expected_maps, _ = numpy_scores(queries, fitted.memory_bank, 1)
    _, maps = fitted._raw_scores(fitted.preprocess.batch(test))
    assert maps.shape == (len(test), SIZE // 8, SIZE // 8)
    scale = np.sqrt((fitted.memory_bank.astype(np.float64) ** 2).sum(1).max())
    np.testing.assert_allclose(maps.reshape(len(test), -1), expected_maps, rtol=1e-4, atol=1e-3 * scale)


def test_image_score_is_paper_reweighting(fitted, data):
    _, test = data
    assert fitted.config.num_neighbors == 9
    expected_maps, expected = numpy_scores(embed_np(fitted, test), fitted.memory_bank, 9)
    got = fitted.predict(test).image_scores
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    # The weight is in (0, 1): re-weighted scores are strictly below the raw maximum.
    assert (got < expected_maps.max(axis=1)).all()
    # defective test images (last three) score above the good ones
    assert got[3:].min() > got[:3].max()


def test_one_neighbour_gives_plain_max(data):
    train, test = data
    model = lite(num_neighbors=1, coreset_ratio=0.25)
    model.fit(train, validation=keep_all(train))
    expected_maps, expected = numpy_scores(embed_np(model, test), model.memory_bank, 1)
    np.testing.assert_allclose(expected, expected_maps.max(axis=1))
    got = model.predict(test).image_scores
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_coreset_ratio_one_keeps_all_patches(data):
    train, _ = data
    model = lite(coreset_ratio=1.0)
    report = model.fit(train[:4], validation=keep_all(train))
    expected = embed_np(model, train[:4]).reshape(-1, 152)
    assert report.details == {"patches": 4 * 64, "memory_bank": 4 * 64, "feature_dim": 152, "two_pass": False,
                              "coreset_ratio": 1.0, "search": "exact"}
    np.testing.assert_allclose(model.memory_bank, expected, rtol=1e-6, atol=1e-6)  # same rows, same order


def test_fit_is_deterministic_for_a_seed(data):
    train, test = data
    a, b, c = lite(seed=3), lite(seed=3), lite(seed=4)
    for model in (a, b, c):
        model.fit(train)
    np.testing.assert_array_equal(a.memory_bank, b.memory_bank)
    np.testing.assert_array_equal(a.predict(test).image_scores, b.predict(test).image_scores)
    assert (a.image_scale, a.pixel_scale) == (b.image_scale, b.pixel_scale)
    assert a.memory_bank.shape != c.memory_bank.shape or not np.array_equal(a.memory_bank, c.memory_bank)


# --- cancellation and progress -----------------------------------------------------------------


def stop_in(stage: str):
    """should_stop / progress pair that asks to stop once ``stage`` has been reported."""
    seen = []

    def progress(name, done, total):
        seen.append(name)

    return (lambda: stage in seen), progress


@pytest.mark.parametrize("stage", [
    "features",
    "coreset",
    "thresholds",
])
def test_cancel_fit_leaves_model_unfitted(data, stage):
    train, _ = data
    model = lite(coreset_ratio=0.5)
    should_stop, progress = stop_in(stage)
    with pytest.raises(Cancelled):
        model.fit(train, progress=progress, should_stop=should_stop)
    assert not model.is_fitted
    assert model.image_scale is None and model.pixel_scale is None


def test_cancel_before_start(data):
    train, _ = data
    model = lite()
    with pytest.raises(Cancelled):
        model.fit(train, should_stop=lambda: True)
    assert not model.is_fitted


def test_progress_stages(data):
    train, _ = data
    events = []
    model = lite(coreset_ratio=0.5)
    report = model.fit(train, progress=lambda *a: events.append(a))
    stages = [e[0] for e in events]
    assert {"features", "coreset", "thresholds"} <= set(stages)
    # stages come in order: all features, then the coreset, then thresholds
    assert stages.index("coreset") > max(i for i, s in enumerate(stages) if s == "features")
    assert stages.index("thresholds") > max(i for i, s in enumerate(stages) if s == "coreset")
    features = [e[1:] for e in events if e[0] == "features"]
    assert features == [(i, 8) for i in range(1, 9)]  # 10 images, 2 held out
    n_select = int(round(0.5 * 8 * 64))
    coreset = [e[1:] for e in events if e[0] == "coreset"]
    assert coreset[-1] == (n_select, n_select) and all(t == n_select for _, t in coreset)
    assert [e[1:] for e in events if e[0] == "thresholds"][-1] == (2, 2)
    assert report.details["memory_bank"] == n_select == len(model.memory_bank)


@pytest.mark.parametrize("stage", [
    "features",
    "coreset",
    "thresholds",
])
def test_cancelled_refit_keeps_previous_model(data, stage):
    train, test = data
    model = lite(coreset_ratio=0.5)
    model.fit(train[:6])
    bank, scales = model.memory_bank.copy(), (model.image_scale, model.pixel_scale)
    scores = model.predict(test).image_scores
    should_stop, progress = stop_in(stage)
    with pytest.raises(Cancelled):
        model.fit(train, progress=progress, should_stop=should_stop)  # 2 held out: 2 threshold batches
    assert model.is_fitted
    np.testing.assert_array_equal(model.memory_bank, bank)
    assert (model.image_scale, model.pixel_scale) == scales
    np.testing.assert_array_equal(model.predict(test).image_scores, scores)


def test_two_pass_fit_builds_the_same_memory_bank(data):
    """Over the feature-memory budget, only projections are kept and the bank is gathered in a
    second backbone pass: the result must be the very same bank and scores."""
    train, test = data
    one = lite(coreset_ratio=0.2, projection_dim=64)
    two = lite(coreset_ratio=0.2, projection_dim=64, max_feature_memory_mb=0)
    report_one = one.fit(train, validation=keep_all(train))
    report_two = two.fit(train, validation=keep_all(train))
    assert not report_one.details["two_pass"] and report_two.details["two_pass"]
    np.testing.assert_array_equal(one.memory_bank, two.memory_bank)
    np.testing.assert_array_equal(one.predict(test).image_scores, two.predict(test).image_scores)


def test_ivf_search_judges_like_the_exact_search_and_is_stored(tmp_path):
    """A bank searched through an inverted file (PatchCoreConfig.search) gives the exact search's scores on
    these parts; the centroids are stored in the model file and checked when loaded."""
    import json

    import safetensors.numpy
    from safetensors import safe_open

    from hamacho_core.model_io import MANIFEST_KEY, ModelFileError, load_model, save_model

    train = [s.image for s in make_samples("part", 24, 0, size=96, seed=8)]
    test = [s.image for s in make_samples("part", 4, 4, size=96, seed=9)]
    exact = create_model("patchcore", image_size=96, search="exact", coreset_ratio=0.5)
    ivf = create_model("patchcore", image_size=96, search="ivf", coreset_ratio=0.5)
    exact.fit(train)
    report = ivf.fit(train)
    assert exact.index.exact and not ivf.index.exact and report.details["search"].startswith("ivf")
    np.testing.assert_allclose(ivf.predict(test).image_scores, exact.predict(test).image_scores, rtol=1e-5)
    path = save_model(ivf, tmp_path / "ivf.hmc")
    loaded = load_model(path)
    assert not loaded.index.exact
    np.testing.assert_array_equal(loaded.index.centroids, ivf.index.centroids)
    np.testing.assert_array_equal(loaded.predict(test).image_scores, ivf.predict(test).image_scores)
    # centroids of the wrong width, written as a consistent file, are refused with a clear message
    with safe_open(path, framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        manifest = json.loads(f.metadata()[MANIFEST_KEY])
    tensors["ivf_centroids"] = tensors["ivf_centroids"][:, :5].copy()
    manifest["tensors"]["ivf_centroids"] = [list(tensors["ivf_centroids"].shape), "float32"]
    manifest["schema_version"] = 1
    for key in ("runtime", "checksums"):
        manifest.pop(key)
    manifest["tensors"].pop("runtime_graph")
    tensors.pop("runtime_graph")
    bad = tmp_path / "bad.hmc"
    bad.write_bytes(safetensors.numpy.save(tensors, metadata={MANIFEST_KEY: json.dumps(manifest)}))
    with pytest.raises(ModelFileError, match="IVF centroids"):
        load_model(bad)


@pytest.mark.parametrize("n", [1, 4])
def test_fewer_than_five_good_images_are_refused(n, tmp_path):
    """Issue 26: PatchCore from 1-4 good images was saved (exit 0) and then judged 6 of 6 unseen good parts
    NG.  Like PaDiM, it now refuses below 5 good images, saying why; nothing is written."""
    import subprocess
    import sys

    from hamacho_core.imageio import write_image

    images = [s.image for s in make_samples("part", n, 0, size=64, seed=4)]
    with pytest.raises(ValueError, match="at least 5 good images"):
        create_model("patchcore", image_size=64).fit(images)
    (tmp_path / "good").mkdir()
    for i, image in enumerate(images):
        write_image(tmp_path / "good" / f"{i}.png", image)
    done = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "fit", str(tmp_path), "-o",
                           str(tmp_path / "m.hmc"), "--image-size", "64"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "at least 5 good images" in done.stderr
    assert not (tmp_path / "m.hmc").exists()


def test_five_good_images_fit():
    images = [s.image for s in make_samples("part", 5, 0, size=64, seed=4)]
    model = create_model("patchcore", image_size=64)
    assert model.fit(images).n_train == 4  # one held out for the threshold
