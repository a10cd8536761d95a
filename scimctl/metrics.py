"""Metrics: per-run figures for people, and Prometheus series for monitoring.

Per run (``metrics`` as a table or JSON) scimctl records counts, latency
percentiles, retries, 429s and rate-limit waits. The Prometheus export is different
on purpose: Prometheus wants a few long-lived series, not one per run, so it exports
totals over every recorded run per workspace (counters only ever grow, as the
journal is append-only), a latency histogram, and gauges for the last runs, the
managed users and the changes the last plan found pending. Labels are workspace,
kind, action and outcome only: a run id label would make a new series every run.

The text is written by ``prometheus-client``, the reference implementation of the
exposition format, from a collector that reads the database once per export.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from scimctl.state import tables as t
from scimctl.state.store import Store

# Latency buckets in seconds: a SCIM call takes tens to hundreds of milliseconds,
# retries with backoff push it to seconds.
BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Per-run metric (as recorded by run_metrics) -> exported counter and its help.
COUNTERS = {
    "requests_total": ("scimctl_http_requests", "HTTP requests sent to the SCIM API by applies."),
    "retries_total": ("scimctl_http_retries", "HTTP requests that were retries."),
    "throttled_total": ("scimctl_http_throttled", "HTTP 429 answers (rate limited)."),
    "http_5xx_total": ("scimctl_http_server_errors", "HTTP 5xx answers."),
    "network_errors_total": (
        "scimctl_http_network_errors",
        "Requests that failed without an answer (timeouts, resets).",
    ),
    "rate_limit_wait_seconds": (
        "scimctl_rate_limit_wait_seconds",
        "Time applies spent waiting for the rate limit, in seconds.",
    ),
}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_metrics(report: Any, stats: Any) -> dict[str, float]:
    """One apply's figures, stored with the run (``metrics --run``)."""
    latencies = [r.latency_ms for r in report.results if r.outcome != "skipped"]
    out: dict[str, float] = {
        "operations_total": len(report.results),
        "requests_total": stats.requests,
        "retries_total": stats.retries,
        "throttled_total": stats.throttled,
        "http_5xx_total": sum(n for code, n in stats.by_status.items() if code >= 500),
        "network_errors_total": stats.network_errors,
        "rate_limit_wait_seconds": round(stats.rate_wait_seconds, 3),
        "wall_seconds": round(report.wall_seconds, 3),
        "latency_ms_p50": round(percentile(latencies, 50), 3),
        "latency_ms_p95": round(percentile(latencies, 95), 3),
        "latency_ms_p99": round(percentile(latencies, 99), 3),
        "latency_ms_max": round(max(latencies, default=0.0), 3),
        "throughput_ops_per_second": round(
            len(latencies) / report.wall_seconds if report.wall_seconds else 0.0, 3
        ),
    }
    for r in report.results:
        kind = "+".join(a.kind for a in r.actions)
        name = f"operations{{action={kind},outcome={r.outcome}}}"
        out[name] = out.get(name, 0) + 1
    return out


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


