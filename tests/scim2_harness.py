"""scim2-server (python-scim's RFC 7643/7644 server) on a free loopback port, for interop tests.

It is built the way its ``scim2-server`` command builds it (default RFC schemas,
static bearer token, in-memory storage, threading WSGI server), with two additions
in a WSGI front: a Genesys-shaped surface (``/oauth/token``, the Platform roles
listing and the ``/api/v2/scim/v2`` prefix) for the Genesys provider, and a switch
that loses the reply to the next request of a method after the server acted on it.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import Pagination, ResourceType, Schema, ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)
from scim_peer import ScimPeer

from scimctl.emulator.app import SCHEMAS as EMULATOR_SCHEMAS
from scimctl.scim.schema import CORE_USER, GENESYS_USER

TOKEN = "interop-token-Zq8#not-for-logs"
CLIENT_ID = "interop-client"
CLIENT_SECRET = "interop-secret-Zq8#not-for-logs"
GENESYS_PREFIX = "/api/v2/scim/v2"
ROLES = [
    {"name": "Employee", "permissions": ["directory:user:view"]},
    {"name": "Agent", "permissions": ["routing:agent:view"]},
    {"name": "Supervisor", "permissions": ["routing:queue:view"]},
]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class Front:
    """WSGI middleware: the Genesys surface, and lost replies on demand."""

    def __init__(self, app: Any, genesys: bool) -> None:
        self.app = app
        self.genesys = genesys
        self.lose_replies: list[str] = []
        self.lost = 0
        self.statuses: list[tuple[str, int]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path below the SCIM root)
        self.queries: list[str] = []  # each request's query string, in the same order
        # "METHOD /path" (below the SCIM root) -> a status answered without asking
        # the server: a write the service refuses every time.
        self.refuse: dict[str, int] = {}
        # Leave RFC 9865's pagination out of the ServiceProviderConfig: a cursor-only
        # service that says so only by refusing startIndex.
        self.hide_pagination = False
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        if self.genesys:
            if path == "/oauth/token" and method == "POST":
                return self._token(environ, start_response)
            if path == "/api/v2/authorization/roles":
                return self._roles(environ, start_response)
            if not path.startswith(GENESYS_PREFIX):
                return _json(start_response, "404 Not Found", {"message": "not found"})
            environ = {**environ, "PATH_INFO": path[len(GENESYS_PREFIX) :] or "/"}
        with self.lock:
            self.requests.append((method, environ["PATH_INFO"].split("/v2", 1)[-1]))
            self.queries.append(environ.get("QUERY_STRING", ""))
        refused = self.refuse.get(f"{method} {environ['PATH_INFO'].split('/v2', 1)[-1]}")
        if refused:
            with self.lock:
                self.statuses.append((method, refused))
            return _json(start_response, f"{refused} Refused", {"status": str(refused)})
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        code = int(captured["status"].split()[0])
        if self.hide_pagination and environ["PATH_INFO"].endswith("/ServiceProviderConfig"):
            body = _without_pagination(body, captured)
        with self.lock:
            self.statuses.append((method, code))
            lose = code < 400 and method in self.lose_replies
            if lose:
                self.lose_replies.remove(method)
                self.lost += 1
        if not lose:
            start_response(captured["status"], captured["headers"])
            return [body]
        # The answer breaks off mid-body. A 204 cannot carry a body to break, so the
        # status line says 200: either way the client never learns the outcome.
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        status = "200 OK" if code == 204 else captured["status"]
        start_response(status, [*headers, ("Content-Length", "4096")])
        return _broken()

    def _token(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != f"Basic {expected}":
            return _json(start_response, "401 Unauthorized", {"error": "invalid_client"})
        doc = {"access_token": TOKEN, "token_type": "bearer", "expires_in": 3600}
        return _json(start_response, "200 OK", doc)

    def _roles(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_AUTHORIZATION") != f"Bearer {TOKEN}":
            return _json(start_response, "401 Unauthorized", {"message": "no token"})
        entities = [{"id": f"role-{i}", **r} for i, r in enumerate(ROLES)]
        doc = {"entities": entities, "pageSize": 100, "pageNumber": 1, "total": len(ROLES)}
        return _json(start_response, "200 OK", doc)


def _without_pagination(body: bytes, captured: dict[str, Any]) -> bytes:
    doc = json.loads(body)
    doc.pop("pagination", None)
    out = json.dumps(doc).encode()
    captured["headers"] = [
        (k, str(len(out)) if k.lower() == "content-length" else v) for k, v in captured["headers"]
    ]
    return out


def _broken() -> Iterator[bytes]:
    # Fewer bytes than Content-Length, then wsgiref closes the connection.
    yield b'{"id": "'


def _json(start_response: Any, status: str, doc: dict[str, Any]) -> list[bytes]:
    body = json.dumps(doc).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def genesys_schemas() -> tuple[list[Schema], list[ResourceType]]:
    """RFC schemas plus the Genesys user extension, served as Genesys announces it."""
    schemas = load_default_schemas()
    genesys = next(s for s in EMULATOR_SCHEMAS if s["id"] == GENESYS_USER)
    schemas[GENESYS_USER] = Schema.model_validate(genesys)
    types = load_default_resource_types()
    user = types["User"].model_dump()
    user["schemaExtensions"].append({"schema": GENESYS_USER, "required": False})
    types["User"] = ResourceType.model_validate(user)
    return list(schemas.values()), list(types.values())


def _read_only(schema: Schema, names: tuple[str, ...]) -> Schema:
    doc = schema.model_dump(by_alias=True, exclude_none=True)
    for attr in doc["attributes"]:
        if attr["name"] in names:
            attr["mutability"] = "readOnly"
    return Schema.model_validate(doc)


class Scim2Server(ScimPeer):
    """A running scim2-server; ``scim_url`` is its SCIM root for scimctl."""

    def __init__(
        self,
        max_results: int | None = None,
        genesys: bool = False,
        enterprise: bool = True,
        patch: bool = True,
        cursor_only: bool = False,
        groups: bool = True,
        read_only: tuple[str, ...] = (),
    ) -> None:
        if genesys:
            schemas, types = genesys_schemas()
        else:
            schemas = list(load_default_schemas().values())
            types = list(load_default_resource_types().values())
        if not groups:  # a service of users only
            types = [t for t in types if t.id != "Group"]
        if read_only:  # core User attributes the service will not let a client write
            schemas = [_read_only(s, read_only) if s.id == CORE_USER else s for s in schemas]
        if not enterprise:
            user = next(t for t in types if t.id == "User").model_dump()
            user["schemaExtensions"] = []
            types = [ResourceType.model_validate(user) if t.id == "User" else t for t in types]
        config = load_default_service_provider_config()
        assert config.filter is not None and config.patch is not None
        if max_results:
            config.filter.max_results = max_results
        config.patch.supported = patch
        if cursor_only:  # RFC 9865: startIndex answered 501, pages by cursor only
            config.pagination = Pagination(
                cursor=True, index=False, default_pagination_method="cursor",
                max_page_size=max_results or 1000, cursor_timeout=600,
            )  # fmt: skip
            self.cursor_only = True
        config.authentication_schemes = [BEARER_TOKEN_SCHEME]
        provider = ScimProvider.from_discovery(schemas, types, config=config)
        service = ScimService(provider, secret="interop-cursor-secret")
        self.storage = InMemoryStorage()
        app = BearerTokenApplication(self.storage, provider, service=service, bearer_tokens=[TOKEN])
        self.front = Front(app, genesys)
        # Port 0: the kernel picks a free port as the server binds it, so a parallel
        # test worker cannot take it in between.
        self._server = make_server(
            "127.0.0.1",
            0,
            self.front,
            server_class=ThreadingWSGIServer,
            handler_class=_Quiet,
        )
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.scim_url = self.url + (GENESYS_PREFIX if genesys else "/v2")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        logging.getLogger("scim2_server").setLevel(logging.WARNING)

    def __enter__(self) -> Scim2Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    page_size = 1000
    token = TOKEN

    def user_fields(self, user_name: str) -> dict[str, Any]:
        return {"displayName": user_name}
