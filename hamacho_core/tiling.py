"""Tiled inspection: a large input canvas cut into overlapping backbone-sized tiles.

Every tile corner and the canvas itself sit on a 32-pixel grid, so each tile's patch grid lands
exactly on the canvas's patch grid (any backbone stride up to 32).  Per-tile patch maps are
blended there with a tent window (weight falls towards a tile's border, where zero padding
distorts the features) and normalised by the summed weights: no seams, and a patch seen by two
tiles gets the weighted mean of both scores.  Tiles are produced and scored one at a time, so
memory is bounded by one tile's features plus the canvas-sized maps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Canvas sides, tile sides and tile steps are multiples of this.
GRID = 32


def round_to_grid(value: float, low: int = GRID) -> int:
    """``value`` rounded to the nearest multiple of :data:`GRID`, at least ``low``."""
    return max(low, int(round(value / GRID)) * GRID)


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)  # the last tile ends at the border (a multiple of GRID)
    return starts


@dataclass(frozen=True)
class Tiler:
    """Overlapping ``tile`` x ``tile`` squares covering a ``width`` x ``height`` canvas."""

    width: int
    height: int
    tile: int
    overlap: float = 0.25

    def __post_init__(self) -> None:
        for name in ("width", "height", "tile"):
            value = getattr(self, name)
            if value < GRID or value % GRID:
                raise ValueError(f"{name} must be a multiple of {GRID} pixels, got {value}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"tile overlap must be 0 to <1, got {self.overlap}")
        if self.tile > min(self.width, self.height):
            raise ValueError(f"tiles of {self.tile} px do not fit a {self.width}x{self.height} canvas")

    @property
    def step(self) -> int:
        """Distance between tile corners: the tile less its overlap, on the grid."""
        return max(GRID, int(self.tile * (1.0 - self.overlap)) // GRID * GRID)

    @cached_property
    def corners(self) -> tuple[tuple[int, int], ...]:
        """(x0, y0) of every tile, row by row."""
        return tuple((x, y) for y in _starts(self.height, self.tile, self.step)
                     for x in _starts(self.width, self.tile, self.step))

    def __len__(self) -> int:
        return len(self.corners)

    def tiles(self, canvas: np.ndarray) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """(tile number, x0, y0, view) over a (..., H, W) array: views, nothing is copied."""
        if canvas.shape[-2:] != (self.height, self.width):
            raise ValueError(f"canvas of shape {canvas.shape[-2:]} is not {self.height}x{self.width}")
        for number, (x, y) in enumerate(self.corners):
            yield number, x, y, canvas[..., y:y + self.tile, x:x + self.tile]


def tent_window(rows: int, cols: int) -> np.ndarray:
    """Separable tent weights (1 at the border cells, largest in the middle), float32."""
    def ramp(n: int) -> np.ndarray:
        i = np.arange(n, dtype=np.float32)
        return np.minimum(i + 1, n - i)

    return np.outer(ramp(rows), ramp(cols)).astype(np.float32)


class MapStitcher:
    """Accumulates per-tile patch maps (B, h, w) into canvas patch maps (B, H/s, W/s)."""

    def __init__(self, tiler: Tiler, batch: int):
        self.tiler = tiler
        self.batch = batch
        self.sums: np.ndarray | None = None
        self.weights: np.ndarray | None = None
        self.stride = 0
        self.window: np.ndarray | None = None

    def add(self, x0: int, y0: int, patch_maps: np.ndarray) -> None:
        h, w = patch_maps.shape[-2:]
        if self.sums is None:
            if self.tiler.tile % h or self.tiler.tile // h != self.tiler.tile // w:
                raise ValueError(f"a {self.tiler.tile} px tile gave a {h}x{w} patch grid: stride not square")
            self.stride = self.tiler.tile // h
            shape = (self.tiler.height // self.stride, self.tiler.width // self.stride)
            self.sums = np.zeros((self.batch, *shape), np.float32)
            self.weights = np.zeros(shape, np.float32)
            self.window = tent_window(h, w)
        r, c = y0 // self.stride, x0 // self.stride
        self.sums[:, r:r + h, c:c + w] += patch_maps * self.window
        self.weights[r:r + h, c:c + w] += self.window

    def result(self) -> np.ndarray:
        if self.sums is None:
            raise ValueError("no tiles were added")
        return self.sums / self.weights
