#!/usr/bin/env bash
# Install scimctl from a pinned source into its own virtualenv, and put it on PATH.
#
# SCIMCTL_SOURCE is either
#   git+https://github.com/<owner>/scimctl@<tag or 40-hex commit>   (a commit is best:
#                                                 a tag can be moved, a commit cannot)
#   path/to/scimctl-<version>-py3-none-any.whl  with SCIMCTL_WHEEL_SHA256 set
# and installs the dependencies from constraints.txt (SCIMCTL_CONSTRAINTS), hashes checked.
# A bare name ("scimctl", "scimctl==0.1.0") is refused: it installs whatever carries
# that name on the package index, with the job's credentials in reach.
set -euo pipefail

source="${SCIMCTL_SOURCE:?set SCIMCTL_SOURCE to a pinned scimctl source (git URL at a tag or commit, or a wheel)}"
venv="${SCIMCTL_VENV:-${RUNNER_TEMP:-/tmp}/scimctl-venv}"

if [[ "$source" =~ ^git\+https://[^@[:space:]]+@[A-Za-z0-9._/-]+$ ]]; then
  spec="scimctl @ $source"
elif [[ "$source" == *.whl ]]; then
  : "${SCIMCTL_WHEEL_SHA256:?set SCIMCTL_WHEEL_SHA256 to the sha256 of the wheel}"
  echo "$SCIMCTL_WHEEL_SHA256  $source" | sha256sum --check --strict -
  spec="$source"
else
  echo "::error::SCIMCTL_SOURCE must be a git URL pinned with @<tag or commit> or a .whl file, not '$source'" >&2
  exit 1
fi

# The dependencies exactly as the release was tested with them, each checked against
# its sha256 (constraints.txt beside this script, from the same release as scimctl);
# scimctl itself comes from the pinned source above, without pulling anything else.
constraints="${SCIMCTL_CONSTRAINTS:-$(dirname "$0")/constraints.txt}"
if [ ! -f "$constraints" ]; then
  echo "::error::no dependency lock at $constraints: copy constraints.txt from the scimctl release" >&2
  exit 1
fi

python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --require-hashes --only-binary :all: -r "$constraints"
"${pip[@]}" install --quiet --no-deps "$spec"
"${pip[@]}" check
"$venv/bin/scimctl" --version
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$venv/bin" >>"$GITHUB_PATH"
fi
