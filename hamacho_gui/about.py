"""Help > About: versions and where Hamacho keeps its files (what a technician reads out on the phone)."""

from __future__ import annotations

import platform
import sys
from html import escape
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout

from hamacho_core import __version__
from hamacho_core.paths import user_data_dir

APP_NAME = "Hamacho"


def _runtime_versions() -> str:
    """ONNX Runtime's version, and torch's only if the add-on is installed (read from its metadata:
    importing torch would take seconds)."""
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    ort = version("onnxruntime") or "missing"
    torch = version("torch")
    return f"ONNX Runtime {ort}; PyTorch add-on: {torch or 'not installed (not needed)'}"


def about_info() -> dict[str, str]:
    """Everything the dialog shows, as plain strings (also handy for support logs and tests)."""
    from hamacho_gui.settings import settings_path

    data = user_data_dir()
    return {
        "Application": f"{APP_NAME} {__version__}",
        "Python": platform.python_version(),
        "Runtime": _runtime_versions(),
        "Qt": f"{qVersion()} (PySide6 {pyside_version})",
        "System": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Installed in": str(Path(sys.executable).resolve().parent) if getattr(sys, "frozen", False)
        else str(Path(__file__).resolve().parent.parent),
        "User data folder": str(data),
        "Logs": str(data / "logs"),
        "Settings": str(settings_path()),
    }


def about_text(info: dict[str, str] | None = None) -> str:
    info = info or about_info()
    return "\n".join(f"{k}: {v}" for k, v in info.items())


class AboutDialog(QDialog):
    """Versions and folders, selectable; buttons to copy them and to open the data folder."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.info = about_info()
        rows = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>" for k, v in self.info.items())
        label = QLabel(f"<h3>{APP_NAME} {escape(__version__)}</h3>"
                       "<p>Visual anomaly detection for industrial inspection.</p>"
                       f"<table cellspacing='4'>{rows}</table>")
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label = label
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy details")
        copy.clicked.connect(self.copy_details)
        open_folder = QPushButton("Open data folder")
        open_folder.clicked.connect(self.open_data_folder)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(open_folder, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(buttons)

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(about_text(self.info))

    def open_data_folder(self) -> None:
        folder = Path(self.info["User data folder"])
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def show_about(parent=None) -> AboutDialog:
    """Open the dialog (non-modal, deleted when closed) and return it."""
    dialog = AboutDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
