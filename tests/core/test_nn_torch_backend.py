"""The torch k-NN backend (used on CUDA) runs here on CPU and must agree with faiss and brute force."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core.nn_index import NearestNeighbors


@pytest.mark.parametrize("k", [1, 4])
def test_torch_backend_matches_faiss_and_brute_force(k):
    rng = np.random.default_rng(3)
    bank = rng.standard_normal((700, 24)).astype(np.float32)
    queries = rng.standard_normal((300, 24)).astype(np.float32)
    torch_nn = NearestNeighbors(bank, backend="torch", query_chunk=64)  # several chunks
    faiss_nn = NearestNeighbors(bank, backend="faiss")
    d_t, i_t = torch_nn.search(queries, k)
    d_f, i_f = faiss_nn.search(queries, k)
    brute = ((queries[:, None, :].astype(np.float64) - bank[None].astype(np.float64)) ** 2).sum(-1)
    expected_idx = np.argsort(brute, axis=1)[:, :k]
    np.testing.assert_array_equal(i_t, expected_idx)
    np.testing.assert_array_equal(i_f, expected_idx)
    np.testing.assert_allclose(d_t, np.take_along_axis(brute, expected_idx, 1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(d_t, d_f, rtol=1e-4, atol=1e-3)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        NearestNeighbors(np.zeros((3, 2), np.float32), backend="annoy")
