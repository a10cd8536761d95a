"""The emulator's HTTP surface: Genesys Cloud's OAuth, SCIM and roles endpoints.

A Starlette app over :class:`~scimctl.emulator.directory.Directory`. Handlers are
``async`` and never await while they touch the directory, so each request sees and
changes it atomically on the event loop. Faults (latency, 5xx, dropped
connections) and the per-token rate limit sit in front of every ``/api/v2`` route
so tests and benchmarks can hurt scimctl on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from scimctl.emulator.directory import (
    Directory,
    Resource,
    Role,
    ScimError,
    etag,
    normalize_etag,
)
from scimctl.emulator.routing import LANGUAGES_PATH, SKILLS_PATH, list_handler
from scimctl.scim.schema import (
    CORE_GROUP,
    CORE_USER,
    DEFAULT_PAGE_SIZE,
    ENTERPRISE_USER,
    ERROR,
    EXTENSIONS,
    GENESYS_USER,
    LIST_RESPONSE,
    RESOURCE_TYPE,
    SCHEMA,
    SCIM_PREFIX,
    SERVICE_PROVIDER_CONFIG,
)

Handler = Callable[[Request], Awaitable[Response]]
MAX_PAGE_SIZE = 1000
SCIM_JSON = "application/scim+json"
ALWAYS_RETURNED = {"id", "userName", "active", "meta", "schemas", "displayName"}


@dataclass
class EmulatorConfig:
    client_id: str = "scimctl-emulator"
    client_secret: str = "emulator-secret"
    token_ttl: int = 86_400
    rate_limit: int | None = None  # requests per token per window
    rate_window: float = 60.0  # seconds; Genesys counts per minute, tests use shorter windows
    org_rate_limit: int | None = None  # requests per window of all tokens together
    # More OAuth clients of the same org (id: secret), for target.clients; tests only.
    more_clients: dict[str, str] = field(default_factory=dict)
    latency_ms: float = 0.0
    error_rate: float = 0.0
    reset_rate: float = 0.0
    random_seed: int | None = None
    # RFC 7644 behaviours Genesys does not show today but a SCIM service may:
    patch_204: bool = False  # a successful PATCH answers 204 No Content (3.5.2)
    page_cap: int | None = None  # pages hold at most this many items (3.4.2.4)
    version_conflict: int = 400  # 400 invalidVers (Genesys) or 412 (RFC 7644 3.14)
    # Fidelity (docs/emulator.md): Genesys behaviours that are on by default, and the
    # choices Genesys leaves undocumented (docs/genesys.md, last section) as options.
    search_lag: float = 0.0  # seconds before listings and filters show a write
    default_role: str | None = "Employee"  # granted to a user created without roles
    default_role_mode: str = "empty"  # empty | always (see Directory._with_default_role)
    max_body_bytes: int | None = 512_000  # Genesys's request.bytes.max; 413 above it


@dataclass
class Counters:
    """What the emulator saw, for tests and benchmarks to compare with scimctl's view."""

    requests: int = 0
    by_route: dict[str, int] = field(default_factory=dict)
    throttled: int = 0
    injected_errors: int = 0
    injected_resets: int = 0
    too_large: int = 0


class DroppedConnection(Exception):
    """Raised after a partial response so the server closes the socket mid-answer."""


def scim_error(status: int, detail: str, scim_type: str | None = None, **headers: str) -> Response:
    body: dict[str, Any] = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return JSONResponse(body, status_code=status, media_type=SCIM_JSON, headers=headers or None)


