"""Progress of a long run: a bar on a terminal, plain lines in CI logs."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import click

from scimctl.text import count


class Reading:
    """A live count of what a plan has read so far (terminal), or one line at the end."""

    def __init__(self) -> None:
        self.pages = 0
        self.items = 0
        self._lock = threading.Lock()
        self._status: Any = None
        self._started = time.monotonic()

    def __enter__(self) -> Reading:
        if sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status("Reading the directory…")
            self._status.__enter__()
        return self

    def page(self, items: int) -> None:
        with self._lock:
            self.pages += 1
            self.items += items
            if self._status is not None:
                self._status.update(
                    f"Reading the directory… {count(self.pages, 'page')}, "
                    f"{count(self.items, 'item')}"
                )

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)
        if exc_type is not None:
            return  # the error says what happened; "Read 0 users" would only mislead
        click.echo(
            f"Read {count(self.items, 'user, group or role', 'users, groups and roles')} in "
            f"{count(self.pages, 'page')} "
            f"({time.monotonic() - self._started:.1f}s).",
            err=True,
        )


class Progress:
    """Context manager whose ``update(result, done, total)`` feeds the display.

    The total comes with each update, from the executor that knows it, so nobody
    builds the dependency graph a second time only to size a bar.
    """

    def __init__(
        self,
        label: str = "Applying",
        interval: float = 5.0,
        requests: Callable[[], int] | None = None,
    ) -> None:
        self.label = label
        self.interval = interval
        # The transport's request counter: the live rate shows whether the run goes at
        # the pace the plan's Cost line promised.
        self.requests = requests
        self.failed = 0
        self._bar: Any = None
        self._last = 0.0
        self._started = time.monotonic()

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                TextColumn("{task.fields[pace]}"), transient=False,
            )  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=None, failed=0, pace="")
        return self

    def update(self, result: Any, done: int, total: int) -> None:
        if result.outcome != "ok":
            self.failed += 1
        now = time.monotonic()
        pace = self._pace(done, total, now - self._started)
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, failed=self.failed, pace=pace)
            return
        if done == total or now - self._last >= self.interval:
            self._last = now
            click.echo(
                f"{self.label}: {done:,}/{count(total, 'operation')}, {self.failed:,} failed, "
                f"{now - self._started:.0f}s{', ' + pace if pace else ''}",
                err=True,
            )

    def _pace(self, done: int, total: int, elapsed: float) -> str:
        """``600 requests/min, ~2 min left``: the live rate and the time left."""
        if self.requests is None or elapsed < 0.5 or not done:
            return ""
        from scimctl.plan.cost import duration

        rate = self.requests() * 60 / elapsed
        left = (total - done) * elapsed / done
        return (
            f"{rate:,.0f} requests/min, ~{duration(left)} left"
            if done < total
            else (f"{rate:,.0f} requests/min")
        )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
