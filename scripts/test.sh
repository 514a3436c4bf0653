#!/usr/bin/env bash
# Every test: installs the pinned AWS emulator (moto) into .venv if needed, runs the strict
# cloud's own tests (scripts/faultproxy/test_strict.py: each AWS rule it enforces bites, and the
# right behaviour gets through), then the unit tests and the integration tests (each integration
# test starts its own emulator on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/emulator.sh install
.venv/bin/python scripts/faultproxy/test_strict.py
cargo test --locked --workspace "$@"
