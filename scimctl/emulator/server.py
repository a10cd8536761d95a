"""Serving the emulator: in the foreground for the CLI, or in a thread for tests."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn

from scimctl.emulator.app import DroppedConnection, Emulator, EmulatorConfig
from scimctl.emulator.directory import Directory
from scimctl.emulator.seed import load_seed


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


def serve(emulator: Emulator, host: str = "127.0.0.1", port: int = 8999) -> None:
    """Run until interrupted (the ``scimctl emulator`` command)."""
    emulator.directory.base_url = f"http://{host}:{port}"
    _server(emulator, host, port, "info").run()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class BackgroundEmulator:
    """An emulator on a free loopback port in a daemon thread, as a context manager."""

    def __init__(
        self, emulator: Emulator, host: str = "127.0.0.1", port: int | None = None
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        emulator.directory.base_url = self.url
        self._server = _server(emulator, host, self.port, "warning")
        self._thread = threading.Thread(target=self._server.run, daemon=True)

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
