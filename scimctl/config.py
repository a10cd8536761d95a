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

from scimctl.errors import ScimctlError

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


class ConfigError(ScimctlError, ValueError):
    pass


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
        api = api_url.rstrip("/")
        return Target(provider, api, (login_url or api).rstrip("/"))
    if not region:
        raise ConfigError("target needs either region or api_url")
    domain = REGIONS.get(region, region)
    if "." not in domain:
        raise ConfigError(f"unknown region {region!r}; use a domain such as mypurecloud.com")
    return Target(provider, f"https://api.{domain}", (login_url or f"https://login.{domain}"))


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
    """Process environment over ``.env``: the shell always wins."""
    values = {k: v for k, v in dotenv_values(dotenv).items() if v is not None}
    values.update(os.environ if env is None else env)
    return values


def load_credentials(
    env: Mapping[str, str] | None = None, provider: str | None = None
) -> Credentials | BearerToken:
    """Credentials for ``provider`` from the environment (any provider when None).

    A generic SCIM target takes ``SCIM_TOKEN``, else ``SCIM_CLIENT_ID`` and
    ``SCIM_CLIENT_SECRET``, else the Genesys pair, so one CI secret set can serve both.
    """
    values = environment(env)
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


def state_url(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    return explicit or environment(env).get("SCIMCTL_STATE") or DEFAULT_STATE_URL