class StateCollector:
    """A prometheus-client collector over the state database (read when collected)."""

    def __init__(self, store: Store, workspace: str | None = None) -> None:
        self.store = store
        self.workspace = workspace

    def _ws(self, column: Any) -> Any:
        return sa.true() if self.workspace is None else column == self.workspace

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            SummaryMetricFamily,
        )

        r, o, m, mu = t.runs, t.operations, t.metrics, t.managed_users
        with self.store.engine.connect() as conn:
            runs = CounterMetricFamily(
                "scimctl_runs", "Plan and apply runs, by how they ended.",
                labels=["workspace", "kind", "outcome"],
            )  # fmt: skip
            last = GaugeMetricFamily(
                "scimctl_last_run_timestamp_seconds",
                "When the last run of each kind and outcome ended (Unix time).",
                labels=["workspace", "kind", "outcome"],
            )
            ended = sa.func.max(sa.func.coalesce(r.c.finished_at, r.c.started_at))
            q = (
                sa.select(r.c.workspace, r.c.kind, r.c.outcome, sa.func.count(), ended)
                .where(self._ws(r.c.workspace))
                .group_by(r.c.workspace, r.c.kind, r.c.outcome)
                .order_by(r.c.workspace, r.c.kind, r.c.outcome)
            )
            success = GaugeMetricFamily(
                "scimctl_last_successful_apply_timestamp_seconds",
                "When the last apply that succeeded ended (Unix time).",
                labels=["workspace"],
            )
            for ws, kind, outcome, count, when in conn.execute(q):
                runs.add_metric([ws, kind, outcome or "unknown"], count)
                stamp = _epoch(_as_datetime(when))
                if stamp is not None:
                    last.add_metric([ws, kind, outcome or "unknown"], stamp)
                    if kind == "apply" and outcome == "succeeded":
                        success.add_metric([ws], stamp)
            yield runs
            yield last
            yield success

            ops = CounterMetricFamily(
                "scimctl_operations", "Operations applied, by plan action and outcome.",
                labels=["workspace", "action", "outcome"],
            )  # fmt: skip
            q = (
                sa.select(o.c.workspace, o.c.action, o.c.outcome, sa.func.count())
                .where((o.c.phase == "result") & self._ws(o.c.workspace))
                .group_by(o.c.workspace, o.c.action, o.c.outcome)
                .order_by(o.c.workspace, o.c.action, o.c.outcome)
            )
            for ws, action, outcome, count in conn.execute(q):
                ops.add_metric([ws, action, outcome or "unknown"], count)
            yield ops

            yield self._latency(conn, HistogramMetricFamily)

            totals: dict[str, dict[str, float]] = {}
            q = (
                sa.select(r.c.workspace, m.c.name, sa.func.sum(m.c.value), sa.func.count())
                .join(r, r.c.id == m.c.run_id)
                .where(
                    (r.c.kind == "apply")
                    & m.c.name.in_([*COUNTERS, "wall_seconds"])
                    & self._ws(r.c.workspace)
                )
                .group_by(r.c.workspace, m.c.name)
                .order_by(r.c.workspace, m.c.name)
            )
            for ws, name, value, count in conn.execute(q):
                totals.setdefault(name, {})[ws] = value
                if name == "wall_seconds":
                    totals.setdefault("wall_count", {})[ws] = count
            for source, (name, help_text) in COUNTERS.items():
                family = CounterMetricFamily(name, help_text, labels=["workspace"])
                for ws, value in sorted(totals.get(source, {}).items()):
                    family.add_metric([ws], value)
                yield family
            duration = SummaryMetricFamily(
                "scimctl_apply_duration_seconds",
                "Wall time of applies that ran, in seconds.",
                labels=["workspace"],
            )
            for ws, total in sorted(totals.get("wall_seconds", {}).items()):
                duration.add_metric([ws], int(totals["wall_count"][ws]), total)
            yield duration

            managed = GaugeMetricFamily(
                "scimctl_managed_users", "Users scimctl manages.", labels=["workspace"]
            )
            q = (
                sa.select(mu.c.workspace, sa.func.count())
                .where(self._ws(mu.c.workspace))
                .group_by(mu.c.workspace)
                .order_by(mu.c.workspace)
            )
            for ws, count in conn.execute(q):
                managed.add_metric([ws], count)
            yield managed

            yield self._pending(conn, GaugeMetricFamily)
            yield self._drift(conn, GaugeMetricFamily)

    def _latency(self, conn: sa.Connection, family_type: Any) -> Any:
        o = t.operations
        family = family_type(
            "scimctl_operation_duration_seconds",
            "Time to carry out one operation, retries included, in seconds.",
            labels=["workspace", "action"],
        )
        seconds = o.c.latency_ms / 1000.0
        columns = [sa.func.sum(sa.case((seconds <= b, 1), else_=0)) for b in BUCKETS]
        q = (
            sa.select(o.c.workspace, o.c.action, sa.func.count(), sa.func.sum(seconds), *columns)
            .where(
                (o.c.phase == "result")
                & (o.c.outcome != "skipped")
                & o.c.latency_ms.is_not(None)
                & self._ws(o.c.workspace)
            )
            .group_by(o.c.workspace, o.c.action)
            .order_by(o.c.workspace, o.c.action)
        )
        for ws, action, count, total, *cumulative in conn.execute(q):
            buckets = [(_le(b), int(n or 0)) for b, n in zip(BUCKETS, cumulative, strict=True)]
            family.add_metric([ws, action], [*buckets, ("+Inf", count)], total or 0.0)
        return family

    def _pending(self, conn: sa.Connection, family_type: Any) -> Any:
        """Changes the newest plan of each workspace found (0 once applied or none)."""
        r = t.runs
        family = family_type(
            "scimctl_pending_changes",
            "Changes the last plan found still to be applied.",
            labels=["workspace"],
        )
        newest = (
            sa.select(r.c.workspace, sa.func.max(r.c.started_at).label("started_at"))
            .where((r.c.kind == "plan") & r.c.outcome.in_(["changes", "no-changes"]))
            .where(self._ws(r.c.workspace))
            .group_by(r.c.workspace)
            .subquery()
        )
        q = (
            sa.select(r.c.workspace, r.c.summary, r.c.plan_digest)
            .join(
                newest,
                (r.c.workspace == newest.c.workspace) & (r.c.started_at == newest.c.started_at),
            )
            .where(r.c.kind == "plan")
            .order_by(r.c.workspace)
        )
        applied = sa.select(r.c.plan_digest).where(
            (r.c.kind == "apply")
            & (r.c.outcome == "succeeded")
            & (r.c.plan_digest == sa.bindparam("d"))
        )
        seen = set()
        for ws, summary, digest in conn.execute(q):
            if ws in seen:
                continue
            seen.add(ws)
            # Once an apply ran exactly that plan to success, nothing of it is pending.
            done = digest is not None and conn.execute(applied, {"d": digest}).first()
            family.add_metric([ws], 0.0 if done else float((summary or {}).get("changes", 0)))
        return family

    def _drift(self, conn: sa.Connection, family_type: Any) -> Any:
        """Changes made outside scimctl that the newest ``scimctl drift`` run found."""
        r = t.runs
        family = family_type(
            "scimctl_drift_detected",
            "Changes made outside scimctl found by the last drift check (0: none).",
            labels=["workspace"],
        )
        q = (
            sa.select(r.c.workspace, r.c.summary)
            .where((r.c.kind == "drift") & r.c.outcome.in_(["drift", "no-drift"]))
            .where(self._ws(r.c.workspace))
            .order_by(r.c.workspace, r.c.started_at.desc())
        )
        seen = set()
        for ws, summary in conn.execute(q):
            if ws in seen:
                continue
            seen.add(ws)
            count = (summary or {}).get("drift", 0) if isinstance(summary, dict) else 0
            family.add_metric([ws], float(count) if isinstance(count, int) else 0.0)
        return family


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{bound:.1f}"


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))  # SQLite hands back text from max()


def prometheus(store: Store, workspace: str | None = None) -> str:
    """The text exposition format, as node_exporter's textfile collector reads it."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(store, workspace))
    return generate_latest(registry).decode()
