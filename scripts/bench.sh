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
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break; sleep 0.1; done
.venv/bin/python scripts/emulator/seed.py "http://127.0.0.1:$port" >/dev/null

time_it() {
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  AMS_STACK_CALL_LOG="$work/calls" "$bin" --root "$work" "$@" >/dev/null 2>&1
  end=$(date +%s.%N)
  printf '%-28s %6.2f s  %4d AWS calls\n' "$label" "$(awk "BEGIN{print $end - $start}")" "$(wc -l < "$work/calls")"
  rm -f "$work/calls"
}

for round in $(seq 1 "$rounds"); do
  echo "round $round"
  time_it "preview (first deploy)" preview local
  time_it "up (29 resources)" up local --yes
  time_it "preview (no changes)" preview local
  time_it "up (no changes)" up local --yes
  time_it "refresh (29 resources)" refresh local
  time_it "destroy (29 resources)" destroy local --yes
done
