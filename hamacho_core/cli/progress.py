"""What the CLI shows of long work: progress bars on a terminal, one plain line per stage in a log file or a
pipe (a station script, CI, cron), nothing with ``--quiet``."""

from __future__ import annotations

import sys
import time

#: In a log, a stage that runs longer than this says how far it is every HEARTBEAT_S seconds.
HEARTBEAT_S = 30.0


class TqdmProgress:
    """A ``progress(stage, done, total)`` callback drawing one tqdm bar per stage (on a terminal)."""

    def __init__(self) -> None:
        self._bar = None
        self._stage = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage != self._stage or self._bar is None:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=total, desc=f"{stage:>12}", leave=True, dynamic_ncols=True)
        self._bar.n = done
        self._bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None


class LineProgress:
    """One line per stage when it ends (``features: 24/24 images in 3.1 s, 7.7/s``), plus one every
    :data:`HEARTBEAT_S` seconds while a long stage runs: readable in a log file."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._stage: str | None = None
        self._started = self._said = 0.0
        self._done = self._total = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage != self._stage:
            self.close()
            self._stage, self._started, self._said = stage, now, now
        self._done, self._total = int(done), int(total)
        if total and done >= total:
            self.close()
        elif now - self._said >= HEARTBEAT_S:
            self._said = now
            self._line("...")

    def _line(self, end: str = "") -> None:
        elapsed = time.monotonic() - self._started
        rate = f", {self._done / elapsed:.1f}/s" if elapsed > 0 and self._done else ""
        print(f"{self._stage}: {self._done}/{self._total} in {elapsed:.1f} s{rate}{end}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._stage is not None:
            self._line()
            self._stage = None


class NoProgress:
    def __call__(self, stage: str, done: int, total: int) -> None:
        pass

    def close(self) -> None:
        pass


def make_progress(quiet: bool = False):
    """Bars on a terminal, lines otherwise, nothing when ``quiet``."""
    if quiet:
        return NoProgress()
    return TqdmProgress() if sys.stderr.isatty() else LineProgress()
