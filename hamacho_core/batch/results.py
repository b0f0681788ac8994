"""The results of a batch: a Parquet dataset (a folder of ``part-*.parquet`` files), one row per image.

Each finished chunk of images becomes one file, written by the driver only and atomically (a temporary
name, then a rename), so a killed run leaves whole files and nothing else.  A row is *final* when it was
judged without an error by the current model (same manifest sha256); a re-run skips final rows and
judges everything else again (failed images, images of another model, images never reached).  Rows
that a later run replaced are removed from their old files (rewritten atomically), so the dataset
keeps one row per image; :meth:`ResultStore.check` verifies that at the end.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PART_GLOB = "part-*.parquet"

#: column -> pyarrow type name (kept as strings so importing this module does not import pyarrow)
COLUMNS = {
    "path": "string", "size": "int64", "mtime": "float64", "raw_score": "float64",
    "normalized_score": "float64", "verdict": "string", "error": "string", "worker": "string",
    "seconds": "float64", "read_ms": "float64", "decode_ms": "float64", "model_ms": "float64",
    "model_sha256": "string", "evidence": "string", "judged_at": "string",
}


def stored_path(path: str) -> str:
    """``path`` as the dataset stores it: a name that is not UTF-8 (an old share's Shift-JIS, say) keeps
    its bytes visible as ``\\x83`` escapes, since Parquet strings must be UTF-8."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def path_key(path: str) -> int:
    """A 64-bit key for a path (as stored): sets of keys stay small for archives of millions of images."""
    return int.from_bytes(hashlib.blake2b(stored_path(path).encode("utf-8"), digest_size=8).digest(), "little")


def _write_atomically(table, target: Path) -> Path:
    """A Parquet file under a temporary name, fsynced, then renamed: readers see all of it or none."""
    import pyarrow.parquet as pq

    temp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, temp)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)
    return target


def _schema():
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS.items()])


@dataclass
class Check:
    """The end-of-run check of the dataset against the images the SOURCEs name."""

    rows: int
    unique: int
    duplicates: int  #: rows beyond the first for the same path
    missing: int  #: images named by the SOURCEs with no row
    final: int  #: rows judged without error by this model
    extra: int = 0  #: rows of images the SOURCEs no longer name (kept: an earlier run's)

    @property
    def exact(self) -> bool:
        return self.duplicates == 0 and self.missing == 0


class ResultStore:
    """The Parquet dataset at ``folder`` (created if missing)."""

    def __init__(self, folder: str | os.PathLike, model_sha256: str):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"the results folder {self.folder} exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.model_sha256 = model_sha256
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._seq = 0
        self._lock = None

    def lock(self) -> None:
        """Hold the folder for this run (released when the process ends): a second run on the same
        RESULTS is refused, since two runs would judge, write and prune the same images."""
        import fcntl

        handle = open(self.folder / ".lock", "a+")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise RuntimeError(f"another hamacho batch is writing {self.folder}; wait for it to end, or choose "
                               "another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        handle.flush()
        self._lock = handle
        for stale in self.folder.glob(".part-*.tmp"):  # a run killed while writing (ours is the only run)
            stale.unlink(missing_ok=True)

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def parts(self) -> list[Path]:
        return sorted(self.folder.glob(PART_GLOB))

    def _read(self, path: Path, columns: list[str] | None = None):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, columns=columns)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            raise ValueError(f"{path} is not a readable results file ({exc}); move it away and run again") from None

    def _rows(self, part: Path, columns=("path", "error", "model_sha256", "judged_at")):
        table = self._read(part, list(columns))
        return zip(*(table.column(c).to_pylist() for c in columns), strict=True)

    def scan(self) -> tuple[set[int], set[int]]:
        """(keys of images already judged without error by this model: a re-run skips them, keys of
        images with a row to remove: not final (failed, another model's), or a second final row)."""
        final: set[int] = set()
        stale: set[int] = set()
        for part in self.parts():
            for path, error, sha, _at in self._rows(part):
                key = path_key(path)
                if error is None and sha == self.model_sha256:
                    if key in final:
                        stale.add(key)  # two final rows (an interrupted prune): one is removed
                    final.add(key)
                else:
                    stale.add(key)
        return final, stale

    def write(self, rows: list[dict]) -> Path:
        """One chunk's rows as a new part file, atomically."""
        import pyarrow as pa

        self._seq += 1
        target = self.folder / f"part-{self.run_id}-{self._seq:06d}.parquet"
        table = pa.Table.from_pylist([{c: row.get(c) for c in COLUMNS} | {"path": stored_path(row["path"])}
                                      for row in rows], schema=_schema())
        return _write_atomically(table, target)

    def prune(self, keys: set[int]) -> int:
        """For the images of ``keys``, remove the rows another row supersedes: this model's final row
        wins, else the newest.  Each changed file is rewritten atomically (one left empty is deleted).
        Memory and work follow ``keys`` (the images redone), not the archive.  Returns rows removed."""
        import pyarrow as pa

        if not keys:
            return 0

        def rank(error, sha, at, part):
            return (error is None and sha == self.model_sha256, at or "", part.name)

        best: dict[int, tuple] = {}
        parts = self.parts()
        for part in parts:
            for path, error, sha, at in self._rows(part):
                key = path_key(path)
                if key in keys and (key not in best or rank(error, sha, at, part) > best[key]):
                    best[key] = rank(error, sha, at, part)
        removed = 0
        for part in parts:
            keep = []
            for path, error, sha, at in self._rows(part):
                key = path_key(path)
                # the winner is kept once: a second row equal to it (same file) goes too
                won = key not in keys or best.get(key) == rank(error, sha, at, part)
                if won and key in keys:
                    best[key] = None
                keep.append(won)
            if all(keep):
                continue
            removed += keep.count(False)
            kept = self._read(part).filter(pa.array(keep))
            if kept.num_rows == 0:
                part.unlink()
                continue
            _write_atomically(kept, part)
        return removed

    def check(self, expected: Iterable[int]) -> Check:
        """Count rows, duplicate paths, the keys of ``expected`` (images named) with no row, and rows
        of images not named."""
        counts: dict[int, int] = {}
        final = rows = 0
        for part in self.parts():
            for path, error, sha, _at in self._rows(part):
                key = path_key(path)
                counts[key] = counts.get(key, 0) + 1
                rows += 1
                final += error is None and sha == self.model_sha256
        named = missing = 0
        for key in expected:
            named += 1
            missing += key not in counts
        return Check(rows, len(counts), rows - len(counts), missing, final, len(counts) - (named - missing))

    def table(self, columns: list[str] | None = None):
        """The dataset (``columns`` of it) as one pyarrow Table (for reports and tests)."""
        import pyarrow as pa

        tables = [self._read(p, columns) for p in self.parts()]
        return pa.concat_tables(tables) if tables else _schema().empty_table().select(columns or list(COLUMNS))
