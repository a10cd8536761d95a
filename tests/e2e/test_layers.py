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
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The package itself: its version (written by the build into _version.py).
PACKAGE = {"scimctl", "scimctl._version", "scimctl.__version__", "scimctl.__commit__"}

PACKAGE |= {"scimctl.version_text"}


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


ENGINE = ("scimctl.model", "scimctl.plan.diff", "scimctl.plan.checks", "scimctl.plan")

IO_LIBRARIES = ("httpx", "sqlalchemy", "alembic", "psycopg", "uvicorn", "starlette", "click")


def test_the_plan_engine_imports_without_io_libraries():
    """What the table says, seen from a fresh interpreter: nothing the engine pulls in
    (through any module it imports) loads an I/O or terminal library."""
    code = (
        f"import sys\nfor m in {ENGINE!r}: __import__(m)\n"
        f"print(','.join(sorted(m for m in {IO_LIBRARIES!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the engine pulled in {out.stdout.strip()}"


def test_the_check_would_see_an_io_import():
    """Guard: the same probe reports httpx when a module that uses it is imported."""
    code = "import sys, scimctl.scim.transport; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_each_cli_module_goes_through_its_own_commands_module():
    """``cli/<area>.py`` calls the library through ``commands/<area>.py`` and no other
    commands module, and every commands module has its CLI pair (``base`` resolves the
    manifest and target for all of them through ``commands.plans``)."""

    def commands_used(area: str) -> set[str]:
        path = ROOT / f"scimctl/cli/{area}.py"
        names = imports(f"scimctl.cli.{area}", path.read_text())
        return {n.split(".")[2] for _, n in names if n.startswith("scimctl.commands.")}

    areas = {p.stem for p in (ROOT / "scimctl/commands").glob("*.py")} - {"__init__"}
    cli = {p.stem for p in (ROOT / "scimctl/cli").glob("*.py")}
    assert areas <= cli, f"commands modules without a cli pair: {sorted(areas - cli)}"
    for area in sorted(cli - {"__init__", "base"}):
        used = commands_used(area)
        assert used <= {area}, f"cli/{area}.py reaches commands {sorted(used - {area})}"
    assert commands_used("base") == {"plans"}
