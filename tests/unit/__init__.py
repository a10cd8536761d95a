"""Unit tests: in-process, no network, no subprocess (tests/unit/conftest.py refuses both).

A package, so its modules are imported as ``unit.test_x``: a test module of the same
name can sit in tests/e2e, and tests/conftest.py stays importable as ``conftest``.
"""
