"""The layers, enforced: imports (function-level ones included) point one way, down the layers; there is
no import cycle; nothing outside ``models`` names a model kind; ``line`` imports nothing else of the core;
one module compares scores with thresholds.  The table is the one the README's "How it is built" shows."""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

import pytest

ROOT = pathlib.Path(__file__).parents[2]
PACKAGES = ("hamacho_core", "hamacho_gui")

#: (layer, modules or packages in it), top first.  A module may import its own layer (without a cycle)
#: and every layer below, never one above.
LAYERS = (
    ("interfaces", ("hamacho_gui", "hamacho_core.cli")),
    ("use cases", ("hamacho_core.jobs", "hamacho_core.review", "hamacho_core.session", "hamacho_core.live",
                   "hamacho_core.batch", "hamacho_core.export", "hamacho_core.library", "hamacho_core.demo",
                   "hamacho_core.autoconfig")),
    ("model files", ("hamacho_core.model_io",)),
    ("models", ("hamacho_core.models",)),
    ("embedding", ("hamacho_core.backbones", "hamacho_core.graphs", "hamacho_core.runtime",
                   "hamacho_core.torch_backend", "hamacho_core.efficientnet_lite", "hamacho_core.features")),
    ("primitives", ("hamacho_core.judging", "hamacho_core.outputs", "hamacho_core.thresholds",
                    "hamacho_core.preprocess", "hamacho_core.tiling", "hamacho_core.geometry", "hamacho_core.coreset",
                    "hamacho_core.nn_index", "hamacho_core.metrics", "hamacho_core.fileio", "hamacho_core.imageio",
                    "hamacho_core.dataset", "hamacho_core.config", "hamacho_core.progress", "hamacho_core.paths",
                    "hamacho_core.machine", "hamacho_core.visualize", "hamacho_core.synthetic",
                    "hamacho_core.synthetic_hires", "hamacho_core.defects", "hamacho_core.line", "hamacho_core")),
)


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """The project modules ``module`` imports anywhere in its source (top level, functions, TYPE_CHECKING)."""
    path = MODULES[module]
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(filter(None, (_resolve(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:  # "from package import submodule" imports the submodule
                full = f"{target}.{alias.name}"
                resolved = _resolve(full) if full in MODULES else _resolve(target)
                if resolved:
                    out.add(resolved)
    out.discard(module)
    return out


GRAPH = {module: _imports(module) for module in MODULES}


def layer_of(module: str) -> int:
    """The layer's index (0 = top); the longest matching prefix decides."""
    best, best_len = None, -1
    for index, (_name, members) in enumerate(LAYERS):
        for member in members:
            if (module == member or module.startswith(member + ".")) and len(member) > best_len:
                best, best_len = index, len(member)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS (and the README's table)")
    return best


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_no_import_points_up():
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in GRAPH.items() for b in targets if layer_of(b) < layer_of(a)]
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert _cycles() == []


def test_the_checker_sees_cycles_and_upward_imports(monkeypatch):
    """The two checks fail when they should (a cycle and an upward import put in by hand)."""
    graph = {module: set(targets) for module, targets in GRAPH.items()}
    graph["hamacho_core.thresholds"].add("hamacho_core.judging")  # judging imports thresholds: a circle
    graph["hamacho_core.geometry"].add("hamacho_core.models.registry")  # a primitive importing the registry
    monkeypatch.setattr(__import__(__name__), "GRAPH", graph, raising=False)
    globals()["GRAPH"], saved = graph, GRAPH
    try:
        assert ["hamacho_core.judging", "hamacho_core.thresholds"] in _cycles()
        with pytest.raises(AssertionError, match="geometry .primitives. imports hamacho_core.models.registry"):
            test_no_import_points_up()
    finally:
        globals()["GRAPH"] = saved


def _kind_names() -> set[str]:
    from hamacho_core.models import REGISTRY

    return set(REGISTRY)


def test_nothing_outside_models_names_a_model_kind():
    """No string literal equal to a kind's name ("patchcore", "padim") outside ``models/`` (below it, and
    above it too: the use cases, the CLI and the GUI go through the registry): a new kind is its folder plus
    one registry entry, with no ``if kind == ...`` elsewhere."""
    below = [m for m in MODULES if not m.startswith("hamacho_core.models")]
    kinds = _kind_names()
    named = defaultdict(list)
    for module in below:
        for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in kinds:
                named[module].append(f"line {node.lineno}: {node.value!r}")
    assert not named, dict(named)


def test_line_outputs_import_nothing_else_of_the_core():
    line = [m for m in MODULES if m.startswith("hamacho_core.line")]
    assert line
    outside = {m: sorted(t for t in GRAPH[m] if not t.startswith("hamacho_core.line")) for m in line}
    assert not any(outside.values()), outside


def test_the_core_never_imports_qt_or_the_gui():
    for module, path in MODULES.items():
        if not module.startswith("hamacho_core"):
            continue
        assert not any(t.startswith("hamacho_gui") for t in GRAPH[module]), module
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] in ("PySide6", "PyQt5", "PyQt6", "shiboken6") for n in names), module


def test_one_place_compares_scores_with_thresholds():
    """Only ``judging`` compares a score or a map with a threshold (``>= ...threshold``, ``>= ...image``...):
    every other module asks a Judge."""
    suspicious = []
    names = ("threshold", "image_scale", "pixel_scale", "review", "self._image", "self._pixel")
    allowed = {"hamacho_core.judging",  # the Judge
               "hamacho_core.thresholds",  # ScoreScale.normalize: piecewise-linear below/above, not a verdict
               "hamacho_core.coreset"}  # greedy k-center's distance bounds, not scores
    for module, path in MODULES.items():
        if module in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, ast.GtE | ast.Lt) for op in node.ops):
                continue
            text = ast.unparse(node)
            right = ast.unparse(node.comparators[-1])
            if any(n in right for n in names) and "len(" not in text:
                suspicious.append(f"{module}: {text}")
    assert not suspicious, suspicious
