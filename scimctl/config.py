"""Where to connect and with what: target URLs, credentials, state URL.

Credentials come only from the environment or a ``.env`` file, never from the
manifest, and are held in a type whose ``repr`` hides the secret so that it cannot
reach a log or a traceback by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from scimctl.errors import ConfigError

DEFAULT_STATE_URL = "sqlite:///.scimctl/state.db"

# AWS region key -> Genesys Cloud domain (API host is api.<domain>, login host login.<domain>).
REGIONS = {
    "us-east-1": "mypurecloud.com",
    "us-east-2": "use2.us-gov-pure.cloud",
    "us-west-2": "usw2.pure.cloud",
    "ca-central-1": "cac1.pure.cloud",
    "sa-east-1": "sae1.pure.cloud",
    "mx-central-1": "mxc1.pure.cloud",
    "eu-west-1": "mypurecloud.ie",
    "eu-west-2": "euw2.pure.cloud",
    "eu-central-1": "mypurecloud.de",
    "eu-central-2": "euc2.pure.cloud",
    "me-central-1": "mec1.pure.cloud",
    "ap-south-1": "aps1.pure.cloud",
    "ap-southeast-1": "apse1.pure.cloud",
    "ap-southeast-2": "mypurecloud.com.au",
    "ap-northeast-1": "mypurecloud.jp",
    "ap-northeast-2": "apne2.pure.cloud",
    "ap-northeast-3": "apne3.pure.cloud",
}


PROVIDERS = ("genesys", "scim")


@dataclass(frozen=True)
class Target:
    """Where the directory is.

    For ``genesys``, ``api_url`` is the API host and ``login_url`` the login host. For
    ``scim``, ``api_url`` is the SCIM root (RFC 7644 ``base_url``) and ``login_url`` the
    full OAuth token URL, or empty for a static bearer token. The plan file records
    these three values, so a saved plan reconnects to exactly the same place.
    """

    provider: str
    api_url: str
    login_url: str

    @property
    def workspace(self) -> str:
        """State in a shared database is kept per target."""
        return f"{self.provider}:{self.api_url}"

    @property
    def token_url(self) -> str:
        if self.provider == "genesys":
            return self.login_url.rstrip("/") + "/oauth/token"
        return self.login_url


def _http_url(value: str, field_name: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"target.{field_name} must be an http(s) URL, not {value!r}")
    return value.rstrip("/")


def resolve_target(
    provider: str = "genesys",
    region: str | None = None,
    api_url: str | None = None,
    login_url: str | None = None,
    base_url: str | None = None,
    token_url: str | None = None,
) -> Target:
    """An explicit ``api_url`` wins (the emulator); else the region's api./login. hosts."""
    if provider not in PROVIDERS:
        raise ConfigError(
            f"target.provider {provider!r} is not supported; use one of {', '.join(PROVIDERS)}"
        )
    if provider == "scim":
        if region or api_url or login_url:
            raise ConfigError(
                "target.provider scim takes base_url (the SCIM root) and optionally token_url, "
                "not region, api_url or login_url"
            )
        if not base_url:
            raise ConfigError("target.provider scim needs base_url, the SCIM root URL")
        token = _http_url(token_url, "token_url") if token_url else ""
        return Target(provider, _http_url(base_url, "base_url"), token)
    if base_url or token_url:
        raise ConfigError(
            "base_url and token_url are for provider scim; Genesys Cloud takes region or api_url"
        )
    if api_url:
        api = check_url("target.api_url", api_url)
        login = check_url("target.login_url", login_url) if login_url else api
        return Target(provider, api, login)
    if not region:
        raise ConfigError("target needs either region or api_url")
    domain = REGIONS.get(region, region)
    if "." not in domain:
        raise ConfigError(f"unknown region {region!r}; use a domain such as mypurecloud.com")
    api = check_url("target.region", f"https://api.{domain}")
    login = check_url("target.login_url", login_url or f"https://login.{domain}")
    return Target(provider, api, login)


def check_url(name: str, url: str) -> str:
    """An http(s) URL that httpx and the resolver will accept, without its trailing slash.

    Checked up front so that a typo in the manifest is an error naming the setting,
    not an ``InvalidURL`` or an IDNA ``UnicodeError`` from deep inside a request.
    """
    import httpx

    text = url.strip().rstrip("/")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as exc:
        raise ConfigError(f"{name} {url!r} is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{name} {url!r} must be an http:// or https:// URL with a host")
    if parsed.port is not None and not 0 < parsed.port <= 65_535:
        raise ConfigError(f"{name} {url!r}: port {parsed.port} is not between 1 and 65535")
    host = parsed.host
    if ":" not in host:  # a name, not an IPv6 literal
        labels = host.rstrip(".").split(".")
        if len(host) > 253 or any(not 0 < len(label) <= 63 for label in labels):
            raise ConfigError(
                f"{name}: host {host[:40]!r}{'…' if len(host) > 40 else ''} is not a valid "
                "host name (labels of 1 to 63 characters, 253 in all)"
            )
    return text


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    # Which variables these came from, for error messages that say what to check.
    source: str = "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET"

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret='***')"


