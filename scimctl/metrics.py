"""Per-run metrics: computed from an apply report, exported as table, JSON or Prometheus."""

from __future__ import annotations

from typing import Any

from scimctl.scim.transport import TransportStats


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def run_metrics(report: Any, stats: TransportStats) -> dict[str, float]:
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
        kind = r.actions[0].kind if len(r.actions) == 1 else "members"
        name = f"operations{{action={kind},outcome={r.outcome}}}"
        out[name] = out.get(name, 0) + 1
    return out


def prometheus(run_id: str, workspace: str, values: dict[str, float]) -> str:
    """Text exposition format for a node-exporter textfile collector."""
    lines = []
    seen = set()
    for name, value in sorted(values.items()):
        base, _, labels = name.partition("{")
        metric = f"scimctl_run_{base}"
        if metric not in seen:
            seen.add(metric)
            kind = "counter" if base.endswith("_total") or base == "operations" else "gauge"
            lines.append(f"# TYPE {metric} {kind}")
        label_pairs = [f'run_id="{run_id}"', f'workspace="{_escape(workspace)}"']
        if labels:
            for pair in labels.rstrip("}").split(","):
                k, _, v = pair.partition("=")
                label_pairs.append(f'{k}="{_escape(v)}"')
        lines.append(f"{metric}{{{','.join(label_pairs)}}} {value:g}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
