"""The ``hamacho`` command line: the entry point and the commands (``main``), the options several commands
share (``options``), ``live`` and ``cameras`` (``live``), ``batch`` (``batch``).  Each command imports what
it runs when it runs, so ``hamacho --help`` stays light."""

from hamacho_core.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
