#!/usr/bin/env bash
# Times the main commands on the full cluster against a fresh local emulator.
#   scripts/bench.sh [ROUNDS]   (default 3). Prints one line per command and round.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
port=4599
scripts/emulator.sh install
cargo build --quiet
bin=target/debug/ams-stack
work=$(mktemp -d)
mkdir -p "$work/stacks"
sed "s#http://127.0.0.1:4566#http://127.0.0.1:$port#" stacks/local.toml > "$work/stacks/local.toml"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test MOTO_ACM_VALIDATION_WAIT=2 \
  MOTO_AMIS_PATH="$PWD/scripts/emulator/amis.json"
# moto behind the project's proxy, as scripts/emulator.sh runs it (the proxy answers Data
# Lifecycle Manager, which moto lacks).
moto_port=$((port - 2))
.venv/bin/moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto=$!
.venv/bin/python scripts/faultproxy/faultproxy.py --listen "$port" --upstream "http://127.0.0.1:$moto_port" >"$work/proxy.log" 2>&1 &
proxy=$!
trap 'kill $moto $proxy 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
.venv/bin/python scripts/emulator/seed.py "http://127.0.0.1:$port" >/dev/null

time_it() {
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  if ! AMS_STACK_CALL_LOG="$work/calls" "$bin" --root "$work" "$@" >/dev/null 2>"$work/err"; then
    echo "$label failed:" >&2
    cat "$work/err" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  printf '%-28s %6.2f s  %4d AWS calls\n' "$label" "$(awk "BEGIN{print $end - $start}")" "$(wc -l < "$work/calls")"
  rm -f "$work/calls"
}

# AWS's clocks, scaled down: `up` through the strict cloud, against the graph's critical path
# (the longest chain of dependent steps, by their measured durations). The ratio says how much
# of the run is anything but waiting on that chain (scheduling, polling, the rest).
strict_round() {
  local cloud_port=4598 cloud_log="$work/cloud.log"
  .venv/bin/python scripts/faultproxy/faultproxy.py --listen "$cloud_port" --upstream "http://127.0.0.1:$port" \
    --cloud strict --lb-provisioning-s 20 --instance-pending-s 8 --target-initial-s 10 \
    --asg-pending-s 8 --cert-pending-s 6 --consistency-s 3 --linger-s 5 >"$cloud_log" 2>&1 &
  local cloud=$!
  for _ in $(seq 1 100); do grep -q "127.0.0.1:$cloud_port" "$cloud_log" 2>/dev/null && break; sleep 0.1; done
  sed "s#http://127.0.0.1:$port#http://127.0.0.1:$cloud_port#" "$work/stacks/local.toml" > "$work/stacks/strict.toml"
  "$bin" --root "$work" up strict --yes --json 2>/dev/null | tail -n 1 > "$work/summary.json"
  .venv/bin/python - "$work/summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
elapsed = summary["elapsed_ms"] / 1000
chain = summary["longest_chain"]["elapsed_ms"] / 1000
steps = summary["longest_chain"]["steps"]
print(f"{'up, AWS clocks (strict)':<28} {elapsed:6.2f} s  critical path {chain:.2f} s  ratio {elapsed / chain:.3f}  ({len(steps)} steps: {' -> '.join(steps)})")
PY
  "$bin" --root "$work" destroy strict --yes >/dev/null 2>&1 || true
  kill "$cloud" 2>/dev/null || true
}

for round in $(seq 1 "$rounds"); do
  echo "round $round"
  time_it "preview (first deploy)" preview local
  time_it "up (all resources)" up local --yes
  time_it "preview (no changes)" preview local
  time_it "up (no changes)" up local --yes
  time_it "refresh (all resources)" refresh local
  time_it "destroy (all resources)" destroy local --yes
  strict_round
done
