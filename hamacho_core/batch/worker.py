"""The judge every batch worker runs: a model loaded once from the model file's bytes, then chunks of
paths judged one image at a time exactly as ``hamacho inspect`` judges them (the same checks, decoder
and model call), with the time split into reading, decoding and the model."""

from __future__ import annotations

import hashlib
import os
import socket
import stat as statmod
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ChunkJudge:
    """Loads the model from ``model_bytes`` (checksums verified, as any model file) once; ``judge``
    takes a chunk of paths.  ``evidence_dir``: overlay/map/mask PNGs of NG and REVIEW images there."""

    def __init__(self, model_bytes: bytes, model_sha256: str, *, evidence_dir: str | None = None,
                 threads: int | None = 1):
        from hamacho_core.model_io import load_model, manifest_sha256, read_manifest

        with tempfile.TemporaryDirectory(prefix="hamacho-batch-") as tmp:
            path = Path(tmp) / "model.hmc"
            path.write_bytes(model_bytes)
            if manifest_sha256(read_manifest(path)) != model_sha256:
                raise ValueError("the model received by this worker is not the driver's (checksum differs)")
            self.model = load_model(path, threads=threads)
        self.model_sha256 = model_sha256
        self.evidence_dir = evidence_dir
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._filesystems: dict[str, object] = {}

    def judge(self, paths: list[str]) -> list[dict]:
        """One row per path (see ``results.COLUMNS``); a bad file is a row with ``error``, never a raise."""
        return [self._one(path) for path in paths]

    def _one(self, path: str) -> dict:
        from hamacho_core.dataset import checked_bytes

        model = self.model
        started = time.perf_counter()
        row = {"path": path, "worker": self.worker, "model_sha256": self.model_sha256}
        try:
            data = self._read(path, row)
        except OSError as exc:
            return self._failed(row, f"cannot read file ({exc.strerror or exc})", started)
        read = time.perf_counter()
        image, reason = checked_bytes(data)
        decoded = time.perf_counter()
        row["read_ms"], row["decode_ms"] = (read - started) * 1000, (decoded - read) * 1000
        if reason:
            return self._failed(row, reason, started)
        try:
            scores, maps = model.raw_predict([image])
        except (ValueError, OSError) as exc:
            return self._failed(row, str(exc), started)
        score = float(scores[0])
        judge = model.judge
        verdict = judge.verdict(score)
        row.update(raw_score=score, normalized_score=float(judge.normalize(score)), verdict=verdict,
                   model_ms=(time.perf_counter() - decoded) * 1000)
        if self.evidence_dir and verdict != "OK":
            row["evidence"] = self._save_evidence(path, image, maps[0], judge)
        row["seconds"] = time.perf_counter() - started
        row["judged_at"] = _utc_now()
        return row

    def _read(self, path: str, row: dict) -> bytes:
        """The file's bytes (size and mtime into ``row``): a local path, or a URI through pyarrow."""
        from hamacho_core.batch.sources import is_uri
        from hamacho_core.dataset import MAX_FILE_BYTES

        if not is_uri(path):
            # Only regular files, read without blocking and never past the size cap: a FIFO named x.png
            # would block the worker for ever, a link to /dev/zero would read until memory runs out.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
            with os.fdopen(fd, "rb") as handle:
                stat = os.fstat(handle.fileno())
                if not statmod.S_ISREG(stat.st_mode):
                    raise OSError("not a regular file (a pipe, device or socket): not read")
                row["size"], row["mtime"] = stat.st_size, stat.st_mtime
                if stat.st_size > MAX_FILE_BYTES:
                    raise OSError(f"file too large ({stat.st_size / 1e9:.1f} GB)")
                data = handle.read(MAX_FILE_BYTES + 1)
                if len(data) > MAX_FILE_BYTES:
                    raise OSError(f"file too large (more than {MAX_FILE_BYTES / 1e9:.1f} GB read)")
                return data
        from pyarrow import fs

        try:
            filesystem, where = self._filesystem(path)
            info = filesystem.get_file_info(where)
            if info.type != fs.FileType.File:
                raise FileNotFoundError(f"{path}: not found")
            row["size"] = info.size
            row["mtime"] = info.mtime.timestamp() if info.mtime is not None else None
            if info.size > MAX_FILE_BYTES:
                raise OSError(f"file too large ({info.size / 1e9:.1f} GB)")
            with filesystem.open_input_stream(where) as stream:
                return stream.read()
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors for credentials, networks
            raise OSError(str(exc)) from None

    def _filesystem(self, uri: str):
        """(pyarrow file system, path in it); one file system per bucket or host, not one per image."""
        from hamacho_core.batch.sources import filesystem_of, uri_path

        scheme, rest = uri.split("://", 1)
        key = f"{scheme}://{rest.split('/', 1)[0]}"
        if key not in self._filesystems:
            self._filesystems[key] = filesystem_of(uri)
        return self._filesystems[key], uri_path(uri)

    def _failed(self, row: dict, reason: str, started: float) -> dict:
        row.update(error=reason, seconds=time.perf_counter() - started, judged_at=_utc_now())
        return row

    def _save_evidence(self, path: str, image, raw_map, judge) -> str | None:
        from hamacho_core.outputs import save_result_images, short_stem

        digest = hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        folder = Path(self.evidence_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            outputs = save_result_images(self.model, image, raw_map, folder, f"{short_stem(Path(path).stem, 80)}_"
                                                                              f"{digest}", judge=judge)
        except OSError as exc:  # a full disk: the verdict stands, the evidence is missing and says why
            return f"not written: {exc}"
        return str(outputs["overlay"])
