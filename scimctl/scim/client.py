"""Genesys Cloud resources over the transport: users, groups, roles, snapshots."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from scimctl.config import Credentials, Target
from scimctl.model import DeletedUser, LiveGroup, LiveRole, LiveUser, Snapshot
from scimctl.scim.mapping import (
    LIST_ATTRIBUTES,
    group_from_scim,
    role_from_platform,
    user_from_scim,
)
from scimctl.scim.schema import SCIM_PREFIX
from scimctl.scim.transport import (
    DEFAULT_TIMEOUT,
    RateBudget,
    RetryPolicy,
    TokenSource,
    Transport,
)

USERS = f"{SCIM_PREFIX}/Users"
GROUPS = f"{SCIM_PREFIX}/Groups"
ROLES = "/api/v2/authorization/roles"
PLATFORM_USERS = "/api/v2/users"
PLATFORM_PAGE_SIZE = 500


def quote(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 3.4.2.2)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class GenesysClient:
    """What scimctl asks of Genesys Cloud; one instance is shared by all workers."""

    def __init__(
        self, transport: Transport, page_size: int = 100, read_concurrency: int = 4
    ) -> None:
        self.transport = transport
        self.page_size = page_size
        self.read_concurrency = read_concurrency
        # Called with the number of items on each page read, for progress displays.
        self.on_page: Callable[[int], None] = lambda items: None

    @classmethod
    def connect(
        cls,
        target: Target,
        credentials: Credentials,
        *,
        parallelism: int = 8,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
    ) -> GenesysClient:
        limits = httpx.Limits(
            max_connections=parallelism + 4, max_keepalive_connections=parallelism + 4
        )
        http = httpx.Client(timeout=timeout, limits=limits)
        tokens = TokenSource(
            http, target.login_url, credentials.client_id, credentials.client_secret
        )
        transport = Transport(target.api_url, tokens, http, RateBudget(), retry)
        return cls(transport)

    def close(self) -> None:
        self.transport.http.close()

    def __enter__(self) -> GenesysClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ---------------------------------------------------------------
    def _pages(
        self, fetch: Callable[[int], tuple[list[Any], int]], pages_of: Callable[[int], int]
    ) -> list[Any]:
        def page(n: int) -> tuple[list[Any], int]:
            items, total = fetch(n)
            self.on_page(len(items))
            return items, total

        first, total = page(1)
        rest = range(2, pages_of(total) + 1)
        if not rest:
            return first
        with ThreadPoolExecutor(self.read_concurrency) as pool:
            return first + [
                item for items in pool.map(lambda n: page(n)[0], rest) for item in items
            ]

    def _scim_list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        size = self.page_size

        def fetch(n: int) -> tuple[list[Any], int]:
            query = {**params, "startIndex": str((n - 1) * size + 1), "count": str(size)}
            body = self.transport.request("GET", path, params=query).json()
            return body.get("Resources") or [], int(body.get("totalResults", 0))

        return self._pages(fetch, lambda total: math.ceil(total / size))

    def list_users(self, filter: str | None = None) -> list[LiveUser]:
        params = {"attributes": LIST_ATTRIBUTES}
        if filter:
            params["filter"] = filter
        return [user_from_scim(d) for d in self._scim_list(USERS, params)]

    def list_groups(self) -> list[LiveGroup]:
        docs = self._scim_list(GROUPS, {"attributes": "id,displayName,members,meta"})
        return [group_from_scim(d) for d in docs]

    def list_roles(self) -> list[LiveRole]:
        size = self.page_size

        def fetch(n: int) -> tuple[list[Any], int]:
            params = {"pageSize": str(size), "pageNumber": str(n), "userCount": "false"}
            body = self.transport.request("GET", ROLES, params=params).json()
            return body.get("entities") or [], int(body.get("total", 0))

        return [role_from_platform(d) for d in self._pages(fetch, lambda t: math.ceil(t / size))]

    def snapshot(self) -> Snapshot:
        """Everything a plan needs in one read; Genesys hides inactive users unless asked."""
        with ThreadPoolExecutor(4) as pool:
            active = pool.submit(self.list_users)
            inactive = pool.submit(self.list_users, "active eq false")
            groups = pool.submit(self.list_groups)
            roles = pool.submit(self.list_roles)
            users = {u.id: u for u in [*active.result(), *inactive.result()]}
            return Snapshot(
                users=tuple(sorted(users.values(), key=lambda u: u.id)),
                groups=tuple(sorted(groups.result(), key=lambda g: g.name)),
                roles=tuple(sorted(roles.result(), key=lambda r: r.name)),
            )

    def list_deleted_users(self) -> list[DeletedUser]:
        """Deleted accounts (Platform API, ``state=deleted``): SCIM cannot see them."""

        def fetch(n: int) -> tuple[list[Any], int]:
            params = {"state": "deleted", "pageSize": str(PLATFORM_PAGE_SIZE), "pageNumber": str(n)}
            body = self.transport.request("GET", PLATFORM_USERS, params=params).json()
            return body.get("entities") or [], int(body.get("total", 0))

        docs = self._pages(fetch, lambda t: math.ceil(t / PLATFORM_PAGE_SIZE))
        return [
            DeletedUser(
                id=str(d["id"]),
                user_name=str(d.get("email") or d.get("username") or ""),
                version=int(d.get("version", 0)),
                display_name=d.get("name"),
            )
            for d in docs
            if d.get("email") or d.get("username")
        ]

    def find_deleted_user(self, user_name: str, **kw: Any) -> DeletedUser | None:
        """The deleted account holding ``user_name``, if any (for 409 explanations)."""
        wanted = user_name.lower()
        for d in self.list_deleted_users():
            if d.user_name.lower() == wanted:
                return d
        return None

    def get_user(self, user_id: str, **kw: Any) -> LiveUser:
        resp = self.transport.request("GET", f"{USERS}/{user_id}", **kw)
        return user_from_scim(resp.json())

    def find_user(
        self, external_id: str | None = None, user_name: str | None = None, **kw: Any
    ) -> LiveUser | None:
        """Look a user up by its keys, active or not (for create retries and adoption)."""
        for attr, value in (("externalId", external_id), ("userName", user_name)):
            if not value:
                continue
            params = {"filter": f"{attr} eq {quote(value)}", "attributes": LIST_ATTRIBUTES}
            body = self.transport.request("GET", USERS, params=params, **kw).json()
            found = body.get("Resources") or []
            if found:
                return user_from_scim(found[0])
        return None

    def get_group(self, group_id: str, **kw: Any) -> LiveGroup:
        resp = self.transport.request("GET", f"{GROUPS}/{group_id}", **kw)
        return group_from_scim(resp.json())

    # -- writes --------------------------------------------------------------
    @staticmethod
    def _if_match(version: str | None) -> dict[str, str]:
        return {"If-Match": version} if version else {}

    def create_user(self, body: dict[str, Any], **kw: Any) -> LiveUser:
        resp = self.transport.request("POST", USERS, json=body, idempotent=False, **kw)
        return user_from_scim(resp.json())

    def patch_user(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser:
        resp = self.transport.request(
            "PATCH", f"{USERS}/{user_id}", json=body, headers=self._if_match(version), **kw
        )
        return user_from_scim(resp.json())

    def restore_user(self, user_id: str, version: int, **kw: Any) -> None:
        """Bring a deleted account back (Platform PATCH of its state, with its version)."""
        self.transport.request(
            "PATCH", f"{PLATFORM_USERS}/{user_id}",
            json={"state": "active", "version": version}, idempotent=False, **kw,
        )  # fmt: skip

    def delete_user(self, user_id: str, version: str | None, **kw: Any) -> None:
        self.transport.request(
            "DELETE", f"{USERS}/{user_id}", headers=self._if_match(version), **kw
        )

    def patch_group(
        self, group_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveGroup:
        resp = self.transport.request(
            "PATCH", f"{GROUPS}/{group_id}", json=body, headers=self._if_match(version), **kw
        )
        return group_from_scim(resp.json())
