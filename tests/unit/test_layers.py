"""The import-direction contract: which part of scimctl may import which.

docs/architecture.md draws the layers; this file is the same drawing as data, checked
against every module's imports (read with ``ast``: top-level, inside functions and for
types alike, since a circle hidden by a function-local import is still a circle). A
module that does not belong to a layer, or an import the table does not allow, fails
here with the module, the line and the rule, so the tree keeps the shape the docs
describe.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every scimctl module belongs to exactly one layer, by its dotted name's longest prefix.
LAYERS: dict[str, tuple[str, ...]] = {
    # What every layer shares: the domain values, errors and exit codes, configuration,
    # and text for people. At most four modules at the package root (test below).
    "shared": ("scimctl.model", "scimctl.errors", "scimctl.config", "scimctl.text"),
    "engine": ("scimctl.plan", "scimctl.governance"),  # pure: a function of three values
    "input": ("scimctl.manifest",),
    "directory": ("scimctl.scim",),
    "state": ("scimctl.state", "scimctl.migrations"),
    "records": ("scimctl.records",),  # the state's read side, through its interfaces
    "apply": ("scimctl.apply",),
    "commands": ("scimctl.commands",),
    "cli": ("scimctl.cli",),
    "emulator": ("scimctl.emulator",),  # a service of its own, used by tests and the demo
}

# The layers each layer may import besides itself. Read as a drawing: nothing imports
# the CLI; commands reach everything below them; the engine imports only what is shared.
MAY_IMPORT: dict[str, set[str]] = {
    "shared": set(),
    "engine": {"shared"},
    "input": {"shared", "engine"},
    "directory": {"shared", "engine"},
    "state": {"shared"},
    "records": {"shared", "state"},
    "apply": {"shared", "engine", "directory", "state", "records"},
    "commands": {"shared", "engine", "input", "directory", "state", "records", "apply", "emulator"},
    "cli": {
        "shared",
        "engine",
        "input",
        "directory",
        "state",
        "records",
        "apply",
        "commands",
        "emulator",
    },  # fmt: skip
    "emulator": {"shared", "directory"},
}

# Single imports across the table, each with the reason it does not break the layering.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("scimctl.plan.model", "scimctl.scim.ids"): "the id rule is pure: a plan file's ids are "
    "checked as the client checks them, with no HTTP",
}

# Libraries that do I/O or talk to a terminal, and the layers that may import them.
LIBRARIES: dict[str, set[str]] = {
    "click": {"cli"},
    "rich": {"cli"},
    "httpx": {"directory", "records", "emulator", "cli"},
    "httpcore": {"directory"},
    "sqlalchemy": {"state"},
    "alembic": {"state"},
    "psycopg": {"state"},
    "starlette": {"emulator"},
    "uvicorn": {"emulator"},
    "prometheus_client": {"records"},
}

LIBRARY_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("scimctl.config", "httpx"): "URL syntax only (the URL httpx will be given), imported "
    "inside the check",
}

# The package itself: its version (written by the build into _version.py).
PACKAGE = {"scimctl", "scimctl._version", "scimctl.__version__", "scimctl.__commit__"}

PACKAGE |= {"scimctl.version_text"}


def layer_of(module: str) -> str | None:
    """The layer of a dotted module name (or of a name imported from one)."""
    if module in PACKAGE or module.startswith("scimctl._version."):
        return "shared"
    matches = [
        (len(prefix), layer)
        for layer, prefixes in LAYERS.items()
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None


def modules() -> list[tuple[str, Path]]:
    """Every module of the package, as (dotted name, file)."""
    found = []
    for path in sorted((ROOT / "scimctl").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def imports(module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every (line, name) a module imports, wherever the import statement is; relative
    imports resolved; ``from a import b`` gives ``a.b`` (b may be a module)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            found += [(node.lineno, f"{origin}.{a.name}") for a in node.names]
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """What in one module's imports the table forbids, one line each."""
    mine = layer_of(module)
    if mine is None:
        return [f"{module}: belongs to no layer in tests/unit/test_layers.py"]
    out = []
    for line, name in imports(module, source, is_package):
        top = name.split(".")[0]
        if top == "scimctl":
            theirs = layer_of(name)
            excepted = any(module == who and name.startswith(to) for who, to in EXCEPTIONS)
            if theirs is None:
                out.append(f"{module}:{line}: imports {name}, which belongs to no layer")
            elif theirs != mine and theirs not in MAY_IMPORT[mine] and not excepted:
                out.append(f"{module}:{line}: {mine} imports {theirs} ({name})")
        elif mine not in LIBRARIES.get(top, {mine}) and (module, top) not in LIBRARY_EXCEPTIONS:
            out.append(f"{module}:{line}: {mine} imports {top}")
    return out


def test_every_import_goes_the_way_the_layers_allow():
    found = [
        v
        for name, path in modules()
        for v in violations(name, path.read_text(), path.name == "__init__.py")
    ]
    assert found == [], "imports against the layer table:\n" + "\n".join(found)


