"""Sealing a saved plan: a content digest always, an HMAC signature when a key is set.

A plan file travels from the job that made it to the job that applies it (an
artifact, a download, an e-mail). The digest makes a damaged or hand-edited file
fail loudly before anything talks to the network; it is not a defence against
someone who recomputes it, which is what the signature (``SCIMCTL_PLAN_KEY``) and,
above all, apply's recomputation of the plan are for.

Both cover the canonical JSON of the document without the ``digest`` and
``signature`` fields: keys sorted, no insignificant whitespace, UTF-8. Any
change to any other field, including fields added by later versions, changes them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from scimctl.errors import ScimctlError

SEAL_FIELDS = ("digest", "signature")
DIGEST_PREFIX = "sha256:"
SIGNATURE_PREFIX = "hmac-sha256:"
KEY_ENV = "SCIMCTL_PLAN_KEY"


class PlanIntegrityError(ScimctlError, ValueError):
    """The plan file is not the one that was saved, or is not signed as required."""


def canonical(document: Mapping[str, Any]) -> bytes:
    """The bytes the seal covers: the same for any formatting of the same document."""
    body = {k: v for k, v in document.items() if k not in SEAL_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_digest(document: Mapping[str, Any]) -> str:
    return DIGEST_PREFIX + hashlib.sha256(canonical(document)).hexdigest()


def signature(document: Mapping[str, Any], key: str) -> str:
    mac = hmac.new(key.encode(), canonical(document), hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def seal(document: Mapping[str, Any], key: str | None = None) -> dict[str, Any]:
    """The document with its digest and, given a key, its signature."""
    body = {k: v for k, v in document.items() if k not in SEAL_FIELDS}
    body["digest"] = content_digest(body)
    if key:
        body["signature"] = signature(body, key)
    return body


def verify(document: Mapping[str, Any], key: str | None = None, source: str = "plan") -> None:
    """Refuse a document whose seal does not match; with a key, refuse it unsigned too.

    Messages never include the key or the expected signature, so a refusal
    printed in a CI log teaches an attacker nothing.
    """
    digest = document.get("digest")
    if not isinstance(digest, str) or not digest.startswith(DIGEST_PREFIX):
        raise PlanIntegrityError(
            f"{source}: the plan has no content digest: it was edited or damaged, "
            "or not saved by `scimctl plan --out`; run plan again"
        )
    if not hmac.compare_digest(digest, content_digest(document)):
        raise PlanIntegrityError(
            f"{source}: the plan was edited or damaged since it was saved "
            "(its content digest does not match); run plan again"
        )
    if not key:
        return
    signed = document.get("signature")
    if not isinstance(signed, str) or not signed:
        raise PlanIntegrityError(
            f"{source}: the plan is not signed, but {KEY_ENV} is set: "
            f"make the plan with the same {KEY_ENV}"
        )
    if not hmac.compare_digest(signed, signature(document, key)):
        raise PlanIntegrityError(
            f"{source}: the plan's signature does not match {KEY_ENV}: it was edited, "
            "or signed with another key"
        )


def plan_key(env: Mapping[str, str]) -> str | None:
    """The signing key from the environment; set-but-empty is an error, not "unsigned".

    A CI secret that is missing expands to an empty string: treating that as "no
    key" would quietly turn signature checks off exactly when they were wanted.
    """
    if KEY_ENV not in env:
        return None
    value = env[KEY_ENV]
    if not value.strip():
        raise PlanIntegrityError(
            f"{KEY_ENV} is set but empty (a missing CI secret?): set it to the plan "
            "signing key, or unset it to work without signatures"
        )
    return value
