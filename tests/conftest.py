"""Fixtures: an emulator on a free loopback port, the real CLI, real databases."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

import scimctl
from scimctl.emulator.app import Emulator, EmulatorConfig
from scimctl.emulator.directory import Directory
from scimctl.emulator.seed import apply_seed
from scimctl.emulator.server import BackgroundEmulator

ROOT = Path(__file__).resolve().parent.parent

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret-Zq8#not-for-logs"
SCIMCTL = str(Path(sys.executable).parent / "scimctl")
PG_ENV = "SCIMCTL_TEST_DATABASE_URL"


def pytest_report_header(config: pytest.Config) -> str:
    return f"scimctl {scimctl.version_text()} from {Path(scimctl.__file__).parent}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """End any ``scimctl`` command a test started and left running (a test that failed
    half-way may leave one), before the test's fixtures are torn down: a leftover apply
    would hold its state's locks while its database is dropped, and a stopped one would
    hold them for ever. Emulators are left to the fixtures that started them."""
    for pid in leftover_runs():
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(pid, signal.SIGKILL)
    return (yield)


def leftover_runs() -> list[int]:
    """This process's children that are ``scimctl`` commands other than the emulator."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile, or not ours to read
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) != os.getpid() or fields[0] == "Z":
            continue
        words = [w.decode(errors="replace") for w in argv[:3]]
        if any(w == SCIMCTL for w in words) and "emulator" not in words:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``make test`` built and installed (or one built here), as a release ships it."""
    if os.environ.get("SCIMCTL_TEST_WHEEL"):
        return Path(os.environ["SCIMCTL_TEST_WHEEL"])
    out = tmp_path_factory.mktemp("dist")
    build(["--wheel", "--outdir", str(out)])
    return next(out.glob("*.whl"))


def build(args: list[str]) -> None:
    """``python -m build`` on the checkout, claiming the version already installed.

    A build writes scimctl/_version.py into the tree, which is what an editable install
    imports: without the claim, a build after a new commit would change the version
    under the feet of the tests running beside it.
    """
    env = {
        **os.environ,
        "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_SCIMCTL": scimctl.__version__,
        "SETUPTOOLS_SCM_PRETEND_METADATA_FOR_SCIMCTL": f'{{node="g{scimctl.__commit__}"}}',
    }
    subprocess.run(
        [sys.executable, "-m", "build", *args, str(ROOT)],
        check=True, capture_output=True, timeout=300, env=env,
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """Under ``make test`` the suite must exercise the installed wheel, never the sources."""
    if not os.environ.get("SCIMCTL_TEST_INSTALLED"):
        return
    package = Path(scimctl.__file__).resolve().parent
    if package.is_relative_to(ROOT) and not package.is_relative_to(ROOT / ".venv-test"):
        raise pytest.UsageError(f"SCIMCTL_TEST_INSTALLED is set but scimctl comes from {package}")
    if not Path(SCIMCTL).exists():
        raise pytest.UsageError(f"SCIMCTL_TEST_INSTALLED is set but there is no {SCIMCTL}")


BASE_SEED: dict[str, Any] = {
    "roles": [
        {"name": "Employee", "permissions": ["directory:user:view"]},
        {"name": "Agent", "permissions": ["routing:agent:view", "routing:queue:join"]},
        {"name": "Supervisor", "permissions": ["routing:queue:view"]},
        {"name": "Master Admin", "permissions": ["authorization:grant:add", "admin"]},
    ],
    "groups": [{"name": "Support"}, {"name": "Support Tier1"}, {"name": "Sales"}],
    "skills": ["Billing", "Escalations", "Sales"],
    "languages": ["English", "Spanish", "French", "German"],
}


class Running:
    """A started emulator and what a test needs to talk to it."""

    def __init__(self, bg: BackgroundEmulator) -> None:
        self.bg = bg
        self.url = bg.url
        self.emulator: Emulator = bg.emulator
        self.directory: Directory = bg.emulator.directory
        self._token: str | None = None

    def token(self) -> str:
        if self._token is None:
            resp = httpx.post(
                f"{self.url}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, CLIENT_SECRET),
                timeout=10,
            )
            resp.raise_for_status()
            self._token = resp.json()["access_token"]
        return self._token

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=10,
        )

    def users(self, filter: str | None = None) -> list[dict[str, Any]]:
        """Every visible user through the API (active and inactive unless filtered)."""
        with self.http() as h:
            out = []
            for flt in [filter] if filter else [None, "active eq false"]:
                params = {"count": "1000", "excludedAttributes": "groups"}
                if flt:
                    params["filter"] = flt
                out += h.get("/api/v2/scim/v2/Users", params=params).json()["Resources"]
            return out

    def group(self, name: str) -> dict[str, Any]:
        with self.http() as h:
            found = h.get(
                "/api/v2/scim/v2/Groups", params={"filter": f'displayName eq "{name}"'}
            ).json()["Resources"]
            return found[0]

    def member_names(self, group: str) -> set[str]:
        by_id = {u["id"]: u["userName"] for u in self.users()}
        return {by_id[m["value"]] for m in self.group(group)["members"]}


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., Running]]:
    started: list[BackgroundEmulator] = []

    def start(seed: dict[str, Any] | None = None, **config: Any) -> Running:
        directory = Directory()
        apply_seed(seed if seed is not None else BASE_SEED, directory)
        cfg = EmulatorConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **config)
        bg = BackgroundEmulator(Emulator(directory, cfg)).__enter__()
        started.append(bg)
        return Running(bg)

    yield start
    for bg in started:
        bg.__exit__(None, None, None)


@pytest.fixture
def emulator(start_emulator: Callable[..., Running]) -> Running:
    return start_emulator()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port where nothing listens and nothing can start listening during the
    test: bound and not listening, so a connection is refused. (A port that was merely
    free a moment ago may be taken meanwhile by a server of a parallel test process.)"""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _pg_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state per test: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        return existing_state(f"sqlite:///{tmp_path / 'state.db'}")
    return existing_state(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a state database may be made (migration tests build old schemas there)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new PostgreSQL schema for this test, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield _pg_url(base, schema)
    finally:
        _drop_schema(conninfo, schema)


def _drop_schema(conninfo: str, schema: str) -> None:
    """Drop a test's schema even when a process the test started still holds locks in
    it (a test that failed half-way may leave one): those sessions are ended first, and
    the drop waits a bounded time, so one bad test can never hang the whole run."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True, connect_timeout=30) as conn:
        conn.execute("SET lock_timeout = '60s'")
        conn.execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
            "JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND l.pid <> pg_backend_pid()",
            (schema,),
        )
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def start_cli_emulator(*args: str, tries: int = 5) -> tuple[subprocess.Popen[str], int]:
    """``scimctl emulator`` in a process of its own on a free port, once its banner says
    it holds the port. A free port can be taken by a parallel test process before the
    emulator binds it; then the emulator says so and exits, and another port is tried."""
    from scimctl.emulator.server import free_port

    said = ""
    for _ in range(tries):
        port = free_port()
        proc = subprocess.Popen(
            [SCIMCTL, "emulator", "--port", str(port), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        if "emulator on" in banner:  # printed once the port is bound and listening
            return proc, port
        proc.wait(timeout=30)
        said = banner + proc.stderr.read()
        if "already in use" not in said:
            break
    raise AssertionError(f"scimctl emulator did not start: {said}")


def existing_state(url: str) -> str:
    """Create the state database at ``url``, as `scimctl db upgrade` would: the tests'
    workspaces stand for an operator's existing state, which plan and apply never
    start by accident (tests of a new state use a URL where none exists)."""
    from scimctl.state import Store

    Store(url).close()
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return existing_state(f"sqlite:///{tmp_path / 'state.db'}")


class Workspace:
    """A directory with a manifest, and the real ``scimctl`` command run inside it."""

    def __init__(self, path: Path, emulator: Running, state: str) -> None:
        self.path = path
        self.emulator = emulator
        self.state = state

    def write_manifest(self, doc: dict[str, Any], name: str = "scimctl.yaml") -> Path:
        doc = {"version": 1, "target": {"api_url": self.emulator.url}, **doc}
        path = self.path / name
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "SCIMCTL_"))}
        env.update(
            GENESYS_CLIENT_ID=CLIENT_ID,
            GENESYS_CLIENT_SECRET=CLIENT_SECRET,
            SCIMCTL_STATE=self.state,
            COLUMNS="200",
        )
        env.update(extra)
        return env

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SCIMCTL, *args],
            cwd=self.path,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def workspace(tmp_path: Path, emulator: Running, sqlite_url: str) -> Workspace:
    return Workspace(tmp_path, emulator, sqlite_url)


@pytest.fixture
def seeded(
    start_emulator: Callable[..., Running], tmp_path: Path, sqlite_url: str
) -> Callable[..., Workspace]:
    """A workspace whose emulator starts with these users (and the base roles, groups)."""

    def make(users: list[dict[str, Any]], **config: Any) -> Workspace:
        emu = start_emulator({**BASE_SEED, "users": users}, **config)
        return Workspace(tmp_path, emu, sqlite_url)

    return make


def user(key: str, name: str, **attrs: Any) -> dict[str, Any]:
    """A manifest user entry with sensible defaults."""
    first = name.split("@")[0].replace(".", " ").title()
    return {"externalId": key, "userName": name, "displayName": first, **attrs}


def db(url: str, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL query against a state database, as tuples."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(query), params)]
    finally:
        engine.dispose()


def apply_unchecked(ws: Workspace, **kw: Any) -> Any:
    """apply_plan on the saved plan.json as a library caller may run it: without the
    recomputation the CLI always does (as if a change landed just after that check)."""
    from scimctl.apply import apply_plan
    from scimctl.config import Credentials, Target
    from scimctl.plan import Plan
    from scimctl.scim.client import GenesysClient
    from scimctl.state import Store

    url = ws.emulator.url
    creds = Credentials(CLIENT_ID, CLIENT_SECRET)
    with GenesysClient.connect(Target("genesys", url, url), creds) as client:
        store = Store(ws.state)
        try:
            return apply_plan(Plan.load(ws.path / "plan.json"), client, store, **kw)
        finally:
            store.close()
