"""The state's read side, for people: the audit history, the Prometheus metrics, the
HRIS outbox's delivery and one managed record (``state show``).

Each module reads through the narrow interfaces in :mod:`scimctl.state.interfaces`
(``AuditLog``, ``MetricsReader``, ``OutboxReader``, ``ManagedRecords``), never the SQL
store or its tables; ``cli/records.py`` is their command line.
"""
