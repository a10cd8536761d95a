"""End-to-end tests: the real ``scimctl`` against the emulator over loopback HTTP, real
SQLite files and PostgreSQL schemas, independent SCIM servers, other processes.

A package, so its modules are imported as ``e2e.test_x`` (see tests/unit/__init__.py).
"""
