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


def path_key(path: str) -> int:
    """A 64-bit key for a path: sets of keys stay small for archives of millions of images."""
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


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
        for stale in self.folder.glob(".part-*.tmp"):  # a run killed while writing
            stale.unlink(missing_ok=True)

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
        images with a row that is not final: failed, or judged by another model)."""
        final: set[int] = set()
        stale: set[int] = set()
        for part in self.parts():
            for path, error, sha, _at in self._rows(part):
                (final if error is None and sha == self.model_sha256 else stale).add(path_key(path))
        return final, stale

    def write(self, rows: list[dict]) -> Path:
        """One chunk's rows as a new part file, atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._seq += 1
        target = self.folder / f"part-{self.run_id}-{self._seq:06d}.parquet"
        temp = self.folder / f".{target.name}.tmp"
        table = pa.Table.from_pylist([{c: row.get(c) for c in COLUMNS} for row in rows], schema=_schema())
        pq.write_table(table, temp)
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, target)
        return target

    def prune(self, keys: set[int]) -> int:
        """For the images of ``keys``, remove the rows another row supersedes: this model's final row
        wins, else the newest.  Each changed file is rewritten atomically (one left empty is deleted).
        Memory and work follow ``keys`` (the images redone), not the archive.  Returns rows removed."""
        import pyarrow as pa
        import pyarrow.parquet as pq

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
            keep = [path_key(path) not in keys or best[path_key(path)] == rank(error, sha, at, part)
                    for path, error, sha, at in self._rows(part)]
            if all(keep):
                continue
            removed += keep.count(False)
            kept = self._read(part).filter(pa.array(keep))
            if kept.num_rows == 0:
                part.unlink()
                continue
            temp = part.with_name(f".{part.name}.tmp")
            pq.write_table(kept, temp)
            os.replace(temp, part)
        return removed

    def check(self, expected: Iterable[str]) -> Check:
        """Count rows, duplicate paths, and images of ``expected`` that have no row."""
        counts: dict[int, int] = {}
        final = rows = 0
        for part in self.parts():
            for path, error, sha, _at in self._rows(part):
                key = path_key(path)
                counts[key] = counts.get(key, 0) + 1
                rows += 1
                final += error is None and sha == self.model_sha256
        missing = sum(path_key(p) not in counts for p in expected)
        return Check(rows, len(counts), rows - len(counts), missing, final)

    def table(self):
        """The whole dataset as one pyarrow Table (for reports and tests)."""
        import pyarrow as pa

        tables = [self._read(p) for p in self.parts()]
        return pa.concat_tables(tables) if tables else _schema().empty_table()
