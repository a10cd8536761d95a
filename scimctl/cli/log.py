"""Request logs for ``--debug``: the standard ``logging`` module, secrets left out.

Only the method, the path (with its query, which carries filters but never a
credential), the status and the latency are logged; headers and bodies are not, so a
token or a password cannot reach a log by this route.
"""

from __future__ import annotations

import logging
import sys
import time

LOGGER = "scimctl"


def enable_debug_logging() -> None:
    """Send scimctl's debug records to stderr (once, however often it is called)."""
    logger = logging.getLogger(LOGGER)
    if any(getattr(h, "_scimctl", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_utc_formatter())
    handler._scimctl = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _utc_formatter() -> logging.Formatter:
    """The one timestamp format people see (ISO 8601, UTC, ``Z``), not logging's local
    ``2026-11-27 10:30:00,123``."""
    formatter = logging.Formatter(
        "%(asctime)s %(name)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%SZ"
    )
    formatter.converter = time.gmtime
    return formatter
