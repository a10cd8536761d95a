"""Unit tests: no network and no subprocess, so ``make test-fast`` stays fast and a
unit test cannot quietly become an end-to-end one.

While a test here is set up, run and torn down (its fixtures of every scope included),
socket connects, PostgreSQL connections (libpq opens its own sockets) and process starts
are refused: the call raises, and should the code under test swallow that, the test
fails anyway. A test that needs the emulator, a database server, a second process or
the CLI belongs in tests/e2e. SQLite files, in-process fakes and sockets bound but
never connected to are fine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from collections.abc import Callable, Generator
from typing import Any

import psycopg
import pytest


class NotAUnitTest(AssertionError):
    """What a refused call raises: an AssertionError, so that code catching OSError
    does not take it for a network failure and retry."""


def _refusing_io() -> Generator[None, object, object]:
    # Threads an earlier end-to-end test left running in this worker process (pytest-xdist
    # mixes both directories) are not this test's: their calls go through.
    earlier = {t.ident for t in threading.enumerate()} - {threading.get_ident()}
    refused: list[str] = []

    def refuse(what: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() in earlier:
                return original(*args, **kwargs)
            refused.append(what)
            raise NotAUnitTest(f"a unit test may not {what}; it belongs in tests/e2e")

        return guarded

    with pytest.MonkeyPatch.context() as patch:
        for owner, name, what in [
            (socket.socket, "connect", "connect a socket"),
            (socket.socket, "connect_ex", "connect a socket"),
            (psycopg, "connect", "connect to PostgreSQL"),
            (subprocess.Popen, "_execute_child", "start a process"),
            *((os, name, "start a process") for name in ("system", "fork", "forkpty")),
            *((os, name, "start a process") for name in ("posix_spawn", "posix_spawnp")),
        ]:
            patch.setattr(owner, name, refuse(what, getattr(owner, name)))
        result = yield
    if refused:
        raise NotAUnitTest(f"a unit test may not {refused[0]}; it belongs in tests/e2e")
    return result


# Hooks of this conftest run for the tests under this directory only.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _refusing_io())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _refusing_io())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _refusing_io())
