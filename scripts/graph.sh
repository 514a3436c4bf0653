#!/usr/bin/env bash
# Renders the prod stack's resource graph to docs/graph-prod.png (needs Graphviz: apt-get install graphviz).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -- graph prod | dot -Tpng -Gdpi=80 -o docs/graph-prod.png
echo "wrote docs/graph-prod.png"
