"""The documentation site builds with warnings as errors, its CLI reference comes from the real parsers, and the
README's links into it resolve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import hamacho_core

ROOT = Path(hamacho_core.__file__).resolve().parents[1]


def test_docs_site_builds_strict_with_a_generated_cli_reference(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr
    for page in ("getting-started", "technician", "integrator", "cli", "cluster", "benchmarks", "design"):
        assert (site / page / "index.html").is_file(), page
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    for text in ("hamacho fit", "hamacho batch", "hamacho live", "--max-ms", "--auto", "--quiet"):
        assert text in cli, text
    assert "<!-- cli-reference" not in cli and "&lt;!-- cli-reference" not in cli, "the marker was replaced"
    assert (site / "images" / "main_window.png").is_file()


def test_readme_is_a_landing_page_whose_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme) < 8000, "the README is a landing page; the guides live in docs/"
    links = re.findall(r"\]\(([^)#]+)\)", readme)
    local = [link for link in links if not link.startswith("http")]
    assert any(link.startswith("docs/") for link in local)
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing
