"""Hostile archives for ``hamacho batch`` (issue 26): link loops under a glob."""

from __future__ import annotations

import os
import shutil

from hamacho_core.batch.sources import iter_paths
from tests.batch.conftest import run_batch_cli


def test_a_glob_over_folder_link_loops_lists_each_image_once_and_finishes(archive, tmp_path):
    """Two folder links back to the archive made ``archive/**/*.png`` grow to gigabytes and die with an empty
    ``hamacho: error:``.  Globs never follow folder links (as folders and ``inspect --recursive`` do)."""
    root = tmp_path / "archive"
    shutil.copytree(archive.images, root)
    os.symlink(root, root / "day0" / "again")
    os.symlink(root / "day1", root / "day2" / "loop")
    real = sorted(str(p) for p in root.rglob("*.png") if "again" not in p.parts and "loop" not in p.parts)
    assert len(real) == archive.n
    assert sorted(iter_paths([str(root / "**" / "*.png")])) == real
    assert sorted(iter_paths([str(root / "*" / "*")])) == real  # folder links never matched either
    done = run_batch_cli(archive.model, str(root / "**" / "*.png"), "--out", tmp_path / "res", "--workers", "1",
                         timeout=240)
    assert done.returncode == 0, done.stderr
    assert f"{archive.n}" in done.stdout


def test_errors_are_never_an_empty_line(tmp_path):
    done = run_batch_cli(tmp_path / "missing.hmc", tmp_path, "--out", tmp_path / "res")
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("hamacho: error: ") and len(line) > len("hamacho: error: ") + 3, line
