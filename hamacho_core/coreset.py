"""Greedy k-center coreset (PatchCore's memory-bank subsampling): exact, fast and memory-bounded.

The textbook loop updates every point's distance to the newest centre at each step: one pass over
all N points per selected centre, memory-bound, and tools that allocate a fresh N-sized temporary
per step fragment the heap until the process is killed.  This implementation selects exactly the
same centres with two ideas:

* **Lazy evaluation.**  A point's stored distance is an upper bound of its true distance.  Points
  are visited in decreasing order of that bound; only the few at the top are refreshed against the
  centres added since the bound was computed.  Once the best refreshed value is at least every
  remaining bound, it is the true farthest point (greedy's choice).
* **Batched exact updates.**  Every ``window`` centres, all bounds are made exact with one matrix
  product per chunk of points (compute-bound BLAS instead of N memory passes per centre).

Memory: the projected points, two N-sized vectors and one ``chunk x window`` buffer, all allocated
once.  Selection runs on a seeded Gaussian random projection (128 dims by default, as in the paper).
"""

from __future__ import annotations

import heapq

import numpy as np

from hamacho_core.progress import Cancelled, ProgressFn, StopFn

_CHUNK = 4096


def projection_matrix(in_dim: int, out_dim: int, seed: int = 0) -> np.ndarray:
    """Seeded Gaussian random projection matrix (Johnson-Lindenstrauss), ``in_dim x out_dim``."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((in_dim, out_dim)) / np.sqrt(out_dim)).astype(np.float32)


def random_projection(features: np.ndarray, dim: int, seed: int = 0, chunk: int = 65536) -> np.ndarray:
    """``features`` projected to ``dim`` columns (unchanged if already that narrow)."""
    n, d = features.shape
    if dim >= d:
        return np.ascontiguousarray(features, dtype=np.float32)
    matrix = projection_matrix(d, dim, seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        np.matmul(features[start:start + chunk], matrix, out=out[start:start + chunk])
    return out


class _LazyGreedy:
    """State of one exact greedy k-center run over ``points`` (float32, C-contiguous).

    ``bounds[i]`` is exact against ``centres[:stamps[i]]`` and an upper bound afterwards.
    """

    def __init__(self, points: np.ndarray, n_select: int, window: int, batch: int):
        self.points = points
        self.sq_norms = np.einsum("ij,ij->i", points, points)
        self.bounds = np.full(len(points), np.inf, dtype=np.float32)  # squared distances
        self.stamps = np.zeros(len(points), dtype=np.int64)
        self.centres = np.empty((n_select, points.shape[1]), dtype=np.float32)
        self.centres_sq = np.empty(n_select, dtype=np.float32)
        self.count = 0
        self.window = window
        self.batch = batch
        self.buffer = np.empty((_CHUNK, window), dtype=np.float32)
        self.window_values: list[float] = []
        self._reset_window()

    def _reset_window(self) -> None:
        self.window_start = self.count
        self.order = np.argsort(-self.bounds, kind="stable")
        self.cursor = 0
        self.in_heap = np.zeros(len(self.points), dtype=bool)
        self.heap: list[tuple[float, int, int]] = []  # (-value, index, centres applied)

    def _distances(self, idx: np.ndarray, first: int) -> np.ndarray:
        """Squared distance of points ``idx`` to their nearest centre among ``centres[first:]``."""
        prod = self.points[idx] @ self.centres[first:self.count].T
        prod *= -2.0
        prod += self.centres_sq[first:self.count]
        return np.maximum(prod.min(axis=1) + self.sq_norms[idx], 0.0)

    def add_centre(self, index: int, value: float) -> None:
        self.centres[self.count] = self.points[index]
        self.centres_sq[self.count] = self.sq_norms[index]
        self.count += 1
        self.bounds[index] = 0.0
        self.stamps[index] = len(self.centres)  # a centre never moves again
        self.in_heap[index] = True  # never offered again in this window
        self.window_values.append(value)
        if self.count - self.window_start == self.window:
            self.flush()

    def flush(self) -> None:
        """Make bounds exact against all centres, for every point that may matter soon.

        Points whose bound is far below the recent selection values keep a stale bound and an old
        stamp; they are refreshed lazily if they ever reach the top of the order.
        """
        values = [v for v in self.window_values if np.isfinite(v)]
        threshold = max(0.0, values[-1] - 2.0 * (values[0] - values[-1])) if values else 0.0
        todo = np.flatnonzero((self.bounds >= threshold) & (self.stamps < self.count))
        for stamp in np.unique(self.stamps[todo]):
            group = todo[self.stamps[todo] == stamp]
            centres = self.centres[stamp:self.count]
            centres_sq = self.centres_sq[stamp:self.count]
            for c0 in range(0, len(centres), self.window):
                block, block_sq = centres[c0:c0 + self.window], centres_sq[c0:c0 + self.window]
                for start in range(0, len(group), _CHUNK):
                    rows = group[start:start + _CHUNK]
                    buf = self.buffer[: len(rows), : len(block)]
                    np.matmul(self.points[rows], block.T, out=buf)
                    buf *= -2.0
                    buf += block_sq
                    nearest = buf.min(axis=1)
                    nearest += self.sq_norms[rows]
                    self.bounds[rows] = np.minimum(self.bounds[rows], np.maximum(nearest, 0.0))
        self.stamps[todo] = self.count
        self.window_values = []
        self._reset_window()

    def _next_unvisited_bound(self) -> float:
        order, in_heap = self.order, self.in_heap
        while self.cursor < len(order) and in_heap[order[self.cursor]]:
            self.cursor += 1
        return float(self.bounds[order[self.cursor]]) if self.cursor < len(order) else -1.0

    def _push_refreshed(self, idx: np.ndarray, values: np.ndarray, first: int) -> None:
        if first < self.count:
            values = np.minimum(values, self._distances(idx, first))
        for i, v in zip(idx.tolist(), values.tolist(), strict=True):
            heapq.heappush(self.heap, (-v, i, self.count))

    def farthest(self) -> tuple[int, float]:
        """The point greedy would pick now, and its squared distance to the nearest centre."""
        heap = self.heap
        while True:
            bound = self._next_unvisited_bound()
            if heap and -heap[0][0] >= bound:
                if heap[0][2] == self.count:
                    value, index, _ = heap[0]
                    return index, -value
                stale = []
                while heap and len(stale) < self.batch and -heap[0][0] >= bound and heap[0][2] < self.count:
                    stale.append(heapq.heappop(heap))
                idx = np.array([entry[1] for entry in stale])
                values = np.array([-entry[0] for entry in stale], dtype=np.float32)
                self._push_refreshed(idx, values, min(entry[2] for entry in stale))
                continue
            # Pull the next block of unvisited points, refreshed against the centres since their stamp.
            idx = []
            while self.cursor < len(self.order) and len(idx) < self.batch:
                i = self.order[self.cursor]
                self.cursor += 1
                if not self.in_heap[i]:
                    idx.append(i)
            if not idx:
                raise RuntimeError("coreset ran out of points")
            idx = np.asarray(idx)
            self.in_heap[idx] = True
            self._push_refreshed(idx, self.bounds[idx], int(self.stamps[idx].min()))


def greedy_coreset(
    features: np.ndarray,
    n_select: int,
    *,
    projection_dim: int | None = 128,
    seed: int = 0,
    start_index: int | None = None,
    window: int = 512,
    batch: int = 32,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> np.ndarray:
    """Indices of ``n_select`` rows chosen by greedy k-center (farthest-point) selection.

    Identical to the naive greedy loop (up to floating-point ties) on the projected features.
    ``start_index`` defaults to a seeded random row, as in the PatchCore paper.
    """
    n = len(features)
    if not 0 < n_select <= n:
        raise ValueError(f"n_select must be in 1..{n}, got {n_select}")
    points = random_projection(features, projection_dim, seed) if projection_dim else np.ascontiguousarray(
        features, dtype=np.float32)
    state = _LazyGreedy(points, n_select, window=window, batch=batch)
    first = int(np.random.default_rng(seed).integers(n)) if start_index is None else int(start_index)
    selected = np.empty(n_select, dtype=np.int64)
    selected[0] = first
    state.add_centre(first, float("inf"))
    report_every = max(1, n_select // 100)
    for step in range(1, n_select):
        index, value = state.farthest()
        selected[step] = index
        state.add_centre(index, value)
        if step % report_every == 0:
            if should_stop is not None and should_stop():
                raise Cancelled("coreset selection cancelled")
            if progress is not None:
                progress("coreset", step, n_select)
    if progress is not None:
        progress("coreset", n_select, n_select)
    return selected


def covering_radius(points: np.ndarray, centre_idx: np.ndarray, chunk: int = 8192) -> float:
    """Largest distance from any point to its nearest chosen centre (the k-center objective)."""
    import faiss

    points = np.ascontiguousarray(points, dtype=np.float32)
    index = faiss.IndexFlatL2(points.shape[1])
    index.add(points[centre_idx])
    worst = 0.0
    for start in range(0, len(points), chunk):
        dist, _ = index.search(points[start:start + chunk], 1)
        worst = max(worst, float(dist.max()))
    return float(np.sqrt(worst))

