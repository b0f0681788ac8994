"""Greedy k-center coreset: the lazy/batched implementation must pick exactly what the textbook
loop picks (checked against an independent float64 NumPy greedy), whatever its tuning knobs."""

from __future__ import annotations

import numpy as np
import pytest

from hamacho_core.coreset import covering_radius, greedy_coreset, random_projection
from hamacho_core.progress import Cancelled


def naive_greedy(points: np.ndarray, n_select: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Textbook farthest-point selection in float64.

    Returns the selected indices and, for each pick after the first, the squared-distance gap between
    the chosen point and the runner-up, to prove the data has no ties within float32 rounding.
    """
    pts = np.asarray(points, dtype=np.float64)
    min_d = ((pts - pts[start]) ** 2).sum(1)
    selected = [start]
    gaps = []
    for _ in range(1, n_select):
        top2 = np.partition(-min_d, 1)[:2]
        gaps.append(top2[1] - top2[0])
        i = int(np.argmax(min_d))
        selected.append(i)
        min_d = np.minimum(min_d, ((pts - pts[i]) ** 2).sum(1))
    return np.asarray(selected), np.asarray(gaps)


def tie_free(points: np.ndarray, gaps: np.ndarray) -> bool:
    """Every greedy choice wins by far more than float32 rounding of ||x||^2 - 2x.c + ||c||^2 can move it."""
    max_sq_norm = float((np.asarray(points, dtype=np.float64) ** 2).sum(1).max())
    return bool(gaps.min() > 16 * np.finfo(np.float32).eps * 2 * max_sq_norm)


def brute_radius(points: np.ndarray, centres: np.ndarray) -> float:
    pts = np.asarray(points, dtype=np.float64)
    d2 = ((pts[:, None, :] - pts[np.asarray(centres)][None, :, :]) ** 2).sum(-1)
    return float(np.sqrt(d2.min(1).max()))


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def clustered(n: int, d: int, seed: int, n_clusters: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, d)) * 6.0
    sizes = rng.multinomial(n, rng.dirichlet(np.ones(n_clusters)))
    scales = rng.uniform(0.2, 1.5, n_clusters)
    parts = [centres[c] + scales[c] * rng.standard_normal((sizes[c], d)) for c in range(n_clusters)]
    pts = np.concatenate(parts)
    return pts[rng.permutation(len(pts))].astype(np.float32)


def with_duplicates(n: int, d: int, seed: int) -> np.ndarray:
    """Gaussian rows where about a third of the rows are exact copies of other rows."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n - n // 3, d)).astype(np.float32)
    copies = base[rng.integers(0, len(base), n // 3)]
    pts = np.concatenate([base, copies])
    return pts[rng.permutation(len(pts))]


def canonical(points: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Map each index to the first row holding the identical vector (duplicates are interchangeable)."""
    _, first, inverse = np.unique(points, axis=0, return_index=True, return_inverse=True)
    return first[inverse.ravel()][idx]


DATASETS = {
    "gaussian": lambda: gaussian(600, 24, 1),
    "clustered": lambda: clustered(800, 16, 4),
    "low_dim_many": lambda: gaussian(5000, 4, 0),  # more rows than one flush chunk (4096)
    "wide": lambda: gaussian(300, 200, 4),
}


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize(("window", "batch"), [(8, 1), (8, 32), (64, 1), (64, 32), (512, 32), (512, 1)])
def test_equals_naive_greedy(name, window, batch):
    points = DATASETS[name]()
    n_select = 150
    start = 17
    expected, gaps = naive_greedy(points, n_select, start)
    # The comparison is only exact-meaningful when no two candidates are (nearly) tied.
    assert tie_free(points, gaps), "test data has near-ties; pick another seed"
    got = greedy_coreset(points, n_select, projection_dim=None, start_index=start, window=window, batch=batch)
    assert got.dtype == np.int64 and got.shape == (n_select,)
    np.testing.assert_array_equal(got, expected)
    assert covering_radius(points, got) == pytest.approx(brute_radius(points, expected), rel=1e-5)


@pytest.mark.parametrize(("window", "batch"), [(8, 1), (64, 32), (512, 32)])
def test_equals_naive_greedy_with_duplicates(window, batch):
    points = with_duplicates(400, 12, 5)
    n_distinct = len(np.unique(points, axis=0))
    n_select = 120
    assert n_select < n_distinct
    expected, _ = naive_greedy(points, n_select, 3)
    got = greedy_coreset(points, n_select, projection_dim=None, start_index=3, window=window, batch=batch)
    # Exact copies are interchangeable: compare the chosen vectors, not which copy was chosen.
    np.testing.assert_array_equal(canonical(points, got), canonical(points, expected))
    assert len(np.unique(canonical(points, got))) == n_select  # never the same vector twice
    assert covering_radius(points, got) == pytest.approx(brute_radius(points, expected), rel=1e-5)


def test_select_everything_is_a_permutation():
    points = gaussian(90, 6, 6)
    expected, _ = naive_greedy(points, 90, 0)
    got = greedy_coreset(points, 90, projection_dim=None, start_index=0, window=8)
    np.testing.assert_array_equal(got, expected)
    assert sorted(got.tolist()) == list(range(90))
    assert covering_radius(points, got) == 0.0


def test_projection_path_equals_naive_on_projected_points():
    features = clustered(700, 64, 6)
    projected = random_projection(features, 16, seed=11)
    assert projected.shape == (700, 16) and projected.dtype == np.float32
    expected, gaps = naive_greedy(projected, 100, 42)
    assert tie_free(projected, gaps)
    got = greedy_coreset(features, 100, projection_dim=16, seed=11, start_index=42)
    np.testing.assert_array_equal(got, expected)
    # ... and it is a different selection than on the raw features (the projection is really used).
    raw = greedy_coreset(features, 100, projection_dim=None, start_index=42)
    assert not np.array_equal(got, raw)


def test_random_projection_properties():
    features = gaussian(400, 64, 8)
    a = random_projection(features, 32, seed=3)
    np.testing.assert_array_equal(a, random_projection(features, 32, seed=3))
    assert not np.array_equal(a, random_projection(features, 32, seed=4))
    # Linear map: projection of a difference is the difference of projections.
    np.testing.assert_allclose(random_projection(features[:5] - features[5:10], 32, seed=3), a[:5] - a[5:10],
                               rtol=1e-4, atol=1e-4)
    # Johnson-Lindenstrauss: pairwise distances are roughly preserved (seeded, so not flaky).
    d_raw = np.linalg.norm(features[:50, None] - features[None, :50], axis=-1)
    d_proj = np.linalg.norm(a[:50, None] - a[None, :50], axis=-1)
    off = ~np.eye(50, dtype=bool)
    ratio = d_proj[off] / d_raw[off]
    assert 0.9 < np.median(ratio) < 1.1 and ratio.min() > 0.5 and ratio.max() < 1.5
    # Projecting to at least the input width is the identity.
    np.testing.assert_array_equal(random_projection(features, 64), features)
    np.testing.assert_array_equal(random_projection(features, 128), features)


def test_default_start_is_seeded_and_deterministic():
    points = gaussian(300, 8, 9)
    a = greedy_coreset(points, 40, projection_dim=None, seed=5)
    np.testing.assert_array_equal(a, greedy_coreset(points, 40, projection_dim=None, seed=5))
    expected, _ = naive_greedy(points, 40, int(a[0]))
    np.testing.assert_array_equal(a, expected)
    starts = {int(greedy_coreset(points, 2, projection_dim=None, seed=s)[0]) for s in range(8)}
    assert len(starts) > 1  # the start really depends on the seed


def test_start_index_is_honoured():
    points = gaussian(200, 8, 10)
    for start in (0, 99, 199):
        assert greedy_coreset(points, 5, projection_dim=None, start_index=start)[0] == start


@pytest.mark.parametrize("n_select", [0, -1, 101, 1000])
def test_n_select_out_of_range(n_select):
    with pytest.raises(ValueError, match="n_select"):
        greedy_coreset(gaussian(100, 4, 0), n_select, projection_dim=None)


def test_n_select_bounds_inclusive():
    points = gaussian(100, 4, 0)
    assert greedy_coreset(points, 1, projection_dim=None, start_index=7).tolist() == [7]
    assert len(greedy_coreset(points, 100, projection_dim=None)) == 100


def test_cancel_raises_cancelled():
    points = gaussian(2000, 8, 12)
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) >= 3

    progress = []
    with pytest.raises(Cancelled):
        greedy_coreset(points, 500, projection_dim=None, should_stop=should_stop,
                       progress=lambda *a: progress.append(a))
    assert len(calls) == 3  # polled during the run, stopped at the first True
    assert all(done < total for _, done, total in progress)  # never reported completion


def test_progress_reaches_total():
    points = gaussian(3000, 8, 13)
    events = []
    greedy_coreset(points, 450, projection_dim=None, progress=lambda *a: events.append(a))
    assert events and {stage for stage, _, _ in events} == {"coreset"}
    assert all(total == 450 for _, _, total in events)
    done = [d for _, d, _ in events]
    assert done == sorted(done) and done[-1] == 450
    assert len(events) >= 10  # intermediate reports, not just the final one


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_covering_radius_matches_brute_force(seed):
    points = clustered(500, 10, seed)
    centres = np.random.default_rng(seed).choice(500, 37, replace=False)
    assert covering_radius(points, centres) == pytest.approx(brute_radius(points, centres), rel=1e-5)
    # chunking must not change the result
    assert covering_radius(points, centres, chunk=7) == pytest.approx(covering_radius(points, centres), rel=1e-6)
    assert covering_radius(points, np.arange(500)) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coreset_covers_better_than_random_subset(seed):
    points = clustered(1500, 16, 20 + seed)
    k = 60
    core = greedy_coreset(points, k, projection_dim=None, seed=seed)
    r_core = covering_radius(points, core)
    rng = np.random.default_rng(seed)
    r_random = [covering_radius(points, rng.choice(len(points), k, replace=False)) for _ in range(5)]
    assert r_core <= min(r_random)
    # Greedy's radius is exactly the distance of the point it would pick next.
    nxt = greedy_coreset(points, k + 1, projection_dim=None, seed=seed)
    np.testing.assert_array_equal(nxt[:k], core)
    gap = np.sqrt(((points[core].astype(np.float64) - points[nxt[k]]) ** 2).sum(1).min())
    assert r_core == pytest.approx(gap, rel=1e-5)
