#!/usr/bin/env python3
"""Measure how fast ``hamacho-gui`` shows something and becomes usable (run under an X server).

    xvfb-run -a -s "-screen 0 1600x1000x24" python3 packaging/measure_startup.py build/linux/dist/hamacho/hamacho-gui
    xvfb-run -a python3 packaging/measure_startup.py .venv/bin/hamacho-gui --runs 5 --screenshots /tmp/shots

Each run starts the app with a fresh ``HAMACHO_HOME`` (no settings, no models) and polls the X server
with ``xdotool`` (package ``xdotool``) from the moment the process is started:

* **visible**: the first mapped window of the process (the splash screen);
* **window**: the main window (title ``Hamacho <version>``) is mapped;
* **usable**: the app's own log line ``startup: ... usable X s after launch`` (written on the first turn of
  the event loop after the main window was shown, i.e. when it takes input), counted from process start.

Prints one line per run and the median; ``--json FILE`` writes them.  ``--screenshots DIR`` saves
``splash.png`` and ``window.png`` of the last run (ImageMagick's ``import``; this slows that run a little).
Standard library only, so it runs with any Python 3 (no venv needed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLL_S = 0.02
USABLE = re.compile(r"startup: splash ([\d.]+) s, imports done ([\d.]+) s, window shown ([\d.]+) s, "
                    r"usable ([\d.]+) s after launch")


def _hold_display() -> object | None:
    """Keep one X connection open for the whole measurement.

    Xvfb resets itself whenever its last client disconnects; with only short-lived ``xdotool`` calls
    the app's own connection can land in such a reset ("could not connect to display").
    """
    import ctypes
    import ctypes.util

    try:
        xlib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
        xlib.XOpenDisplay.restype = ctypes.c_void_p
        return xlib.XOpenDisplay(None) or None
    except OSError:
        return None


def _windows(pid: int, name: str | None = None) -> list[str]:
    cmd = ["xdotool", "search", "--all", "--onlyvisible", "--pid", str(pid)]
    if name:
        cmd += ["--name", name]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.stdout.split()


def _screenshot(path: Path) -> None:
    if shutil.which("import"):
        subprocess.run(["import", "-window", "root", str(path)], capture_output=True)


def measure(app: list[str], timeout: float, shots: Path | None) -> dict:
    home = Path(tempfile.mkdtemp(prefix="hamacho-startup-"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HAMACHO_HOME"] = str(home)
    env["QT_QPA_PLATFORM"] = "xcb"  # an X window is measured (CI exports offscreen for its tests)
    t0 = time.monotonic()
    proc = subprocess.Popen(app, cwd=tempfile.gettempdir(), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    result: dict = {"visible_s": None, "window_s": None, "usable_s": None}
    log_file = home / "logs" / "hamacho-gui.log"
    try:
        while time.monotonic() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{app[0]} exited with status {proc.returncode}: {proc.stderr.read()[-2000:]}")
            now = time.monotonic() - t0
            if result["visible_s"] is None and _windows(proc.pid):
                result["visible_s"] = round(now, 3)
                if shots:
                    _screenshot(shots / "splash.png")
            if result["window_s"] is None and _windows(proc.pid, r"^Hamacho [0-9]"):
                result["window_s"] = round(now, 3)
                result["visible_s"] = result["visible_s"] or result["window_s"]
            if result["window_s"] is not None and log_file.is_file():
                match = USABLE.search(log_file.read_text(encoding="utf-8", errors="replace"))
                if match:
                    result["app_splash_s"], result["app_imports_s"], result["app_window_s"], result["usable_s"] = (
                        float(g) for g in match.groups())
                    break
            time.sleep(POLL_S)
        else:
            raise RuntimeError(f"not usable after {timeout:g} s: {result}")
        if shots:
            time.sleep(1.0)  # let the main window finish painting
            _screenshot(shots / "window.png")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(home, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", nargs="+", help="the hamacho-gui executable (and arguments)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--screenshots", type=Path, default=None, metavar="DIR")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    args = parser.parse_args()
    if os.sep in args.app[0]:  # the app runs from the temp folder: make a relative path absolute
        args.app[0] = str(Path(args.app[0]).absolute())
    if not os.environ.get("DISPLAY"):
        parser.error("no X display: run under xvfb-run")
    if not shutil.which("xdotool"):
        parser.error("xdotool is not installed (apt-get install xdotool)")
    display = _hold_display()  # noqa: F841 - kept open until the process ends
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)
    runs = []
    for i in range(args.runs):
        last = i == args.runs - 1
        r = measure(args.app, args.timeout, args.screenshots if last else None)
        runs.append(r)
        print(f"run {i + 1}: splash visible {r['visible_s']:.2f} s, main window {r['window_s']:.2f} s, "
              f"usable {r['usable_s']:.2f} s (app log: splash {r['app_splash_s']:.2f} s, "
              f"imports {r['app_imports_s']:.2f} s)", flush=True)
    summary = {k: round(statistics.median(r[k] for r in runs), 3) for k in ("visible_s", "window_s", "usable_s")}
    print(f"median of {len(runs)}: splash visible {summary['visible_s']:.2f} s, main window "
          f"{summary['window_s']:.2f} s, usable {summary['usable_s']:.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"app": args.app, "runs": runs, "median": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
