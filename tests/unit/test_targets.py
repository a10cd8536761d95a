"""Targets, credentials and the wire shapes that differ between providers (unit tests)."""

from __future__ import annotations

from typing import Any

import pytest

from scimctl.config import BearerToken, Credentials, load_credentials, resolve_target
from scimctl.errors import ConfigError
from scimctl.scim.client import parse_capabilities
from scimctl.scim.mapping import user_to_scim
from scimctl.scim.schema import CORE_USER, ENTERPRISE_USER, GENESYS_USER
from scimctl.scim.transport import ApiError


def test_scim_target_takes_base_url_and_optional_token_url():
    t = resolve_target("scim", base_url="https://idp.example.com/scim/v2/")
    assert (t.api_url, t.token_url, t.workspace) == (
        "https://idp.example.com/scim/v2",
        "",
        "scim:https://idp.example.com/scim/v2",
    )
    t = resolve_target("scim", base_url="https://x/scim", token_url="https://x/oauth2/token")
    assert t.token_url == "https://x/oauth2/token"
    assert (
        resolve_target(api_url="http://127.0.0.1:9").token_url == "http://127.0.0.1:9/oauth/token"
    )


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"provider": "scim"}, "needs base_url"),
        ({"provider": "scim", "base_url": "https://x", "region": "mypurecloud.com"}, "not region"),
        ({"provider": "scim", "base_url": "ftp://x"}, r"http\(s\) URL"),
        ({"provider": "scim", "base_url": "https://x", "token_url": "x"}, r"http\(s\) URL"),
        ({"provider": "genesys", "base_url": "https://x"}, "are for provider scim"),
        ({"provider": "okta", "base_url": "https://x"}, "not supported"),
    ],
)
def test_bad_targets_are_one_line_errors(kw, message):
    with pytest.raises(ConfigError, match=message):
        resolve_target(**kw)


def test_credentials_by_provider_and_never_in_repr():
    token = load_credentials({"SCIM_TOKEN": "s3cret"}, "scim")
    assert isinstance(token, BearerToken) and "s3cret" not in repr(token)
    pair = load_credentials({"SCIM_CLIENT_ID": "a", "SCIM_CLIENT_SECRET": "b"}, "scim")
    assert isinstance(pair, Credentials) and pair.source == "SCIM_CLIENT_ID and SCIM_CLIENT_SECRET"
    genesys = {"GENESYS_CLIENT_ID": "g", "GENESYS_CLIENT_SECRET": "h"}
    from_genesys = load_credentials(genesys, "scim")
    assert isinstance(from_genesys, Credentials) and from_genesys.client_id == "g"
    with pytest.raises(ConfigError, match="GENESYS_CLIENT_ID"):
        load_credentials({"SCIM_TOKEN": "s3cret"}, "genesys")
    with pytest.raises(ConfigError, match="set SCIM_TOKEN"):
        load_credentials({}, "scim")


def test_create_body_lists_only_the_schemas_it_uses():
    plain = user_to_scim({"userName": "a@example.com", "displayName": "A"}, "E1")
    assert plain["schemas"] == [CORE_USER] and GENESYS_USER not in str(plain)
    ent = user_to_scim({"userName": "a@example.com", "displayName": "A", "department": "X"}, "E1")
    assert ent["schemas"] == [CORE_USER, ENTERPRISE_USER]
    assert ent[ENTERPRISE_USER] == {"department": "X"}


def test_a_stale_version_is_400_invalidvers_or_412():
    assert ApiError("x", status=412).version_conflict
    assert ApiError("x", status=400, scim_type="invalidVers").version_conflict
    assert not ApiError("x", status=400, scim_type="invalidValue").version_conflict
    assert not ApiError("x", status=409, scim_type="uniqueness").version_conflict


def test_capabilities_from_terse_or_odd_discovery_documents():
    caps = parse_capabilities({}, [], [])
    assert caps.patch and caps.filter and not caps.etag and caps.max_results is None
    # A server's answers are whatever it sends, junk entries included.
    resource_types: list[Any] = [
        {"schema": CORE_USER, "name": "User", "schemaExtensions": [{"schema": ENTERPRISE_USER}]},
        "junk",
    ]
    schemas: list[Any] = [{"id": CORE_USER}, 7]
    caps = parse_capabilities(
        {"patch": {"supported": False}, "etag": {"supported": True},
         "filter": {"supported": True, "maxResults": "lots"}, "authenticationSchemes": "x"},
        resource_types,
        schemas,
    )  # fmt: skip
    assert not caps.patch and caps.etag and caps.max_results is None
    assert caps.enterprise and caps.schemas == (CORE_USER,)
