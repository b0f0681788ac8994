"""``python -m hamacho_core.cli``: the ``hamacho`` command."""

import sys

from hamacho_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
