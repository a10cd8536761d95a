#!/usr/bin/env bash
# The quickstart, start to finish, against the bundled emulator:
# plan, apply, show what was created, plan again (no changes), stop the emulator.
set -euo pipefail
port=${1:-8999}
here=$(cd "$(dirname "$0")" && pwd)
scimctl="$here/../../.venv/bin/scimctl"
work=$(mktemp -d)
trap 'kill "$emu" 2>/dev/null || true; wait "$emu" 2>/dev/null || true; rm -rf "$work"' EXIT

cp -r "$here/scimctl.yaml" "$here/hr" "$work/"
sed -i "s|http://127.0.0.1:8999|http://127.0.0.1:$port|" "$work/scimctl.yaml"
cd "$work"
export GENESYS_CLIENT_ID=scimctl-emulator GENESYS_CLIENT_SECRET=emulator-secret
export SCIMCTL_STATE="sqlite:///$work/state.db"

"$scimctl" emulator --port "$port" --seed "$here/seed.yaml" 2>emulator.log &
emu=$!
"$here/../../.venv/bin/python" - "$port" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("the emulator did not start; see emulator.log")
PY

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
step "scimctl validate"
"$scimctl" validate
step "scimctl plan --out plan.json"
"$scimctl" plan --out plan.json
step "scimctl apply plan.json"
"$scimctl" apply plan.json
step "scimctl state list"
"$scimctl" state list
step "scimctl plan --detailed-exitcode   (again: nothing left to do)"
"$scimctl" plan --detailed-exitcode
step "Done: the emulator stops now."
