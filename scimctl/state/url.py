"""State database URLs: the forms scimctl supports, and errors in the operator's words.

SQLAlchemy accepts many URL forms and fails on the others deep inside its plugin
loader (``NoSuchModuleError: sqlalchemy.dialects:postgres``) or on a missing driver
(``No module named 'MySQLdb'``). scimctl supports exactly two backends, so the URL
is checked here first and every refusal lists the forms that work.
"""

from __future__ import annotations

from typing import Any

from scimctl.errors import ConfigError, StateError

FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "or postgresql+psycopg://user@host:5432/database"
)


def normalize_state_url(url: str) -> str:
    """The URL SQLAlchemy should open, or a :class:`ConfigError` naming the forms."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    if not text:
        raise ConfigError(f"the state URL is empty; use {FORMS}")
    if "\x00" in text:
        raise ConfigError("the state URL contains a NUL byte")
    if "://" not in text:
        raise ConfigError(
            f"state URL {text!r} is not a URL; for a SQLite file use sqlite:///{text} "
            f"(supported: {FORMS})"
        )
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"state URL {masked_url(text)} cannot be parsed ({exc}); use {FORMS}"
        ) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        raise ConfigError(
            f"state URL {masked_url(text)}: write postgresql+psycopg:// instead of postgres://"
        )
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ConfigError(
                f"state URL {masked_url(text)}: SQLite driver {driver!r} is not supported"
            )
        return text
    if backend == "postgresql":
        if driver not in ("", "psycopg"):
            raise ConfigError(
                f"state URL {masked_url(text)}: PostgreSQL driver {driver!r} is not supported; "
                "use postgresql+psycopg://"
            )
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ConfigError(
        f"state URL {masked_url(text)}: the {backend!r} backend is not supported; use {FORMS}"
    )


def masked_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL: show only its scheme
        return url.split("://", 1)[0] + "://…"


def describe_db_error(exc: Any) -> StateError:
    """A SQLAlchemy error as one line about the state database, password hidden."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    text = f"state database: {orig.__class__.__name__}"
    if first:
        text += f": {first}"
    return StateError(text)