def test_the_exceptions_are_still_needed():
    """An exception nobody uses any more is removed, so the table stays the truth."""
    used = {
        (name, target)
        for name, path in modules()
        for _, imported in imports(name, path.read_text(), path.name == "__init__.py")
        for who, target in EXCEPTIONS
        if who == name and imported.startswith(target)
    }
    assert used == set(EXCEPTIONS)


def test_the_root_keeps_only_what_every_layer_shares():
    """At most four shared modules or packages at the package root (besides
    ``__init__``, ``__main__`` and the build's ``_version``)."""
    root = {p.stem for p in (ROOT / "scimctl").glob("*.py")} | {
        p.name for p in (ROOT / "scimctl").iterdir() if (p / "__init__.py").exists()
    }
    assert len(LAYERS["shared"]) <= 4
    at_root = root - {"__init__", "__main__", "_version"}
    homeless = sorted(m for m in at_root if layer_of(f"scimctl.{m}") is None)
    assert homeless == [], f"root modules in no layer: {homeless}"


@pytest.mark.parametrize(
    "module, source, expected",
    [
        ("scimctl.plan.diff", "from scimctl.cli.output import table", "engine imports cli"),
        ("scimctl.plan.diff", "import httpx", "engine imports httpx"),
        ("scimctl.state.db", "from scimctl.scim import client", "state imports directory"),
        ("scimctl.commands", "def f():\n    import click", "commands imports click"),
        ("scimctl.records.history", "from scimctl.apply.run import x", "records imports apply"),
        ("scimctl.model", "if X:\n    from scimctl.plan import diff", "shared imports engine"),
        ("scimctl.scim.read", "from ..cli import base", "directory imports cli"),
        ("scimctl.orphan", "", "belongs to no layer"),
    ],
)
def test_the_contract_sees_a_forbidden_import(module, source, expected):
    """Guard: each kind of forbidden import is reported (inside a function, under a
    condition, relative: all count)."""
    found = violations(module, source)
    assert any(expected in v for v in found), found


def test_the_contract_allows_what_the_table_allows():
    assert violations("scimctl.commands", "from scimctl.apply import apply_plan") == []
    assert violations("scimctl.plan.model", "from scimctl.scim.ids import check_id") == []
    assert violations("scimctl.cli.base", "import click\nfrom scimctl import commands") == []


RAW_STATE = ("sqlalchemy", "scimctl.state.tables", "scimctl.state.store", "scimctl.state.db")


@pytest.mark.parametrize("module", [name for name, _ in modules() if layer_of(name) == "records"])
def test_readers_go_through_the_state_interfaces(module):
    path = dict(modules())[module]
    raw = sorted(
        name
        for _, name in imports(module, path.read_text(), path.name == "__init__.py")
        if any(name == r or name.startswith(r + ".") for r in RAW_STATE)
    )
    assert raw == [], f"{module} imports {raw}: go through scimctl.state.interfaces"
    assert ".engine" not in path.read_text(), f"{module} reaches for the SQL engine"


def test_the_import_check_would_see_a_raw_table_import():
    """Guard: the same reading reports the tables in a module that imports them."""
    path = ROOT / "scimctl/state/audit_sql.py"
    names = {name for _, name in imports("scimctl.state.audit_sql", path.read_text())}
    assert any(n.startswith("sqlalchemy") for n in names)
    assert any(n.startswith("scimctl.state.tables") for n in names)


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("scimctl.emulator.divisions", "scimctl.emulator.directory"),
        ("scimctl.emulator.lag", "scimctl.emulator.directory"),
        ("scimctl.emulator.resource", "scimctl.emulator.directory"),
    ],
)
def test_no_import_circle_comes_back(lower, upper):
    """The directory uses divisions and lag, never the other way: a circle hidden by a
    function-local import is still a circle."""
    path = dict(modules())[lower]
    names = {name for _, name in imports(lower, path.read_text())}
    assert not any(n == upper or n.startswith(upper + ".") for n in names), (
        f"{lower} imports {upper}"
    )


def test_the_circle_check_sees_a_function_local_import():
    path = ROOT / "scimctl/emulator/directory.py"
    names = {name for _, name in imports("scimctl.emulator.directory", path.read_text())}
    assert any(n.startswith("scimctl.emulator.grants") for n in names)


def test_the_docs_show_the_tree():
    """README's layout names every package and root module; docs/architecture.md has a
    row for every layer of the table, saying what it may import."""
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :].split("```")[1]
    entries = [p for p in (ROOT / "scimctl").iterdir() if not p.name.startswith(("_", "."))]
    named = {p.name + "/" if p.is_dir() else p.name for p in entries if p.suffix in ("", ".py")}
    missing = sorted(n for n in named if n not in layout)
    assert missing == [], f"README's layout leaves out {missing}"
    architecture = (ROOT / "docs/architecture.md").read_text()
    rows = {line.split("|")[1].strip().lower() for line in architecture.splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert set(LAYERS) <= rows, f"docs/architecture.md has no row for {set(LAYERS) - rows}"
    assert "| May import |" in architecture
