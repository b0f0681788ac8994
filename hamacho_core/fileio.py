"""Safe output files: atomic writes (temporary file beside the target, fsync, rename), refusal of
targets that are not regular files, removal of our own stale temporaries, and CSV cells that a
spreadsheet cannot run as formulas."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import stat
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

try:  # POSIX: a temporary being written is locked, so a stale one (its writer was killed) is told apart
    import fcntl
except ImportError:  # Windows: a file still open by its writer cannot be deleted anyway
    fcntl = None

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))
#: Cells starting with these are formulas to a spreadsheet (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_hashes: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file (read in 1 MiB chunks), remembered per (path, size, mtime): weight files and
    graphs are large and are checked often."""
    st = os.stat(path)
    key = (os.fspath(path), st.st_size, st.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


class OutputPathError(OSError):
    """The output path exists and is not a regular file (a device, pipe, socket or folder)."""


def output_target(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces: a symlink is followed (its target is written, the link
    stays); anything that exists and is not a regular file is refused with :class:`OutputPathError`."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise OutputPathError(f"{path} exists and is {kind}, not a regular file: refusing to replace it")
    return target


def temp_name(target: Path) -> Path:
    """``.NAME.xxxxxxxx.tmp`` beside ``target``: the pattern :func:`remove_stale_temps` looks for."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")


def _lock(fh) -> None:
    if fcntl is not None:
        with suppress(OSError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


@contextmanager
def atomic_open(path: str | os.PathLike, *, text: bool = False) -> Iterator:
    """A new file handle whose content replaces ``path`` (see :func:`output_target`) only when the
    ``with`` block ends without error; otherwise nothing is left behind and ``path`` is untouched."""
    target = output_target(path)
    tmp = temp_name(target)
    try:
        kw = {"newline": "", "encoding": "utf-8"} if text else {}
        with open(tmp, "x" if text else "xb", **kw) as fh:
            _lock(fh)
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with suppress(OSError):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a crash or a full disk never leaves a partial file there."""
    with atomic_open(path) as fh:
        fh.write(data)
    return output_target(path)


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the ``.NAME.xxxxxxxx.tmp`` files that writers of ``path`` killed mid-write left beside it
    (one still being written is locked, or in use on Windows, and is kept); returns those removed."""
    target = output_target(path)
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.tmp")
    removed = []
    try:
        entries = [Path(e.path) for e in os.scandir(target.parent) if pattern.fullmatch(e.name) and e.is_file()]
    except OSError:
        return removed
    for tmp in entries:
        try:
            with open(tmp, "rb") as fh:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live writer: OSError
            os.unlink(tmp)
            removed.append(tmp)
        except OSError:
            continue
    return removed


def csv_cell(value: object) -> str:
    """A text cell that a spreadsheet shows as text: cells starting with ``= + - @``, tab or carriage
    return get a leading ``'`` (OWASP); the csv module quotes separators and quotes."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[object]],
              text_columns: Iterable[int]) -> int:
    """Write a CSV atomically (UTF-8); cells in ``text_columns`` go through :func:`csv_cell`, the others
    (numbers formatted by us) as they are.  Returns the rows written."""
    text = set(text_columns)
    n = 0
    with atomic_open(path, text=True) as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([csv_cell(v) if i in text else v for i, v in enumerate(row)])
            n += 1
    return n

