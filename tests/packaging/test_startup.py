"""Start-up of ``hamacho-gui``: a splash screen first, the heavy imports after it (runs in the default suite).

The packaged app's own start-up time is measured by ``packaging/measure_startup.py`` (``build_linux.sh`` runs it).
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from hamacho_gui import app as app_module  # noqa: TID251 - tests of the GUI entry point

HEAVY = ("hamacho_gui.main_window", "hamacho_core.models", "onnxruntime", "onnx", "cv2", "faiss", "sklearn",
         "scipy", "pyqtgraph", "matplotlib", "torch", "PySide6.QtWidgets")


def test_importing_the_entry_point_is_light():
    """Nothing slow is imported before the splash screen can be shown."""
    code = ("import sys, hamacho_gui.app; "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported by hamacho_gui.app at import time: {proc.stdout.strip()}"


def test_icon_is_found():
    path = app_module.icon_path()
    assert path is not None and path.is_file() and path.name == "hamacho.png"


def test_icon_is_found_in_a_frozen_layout(tmp_path, monkeypatch):
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "hamacho.png").write_bytes(b"png")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert app_module.icon_path() == tmp_path / "resources" / "hamacho.png"


def test_splash_is_shown_at_once(qapp):
    """Shown and painted when ``_show_splash`` returns (Qt's QSplashScreen waits up to 1 s on show for the
    window manager; ours does not: packaging/measure_startup.py prints the time to the splash)."""
    splash = app_module._show_splash(qapp, app_module.icon_path())
    try:
        assert splash is not None and splash.isVisible()
        assert not splash.pixmap().isNull()
    finally:
        if splash is not None:
            splash.close()


def test_splash_without_icon(qapp):
    splash = app_module._show_splash(qapp, None)
    try:
        assert splash is not None and splash.isVisible()
    finally:
        splash.close()


def test_seconds_since_launch_counts_the_process_start():
    age = app_module.seconds_since_launch()
    assert 0.0 <= age < 24 * 3600
    if sys.platform.startswith("linux"):
        assert age > 0.0  # from /proc: includes the interpreter's start and the imports before this test


@pytest.mark.slow
def test_main_shows_the_window_and_logs_startup(qapp, qtbot, monkeypatch, caplog):
    from PySide6.QtCore import QTimer  # noqa: TID251
    from PySide6.QtWidgets import QSplashScreen  # noqa: TID251

    from hamacho_gui.main_window import MainWindow  # noqa: TID251

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # main() installs its own; restored afterwards
    caplog.set_level(logging.INFO, logger="hamacho.startup")
    seen = {}

    def check_and_quit():
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow)]
        seen["window_visible"] = any(w.isVisible() for w in windows)
        seen["splash_visible"] = any(w.isVisible() for w in qapp.topLevelWidgets() if isinstance(w, QSplashScreen))
        for w in windows:
            w.close()
        qapp.quit()

    QTimer.singleShot(300, check_and_quit)
    assert app_module.main([]) == 0
    assert seen == {"window_visible": True, "splash_visible": False}
    assert any("startup: splash" in r.getMessage() and "usable" in r.getMessage() for r in caplog.records)
