"""The package's structure stays as docs/architecture.md draws it.

Read from the source with ``ast`` (nothing is imported): each layer imports only the layers
below it, nothing but the ``generate`` command imports the simulator, only ``core/config``
reads YAML.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "crm_analytics"
#: layers from the bottom up; a module may import its own layer and the ones before it
LAYERS = ["core", "data", "sim", "metrics", "models", "actions", "report", "batch", "cli"]


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py"))


def _layer(path: Path) -> str:
    rel = path.relative_to(PKG)
    return "cli" if rel.parts[0] == "cli.py" else rel.parts[0]


def _imports(tree: ast.AST) -> list[tuple[str, ast.stmt]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, node))
        elif isinstance(node, ast.Import):
            out += [(a.name, node) for a in node.names]
    return out


def _package_layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "crm_analytics" or len(parts) < 2:
        return None
    return "cli" if parts[1] == "cli" else parts[1]


@pytest.fixture(scope="module")
def parsed() -> dict[Path, tuple[ast.Module, list[str]]]:
    out = {}
    for p in _modules():
        text = p.read_text(encoding="utf-8")
        out[p] = (ast.parse(text), text.splitlines())
    return out


def test_layers_import_only_layers_below(parsed):
    bad = []
    for path, (tree, _) in parsed.items():
        if path.parent == PKG and path.name == "__init__.py":
            continue
        mine = _layer(path)
        for module, _node in _imports(tree):
            theirs = _package_layer(module)
            if theirs is None or theirs == mine:
                continue
            if theirs not in LAYERS or LAYERS.index(theirs) > LAYERS.index(mine):
                bad.append(f"{path.relative_to(PKG)} imports {module}")
    assert not bad, "\n".join(bad)


def test_only_the_generate_command_imports_the_simulator(parsed):
    bad = []
    for path, (tree, _) in parsed.items():
        if _layer(path) in ("sim", "cli"):
            continue
        bad += [
            f"{path.relative_to(PKG)} imports {m}"
            for m, _ in _imports(tree)
            if _package_layer(m) == "sim"
        ]
    assert not bad, "\n".join(bad)


def test_only_core_config_reads_yaml(parsed):
    bad = [
        str(path.relative_to(PKG))
        for path, (tree, _) in parsed.items()
        if path != PKG / "core" / "config.py"
        and any(m == "yaml" or m.startswith("yaml.") for m, _ in _imports(tree))
    ]
    assert not bad, bad


#: the longest a function may be (docstring included), outside tests
MAX_FUNCTION_LINES = 150


def test_no_function_is_longer_than_the_limit(parsed):
    long = [
        f"{path.relative_to(PKG)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for path, (tree, _) in parsed.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, "split these into named steps:\n" + "\n".join(long)


def test_imports_inside_functions_say_why(parsed):
    """Imports sit at module top; a lazy one (a heavy or optional dependency) carries a
    comment on its line or the line above (one comment covers the imports right after it)."""
    bad = []
    for path, (tree, lines) in parsed.items():
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                n = node.lineno - 1
                while n > 0 and lines[n - 1].strip().startswith(("import ", "from ")):
                    n -= 1  # the first import of a group carries the comment
                if "#" not in lines[n] and not (n > 0 and lines[n - 1].strip().startswith("#")):
                    bad.append(f"{path.relative_to(PKG)}:{node.lineno} {lines[node.lineno - 1]}")
    assert not bad, "move to the module top, or say why it is lazy:\n" + "\n".join(bad)


def test_the_dealer_pages_only_display_the_analysis():
    """Issue 14: a dealer's notebooks fit nothing and compute nothing of their own; they read
    the dealer's analysis (computed once) through the report layer. The analyst's workbench
    (``explore``) computes on purpose and is exempt."""
    notebooks = PKG.parent / "notebooks"
    bad = []
    for path in sorted(notebooks.glob("*.py")):
        if path.stem == "explore":
            continue
        for module, _node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            layer = _package_layer(module)
            if layer is not None and layer != "report" and module != "crm_analytics.core.files":
                bad.append(f"{path.name} imports {module}")
    assert not bad, "\n".join(bad)
