"""Every error scimctl raises on purpose, in one tree.

The CLI has one handler for :class:`ScimctlError`: it prints the message as one line
(or, for :class:`InputError`, one line per problem) and exits 1
(:attr:`ExitCode.ERROR`). Anything else that
reaches the handler is a bug and keeps its traceback. Library errors (httpx,
SQLAlchemy, the OS) are translated into this tree where they arise, so the message
can say what the operator should check; the original stays on ``__cause__`` for
``--debug``.

Modules re-export the classes they raise (``scimctl.scim.transport.ApiError``), so
callers can import them from where they meet them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final


class ExitCode:
    """Every exit status scimctl ends with, in one place, so scripts can tell them apart.

    Scripts branch on these (``plan --detailed-exitcode`` in CI, the example workflows'
    apply step), so no two situations a script must treat differently share a code:
    "changes present" (2) is never also "you typed the command wrong", and an apply that
    ran and left some operations undone is not the same as one that never started.
    """

    OK: Final = 0
    """Success; with ``--detailed-exitcode``: nothing to change (no drift)."""

    ERROR: Final = 1
    """An error before anything was changed (bad input, unreachable service, state, refusal),
    or a check that found problems."""

    CHANGES: Final = 2
    """Only with ``--detailed-exitcode``: the plan has changes or warnings, or there is drift."""

    NOT_DEPROVISIONED: Final = 3
    """apply ran, and a deactivation or deletion did not go through: leavers still have access."""

    PARTLY_FAILED: Final = 4
    """apply ran, and some operations failed (none of them a deprovisioning): what succeeded
    is recorded; plan again to see what is left."""

    USAGE: Final = 64
    """The command line is wrong (unknown option, missing argument): BSD's ``EX_USAGE``."""

    INTERRUPTED: Final = 130
    """Ctrl-C (128 + SIGINT), as shells report it."""


class ScimctlError(Exception):
    """An expected failure with a message meant for the operator, not a traceback."""

    exit_code = ExitCode.ERROR


# -- input and configuration ----------------------------------------------------------


class ConfigError(ScimctlError, ValueError):
    """Bad settings: a target URL, a state URL, credentials, an option."""


class SeedError(ConfigError):
    """An emulator seed file that cannot be read or does not describe an org."""


# -- problems found in the input, reported all at once with where they are --------------


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in the input: where it is, which field, what is wrong."""

    where: str  # "scimctl.yaml:12" or "hr/export.csv: row 7" or "directory"
    field: str  # "users[3].userName", "roles", ...
    message: str

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.where}:{field} {self.message}"


def field_path(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as users write it: users[3].phoneNumbers[0].value."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def error_message(error: Mapping[str, Any]) -> str:
    """A pydantic error message without pydantic's own prefix."""
    return str(error["msg"]).removeprefix("Value error, ")


class InputError(ScimctlError):
    """Bad input: carries every problem found, never just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=_natural)
        super().__init__("\n".join(str(p) for p in self.problems))


def _natural(p: Problem) -> tuple[str, int, str, str, str]:
    # Sort "file:9" before "file:10".
    head, _, tail = p.where.rpartition(":")
    num = tail.strip().removeprefix("row ").strip()
    return (head, int(num) if num.isdigit() else 0, p.where, p.field, p.message)


class PlanFileError(ScimctlError, ValueError):
    """A plan file that cannot be read, is not a plan, or was edited."""


# -- plan and apply safety rules -------------------------------------------------------


class PlanRefused(ScimctlError):
    """The plan is well-formed but a safety rule refuses it."""


class PlanNotReviewed(PlanRefused):
    """The plan is not what the manifest, directory and state call for now."""

    def __init__(self, source: str, violations: list[str], differences: Sequence[object]) -> None:
        """``differences`` are ``plan.compare.Difference`` values; only their text is used."""
        self.violations = violations
        self.differences = differences
        lines = [f"refusing to apply {source}: it is not what would run now."]
        if violations:
            lines.append("Forbidden by the manifest's policy, whatever the plan file says:")
            lines += [f"  {v}" for v in violations]
        if differences:
            lines.append("The plan computed now differs from the plan file:")
            lines += [f"  {d}" for d in differences]
        lines.append("Nothing was changed: run plan again and have the new plan reviewed.")
        super().__init__("\n".join(lines))


class StalePlan(ScimctlError):
    """The plan no longer matches what it was made from."""


class Declined(ScimctlError):
    """The operator answered no, or there was nobody to ask."""


# -- state database ------------------------------------------------------------------


class StateError(ScimctlError):
    """The state database cannot be reached, read or written."""


class LockError(StateError):
    """Another run holds the workspace lock."""


class StaleState(StateError):
    """The state moved (serial or lineage) since the plan read it."""


class AuditKeyError(StateError):
    """SCIMCTL_AUDIT_KEY does not match the key the audit chain was written with."""


class NotFound(StateError):
    """What was asked for (a run, a managed user or group) is not recorded."""


# -- checks that report -----------------------------------------------------------------


class ChecksFailed(ScimctlError):
    """A check command (doctor, history verify) found problems; it listed them already."""


# -- the service ----------------------------------------------------------------------


class ApiError(ScimctlError):
    """A request that failed for good; carries what the service said."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        scim_type: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.scim_type = scim_type
        self.method = method
        self.path = path

    @property
    def version_conflict(self) -> bool:
        """The If-Match version is stale: Genesys says 400 invalidVers, RFC 7644 says 412."""
        return self.status == 412 or self.scim_type == "invalidVers"


class OutcomeUnknown(ApiError):
    """A non-idempotent request may or may not have taken effect (reset, timeout, 5xx)."""


class AuthError(ApiError):
    """The token request failed, or the token was refused."""


class OperationFailed(ScimctlError):
    """One apply operation failed; the executor records it and goes on with the rest."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class WebhookError(ScimctlError):
    """The HRIS webhook refused or could not take the events."""


def run_error(exc: BaseException, with_type: bool = False) -> str:
    """How the end of a run is recorded: Ctrl-C as ``interrupted (SIGINT)``, not as an
    empty ``KeyboardInterrupt:``; anything else by its message (and type)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    if with_type:
        return f"{exc.__class__.__name__}: {exc}"
    return str(exc) or exc.__class__.__name__
