"""The core library must never import Qt or the GUI (it runs headless on stations and in the CLI)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hamacho_core

CORE = Path(hamacho_core.__file__).parent
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "hamacho_gui", "qtpy")


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_sources_import_no_qt():
    offenders = {str(p.relative_to(CORE)): sorted(_imported_modules(p) & set(FORBIDDEN))
                 for p in CORE.rglob("*.py")}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"hamacho_core imports GUI modules: {offenders}"


def test_importing_the_whole_core_loads_no_qt():
    code = ("import sys, pkgutil, importlib, hamacho_core\n"
            "for m in pkgutil.walk_packages(hamacho_core.__path__, 'hamacho_core.'): importlib.import_module(m.name)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_the_readme_test_command_and_its_deps_script_is_complete():
    """.ci/run runs exactly the README's test command, which starts with .ci/test-deps; the script checks
    the packages .ci/run used to install by hand, and installs nothing when they are all there."""
    root = CORE.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split("**Run the tests**", 1)[1].split("```bash", 1)[1].split("```", 1)[0].strip()
    assert block.startswith("sh .ci/test-deps && python3 -m venv .venv")
    assert block in (root / ".ci" / "run").read_text(encoding="utf-8")
    script = (root / ".ci" / "test-deps").read_text(encoding="utf-8")
    for package in ("libcairo2-dev", "libgirepository1.0-dev", "pkg-config", "mosquitto", "aravis-tools",
                    "gir1.2-aravis-0.8", "libxcb-cursor0"):
        assert package in script
    done = subprocess.run(["sh", str(root / ".ci" / "test-deps")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr  # on a machine that runs the suite, everything is there
