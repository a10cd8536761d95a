"""Bounds on every answer: a total deadline and a size limit, enforced while streaming.

httpx's timeouts are per socket operation: an answer that drips one byte a second,
or streams an endless body, never trips them, and ``Content-Length: 2 GiB`` is
read into memory as it comes. :class:`Bounds` hooks into the HTTP client every
request goes through (the token request included), so each one ends by its deadline
(connect, send and the whole answer) and no answer grows past ``max_bytes``, counted
after decompression, whatever its headers say. The command's ``--timeout`` is one
more deadline here: once it has passed, no request starts and none goes on.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

from scimctl.errors import ApiError

DEFAULT_MAX_BYTES = 8 * 2**20
# Each attempt's whole exchange; the retry deadline (--retry-deadline) may cut it shorter.
DEFAULT_REQUEST_SECONDS = 30.0
# An extension a caller sets on a request: seconds it may take at most (its retries' budget).
SECONDS_LEFT = "scimctl_seconds_left"
_END = "scimctl_end"
SLOW_ANSWER = "the answer did not arrive whole in time (cut at the request's deadline)"


class AnswerTooLarge(ApiError):
    """An answer bigger than any scimctl asks for: a wrong URL, or a hostile target."""


class CommandTimeout(ApiError):
    """The whole command's ``--timeout`` has passed."""


class AnswerTooSlow(httpx.ReadTimeout):
    """The answer did not arrive whole by the request's deadline (a slow drip)."""


def _megabytes(size: int) -> str:
    return f"{size / 2**20:g} MB"


@dataclass
class Bounds:
    """The limits of one client; installed as the client's event hooks."""

    max_bytes: int = DEFAULT_MAX_BYTES
    request_seconds: float = DEFAULT_REQUEST_SECONDS
    # time.monotonic() value after which the command stops (None: no overall deadline).
    command_end: float | None = None
    command_seconds: float | None = None
    clock: Callable[[], float] = field(default=time.monotonic)

    @classmethod
    def for_command(
        cls, timeout: float | None, request_seconds: float, max_bytes: int | None = None
    ) -> Bounds:
        now = time.monotonic()
        return cls(
            max_bytes=max_bytes or DEFAULT_MAX_BYTES,
            request_seconds=request_seconds,
            command_end=None if timeout is None else now + timeout,
            command_seconds=timeout,
        )

    def hooks(self) -> dict[str, list[Callable[..., Any]]]:
        return {"request": [self.on_request], "response": [self.on_response]}

    def transport(self, limits: httpx.Limits) -> httpx.HTTPTransport:
        """httpx's transport, its sockets wrapped so that no read or write outlives the
        request's deadline: an answer whose *headers* drip one byte a second never
        trips a per-read timeout, and the body check in :class:`_Stream` comes later."""
        transport = httpx.HTTPTransport(limits=limits)
        pool = getattr(transport, "_pool", None)
        if isinstance(pool, httpcore.ConnectionPool):  # not behind a proxy
            transport._pool = httpcore.ConnectionPool(  # noqa: SLF001 - no public hook
                ssl_context=pool._ssl_context,  # noqa: SLF001
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=_DeadlineBackend(self.clock),
            )
        return transport

    def _timed_out(self, request: httpx.Request) -> CommandTimeout:
        return CommandTimeout(
            f"{request.method} {request.url.path}: the command's --timeout of "
            f"{self.command_seconds:g}s has passed; stopping",
            method=request.method,
            path=request.url.path,
        )

    def on_request(self, request: httpx.Request) -> None:
        """Set this request's end, and clamp every socket timeout to the time left."""
        now = self.clock()
        seconds = self.request_seconds
        asked = request.extensions.get(SECONDS_LEFT)
        if isinstance(asked, (int, float)):
            seconds = min(seconds, max(0.001, float(asked)))
        end = now + seconds
        if self.command_end is not None:
            if now >= self.command_end:
                raise self._timed_out(request)
            end = min(end, self.command_end)
        left = max(0.001, end - now)
        timeouts = dict(request.extensions.get("timeout") or {})
        for key in ("connect", "read", "write", "pool"):
            value = timeouts.get(key)
            timeouts[key] = left if value is None else min(float(value), left)
        request.extensions["timeout"] = timeouts
        request.extensions[_END] = end
        # The socket reads of this request happen in this thread (httpx is synchronous
        # here): _DeadlineStream reads the end from here.
        _current.end = end
        _current.received = False

    def on_response(self, response: httpx.Response) -> None:
        """Refuse a stated length over the limit; count and time the body as it streams."""
        request = response.request
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large(request)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            # Decoded here, bounded, instead of by httpx, unbounded: a small gzip body
            # can inflate to gigabytes.
            wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
            decoder: Any = zlib.decompressobj(wbits)
            del response.headers["content-encoding"]
        elif encoding in ("", "identity"):
            decoder = None
        else:
            raise ApiError(
                f"{request.method} {request.url.path}: the answer is {encoding}-encoded, "
                "which scimctl did not ask for",
                method=request.method,
                path=request.url.path,
            )
        end = request.extensions.get(_END)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _Stream(self, response.stream, request, end, decoder)

    def _too_large(self, request: httpx.Request) -> AnswerTooLarge:
        return AnswerTooLarge(
            f"{request.method} {request.url.path}: the answer passed "
            f"{_megabytes(self.max_bytes)}; is api_url right? (a service with huge pages: "
            "raise SCIMCTL_MAX_ANSWER_MB)",
            method=request.method,
            path=request.url.path,
        )


