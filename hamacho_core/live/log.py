"""The inspection log: one SQLite row per judged frame, committed at once.

WAL journal and one commit per row: a crash (even a killed process) loses nothing that was
appended; ``synchronous=NORMAL`` keeps the file consistent on power loss too, where at most the
last rows can be missing.  Readers in other processes (a GUI table) can read while one writes.
Live inspection appends through :class:`LogWriter`: a log locked by another program delays rows
(kept in memory, retried) instead of dropping them or stalling the judging thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path

from hamacho_core.fileio import write_csv
from hamacho_core.paths import user_data_dir

FILENAME = "inspection_log.sqlite"
COLUMNS = ("id", "timestamp", "time", "source", "model", "score", "normalized", "verdict", "image_path")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS inspections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp REAL NOT NULL,
    source TEXT NOT NULL,
    model TEXT NOT NULL,
    score REAL NOT NULL,
    normalized REAL NOT NULL,
    verdict TEXT NOT NULL,
    image_path TEXT
);
CREATE INDEX IF NOT EXISTS inspections_verdict ON inspections (verdict, id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp REAL NOT NULL,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    old TEXT NOT NULL,
    new TEXT NOT NULL,
    model TEXT NOT NULL
);
"""
#: The audit trail's columns: who changed what (thresholds, the model, engineer mode), when, from what to what.
AUDIT_COLUMNS = ("id", "timestamp", "time", "user", "action", "old", "new", "model")


