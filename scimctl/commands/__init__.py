"""scimctl's commands as plain functions: what a Python caller of the library calls.

One module per area, paired with the CLI module of the same name: ``plans``
(validate, plan, show, apply, drift, import), ``state`` (state list, show, rm,
unlock), ``records`` (history, metrics, HRIS delivery), ``report`` (access and
rules) and ``service`` (doctor). Each function takes resolved inputs (a manifest, a
target, a client, a store, the run's :class:`~scimctl.config.Config`), does the work
and returns a value; it prints nothing and never exits. ``scimctl.cli`` parses
options, calls one of these, renders the result and sets the exit code (Alembic's
``command.py`` is the model).
"""
