"""Serving the emulator: in the foreground for the CLI, or in a thread for tests."""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from scimctl.emulator.app import DroppedConnection, Emulator, EmulatorConfig
from scimctl.emulator.directory import Directory
from scimctl.emulator.seed import load_seed
from scimctl.errors import ConfigError


class _HideDroppedConnections(logging.Filter):
    """Injected resets are on purpose; keep them out of the error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def build_emulator(
    seed: str | Path | None = None, config: EmulatorConfig | None = None, base_url: str = ""
) -> Emulator:
    directory = Directory(base_url=base_url)
    if seed:
        load_seed(seed, directory)
    return Emulator(directory, config)


def _server(emulator: Emulator, host: str, port: int, log_level: str) -> uvicorn.Server:
    logging.getLogger("uvicorn.error").addFilter(_HideDroppedConnections())
    config = uvicorn.Config(
        emulator,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
    )
    return uvicorn.Server(config)


def serve(
    emulator: Emulator,
    host: str = "127.0.0.1",
    port: int = 8999,
    announce: Callable[[], None] | None = None,
) -> None:
    """Run until interrupted (the ``scimctl emulator`` command).

    The socket is bound here, before uvicorn starts, so a port that is taken is a
    clear error at once instead of a log line and a server that never answers.
    """
    sock = bind(host, port)
    if announce is not None:
        announce()
    emulator.directory.base_url = f"http://{host}:{port}"
    _server(emulator, host, port, "info").run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a :class:`ConfigError` that says why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except (OSError, OverflowError) as exc:
        sock.close()
        if getattr(exc, "errno", None) == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is already in use: stop what holds it "
                "or pick another with --port"
            ) from exc
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class BackgroundEmulator:
    """An emulator on a free loopback port in a daemon thread, as a context manager."""

    def __init__(
        self, emulator: Emulator, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self.emulator = emulator
        self.host = host
        # Bound here and handed to uvicorn, so no other process (a parallel test
        # worker) can take the port between choosing it and listening on it.
        self._sock = bind(host, port or 0)
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        emulator.directory.base_url = self.url
        self._server = _server(emulator, host, self.port, "warning")
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> BackgroundEmulator:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
