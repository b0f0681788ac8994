"""Help > About shows the version and where logs, settings and models are kept."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from hamacho_core import __version__
from hamacho_gui.about import AboutDialog
from hamacho_gui.main_window import MainWindow


def test_help_about_from_the_menu(qtbot, isolated_user_dirs):
    window = MainWindow()
    qtbot.addWidget(window)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    next(a for a in help_menu.actions() if a.text() == "&About Hamacho").trigger()
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, AboutDialog) and w.isVisible())
    assert __version__ in dialog.label.text()
    assert dialog.info["User data folder"] == str(isolated_user_dirs)
    assert dialog.info["Logs"].endswith("logs") and dialog.info["Runtime"].startswith("ONNX Runtime 1.")
    dialog.copy_details()
    assert f"hamacho {__version__}".lower() in QApplication.clipboard().text().lower()
    dialog.close()
    window.close()
