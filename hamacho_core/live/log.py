"""The inspection log: one SQLite row per judged frame, committed at once.

WAL journal and one commit per row: a crash (even a killed process) loses nothing that was
appended; ``synchronous=NORMAL`` keeps the file consistent on power loss too, where at most the
last rows can be missing.  Readers in other processes (a GUI table) can read while one writes.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

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
"""


def default_log_path() -> Path:
    return user_data_dir() / FILENAME


class InspectionLog:
    """Append-only log of live verdicts (``path`` defaults to ``user_data_dir()/inspection_log.sqlite``).

    Safe to share between threads (one lock around one connection); meant for one writer.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0, isolation_level=None)
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
            cur = self._db.execute("INSERT INTO inspections (timestamp, source, model, score, normalized, verdict, "
                                   "image_path) VALUES (?, ?, ?, ?, ?, ?, ?)", row)  # autocommit: one commit
            return int(cur.lastrowid)

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
        """Write every row, oldest first, as CSV (header ``COLUMNS``); returns the rows written."""
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        n = 0
        with self._lock:
            cur = self._db.execute("SELECT id, timestamp, source, model, score, normalized, verdict, image_path "
                                   "FROM inspections ORDER BY id")
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(COLUMNS)
                for r in cur:
                    d = _as_dict(r)
                    writer.writerow([d["id"], f"{d['timestamp']:.3f}", d["time"], d["source"], d["model"],
                                     f"{d['score']:.6g}", f"{d['normalized']:.4f}", d["verdict"],
                                     d["image_path"] or ""])
                    n += 1
        tmp.replace(path)
        return n

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> InspectionLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _as_dict(r: tuple) -> dict:
    ident, ts, source, model, score, normalized, verdict, image_path = r
    return {"id": ident, "timestamp": ts, "time": datetime.fromtimestamp(ts).isoformat(timespec="milliseconds"),
            "source": source, "model": model, "score": score, "normalized": normalized, "verdict": verdict,
            "image_path": image_path}
