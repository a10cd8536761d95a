"""Bounded, sandboxed jinja2 for manifest templates (CSV ``map`` and ``when``).

A manifest comes from a pull request, so its templates are untrusted input. The
sandbox keeps them away from Python; this module also keeps them from exhausting
the machine, because ``validate`` must answer every input with located errors and
never hang or run out of memory:

* output is streamed and cut at :data:`MAX_OUTPUT` characters;
* each render has a wall-clock budget (:data:`RENDER_SECONDS`), enforced with a
  ``SIGALRM`` timer on the main thread, since a loop with no output never yields;
* every operation that allocates in one C call is checked *before* it runs:
  ``*`` on strings and lists, ``**``, ``%`` widths, ``str`` methods that pad,
  replace or join, and large integer arguments to filters (a timer cannot
  interrupt a single C call);
* any exception a template raises becomes :class:`TemplateFailure`, which the
  caller reports with the file, row and field.
"""

from __future__ import annotations

import contextlib
import functools
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import jinja2
import phonenumbers
from jinja2.sandbox import SandboxedEnvironment

MAX_OUTPUT = 65_536  # characters one render may produce
MAX_LEN = 100_000  # longest string or list one operation may build
MAX_INT_ARG = 10_000  # largest integer a filter accepts (widths, lengths, counts)
MAX_RANGE = 10_000
MAX_SOURCE = 16_384  # longest template text
RENDER_SECONDS = 0.5
UNSAFE_FILTERS = ("indent", "wordwrap", "center", "pprint", "urlize", "xmlattr", "batch", "slice")
# A width or precision of 6+ digits in a %-format or a {}-format field.
_WIDTH_RE = re.compile(r"%[-+ #0*]*\d{6,}|%[-+ #0*]*\d*\.\d{6,}|\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")


class TemplateFailure(Exception):
    """A template could not be compiled or rendered; the message says why."""


class TemplateTimeout(TemplateFailure):
    """A render ran out of time; the same template will on other rows too."""


class _Timeout(BaseException):
    # BaseException, so no ``except Exception`` inside jinja2 or a filter swallows it.
    pass


def phone(value: Any, region: str = "US") -> str:
    """A phone number as Genesys accepts it: E.164, or ``tel:+...;ext=...``.

    Empty input stays empty so that optional phone columns need no ``if``.
    """
    text = str(value or "").strip()
    if not text:
        return ""
    region = str(region).upper()
    # Only short text is kept: a cache of 65,536 long fields would hold gigabytes.
    ok, out = _e164_cached(text, region) if len(text) <= 64 else _e164(text, region)
    if not ok:
        raise TemplateFailure(out)
    return out


