"""Hostile archives for ``hamacho batch`` (issue 26): link loops under a glob."""

from __future__ import annotations

import os
import shutil

from hamacho_core.batch.sources import iter_paths
from tests.batch.conftest import rows, run_batch_cli


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


def test_a_fifo_and_a_link_to_dev_zero_are_one_error_row_each(archive, tmp_path):
    """A FIFO named ``x.png`` hung the batch for ever; a link ``y.png -> /dev/zero`` read until memory ran out and
    aborted the batch with an empty message.  Only regular files are read, never past the size cap."""
    root = tmp_path / "archive"
    shutil.copytree(archive.images / "day0", root)
    os.mkfifo(root / "x.png")
    os.symlink("/dev/zero", root / "y.png")
    done = run_batch_cli(archive.model, root, "--out", tmp_path / "res", "--workers", "1", timeout=180)
    assert "x.png" in done.stdout + done.stderr and "y.png" in done.stdout + done.stderr, done.stdout + done.stderr
    assert "not a regular file" in done.stdout + done.stderr
    n_real = len(list((archive.images / "day0").glob("*.png")))
    stored = rows(tmp_path / "res")
    assert len(stored) == n_real + 2
    errors = {os.path.basename(r["path"]): r["error"] for r in stored if r.get("error")}
    assert set(errors) == {"x.png", "y.png"}
