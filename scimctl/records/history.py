"""The audit history: who changed which account, when, to what, from which commit.

Reads the append-only journal of operations and the run log through the
``AuditLog`` interface (``scimctl/state/audit_sql.py`` for SQL), and verifies the
hash chain over both (``scimctl/state/chain.py`` says how it is built).

What ``verify`` proves: every journal row and every finished run is as it was
written, in the order it was written, with nothing removed in between; that no
entry was removed after the last run that ended (that run's hash is the head at its
end, and the head row must agree); and, with ``--expect HASH`` from a copy kept
elsewhere, that the journal up to that point was not rewritten, even by someone who
recomputed every hash. With ``SCIMCTL_AUDIT_KEY`` set, only a holder of the key
could have computed the hashes at all.

What it does not prove: that the entries are true (scimctl writes what it was told
and saw); anything about entries added after the expected head by someone who can
write the database and, for an HMAC chain, holds the key; or that the newest
entries still exist when they were removed together with the head row and no head
was kept elsewhere: keep the printed head in a CI log or artifact after each apply.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scimctl.model.grants import grant_names
from scimctl.state import chain
from scimctl.state.clock import iso
from scimctl.state.interfaces import AuditLog
from scimctl.text import count

SECRET_ATTR = re.compile(r"pass(word)?|secret|token|credential", re.IGNORECASE)
# Personal data hidden by --redact (titles, departments and roles are what auditors
# review, so they stay).
PERSONAL = {
    "displayName", "name", "nickName", "phoneNumbers", "workEmail", "emails", "addresses",
    "employeeNumber", "dateHire", "photos",
}  # fmt: skip
EMAIL = re.compile(r"([^\s@\"]+)@([A-Za-z0-9.-]+)")


@dataclass
class ChainProblem:
    """One thing wrong in the audit chain: where (an entry, a run, the head row) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class ChainReport:
    entries: int = 0
    legacy_rows: int = 0
    head_seq: int = 0
    head: str = chain.GENESIS
    keyed: bool = False
    problems: list[ChainProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe(table: str, row: dict[str, Any]) -> str:
    if table == "runs":
        return f"run {row['id']} ({row['kind']}, seq {row['seq']})"
    what = row["user_name"] or row["resource_key"]
    return f"operation {row['id']} (seq {row['seq']}, {row['action']} {row['resource']} {what})"


def _legacy(log: AuditLog, report: ChainReport) -> str:
    """Verify rows from before migration 0002; return the anchor the chain starts at."""
    heads: dict[str, str] = {}
    for row in log.legacy_operations():
        report.legacy_rows += 1
        ws = row["workspace"]
        prev = heads.get(ws, chain.GENESIS)
        if row["prev_hash"] != prev:
            report.problems.append(
                ChainProblem(
                    f"operation {row['id']} (legacy, {ws})",
                    "does not follow the row before it: a row was removed or reordered",
                )
            )
        elif chain.legacy_hash(prev, row) != row["hash"]:
            report.problems.append(
                ChainProblem(
                    f"operation {row['id']} (legacy, {ws})", "was edited after it was written"
                )
            )
        heads[ws] = row["hash"]
    return chain.legacy_anchor(heads)


def verify_chain(store: AuditLog, expect: str | None = None) -> ChainReport:
    """Walk the whole chain; report every break, naming the entry and what changed."""
    report = ChainReport()
    key = store.audit_key
    found_expected: int | None = None
    expect_seq, _, expect_hash = (expect or "").rpartition(":")
    prev = _legacy(store, report)
    report.head = prev
    if expect and expect_hash == prev and expect_seq in ("", "0"):
        found_expected = 0
    seq = 0
    for entry_seq, table, row in store.chain_entries():
        report.entries += 1
        where = _describe(table, row)
        if entry_seq != seq + 1:
            if entry_seq <= seq:
                report.problems.append(ChainProblem(where, f"repeats chain position {entry_seq}"))
            else:
                missing = entry_seq - seq - 1
                report.problems.append(
                    ChainProblem(
                        where,
                        f"{count(missing, 'journal entry was', 'journal entries were')} removed "
                        f"before it (positions {seq + 1}-{entry_seq - 1})",
                    )
                )
        elif row["prev_hash"] != prev:
            report.problems.append(
                ChainProblem(where, "does not follow the entry before it (reordered or replaced)")
            )
        if row["key_id"] is not None:
            report.keyed = True
            if key is None:
                report.problems.append(
                    ChainProblem(where, "is HMAC-chained: set SCIMCTL_AUDIT_KEY to verify it")
                )
                return report
            if row["key_id"] != store.key_id:
                report.problems.append(
                    ChainProblem(where, "is chained with another key than SCIMCTL_AUDIT_KEY")
                )
                return report
        elif report.keyed:
            report.problems.append(
                ChainProblem(where, "is not HMAC-keyed although entries before it are")
            )
        if (
            chain.entry_hash(row["prev_hash"], table, row, key if row["key_id"] else None)
            != (row["hash"])
        ):
            edited = chain.changed_fields(table, row)
            what = (
                f"{', '.join(f'{table}.{f}' for f in edited)} edited after it was written"
                if edited
                else "edited after it was written (its content does not match its hash)"
            )
            report.problems.append(ChainProblem(where, what))
        elif edited := chain.changed_fields(table, row):
            report.problems.append(
                ChainProblem(
                    where,
                    f"{', '.join(f'{table}.{f}' for f in edited)} edited and the hash recomputed",
                )
            )
        if expect and row["hash"] == expect_hash:
            if not expect_seq or expect_seq == str(entry_seq):
                found_expected = entry_seq
        elif expect and expect_seq == str(entry_seq):
            report.problems.append(
                ChainProblem(
                    where,
                    f"has hash {row['hash'][:16]}..., but the head kept elsewhere says "
                    f"{expect_hash[:16]}... here: this entry or one before it was edited "
                    "and the chain re-hashed",
                )
            )
        prev, seq = row["hash"], entry_seq
    report.head, report.head_seq = prev, seq
    _check_head(store, report)
    _check_runs(store, report)
    if (
        expect
        and found_expected is None
        and not any("re-hashed" in p.what for p in report.problems)
    ):
        report.problems.append(
            ChainProblem(
                "journal",
                f"no entry has the expected head {expect_hash}: the journal up to that point "
                "was rewritten (edited and re-hashed) or entries were removed",
            )
        )
    elif expect and found_expected is not None and found_expected < seq:
        report.notes.append(
            f"the expected head is entry {found_expected}; "
            f"{count(seq - found_expected, 'entry was', 'entries were')} added after it"
        )
    return report


def _check_head(store: AuditLog, report: ChainReport) -> None:
    head = store.chain_head()
    if head is None:
        report.problems.append(ChainProblem("journal_head", "the chain's head row was removed"))
        return
    head_seq, head_hash = head
    if head_seq > report.head_seq:
        missing = head_seq - report.head_seq
        report.problems.append(
            ChainProblem(
                "journal",
                f"the last {count(missing, 'journal entry was', 'journal entries were')} "
                f"removed: the head row says the chain reaches position {head_seq}, "
                f"but it ends at {report.head_seq}",
            )
        )
    elif head_seq < report.head_seq or head_hash != report.head:
        report.problems.append(
            ChainProblem("journal_head", "does not match the chain's last entry (edited)")
        )


def _check_runs(store: AuditLog, report: ChainReport) -> None:
    """Every run that ended after the chain existed must be in it."""
    for run_id, kind in store.unchained_runs():
        if kind == "plan" and report.keyed:
            report.notes.append(f"plan run {run_id} ran without SCIMCTL_AUDIT_KEY: not chained")
            continue
        report.problems.append(
            ChainProblem(
                f"run {run_id} ({kind})", "ended but is not in the chain (its entry removed)"
            )
        )


def parse_time(text: str, option: str = "--since") -> datetime:
    """A date (2026-11-01) or an ISO timestamp (a trailing Z is fine); naive is UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{option} {text!r}: use a date such as 2026-11-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def history(
    store: AuditLog,
    *,
    user: str | None = None,
    group: str | None = None,
    attribute: str | None = None,
    run: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """Operations, newest first, with the run's actor, commit and plan digest.

    Every filter is part of the query, so ``limit`` counts matching operations. An
    operation that was sent but has no result is listed with outcome ``unknown``.
    """
    rows = store.find_operations(
        user=user, group=group, attribute=attribute, run=run, since=since, until=until,
        limit=limit, workspace=workspace,
    )  # fmt: skip
    return [_entry(row) for row in rows]


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    ci = row.pop("ci", None) or {}
    if row["phase"] == "intent":
        row["outcome"] = "in progress" if row.get("run_outcome") == "running" else "unknown"
    for name in ("seal", "prev_hash", "hash", "key_id", "phase"):
        row.pop(name, None)
    row["commit"] = ci.get("commit")
    row["ci"] = ci
    row["at"] = iso(row["at"])
    row["changes"] = {
        k: v for k, v in (row.get("changes") or {}).items() if not SECRET_ATTR.search(k)
    }
    return row


def runs(
    store: AuditLog,
    *,
    kind: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    workspace: str | None = None,
) -> list[dict[str, Any]]:
    """Runs, newest first, with how they ended and how many operations each sent.

    Every run is here, including those that sent nothing (refused, abandoned) and
    those that died (crashed), so no run goes unaccounted for.
    """
    out = []
    rows = store.find_runs(
        kind=kind, outcome=outcome, since=since, until=until, limit=limit, workspace=workspace
    )
    for row in rows:
        run = {k: v for k, v in row.items() if k not in ("seal", "prev_hash", "key_id")}
        ci = run.get("ci") or {}
        run["commit"] = ci.get("commit")
        for name in ("started_at", "finished_at", "locked_at"):
            run[name] = iso(run[name]) if run.get(name) else None
        out.append(run)
    return out


def run_details(store: AuditLog, run_id: str) -> dict[str, Any] | None:
    """One run (by id or unique prefix) with every operation it sent, and its metrics.

    An operation journaled as sent but never finished appears with outcome
    ``unknown`` (or ``in progress`` while the run is still going).
    """
    run = store.run(run_id)
    if run is None:
        return None
    ops = history(store, run=run["id"], limit=1_000_000)
    ops.reverse()
    out = {
        k: (iso(v) if isinstance(v, datetime) else v)
        for k, v in run.items()
        if k not in ("seal", "prev_hash", "key_id")
    }
    return {**out, "operations": ops, "metrics": store.metrics(run["id"])}


def redact(entry: dict[str, Any]) -> dict[str, Any]:
    """Personal data masked for output: emails keep their domain, names disappear."""
    out = dict(entry)
    if out.get("user_name"):
        out["user_name"] = _mask_email(out["user_name"])
    changes = {}
    for attr, change in (out.get("changes") or {}).items():
        if attr == "members":
            change = {k: [_mask_email(str(m)) for m in v] for k, v in change.items()}
        elif attr == "userName":
            change = {k: _mask_email(v) if isinstance(v, str) else v for k, v in change.items()}
        elif attr in PERSONAL:
            change = {k: None if v is None else "***" for k, v in change.items()}
        changes[attr] = change
    out["changes"] = changes
    if out.get("error"):
        out["error"] = _mask_email(out["error"])
    return out


def _mask_email(value: str) -> str:
    return EMAIL.sub(lambda m: f"{m.group(1)[:1]}***@{m.group(2)}", value)


def describe_changes(changes: dict[str, Any]) -> str:
    """One line for a table: ``title: "Agent" -> "Lead"; members: +2 -1``."""
    parts = []
    for attr, change in sorted((changes or {}).items()):
        if attr == "members":
            added, removed = change.get("added", []), change.get("removed", [])
            names = [f"+{m}" for m in added] + [f"-{m}" for m in removed]
            parts.append("members: " + " ".join(names))
            continue
        before, after = change.get("before"), change.get("after")
        if attr == "grants":  # role x division: names, not the ids apply sent
            before, after = grant_names(before), grant_names(after)
        parts.append(f"{attr}: {_short(before)} -> {_short(after)}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False)
