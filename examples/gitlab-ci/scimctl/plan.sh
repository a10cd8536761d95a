#!/usr/bin/env bash
# Plan job: plan with the read-only client.
#
#   plan.sh [OUT_DIR]
#
# Writes OUT_DIR/plan.md (the plan as markdown), OUT_DIR/note.md (the merge-request
# note: the plan, or the error when planning failed) and, when there are changes,
# OUT_DIR/plan.json (the sealed plan the apply job runs). Exits 1 only on an error.
set -uo pipefail

# scimctl's exit codes (scimctl/errors.py: ExitCode) this script reads; anything else is an
# error (1, or 64 for a wrong command line).
readonly NO_CHANGES=0 CHANGES=2

out="${1:-scimctl-plan}"
mkdir -p "$out"
rm -f "$out/plan.json" "$out/plan.md" "$out/note.md"

scimctl plan --out "$out/plan.json" --format markdown --detailed-exitcode \
  >"$out/plan.md" 2>"$out/plan.err"
code=$?
cat "$out/plan.err" >&2
cat "$out/plan.md"

case "$code" in
  "$NO_CHANGES" | "$CHANGES")
    [ "$code" -eq "$NO_CHANGES" ] && rm -f "$out/plan.json"
    cp "$out/plan.md" "$out/note.md"
    ;;
  *)
    {
      echo "### scimctl plan failed"
      echo
      echo "Nothing can be applied from this merge request until the plan succeeds."
      echo
      echo '```'
      grep -v '^Read ' "$out/plan.err" | tail -n 60
      echo '```'
    } >"$out/note.md"
    rm -f "$out/plan.json"
    exit 1
    ;;
esac
