"""What a batch judges: folders (searched recursively), glob patterns and text files of paths, expanded
lazily in a stable order, so listing a million-image archive never holds more than one folder's names.

A SOURCE is a folder, a file, a glob pattern (``/archive/2026-*/**/*.png``; ``**`` crosses folders) or
a list file: ``@paths.txt`` (or any ``.txt``/``.lst`` file) with one path per line (blank lines and
lines starting with ``#`` are ignored; relative paths are relative to the list file), or a URI that
pyarrow's file systems read (``s3://bucket/prefix/``, ``gs://``, ``hdfs://``, ``file:///``), listed
recursively; workers then read the images through the same file system.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from hamacho_core.imageio import IMAGE_SUFFIXES

LIST_SUFFIXES = (".txt", ".lst")


class SourceError(ValueError):
    """A SOURCE that names nothing (missing folder, pattern matching nothing, unreadable list)."""


def _is_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _walk(folder: str, unreadable: list[str] | None = None) -> Iterator[str]:
    """Image files under ``folder``, sorted folder by folder (links to folders are not followed);
    sub-folders that cannot be read go to ``unreadable``."""
    def failed(exc: OSError) -> None:
        if unreadable is not None:
            unreadable.append(f"{exc.filename}: {exc.strerror or exc}")

    for root, dirs, files in os.walk(folder, onerror=failed):
        dirs.sort()
        for name in sorted(files):
            if _is_image(name):
                yield os.path.join(root, name)


def _pattern_regex(pattern: str) -> re.Pattern:
    """A regex for a glob of '/'-separated parts: ``**`` alone is any number of folders, ``*`` and ``?`` stay
    within one part, ``[...]`` is a character class (as :mod:`glob` reads them)."""
    out = []
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append("(?:[^/]*/)*" if not last else ".*")
            continue
        j, piece = 0, ""
        while j < len(part):
            c = part[j]
            if c == "*":
                piece += "[^/]*"
            elif c == "?":
                piece += "[^/]"
            elif c == "[":
                k = j + 1 + (part[j + 1:j + 2] == "!")
                k += part[k:k + 1] == "]"  # a ']' first is a member
                end = part.find("]", k)
                if end < 0:
                    piece += re.escape(c)
                else:
                    body = part[j + 1:end].replace("\\", "\\\\")
                    piece += "[" + ("^" + body[1:] if body.startswith("!") else body) + "]"
                    j = end
            else:
                piece += re.escape(c)
            j += 1
        out.append(piece + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _glob(spec: str, unreadable: list[str] | None) -> Iterator[tuple[str, bool]]:
    """(path, is a folder) for every match of the glob ``spec``, streamed in sorted order, without following
    links to folders (a link loop cannot make the listing endless) and without listing below a matched folder
    (``_walk`` does that)."""
    parts = spec.replace(os.sep, "/").split("/")
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    root = "/".join(parts[:fixed]) or ("/" if spec.startswith("/") else ".")
    if not os.path.isdir(root):
        return
    regex = _pattern_regex("/".join(parts[fixed:]))
    deep = any(part == "**" for part in parts[fixed:])
    depth = len(parts) - fixed  # parts below the root a match has (without **)

    def failed(exc: OSError) -> None:
        if unreadable is not None:
            unreadable.append(f"{exc.filename}: {exc.strerror or exc}")

    prefix = "" if root in (".", "") and not spec.startswith("./") else root.rstrip("/") + "/"
    hidden = any(part.startswith(".") for part in parts[fixed:])  # as glob: * and ** skip hidden names
    for folder, dirs, files in os.walk(root, onerror=failed):  # followlinks=False
        relative = os.path.relpath(folder, root).replace(os.sep, "/")
        relative = "" if relative == "." else relative + "/"
        level = relative.count("/")
        dirs.sort()
        if not hidden:
            dirs[:] = [name for name in dirs if not name.startswith(".")]
            files = [name for name in files if not name.startswith(".")]
        kept = []
        for name in dirs:
            if os.path.islink(os.path.join(folder, name)):
                continue  # a link to a folder is never followed (a loop would list for ever)
            if regex.match(relative + name):
                yield prefix + relative + name, True  # its images are listed by _walk; not entered here
            elif deep or level + 1 < depth:
                kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            if regex.match(relative + name):
                yield prefix + relative + name, False


def _list_file(path: Path) -> Iterator[str]:
    try:
        handle = path.open(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise SourceError(f"cannot read the list of paths {path}: {exc.strerror or exc}") from None
    with handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#"):
                yield str(path.parent / line) if not os.path.isabs(line) else line


def is_uri(spec: str) -> bool:
    """``s3://bucket/prefix``, ``gs://...``, ``hdfs://...``, ``file:///...``: read through pyarrow's file systems."""
    return "://" in spec[:16]


