"""What this PC offers: how many threads the runtimes use, and how much memory a fit can still take."""

from __future__ import annotations

import os


def available_memory_mb() -> float | None:
    """Memory this PC can still give: Linux ``MemAvailable``, Windows ``GlobalMemoryStatusEx``, else the
    free pages ``sysconf`` reports; None where unknown."""
    import sys

    if sys.platform == "win32":
        import ctypes

        class _Status(ctypes.Structure):
            _fields_ = [("length", ctypes.c_ulong), ("load", ctypes.c_ulong), ("total", ctypes.c_ulonglong),
                        ("available", ctypes.c_ulonglong), ("page_total", ctypes.c_ulonglong),
                        ("page_available", ctypes.c_ulonglong), ("virtual_total", ctypes.c_ulonglong),
                        ("virtual_available", ctypes.c_ulonglong), ("extended", ctypes.c_ulonglong)]

        status = _Status(length=ctypes.sizeof(_Status))
        ok = ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status))
        return status.available / 2**20 if ok else None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (AttributeError, ValueError, OSError):
        return None


def default_threads() -> int:
    """``HAMACHO_THREADS`` when set, else the CPU count capped at 4."""
    env = os.environ.get("HAMACHO_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"HAMACHO_THREADS must be a whole number of threads, got {env!r}") from None
        if value < 1:
            raise ValueError("HAMACHO_THREADS must be at least 1")
        return value
    return max(1, min(4, os.cpu_count() or 1))
