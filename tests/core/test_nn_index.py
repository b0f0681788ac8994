"""Exact nearest-neighbour search (faiss on CPU) against brute-force NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hamacho_core.nn_index import NearestNeighbors


def brute_knn(bank: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(bank, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    d2 = ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    idx = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d2, idx, axis=1), idx


def data(n_bank: int, n_query: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bank = rng.standard_normal((n_bank, d)).astype(np.float32)
    queries = rng.standard_normal((n_query, d)).astype(np.float32)
    return bank, queries


def assert_matches_brute(index, bank, queries, k):
    dist, idx = index.search(queries, k)
    exp_d, exp_i = brute_knn(bank, queries, k)
    assert dist.shape == idx.shape == (len(queries), k)
    assert dist.dtype == np.float32 and np.issubdtype(idx.dtype, np.integer)
    # float32 rounding of ||q||^2 + ||b||^2 - 2 q.b is relative to the squared norms
    scale = float((np.asarray(bank, dtype=np.float64) ** 2).sum(1).max())
    np.testing.assert_allclose(dist, exp_d, rtol=1e-5, atol=1e-5 * scale)
    np.testing.assert_array_equal(idx, exp_i)
    assert (dist >= 0).all() and (np.diff(dist, axis=1) >= 0).all()


# faiss computes few queries directly and many through BLAS (||q||^2 + ||b||^2 - 2 q.b): test both.
@pytest.mark.parametrize("n_query", [3, 700])
@pytest.mark.parametrize("k", [1, 5])
@pytest.mark.parametrize("d", [8, 64])
def test_search_equals_brute_force(n_query, k, d):
    bank, queries = data(1500, n_query, d, seed=d + k)
    assert_matches_brute(NearestNeighbors(bank), bank, queries, k)


def test_small_query_chunk_does_not_matter():
    bank, queries = data(300, 50, 16, seed=1)
    assert_matches_brute(NearestNeighbors(bank, query_chunk=7), bank, queries, 3)


def test_query_in_bank_has_zero_distance_to_itself():
    bank, _ = data(400, 0, 32, seed=2)
    dist, idx = NearestNeighbors(bank).search(bank[::10], 1)
    np.testing.assert_array_equal(idx[:, 0], np.arange(0, 400, 10))
    assert dist.max() < 1e-4 and dist.min() >= 0.0  # clamped: never negative from rounding


def test_accepts_torch_tensors_and_other_dtypes():
    bank, queries = data(500, 40, 16, seed=3)
    index = NearestNeighbors(bank.astype(np.float64))  # a float64 bank is converted
    assert index.bank.dtype == np.float32
    ref_d, ref_i = index.search(queries, 4)
    t_d, t_i = index.search(torch.from_numpy(queries), 4)
    np.testing.assert_array_equal(t_i, ref_i)
    np.testing.assert_array_equal(t_d, ref_d)
    # a tensor that requires grad and a non-contiguous float64 view work too
    g_d, g_i = index.search(torch.from_numpy(queries).requires_grad_(True), 4)
    np.testing.assert_array_equal(g_i, ref_i)
    wide = np.repeat(queries.astype(np.float64), 2, axis=1)[:, ::2]
    assert not wide.flags["C_CONTIGUOUS"]
    w_d, w_i = index.search(wide, 4)
    np.testing.assert_array_equal(w_i, ref_i)
    np.testing.assert_allclose(w_d, ref_d, rtol=1e-6)
    assert_matches_brute(index, bank, queries, 4)
    # a CPU tensor as the bank
    t_index = NearestNeighbors(torch.from_numpy(bank))
    np.testing.assert_array_equal(t_index.search(queries, 4)[1], ref_i)


def test_k_larger_than_bank_is_clipped():
    bank, queries = data(3, 5, 4, seed=4)
    dist, idx = NearestNeighbors(bank).search(queries, 10)
    assert dist.shape == idx.shape == (5, 3)
    exp_d, exp_i = brute_knn(bank, queries, 3)
    np.testing.assert_array_equal(idx, exp_i)
    np.testing.assert_allclose(dist, exp_d, rtol=1e-5, atol=1e-6)


def test_len_dim_and_bank():
    bank, _ = data(123, 0, 7, seed=5)
    index = NearestNeighbors(bank)
    assert len(index) == 123 and index.dim == 7
    np.testing.assert_array_equal(index.bank, bank)
    assert index.bank.dtype == np.float32 and index.bank.flags["C_CONTIGUOUS"]


def test_dimension_mismatch():
    bank, _ = data(50, 0, 8, seed=6)
    index = NearestNeighbors(bank)
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.zeros((2, 9), np.float32))
    with pytest.raises(ValueError, match="dimension"):
        index.search(torch.zeros(2, 7))


@pytest.mark.parametrize("bank", [np.zeros((0, 8), np.float32), np.zeros(8, np.float32),
                                  np.zeros((2, 3, 4), np.float32)])
def test_empty_or_malformed_bank(bank):
    with pytest.raises(ValueError, match="non-empty 2-D"):
        NearestNeighbors(bank)


def _clustered(n_bank: int, n_query: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch-like data: rows around a few hundred centres (an inverted file's cells mean something)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((200, d)).astype(np.float32) * 4
    bank = centres[rng.integers(0, 200, n_bank)] + rng.standard_normal((n_bank, d)).astype(np.float32)
    queries = centres[rng.integers(0, 200, n_query)] + rng.standard_normal((n_query, d)).astype(np.float32)
    return bank, queries


def test_inverted_file_finds_the_exact_neighbours_of_clustered_data():
    from hamacho_core.nn_index import ivf_centroids

    bank, queries = _clustered(8000, 500, 32, seed=3)
    centroids = ivf_centroids(bank, probes=8, seed=0)
    assert centroids.shape == (min(round(np.sqrt(8000 * 8)), 8000 // 39), 32)  # each cell trained on 39+ rows
    ivf = NearestNeighbors(bank, centroids=centroids, nprobe=8)
    exact = NearestNeighbors(bank)
    assert not ivf.exact and exact.exact
    (d_ivf, i_ivf), (d_exact, i_exact) = ivf.search(queries, 1), exact.search(queries, 1)
    assert np.mean(i_ivf == i_exact) >= 0.99
    assert (d_ivf >= d_exact - 1e-4).all()  # never closer than the true nearest row
    far = queries * 3  # out-of-distribution queries: an anomaly's patches
    np.testing.assert_allclose(ivf.search(far, 1)[0].max(), exact.search(far, 1)[0].max(), rtol=0.02)


def test_inverted_file_with_centroids_that_do_not_fit_is_refused():
    bank, _ = _clustered(500, 1, 16, seed=1)
    with pytest.raises(ValueError, match="do not fit"):
        NearestNeighbors(bank, centroids=np.zeros((4, 8), np.float32))
    with pytest.raises(ValueError, match="do not fit"):
        NearestNeighbors(bank, centroids=np.zeros((0, 16), np.float32))