_current = threading.local()


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the current request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, clock: Callable[[], float]) -> None:
        self.inner = inner
        self.clock = clock

    def _left(self, timeout: float | None, error: type[Exception]) -> float | None:
        end: float | None = getattr(_current, "end", None)
        if end is None:
            return timeout
        left = end - self.clock()
        if left <= 0:
            raise error(SLOW_ANSWER if getattr(_current, "received", False) else "timed out")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            data = bytes(self.inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout)))
        except httpcore.ReadTimeout:
            # Part of the answer came and the rest did not by the deadline: a drip, not
            # a silent service (which keeps httpx's "no answer in time").
            if getattr(_current, "received", False):
                raise httpcore.ReadTimeout(SLOW_ANSWER) from None
            raise
        if data:
            _current.received = True
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(*args, **kwargs), self.clock)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, its streams wrapped in :class:`_DeadlineStream`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.inner = httpcore.SyncBackend()
        self.clock = clock

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_tcp(*args, **kwargs), self.clock)

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.connect_unix_socket(*args, **kwargs), self.clock)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class _Stream(httpx.SyncByteStream):
    def __init__(
        self,
        bounds: Bounds,
        inner: httpx.SyncByteStream,
        request: httpx.Request,
        end: float | None,
        decoder: Any,
    ) -> None:
        self.bounds = bounds
        self.inner = inner
        self.request = request
        self.end = end
        self.decoder = decoder

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        limit = self.bounds.max_bytes
        for chunk in self.inner:
            if self.end is not None and self.bounds.clock() >= self.end:
                self.inner.close()
                end = self.bounds.command_end
                if end is not None and self.bounds.clock() >= end:
                    raise self.bounds._timed_out(self.request)
                raise AnswerTooSlow(
                    SLOW_ANSWER,
                    request=self.request,
                )
            if self.decoder is not None:
                try:
                    chunk = self.decoder.decompress(chunk, limit + 1 - size)
                except zlib.error:
                    self.inner.close()
                    raise ApiError(
                        f"{self.request.method} {self.request.url.path}: "
                        "the answer's compressed body is damaged",
                        method=self.request.method,
                        path=self.request.url.path,
                    ) from None
            size += len(chunk)
            if size > limit:
                self.inner.close()
                raise self.bounds._too_large(self.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()
