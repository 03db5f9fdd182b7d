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


#: What each part of deformviz may import of the others: the data's way (image -> network ->
#: probe -> records -> geometry -> results -> figure / page / table), each part only what
#: comes before it. Every package and top-level module is listed (checked below).
ALLOWED = {
    "errors": (), "scene_classes": (), "atomic_files": ("errors",), "output_paths": ("errors",),
    "image_resize": ("errors",),
    "imaging": ("errors", "image_resize"),
    "ops": ("errors",),
    "geometry": ("errors", "image_resize", "ops"),
    "probe": ("errors", "geometry", "ops"),
    "models": ("errors", "geometry", "imaging", "ops", "scene_classes"),
    "networks": ("errors", "geometry", "imaging", "models", "ops", "probe"),
    "capture": ("networks",),  # the deprecated name of networks.bundled
    "visualize": ("atomic_files", "errors", "geometry", "imaging", "networks", "ops", "probe"),
    "plotting": ("atomic_files", "errors", "visualize"),
    "explore": ("atomic_files", "errors", "geometry", "imaging", "networks", "plotting", "probe",
                "visualize"),
    "scenes": ("errors", "scene_classes"),
    "statistics": ("atomic_files", "errors", "geometry", "imaging", "networks", "ops", "probe",
                   "scenes"),
    "training": ("errors", "geometry", "imaging", "models", "ops", "scenes"),
    "evaluation": ("errors", "geometry", "models", "ops", "scenes", "statistics"),
}

#: Third-party packages a part must never import (at any depth, also inside functions).
FORBIDDEN_LIBRARIES = {
    "plotting": ("torch",),  # figures never run the model
    "geometry": ("matplotlib", "PIL"),  # where points are, never how they are drawn
    "probe": ("matplotlib", "PIL"),
    "networks": ("matplotlib",),
    "visualize": ("matplotlib",),
}


def _parts() -> list[str]:
    packages = [p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    modules = [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    return sorted(packages + modules)


def _imports(part: str) -> tuple[set[str], set[str]]:
    """(deformviz parts, third-party top-level packages) that `part` imports."""
    if (PACKAGE / part).is_dir():
        found = set().union(*imported_modules(part).values())
        files = sorted((PACKAGE / part).rglob("*.py"))
    else:  # a top-level module: its relative imports start at deformviz itself
        files = [PACKAGE / f"{part}.py"]
        found = set()
        for node in ast.walk(ast.parse(files[0].read_text())):
            if isinstance(node, ast.ImportFrom):
                found.add(("deformviz." if node.level else "") + (node.module or ""))
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    ours = {m.split(".")[1] for m in found if m.startswith("deformviz.")}
    third = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                third.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                third.add(node.module.split(".")[0])
    return ours - {part}, third - {"deformviz"}


def test_every_part_has_its_rule():
    assert set(_parts()) - {"cli"} == set(ALLOWED)


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_part_imports_only_what_comes_before_it(part):
    ours, _ = _imports(part)
    assert sorted(ours - set(ALLOWED[part])) == []


@pytest.mark.parametrize("part", sorted(FORBIDDEN_LIBRARIES))
def test_part_never_imports_these_libraries(part):
    _, third = _imports(part)
    assert sorted(third & set(FORBIDDEN_LIBRARIES[part])) == []
