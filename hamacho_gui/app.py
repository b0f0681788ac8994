"""``hamacho-gui``: start the desktop application."""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
from pathlib import Path

from hamacho_core import __version__
from hamacho_core.paths import user_data_dir


def _setup_logging() -> Path:
    log_dir = user_data_dir() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "hamacho-gui.log"
    logging.basicConfig(filename=log_file, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return log_file


def _install_excepthook(window_getter) -> None:
    """Unexpected errors are logged and shown in the window instead of killing the app."""
    def hook(exc_type, exc, tb):
        logging.getLogger("hamacho").error("unhandled error", exc_info=(exc_type, exc, tb))
        window = window_getter()
        if window is not None:
            window.show_error(f"Unexpected error: {exc}")
    sys.excepthook = hook


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
    _setup_logging()
    from PySide6.QtWidgets import QApplication

    from hamacho_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Hamacho")
    app.setApplicationVersion(__version__)
    window = MainWindow()
    _install_excepthook(lambda: window)
    window.show()
    if args.dataset:
        window.open_dataset(args.dataset)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
