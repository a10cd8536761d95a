"""Metrics: per-run figures for people, and Prometheus series for monitoring.

Per run (``metrics`` as a table or JSON) scimctl records counts, latency
percentiles, retries, 429s and rate-limit waits. The Prometheus export is different
on purpose: Prometheus wants a few long-lived series, not one per run, so it exports
totals over every recorded run per workspace (counters only ever grow, as the
journal is append-only), a latency histogram, and gauges for the last runs, the
managed users and the changes the last plan found pending. Labels are workspace,
kind, action and outcome only: a run id label would make a new series every run.

The text is written by ``prometheus-client``, the reference implementation of the
exposition format, from a collector that reads the state once per export, through
the ``MetricsReader`` interface (``scimctl/state/metrics_sql.py`` for SQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from scimctl.state.interfaces import MetricsReader

# Latency buckets in seconds: a SCIM call takes tens to hundreds of milliseconds,
# retries with backoff push it to seconds.
BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Per-run metric (as recorded by apply_metrics) -> exported counter and its help.
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


def apply_metrics(report: Any, stats: Any) -> dict[str, float]:
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
    """A prometheus-client collector over the state (read once when collected)."""

    def __init__(self, store: MetricsReader, workspace: str | None = None) -> None:
        self.store = store
        self.workspace = workspace

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            SummaryMetricFamily,
        )

        from scimctl import __commit__, __version__

        data = self.store.metric_aggregates(self.workspace, BUCKETS, [*COUNTERS, "wall_seconds"])
        build = GaugeMetricFamily(
            "scimctl_build_info",
            "The scimctl that wrote these series (each run's own is in `scimctl history`).",
            labels=["version", "commit"],
        )
        build.add_metric([__version__, __commit__], 1)
        yield build
        runs = CounterMetricFamily(
            "scimctl_runs", "Plan and apply runs, by how they ended.",
            labels=["workspace", "kind", "outcome"],
        )  # fmt: skip
        last = GaugeMetricFamily(
            "scimctl_last_run_timestamp_seconds",
            "When the last run of each kind and outcome ended (Unix time).",
            labels=["workspace", "kind", "outcome"],
        )
        success = GaugeMetricFamily(
            "scimctl_last_successful_apply_timestamp_seconds",
            "When the last apply that succeeded ended (Unix time).",
            labels=["workspace"],
        )
        for ws, kind, outcome, count, when in data.runs:
            runs.add_metric([ws, kind, outcome or "unknown"], count)
            stamp = _epoch(when)
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
        for ws, action, outcome, count in data.operations:
            ops.add_metric([ws, action, outcome or "unknown"], count)
        yield ops

        latency = HistogramMetricFamily(
            "scimctl_operation_duration_seconds",
            "Time to carry out one operation, retries included, in seconds.",
            labels=["workspace", "action"],
        )
        for ws, action, count, total, cumulative in data.latency:
            buckets = [(_le(b), n) for b, n in zip(BUCKETS, cumulative, strict=True)]
            latency.add_metric([ws, action], [*buckets, ("+Inf", count)], total)
        yield latency

        totals: dict[str, dict[str, float]] = {}
        for ws, name, value, count in data.totals:
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
        for ws, count in data.managed_users:
            managed.add_metric([ws], count)
        yield managed

        pending = GaugeMetricFamily(
            "scimctl_pending_changes",
            "Changes the last plan found still to be applied.",
            labels=["workspace"],
        )
        for ws, summary, applied in data.newest_plans:
            # Once an apply ran exactly that plan to success, nothing of it is pending.
            changes = 0.0 if applied else float((summary or {}).get("changes", 0))
            pending.add_metric([ws], changes)
        yield pending

        drift = GaugeMetricFamily(
            "scimctl_drift_detected",
            "Changes made outside scimctl found by the last drift check (0: none).",
            labels=["workspace"],
        )
        for ws, summary in data.newest_drift:
            count = (summary or {}).get("drift", 0) if isinstance(summary, dict) else 0
            drift.add_metric([ws], float(count) if isinstance(count, int) else 0.0)
        yield drift


def _le(bound: float) -> str:
    return f"{bound:g}" if bound != int(bound) else f"{bound:.1f}"


def prometheus(store: MetricsReader, workspace: str | None = None) -> str:
    """The text exposition format, as node_exporter's textfile collector reads it."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(store, workspace))
    return generate_latest(registry).decode()
