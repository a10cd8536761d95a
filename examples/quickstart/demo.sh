#!/usr/bin/env bash
# The quickstart, start to finish, against the bundled emulator:
# plan, apply, show what was created, plan again (no changes), stop the emulator.
set -euo pipefail
port=${1:-8999}
here=$(cd "$(dirname "$0")" && pwd)
# The scimctl to show: `make demo` uses the one in .venv; SCIMCTL names another (an
# installed wheel, say).
scimctl="${SCIMCTL:-$here/../../.venv/bin/scimctl}"
work=$(mktemp -d)
finish() {
  status=$?
  kill "$emu" 2>/dev/null || true
  wait "$emu" 2>/dev/null || true
  if [ "$status" -ne 0 ] && [ -s "$work/emulator.log" ]; then
    keep="${TMPDIR:-/tmp}/scimctl-demo-emulator.log"
    cp "$work/emulator.log" "$keep"
    echo "The demo failed; the emulator's log is kept at $keep:" >&2
    tail -n 20 "$keep" >&2
  fi
  rm -rf "$work"
}
emu=""
trap finish EXIT

cp -r "$here/scimctl.yaml" "$here/hr" "$work/"
sed -i "s|http://127.0.0.1:8999|http://127.0.0.1:$port|" "$work/scimctl.yaml"
cd "$work"
export GENESYS_CLIENT_ID=scimctl-emulator GENESYS_CLIENT_SECRET=emulator-secret
export SCIMCTL_STATE="sqlite:///$work/state.db"

"$scimctl" emulator --port "$port" --seed "$here/seed.yaml" 2>emulator.log &
emu=$!
# Ready once the emulator says it holds the port; if it exits first (the port is
# taken, say), stop here rather than talk to whatever else answers on that port.
for _ in $(seq 150); do
  grep -q "emulator on http" emulator.log 2>/dev/null && break
  if ! kill -0 "$emu" 2>/dev/null; then
    echo "The emulator did not start:" >&2
    exit 1
  fi
  sleep 0.1
done
grep -q "emulator on http" emulator.log || { echo "the emulator did not start in 15 s" >&2; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "scimctl validate"
"$scimctl" validate
step "scimctl plan --new-state --out plan.json   (the first plan starts the state)"
"$scimctl" plan --new-state --out plan.json
step "scimctl apply plan.json"
"$scimctl" apply plan.json
step "scimctl state list"
"$scimctl" state list
step "scimctl plan --detailed-exitcode   (again: nothing left to do)"
"$scimctl" plan --detailed-exitcode
step "Done: the emulator stops now."
