#!/usr/bin/env bash
# Every test: installs the pinned AWS emulator (moto) into .venv if needed, checks the shell
# scripts and runs the boot scripts in a stubbed machine (scripts/test-boot.sh), runs the strict
# cloud's own tests (scripts/faultproxy/test_strict.py: each AWS rule it enforces bites, and the
# right behaviour gets through) and of the Data Lifecycle Manager it answers from memory
# (scripts/faultproxy/test_dlm.py), the security audit's findings filter
# (scripts/audit/test_findings.py; the audit itself, scripts/audit.sh, installs Prowler: minutes
# and 2.4 GB, so it is run by hand), then the unit tests and the integration tests (each
# integration test gets its own emulator on a free loopback port, forked by
# scripts/emulator/forks.py; eight run side by side, RUST_TEST_THREADS in .cargo/config.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/emulator.sh install
scripts/test-boot.sh
# The Python tests wait on the proxy's scaled clocks far more than they compute: they run side by
# side, each one's output kept and shown whole, and any failure fails the run.
python_tests=(
  scripts/faultproxy/test_strict.py
  scripts/faultproxy/test_scaling.py
  scripts/faultproxy/test_ec2_rules.py
  scripts/faultproxy/test_dlm.py
  scripts/audit/test_findings.py
  scripts/s3proxy/test_s3_proxy.py
)
logs=$(mktemp -d)
pids=()
for test in "${python_tests[@]}"; do
  .venv/bin/python "$test" >"$logs/$(basename "$test").log" 2>&1 &
  pids+=("$!")
done
failed=()
for i in "${!python_tests[@]}"; do
  if ! wait "${pids[$i]}"; then
    failed+=("${python_tests[$i]}")
  fi
  echo "== ${python_tests[$i]}"
  cat "$logs/$(basename "${python_tests[$i]}").log"
done
rm -rf "$logs"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
cargo test --locked --workspace "$@"