def _expand_uri(spec: str) -> Iterator[str]:
    """Image files under a URI (a prefix is listed recursively; a glob in the last part is not supported)."""
    from pyarrow import fs

    try:
        filesystem, root = filesystem_of(spec), uri_path(spec)
        info = filesystem.get_file_info(root)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises OSError/ArrowInvalid for bad URIs and credentials
        raise SourceError(f"{spec}: {exc}") from None
    scheme, rest = spec.split("://", 1)
    authority = rest.split("/", 1)[0] if scheme not in ("file",) else ""
    if info.type == fs.FileType.File:
        yield uri_of(scheme, authority, root)
        return
    if info.type != fs.FileType.Directory:
        raise SourceError(f"{spec}: no such file or folder")
    found = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
    for entry in sorted((e for e in found if e.type == fs.FileType.File and _is_image(e.path)), key=lambda e: e.path):
        yield uri_of(scheme, authority, entry.path)


def uri_of(scheme: str, authority: str, path: str) -> str:
    """The URI of a file system path: ``s3://bucket/key`` (pyarrow's S3 paths start with the bucket),
    ``hdfs://host:port/path``, ``file:///path``; kept decoded (spaces as they are)."""
    return f"{scheme}://{path}" if not path.startswith("/") else f"{scheme}://{authority}{path}"


def uri_path(uri: str) -> str:
    """The path inside its file system of a URI that ``uri_of`` made (decoded, spaces and all)."""
    scheme, rest = uri.split("://", 1)
    if scheme in ("file", "s3", "gs", "gcs"):
        return rest
    return "/" + rest.partition("/")[2]


def filesystem_of(uri: str):
    """The pyarrow file system of a URI's scheme and bucket (or host)."""
    from pyarrow import fs

    scheme, rest = uri.split("://", 1)
    if scheme == "file":
        return fs.LocalFileSystem()
    return fs.FileSystem.from_uri(f"{scheme}://{rest.split('/', 1)[0]}/")[0]


def _expand(spec: str, unreadable: list[str] | None) -> Iterator[str]:
    if is_uri(spec):
        yield from _expand_uri(spec)
        return
    if spec.startswith("@"):
        yield from _list_file(Path(spec[1:]))
        return
    if os.path.isdir(spec):
        yield from _walk(spec, unreadable)
        return
    if os.path.isfile(spec):
        if spec.lower().endswith(LIST_SUFFIXES):
            yield from _list_file(Path(spec))
        else:
            yield spec
        return
    if glob.has_magic(spec):
        matched = False
        for hit, is_dir in _glob(spec, unreadable):
            matched = True
            if is_dir:
                yield from _walk(hit, unreadable)
            elif _is_image(hit):
                yield hit
        if not matched:
            raise SourceError(f"the pattern {spec} matches nothing")
        return
    raise SourceError(f"{spec}: no such file or folder")


def check_sources(specs: Sequence[str]) -> None:
    """Fail early, before any worker starts, on a SOURCE that names nothing."""
    for spec in specs:
        if is_uri(spec):
            _check_uri(spec)
        elif spec.startswith("@"):
            if not Path(spec[1:]).is_file():
                raise SourceError(f"the list of paths {spec[1:]} does not exist")
        elif not os.path.exists(spec) and not (glob.has_magic(spec) and next(_glob(spec, None), None)):
            raise SourceError(f"{spec}: no such file or folder" if not glob.has_magic(spec)
                              else f"the pattern {spec} matches nothing")


def _check_uri(spec: str) -> None:
    """A bad URI, missing credentials or a missing prefix fail here, without listing anything."""
    from pyarrow import fs

    try:
        missing = filesystem_of(spec).get_file_info(uri_path(spec)).type == fs.FileType.NotFound
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors for URIs and credentials
        raise SourceError(f"{spec}: {exc}") from None
    if missing:
        raise SourceError(f"{spec}: no such file or folder")


def iter_paths(specs: Sequence[str], unreadable: list[str] | None = None) -> Iterator[str]:
    """Every image path the SOURCEs name, absolute and normalised, each path once (the first time;
    one file reached through two different paths, a link say, is two images).  Memory: a 64-bit key
    per path.  Folders that cannot be read go to ``unreadable``."""
    from hamacho_core.batch.results import path_key

    seen: set[int] = set()
    for spec in specs:
        for path in _expand(str(spec), unreadable):
            path = path if is_uri(path) else os.path.abspath(path)
            key = path_key(path)
            if key not in seen:
                seen.add(key)
                yield path
