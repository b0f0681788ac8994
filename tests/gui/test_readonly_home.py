"""Issue 26: with HAMACHO_HOME on a read-only disk the GUI died at launch with a traceback and no window."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.tmpfs import mounted_tmpfs

QUIT_AFTER = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(sys.argv[:1])
state = {}
def look():
    from hamacho_gui.main_window import MainWindow
    windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    state["window"] = bool(windows)
    state["warning"] = windows[0].startup_warning.text() if windows and hasattr(windows[0], "startup_warning") else ""
    print("WINDOW", state["window"], "WARNING", state["warning"].replace(chr(10), " "), flush=True)
    app.quit()
QTimer.singleShot(4000, look)
from hamacho_gui.app import main
sys.exit(main([]))
"""


def test_a_read_only_data_folder_starts_the_window_and_says_so(tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "1m", read_only=True) as home:
        env = {**os.environ, "HAMACHO_HOME": str(home / "hamacho"), "QT_QPA_PLATFORM": "offscreen"}
        done = subprocess.run([sys.executable, "-c", QUIT_AFTER], capture_output=True, text=True, timeout=120,
                              env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "WINDOW True" in done.stdout and "cannot be written" in done.stdout, done.stdout + done.stderr
