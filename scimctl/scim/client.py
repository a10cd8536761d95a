"""Directory resources over the transport: users, groups, roles, snapshots.

:class:`ScimClient` speaks RFC 7644 to any SCIM 2.0 service and reads its
capabilities from the discovery endpoints; it makes no Platform API call.
:class:`GenesysClient` is the same client under Genesys Cloud's path, with what only
the Platform API has: roles, divisions, deleted accounts (read and restored) and
grants per division. Whether a target is Genesys is decided once, by :func:`connect`
choosing the class; code that must know asks ``isinstance(client, GenesysClient)``,
and the differences the generic client has defaults for (``roles_known``,
``list_divisions``...) are overridden, not tested for. Both accept
what RFC 7644 allows a server to do that Genesys does not do today (204 on PATCH,
pages smaller than asked for, 412 on a stale version), so a change of behaviour
on either side costs a wrong answer nowhere.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

import httpx

from scimctl.config import BearerToken, Credentials, Target, environment
from scimctl.errors import ApiError, ConfigError, Problem
from scimctl.model import (
    DeletedUser,
    Desired,
    LiveDivision,
    LiveGroup,
    LiveRole,
    LiveUser,
    Snapshot,
    TargetLimits,
)
from scimctl.scim.bounded import Bounds
from scimctl.scim.entries import whole_emails, written_whole
from scimctl.scim.ids import check_id, item_path, kind, shown
from scimctl.scim.mapping import (
    ENTERPRISE_ATTRS,
    GENESYS_ATTRS,
    group_from_scim,
    list_attributes,
    role_from_platform,
    user_from_scim,
)
from scimctl.scim.needs import (
    COPE,
    Schemas,
    attribute_problems,
    group_problems,
    lookup_problems,
    parse_schemas,
)
from scimctl.scim.paging import Pages, by_cursor, check_start
from scimctl.scim.platform_grants import PlatformGrants
from scimctl.scim.pool import Budget, TokenPool, pool_sources
from scimctl.scim.replace import replaced
from scimctl.scim.schema import CORE_GROUP, CORE_USER, ENTERPRISE_USER, GENESYS_USER, SCIM_PREFIX
from scimctl.scim.transport import (
    DEFAULT_TIMEOUT,
    RateBudget,
    RetryPolicy,
    StaticToken,
    TokenSource,
    Transport,
    TransportStats,
    json_body,
)
from scimctl.text import count

# Genesys paths, kept for callers that name them (the journal, benchmarks).
USERS = f"{SCIM_PREFIX}/Users"
GROUPS = f"{SCIM_PREFIX}/Groups"
ROLES = "/api/v2/authorization/roles"
GROUP_ATTRIBUTES = "id,displayName,members,meta"


T = TypeVar("T")


def parsed(read: Callable[[dict[str, Any]], T], doc: Any, method: str, path: str) -> T:
    """One resource from a document, or one clear error naming what is missing."""
    try:
        return read(doc)
    except ValueError as exc:  # the checks at the edge say what is wrong, and where
        raise ApiError(f"{method} {path}: {exc}", method=method, path=path) from None
    except (KeyError, TypeError, AttributeError) as exc:
        what = f"missing {exc}" if isinstance(exc, KeyError) else exc.__class__.__name__
        raise ApiError(
            f"{method} {path}: the server sent a resource scimctl cannot read ({what})",
            method=method,
            path=path,
        ) from None


DIVISIONS = "/api/v2/authorization/divisions"
PERMITTED = "/api/v2/authorization/divisionspermitted/paged/me"
PLATFORM_USERS = "/api/v2/users"
PLATFORM_PAGE_SIZE = 500


def quote(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 3.4.2.2)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Capabilities:
    """What a service says it supports (RFC 7643 5-7), with RFC-friendly defaults for
    anything it leaves out, so that a terse ServiceProviderConfig still works."""

    patch: bool = True
    etag: bool = False
    filter: bool = True
    max_results: int | None = None
    bulk: bool = False
    sort: bool = False
    auth_schemes: tuple[str, ...] = ()
    user_extensions: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ("User", "Group")
    schemas: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    # Each listed schema's attributes and their mutability (scim/needs.py).
    attributes: Schemas = field(default_factory=Schemas)
    # RFC 9865's ``pagination``: None where the service does not say.
    index_paging: bool | None = None
    cursor_paging: bool | None = None
    max_page_size: int | None = None

    @property
    def cursor_only(self) -> bool:
        return self.cursor_paging is True and self.index_paging is False

    @property
    def enterprise(self) -> bool:
        return ENTERPRISE_USER in self.user_extensions


def index_refused(exc: ApiError, caps: Capabilities) -> bool:
    """Whether an error to a listing by ``startIndex`` means "page by cursor instead":
    501, or 400 ``invalidValue``, from a service that does not promise index paging and
    does not deny cursors (RFC 9865)."""
    refused = exc.status == 501 or (exc.status == 400 and exc.scim_type == "invalidValue")
    return refused and not caps.index_paging and caps.cursor_paging is not False


GENESYS_CAPABILITIES = Capabilities(
    patch=True,
    etag=True,
    filter=True,
    user_extensions=(ENTERPRISE_USER, GENESYS_USER),
    index_paging=True,  # docs/genesys.md: startIndex/count; never switched to cursors
)


def _flag(doc: dict[str, Any], name: str, default: bool) -> bool:
    value = doc.get(name)
    if isinstance(value, dict) and isinstance(value.get("supported"), bool):
        return bool(value["supported"])
    return default


def parse_capabilities(
    config: dict[str, Any], resource_types: list[dict[str, Any]], schemas: list[dict[str, Any]]
) -> Capabilities:
    """Capabilities from the three discovery documents, lenient about their shape."""
    flt = config.get("filter")
    max_results = flt.get("maxResults") if isinstance(flt, dict) else None
    user_type = next(
        (t for t in resource_types if isinstance(t, dict) and t.get("schema") == CORE_USER), {}
    )
    extensions = tuple(
        str(e.get("schema"))
        for e in user_type.get("schemaExtensions") or []
        if isinstance(e, dict) and e.get("schema")
    )
    pagination = config.get("pagination")
    paging = pagination if isinstance(pagination, dict) else {}
    max_page = paging.get("maxPageSize")
    return Capabilities(
        index_paging=paging.get("index") if isinstance(paging.get("index"), bool) else None,
        cursor_paging=paging.get("cursor") if isinstance(paging.get("cursor"), bool) else None,
        max_page_size=max_page if isinstance(max_page, int) and max_page > 0 else None,
        patch=_flag(config, "patch", True),
        etag=_flag(config, "etag", False),
        filter=_flag(config, "filter", True),
        max_results=max_results if isinstance(max_results, int) and max_results > 0 else None,
        bulk=_flag(config, "bulk", False),
        sort=_flag(config, "sort", False),
        auth_schemes=tuple(
            str(s.get("type"))
            for s in config.get("authenticationSchemes") or []
            if isinstance(s, dict)
        ),
        user_extensions=extensions,
        resource_types=tuple(
            str(t.get("name")) for t in resource_types if isinstance(t, dict) and t.get("name")
        ),
        schemas=tuple(str(s.get("id")) for s in schemas if isinstance(s, dict) and s.get("id")),
        attributes=parse_schemas(schemas),
    )


class ScimClient:
    """What scimctl asks of a SCIM 2.0 service; one instance is shared by all workers."""

    # A generic service has no role catalogue: roles are plain values, not checked.
    roles_known = False
    # Whether POST to /Groups may be tried at all (then only if /ResourceTypes lists Group).
    may_create_groups = True
    # Whether a user PATCH asks for the user back (``attributes=``, see patch_user).
    asks_patched_attributes = True
    # How a run first writes emails and phoneNumbers (scim/entries.py): "entry" by
    # entry, as RFC 7644 allows, until the service refuses value filters.
    multi_valued = "entry"

    # How long search (listings, filters) may take to show a write: a create whose
    # outcome is unknown is looked up for ``search_wait`` seconds before it is sent
    # again; a 409 on that second try means the first one landed, and it is looked up
    # for ``conflict_wait`` (the Terraform provider's three minutes) before giving up.
    search_wait: float = 2.0
    conflict_wait: float = 180.0

    def __init__(
        self,
        transport: Transport,
        page_size: int = 100,
        read_concurrency: int = 4,
        scim_path: str = "",
        capabilities: Capabilities | None = None,
    ) -> None:
        self.transport = transport
        self.page_size = page_size
        self.read_concurrency = read_concurrency
        self.scim_path = scim_path
        self.users_path = f"{scim_path}/Users"
        self.groups_path = f"{scim_path}/Groups"
        self._capabilities = capabilities
        # The service answered 400 to a user read's ``attributes`` list (see _users_read).
        self.attributes_refused = False
        # The service refused paging by index: listings go by cursor (see _scim_list).
        self.by_cursor = False
        # What the client learned about the service during the run, said once each.
        self.learned: list[str] = []
        self.notify: Callable[[str], None] = lambda note: None
        self._learn_lock = threading.Lock()
        # Called with the number of items on each page read, for progress displays.
        self.on_page: Callable[[int], None] = lambda items: None
        # The manifest's word on this target's limits (read_directory sets it): how
        # find_user looks users up.
        self.limits = TargetLimits()

    @classmethod
    def connect(
        cls,
        target: Target,
        credentials: Credentials | BearerToken,
        *,
        parallelism: int = 8,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        bounds: Bounds | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Self:
        """Open a client; with ``budget``, requests spread over a pool of tokens of the
        one client under the budget's org ceiling (see :mod:`scimctl.scim.pool`), whose
        further clients' credentials come from ``env`` (the run's
        :attr:`~scimctl.config.Config.values`)."""
        # Enough connections for apply's workers or for the pages a plan reads at once
        # (two listings, active and inactive, each read_concurrency pages).
        connections = max(parallelism, 2 * (budget.read_concurrency if budget else 4)) + 4
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        bounds = bounds or Bounds()
        http = httpx.Client(
            timeout=timeout,
            transport=bounds.transport(limits),
            event_hooks=bounds.hooks(),
            # Only what scim/bounded.py decodes within the size limit.
            headers={"Accept-Encoding": "gzip, deflate"},
        )
        tokens: TokenSource | StaticToken
        if isinstance(credentials, BearerToken):
            tokens = StaticToken(credentials.token)
        else:
            if not target.token_url:
                http.close()
                raise ConfigError(
                    f"{credentials.source} are client credentials, which need target.token_url; "
                    "or set SCIM_TOKEN for a static bearer token"
                )
            tokens = TokenSource(
                http,
                target.token_url,
                credentials.client_id,
                credentials.client_secret,
                hint=credentials.source,
            )
        if budget is None or (budget.tokens == 1 and not budget.max_rate):
            transport = Transport(target.api_url, tokens, http, RateBudget(), retry)
            return cls(transport)
        sources: list[TokenSource | StaticToken] = [tokens]
        if isinstance(tokens, TokenSource):
            try:
                sources = pool_sources(tokens, budget, env if env is not None else environment())
            except ConfigError:
                http.close()
                raise
        pool = TokenPool(sources, budget.max_rate)
        client = cls(Transport(target.api_url, pool.tokens, http, pool, retry))
        client.read_concurrency = budget.read_concurrency
        return client

    @property
    def request_stats(self) -> TransportStats:
        """Every request this client sent so far, counted by outcome (for a run's metrics)."""
        return self.transport.stats

    def close(self) -> None:
        self.transport.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- discovery -------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            self._capabilities = self.discover()
        return self._capabilities

    def _get(self, path: str, **kw: Any) -> dict[str, Any]:
        return json_body(self.transport.request("GET", path, **kw), "GET", path)

    def discover(self) -> Capabilities:
        """Read /ServiceProviderConfig, /ResourceTypes and /Schemas (RFC 7644 4).

        Only the first is required; services that leave out the others still work,
        with the extensions they do not announce treated as absent.
        """
        config = self._get(f"{self.scim_path}/ServiceProviderConfig")
        notes = []
        listed: dict[str, list[dict[str, Any]]] = {}
        for name in ("ResourceTypes", "Schemas"):
            try:
                path = f"{self.scim_path}/{name}"
                listed[name], _ = Pages(path, "Resources", "totalResults").read(
                    self._get(path), "(discovery)"
                )
            except ApiError as exc:
                listed[name] = []
                notes.append(f"/{name}: {exc}")
        caps = parse_capabilities(config, listed["ResourceTypes"], listed["Schemas"])
        return Capabilities(**{**caps.__dict__, "notes": tuple(notes)})

    def unsupported(self, desired: Desired) -> list[Problem]:
        """What the manifest needs that this service lacks, found before any read or
        write (scim/needs.py), unless the manifest says how to cope.

        Without the enterprise extension, department, division and employeeNumber
        would be sent on every apply and never read back: a plan that never settles.
        """
        caps = self.capabilities
        problems = []
        if not caps.patch:
            problems.append(
                Problem(
                    "directory",
                    "target",
                    "the service announces no PATCH support "
                    "(ServiceProviderConfig patch.supported); scimctl updates users and "
                    "group members with PATCH",
                )  # fmt: skip
            )
        needs = [
            (ENTERPRISE_USER, "enterprise User", (*ENTERPRISE_ATTRS, "manager")),
            (GENESYS_USER, "Genesys User", GENESYS_ATTRS),
        ]
        by_attr: dict[tuple[str, str], list[str]] = {}
        for urn, label, names in needs:
            if urn in caps.user_extensions:
                continue
            for key, spec in sorted(desired.users.items()):
                for name in names:
                    if name in desired.limits.unsupported:
                        continue
                    if spec.attrs.get(name) not in (None, [], ""):
                        by_attr.setdefault((label, name), []).append(key)
        problems += [
            Problem(
                "directory",
                name,
                f"the service announces no {label} extension, so {name} cannot be "
                f"managed (set for {count(len(keys), 'user')}, e.g. {keys[0]}); {COPE}",
            )
            for (label, name), keys in sorted(by_attr.items())
        ]
        return problems + self._discovered_limits(desired, {name for (_, name) in by_attr})

    def _discovered_limits(self, desired: Desired, missing: set[str]) -> list[Problem]:
        """What the discovery documents say the service cannot hold (attributes,
        groups, lookups), beyond the ``missing`` extension attributes already said."""
        caps = self.capabilities
        problems = [
            p for p in attribute_problems(desired, caps.attributes) if p.field not in missing
        ]
        problems += group_problems(desired, caps.resource_types, caps.attributes)
        return problems + lookup_problems(desired, caps.filter)

    def _learn(self, note: str) -> None:
        with self._learn_lock:
            if note in self.learned:
                return
            self.learned.append(note)
        self.notify(note)

    # -- reads -----------------------------------------------------------------
    def _scim_list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every resource of a listing: by index (RFC 7644 3.4.2.4), or by cursor
        (RFC 9865) on a service that pages only so. A service says so in its
        ServiceProviderConfig (``pagination.index: false``) or by refusing
        ``startIndex`` (501, or 400 ``invalidValue``; scim2-server answers "Pagination
        by index is not supported"); the refusal is learned once per client and said.
        A service that announces index paging is never switched, and where the cursor
        read fails too, the refusal of the index is what is reported."""
        caps = self.capabilities
        if self.by_cursor or caps.cursor_only:
            return self._cursor_list(path, params)
        try:
            return self._index_list(path, params)
        except ApiError as exc:
            if not index_refused(exc, caps):
                raise
            try:
                docs = self._cursor_list(path, params)
            except ApiError:
                raise exc from None
            self.by_cursor = True
            self._learn(
                f"the service refused paging by index ({str(exc).split(': ', 1)[-1]}); "
                "listings were read by cursor (RFC 9865) for the rest of the run"
            )
            return docs

    def _cursor_list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        pages = Pages(path, "Resources", "totalResults")
        return by_cursor(
            lambda query: self._get(path, params={**params, **query}),
            pages, self._page_size(), self.on_page,
        )  # fmt: skip

    def _index_list(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every resource of a listing, stepping by what the server actually returns.

        RFC 7644 3.4.2.4 makes ``count`` a wish: a server may return fewer items per
        page (its ``filter.maxResults``). The first page tells how many it gives; the
        next pages are read ``read_concurrency`` at a time from there, and if any page
        comes back with another length the read carries on from where that page ended,
        dropping the guesses after it. A page that is empty before ``totalResults`` is reached
        is an error: a plan made from half a directory would re-create the other half.
        """
        size = self._page_size()
        pages = Pages(path, "Resources", "totalResults")

        def fetch(start: int) -> tuple[list[dict[str, Any]], int]:
            query = {**params, "startIndex": str(start), "count": str(size)}
            where = f"at startIndex {start}"
            body = self._get(path, params=query)
            items, total = pages.read(body, where)
            check_start(pages, body, start, where)
            self.on_page(len(items))
            return items, len(items) if total is None else total

        items, total = fetch(1)
        pages.check(items, total, "at startIndex 1")
        out = list(items)
        step = len(items)
        start = 1 + len(items)
        if start > total:
            return out
        if step == 0:
            raise self._short_read(path, start, total)
        # A sliding window of guesses at where the next pages start, so that
        # read_concurrency requests stay in flight; any page of another length than
        # the step makes the guesses behind it wrong, and they are dropped.
        with ThreadPoolExecutor(self.read_concurrency) as pool:
            window: deque[tuple[int, Future[tuple[list[dict[str, Any]], int]]]] = deque()
            guess = start
            try:
                while start <= total:
                    while len(window) < self.read_concurrency and guess <= total:
                        window.append((guess, pool.submit(fetch, guess)))
                        guess += step
                    if not window:
                        raise self._short_read(path, start, total)
                    page_start, future = window.popleft()
                    if page_start != start:
                        continue
                    page, total = future.result()
                    if not page:
                        if start <= total:
                            raise self._short_read(path, start, total)
                        break
                    pages.check(page, total, f"at startIndex {start}")
                    out.extend(page)
                    start += len(page)
                    if len(page) != step:
                        for _, stale in window:
                            stale.cancel()
                        window.clear()
                        step, guess = len(page), start
            finally:
                for _, pending in window:
                    pending.cancel()
        return out

    @staticmethod
    def _short_read(path: str, start: int, total: int) -> ApiError:
        return ApiError(
            f"GET {path}: the server returned no items at startIndex {start} although "
            f"totalResults is {total}; refusing to plan from a partial listing",
            method="GET",
            path=path,
        )

    def _page_size(self) -> int:
        caps = self.capabilities
        return min(n for n in (self.page_size, caps.max_results, caps.max_page_size) if n)

    def _user_attributes(self) -> str:
        return list_attributes(
            enterprise=self.capabilities.enterprise,
            genesys=GENESYS_USER in self.capabilities.user_extensions,
        )

    def _users_read(self, read: Callable[[dict[str, str]], T], params: dict[str, str]) -> T:
        """``read(params)`` with the ``attributes`` list, or without it once the service
        refused it (400): SCIMMY 1.3.5 fails on the list as soon as a user carries
        enterprise data. Learned once per client; the full resources are read then."""
        if not self.attributes_refused:
            try:
                return read({**params, "attributes": self._user_attributes()})
            except ApiError as exc:
                if exc.status != 400:
                    raise
                self.attributes_refused = True
        return read(params)

    def list_users(self, filter: str | None = None) -> list[LiveUser]:
        params = {"filter": filter} if filter else {}
        docs = self._users_read(lambda p: self._scim_list(self.users_path, p), params)
        return [parsed(user_from_scim, d, "GET", self.users_path) for d in docs]

    def list_groups(self) -> list[LiveGroup]:
        docs = self._scim_list(self.groups_path, {"attributes": GROUP_ATTRIBUTES})
        return [parsed(group_from_scim, d, "GET", self.groups_path) for d in docs]

    def list_roles(self) -> list[LiveRole]:
        return []

    def list_divisions(self) -> tuple[LiveDivision, ...] | None:
        """None: a generic SCIM service has no divisions (GenesysClient reads them)."""
        return None

    def snapshot(self) -> Snapshot:
        """Everything a plan needs in one read.

        Inactive users are read with a filter of their own as well, because Genesys
        hides them from plain listings and other services may too; duplicates merge.
        """
        caps = self.capabilities
        with ThreadPoolExecutor(5) as pool:
            active = pool.submit(self.list_users)
            inactive = pool.submit(self.list_users, "active eq false") if caps.filter else None
            # A service without groups: nothing to list (the manifest must not need any).
            groups = pool.submit(self.list_groups if "Group" in caps.resource_types else list)
            roles = pool.submit(self.list_roles)
            divisions = pool.submit(self.list_divisions)
            found = [*active.result(), *(inactive.result() if inactive else [])]
            users = {u.id: u for u in found}
            return Snapshot(
                users=tuple(sorted(users.values(), key=lambda u: u.id)),
                groups=tuple(sorted(groups.result(), key=lambda g: g.name)),
                roles=tuple(sorted(roles.result(), key=lambda r: r.name)),
                roles_known=self.roles_known,
                divisions=divisions.result(),
                groups_creatable=self.may_create_groups and "Group" in caps.resource_types,
            )

    def find_deleted_user(self, user_name: str, **kw: Any) -> DeletedUser | None:
        """None: a generic SCIM service shows no deleted accounts (GenesysClient's do)."""
        return None

    def find_user(
        self, external_id: str | None = None, user_name: str | None = None, **kw: Any
    ) -> LiveUser | None:
        """Look a user up by its keys, active or not (for create retries and adoption):
        by filter, or, where the manifest says the service cannot filter
        (``target.lookup``), on the userName only or in every page."""
        if self.limits.lookup == "pages":
            return self._find_in_pages(external_id, user_name)
        for attr, value in (("externalId", external_id), ("userName", user_name)):
            if not value or (attr == "externalId" and self.limits.lookup == "userName"):
                continue
            params = {"filter": f"{attr} eq {quote(value)}"}
            body = self._users_read(lambda p: self._get(self.users_path, params=p, **kw), params)
            found, _ = Pages(self.users_path, "Resources", "totalResults").read(body, f"by {attr}")
            if found:
                return parsed(user_from_scim, found[0], "GET", self.users_path)
        return None

    def _find_in_pages(self, external_id: str | None, user_name: str | None) -> LiveUser | None:
        name = (user_name or "").lower()
        inactive = self.list_users("active eq false") if self.capabilities.filter else []
        for user in [*self.list_users(), *inactive]:
            if (external_id and user.external_id == external_id) or (
                name and user.user_name.lower() == name
            ):
                return user
        return None

    def get_user(self, user_id: str, **kw: Any) -> LiveUser | None:
        """One user by id, straight from the store (no search lag); None if gone."""
        path = item_path(self.users_path, user_id)
        try:
            doc = self._users_read(lambda p: self._get(path, params=p, **kw), {})
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return parsed(user_from_scim, doc, "GET", path)

    def find_group(self, display_name: str, **kw: Any) -> LiveGroup | None:
        """A group by displayName straight from a filter (for group create retries)."""
        params = {"filter": f"displayName eq {quote(display_name)}"}
        found = self._get(self.groups_path, params={**params, "attributes": GROUP_ATTRIBUTES}, **kw)
        docs, _ = Pages(self.groups_path, "Resources", "totalResults").read(found, "by name")
        for doc in docs:
            group = parsed(group_from_scim, doc, "GET", self.groups_path)
            if group.name == display_name:
                return group
        return None

    def get_group(self, group_id: str, **kw: Any) -> LiveGroup:
        path = item_path(self.groups_path, group_id)
        return parsed(group_from_scim, self._get(path, **kw), "GET", path)

    # -- writes ----------------------------------------------------------------
    @staticmethod
    def _if_match(version: str | None) -> dict[str, str]:
        return {"If-Match": version} if version else {}

    def create_user(self, body: dict[str, Any], **kw: Any) -> LiveUser:
        resp = self.transport.request("POST", self.users_path, json=body, idempotent=False, **kw)
        doc = json_body(resp, "POST", self.users_path)
        user = parsed(user_from_scim, doc, "POST", self.users_path)
        return _with_etag(user, resp, self.capabilities)

    def create_group(self, name: str, **kw: Any) -> LiveGroup:
        """POST an empty group; members follow in PATCHes like any group's.

        Not idempotent: a create whose reply is lost is looked up, never re-sent blind.
        """
        body = {"schemas": [CORE_GROUP], "displayName": name}
        path = self.groups_path
        resp = self.transport.request("POST", path, json=body, idempotent=False, **kw)
        group = parsed(group_from_scim, json_body(resp, "POST", path), "POST", path)
        version = header_version(resp, self.capabilities)
        if group.version is None and version:
            group = LiveGroup(group.id, group.name, group.members, version)
        return group

    def patch_user(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser:
        """PATCH, then the user as it now is.

        RFC 7644 3.5.2 lets a server answer 204 with no body; then the user is read
        back, since the state records what the directory holds, not what was sent.
        It also lets the client ask for the resource in the answer (``attributes=``):
        services other than Genesys are asked (``asks_patched_attributes``), and one that
        honours it (scim2-server) costs one request per update, not two. A 400 to the
        PATCH with the list is sent again without it, and the list is not asked for again
        (_users_read). A 501 to a PATCH of plain replaces (django-scim2 patches no
        externalId, so an adoption could never be written) is carried out by a PUT
        instead. GenesysClient takes none of these detours.
        """
        ops = body.get("Operations") or []
        if written_whole(ops):
            # An RFC service that refused value filters: the list is written whole
            # from a read, keeping the main address and the entries scimctl does not
            # manage (scim/entries.py).
            path = item_path(self.users_path, user_id)
            current = self._get(path, trace=kw.get("trace"))
            body = {**body, "Operations": whole_emails(ops, current)}
            if version is None:
                version = parsed(user_from_scim, current, "GET", path).version
        try:
            return self._patch_user(user_id, body, version, **kw)
        except ApiError as exc:
            if exc.status != 501:
                raise
            put = self._put_instead(user_id, body, version, **kw)
            if put is None:
                raise
            self._learn(
                f"the service refused a PATCH of plain attributes "
                f"({str(exc).split(': ', 1)[-1]}); such changes were written with a PUT of "
                "the whole user as read just before it"
            )
            return put

    def _put_instead(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser | None:
        """The PATCH carried out by a PUT of the user read just now (scim/replace.py),
        guarded by its version where it has one; None when the PATCH is not plain."""
        path = item_path(self.users_path, user_id)
        current = self._get(path, trace=kw.get("trace"))
        doc = replaced(current, body.get("Operations") or [])
        if doc is None:
            return None
        doc.pop("meta", None)
        if version is None:
            version = parsed(user_from_scim, current, "GET", path).version
        resp = self.transport.request("PUT", path, json=doc, headers=self._if_match(version), **kw)
        user = parsed(user_from_scim, json_body(resp, "PUT", path), "PUT", path)
        return _with_etag(user, resp, self.capabilities)

    def _patch_user(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser:
        path = item_path(self.users_path, user_id)
        headers = self._if_match(version)
        if self.asks_patched_attributes and not self.attributes_refused:
            params = {"attributes": self._user_attributes()}
            try:
                resp = self.transport.request(
                    "PATCH", path, json=body, headers=headers, params=params, **kw
                )
            except ApiError as exc:
                if exc.status != 400 or exc.version_conflict:
                    raise
                self.attributes_refused = True
                resp = self.transport.request("PATCH", path, json=body, headers=headers, **kw)
        else:
            resp = self.transport.request("PATCH", path, json=body, headers=headers, **kw)
        if resp.status_code != 204 and resp.content:
            doc = json_body(resp, "PATCH", path)
            return _with_etag(parsed(user_from_scim, doc, "PATCH", path), resp, self.capabilities)
        live = self.get_user(user_id, trace=kw.get("trace"))
        if live is None:
            raise ApiError(f"PATCH {path}: the user is gone", status=404, method="PATCH", path=path)
        return live

    def restore_user(self, user_id: str, version: int, **kw: Any) -> None:
        """Never called: only a Genesys plan restores (it alone reads deleted accounts)."""
        raise ApiError(
            "a generic SCIM service shows no deleted accounts to restore", method="PATCH", path=""
        )

    def delete_user(self, user_id: str, version: str | None, **kw: Any) -> None:
        self.transport.request(
            "DELETE", item_path(self.users_path, user_id), headers=self._if_match(version), **kw
        )

    def patch_group(
        self, group_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> str | None:
        """PATCH a group's members; return its new version for the next chunk's If-Match.

        The version comes from the ``ETag`` header (RFC 7644 3.14), else the body, else
        a read when the group had one before: a 204 with no ETag must not turn the
        next chunk into an unconditional write.
        """
        path = item_path(self.groups_path, group_id)
        resp = self.transport.request(
            "PATCH", path, json=body, headers=self._if_match(version), **kw
        )
        new = header_version(resp, self.capabilities)
        if new:
            return new
        if resp.status_code != 204 and resp.content:
            new = parsed(group_from_scim, json_body(resp, "PATCH", path), "PATCH", path).version
        if new is None and version is not None:
            new = self.get_group(group_id, trace=kw.get("trace")).version
        return new


def header_version(resp: httpx.Response, caps: Capabilities) -> str | None:
    """The ETag header as the resource's version, only where the service announces
    ETag support (ServiceProviderConfig etag.supported): a web framework adds a body
    hash to every answer (Express does, under SCIMMY, which announces none), and
    taking that for a version makes every managed user look stale. RFC 7644 3.14's own
    versions are weak ETags, so W/ is accepted where support is announced."""
    return resp.headers.get("etag") if caps.etag else None


def _with_etag(user: LiveUser, resp: httpx.Response, caps: Capabilities) -> LiveUser:
    """A body without meta.version still has a version when an announced ETag says it."""
    version = header_version(resp, caps)
    if user.version is None and version:
        return LiveUser(user.id, user.external_id, user.attrs, version)
    return user


class GenesysClient(PlatformGrants, ScimClient):
    """Genesys Cloud: SCIM under /api/v2/scim/v2, OAuth on the login host, Platform roles."""

    roles_known = True
    may_create_groups = False  # POST /groups was removed in 2021
    asks_patched_attributes = False
    multi_valued = "whole"  # the form Genesys documents for emails and phoneNumbers

    def __init__(
        self, transport: Transport, page_size: int = 100, read_concurrency: int = 4
    ) -> None:
        # Genesys's capabilities are known (see the reference); asking costs requests
        # that every plan would pay.
        super().__init__(transport, page_size, read_concurrency, SCIM_PREFIX, GENESYS_CAPABILITIES)

    @classmethod
    def connect(cls, target: Target, credentials: Credentials | BearerToken, **kw: Any) -> Self:
        if isinstance(credentials, BearerToken):
            raise ConfigError("Genesys Cloud takes GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET")
        return super().connect(target, credentials, **kw)

    def list_roles(self) -> list[LiveRole]:
        docs = self._platform_list(ROLES, {"userCount": "false"})
        return [parsed(role_from_platform, d, "GET", ROLES) for d in docs]

    def _discovered_limits(self, desired: Desired, missing: set[str]) -> list[Problem]:
        return []  # Genesys's surface is known: nothing more to learn

    def patch_user(
        self, user_id: str, body: dict[str, Any], version: str | None, **kw: Any
    ) -> LiveUser:
        """The PATCH as sent: Genesys takes emails and phone numbers written whole and
        patches every plain attribute, so the generic client's detours (a read to merge
        whole lists, a PUT after a 501) are never needed."""
        return self._patch_user(user_id, body, version, **kw)

    def list_divisions(self) -> tuple[LiveDivision, ...] | None:
        """Every division, marked writable where the client may edit users; None when
        the org has no divisions API."""
        try:
            docs = self._platform_list(DIVISIONS, {})
        except ApiError as exc:
            if exc.status in (404, 405, 501):
                return None
            raise
        divisions = [parsed(_division, d, "GET", DIVISIONS) for d in docs]
        try:
            permitted = {
                parsed(_division, d, "GET", PERMITTED).id
                for d in self._platform_list(PERMITTED, {"permission": "directory:user:edit"})
            }
        except ApiError as exc:
            if exc.status not in (404, 405, 501):
                raise
            permitted = {d.id for d in divisions}  # cannot tell: let the write decide
        return tuple(
            sorted(
                (LiveDivision(d.id, d.name, d.id in permitted) for d in divisions),
                key=lambda d: d.name,
            )
        )

    def list_deleted_users(self) -> list[DeletedUser]:
        """Deleted accounts (Platform API, ``state=deleted``): SCIM cannot see them."""

        try:
            docs = self._platform_list(PLATFORM_USERS, {"state": "deleted"}, PLATFORM_PAGE_SIZE)
        except ApiError as exc:
            if exc.status in (404, 405, 501):  # no Platform users API: nothing to restore
                return []
            raise
        found = (parsed(_deleted_user, d, "GET", PLATFORM_USERS) for d in docs)
        return [d for d in found if d.user_name]

    def find_deleted_user(self, user_name: str, **kw: Any) -> DeletedUser | None:
        """The deleted account holding ``user_name``, if any (for 409 explanations)."""
        wanted = user_name.lower()
        for d in self.list_deleted_users():
            if d.user_name.lower() == wanted:
                return d
        return None

    def restore_user(self, user_id: str, version: int, **kw: Any) -> None:
        """Bring a deleted account back (Platform PATCH of its state, with its version)."""
        self.transport.request(
            "PATCH", item_path(PLATFORM_USERS, user_id),
            json={"state": "active", "version": version}, idempotent=False, **kw,
        )  # fmt: skip

    def _platform_list(
        self, path: str, params: dict[str, str], page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Every entity of a Platform API listing (``pageNumber``/``pageSize``/``total``):
        the first page says how many there are, the rest are read concurrently."""
        size = page_size or self.page_size
        pages = Pages(path, "entities", "total")

        def fetch(n: int) -> tuple[list[dict[str, Any]], int]:
            query = {**params, "pageSize": str(size), "pageNumber": str(n)}
            body = self._get(path, params=query)
            items, total = pages.read(body, f"page {n}")
            self.on_page(len(items))
            return items, total or 0

        first, total = fetch(1)
        pages.check(first, total, "page 1")
        docs = list(first)
        last = math.ceil(total / size) if first else 0
        # Pages are read read_concurrency at a time, so that a page adding nothing new
        # (a service ignoring pageNumber) stops the read before the next batch is asked.
        with ThreadPoolExecutor(self.read_concurrency) as pool:
            for batch in range(2, last + 1, self.read_concurrency):
                numbers = range(batch, min(last, batch + self.read_concurrency - 1) + 1)
                for n, (items, _) in zip(numbers, pool.map(fetch, numbers), strict=True):
                    if not items:
                        return docs
                    pages.check(items, None, f"page {n}")
                    docs += items
        return docs


def connect(target: Target, credentials: Credentials | BearerToken, **kw: Any) -> ScimClient:
    """The client for a target's provider."""
    cls = GenesysClient if target.provider == "genesys" else ScimClient
    return cls.connect(target, credentials, **kw)


def _division(doc: Any) -> LiveDivision:
    if not isinstance(doc, dict):
        raise ValueError(f"a division is {kind(doc)}, not an object")
    name = doc.get("name")
    what = f"division {shown(name)}" if isinstance(name, str) else "a division"
    division_id = check_id(doc.get("id"), what)
    if not isinstance(name, str):
        raise ValueError(f"division {shown(division_id)}: name is not a string")
    return LiveDivision(division_id, name)


def _deleted_user(doc: Any) -> DeletedUser:
    if not isinstance(doc, dict):
        raise ValueError(f"a deleted user is {kind(doc)}, not an object")
    name = doc.get("email") or doc.get("username") or ""
    if not isinstance(name, str):
        raise ValueError(f"deleted user {shown(doc.get('id'))}: email is not a string")
    display = doc.get("name")
    return DeletedUser(
        id=check_id(doc.get("id"), f"deleted user {shown(name)}"),
        user_name=name,
        version=_int(doc.get("version")),
        display_name=display if isinstance(display, str) else None,
    )


def _int(value: Any) -> int:
    """A Platform version number, 0 when the answer has none we can read."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