class Projection:
    """SCIM ``attributes`` / ``excludedAttributes``, parsed once per request."""

    def __init__(self, attributes: str | None, excluded: str | None) -> None:
        def parse(text: str | None) -> list[tuple[str | None, str]]:
            return [_qualified(a.strip()) for a in (text or "").split(",") if a.strip()]

        self.include = parse(attributes)
        self.exclude = parse(excluded) if not attributes else []

    def __call__(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self.include:
            out: dict[str, Any] = {k: v for k, v in doc.items() if k in ALWAYS_RETURNED}
            for urn, attr in self.include:
                if urn:
                    if attr in doc.get(urn, {}):
                        out.setdefault(urn, {})[attr] = doc[urn][attr]
                    elif not attr and urn in doc:
                        out[urn] = doc[urn]
                elif attr in doc:
                    out[attr] = doc[attr]
            return out
        if self.exclude:
            out = dict(doc)
            for urn, attr in self.exclude:
                if urn and urn in out:
                    out[urn] = {k: v for k, v in out[urn].items() if k != attr}
                elif attr not in ALWAYS_RETURNED:
                    out.pop(attr, None)
            return out
        return doc


def _qualified(name: str) -> tuple[str | None, str]:
    for urn in EXTENSIONS:
        if name == urn:
            return urn, ""
        if name.startswith(urn + ":"):
            return urn, name[len(urn) + 1 :].split(".")[0]
    for urn in (CORE_USER, CORE_GROUP):
        if name.startswith(urn + ":"):
            return None, name[len(urn) + 1 :].split(".")[0]
    return None, name.split(".")[0]


class Emulator:
    """Holds the directory, tokens, limits and fault dice; builds the ASGI app."""

    def __init__(
        self, directory: Directory | None = None, config: EmulatorConfig | None = None
    ) -> None:
        self.directory = directory or Directory()
        self.config = config or EmulatorConfig()
        self.counters = Counters()
        self.tokens: dict[str, float] = {}
        self.token_clients: dict[str, str] = {}  # which client each token was issued to
        self.windows: dict[str, tuple[float, int]] = {}
        self.org_window: tuple[float, int] = (0.0, 0)
        self.rng = random.Random(self.config.random_seed)
        # Methods whose next successful answer is lost on the way back, one entry per
        # answer: tests use it to reproduce "it landed but the client never heard".
        self.lose_replies: list[str] = []
        self.directory.conflict_status = self.config.version_conflict
        self.directory.default_role = self.config.default_role
        self.directory.default_role_mode = self.config.default_role_mode
        if self.config.search_lag > 0:
            self.directory.enable_search_lag(self.config.search_lag)
        self.app = self._build()

    @property
    def max_results(self) -> int:
        cap = self.config.page_cap
        return min(cap, MAX_PAGE_SIZE) if cap else MAX_PAGE_SIZE

    # -- plumbing ------------------------------------------------------------
    def _build(self) -> Starlette:
        s = SCIM_PREFIX
        routes = [
            Route("/oauth/token", self.token, methods=["POST"]),
            Route(f"{s}/users", self.api(self.list_users), methods=["GET"]),
            Route(f"{s}/users", self.api(self.create_user), methods=["POST"]),
            Route(f"{s}/users/{{id}}", self.api(self.get_user), methods=["GET"]),
            Route(f"{s}/users/{{id}}", self.api(self.put_user), methods=["PUT"]),
            Route(f"{s}/users/{{id}}", self.api(self.patch_user), methods=["PATCH"]),
            Route(f"{s}/users/{{id}}", self.api(self.delete_user), methods=["DELETE"]),
            Route(f"{s}/groups", self.api(self.list_groups), methods=["GET"]),
            Route(f"{s}/groups", self.api(self.refuse_group), methods=["POST"]),
            Route(f"{s}/groups/{{id}}", self.api(self.get_group), methods=["GET"]),
            Route(f"{s}/groups/{{id}}", self.api(self.put_group), methods=["PUT"]),
            Route(f"{s}/groups/{{id}}", self.api(self.patch_group), methods=["PATCH"]),
            Route(f"{s}/groups/{{id}}", self.api(self.refuse_group), methods=["DELETE"]),
            Route(f"{s}/serviceproviderconfig", self.api(self.service_provider_config)),
            Route(f"{s}/resourcetypes", self.api(self.resource_types)),
            Route(f"{s}/resourcetypes/{{name}}", self.api(self.resource_type)),
            Route(f"{s}/schemas", self.api(self.schemas)),
            Route(f"{s}/schemas/{{id:path}}", self.api(self.schema)),
            Route("/api/v2/authorization/roles", self.api(self.list_roles)),
            Route("/api/v2/authorization/roles/{id}", self.api(self.get_role)),
            *routing_routes(self),
            Route("/api/v2/authorization/divisions", self.api(self.list_divisions)),
            Route(
                "/api/v2/authorization/divisionspermitted/paged/me",
                self.api(self.permitted_divisions),
            ),
            *self._platform_user_routes(),
        ]
        return Starlette(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path.lower().startswith(SCIM_PREFIX.lower() + "/"):
                head, _, rest = path[len(SCIM_PREFIX) + 1 :].partition("/")
                scope = {
                    **scope,
                    "path": f"{SCIM_PREFIX}/{head.lower()}" + (f"/{rest}" if rest else ""),
                }
        await self.app(scope, receive, send)

    def _bearer(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        token = auth[7:].strip()
        expires = self.tokens.get(token)
        return token if expires is not None and expires > time.monotonic() else None

    def api(self, handler: Handler) -> Handler:
        """Authentication, rate limit, faults and SCIM error mapping for one route."""

        async def endpoint(request: Request) -> Response:
            self.counters.requests += 1
            key = f"{request.method} {request.url.path}"
            self.counters.by_route[key] = self.counters.by_route.get(key, 0) + 1
            token = self._bearer(request)
            if token is None:
                return scim_error(401, "Authentication required: a valid bearer token")
            limit_headers, retry_after = self._rate(token)
            if retry_after is not None:
                self.counters.throttled += 1
                return scim_error(
                    429,
                    "Rate limit exceeded the maximum. "
                    f"Retry the request in [{retry_after}] seconds",
                    **limit_headers,
                    **{"Retry-After": str(retry_after)},
                )
            cfg = self.config
            if cfg.latency_ms:
                await asyncio.sleep(cfg.latency_ms / 1000)
            fault = self._fault()
            if fault == "error-before":
                self.counters.injected_errors += 1
                return scim_error(503, "Injected fault: service unavailable")
            if fault == "reset-before":
                self.counters.injected_resets += 1
                return _Dropped()
            too_big = await self._too_big(request)
            if too_big is not None:
                return too_big
            try:
                response = await handler(request)
            except ScimError as exc:
                response = scim_error(exc.status, exc.detail, exc.scim_type)
            except json.JSONDecodeError:
                response = scim_error(400, "Body is not valid JSON", "invalidSyntax")
            if fault == "error-after":
                self.counters.injected_errors += 1
                return scim_error(502, "Injected fault: bad gateway")
            if fault == "reset-after" or self._lose(request.method, response.status_code):
                self.counters.injected_resets += 1
                return _Dropped()
            response.headers.update(limit_headers)
            return response

        return endpoint

    def _lose(self, method: str, status: int) -> bool:
        if status < 400 and method in self.lose_replies:
            self.lose_replies.remove(method)
            return True
        return False

    async def _too_big(self, request: Request) -> Response | None:
        """Genesys refuses a body over ``request.bytes.max`` with 413 (docs/genesys.md,
        Errors, size and rate limits)."""
        limit = self.config.max_body_bytes
        if not limit or request.method in ("GET", "HEAD"):
            return None
        size = len(await request.body())  # cached: the handler reads it again
        if size <= limit:
            return None
        self.counters.too_large += 1
        return scim_error(413, f"The request body of {size} bytes exceeds the limit of {limit}")

    def _fault(self) -> str | None:
        cfg = self.config
        if not (cfg.error_rate or cfg.reset_rate):
            return None
        roll = self.rng.random()
        when = "before" if self.rng.random() < 0.5 else "after"
        if roll < cfg.error_rate:
            return f"error-{when}"
        if roll < cfg.error_rate + cfg.reset_rate:
            return f"reset-{when}"
        return None

    def _rate(self, token: str) -> tuple[dict[str, str], int | None]:
        """Fixed window per token, reported as Genesys does in headers, and optionally
        one fixed window for all tokens together (the org's limit, ``org_rate_limit``).

        A request refused by either counts against neither; the headers always describe
        the token's own window, as Genesys's do.
        """
        limit, window = self.config.rate_limit, self.config.rate_window
        org_limit = self.config.org_rate_limit
        if not limit and not org_limit:
            return {}, None
        now = time.monotonic()
        headers: dict[str, str] = {}
        if limit:
            start, count = self.windows.get(token, (now, 0))
            if now - start >= window:
                start, count = now, 0
            reset = max(1, math.ceil(window - (now - start)))
            headers = {
                "inin-ratelimit-count": str(count),
                "inin-ratelimit-allowed": str(limit),
                "inin-ratelimit-reset": str(reset),
            }
            if count >= limit:
                return headers, reset
        if org_limit:
            org_start, org_count = self.org_window
            if now - org_start >= window:
                org_start, org_count = now, 0
            if org_count >= org_limit:
                self.org_window = (org_start, org_count)
                return headers, max(1, math.ceil(window - (now - org_start)))
            self.org_window = (org_start, org_count + 1)
        if limit:
            self.windows[token] = (start, count + 1)
            headers["inin-ratelimit-count"] = str(count + 1)
        return headers, None

    # -- OAuth ---------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        client_id = secret = None
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        form = parse_qs((await request.body()).decode("latin-1"))
        if form.get("grant_type") != ["client_credentials"]:
            return JSONResponse(
                {"error": "unsupported_grant_type", "description": "use client_credentials"}, 400
            )
        clients = {self.config.client_id: self.config.client_secret, **self.config.more_clients}
        expected = clients.get(client_id or "")
        if expected is None or not secrets.compare_digest(secret or "", expected):
            return JSONResponse(
                {"error": "invalid_client", "description": "client authentication failed"}, 401
            )
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.config.token_ttl
        self.token_clients[token] = client_id or ""
        return JSONResponse(
            {"access_token": token, "token_type": "bearer", "expires_in": self.config.token_ttl}
        )

    # -- users ---------------------------------------------------------------
    def _user_response(self, res: Resource, status: int = 200) -> Response:
        doc = self.directory.user_doc(res)
        return JSONResponse(
            doc, status_code=status, media_type=SCIM_JSON, headers={"ETag": etag(res)}
        )

    async def list_users(self, request: Request) -> Response:
        return self._list(
            request, self.directory.find_users, self.directory.user_doc, attrs_needed=True
        )

    async def create_user(self, request: Request) -> Response:
        body = await _json(request)
        return self._user_response(self.directory.create_user(body), 201)

    async def get_user(self, request: Request) -> Response:
        res = self.directory.get_user(request.path_params["id"])
        return self._conditional(request, res) or self._user_response(res)

    async def put_user(self, request: Request) -> Response:
        body = await _json(request)
        res = self.directory.replace_user(
            request.path_params["id"], body, request.headers.get("if-match")
        )
        return self._user_response(res)

    async def patch_user(self, request: Request) -> Response:
        body = await _json(request)
        res = self.directory.patch_user(
            request.path_params["id"], body.get("Operations") or [], request.headers.get("if-match")
        )
        if self.config.patch_204:
            return Response(status_code=204, headers={"ETag": etag(res)})
        return self._user_response(res)

    async def delete_user(self, request: Request) -> Response:
        self.directory.delete_user(request.path_params["id"], request.headers.get("if-match"))
        return Response(status_code=204)

    # -- groups --------------------------------------------------------------
    def _group_response(self, res: Resource) -> Response:
        return JSONResponse(
            self.directory.group_doc(res), media_type=SCIM_JSON, headers={"ETag": etag(res)}
        )

    async def list_groups(self, request: Request) -> Response:
        return self._list(request, self.directory.find_groups, self.directory.group_doc)

    async def get_group(self, request: Request) -> Response:
        res = self.directory.get_group(request.path_params["id"])
        return self._conditional(request, res) or self._group_response(res)

    async def put_group(self, request: Request) -> Response:
        body = await _json(request)
        res = self.directory.replace_group(
            request.path_params["id"], body, request.headers.get("if-match")
        )
        return self._group_response(res)

    async def patch_group(self, request: Request) -> Response:
        body = await _json(request)
        res = self.directory.patch_group(
            request.path_params["id"], body.get("Operations") or [], request.headers.get("if-match")
        )
        if self.config.patch_204:
            return Response(status_code=204, headers={"ETag": etag(res)})
        return self._group_response(res)

    async def refuse_group(self, request: Request) -> Response:
        return scim_error(
            405,
            "Groups cannot be created or deleted through SCIM; use the Genesys Cloud groups API",
        )

    # -- shared list/conditional logic ---------------------------------------
    def _conditional(self, request: Request, res: Resource) -> Response | None:
        inm = request.headers.get("if-none-match")
        if inm and str(res.version) in {normalize_etag(v) for v in inm.split(",")}:
            return Response(status_code=304, headers={"ETag": etag(res)})
        return None

    def _list(
        self,
        request: Request,
        find: Callable[[str | None], list[Resource]],
        render: Callable[[Resource], dict[str, Any]],
        attrs_needed: bool = False,
    ) -> Response:
        q = request.query_params
        try:
            start = max(1, int(q.get("startIndex", "1")))
            count = int(q.get("count", str(DEFAULT_PAGE_SIZE)))
        except ValueError:
            raise ScimError(400, "startIndex and count must be integers", "invalidValue") from None
        count = max(0, min(count, self.max_results))
        attributes, excluded = q.get("attributes"), q.get("excludedAttributes")
        if attrs_needed and count > DEFAULT_PAGE_SIZE and not (attributes or excluded):
            raise ScimError(
                429,
                "A page size over 25 exceeds internal resource limits; "
                "trim the response with attributes or excludedAttributes",
            )
        projection = Projection(attributes, excluded)
        found = find(q.get("filter"))
        page = found[start - 1 : start - 1 + count] if count else []
        body = {
            "schemas": [LIST_RESPONSE],
            "totalResults": len(found),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": [projection(render(r)) for r in page],
        }
        return JSONResponse(body, media_type=SCIM_JSON)

    # -- users (Platform API): deleted accounts and restore ------------------------
    def _platform_user_routes(self) -> list[Route]:
        from scimctl.emulator import platform_users as pu

        d = self.directory

        def bound(fn: Callable[[Directory, Request], Awaitable[Response]]) -> Handler:
            async def handler(request: Request) -> Response:
                return await fn(d, request)

            return self.api(handler)

        return [
            Route("/api/v2/users", bound(pu.list_users), methods=["GET"]),
            Route("/api/v2/users/{id}", bound(pu.patch_user), methods=["PATCH"]),
            Route("/api/v2/users/{id}", bound(pu.delete_user), methods=["DELETE"]),
            *self._grant_routes(bound),
        ]

    def _grant_routes(
        self, bound: Callable[[Callable[[Directory, Request], Awaitable[Response]]], Handler]
    ) -> list[Route]:
        """Division-scoped role grants (Platform API): see :mod:`scimctl.emulator.grants`."""
        from scimctl.emulator import grants as g

        subjects = "/api/v2/authorization/subjects/{id}"
        return [
            Route(subjects, bound(g.get_subject), methods=["GET"]),
            Route(f"{subjects}/bulkadd", bound(g.bulk("add")), methods=["POST"]),
            Route(f"{subjects}/bulkremove", bound(g.bulk("remove")), methods=["POST"]),
            Route(f"{subjects}/bulkreplace", bound(g.bulk("replace")), methods=["POST"]),
            Route(
                "/api/v2/authorization/roles/{id}/subjectgrants",
                self.api(self.role_subject_grants),
            ),
        ]

    async def role_subject_grants(self, request: Request) -> Response:
        """``GET /roles/{id}/subjectgrants``: the subjects holding a role, with their
        divisions, paged as Platform listings are (one read per role, not per user)."""
        role_id = request.path_params["id"]
        if role_id not in self.directory.roles:
            return JSONResponse(
                {"message": "role not found", "code": "not.found", "status": 404}, 404
            )
        return self._platform_page(request, self.directory.grants.role_subjects(role_id))

    # -- roles (Platform API) --------------------------------------------------
    def _role_doc(self, role: Role) -> dict[str, Any]:
        policies: dict[tuple[str, str], list[str]] = {}
        for perm in role.permissions:
            domain, entity, action = (perm.split(":") + ["*", "*"])[:3]
            policies.setdefault((domain, entity), []).append(action)
        return {
            "id": role.id,
            "name": role.name,
            "description": role.description,
            "permissions": list(role.permissions),
            "permissionPolicies": [
                {"domain": d, "entityName": e, "actionSet": sorted(a), "allowConditions": False}
                for (d, e), a in sorted(policies.items())
            ],
            "default": False,
            "base": False,
            "selfUri": f"/api/v2/authorization/roles/{role.id}",
        }

    async def list_roles(self, request: Request) -> Response:
        roles = sorted(self.directory.roles.values(), key=lambda r: r.name.lower())
        name = request.query_params.get("name")
        if name:
            roles = [r for r in roles if r.name == name]
        return self._platform_page(request, [self._role_doc(r) for r in roles])

    # -- Platform API listings (roles, divisions) ------------------------------
    def _platform_page(self, request: Request, entities: list[dict[str, Any]]) -> Response:
        q = request.query_params
        try:
            size = max(1, min(int(q.get("pageSize", "25")), 500))
            number = max(1, int(q.get("pageNumber", "1")))
        except ValueError:
            return JSONResponse({"message": "pageSize and pageNumber must be integers"}, 400)
        pages = max(1, math.ceil(len(entities) / size))
        path = request.url.path
        uri = path + "?pageSize={}&pageNumber={}"
        body = {
            "entities": entities[(number - 1) * size : number * size],
            "pageSize": size,
            "pageNumber": number,
            "total": len(entities),
            "pageCount": pages,
            "firstUri": uri.format(size, 1),
            "lastUri": uri.format(size, pages),
            "selfUri": uri.format(size, number),
        }
        if number < pages:
            body["nextUri"] = uri.format(size, number + 1)
        return JSONResponse(body)

    async def list_divisions(self, request: Request) -> Response:
        divisions = self.directory.divisions.ordered()
        if request.query_params.get("name"):
            divisions = [d for d in divisions if d.name == request.query_params["name"]]
        return self._platform_page(request, [d.doc() for d in divisions])

    async def permitted_divisions(self, request: Request) -> Response:
        """The divisions this client holds a grant in (only user edits are modelled)."""
        divisions = [d for d in self.directory.divisions.ordered() if d.writable]
        return self._platform_page(request, [d.doc() for d in divisions])

    async def get_role(self, request: Request) -> Response:
        role = self.directory.roles.get(request.path_params["id"])
        if role is None:
            return JSONResponse(
                {"message": "role not found", "code": "not.found", "status": 404}, 404
            )
        return JSONResponse(self._role_doc(role))

    # -- discovery -----------------------------------------------------------
    async def service_provider_config(self, request: Request) -> Response:
        return JSONResponse(
            {
                "schemas": [SERVICE_PROVIDER_CONFIG],
                "patch": {"supported": True},
                "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
                "filter": {"supported": True, "maxResults": self.max_results},
                "changePassword": {"supported": False},
                "sort": {"supported": False},
                "etag": {"supported": True},
                "authenticationSchemes": [
                    {
                        "type": "oauthbearertoken",
                        "name": "OAuth Bearer Token",
                        "description": "Client credentials token from /oauth/token",
                        "primary": True,
                    }
                ],
                "meta": {"resourceType": "ServiceProviderConfig"},
            },
            media_type=SCIM_JSON,
        )

    def _resource_types(self) -> list[dict[str, Any]]:
        return [
            {
                "schemas": [RESOURCE_TYPE],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "schema": CORE_USER,
                "schemaExtensions": [
                    {"schema": ENTERPRISE_USER, "required": False},
                    {"schema": GENESYS_USER, "required": False},
                ],
                "meta": {"resourceType": "ResourceType"},
            },
            {
                "schemas": [RESOURCE_TYPE],
                "id": "Group",
                "name": "Group",
                "endpoint": "/Groups",
                "schema": CORE_GROUP,
                "meta": {"resourceType": "ResourceType"},
            },
        ]

    async def resource_types(self, request: Request) -> Response:
        types = self._resource_types()
        return JSONResponse(_list_body(types), media_type=SCIM_JSON)

    async def resource_type(self, request: Request) -> Response:
        for t in self._resource_types():
            if t["id"].lower() == request.path_params["name"].lower():
                return JSONResponse(t, media_type=SCIM_JSON)
        raise ScimError(404, f"Resource type {request.path_params['name']} not found")

    async def schemas(self, request: Request) -> Response:
        if request.query_params.get("filter"):
            raise ScimError(403, "Filtering schemas is not allowed")
        return JSONResponse(_list_body(SCHEMAS), media_type=SCIM_JSON)

    async def schema(self, request: Request) -> Response:
        for s in SCHEMAS:
            if s["id"] == request.path_params["id"]:
                return JSONResponse(s, media_type=SCIM_JSON)
        raise ScimError(404, f"Schema {request.path_params['id']} not found")


class _Dropped(Response):
    """Starts an answer, then breaks off, as a reset connection looks to a client."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
        raise DroppedConnection()


def routing_routes(emulator: Emulator) -> list[Route]:
    """Platform API routing lists; see :mod:`scimctl.emulator.routing`."""
    d = emulator.directory
    return [
        Route(SKILLS_PATH, emulator.api(list_handler("skill", lambda: d.skills))),
        Route(LANGUAGES_PATH, emulator.api(list_handler("language", lambda: d.languages))),
    ]


async def _json(request: Request) -> dict[str, Any]:
    body = json.loads(await request.body() or b"{}")
    if not isinstance(body, dict):
        raise ScimError(400, "Body must be a JSON object", "invalidSyntax")
    return body


def _list_body(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def _attr(name: str, type_: str = "string", **kw: Any) -> dict[str, Any]:
    base = {
        "name": name,
        "type": type_,
        "multiValued": False,
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    return {**base, **kw}


def _multi(name: str, *subs: str, **kw: Any) -> dict[str, Any]:
    return _attr(name, "complex", multiValued=True, subAttributes=[_attr(s) for s in subs], **kw)


SCHEMAS: list[dict[str, Any]] = [
    {
        "schemas": [SCHEMA],
        "id": CORE_USER,
        "name": "User",
        "attributes": [
            _attr("id", mutability="readOnly", returned="always", caseExact=True),
            _attr("userName", required=True, returned="always", uniqueness="server"),
            _attr("displayName", required=True),
            _attr("active", "boolean", returned="always"),
            _attr("title"),
            _attr("externalId", caseExact=True),
            _attr("password", mutability="writeOnly", returned="never"),
            _multi("emails", "value", "type", "primary"),
            _multi("phoneNumbers", "value", "type", "primary"),
            _multi("roles", "value"),
            _multi("groups", "value", "display", "$ref", mutability="readOnly"),
        ],
    },
    {
        "schemas": [SCHEMA],
        "id": CORE_GROUP,
        "name": "Group",
        "attributes": [
            _attr("id", mutability="readOnly", returned="always", caseExact=True),
            _attr("displayName", required=True, mutability="immutable"),
            _attr("externalId", caseExact=True),
            _multi("members", "value", "display", "type", "$ref"),
        ],
    },
    {
        "schemas": [SCHEMA],
        "id": ENTERPRISE_USER,
        "name": "EnterpriseUser",
        "attributes": [
            _attr("division"),
            _attr("department"),
            _attr("employeeNumber"),
            _attr("manager", "complex", subAttributes=[_attr("value"), _attr("$ref")]),
        ],
    },
    {
        "schemas": [SCHEMA],
        "id": GENESYS_USER,
        "name": "GenesysUser",
        "attributes": [
            _multi("routingSkills", "name", "proficiency"),
            _multi("routingLanguages", "name", "proficiency"),
            _multi("externalIds", "authority", "value"),
        ],
    },
]
