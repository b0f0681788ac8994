"""``hamacho batch`` with local worker processes (the real command, a subprocess): the same scores as
``hamacho inspect``; sources as folders, patterns and lists; resuming after the driver was killed;
a killed worker replaced; failed images redone; another model; the report."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys

from hamacho_core.batch import BatchOptions, run_batch
from hamacho_core.imageio import write_image
from hamacho_core.synthetic import make_samples
from tests.batch.conftest import rows, run_batch_cli, start_batch_cli, wait_for_parts


def test_batch_scores_equal_inspect_and_every_image_is_there_once(archive, tmp_path):
    broken = archive.images / "day0" / "zz_broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    try:
        done = run_batch_cli(archive.model, archive.images, "--out", tmp_path / "res", "--workers", "2",
                             "--chunk-size", "16")
        inspected = subprocess.run([sys.executable, "-m", "hamacho_core.cli", "inspect", str(archive.model),
                                    str(archive.images), "--recursive", "--out", str(tmp_path / "inspect")],
                                   capture_output=True, text=True, timeout=300)
    finally:
        broken.unlink()
    assert done.returncode == 0, done.stderr
    assert inspected.returncode == 0, inspected.stderr
    assert f"Check: every image exactly once: {archive.n + 1} images, one row each" in done.stdout
    assert "2 local worker(s)" in done.stdout and "error: " in done.stdout and "truncated PNG" in done.stdout
    got = {r["path"]: r for r in rows(tmp_path / "res")}
    assert len(got) == archive.n + 1 and got[str(broken)]["error"] == "truncated PNG file"
    with open(tmp_path / "inspect" / "results.csv", newline="", encoding="utf-8") as handle:
        expected = {os.path.abspath(r["path"]): r for r in csv.DictReader(handle)}
    assert len(expected) == archive.n  # inspect skips the broken file
    for path, ref in expected.items():
        row = got[path]
        assert f"{row['raw_score']:.6g}" == ref["raw_score"] and row["verdict"] == ref["verdict"], path
        assert f"{row['normalized_score']:.4f}" == ref["normalized_score"]
    assert 1 <= len({r["worker"] for r in got.values()}) <= 2  # (a fast worker may take every chunk)
    assert all(r["model_sha256"] == next(iter(got.values()))["model_sha256"] for r in got.values())


def test_sources_patterns_lists_and_overlaps(archive, tmp_path):
    listed = sorted((archive.images / "day1").glob("*.png"))[:5]
    (tmp_path / "list.txt").write_text("# five of day1\n" + "\n".join(map(str, listed)) + "\n\n")
    summary = run_batch(archive.model, [str(archive.images / "day2" / "*.png"), f"@{tmp_path / 'list.txt'}",
                                        str(listed[0])], tmp_path / "res", BatchOptions(workers=1))
    day2 = len(list((archive.images / "day2").glob("*.png")))
    assert summary.total == day2 + 5 and summary.judged == day2 + 5, "a path named twice is judged once"
    assert summary.check.exact and len(rows(tmp_path / "res")) == day2 + 5
    done = run_batch_cli(archive.model, tmp_path / "nowhere", "--out", tmp_path / "res2")
    assert done.returncode == 1 and "no such file or folder" in done.stderr
    assert not (tmp_path / "res2").exists(), "nothing is created for a bad SOURCE"


def test_resume_after_the_driver_is_killed_redoes_nothing_and_loses_nothing(long_archive, tmp_path):
    out = tmp_path / "res"
    proc = start_batch_cli(long_archive.model, long_archive.images, "--out", out, "--workers", "1",
                           "--chunk-size", "8")
    wait_for_parts(out, 5, proc)
    proc.send_signal(signal.SIGKILL)  # the driver dies without any clean-up
    proc.communicate(timeout=30)  # its workers see it and exit too: they hold its output pipes
    before = {r["path"]: r["judged_at"] for r in rows(out)}
    assert 0 < len(before) < long_archive.n
    done = run_batch_cli(long_archive.model, long_archive.images, "--out", out, "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert f"Judged {long_archive.n - len(before)} of {long_archive.n} images" in done.stdout
    assert f"{len(before)} already judged by this model, skipped" in done.stdout
    assert "every image exactly once" in done.stdout
    after = rows(out)
    assert len(after) == long_archive.n == len({r["path"] for r in after})
    assert all(r["judged_at"] == before[r["path"]] for r in after if r["path"] in before), "nothing redone"
    assert not list(out.glob(".part-*")), "no temporary file left"


def test_a_killed_worker_process_is_replaced_and_its_chunk_judged_again(long_archive, tmp_path):
    out = tmp_path / "res"
    proc = start_batch_cli(long_archive.model, long_archive.images, "--out", out, "--workers", "2",
                           "--chunk-size", "2")  # 300 tasks: the run lasts well beyond the kill
    wait_for_parts(out, 2, proc)
    workers = [pid for pid in _children(proc.pid) if "spawn_main" in _cmdline(pid) and "resource_tracker"
               not in _cmdline(pid)]
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    out_text, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "a worker process died" in err and "Worker processes died 1 time(s)" in out_text
    assert "every image exactly once" in out_text
    got = rows(out)
    assert len(got) == long_archive.n == len({r["path"] for r in got})
    assert len({r["worker"] for r in got}) >= 3, "the new worker judged the chunks again"


def test_failed_images_are_redone_and_another_model_rejudges_all(archive, tmp_path):
    images = tmp_path / "imgs"
    shutil.copytree(archive.images / "day0", images)
    bad = images / "bad.png"
    bad.write_bytes(b"not an image at all")
    first = run_batch_cli(archive.model, images, "--out", tmp_path / "res", "--workers", "1")
    n = len(list(images.glob("*.png")))
    assert first.returncode == 0 and "errors 1" in first.stdout
    write_image(bad, make_samples("texture", 1, 0, size=64, seed=99)[0].image)  # the file was replaced
    again = run_batch_cli(archive.model, images, "--out", tmp_path / "res", "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert f"Judged 1 of {n} images" in again.stdout and "1 replaced rows removed" in again.stdout
    fixed = [r for r in rows(tmp_path / "res") if r["path"] == str(bad)]
    assert len(fixed) == 1 and fixed[0]["error"] is None and fixed[0]["verdict"] in ("OK", "NG", "REVIEW")
    from tests.batch.conftest import Archive

    other = Archive(tmp_path / "other", 2, 64, 50)  # another model
    third = run_batch_cli(other.model, images, "--out", tmp_path / "res", "--workers", "1")
    assert third.returncode == 0 and f"Judged {n} of {n} images" in third.stdout
    assert f"{n} replaced rows removed" in third.stdout
    final = rows(tmp_path / "res")
    assert len(final) == n and len({r["model_sha256"] for r in final}) == 1
    assert final[0]["model_sha256"] != fixed[0]["model_sha256"], "every row is the new model's"


def test_report_and_evidence(archive, tmp_path):
    done = run_batch_cli(archive.model, archive.images / "day1", "--out", tmp_path / "res", "--workers", "1",
                         "--evidence", "--report")
    assert done.returncode == 0, done.stderr
    got = rows(tmp_path / "res")  # the dataset reads as Parquet: _report.html and _evidence/ are skipped
    flagged = [r for r in got if r["verdict"] != "OK"]
    assert flagged and all(r["evidence"] and os.path.isfile(r["evidence"]) for r in flagged)
    assert all(r["evidence"] is None for r in got if r["verdict"] == "OK")
    report = (tmp_path / "res" / "_report.html").read_text()
    ng = sum(r["verdict"] == "NG" for r in got)
    assert re.search(rf"<td>{len(got)}</td><td>{len(got) - len(flagged)}</td><td>{ng}</td>", report)
    assert report.count("data:image/jpeg;base64,") == min(12, len(flagged))
    assert "data:image/png;base64," in report


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as handle:
            found += [int(c) for c in handle.read().split()]
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_uri_sources_are_read_through_pyarrow_file_systems(archive, tmp_path):
    """``file://`` exercises the code path of ``s3://`` and ``gs://`` (pyarrow's file systems): the same
    listing, reading and scores as the local paths."""
    folder = archive.images / "day1"
    by_uri = run_batch(archive.model, [f"file://{folder}"], tmp_path / "uri", BatchOptions(workers=1))
    by_path = run_batch(archive.model, [str(folder)], tmp_path / "path", BatchOptions(workers=1))
    assert by_uri.check.exact and by_uri.judged == by_path.judged == len(list(folder.glob("*.png")))
    uri_rows = {r["path"].removeprefix("file://"): r for r in rows(tmp_path / "uri")}
    path_rows = {r["path"]: r for r in rows(tmp_path / "path")}
    assert uri_rows.keys() == path_rows.keys()
    for path, row in path_rows.items():
        assert (uri_rows[path]["raw_score"], uri_rows[path]["size"]) == (row["raw_score"], row["size"])
    missing = run_batch_cli(archive.model, f"file://{tmp_path}/nothing", "--out", tmp_path / "none")
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr


def test_a_name_that_is_not_utf8_is_judged_stored_and_resumed(archive, tmp_path):
    images = tmp_path / "share"
    images.mkdir()
    odd = os.path.join(os.fsencode(images), b"part_\x83\x41.png")  # Shift-JIS bytes from an old SMB share
    with open(odd, "wb") as handle:
        handle.write((archive.images / "day0" / "part_0000.png").read_bytes())
    first = run_batch_cli(archive.model, images, "--out", tmp_path / "res", "--workers", "1")
    assert first.returncode == 0, first.stderr
    got = rows(tmp_path / "res")
    assert len(got) == 1 and got[0]["path"].endswith("part_\\x83A.png") and got[0]["error"] is None
    again = run_batch_cli(archive.model, images, "--out", tmp_path / "res", "--workers", "1")
    assert again.returncode == 0 and "1 already judged by this model, skipped" in again.stdout


def test_a_second_run_on_the_same_results_is_refused(archive, tmp_path):
    from hamacho_core.batch import ResultStore

    holder = ResultStore(tmp_path / "res", "")
    holder.lock()  # another batch is writing there
    try:
        second = run_batch_cli(archive.model, archive.images, "--out", tmp_path / "res", "--workers", "1")
    finally:
        holder.unlock()
    assert second.returncode == 1 and "another hamacho batch is writing" in second.stderr
    assert not list((tmp_path / "res").glob("part-*")), "nothing judged"
    third = run_batch_cli(archive.model, archive.images / "day0", "--out", tmp_path / "res", "--workers", "1")
    assert third.returncode == 0, "the lock goes with its holder"


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(long_archive, tmp_path):
    out = tmp_path / "res"
    proc = start_batch_cli(long_archive.model, long_archive.images, "--out", out, "--workers", "1",
                           "--chunk-size", "2")
    wait_for_parts(out, 2, proc)
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the driver stops, its workers do not print tracebacks
    out_text, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Stopped:" in out_text and "run the same command again to resume" in out_text
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    done = run_batch_cli(long_archive.model, long_archive.images, "--out", out, "--workers", "2")
    assert done.returncode == 0 and "every image exactly once" in done.stdout
    assert len(rows(out)) == long_archive.n
