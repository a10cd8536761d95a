"""HRIS webhook delivery: signed batches from the outbox, retried until delivered.

Events are written to the outbox in the same transaction as the state change they
describe, so none is lost if the process dies; delivery happens after the run (and
with ``scimctl hris deliver``) and is at-least-once: receivers deduplicate on the
stable ``event_id``.

Each request carries ``X-Scimctl-Timestamp`` and
``X-Scimctl-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"``
with the shared secret from ``SCIMCTL_WEBHOOK_SECRET``. Receivers should reject
stale timestamps to stop replays.

A generated temporary password is sent once, directly, right after the account is
created; it never enters the outbox, the database, a plan or a log.

A webhook URL may carry a credential (``https://user:pass@host/...``,
``?token=...``). Wherever scimctl shows or stores the URL (the plan file, messages,
``outbox.last_error``) it is masked with :func:`mask_url`; apply takes the real URL
from the manifest, which it always reads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from scimctl.errors import WebhookError
from scimctl.state.interfaces import OutboxReader
from scimctl.text import mask_url

SIGNATURE_HEADER = "X-Scimctl-Signature"
TIMESTAMP_HEADER = "X-Scimctl-Timestamp"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
BATCH = 100


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does; used by the tests."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass
class Webhook:
    url: str
    secret: str
    http: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"Webhook(url={mask_url(self.url)!r})"

    def post(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self.secret, stamp, body),
        }
        http = self.http or httpx.Client(timeout=TIMEOUT)
        try:
            resp = http.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise WebhookError(f"webhook {mask_url(self.url)}: {exc.__class__.__name__}") from None
        finally:
            if self.http is None:
                http.close()
        if resp.status_code // 100 != 2:
            raise WebhookError(f"webhook {mask_url(self.url)}: HTTP {resp.status_code}")


@dataclass
class Delivery:
    delivered: int = 0
    pending: int = 0
    error: str | None = None


def deliver(
    store: OutboxReader,
    webhook: Webhook,
    *,
    workspace: str | None = None,
    attempts: int = 3,
    backoff: float = 0.5,
) -> Delivery:
    """Send pending outbox events in batches, oldest first, retrying with backoff."""
    result = Delivery()
    while True:
        batch = store.pending_events(workspace, BATCH)
        if not batch:
            break
        ids = [event_id for event_id, _ in batch]
        payload = {"events": [event for _, event in batch]}
        for attempt in range(1, attempts + 1):
            try:
                webhook.post(payload)
                break
            except WebhookError as exc:
                result.error = str(exc)
                store.events_failed(ids, str(exc))
                if attempt < attempts:
                    time.sleep(backoff * 2 ** (attempt - 1))
        else:
            break
        store.events_delivered(ids)
        result.delivered += len(ids)
        result.error = None
    result.pending = store.pending_count(workspace)
    return result


def password_sender(webhook: Webhook) -> Callable[[dict[str, Any], str], bool]:
    """Send a new account's temporary password once; False tells apply it failed."""

    def send(user: dict[str, Any], password: str) -> bool:
        event = {
            "event_id": str(uuid.uuid4()),
            "type": "temporary_password",
            **user,
            "password": password,
        }
        try:
            webhook.post({"events": [event]})
            return True
        except WebhookError:
            return False

    return send
