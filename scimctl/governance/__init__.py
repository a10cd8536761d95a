"""Access governance: separation-of-duties rules and expiring exceptions, evaluated
against what a plan leaves behind, and the access report an auditor reads.

The engine (``rules``, ``holdings``, ``evaluate``) is pure: values in, findings out;
``report`` is the verdict as a document. The access report (``access``) reads the
history through ``AuditLog``. Nothing is imported here, so ``plan.model`` can use
``report`` without a cycle.
"""