@dataclass(frozen=True)
class BearerToken:
    """A static SCIM bearer token (``SCIM_TOKEN``), as many SCIM services issue."""

    token: str = field(repr=False)
    source: str = "SCIM_TOKEN"

    def __repr__(self) -> str:
        return "BearerToken('***')"


def environment(
    env: Mapping[str, str] | None = None, dotenv: str | Path = ".env"
) -> dict[str, str]:
    """Process environment over ``.env``: the shell always wins.

    The one reader of ``.env``; the CLI calls it once per run, through
    :meth:`Config.load`.
    """
    values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
    values.update(os.environ if env is None else env)
    return values


@dataclass(frozen=True)
class Config:
    """One run's configuration: the process environment over ``.env``, read once.

    The CLI builds one when a command starts and hands it to what needs a setting
    (as Alembic's ``Config`` is handed to its commands), so every part of one run
    sees the same values and ``.env`` is parsed once. A library caller builds its own
    (``Config.load()``, or ``Config(values)`` with exactly the settings it means).
    """

    values: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, dotenv: str | Path = ".env") -> Config:
        return cls(environment(env, dotenv))

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def credentials(self, provider: str) -> Credentials | BearerToken:
        """The credentials for ``provider`` (see :func:`load_credentials`)."""
        return load_credentials(self.values, provider)

    def state_url(self, explicit: str | None = None, *, ci_needs_explicit: bool = False) -> str:
        """The state database URL (see :func:`state_url`)."""
        return state_url(explicit, self.values, ci_needs_explicit=ci_needs_explicit)

    @property
    def ci(self) -> bool:
        """Whether this runs in CI (``CI`` set to anything but a false value)."""
        return _truthy(self.values.get("CI"))

    @property
    def audit_key(self) -> str | None:
        """``SCIMCTL_AUDIT_KEY``: the journal is an HMAC chain under it when set."""
        return self.values.get("SCIMCTL_AUDIT_KEY") or None

    @property
    def webhook_secret(self) -> str | None:
        """``SCIMCTL_WEBHOOK_SECRET``: what HRIS webhook events are signed with."""
        return self.values.get("SCIMCTL_WEBHOOK_SECRET") or None


def load_credentials(values: Mapping[str, str], provider: str) -> Credentials | BearerToken:
    """Credentials for ``provider`` from the settings (:attr:`Config.values`).

    A generic SCIM target takes ``SCIM_TOKEN``, else ``SCIM_CLIENT_ID`` and
    ``SCIM_CLIENT_SECRET``, else the Genesys pair, so one CI secret set can serve both.
    """
    genesys = _pair(values, "GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET")
    if provider == "genesys":
        if genesys is None:
            raise ConfigError(
                "missing credentials: set GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET "
                "(environment or .env)"
            )
        return genesys
    if values.get("SCIM_TOKEN", "").strip():
        return BearerToken(values["SCIM_TOKEN"].strip())
    found = _pair(values, "SCIM_CLIENT_ID", "SCIM_CLIENT_SECRET") or genesys
    if found is None:
        raise ConfigError(
            "missing credentials: set SCIM_TOKEN, or SCIM_CLIENT_ID and SCIM_CLIENT_SECRET "
            "with target.token_url"
            + ("" if provider == "scim" else ", or GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET")
            + " (environment or .env)"
        )
    return found


def _pair(values: Mapping[str, str], id_var: str, secret_var: str) -> Credentials | None:
    client_id, secret = values.get(id_var, ""), values.get(secret_var, "")
    if not client_id or not secret:
        return None
    return Credentials(client_id, secret, source=f"{id_var} and {secret_var}")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def state_url(
    explicit: str | None,
    values: Mapping[str, str],
    *,
    ci_needs_explicit: bool = False,
) -> str:
    """The state database URL, refusing the cases where a fresh local file would lie.

    A new local SQLite state knows no managed accounts: the plan then adopts every
    account and leaves leavers alone instead of deactivating them. So an empty
    ``--state``/``SCIMCTL_STATE`` (what a missing CI secret expands to) is an error,
    and with ``ci_needs_explicit`` (plan and apply) so is relying on the default
    when ``CI`` is set. Each error is raised before any file is created.
    """
    if explicit is not None:
        if not explicit.strip():
            raise ConfigError(
                "--state is empty: give the state database URL "
                "(e.g. postgresql+psycopg://... or sqlite:///path/state.db)"
            )
        return explicit
    from_env = values.get("SCIMCTL_STATE")
    if from_env is not None and not from_env.strip():
        raise ConfigError(
            "SCIMCTL_STATE is set but empty (a missing CI secret?): set it to the state "
            "database URL, or unset it to use the local default "
            f"{DEFAULT_STATE_URL}"
        )
    if from_env:
        return from_env
    if ci_needs_explicit and _truthy(values.get("CI")):
        raise ConfigError(
            "CI is set but no state was given: set SCIMCTL_STATE (or --state) to the "
            "shared state database; in CI scimctl does not fall back to the local "
            f"{DEFAULT_STATE_URL}"
        )
    return DEFAULT_STATE_URL
