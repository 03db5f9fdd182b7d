"""The folder tree tells the story: packages import only what comes before them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deformviz"


def imported_modules(package: str) -> dict[str, set[str]]:
    """{file: deformviz modules it imports} for every file of a subpackage (relative imports
    resolved)."""
    found = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        parts = ["deformviz", *path.relative_to(PACKAGE).with_suffix("").parts]
        here = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
        modules = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - node.level + 1]
                    modules.add(".".join(base + ([node.module] if node.module else [])))
                elif node.module:
                    modules.add(node.module)
        found[str(path.relative_to(PACKAGE))] = {m for m in modules if m.startswith("deformviz")}
    return found


@pytest.mark.parametrize("package, forbidden", [
    ("models", ("deformviz.scenes", "deformviz.training", "deformviz.evaluation")),
    ("evaluation", ("deformviz.training",)),
    ("networks", ("deformviz.scenes", "deformviz.training", "deformviz.evaluation",
                  "deformviz.plotting", "deformviz.visualize", "deformviz.cli")),
    ("geometry", ("deformviz.plotting", "deformviz.models", "deformviz.training")),
])
def test_package_does_not_import(package, forbidden):
    offending = {file: sorted(m for m in modules if m.startswith(forbidden))
                 for file, modules in imported_modules(package).items()}
    assert not {file: found for file, found in offending.items() if found}
