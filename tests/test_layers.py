"""Dependencies point one way: shells → services → auth, models, analysis, instruments.

Read from the source with ``ast``, so a sideways import fails here before it
becomes a cycle or a rule written twice.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tracker"
SHELLS = ("tracker.api", "tracker.fhir", "tracker.web", "tracker.cli")
PURE = ("tracker/instruments", "tracker/analysis", "tracker/charts", "tracker/scheduling")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _files(folder: str) -> list[Path]:
    root = PACKAGE.parent / folder
    return sorted(root.rglob("*.py")) if root.is_dir() else [root]


def _offending(files: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.name} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("tracker/fhir", ("tracker.api", "tracker.web", "tracker.cli")),
        ("tracker/web", ("tracker.api", "tracker.fhir", "tracker.cli")),
        ("tracker/api", ("tracker.web", "tracker.fhir", "tracker.cli")),
        ("tracker/services", SHELLS),
        ("tracker/auth", ("tracker.api", "tracker.web", "tracker.cli", "tracker.services")),
        ("tracker/models", (*SHELLS, "tracker.services", "tracker.auth")),
        ("tracker/problems.py", ("tracker.fhir", "tracker.api", "tracker.web")),
        ("tracker/extensions.py", ("tracker",)),
        # Channels only carry a rendered message: no database, no Flask, no use case.
        (
            "tracker/channels",
            (*SHELLS, "tracker.services", "tracker.models", "flask", "sqlalchemy"),
        ),
        # The worker runs use cases; use cases never reach for the worker or its queue.
        ("tracker/tasks.py", SHELLS),
        ("tracker/queue.py", (*SHELLS, "tracker.services", "tracker.tasks")),
        ("tracker/services", ("tracker.tasks", "tracker.queue")),
        *[(pure, ("flask", "sqlalchemy", "werkzeug", *SHELLS, "tracker.models")) for pure in PURE],
    ],
)
def test_no_layer_reaches_sideways(folder: str, forbidden: tuple[str, ...]) -> None:
    assert _offending(_files(folder), forbidden) == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from tracker.fhir.http import is_fhir_request\n")
    assert _offending([module], ("tracker.fhir",)) != []
