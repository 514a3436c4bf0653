#!/usr/bin/env bash
# Every test: installs the pinned AWS emulator (moto) into .venv if needed, checks the shell
# scripts and runs the boot scripts in a stubbed machine (scripts/test-boot.sh), runs the strict
# cloud's own tests (scripts/faultproxy/test_strict.py: each AWS rule it enforces bites, and the
# right behaviour gets through) and of the Data Lifecycle Manager it answers from memory
# (scripts/faultproxy/test_dlm.py), the security audit's findings filter
# (scripts/audit/test_findings.py; the audit itself, scripts/audit.sh, installs Prowler: minutes
# and 2.4 GB, so it is run by hand), then the unit tests and the integration tests (each
# integration test starts its own emulator on a free loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/emulator.sh install
scripts/test-boot.sh
.venv/bin/python scripts/faultproxy/test_strict.py
.venv/bin/python scripts/faultproxy/test_scaling.py
.venv/bin/python scripts/faultproxy/test_ec2_rules.py
.venv/bin/python scripts/faultproxy/test_dlm.py
.venv/bin/python scripts/audit/test_findings.py
cargo test --locked --workspace "$@"
