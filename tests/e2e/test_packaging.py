"""What users install holds everything: the wheel and sdist against the source tree.

``make test`` builds both once and passes them in (``SCIMCTL_TEST_WHEEL``,
``SCIMCTL_TEST_SDIST``); run alone, this builds them. A module or data file that
the build configuration leaves out fails here by name, before any user meets a
``ModuleNotFoundError``.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, SCIMCTL, build

import scimctl
from scimctl.state.db import SCHEMA_HEAD


def tracked(prefix: str = "") -> set[str]:
    """Files git tracks under ``prefix`` (the tree as committed, not stray files)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", prefix or "."],
        cwd=ROOT, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return {p for p in out.stdout.decode().split("\0") if p and (ROOT / p).is_file()}


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    wheel, sdist = os.environ.get("SCIMCTL_TEST_WHEEL"), os.environ.get("SCIMCTL_TEST_SDIST")
    if wheel and sdist:
        return Path(wheel), Path(sdist)
    out = tmp_path_factory.mktemp("dist")
    build(["--outdir", str(out)])
    return next(out.glob("*.whl")), next(out.glob("*.tar.gz"))


def test_the_wheel_holds_every_module_data_file_and_migration(artefacts):
    wheel, _ = artefacts
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p for p in tracked("scimctl") if "__pycache__" not in p}
    missing = sorted(expected - names)
    assert not missing, f"{wheel.name} lacks {len(missing)} files: {missing}"
    assert "scimctl/_version.py" in names, "the build wrote no version file"
    migrations = sorted(n for n in names if n.startswith("scimctl/migrations/versions/0"))
    assert migrations and migrations[-1].split("/")[-1].startswith(SCHEMA_HEAD), migrations
    assert "scimctl/migrations/script.py.mako" in names
    # The console script is declared, so an installed wheel has the command.
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "scimctl = scimctl.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_sdist_holds_the_whole_tree(artefacts):
    """An sdist is what a distribution or an auditor rebuilds from: tests, docs and all."""
    _, sdist = artefacts
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n.removeprefix(top + "/") for n in tar.getnames()}
    missing = sorted(tracked() - names)
    assert not missing, f"{sdist.name} lacks {missing}"
    assert "PKG-INFO" in names


@pytest.mark.skipif(
    not os.environ.get("SCIMCTL_TEST_INSTALLED"),
    reason="make test runs this on the installed wheel",
)
def test_the_suite_runs_the_installed_wheel(artefacts):
    wheel, _ = artefacts
    package = Path(scimctl.__file__).resolve().parent
    assert "site-packages" in package.parts, package
    assert wheel.name.startswith(f"scimctl-{scimctl.__version__}-"), (
        wheel.name,
        scimctl.__version__,
    )
    out = subprocess.run([SCIMCTL, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and scimctl.__version__ in out.stdout, out


def test_shell_completion_as_documented():
    """The README's completion line works with the installed command."""
    env = {**os.environ, "_SCIMCTL_COMPLETE": "bash_source"}
    script = subprocess.run([SCIMCTL], env=env, capture_output=True, text=True, timeout=60)
    assert script.returncode == 0 and "_scimctl_completion()" in script.stdout
    env = {**os.environ, "_SCIMCTL_COMPLETE": "bash_complete", "COMP_WORDS": "scimctl hist",
           "COMP_CWORD": "1"}  # fmt: skip
    words = subprocess.run([SCIMCTL], env=env, capture_output=True, text=True, timeout=60)
    assert "plain,history" in words.stdout.splitlines()
