"""``hamacho-gui``: start the desktop application.

Start-up order matters for how fast the technician sees something: Qt's widgets module and the
QApplication come first, a splash screen is painted, and only then are the main window and the heavy
libraries behind it (ONNX Runtime, OpenCV, faiss, scikit-learn, pyqtgraph) imported.  Nothing in this
module imports them at import time; a test checks it.  The log (``<user data>/logs/hamacho-gui.log``)
records how long each step took after the process started (``startup:`` lines).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path

from hamacho_core import __version__
from hamacho_core.paths import user_data_dir

ICON_NAME = "hamacho.png"
_T_IMPORT = time.monotonic()


def _process_age_at_import() -> float:
    """Seconds between the start of this process and the import of this module (0.0 where unknown).

    Linux: from ``/proc`` (10 ms resolution), so the Python/bootloader start-up is counted too.
    """
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of proc(5); fields[0] is field 3
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


_AGE_AT_IMPORT = _process_age_at_import()


def seconds_since_launch() -> float:
    """Seconds since this process started (see :func:`_process_age_at_import`)."""
    return _AGE_AT_IMPORT + (time.monotonic() - _T_IMPORT)


def icon_path() -> Path | None:
    """``resources/hamacho.png``: next to the frozen app, in the source tree, or installed by the .deb."""
    candidates = []
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:  # PyInstaller: the spec puts resources/ into _internal/
        candidates.append(Path(frozen_root) / "resources" / ICON_NAME)
    here = Path(__file__).resolve().parent
    candidates += [
        here / "resources" / ICON_NAME,  # packaged next to the module
        here.parent / "resources" / ICON_NAME,  # source tree / editable install
        Path(sys.prefix) / "share" / "hamacho" / ICON_NAME,
        Path("/usr/share/icons/hicolor/256x256/apps") / ICON_NAME,  # the .deb's copy
    ]
    return next((p for p in candidates if p.is_file()), None)


def _setup_logging() -> str | None:
    """The log file in the user data folder; where that cannot be written (a read-only disk), the log goes to
    standard error and the reason is returned, for the window to say."""
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    problem = None
    try:
        log_dir = user_data_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        logging.basicConfig(filename=log_dir / "hamacho-gui.log", level=logging.INFO, format=log_format)
    except OSError as exc:
        problem = (f"Hamacho's data folder {user_data_dir()} cannot be written ({exc.strerror or exc}): the log, "
                   f"settings and models saved to the library are not kept. Hamacho runs without writing there; "
                   f"set HAMACHO_HOME to a writable folder to keep them.")
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=log_format)
        logging.getLogger("hamacho").warning(problem)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader's INFO lines read like errors
    return problem


def _install_excepthook(window_getter) -> None:
    """Unexpected errors are logged and shown in the window instead of killing the app."""
    def hook(exc_type, exc, tb):
        logging.getLogger("hamacho").error("unhandled error", exc_info=(exc_type, exc, tb))
        window = window_getter()
        if window is not None:
            window.show_error(f"Unexpected error: {exc}")
    sys.excepthook = hook


def _splash_pixmap(icon_file: Path | None):
    """The splash picture: the app icon and the name/version on the icon's blue (drawn, so no extra file)."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QFont, QPainter, QPixmap

    pixmap = QPixmap(440, 200)
    pixmap.fill(QColor("#1d4f91"))
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        text_left = 32
        if icon_file is not None:
            icon = QPixmap(str(icon_file))
            if not icon.isNull():
                painter.drawPixmap(QRect(28, 36, 128, 128), icon)
                text_left = 180
        painter.setPen(QColor("white"))
        font = QFont()
        font.setPixelSize(34)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(QRect(text_left, 52, 440 - text_left - 16, 46),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "Hamacho")
        font.setPixelSize(15)
        font.setBold(False)
        painter.setFont(font)
        painter.drawText(QRect(text_left, 100, 440 - text_left - 16, 48),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                         f"Visual inspection\nversion {__version__}")
    finally:
        painter.end()
    return pixmap


