"""The engine is pure: importing it loads no HTTP client and no database driver."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# Modules that read or write the state only through scimctl.state.interfaces.
THROUGH_INTERFACES = (
    "scimctl/records/history.py",
    "scimctl/records/hris.py",
    "scimctl/records/metrics.py",
    "scimctl/records/managed.py",
)

RAW_STATE = ("sqlalchemy", "scimctl.state.tables", "scimctl.state.store", "scimctl.state.db")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module", THROUGH_INTERFACES)
def test_readers_go_through_the_state_interfaces(module):
    root = Path(__file__).resolve().parents[2]
    source = root / module
    raw = sorted(
        name
        for name in _imports(source)
        if any(name == r or name.startswith(r + ".") for r in RAW_STATE)
    )
    assert raw == [], f"{module} imports {raw}: go through scimctl.state.interfaces"
    assert ".engine" not in source.read_text(), f"{module} reaches for the SQL engine"


def test_the_import_check_would_see_a_raw_table_import():
    """Guard: the same check reports the tables in a module that imports them."""
    root = Path(__file__).resolve().parents[2]
    names = _imports(root / "scimctl/state/audit_sql.py")
    assert "sqlalchemy" in names and "scimctl.state.tables" in names


def _imports_of(path: Path) -> set[str]:
    """Every scimctl module a file imports, at the top, inside functions or for types."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("scimctl")}


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("scimctl/errors.py", "scimctl.errors"),
        ("scimctl/emulator/divisions.py", "scimctl.emulator.directory"),
        ("scimctl/emulator/lag.py", "scimctl.emulator.directory"),
        ("scimctl/emulator/resource.py", "scimctl.emulator.directory"),
    ],
)
def test_no_import_circle_comes_back(lower, upper):
    """errors uses problems and the directory uses divisions and lag, never the other
    way: a circle hidden by a function-local import is still a circle."""
    root = Path(__file__).resolve().parents[2]
    assert upper not in _imports_of(root / lower), f"{lower} imports {upper}"


def test_the_circle_check_sees_a_function_local_import():
    root = Path(__file__).resolve().parents[2]
    assert "scimctl.emulator.grants" in _imports_of(root / "scimctl/emulator/directory.py")
