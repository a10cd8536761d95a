"""Post the plan as one note on the merge request, edited in place on later pipelines.

    python3 scimctl/note.py NOTE_MD

GitLab's own variables name the project and the merge request; SCIMCTL_GITLAB_TOKEN
(a project access token with the api scope) may write notes. Only the standard
library is used, so the job image needs nothing but Python. Every call has a timeout.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

MARKER = "<!-- scimctl-plan -->"
# GitLab refuses notes over 1,000,000 characters; a plan that long is not cut but
# pointed to, whole, in the job's artifacts.
LIMIT = 999_000
TIMEOUT = 30


def call(method: str, url: str, token: str, body: dict[str, str] | None = None) -> tuple:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("PRIVATE-TOKEN", token)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        return json.loads(answer.read(10_000_000) or b"null"), answer.headers


def main(path: str) -> int:
    mr = os.environ.get("CI_MERGE_REQUEST_IID")
    if not mr:
        print("Not a merge-request pipeline: no note to write.")
        return 0
    token = os.environ.get("SCIMCTL_GITLAB_TOKEN")
    if not token:
        print("SCIMCTL_GITLAB_TOKEN is not set: the plan is in the job log only.", file=sys.stderr)
        return 1
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        text = f"### scimctl wrote no plan\n\n{path}: {exc.strerror}. See the job log."
    if len(text) > LIMIT:
        url = os.environ.get("CI_JOB_URL", "the plan job")
        text = f"### The plan is too long for a note\n\nRead it whole in {url} (artifacts)."
    body = f"{MARKER}\n{text}"
    notes = (
        f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}"
        f"/merge_requests/{mr}/notes"
    )
    try:
        page: str | None = "1"
        while page:
            found, headers = call("GET", f"{notes}?per_page=100&page={page}", token)
            for note in found:
                if isinstance(note, dict) and str(note.get("body", "")).startswith(MARKER):
                    call("PUT", f"{notes}/{note['id']}", token, {"body": body})
                    print(f"Updated note {note['id']} on merge request !{mr}.")
                    return 0
            page = headers.get("X-Next-Page") or None
        created, _ = call("POST", notes, token, {"body": body})
        print(f"Wrote note {created['id']} on merge request !{mr}.")
        return 0
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as exc:
        print(f"Could not write the merge-request note: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "scimctl-plan/note.md"))
