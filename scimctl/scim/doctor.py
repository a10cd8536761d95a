"""Probing a target before the first apply: what will work, what will not, and why.

Each check is a few requests whose answers scimctl depends on: the discovery
documents, one page of users, the inactive filter, a user's version. They are
read-only unless the caller asks for the write probe, which creates one
throw-away user, patches it (with a fresh and with a stale version) and deletes
it, to see the answers the apply will see: 200 or 204, 400 invalidVers or 412.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimctl.errors import ScimctlError
from scimctl.scim.client import Capabilities, ScimClient
from scimctl.scim.ids import item_path
from scimctl.scim.mapping import user_patch, user_to_scim
from scimctl.scim.paging import Pages
from scimctl.scim.schema import ENTERPRISE_USER, GENESYS_USER
from scimctl.scim.transport import ApiError, AuthError, json_body
from scimctl.text import count

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


class _Stop(Exception):
    """Nothing further can be probed (unreachable, or credentials refused)."""


class Doctor:
    def __init__(self, client: ScimClient, write: bool = False) -> None:
        self.client = client
        self.write = write
        self.checks: list[Check] = []
        self.caps: Capabilities | None = None

    def _add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def run(self) -> list[Check]:
        steps: list[Callable[[], None]] = [
            self.reachability,
            self.auth,
            self.capabilities,
            self.paging,
            self.inactive,
            self.versions,
            self.roles,
            self.writes,
        ]
        for step in steps:
            try:
                step()
            except _Stop:
                break
            except ScimctlError as exc:
                self._add(step.__name__, FAIL, str(exc))
        return self.checks

    # -- the checks --------------------------------------------------------------
    def reachability(self) -> None:
        path = f"{self.client.scim_path}/ServiceProviderConfig"
        try:
            resp = self.client.transport.http.get(self.client.transport.api_url + path)
        except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
            why = str(exc) if isinstance(exc, ScimctlError) else exc.__class__.__name__
            self._add("reachability", FAIL, f"cannot reach {self.client.transport.api_url}: "
                      f"{why}")  # fmt: skip
            raise _Stop from None
        url, code = self.client.transport.api_url, resp.status_code
        if code in (401, 403):  # an answer, but "ok" only for one to our credentials
            try:
                self.client.transport.request("GET", path)
                code = 200
            except AuthError:
                self._add("reachability", WARN, f"{url} answers only HTTP {code}: see auth")
                return
            except ApiError as exc:  # a 404 here still answers an authenticated request
                code = exc.status or code
        status = OK if code < 400 or code == 404 else WARN
        self._add("reachability", status, f"{url} answers (HTTP {code})")

    def auth(self) -> None:
        try:
            self.client.transport.request(
                "GET", self.client.users_path, params={"count": "1", "attributes": "id"}
            )
        except AuthError as exc:
            self._add("auth", FAIL, str(exc))
            raise _Stop from None
        kind = type(self.client.transport.tokens).__name__
        how = "static bearer token" if kind == "StaticToken" else "OAuth client credentials"
        self._add("auth", OK, f"{how} accepted")

    def capabilities(self) -> None:
        try:
            caps = self.client.discover()
        except ApiError as exc:
            self._add(
                "capabilities", WARN, f"no ServiceProviderConfig ({exc}); RFC defaults assumed"
            )
            caps = Capabilities()
        self.caps = caps
        if self.client.provider == "scim":
            self.client._capabilities = caps  # later checks page as a plan would
        flags = (
            f"patch {_yes(caps.patch)}, etag {_yes(caps.etag)}, filter {_yes(caps.filter)}"
            f" (maxResults {caps.max_results or 'not stated'}), bulk {_yes(caps.bulk)}"
        )
        self._add("capabilities", OK if caps.patch and caps.filter else FAIL, flags)
        if not caps.patch:
            self._add("patch", FAIL, "the service does not support PATCH; scimctl writes with it")
        if not caps.filter:
            self._add("filter", FAIL, "no filter support: scimctl looks users up by externalId")
        known = {ENTERPRISE_USER: "enterprise", GENESYS_USER: "genesys"}
        ext = ", ".join(known.get(e, e) for e in caps.user_extensions) or "none"
        status = OK if caps.enterprise else WARN
        detail = f"User extensions: {ext}"
        if not caps.enterprise:
            detail += " (department, division, employeeNumber cannot be managed)"
        self._add("extensions", status, detail)
        creatable = self.client.may_create_groups and "Group" in caps.resource_types
        self._add(
            "groups",
            OK,
            "possible: groups with create: true in the manifest are created"
            if creatable
            else "not possible: every group in the manifest must exist already",
        )
        for note in caps.notes:
            self._add("discovery", WARN, note)

    def paging(self) -> None:
        asked = self.client.page_size
        path = self.client.users_path
        first = self._page(path, 1, asked)
        got, total = len(first["Resources"]), first["totalResults"]
        if got >= total:
            self._add("paging", OK, f"{count(total, 'user')} fit in one page of {asked:,}")
            return
        second = self._page(path, 1 + got, asked)
        ids1 = {r.get("id") for r in first["Resources"]}
        ids2 = {r.get("id") for r in second["Resources"]}
        if not ids2:
            self._add("paging", FAIL, f"page 2 is empty although totalResults is {total}")
        elif ids1 & ids2:
            self._add("paging", FAIL, "page 2 repeats page 1: the server ignores startIndex")
        elif got < asked:
            self._add("paging", OK, f"pages hold at most {got:,} of the {asked:,} asked for; "
                      f"scimctl steps by what the server returns ({count(total, 'user')})"
                      )  # fmt: skip
        else:
            self._add("paging", OK, f"{count(total, 'user')} in pages of {got:,}")

    def _page(self, path: str, start: int, count: int, flt: str | None = None) -> dict[str, Any]:
        params = {"startIndex": str(start), "count": str(count), "attributes": "id,active"}
        if flt:
            params["filter"] = flt
        body = json_body(self.client.transport.request("GET", path, params=params), "GET", path)
        resources, total = Pages(path, "Resources", "totalResults").read(
            body, f"at startIndex {start}"
        )
        return {"Resources": resources, "totalResults": len(resources) if total is None else total}

    def inactive(self) -> None:
        """Whether inactive users need their own read: compare totals, not one page,
        since a server may order users any way it likes."""
        path = self.client.users_path
        try:
            inactive = self._page(path, 1, 1, "active eq false")["totalResults"]
            active = self._page(path, 1, 1, "active eq true")["totalResults"]
        except ApiError as exc:
            self._add("inactive", WARN, f"cannot filter on active ({exc}); inactive users "
                      "must then appear in plain listings")  # fmt: skip
            return
        plain = self._page(path, 1, 1)["totalResults"]
        if plain and not active:
            self._add("inactive", WARN, f"the filter active eq true returns 0 of {plain} users: "
                      "it is unreliable here (ignored, or not supported), so scimctl cannot "
                      "tell inactive users apart by filter")  # fmt: skip
            return
        if plain >= active + inactive:
            where = "listed in plain listings too"
        else:
            where = "hidden from plain listings (as Genesys does; scimctl reads them by filter)"
        self._add("inactive", OK, f"{inactive} inactive users by filter; {where}")

    def versions(self) -> None:
        body = self._page(self.client.users_path, 1, 1)
        if not body["Resources"]:
            self._add("etags", SKIP, "no user to read a version from")
            return
        uid = body["Resources"][0].get("id")
        path = item_path(self.client.users_path, uid)
        resp = self.client.transport.request("GET", path)
        version = resp.headers.get("etag") or (json_body(resp, "GET", path).get("meta") or {}).get(
            "version"
        )
        if version:
            self._add("etags", OK, f"users carry versions (e.g. {version}); writes send If-Match")
        else:
            self._add("etags", WARN, "no ETag or meta.version: concurrent edits cannot be detected")

    def roles(self) -> None:
        if not self.client.roles_known:
            self._add("roles", OK, "plain SCIM roles values; no catalogue, so names and "
                      "policy.deny_permissions are not checked")  # fmt: skip
            return
        roles = self.client.list_roles()
        self._add(
            "roles", OK, f"{count(len(roles), 'role')} readable (names and permissions checked)"
        )

    def writes(self) -> None:
        if not self.write:
            self._add("writes", SKIP, "read-only; --write creates, patches and deletes one "
                      "throw-away user to see PATCH and conflict answers")  # fmt: skip
            return
        client = self.client
        tag = secrets.token_hex(4)
        name = f"scimctl-doctor-{tag}@example.com"
        body = user_to_scim({"userName": name, "displayName": "scimctl doctor"}, f"doctor-{tag}")
        live = client.create_user(body)
        try:
            path = item_path(client.users_path, live.id)
            resp = client.transport.request(
                "PATCH", path, json=user_patch({"title": "probe"}),
                headers=client._if_match(live.version),
            )  # fmt: skip
            answer = "204 No Content" if resp.status_code == 204 else f"{resp.status_code}"
            self._add("patch", OK, f"PATCH answers {answer}" + (
                " (scimctl reads the user back)" if resp.status_code == 204 else ""))  # fmt: skip
            if live.version:
                try:
                    client.transport.request(
                        "PATCH", path, json=user_patch({"title": "stale"}),
                        headers={"If-Match": live.version},
                    )  # fmt: skip
                    self._add("conflict", WARN, "a stale If-Match was accepted: concurrent "
                              "edits will be overwritten")  # fmt: skip
                except ApiError as exc:
                    kind = "412" if exc.status == 412 else f"{exc.status} {exc.scim_type or ''}"
                    status = OK if exc.version_conflict else WARN
                    self._add(
                        "conflict", status, f"a stale If-Match is refused with {kind.strip()}"
                    )
        finally:
            client.delete_user(live.id, None)
            gone = client.find_user(f"doctor-{tag}") is None
            detail = f"probe user {name} deleted" if gone else f"probe user {name} still listed"
            self._add("cleanup", OK if gone else WARN, detail)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def run_doctor(client: ScimClient, *, write: bool = False) -> list[Check]:
    """All checks in order; a check that cannot run says why instead of raising."""
    return Doctor(client, write).run()
