"""PyInstaller entry point of the console ``hamacho`` executable."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from hamacho_core.cli import main

    sys.exit(main())