def _e164(text: str, region: str) -> tuple[bool, str]:
    """(True, the number as Genesys wants it) or (False, why it is refused)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False, f"{text!r} is not a phone number"
    if not phonenumbers.is_valid_number(number):
        return False, f"{text!r} is not a valid phone number for region {region}"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension:
        return True, f"tel:{e164};ext={number.extension}"
    return True, e164


# Parsing and validating a number costs more than rendering the rest of a row, and
# exports repeat numbers (switchboards, shared desks, a placeholder); the answer
# depends on the text and the region only.
_e164_cached = functools.lru_cache(maxsize=65_536)(_e164)


def _check_size(n: float, what: str) -> None:
    if n > MAX_LEN:
        raise TemplateFailure(f"{what} would build {int(n):,} items; the limit is {MAX_LEN:,}")


def _seq_len(x: Any) -> int | None:
    return len(x) if isinstance(x, str | list | tuple | bytes) else None


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name == "format" and any(isinstance(a, str) and _WIDTH_RE.search(a) for a in args):
            raise TemplateFailure("format width is too large")
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_INT_ARG:
                raise TemplateFailure(f"filter {name}: {arg} is larger than {MAX_INT_ARG:,}")
        return func(*args, **kwargs)

    return guarded


def _safe_range(*args: Any) -> range:
    rng = range(*args)
    _check_size(len(rng), "range()")
    return rng


class BoundedEnvironment(SandboxedEnvironment):
    """A sandbox that also refuses operations that would allocate without bound."""

    intercepted_binops = frozenset(["*", "**", "%"])

    def __init__(self) -> None:
        super().__init__(undefined=jinja2.StrictUndefined, autoescape=False)
        for name in UNSAFE_FILTERS:
            self.filters.pop(name, None)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters["phone"] = phone
        self.globals.pop("lipsum", None)
        self.globals["range"] = _safe_range

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                size = _seq_len(seq)
                if size is not None and isinstance(n, int):
                    _check_size(size * n, "repetition")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
                bits = right * max(abs(left).bit_length(), 1)
                if bits > 4096:
                    raise TemplateFailure(f"{left} ** {right} is too large")
        elif operator == "%" and isinstance(left, str) and _WIDTH_RE.search(left):
            raise TemplateFailure("format width is too large")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # jinja2 hands out str.format at attribute access, so check the widths here.
        owner = getattr(value, "__self__", None)
        name = getattr(value, "__name__", "")
        if isinstance(owner, str) and name in ("format", "format_map") and _WIDTH_RE.search(owner):
            raise TemplateFailure("format width is too large")
        return super().wrap_str_format(value)

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            _check_str_method(owner, name, args, kwargs)
            if name == "join":
                items = list(args[0]) if args else []
                _check_size(len(owner) * len(items) + sum(map(len, map(str, items))), "join")
                args = (items, *args[1:])
        return super().call(__context, __obj, *args, **kwargs)


def _check_str_method(s: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    values = [*args, *kwargs.values()]
    ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if name in ("center", "ljust", "rjust", "zfill") and ints:
        _check_size(ints[0], f"str.{name}")
    elif name == "expandtabs":
        _check_size(len(s) * (ints[0] if ints else 8), "str.expandtabs")
    elif name == "replace" and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        hits = len(s) + 1 if old == "" else s.count(old)
        _check_size(len(s) + hits * len(new), "str.replace")
    elif name in ("format", "format_map") and _WIDTH_RE.search(s):
        raise TemplateFailure("format width is too large")


_env = BoundedEnvironment()


def compile_template(source: str) -> jinja2.Template:
    """Compile one template; raise :class:`TemplateFailure` with a readable reason.

    Compiled templates are kept (they are immutable): manifests repeat the same
    expressions across sources, and compiling costs milliseconds.
    """
    cached = _compiled.get(source)
    if cached is None:
        cached = _compiled[source] = _compile(source)
        if len(_compiled) > 512:
            _compiled.pop(next(iter(_compiled)))
    return cached


_compiled: dict[str, jinja2.Template] = {}


def _compile(source: str) -> jinja2.Template:
    if len(source) > MAX_SOURCE:
        raise TemplateFailure(
            f"template is {len(source):,} characters; the limit is {MAX_SOURCE:,}"
        )
    try:
        return _env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailure(
            f"template error: {exc.message} (template line {exc.lineno})"
        ) from None
    except (RecursionError, MemoryError):
        raise TemplateFailure("template error: the template is nested too deeply") from None
    except Exception as exc:
        raise TemplateFailure(f"template error: {_describe(exc)}") from None


# A template that only prints one column: ``{{ row.email }}``.
_COLUMN = re.compile(r"\{\{\s*row\.([A-Za-z][A-Za-z0-9_]*)\s*\}\}")


class RowTemplate:
    """One ``map`` or ``when`` template of a CSV source, rendered once per row.

    Most fields of a real mapping are a constant (``department: Support``) or one
    column (``{{ row.employee_id }}``), and a jinja2 render costs a new context and
    arming the render timer each time: for 20,000 rows of 10 fields, a third of the
    load. Those two forms give exactly jinja2's output without running it (the
    constant is jinja2's own output, rendered once); anything else is rendered.
    """

    def __init__(self, source: str) -> None:
        self.template = compile_template(source)  # errors read the same for every form
        self.constant: str | None = None
        self.column: str | None = None
        if "{" not in source:  # no expression, statement or comment
            self.constant = render(self.template)
        elif (found := _COLUMN.fullmatch(source)) and not hasattr(dict, found[1]):
            # ``row.items`` would be the dict's method, not a column: that renders.
            self.column = found[1]

    def __call__(self, row: dict[str, str]) -> str:
        if self.constant is not None:
            return self.constant
        if self.column is not None:
            value = row.get(self.column)
            if isinstance(value, str) and len(value) <= MAX_OUTPUT:
                return value
        return render(self.template, row=row)


def render(template: jinja2.Template, **context: Any) -> str:
    """Render with bounded output and time; every failure is a :class:`TemplateFailure`."""
    deadline = time.monotonic() + RENDER_SECONDS
    timer: _Watch | _Alarm = _Watch(deadline) if _scoped else _Alarm(RENDER_SECONDS)
    try:
        with timer:
            parts: list[str] = []
            size = 0
            # Template.generate merges the globals through a ChainMap on every call,
            # a third of a render of a short field; the globals are the environment's
            # own (templates are compiled without extra ones), merged here directly.
            # Template.new_context would also copy the ChainMap's names into a set for
            # {% import %}, which has no loader here: the environment's dict serves.
            ctx = jinja2.runtime.new_context(
                _env,
                template.name,
                template.blocks,
                {**_env.globals, **context},
                True,
                _env.globals,
            )
            for chunk in template.root_render_func(ctx):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise TemplateFailure(
                        f"template output is over the limit of {MAX_OUTPUT:,} characters"
                    )
                if time.monotonic() > deadline:
                    raise _Timeout
                parts.append(chunk)
            return "".join(parts)
    except _Timeout:
        raise TemplateTimeout(
            f"template took longer than {RENDER_SECONDS} s to render; stopped"
        ) from None
    except TemplateFailure:
        raise
    except jinja2.UndefinedError as exc:
        raise TemplateFailure(f"template error: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateFailure(f"template error: {exc.message or exc}") from None
    except RecursionError:
        raise TemplateFailure("template error: recursion too deep") from None
    except Exception as exc:
        raise TemplateFailure(f"template error: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    if len(text) > 200:
        text = text[:200] + "..."
    return f"{exc.__class__.__name__}: {text}" if not isinstance(exc, ValueError) else text


_scoped = False  # inside render_scope: the handler is installed and the timer ticks
_deadline: float | None = None  # inside render_scope: when the running render must stop
_TICK = 0.05  # seconds between two looks at the running render's deadline


@contextlib.contextmanager
def render_scope() -> Iterator[None]:
    """Install the render timeout's SIGALRM handler once for many renders.

    Installing a handler costs more than rendering a short field (about a quarter of
    the time of a 20,000-row CSV source went to it), and arming and disarming a timer
    per render cost a tenth of it again; so a source installs the handler once for all
    its rows with a timer that ticks every :data:`_TICK` seconds, and each render only
    records its deadline, which the tick checks. A caller's own alarm is held for the
    scope and restored after it, as for a single render.
    """
    global _scoped
    if _scoped:
        yield
        return
    with _Alarm(0) as alarm:
        _scoped = alarm.active
        if _scoped:
            signal.setitimer(signal.ITIMER_REAL, _TICK, _TICK)
        try:
            yield
        finally:
            if _scoped:
                signal.setitimer(signal.ITIMER_REAL, 0)  # no tick once unscoped
            _scoped = False


def _fire(signum: int, frame: Any) -> None:
    if _scoped and (_deadline is None or time.monotonic() < _deadline):
        return  # render_scope's tick, and no render is overdue
    raise _Timeout


class _Watch:
    """One render inside :func:`render_scope`: its deadline, for the scope's tick."""

    __slots__ = ("deadline",)

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    def __enter__(self) -> _Watch:
        global _deadline
        _deadline = self.deadline
        return self

    def __exit__(self, *exc: object) -> None:
        global _deadline
        _deadline = None


class _Alarm:
    """A one-shot SIGALRM that raises :class:`_Timeout` (main thread only).

    Restores any timer and handler that was already set, so a caller's own alarm
    keeps working.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = False

    def __enter__(self) -> _Alarm:
        if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "setitimer"
        ):
            return self
        self.previous = signal.signal(signal.SIGALRM, _fire)
        self.previous_timer = signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.started = time.monotonic()
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        remaining, interval = self.previous_timer
        if remaining > 0:
            left = remaining - (time.monotonic() - self.started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), interval)
        self.active = False
