#!/usr/bin/env bash
# Deploy the whole AMS cluster to the local AWS emulator and print its outputs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/emulator.sh start 4566
# The emulator accepts any credentials; these keep the SDK from looking for real ones.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
# `up` ends with the stack outputs (publish and play URLs, load balancer, MongoDB address).
# --refresh: an emulator restarted since the last run holds nothing, whatever the state says.
cargo run --quiet -- up local --yes --refresh
