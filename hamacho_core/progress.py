"""Plain progress/cancel callbacks for long core calls (the GUI wraps them in Qt workers)."""

from __future__ import annotations

from collections.abc import Callable

#: ``progress(stage, done, total)``: ``stage`` is a short human-readable name such as "features".
ProgressFn = Callable[[str, int, int], None]
#: ``should_stop()`` returns True when the caller wants the call to end early.
StopFn = Callable[[], bool]


class Cancelled(Exception):
    """Raised by a long call when ``should_stop()`` returned True; nothing was changed."""


def check_stop(should_stop: StopFn | None, what: str) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled(f"{what} cancelled")


def report(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
