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


@dataclass(frozen=True)
class Target:
    provider: str
    api_url: str
    login_url: str

    @property
    def workspace(self) -> str:
        """State in a shared database is kept per target."""
        return f"{self.provider}:{self.api_url}"


def resolve_target(
    provider: str = "genesys",
    region: str | None = None,
    api_url: str | None = None,
    login_url: str | None = None,
) -> Target:
    """An explicit ``api_url`` wins (the emulator); else the region's api./login. hosts."""
    if provider != "genesys":
        raise ConfigError(
            f"target.provider {provider!r} is not supported yet; scimctl speaks to Genesys Cloud"
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

    def __repr__(self) -> str:
        return f"Credentials(client_id={self.client_id!r}, client_secret='***')"


def environment(
    env: Mapping[str, str] | None = None, dotenv: str | Path = ".env"
) -> dict[str, str]:
    """Process environment over ``.env``: the shell always wins."""
    values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
    values.update(os.environ if env is None else env)
    return values


def load_credentials(env: Mapping[str, str] | None = None) -> Credentials:
    values = environment(env)
    client_id = values.get("GENESYS_CLIENT_ID", "")
    secret = values.get("GENESYS_CLIENT_SECRET", "")
    if not client_id or not secret:
        raise ConfigError(
            "missing credentials: set GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET "
            "(environment or .env)"
        )
    return Credentials(client_id, secret)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def state_url(
    explicit: str | None = None,
    env: Mapping[str, str] | None = None,
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
    values = environment(env)
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
