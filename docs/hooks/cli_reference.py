"""MkDocs hook: the CLI reference page is generated from the program's own argparse parsers, so it cannot
drift from what ``hamacho --help`` says."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subparsers here; there is no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def reference() -> str:
    from hamacho_core.cli.main import build_parser

    os.environ["COLUMNS"] = "90"  # argparse wraps help to the terminal's width: a fixed width for the page
    parser = build_parser()
    parts = ["```text", parser.format_help().rstrip(), "```", ""]
    for name, sub in _subcommands(parser).items():
        parts += [f"## `hamacho {name}`", "", "```text", sub.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


def on_page_markdown(markdown: str, **_kwargs) -> str:
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown
