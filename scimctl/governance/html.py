"""The access report as one self-contained HTML file an auditor can open or print.

No network: styles, the sorting script and the chart (SVG) are inline. Every value
is escaped. Each summary figure carries ``data-count`` so a test can read what the
page shows and compare it with the JSON report.
"""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

from scimctl.governance.access import AccessReport
from scimctl.text import count

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1b1f24}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}
.cards{display:flex;flex-wrap:wrap;gap:1em}
.card{border:1px solid #ccd;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef;cursor:pointer;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
tr.bad td{background:#fdecea}code{font-size:.9em}
@media print{body{margin:0;font-size:10pt}th{cursor:auto;background:#eee}
thead{display:table-header-group}tr{page-break-inside:avoid}.noprint{display:none}}
"""
# Nothing may load from anywhere: the page is the whole report.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function(a, b){
        var x = a.cells[col].textContent, y = b.cells[col].textContent;
        var n = x - y;
        var c = (x !== '' && y !== '' && !isNaN(n)) ? n : x.localeCompare(y);
        return asc ? c : -c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
});
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _table(
    headers: list[str], rows: list[list[Any]], table_id: str, bad: frozenset[int] = frozenset()
) -> str:
    head = "".join(f"<th scope=col>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="bad"' if i in bad else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    return (
        f'<table class="sortable" id="{table_id}" data-rows="{len(rows)}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _chart(weeks: list[tuple[str, int]]) -> str:
    """Changes per week as an SVG bar chart (nothing to draw: a sentence)."""
    if not weeks:
        return "<p>No changes recorded by this day.</p>"
    width, height, pad = max(320, 28 * len(weeks) + 40), 160, 30
    top = max(n for _, n in weeks)
    bar = (width - 2 * pad) / len(weeks)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" id="weeks" width="{width}" '
        f'height="{height + 40}" viewBox="0 0 {width} {height + 40}">'
        f"<title>Changes per week</title>",
        f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#889"/>',
    ]
    for i, (week, n) in enumerate(weeks):
        h = (height - 20) * n / top if top else 0
        x = pad + i * bar
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{height - h:.1f}" width="{max(bar - 4, 1):.1f}" '
            f'height="{h:.1f}" fill="#4a6fa5" data-week="{_e(week)}" data-changes="{n}">'
            f"<title>week of {_e(week)}: {count(n, 'change')}</title></rect>"
        )
        if len(weeks) <= 26 or i % max(1, len(weeks) // 13) == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height + 14}" font-size="9" '
                f'text-anchor="middle">{_e(week[5:])}</text>'
            )
    parts.append(f'<text x="{pad}" y="12" font-size="10">max {top} per week</text></svg>')
    return "".join(parts)


def render_html(report: AccessReport) -> str:
    doc = report.doc()
    s = doc["summary"]
    cards = [
        ("accounts", "accounts", s["accounts"]),
        ("access", "roles and groups held", s["access"]),
        ("violations", "rule violations", s["violations"]),
        ("exceptions", "active exceptions", s["exceptions"]),
    ]
    card_html = "".join(
        f'<div class="card"><b id="{i}" data-count="{n}">{n}</b>{_e(label)}</div>'
        for i, label, n in cards
    )
    holders = _table(
        ["Role", "Holders"], [[r, n] for r, n in s["holders_per_role"].items()], "holders"
    )
    members = _table(
        ["Group", "Members"], [[g, n] for g, n in s["members_per_group"].items()], "members"
    )
    access = _table(
        ["User", "userName", "Kind", "Name", "Since", "Change", "Run", "Commit", "Actor",
         "Why (manifest)", "Exceptions"],
        [[r["user"], r["userName"], r["kind"], r["name"], r["since"], r["change"],
          (r["run"] or "")[:8], (r["commit"] or "")[:10], r["actor"], r["where"],
          "; ".join(r["exceptions"])] for r in doc["access"]],
        "access",
    )  # fmt: skip
    findings = [f for f in doc["findings"] if f["status"] != "excepted"]
    violations = _table(
        ["Rule", "User", "What", "Why (manifest)"],
        [[f["rule"], f["user"], f["detail"], f["where"]] for f in findings],
        "findings",
        bad=frozenset(range(len(findings))),
    )
    exceptions = _table(
        ["State", "Rule", "User", "Until", "Days left", "Approved by", "Reason"],
        [[e["state"], e["rule"], e["user"], e["until"], e["days_left"], e["approved_by"],
          e["reason"]] for e in doc["exceptions"]],
        "exceptions",
    )  # fmt: skip
    rules = _table(
        ["Rule", "State", "Violations", "Excepted", "Rule text", "Description", "Where"],
        [[r["id"], r["state"], r["violations"], r["excepted"], r["text"], r["description"],
          r["where"]] for r in doc["rules"]],
        "rules",
    )  # fmt: skip
    title = f"Access report: {report.workspace}, {doc['as_of']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>{_e(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p>Who held which role and group at the end of {_e(doc["as_of"])} (UTC), from scimctl's
journal and state. Click a column heading to sort.</p>
<section id="summary"><h2>Summary</h2><div class="cards">{card_html}</div>
<h2>Changes per week</h2>{_chart(report.weeks)}
<h2>Holders per role</h2>{holders}
<h2>Members per group</h2>{members}</section>
<h2>Rule violations</h2>{violations}
<h2>Exceptions</h2>{exceptions}
<h2>Rules</h2>{rules}
<h2>Access</h2>{access}
<script>{SCRIPT}</script>
</body></html>
"""


def render_csv(report: AccessReport) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    headers = ["user", "userName", "kind", "name", "since", "change", "run", "commit", "actor",
               "where", "exceptions"]  # fmt: skip
    w.writerow(headers)
    for r in report.rows:
        d = r.doc()
        w.writerow([_cell(d[h]) if h != "exceptions" else "; ".join(d[h]) for h in headers])
    return out.getvalue()


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run: leading = + - @ are quoted with '."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
