"""A hostile target: a small HTTP server on loopback in front of the emulator.

It forwards every request to the emulator, and misbehaves where a test tells it to:
answers that never come, come one byte a second, never end, lie about their length,
are HTML, are not JSON, or are JSON with wrong types and ids that try to steer a
write. Every request it receives is recorded (method and raw path), so a test can
assert what was never sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

# A behaviour gets the handler, method and raw path; it answers and returns True,
# or returns False to let the request through to the emulator.
Behaviour = Callable[["Handler", str, str], bool]
# A rewrite gets method, path (no query) and the emulator's JSON answer.
Rewrite = Callable[[str, str, Any], Any]


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        hostile = self.server.hostile
        with hostile.lock:
            hostile.seen.append((self.command, self.path))
        try:
            if hostile.behaviour is not None and hostile.behaviour(self, self.command, self.path):
                return
            self._forward(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

    def _forward(self, body: bytes) -> None:
        hostile = self.server.hostile
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        resp = hostile.upstream.request(
            self.command, hostile.emulator_url + self.path, content=body, headers=headers
        )
        content = resp.content
        ctype = resp.headers.get("content-type", "application/json")
        if hostile.rewrite is not None and content and "json" in ctype:
            doc = hostile.rewrite(self.command, urlsplit(self.path).path, resp.json())
            content = json.dumps(doc).encode()
        self.answer(resp.status_code, content, ctype, extra={
            k: v for k, v in resp.headers.items() if k.lower() in ("etag", "location")
        })  # fmt: skip

    # -- ways to answer ------------------------------------------------------------
    def answer(
        self,
        status: int,
        content: bytes,
        ctype: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(content)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(content)

    def json(self, doc: Any, status: int = 200) -> None:
        self.answer(status, json.dumps(doc).encode())

    def hang(self) -> None:
        """Accept, read the request, never answer (until the test ends)."""
        self.server.hostile.stopped.wait(120)
        self.close_connection = True

    def drip(self) -> None:
        """Headers at once, then a JSON body one byte a second, forever."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while not self.server.hostile.stopped.wait(1.0):
            self.wfile.write(b"1\r\n \r\n")
            self.wfile.flush()
        self.close_connection = True

    def header_drip(self) -> None:
        """The status line at once, then one header byte a second, forever."""
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        self.wfile.flush()
        while not self.server.hostile.stopped.wait(1.0):
            self.wfile.write(b"x")
            self.wfile.flush()
        self.close_connection = True

    def endless(self, length: int | None = None) -> None:
        """A body streamed as fast as it can go: chunked and endless, or with a
        ``Content-Length`` it never means to honour."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

        def framed(data: bytes) -> bytes:
            return f"{len(data):x}\r\n".encode() + data + b"\r\n" if length is None else data

        block = framed(b'{"a": "' + b"x" * 65_000 + b'"},')
        self.wfile.write(framed(b"["))
        while not self.server.hostile.stopped.is_set():
            self.wfile.write(block)
        self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    hostile: Hostile


class Hostile:
    """The server and what it is told to do; a context manager."""

    def __init__(self, emulator_url: str) -> None:
        self.emulator_url = emulator_url
        self.behaviour: Behaviour | None = None
        self.rewrite: Rewrite | None = None
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.upstream = httpx.Client(timeout=30)
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.hostile = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()

    def writes(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(m, p) for m, p in self.seen if m not in ("GET",) and "oauth" not in p]
