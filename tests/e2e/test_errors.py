"""Ordinary mistakes end in one clear line and exit 1 (64 for a usage error), never a
traceback.

Each case here was once a Python traceback (or a hang) from the real command.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import db, user

from scimctl.emulator.server import free_port


def one_line_error(result, *fragments: str, code: int = 1) -> str:
    """The error the operator sees: exit code, a single 'Error:' line, no traceback."""
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert result.returncode == code, out
    errors = [line for line in result.stderr.splitlines() if "Error: " in line]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def ws(workspace):
    workspace.write_manifest({"users": [user("E1", "jane@example.com")]})
    return workspace


def manifest_for(ws, api_url: str) -> str:
    ws.write_manifest({"target": {"api_url": api_url}, "users": []}, name="other.yaml")
    text = (ws.path / "other.yaml").read_text()
    # write_manifest puts its own target first; the later one must win for this test.
    (ws.path / "other.yaml").write_text(
        text.replace(f"api_url: {ws.emulator.url}", f"api_url: '{api_url}'", 1)
    )
    return "other.yaml"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://"),
        ("/tmp/state.db", "sqlite:////tmp/state.db"),
        ("mysql://u@h/db", "'mysql' backend is not supported"),
        ("sqlite+foo:///x.db", "driver 'foo'"),
        ("postgresql+psycopg://nobody@127.0.0.1:1/x", "state database: OperationalError"),
    ],
)
def test_state_urls_that_are_not_supported(ws, url, fragment):
    one_line_error(ws.run("plan", "--state", url), fragment)


def test_plan_out_in_a_missing_directory_fails_before_the_run_is_recorded(ws):
    result = ws.run("plan", "--out", "no/such/dir/plan.json")
    one_line_error(result, "no/such/dir", "does not exist")
    assert db(ws.state, "SELECT count(*) FROM runs") == [(0,)]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x00\xff\xfe binary", "plan"),
        (b'{"format_version": 1', "plan"),
        (b"[1, 2, 3]", "plan"),
    ],
)
def test_plan_files_that_are_not_plans(ws, content, fragment):
    (ws.path / "plan.json").write_bytes(content)
    one_line_error(ws.run("show", "plan.json"), fragment)
    one_line_error(ws.run("apply", "plan.json"), fragment)


@pytest.mark.parametrize("missing", ["target", "state", "target.api_url", "state.lineage"])
def test_plan_files_missing_a_part(ws, missing):
    ws.run("plan", "--out", "plan.json")
    doc = json.loads((ws.path / "plan.json").read_text())
    *parents, key = missing.split(".")
    node = doc
    for part in parents:
        node = node[part]
    del node[key]
    (ws.path / "plan.json").write_text(json.dumps(doc))
    one_line_error(ws.run("apply", "plan.json"), "plan")


@pytest.mark.parametrize(
    ("api_url", "fragment"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://" + "a" * 300 + ".example.com", "not a valid host name"),
        ("http://127.0.0.1:99999", "port 99999"),
        ("ftp://example.com", "http:// or https://"),
    ],
)
def test_target_urls_that_cannot_work(ws, api_url, fragment):
    one_line_error(ws.run("plan", "-m", manifest_for(ws, api_url)), "target.", fragment)


def test_unreachable_target_says_connection_refused(ws, refused_port):
    result = ws.run("plan", "-m", manifest_for(ws, f"http://127.0.0.1:{refused_port}"))
    one_line_error(result, "connection refused")
    assert "Read 0 users" not in result.stderr


class _Html(BaseHTTPRequestHandler):
    def _page(self) -> None:
        body = b"<!DOCTYPE html><html><body>Sign in</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, *args: object) -> None:
        pass


def test_a_target_that_answers_html(ws):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        one_line_error(ws.run("plan", "-m", manifest_for(ws, url)), "HTML, not JSON")
    finally:
        server.shutdown()


def test_debug_shows_the_cause(ws):
    result = ws.run("--debug", "plan", "--state", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "OperationalError" in result.stderr


def test_debug_logs_requests_without_secrets(ws):
    result = ws.run("plan", SCIMCTL_DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert "GET /api/v2/scim/v2/Users" in result.stderr and "-> 200" in result.stderr
    assert "Bearer" not in result.stderr
    assert ws.emulator.token() not in result.stderr


def test_numeric_options_are_bounded(ws):
    one_line_error(ws.run("apply", "--lock-timeout", "nan", "--auto-approve"), "nan", code=64)
    one_line_error(ws.run("apply", "--lock-timeout", "inf", "--auto-approve"), "inf", code=64)
    one_line_error(ws.run("emulator", "--port", "70000"), "70000", code=64)


def test_emulator_on_a_taken_port(ws):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = ws.run("emulator", "--port", str(port), timeout=30)
    one_line_error(result, f"port {port}", "already in use")
    assert "emulator on http" not in result.stderr


def test_emulator_seed_that_is_not_text(ws):
    (ws.path / "seed.yaml").write_bytes(b"users:\n  - userName: caf\xe9@example.com\n")
    result = ws.run("emulator", "--port", str(free_port()), "--seed", "seed.yaml")
    one_line_error(result, "seed.yaml")


def test_retry_deadline_bounds_how_long_faults_are_ridden_out(start_emulator, tmp_path, sqlite_url):
    """Every answer a 5xx: the request gives up when --retry-deadline has passed, not
    after a fixed count of attempts, and says so."""
    import time

    from conftest import Workspace

    ws = Workspace(tmp_path, start_emulator(error_rate=1.0, random_seed=7), sqlite_url)
    ws.write_manifest({"users": [user("E1", "jane@example.com")]})
    started = time.monotonic()
    result = ws.run("--retry-deadline", "2", "plan")
    elapsed = time.monotonic() - started
    one_line_error(result, "gave up after 2s")
    assert elapsed < 30, elapsed
    one_line_error(ws.run("--retry-deadline", "0", "plan"), "'0'", code=64)
