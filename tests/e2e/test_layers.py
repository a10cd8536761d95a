"""The engine is pure: importing it loads no HTTP client and no database driver."""

from __future__ import annotations

import subprocess
import sys

ENGINE = ("scimctl.model", "scimctl.plan.diff", "scimctl.plan.checks", "scimctl.plan")

IO_LIBRARIES = ("httpx", "sqlalchemy", "alembic", "psycopg", "uvicorn", "starlette")


def test_the_plan_engine_imports_without_io_libraries():
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
