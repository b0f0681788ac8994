"""PyInstaller entry point of the Linux build: one executable, two names.

``hamacho`` is the executable; ``hamacho-gui`` is a symlink to it (Linux has no windowed/console distinction,
and two executables would each carry their own copy of the 19 MB Python archive).  The name the program was
started by selects the entry point.
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    if os.path.basename(sys.argv[0]).startswith("hamacho-gui"):
        from hamacho_gui.app import main  # noqa: TID251 - the GUI entry point (packaging is not hamacho_core)
    else:
        from hamacho_core.cli import main
    sys.exit(main())