def _show_splash(app, icon_file: Path | None):
    """Show and paint the splash screen now (before the slow imports); None when it cannot be shown."""
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QSplashScreen, QWidget

    class Splash(QSplashScreen):
        def event(self, e):
            # Qt's QSplashScreen waits on Show until the window manager reports it mapped, which on X11 and
            # Wayland only happens once the event loop runs: it always sat out its full 1 s timeout here
            # (measured; FreeCAD bypasses it the same way).  The paint below makes it visible instead.
            if e.type() == QEvent.Type.Show:
                return QWidget.event(self, e)
            return super().event(e)

    try:
        splash = Splash(_splash_pixmap(icon_file), Qt.WindowType.WindowStaysOnTopHint)
        splash.setObjectName("hamacho-splash")
        splash.show()
        splash.showMessage("Loading...", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight,
                           QColor("#dfe8f5"))
        # Map and paint it before the imports below block the event loop for a second or two.
        for _ in range(3):
            app.processEvents()
        return splash
    except Exception:  # noqa: BLE001 - a splash is a nicety; never fail the start because of it
        logging.getLogger("hamacho").warning("splash screen not shown", exc_info=True)
        return None


def _fatal_start_error(app, splash, exc: BaseException) -> int:
    """The main window could not be built: log it and tell the user in a dialog (no console on Windows)."""
    logging.getLogger("hamacho").error("start-up failed", exc_info=exc)
    if splash is not None:
        splash.close()
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.critical(None, "Hamacho", f"Hamacho could not start:\n\n{type(exc).__name__}: {exc}\n\n"
                         f"Details are in {user_data_dir() / 'logs' / 'hamacho-gui.log'}.")
    return 1


def _warn(window, text: str) -> None:
    """A non-blocking warning over the window (the app goes on)."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.Warning, "Hamacho", text, QMessageBox.StandardButton.Ok, window)
    box.setModal(False)
    box.show()
    window.startup_warning = box


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    parser = argparse.ArgumentParser(prog="hamacho-gui", description="Hamacho desktop application")
    parser.add_argument("--version", action="version", version=f"hamacho {__version__}")
    parser.add_argument("--self-test", action="store_true",
                        help="train and export the demo dataset in a temporary folder, then exit "
                             "(status 0 = the installation works)")
    parser.add_argument("--self-test-timeout", type=float, default=None, metavar="SECONDS",
                        help="give up the self-test after this many seconds (default 300)")
    parser.add_argument("dataset", nargs="?", type=Path, help="dataset folder to open at start")
    args = parser.parse_args(argv)
    if args.self_test:
        # Before any logging setup: the self-test runs under a temporary HAMACHO_HOME and must not
        # write to the user's log folder.
        from hamacho_gui.selftest import DEFAULT_TIMEOUT_S, run_self_test

        timeout = args.self_test_timeout if args.self_test_timeout is not None else DEFAULT_TIMEOUT_S
        return run_self_test(timeout)
    start_problem = _setup_logging()
    log = logging.getLogger("hamacho.startup")
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Hamacho")
    app.setApplicationVersion(__version__)
    icon_file = icon_path()
    if icon_file is not None:
        app.setWindowIcon(QIcon(str(icon_file)))
    splash = _show_splash(app, icon_file)
    t_splash = seconds_since_launch()

    window = None
    _install_excepthook(lambda: window)
    try:
        from hamacho_gui.main_window import MainWindow  # the heavy imports happen here

        t_imported = seconds_since_launch()
        window = MainWindow()
        window.show()
    except Exception as exc:  # noqa: BLE001 - shown to the user instead of a silent exit
        return _fatal_start_error(app, splash, exc)
    if splash is not None:
        splash.finish(window)
    t_window = seconds_since_launch()
    if start_problem:
        _warn(window, start_problem)

    def ready() -> None:  # first turn of the event loop after the window was shown: it takes input now
        log.info("startup: splash %.2f s, imports done %.2f s, window shown %.2f s, usable %.2f s after launch",
                 t_splash, t_imported, t_window, seconds_since_launch())

    from PySide6.QtCore import QTimer

    QTimer.singleShot(0, ready)
    if args.dataset:
        window.open_dataset(args.dataset)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
