"""State, runs, the audit journal, metrics and the outbox, in one SQL database."""

from scimctl.state.store import LockError, StaleState, Store

__all__ = ["LockError", "StaleState", "Store"]
