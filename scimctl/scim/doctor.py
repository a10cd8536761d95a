"""Probing a target before the first apply: what will work, what will not, and why.

Each check is a few requests whose answers scimctl depends on: the discovery
documents, one page of users, the inactive filter, a user's version. They are
read-only unless the caller asks for the write probe, which creates one
throw-away user, patches it (with a fresh and with a stale version) and deletes
it, to see the answers the apply will see: 200 or 204, 400 invalidVers or 412.
Given the manifest, it also checks what the manifest needs (as plan does), and the
write probe round-trips each attribute the manifest sets and adds the user to, and
removes it from, the manifest's first group.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimctl.errors import ScimctlError
from scimctl.model import Desired, LiveUser
from scimctl.plan.stored import describe, not_stored
from scimctl.scim.client import Capabilities, GenesysClient, ScimClient, index_refused
from scimctl.scim.ids import item_path
from scimctl.scim.mapping import members_patch, user_patch, user_to_scim
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
    def __init__(
        self, client: ScimClient, write: bool = False, desired: Desired | None = None
    ) -> None:
        self.client = client
        self.write = write
        # The manifest, when there is one: what it needs is checked (as plan checks it)
        # and --write round-trips the attributes it sets.
        self.desired = desired
        self.checks: list[Check] = []
        self.caps: Capabilities | None = None

    def _add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def run(self) -> list[Check]:
        steps: list[Callable[[], None]] = [
            self.reachability,
            self.auth,
            self.capabilities,
            self.needs,
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
        if not isinstance(self.client, GenesysClient):
            self.client._capabilities = caps  # later checks page as a plan would
        flags = (
            f"patch {_yes(caps.patch)}, etag {_yes(caps.etag)}, filter {_yes(caps.filter)}"
            f" (maxResults {caps.max_results or 'not stated'}), bulk {_yes(caps.bulk)}"
        )
        # A manifest that says how to look users up copes without filtering.
        copes = self.desired is not None and self.desired.limits.lookup != "externalId"
        self._add("capabilities", OK if caps.patch and (caps.filter or copes) else FAIL, flags)
        if not caps.patch:
            self._add("patch", FAIL, "the service does not support PATCH; scimctl writes with it")
        if not caps.filter and copes:
            lookup = self.desired.limits.lookup if self.desired else ""
            self._add("filter", WARN, f"no filter support: target.lookup: {lookup} instead")
        elif not caps.filter:
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

    def needs(self) -> None:
        """What the manifest needs and the service lacks: the refusals plan and apply
        would make (scim/needs.py), found here first."""
        if self.desired is None:
            return
        self.client.limits = self.desired.limits
        problems = self.client.unsupported(self.desired)
        for p in problems:
            self._add("manifest", FAIL, str(p))
        if not problems:
            self._add("manifest", OK, "the service offers what the manifest needs")

    def paging(self) -> None:
        asked = self.client.page_size
        path = self.client.users_path
        first = self._page(path, 1, asked)
        got, total = len(first["Resources"]), first["totalResults"]
        if got >= total:
            self._add("paging", OK, f"{count(total, 'user')} fit in one page of {asked:,}")
            return
        if self._by_cursor():
            nxt = first.get("nextCursor")
            if not isinstance(nxt, str) or not nxt:
                self._add("paging", FAIL, f"the first page names no nextCursor although "
                          f"totalResults is {total}")  # fmt: skip
                return
            second = self._page(path, 1 + got, asked, cursor=nxt)
        else:
            second = self._page(path, 1 + got, asked)
        ids1 = {r.get("id") for r in first["Resources"]}
        ids2 = {r.get("id") for r in second["Resources"]}
        how, paged_by = (
            (" by cursor (RFC 9865)", "the cursor") if self._by_cursor() else ("", "startIndex")
        )
        if not ids2:
            self._add("paging", FAIL, f"page 2 is empty although totalResults is {total}")
        elif ids1 & ids2:
            self._add("paging", FAIL, f"page 2 repeats page 1: the server ignores {paged_by}")
        elif got < asked:
            self._add("paging", OK, f"pages{how} hold at most {got:,} of the {asked:,} asked "
                      f"for; scimctl steps by what the server returns ({count(total, 'user')})"
                      )  # fmt: skip
        else:
            self._add("paging", OK, f"{count(total, 'user')} in pages of {got:,}{how}")

    def _by_cursor(self) -> bool:
        """Whether listings page by cursor: as the client pages (announced, or learned
        from a refused startIndex), so doctor reads the service as plan will."""
        return self.client.by_cursor or self.client.capabilities.cursor_only

    def _page(
        self, path: str, start: int, size: int, flt: str | None = None, cursor: str = ""
    ) -> dict[str, Any]:
        """One page of a listing, by startIndex or by cursor as the client pages; a
        refused startIndex (501, or 400 invalidValue) on a service that does not
        promise index paging switches the client to cursors, as a plan would."""
        params = {"count": str(size), "attributes": "id,active"}
        if flt:
            params["filter"] = flt
        if not self._by_cursor():
            try:
                return self._get_page(path, {**params, "startIndex": str(start)},
                                      f"at startIndex {start}")  # fmt: skip
            except ApiError as exc:
                if not index_refused(exc, self.client.capabilities):
                    raise
                self.client.by_cursor = True
                self._add("paging", OK, f"the service refused paging by index ({exc}); "
                          "scimctl pages by cursor (RFC 9865) there")  # fmt: skip
        where = "on page 2 by cursor" if cursor else "on page 1 by cursor"
        return self._get_page(path, {**params, "cursor": cursor}, where)

    def _get_page(self, path: str, params: dict[str, str], where: str) -> dict[str, Any]:
        body = json_body(self.client.transport.request("GET", path, params=params), "GET", path)
        resources, total = Pages(path, "Resources", "totalResults").read(body, where)
        return {
            "Resources": resources,
            "totalResults": len(resources) if total is None else total,
            "nextCursor": body.get("nextCursor"),
        }

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
            self.deactivation(live)
            self.roundtrips(live, tag)
            self.membership(live.id)
            if live.version:
                try:
                    client.transport.request(
                        "PATCH", item_path(client.users_path, live.id),
                        json=user_patch({"title": "stale"}),
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
            gone = client.get_user(live.id) is None
            detail = f"probe user {name} deleted" if gone else f"probe user {name} still listed"
            self._add("cleanup", OK if gone else WARN, detail)

    def deactivation(self, live: LiveUser) -> None:
        """The one write that must never fail (a leaver's access): ``active`` false by
        PATCH, with the version the user has, and read back."""
        client = self.client
        path = item_path(client.users_path, live.id)
        try:
            resp = client.transport.request(
                "PATCH", path, json=user_patch({"active": False}),
                headers=client._if_match(live.version),
            )  # fmt: skip
        except ApiError as exc:
            self._add("patch", FAIL, f"deactivation by PATCH (active false) is refused: {exc}")
            return
        answer = "204 No Content" if resp.status_code == 204 else f"{resp.status_code}"
        back = client.get_user(live.id)
        stored = back is not None and back.attrs.get("active") is False
        self._add("patch", OK if stored else FAIL, f"PATCH answers {answer}" + (
            " (scimctl reads the user back)" if resp.status_code == 204 else "") + (
            "; a deactivation is stored" if stored else
            "; but the user is still active after a deactivation"))  # fmt: skip

    def roundtrips(self, live: LiveUser, tag: str) -> None:
        """Each attribute the manifest sets, PATCHed on the probe user with a value the
        manifest gives it and read back: kept, not stored, or refused."""
        if self.desired is None:
            return
        per_entry = self.client.multi_valued == "entry"  # as apply writes lists
        for name, value in sample_values(self.desired, tag).items():
            if name in self.desired.limits.unsupported:
                self._add("roundtrip", SKIP, f"{name}: declared in target.unsupported")
                continue
            try:
                after = self._patch(live, name, value, per_entry=per_entry)
            except ApiError as exc:
                self._add("roundtrip", FAIL, f"{name}: PATCH refused: {exc}; declare it in "
                          "target.unsupported (apply would fail on it)")  # fmt: skip
                continue
            lost = not_stored({name: value}, after)
            if lost:
                sent, kept = lost[name]
                self._add("roundtrip", WARN, f"{describe(name, sent, kept)}; declare it in "
                          "target.unsupported to stop sending it")  # fmt: skip
            else:
                self._add("roundtrip", OK, f"{name}: kept what was sent ({value!r})")
            live = after

    def _patch(self, live: LiveUser, name: str, value: Any, per_entry: bool) -> LiveUser:
        """As apply writes it: entry by entry where the service may take value filters,
        whole where it refuses them (400/501)."""
        body = user_patch({name: value}, before=live.attrs, per_entry=per_entry)
        try:
            return self.client.patch_user(live.id, body, None)
        except ApiError as exc:
            if not per_entry or exc.status not in (400, 501):
                raise
            return self.client.patch_user(live.id, user_patch({name: value}), None)

    def membership(self, user_id: str) -> None:
        """The probe user added to the manifest's first group and removed again, as
        apply removes members: by filter, or by value where the filter is refused."""
        desired = self.desired
        if desired is None or not desired.groups or "groups" in desired.limits.unsupported:
            return
        live = {g.name: g for g in self.client.list_groups()}
        name = next((n for n in sorted(desired.groups) if n in live), None)
        if name is None:
            self._add("membership", SKIP, "none of the manifest's groups exists yet")
            return
        gid = live[name].id
        client = self.client
        try:
            client.patch_group(gid, members_patch([user_id], []), None)
        except ApiError as exc:
            self._add("membership", FAIL, f"adding a member to {name} is refused: {exc}")
            return
        how = 'by filter (members[value eq "…"])'
        try:
            client.patch_group(gid, members_patch([], [user_id]), None)
        except ApiError as exc:
            if exc.status not in (400, 501):
                raise
            try:
                client.patch_group(gid, members_patch([], [user_id], "value"), None)
            except ApiError as second:
                self._add("membership", FAIL, f"{name}: member removal refused by filter "
                          f"({exc}) and by value ({second})")  # fmt: skip
                return
            how = (
                f"by value only: the filter form is refused (HTTP {exc.status}); apply "
                "switches to the value form after the first refusal"
            )
        if user_id in client.get_group(gid).members:
            self._add("membership", FAIL, f"{name}: the removal was answered, but the probe "
                      "user is still a member")  # fmt: skip
            return
        self._add("membership", OK if how.startswith("by filter") else WARN,
                  f"{name}: member added and removed {how}")  # fmt: skip


def sample_values(desired: Desired, tag: str) -> dict[str, Any]:
    """A value for each attribute the manifest sets, taken from the first user that sets
    it; keys and addresses are the probe's own, and ``manager`` (another account) and
    ``active`` are left out."""
    out: dict[str, Any] = {}
    for key in sorted(desired.users):
        for name, value in desired.users[key].attrs.items():
            if name in ("userName", "active", "manager") or name in out:
                continue
            if value not in (None, [], ""):
                out[name] = value
    if "workEmail" in out:
        out["workEmail"] = f"scimctl-doctor-{tag}-work@example.com"
    return dict(sorted(out.items()))


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def run_doctor(
    client: ScimClient, *, write: bool = False, desired: Desired | None = None
) -> list[Check]:
    """All checks in order; a check that cannot run says why instead of raising."""
    return Doctor(client, write, desired).run()
