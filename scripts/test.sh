#!/usr/bin/env bash
# Every test: installs the pinned AWS emulator (moto) into .venv if needed, then runs the
# unit tests and the integration tests (each integration test starts its own emulator on a
# free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/emulator.sh install
cargo test --locked "$@"
