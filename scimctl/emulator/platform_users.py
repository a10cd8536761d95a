"""The emulator's Platform users API: what SCIM cannot see of deleted accounts.

Genesys keeps a deleted user (state ``deleted``) with its email reserved; SCIM hides
it, so a create with that userName fails with 409. The Platform API lists users by
state and restores a deleted one by PATCHing its state back with its current
version, which is what the Terraform provider does (docs/genesys.md, Deleted accounts).
Restored accounts come back active and without roles. Only the fields scimctl
reads are modelled.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scimctl.emulator.directory import Directory, Resource

STATES = ("active", "inactive", "deleted", "any")
MAX_PAGE_SIZE = 500


def platform_error(status: int, message: str, code: str) -> Response:
    """Platform ErrorBody shape (docs/genesys.md, Errors, size and rate limits), not SCIM's."""
    return JSONResponse({"message": message, "code": code, "status": status}, status_code=status)


def state_of(res: Resource) -> str:
    if res.deleted:
        return "deleted"
    return "active" if res.doc.get("active", True) else "inactive"


def user_entity(res: Resource) -> dict[str, Any]:
    ent = res.doc.get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User") or {}
    out: dict[str, Any] = {
        "id": res.id,
        "name": res.doc.get("displayName"),
        "email": res.doc["userName"],
        "username": res.doc["userName"],
        "state": state_of(res),
        "version": res.version,
        "dateModified": res.modified,
        "selfUri": f"/api/v2/users/{res.id}",
    }
    for key in ("title",):
        if res.doc.get(key) is not None:
            out[key] = res.doc[key]
    if ent.get("department") is not None:
        out["department"] = ent["department"]
    return out


async def list_users(directory: Directory, request: Request) -> Response:
    """``GET /api/v2/users?state=&pageSize=&pageNumber=`` with Platform paging."""
    q = request.query_params
    state = q.get("state", "active")
    if state not in STATES:
        return platform_error(400, f"state must be one of {', '.join(STATES)}", "bad.request")
    try:
        size = max(1, min(int(q.get("pageSize", "25")), MAX_PAGE_SIZE))
        number = max(1, int(q.get("pageNumber", "1")))
    except ValueError:
        return platform_error(400, "pageSize and pageNumber must be integers", "bad.request")
    users = sorted(directory.users.values(), key=lambda r: r.id)
    if state != "any":
        users = [u for u in users if state_of(u) == state]
    pages = max(1, math.ceil(len(users) / size))
    uri = "/api/v2/users?state={}&pageSize={}&pageNumber={}"
    body: dict[str, Any] = {
        "entities": [user_entity(u) for u in users[(number - 1) * size : number * size]],
        "pageSize": size,
        "pageNumber": number,
        "total": len(users),
        "pageCount": pages,
        "firstUri": uri.format(state, size, 1),
        "lastUri": uri.format(state, size, pages),
        "selfUri": uri.format(state, size, number),
    }
    if number < pages:
        body["nextUri"] = uri.format(state, size, number + 1)
    return JSONResponse(body)


async def patch_user(directory: Directory, request: Request) -> Response:
    """Restore (or change the state of) a user: ``{"state": ..., "version": N}``.

    The version is required and must be current, as on Genesys; a mismatch is 409.
    """
    res = directory.users.get(request.path_params["id"])
    if res is None:
        return platform_error(404, "user not found", "not.found")
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        return platform_error(400, "body is not valid JSON", "bad.request")
    if not isinstance(body, dict) or not isinstance(body.get("version"), int):
        return platform_error(400, "version is required", "bad.request")
    if body["version"] != res.version:
        return platform_error(
            409,
            f"The version supplied ({body['version']}) does not match the current version "
            f"({res.version})",
            "general.conflict",
        )
    state = body.get("state")
    if state not in (None, "active", "inactive"):
        return platform_error(400, "state may be set to active or inactive", "bad.request")
    if state is not None:
        directory.set_state(res, state)
    return JSONResponse(user_entity(res))


async def delete_user(directory: Directory, request: Request) -> Response:
    """Soft delete, as the Genesys UI or ``DELETE /api/v2/users/{id}`` does."""
    res = directory.users.get(request.path_params["id"])
    if res is None or res.deleted:
        return platform_error(404, "user not found", "not.found")
    directory.delete_user(res.id, None)
    return JSONResponse({}, status_code=200)
