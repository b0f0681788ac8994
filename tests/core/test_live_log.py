"""The inspection log: append/rows/count/CSV export, thread safety, and surviving a killed process."""

from __future__ import annotations

import csv
import sqlite3
import subprocess
import sys
import threading

import pytest

from hamacho_core.live import InspectionLog, default_log_path
from hamacho_core.live.log import current_user
from hamacho_core.paths import user_data_dir

WRITER = """
import sys
from hamacho_core.live.log import InspectionLog
log = InspectionLog(sys.argv[1])
i = 0
while True:
    i += 1
    log.append("camera 0", "model.hmc", float(i), 0.25, "NG" if i % 4 == 0 else "OK")
    print(i, flush=True)
"""


def test_append_rows_count_export(tmp_path):
    log = InspectionLog()  # default place: the user data folder (HAMACHO_HOME in tests)
    assert log.path == default_log_path() == user_data_dir() / "inspection_log.sqlite" and log.path.is_file()
    ids = [log.append("camera 0", "m.hmc", 10.0 + i, 0.1 * i, v, timestamp=1_700_000_000 + i,
                      image_path=tmp_path / f"{i}.png" if v != "OK" else None)
           for i, v in enumerate(["OK", "NG", "OK", "REVIEW", "NG"])]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert log.count() == 5 and log.count("NG") == 2 and log.count("REVIEW") == 1 and log.count("OK") == 2
    rows = log.rows()
    assert [r["score"] for r in rows] == [14.0, 13.0, 12.0, 11.0, 10.0]  # newest first
    assert set(rows[0]) == {"id", "timestamp", "time", "source", "model", "score", "normalized", "verdict",
                            "image_path"}
    assert rows[0]["image_path"] == str(tmp_path / "4.png") and rows[-1]["image_path"] is None
    assert rows[0]["time"].startswith("2023-11-1")
    assert [r["score"] for r in log.rows(limit=2, offset=1)] == [13.0, 12.0]
    assert [r["score"] for r in log.rows(verdict="NG")] == [14.0, 11.0]
    assert log.export_csv(tmp_path / "log.csv") == 5
    with open(tmp_path / "log.csv", newline="", encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert [r["verdict"] for r in exported] == ["OK", "NG", "OK", "REVIEW", "NG"]  # oldest first
    assert exported[1]["score"] == "11" and exported[1]["source"] == "camera 0"
    log.close()
    with InspectionLog(log.path) as again:  # reopened: all there
        assert again.count() == 5
        assert again._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_one_writer_thread_and_readers(tmp_path):
    log = InspectionLog(tmp_path / "log.sqlite")
    errors = []

    def write():
        try:
            for i in range(200):
                log.append("cam", "m", i, 0.1, "OK")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    while thread.is_alive():
        log.rows(limit=10)
        log.count()
    thread.join()
    assert not errors and log.count() == 200
    log.close()


def test_survives_a_killed_process(tmp_path):
    path = tmp_path / "log.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    last = 0
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= 150:
                break
        proc.kill()  # SIGKILL: no cleanup, no final commit
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert last >= 150
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with InspectionLog(path) as log:
        assert log.count() >= last  # every row reported as appended is there
        assert log.rows(limit=1)[0]["score"] == float(log.count())
        assert log.count("NG") == log.count() // 4


def test_audit_trail_of_changes(tmp_path):
    """Issue 24: who changed thresholds and models, when, from what to what -- kept with the inspections."""
    path = tmp_path / "log.sqlite"
    with sqlite3.connect(path) as old_file:  # a log written before the audit trail existed
        old_file.execute("CREATE TABLE inspections (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp REAL NOT NULL, "
                         "source TEXT NOT NULL, model TEXT NOT NULL, score REAL NOT NULL, normalized REAL NOT NULL, "
                         "verdict TEXT NOT NULL, image_path TEXT)")
    with InspectionLog(path) as log:
        log.append("cam", "m.hmc", 1.0, 0.2, "OK")
        log.audit("image threshold", 2.5, 3.0, "m.hmc", timestamp=1000.0)
        log.audit("model", "m.hmc", "n.hmc", "n.hmc", user="alice")
    with InspectionLog(path) as log:
        rows = log.audit_rows()
        assert [r["action"] for r in rows] == ["model", "image threshold"], "newest first, kept on reopen"
        assert rows[1]["old"] == "2.5" and rows[1]["new"] == "3.0" and rows[1]["timestamp"] == 1000.0
        assert rows[0]["user"] == "alice" and rows[1]["user"] == current_user() != ""
        assert log.count() == 1, "the inspections are untouched"


def test_a_closed_log_refuses_rows_with_a_clear_error(tmp_path):
    log = InspectionLog(tmp_path / "log.sqlite")
    log.close()
    with pytest.raises(sqlite3.ProgrammingError, match="is closed"):
        log.append("cam", "m", 1.0, 0.1, "OK")  # a writer thread that outlived its run counts it, never crashes
