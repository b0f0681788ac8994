"""An archive of generated images and a model for the batch tests; helpers to run ``hamacho batch``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hamacho_core.imageio import write_image
from hamacho_core.model_io import save_model
from hamacho_core.models import PatchCore, PatchCoreConfig
from hamacho_core.synthetic import make_samples


class Archive:
    def __init__(self, root: Path, n: int, size: int, seed: int):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.images = root / "archive"
        model = PatchCore(PatchCoreConfig(image_size=size))
        model.fit([s.image for s in make_samples("texture", 10, 0, size=size, seed=seed)])
        self.model = save_model(model, root / "model.hmc")
        for i, smp in enumerate(make_samples("texture", n // 2, n - n // 2, size=size, seed=seed + 1)):
            folder = self.images / f"day{i % 3}"
            folder.mkdir(parents=True, exist_ok=True)
            write_image(folder / f"part_{i:04d}.png", smp.image)
        self.n = n


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Archive:
    """120 small images in three day folders, and a 64 px model."""
    return Archive(tmp_path_factory.mktemp("batch"), 120, 64, 5)


@pytest.fixture(scope="session")
def long_archive(tmp_path_factory) -> Archive:
    """600 images at 128 px: a batch long enough (a few seconds) to kill something in the middle of."""
    return Archive(tmp_path_factory.mktemp("batch_long"), 600, 128, 7)


def batch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hamacho_core.cli", "batch", *map(str, args)]


def run_batch_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(batch_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"})


def start_batch_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(batch_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"})


def wait_for_parts(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(list(out.glob("part-*.parquet"))) < n:
        assert proc.poll() is None, f"the batch ended before {n} chunk(s) were written: {proc.communicate()}"
        assert time.monotonic() < deadline, f"no {n} chunk(s) after {timeout} s"
        time.sleep(0.02)


def rows(out: Path) -> list[dict]:
    import pyarrow.dataset as ds

    return ds.dataset(str(out), format="parquet").to_table().to_pylist()
