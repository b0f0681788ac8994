"""Hostile inputs (issue 11): a corpus of cases that once lost results or gave a wrong verdict.

Each case reproduces one row of the issue with real files, devices, links, file systems, processes
and the real ``hamacho`` command (a subprocess), and checks the behaviour the issue asks for.  Add
new cases with ``@case("name")``; they run as ``test_hostile[name]``.
"""

from __future__ import annotations

import csv
import inspect
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from hamacho_core import synthetic
from hamacho_core.live import InspectionLog
from hamacho_core.model_io import ModelFileError, load_model, read_manifest, save_model
from hamacho_core.models import PatchCoreConfig, create_model
from hamacho_core.models.config import ConfigError
from tests.core.test_model_io import _flip_byte, rewrite, tiny_filesystem  # noqa: F401 - fixture

S = 64
CASES: dict = {}


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


def hamacho(*args, cwd=None, timeout=300, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "hamacho_core.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env, **kw)


def popen(*args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "hamacho_core.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def write_png(path: Path, image: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def rows_of(csv_path: Path) -> list[dict]:
    with open(csv_path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small fitted PatchCore model file and a folder of good images (64 px texture)."""
    root = tmp_path_factory.mktemp("hostile")
    model = create_model("patchcore", backbone="efficientnet_lite0", image_size=S)
    model.fit([s.image for s in synthetic.make_samples("texture", 8, 0, size=S, seed=5)])
    good = root / "good"
    good.mkdir()
    for i, s in enumerate(synthetic.make_samples("texture", 4, 0, size=S, seed=6)):
        write_png(good / f"img_{i}.png", s.image)
    return {"root": root, "model": save_model(model, root / "model.hmc"), "good": good}


def images(world, n: int) -> list[Path]:
    return sorted(world["good"].iterdir())[:n]


# --- model files ---------------------------------------------------------------------------------------------
@case("flipped-tensor-bytes")
def _flipped(world, tmp):
    for tensor in ("memory_bank", "runtime_graph"):  # as tests/core/test_model_io.py::test_flipped_bytes_are_refused
        with pytest.raises(ModelFileError, match=f"the data of '{tensor}' fails its checksum"):
            load_model(_flip_byte(world["model"], tensor, tmp / f"{tensor}.hmc"))


@case("non-finite-threshold")
def _infinite(world, tmp):
    for value in (float("inf"), float("nan")):  # as test_model_io.py::test_non_finite_thresholds_are_refused
        def edit(m, value=value):
            m["thresholds"]["image"]["threshold"] = value

        with pytest.raises(ModelFileError, match="not a finite number"):
            load_model(rewrite(world["model"], tmp / "inf.hmc", edit))


@case("output-not-a-regular-file")
def _device(world, tmp):
    data = tmp / "data"
    synthetic.write_dataset(data, n_train_good=6, n_test_good=0, n_test_bad=0, size=S)
    targets = {"named pipe": tmp / "pipe.hmc", "folder": tmp / "folder.hmc"}
    os.mkfifo(targets["named pipe"])
    targets["folder"].mkdir()
    if os.geteuid() == 0:  # a /dev/null of our own: mknod needs root
        targets["character device"] = tmp / "null.hmc"
        os.mknod(targets["character device"], stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for kind, target in targets.items():
        started = time.monotonic()
        done = hamacho("fit", data, "-o", target, "--image-size", S, "--offline")
        assert done.returncode == 1 and f"is a {kind}, not a regular file" in done.stderr, done.stderr
        assert "refusing to replace it" in done.stderr and "Dataset" not in done.stdout  # before any work
        assert time.monotonic() - started < 60
    assert stat.S_ISFIFO(os.lstat(targets["named pipe"]).st_mode) and targets["folder"].is_dir()
    if "character device" in targets:
        assert stat.S_ISCHR(os.lstat(targets["character device"]).st_mode)
    assert sorted(p.name for p in tmp.iterdir() if p.name.startswith(".")) == []


@case("output-symlink-written-through")
def _symlink(world, tmp):
    model = load_model(world["model"])
    real = tmp / "store" / "real.hmc"
    real.parent.mkdir()
    shutil.copy(world["model"], real)
    link = tmp / "link.hmc"
    link.symlink_to(real)
    save_model(model, link, training={"generation": 2})
    assert link.is_symlink() and link.resolve() == real.resolve()  # the link stays, the target is new
    assert read_manifest(real)["training"] == {"generation": 2}
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.hmc"]


KILLED_WRITER = """
import os, sys, time
from hamacho_core.model_io import load_model, save_model

def stuck(fd):  # a save that hangs in fsync, its temporary file complete: to be killed there
    print("writing", flush=True)
    time.sleep(600)

model = load_model(sys.argv[1])
os.fsync = stuck
save_model(model, sys.argv[2])
"""


@case("stale-temporaries-of-killed-saves")
def _stale(world, tmp):
    target = tmp / "model.hmc"
    procs = [subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(world["model"]), str(target)],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "writing"
        procs[0].kill()  # SIGKILL mid-write: its temporary stays behind
        procs[0].wait(10)
        temps = sorted(p.name for p in tmp.iterdir() if p.name.startswith(".model.hmc."))
        assert len(temps) == 2
        save_model(load_model(world["model"]), target)
        left = sorted(p.name for p in tmp.iterdir() if p.name.startswith(".model.hmc."))
        assert len(left) == 1  # the stale one is gone; the one still being written is kept
        assert read_manifest(target)["format"] == "hamacho-model"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
    save_model(load_model(world["model"]), target)  # its writer killed too: now stale, removed
    assert not [p for p in tmp.iterdir() if p.name.startswith(".model.hmc.")]


# --- settings ------------------------------------------------------------------------------------------------
@case("coreset-ratio-out-of-range")
def _coreset(world, tmp):
    for ratio in ("0", "1e-9", "2", "nan"):
        done = hamacho("fit", world["root"] / "nowhere", "-o", tmp / "m.hmc", "--coreset-ratio", ratio)
        assert done.returncode == 1, done.stderr
        assert "coreset_ratio must be a number from 0.001 to 1" in done.stderr, done.stderr
    with pytest.raises(ConfigError, match="coreset_ratio must be a number from 0.001 to 1, or None, got 0"):
        PatchCoreConfig(coreset_ratio=0)
    assert PatchCoreConfig(coreset_ratio=0.001).coreset_ratio == 0.001


@case("cryptic-config-errors")
def _configs(world, tmp):
    bad = {"image_size": ("big", "image_size: not a size: 'big' (give a side such as 256 or width x height"),
           "layers": ("blocks.2", "layers must be a list of layer names"),
           "num_neighbors": (0, "num_neighbors must be a whole number from 1 to 100"),
           "blur_sigma": (float("nan"), "blur_sigma must be a number from 0 to 64"),
           "seed": (-1, "seed must be a whole number from 0 to 4294967295"),
           "batch_size": (True, "batch_size must be a whole number from 1 to 256"),
           "holdout_fraction": (1.0, "holdout_fraction must be a number from 0.01 to 0.5"),
           "roi": ("ab", "roi must be None or 2+ (x, y) points")}
    for field, (value, message) in bad.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            create_model("patchcore", backbone="efficientnet_lite0", **{field: value})
    with pytest.raises(ConfigError, match="n_features must be at most"):
        create_model("padim", backbone="efficientnet_lite0", n_features=4000)
    started = time.monotonic()  # once an allocator error after 46 s
    done = hamacho("fit", world["root"] / "nowhere", "-o", tmp / "m.hmc", "--image-size", 60000)
    assert done.returncode == 1
    assert "image_size must be a whole number from 32 to 8192 or (width, height), got 60000" in done.stderr
    assert time.monotonic() - started < 30


@case("padim-on-one-image")
def _padim_one(world, tmp):
    data = tmp / "data"
    synthetic.write_dataset(data, n_train_good=1, n_test_good=0, n_test_bad=0, size=S)
    done = hamacho("fit", data, "-o", tmp / "p.hmc", "--model", "padim", "--image-size", S, "--offline")
    assert done.returncode == 1 and "needs at least 5 good images (got 1)" in done.stderr, done.stderr
    assert not (tmp / "p.hmc").exists()
    five = [s.image for s in synthetic.make_samples("texture", 5, 0, size=S, seed=9)]
    with pytest.raises(ValueError, match="at least 5 good images"):
        create_model("padim", backbone="efficientnet_lite0", image_size=S).fit(five[:4])
    model = create_model("padim", backbone="efficientnet_lite0", image_size=S)
    model.fit(five)  # at the minimum: one image held out, the threshold set on it
    assert model.image_scale.threshold > 0
    unseen = [s.image for s in synthetic.make_samples("texture", 8, 0, size=S, seed=10)]  # new good parts
    assert not model.predict(unseen).is_anomalous.all()


# --- inspect -------------------------------------------------------------------------------------------------
@case("recursive-symlink-loops")
def _loops(world, tmp):
    tree, outside = tmp / "tree", tmp / "elsewhere"
    (tree / "a").mkdir(parents=True)
    (tree / "b").mkdir()
    outside.mkdir()
    first, second = images(world, 2)
    shutil.copy(first, tree / "a" / "one.png")
    shutil.copy(second, tree / "b" / "two.png")
    shutil.copy(second, outside / "secret.png")
    (tree / "a" / "loop").symlink_to(tree)  # back to the top: a loop
    (tree / "b" / "up").symlink_to(tree / "b")  # to itself
    (tree / "root").symlink_to("/")  # out of the tree: the whole disk
    (tree / "out").symlink_to(outside)
    (tree / "also_a").symlink_to(tree / "a")  # inside the tree: walked at its real place only
    (tree / "b" / "same.png").symlink_to(tree / "a" / "one.png")  # a second name of one.png
    (tree / "b" / "leak.png").symlink_to(outside / "secret.png")
    done = hamacho("inspect", world["model"], tree, "--recursive", "--out", tmp / "res", timeout=120)
    assert done.returncode == 0, done.stderr
    judged = sorted(Path(r["path"]).name for r in rows_of(tmp / "res" / "results.csv"))
    assert judged == ["one.png", "two.png"]
    for name, why in (("loop", "a loop: not followed"), ("up", "a loop: not followed"),
                      ("root", "not followed"), ("out", "outside"), ("same.png", "same file as"),
                      ("leak.png", "link to a file outside")):
        assert any(line.startswith(f"  skipped {tree}") and f"{name}:" in line and why in line
                   for line in done.stdout.splitlines()), (name, done.stdout)
    assert "also_a" not in done.stdout


@case("long-file-names-and-unwritable-outputs")
def _long_names(world, tmp):
    folder = tmp / "in"
    folder.mkdir()
    one, two, three = images(world, 3)
    long_a, long_b = "x" * 250 + ".png", "x" * 249 + "y.png"  # 254 characters, the same first 249
    for src, name in ((one, long_a), (two, long_b), (three, "blocked.png")):
        shutil.copy(src, folder / name)
    out = tmp / "res"
    (out / "blocked_overlay.png").mkdir(parents=True)  # an output that cannot be written
    done = hamacho("inspect", world["model"], folder, "--out", out, "--save-images", timeout=120)
    assert done.returncode == 1 and "blocked_overlay.png" in done.stderr + done.stdout, done.stdout + done.stderr
    assert sorted(Path(r["path"]).name for r in rows_of(out / "results.csv")) == sorted([long_a, long_b,
                                                                                       "blocked.png"])
    written = [p for p in out.iterdir() if p.suffix == ".png" and p.is_file()]
    assert len(written) == 8 and len({p.name for p in written}) == 8  # 3 x 3 outputs but the blocked overlay
    assert all(len(p.name.encode()) <= 255 for p in written)
    assert "not written for" in done.stdout and "is a folder" in done.stdout


@case("full-masks-left-out-of-pixel-calibration")
def _full_mask(world, tmp):
    data = tmp / "data"
    synthetic.write_dataset(data, category="part", n_train_good=10, n_test_good=0, n_test_bad=2, size=S, seed=2)
    full = sorted((data / "mask").iterdir())[0]
    write_png(full, np.full((S, S), 255, np.uint8))
    done = hamacho("fit", data, "-o", tmp / "m.hmc", "--image-size", S, "--offline", timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"mask/{full.name} marks 100% of bad/{full.name} as defect: left out of pixel calibration" in done.stdout
    assert "1 mask(s) covering 90% or more of their image left out of pixel calibration" in done.stdout
    model = load_model(tmp / "m.hmc")
    good = [s.image for s in synthetic.make_samples("part", 4, 0, size=S, seed=40)]
    assert model.predict(good).masks.mean() < 0.05  # once 99.8 % of every good image was flagged


@case("csv-injection")
def _injection(world, tmp):
    hostile = ['=HYPERLINK("evil.example?q","click").png', "+SUM(1+1).png", "@x.png", "-2+3.png"]
    for src, name in zip(images(world, 4), hostile, strict=True):
        shutil.copy(src, tmp / name)
    done = hamacho("inspect", world["model"], *[f"./{n}" for n in hostile], "--out", "res", cwd=tmp, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (tmp / "res" / "results.csv").read_text(encoding="utf-8")
    assert sorted(r["path"] for r in rows_of(tmp / "res" / "results.csv")) == sorted("'" + n for n in hostile)
    assert not any(line.startswith(("=", "+", "-", "@", '"=')) for line in text.splitlines())
    # the live log's CSV export, and write_csv (what the GUI's export writes)
    with InspectionLog(tmp / "log.sqlite") as log:
        log.append("=cmd|' /C calc'!A0", "+SUM(1+1)", -1.5, 0.25, "NG", image_path="@evil.png")
        assert log.export_csv(tmp / "log.csv") == 1
    row = rows_of(tmp / "log.csv")[0]
    assert (row["source"], row["model"], row["image_path"]) == ("'=cmd|' /C calc'!A0", "'+SUM(1+1)", "'@evil.png")
    assert row["score"] == "-1.5"  # numbers stay numbers
    from hamacho_core.jobs import InspectRow, write_csv

    write_csv([InspectRow(Path("-2+3.png"), 1.0, 0.5, "NG", 1.0)], tmp / "export.csv")
    assert rows_of(tmp / "export.csv")[0]["path"] == "'-2+3.png"


@case("second-inspect-into-the-same-out")
def _second_run(world, tmp):
    out = tmp / "res"
    first = hamacho("inspect", world["model"], images(world, 1)[0], "--out", out, timeout=120)
    assert first.returncode == 0, first.stderr
    before = (out / "results.csv").read_bytes()
    again = hamacho("inspect", world["model"], world["good"], "--out", out, timeout=120)
    assert again.returncode == 1 and "already exists" in again.stderr and "--overwrite" in again.stderr
    assert (out / "results.csv").read_bytes() == before
    forced = hamacho("inspect", world["model"], world["good"], "--out", out, "--overwrite", timeout=120)
    assert forced.returncode == 0 and len(rows_of(out / "results.csv")) == 4
    assert "--overwrite" in hamacho("inspect", "--help").stdout


@case("out-on-a-full-disk")
def _full_disk(world, tmp, tiny):
    filler = tiny / "filler"
    with open(filler, "wb", buffering=0) as fh, pytest.raises(OSError):  # fill the disk for real
        while True:
            fh.write(b"\0" * 65536)
    with open(filler, "r+b") as fh:  # room for a few output images, not all
        fh.truncate(filler.stat().st_size - 40_000)
    out = tiny / "res"
    done = hamacho("inspect", world["model"], world["good"], "--out", out, "--save-images", timeout=120)
    assert done.returncode == 1, done.stdout
    assert "No space left on device" in done.stdout + done.stderr
    csv_path = out / "results.csv"
    if csv_path.exists():  # the CSV of what was judged is kept ...
        assert len(rows_of(csv_path)) == 4
    else:  # ... or the failure names it
        assert f"{csv_path} was not written: No space left on device" in done.stderr
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") or p.name.endswith((".tmp", ".part"))]
    assert leftovers == []
    for png in out.glob("*.png"):  # never a truncated image
        assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED) is not None, png


# --- live ----------------------------------------------------------------------------------------------------
LOCK_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def _hold_lock(log: Path) -> subprocess.Popen:
    InspectionLog(log).close()
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(log)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


@case("live-log-locked-by-another-process")
def _locked_log(world, tmp):
    log = tmp / "log.sqlite"
    holder = _hold_lock(log)
    try:
        live = popen("live", world["model"], "--source", world["good"], "--as-fast-as-possible", "--log", log)
        lines = []
        while len(lines) < 4:  # every frame is judged at once, not after a 5 s stall per row
            line = live.stdout.readline()
            assert line, live.stderr.read()
            if line.startswith("frame "):
                lines.append(line)
        assert all(int(line.split("latency ")[1].split()[0]) < 4000 for line in lines), lines
        time.sleep(6.5)  # longer than sqlite's 5 s wait: writes fail and are retried
        holder.communicate("release\n", timeout=10)
        out, err = live.communicate(timeout=60)
    finally:
        holder.kill()
    assert live.returncode == 0, err
    assert "every verdict was written, some late" in err
    with InspectionLog(log) as again:
        assert again.count() == 4


@case("live-log-locked-for-good")
def _lost_log(world, tmp):
    log = tmp / "log.sqlite"
    holder = _hold_lock(log)
    try:
        live = popen("live", world["model"], "--source", world["good"], "--as-fast-as-possible", "--log", log,
                     "--log-wait", "1")
        out, err = live.communicate(timeout=120)
    finally:
        holder.communicate("release\n", timeout=10)
    assert live.returncode == 1, out + err
    assert "4 of 4 verdicts could not be written to the inspection log" in err
    assert len([line for line in out.splitlines() if line.startswith("frame ")]) == 4  # still shown


def _huge_png(path: Path, width: int, height: int) -> Path:
    """A real, decodable all-black grey PNG, compressed row by row (no 256 MB array in the test)."""
    comp, row = zlib.compressobj(6), b"\0" * (width + 1)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


@case("live-folder-with-a-16000x16000-image")
def _huge_live(world, tmp):
    folder = tmp / "line"
    folder.mkdir()
    for src in images(world, 2):
        shutil.copy(src, folder / src.name)
    _huge_png(folder / "img_9_huge.png", 16000, 16000)
    done = hamacho("live", world["model"], "--source", folder, "--as-fast-as-possible", "--no-log", timeout=120)
    assert done.returncode == 0, done.stderr
    assert len([line for line in done.stdout.splitlines() if line.startswith("frame ")]) == 2
    assert "img_9_huge.png: too large (16000x16000 px, at most 200 megapixels allowed)" in done.stdout
    ins = hamacho("inspect", world["model"], folder, "--out", tmp / "res", timeout=120)  # the same rule
    assert "img_9_huge.png: too large (16000x16000 px, at most 200 megapixels allowed)" in ins.stdout


# --- the corpus ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_hostile(name, world, tmp_path, request):
    fn = CASES[name]
    extra = [request.getfixturevalue("tiny_filesystem")] if "tiny" in inspect.signature(fn).parameters else []
    fn(world, tmp_path, *extra)
