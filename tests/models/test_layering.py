"""Import rules of the models: no simulator in production code, one parameter reader, no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import crm_analytics

PACKAGE = Path(crm_analytics.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports (at any depth, lazy imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_analysis_module_imports_the_simulator():
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p.parent.name != "sim"
        and p.name != "cli.py"
        and any(m == "crm_analytics.sim" or m.startswith("crm_analytics.sim.") for m in _imports(p))
    ]
    assert offenders == []


def test_models_read_parameters_only_through_config():
    for p in (PACKAGE / "models").glob("*.py"):
        assert "yaml" not in _imports(p), p.name


def test_model_modules_import_without_a_cycle():
    models = {p.stem: p for p in (PACKAGE / "models").glob("*.py") if p.stem != "__init__"}
    deps = {
        name: {
            m.split(".")[2]
            for m in _imports(p)
            if m.startswith("crm_analytics.models.") and m.split(".")[2] in models
        }
        for name, p in models.items()
    }
    assert not deps["features"] & {"churn", "leads", "scoring"}
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, " -> ".join((*path, node))
        if node not in done:
            for d in deps[node]:
                visit(d, (*path, node))
            done.add(node)

    for name in deps:
        visit(name, ())
