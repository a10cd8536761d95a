#!/usr/bin/env bash
# Apply job (main, protected environment): run the reviewed plan, or nothing.
#
#   apply.sh REVIEWED_PLAN [OUT_DIR]
#
# `scimctl apply` recomputes the plan from main's manifest, the directory and the
# state, and runs REVIEWED_PLAN only if that is exactly what it contains. If it is
# refused (another change was merged in between, someone changed Genesys, the file
# was tampered with) or missing, or the apply did not fully succeed, this plans again
# and leaves OUT_DIR/plan.json for a person to approve, with OUT_DIR/comment.md saying
# why. Step outputs: outcome=applied|nothing|needs-approval|error, and
# replan=true when a new plan awaits approval. Exits 0 only when nothing is left to do.
set -uo pipefail

# scimctl's exit codes (scimctl/errors.py: ExitCode) this script reads.
readonly NO_CHANGES=0 CHANGES=2 NOT_DEPROVISIONED=3 PARTLY_FAILED=4

reviewed="${1:?usage: apply.sh REVIEWED_PLAN [OUT_DIR]}"
out="${2:-scimctl-new-plan}"
mkdir -p "$out"
rm -f "$out/plan.json" "$out/comment.md"
output="${GITHUB_OUTPUT:-/dev/null}"

if [ -f "$reviewed" ]; then
  scimctl apply "$reviewed" --lock-timeout "${SCIMCTL_LOCK_TIMEOUT:-900}" \
    >"$out/apply.out" 2>"$out/apply.err"
  code=$?
  cat "$out/apply.out"
  cat "$out/apply.err" >&2
  if [ "$code" -eq "$NO_CHANGES" ]; then
    echo "outcome=applied" >>"$output"
    {
      echo "### scimctl: applied the reviewed plan"
      echo
      echo '```'
      tail -n 20 "$out/apply.out"
      echo '```'
    } >"$out/comment.md"
    cat "$out/comment.md" >>"${GITHUB_STEP_SUMMARY:-/dev/null}"
    exit 0
  fi
else
  code=""
  echo "No reviewed plan was found for this commit ($reviewed)." >"$out/apply.err"
fi
case "$code" in
  "$NOT_DEPROVISIONED") heading="was applied in part: leavers still have access" ;;
  "$PARTLY_FAILED") heading="was applied in part: some operations failed" ;;
  *) heading="was not applied" ;;
esac

# Not applied, or not completely: what would run now needs a person's approval.
scimctl plan --out "$out/plan.json" --format markdown --detailed-exitcode \
  >"$out/plan.md" 2>"$out/plan.err"
planned=$?
cat "$out/plan.err" >&2
{
  echo "### scimctl: the reviewed plan $heading"
  echo
  echo '```'
  grep -v -e '^Read ' -e '^Applying: ' "$out/apply.err" | tail -n 60
  echo '```'
  echo
  case "$planned" in
    "$CHANGES")
      echo "Nothing unreviewed was written. The plan below is what would run now;"
      echo "it is applied only after a person approves the \`scimctl-approval\`"
      echo "deployment of this workflow run."
      echo
      cat "$out/plan.md"
      ;;
    "$NO_CHANGES")
      echo "The plan computed now has no changes: nothing is left to apply."
      ;;
    *)
      echo "Planning again failed too:"
      echo
      echo '```'
      grep -v '^Read ' "$out/plan.err" | tail -n 60
      echo '```'
      ;;
  esac
} >"$out/comment.md"
cat "$out/comment.md" >>"${GITHUB_STEP_SUMMARY:-/dev/null}"

case "$planned" in
  "$CHANGES")
    echo "outcome=needs-approval" >>"$output"
    echo "replan=true" >>"$output"
    ;;
  "$NO_CHANGES")
    rm -f "$out/plan.json"
    echo "outcome=nothing" >>"$output"
    exit 0
    ;;
  *)
    rm -f "$out/plan.json"
    echo "outcome=error" >>"$output"
    ;;
esac
exit 1
