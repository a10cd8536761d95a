"""The HRIS outbox event of a user operation that went through.

It is queued with the handle of the operation's result transaction, so the event
exists exactly when the state change does; delivery is another command's job
(``hris deliver``). The payload names the account, never a password: a generated
one goes out through ``on_password``, and the event says only that a reset is due
when none was delivered.
"""

from __future__ import annotations

from typing import Any

from scimctl.apply.context import RunContext
from scimctl.plan.model import Action


def event_payload(
    action: Action, live_id: str | None, user_name: str | None, run_id: str,
    *, password_reset_required: bool = False,
) -> dict[str, Any]:  # fmt: skip
    payload: dict[str, Any] = {
        "externalId": action.key,
        "id": live_id,
        "userName": user_name,
        "action": action.kind,
        "status": "succeeded",
        "run_id": run_id,
    }
    if password_reset_required:
        payload["password_reset_required"] = True
    return payload


def queue_event(
    ctx: RunContext, conn: Any, action: Action, live_id: str | None, user_name: str | None,
    password_sent: bool | None = None,
) -> None:  # fmt: skip
    """Queue the event in the transaction ``conn``, when the run writes an outbox.

    ``password_sent`` is False for a create whose generated password reached no one."""
    if not ctx.outbox:
        return
    reset = password_sent is False and ctx.plan.policy.password == "generate"
    payload = event_payload(action, live_id, user_name, ctx.run_id, password_reset_required=reset)
    ctx.store.add_event(conn, ctx.workspace, ctx.run_id, payload)
