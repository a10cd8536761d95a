#!/usr/bin/env bash
# Pull-request job: plan with the read-only client and write what the comment says.
#
# Writes, under $1 (default scimctl-plan/): plan.json (the sealed plan, handed to the
# apply job as an artifact), plan.md and comment.md (the pull-request comment: the
# plan, or the error when planning failed). Sets the step output `exitcode`
# (0 no changes, 2 changes or warnings, anything else an error: 1, or 64 for a
# wrong command line) and exits 1 only on an error, after the comment is written,
# so the comment is updated either way.
set -uo pipefail

# scimctl's exit codes (scimctl/errors.py: ExitCode) this script reads.
readonly NO_CHANGES=0 CHANGES=2

out="${1:-scimctl-plan}"
mkdir -p "$out"
rm -f "$out/plan.json" "$out/plan.md" "$out/comment.md"

scimctl plan --out "$out/plan.json" --format markdown --detailed-exitcode \
  >"$out/plan.md" 2>"$out/plan.err"
code=$?
cat "$out/plan.err" >&2
echo "exitcode=$code" >>"${GITHUB_OUTPUT:-/dev/null}"

failed=false
if [ "$code" -ne "$NO_CHANGES" ] && [ "$code" -ne "$CHANGES" ]; then
  failed=true
  {
    echo "### scimctl plan failed"
    echo
    echo "Nothing can be applied from this pull request until the plan succeeds."
    echo
    echo '```'
    grep -v '^Read ' "$out/plan.err" | tail -n 60
    echo '```'
  } >"$out/comment.md"
  rm -f "$out/plan.json"
else
  cp "$out/plan.md" "$out/comment.md"
fi
cat "$out/comment.md" >>"${GITHUB_STEP_SUMMARY:-/dev/null}"
[ "$failed" = false ]
