#!/usr/bin/env bash
# Apply job (default branch, protected environment, started by a person).
#
#   apply.sh PLAN
#
# Runs PLAN, the plan job's sealed plan for this commit, or nothing: `scimctl apply`
# recomputes the plan from the manifest, the directory and the state and refuses,
# naming every difference, unless it is exactly PLAN. No PLAN means the plan job
# found nothing to change.
set -uo pipefail

# scimctl's exit codes (scimctl/errors.py: ExitCode) this script reads.
readonly APPLIED=0 NOT_DEPROVISIONED=3 PARTLY_FAILED=4

plan="${1:?usage: apply.sh PLAN}"
if [ ! -f "$plan" ]; then
  echo "The plan job found nothing to change: nothing to apply."
  exit 0
fi

scimctl apply "$plan" --lock-timeout "${SCIMCTL_LOCK_TIMEOUT:-900}"
code=$?
case "$code" in
  "$APPLIED") ;;
  "$NOT_DEPROVISIONED") echo "Applied in part: leavers still have access (above: who)." >&2 ;;
  "$PARTLY_FAILED") echo "Applied in part: some operations failed (above: which)." >&2 ;;
  *) echo "The reviewed plan was not applied (above: why)." >&2 ;;
esac
if [ "$code" -ne "$APPLIED" ]; then
  echo "The reviewed plan was not applied in full. Nothing unreviewed was" >&2
  echo "written. Run a new pipeline on the default branch to plan again; its apply job" >&2
  echo "needs the same approval." >&2
fi
exit "$code"