def current_user() -> str:
    """The OS account running Hamacho ("unknown" where the system cannot say)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return "unknown"


def default_log_path() -> Path:
    return user_data_dir() / FILENAME


class InspectionLog:
    """Append-only log of live verdicts (``path`` defaults to ``user_data_dir()/inspection_log.sqlite``).

    Safe to share between threads (one lock around one connection); meant for one writer.  A write
    waits up to ``timeout`` seconds for another process's lock, then raises ``sqlite3.OperationalError``
    (:class:`LogWriter` retries it without blocking the caller).
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 5.0) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=timeout, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise OSError(f"the inspection log {self.path} cannot be opened: {exc}") from exc

    def append(self, source: str, model: str, score: float, normalized: float, verdict: str,
               image_path: str | os.PathLike | None = None, timestamp: float | None = None) -> int:
        """Add one row (``timestamp``: seconds since the epoch, default now) and commit; returns its id."""
        row = (time.time() if timestamp is None else float(timestamp), str(source), str(model), float(score),
               float(normalized), str(verdict), None if image_path is None else os.fspath(image_path))
        with self._lock:
            self._check_open()
            cur = self._db.execute("INSERT INTO inspections (timestamp, source, model, score, normalized, verdict, "
                                   "image_path) VALUES (?, ?, ?, ?, ?, ?, ?)", row)  # autocommit: one commit
            return int(cur.lastrowid)

    def audit(self, action: str, old: object, new: object, model: str = "", user: str | None = None,
              timestamp: float | None = None) -> int:
        """Record one change in the audit trail (``user`` defaults to the OS account) and commit; its id."""
        row = (time.time() if timestamp is None else float(timestamp), user or current_user(), str(action),
               str(old), str(new), str(model))
        with self._lock:
            self._check_open()
            cur = self._db.execute("INSERT INTO audit (timestamp, user, action, old, new, model) "
                                   "VALUES (?, ?, ?, ?, ?, ?)", row)
            return int(cur.lastrowid)

    def audit_rows(self, limit: int = 1000) -> list[dict]:
        """Audit rows as dicts (keys ``AUDIT_COLUMNS``; ``time`` is local ISO time), newest first."""
        with self._lock:
            fetched = self._db.execute("SELECT id, timestamp, user, action, old, new, model FROM audit "
                                       "ORDER BY id DESC LIMIT ?", (int(limit),)).fetchall()
        return [dict(zip(AUDIT_COLUMNS, (r[0], r[1], _local_time(r[1]), *r[2:]), strict=True)) for r in fetched]

    def rows(self, limit: int = 1000, offset: int = 0, verdict: str | None = None) -> list[dict]:
        """Rows as dicts (keys ``COLUMNS``; ``time`` is local ISO time), newest first."""
        where, args = ("WHERE verdict = ?", [verdict]) if verdict is not None else ("", [])
        with self._lock:
            cur = self._db.execute(f"SELECT id, timestamp, source, model, score, normalized, verdict, image_path "
                                   f"FROM inspections {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                                   [*args, int(limit), int(offset)])
            fetched = cur.fetchall()
        return [_as_dict(r) for r in fetched]

    def count(self, verdict: str | None = None) -> int:
        with self._lock:
            if verdict is None:
                return int(self._db.execute("SELECT COUNT(*) FROM inspections").fetchone()[0])
            return int(self._db.execute("SELECT COUNT(*) FROM inspections WHERE verdict = ?", (verdict,)).fetchone()[0])

    def export_csv(self, path: str | os.PathLike) -> int:
        """Write every row, oldest first, as CSV (header ``COLUMNS``), atomically; text cells are
        neutralised against spreadsheet formulas.  Returns the rows written."""
        def rows(cur):
            for r in cur:
                d = _as_dict(r)
                yield [d["id"], f"{d['timestamp']:.3f}", d["time"], d["source"], d["model"], f"{d['score']:.6g}",
                       f"{d['normalized']:.4f}", d["verdict"], d["image_path"] or ""]

        with self._lock:
            cur = self._db.execute("SELECT id, timestamp, source, model, score, normalized, verdict, image_path "
                                   "FROM inspections ORDER BY id")
            return write_csv(path, COLUMNS, rows(cur), text_columns=(3, 4, 7, 8))

    def _check_open(self) -> None:
        if self._db is None:  # a writer thread that outlived the run: a clear error its retry loop counts
            raise sqlite3.ProgrammingError(f"the inspection log {self.path} is closed")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> InspectionLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LogWriter:
    """Appends rows to an :class:`InspectionLog` from its own thread, so a blocked write (another
    process holding the database lock) never stalls the caller.  Rows wait in memory, in order, and
    are retried every ``retry_s`` until written; :meth:`close` retries for a while longer and returns
    how many were finally not logged."""

    def __init__(self, log: InspectionLog, retry_s: float = 0.5) -> None:
        self.log, self.retry_s = log, retry_s
        self.written = 0
        self.failures = 0  # failed attempts (each is retried)
        self.dropped = 0  # rows that can never be written (counted as not logged)
        self.last_error: str | None = None
        self.failing = False  # the last attempt failed
        self._rows: deque[tuple] = deque()
        self._wake = threading.Condition()
        self._deadline: float | None = None  # set by close: give up retrying after it
        self._thread = threading.Thread(target=self._run, name="inspection-log", daemon=True)
        self._thread.start()

    def append(self, source: str, model: str, score: float, normalized: float, verdict: str,
               image_path: str | os.PathLike | None = None) -> None:
        """Queue one row, time-stamped now; never blocks."""
        with self._wake:
            self._rows.append((source, model, score, normalized, verdict, image_path, time.time()))
            self._wake.notify()

    @property
    def pending(self) -> int:
        """Rows not yet written."""
        with self._wake:
            return len(self._rows)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._rows and self._deadline is None:
                    self._wake.wait()
                if not self._rows or (self._deadline is not None and time.monotonic() > self._deadline):
                    return
                row = self._rows[0]
            try:
                self.log.append(*row[:6], timestamp=row[6])
            except (sqlite3.OperationalError, OSError) as exc:  # locked, busy, disk full: keep it, try again
                self.last_error, self.failing = str(exc), True
                self.failures += 1
                with self._wake:
                    self._wake.wait(self.retry_s)
                continue
            except sqlite3.Error as exc:  # this row can never be written (e.g. a constraint): count, go on
                self.last_error = str(exc)
                with self._wake:
                    if self._rows and self._rows[0] is row:
                        self._rows.popleft()
                    self.dropped += 1
                continue
            with self._wake:
                if self._rows and self._rows[0] is row:
                    self._rows.popleft()
                self.written += 1
                self.failing = False

    def close(self, wait_s: float = 10.0) -> int:
        """Write what is pending, retrying for up to ``wait_s`` seconds; returns the rows not logged."""
        with self._wake:
            self._deadline = time.monotonic() + wait_s
            self._wake.notify()
        self._thread.join(wait_s + self.log.timeout + 1.0)  # an attempt in progress may be waiting for the lock
        with self._wake:
            lost = len(self._rows) + self.dropped
            self._rows.clear()
        return lost


def _local_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).isoformat(timespec="milliseconds")


def _as_dict(r: tuple) -> dict:
    ident, ts, source, model, score, normalized, verdict, image_path = r
    return {"id": ident, "timestamp": ts, "time": _local_time(ts),
            "source": source, "model": model, "score": score, "normalized": normalized, "verdict": verdict,
            "image_path": image_path}
