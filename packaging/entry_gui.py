"""PyInstaller entry point of the windowed ``hamacho-gui`` executable."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from hamacho_gui.app import main  # noqa: TID251 - the GUI entry point (packaging is not hamacho_core)

    sys.exit(main())
