#!/usr/bin/env bash
# The local AWS emulator: moto in server mode, installed into ./.venv, on 127.0.0.1 only.
#   scripts/emulator.sh install         install the pinned moto into .venv (idempotent)
#   scripts/emulator.sh start [PORT]    start it in the background (default 4566) and seed it
#   scripts/emulator.sh stop            stop the one started by `start`
set -euo pipefail
cd "$(dirname "$0")/.."
MOTO_VERSION=5.2.5
VENV=.venv
STATE_DIR=.emulator

install() {
  if [ -x "$VENV/bin/moto_server" ] && "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    return
  fi
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
}

# Settings shared with the test harness (tests/support/moto.rs sets the same).
export MOTO_ACM_VALIDATION_WAIT=2
export MOTO_AMIS_PATH="$PWD/scripts/emulator/amis.json"

start() {
  local port=${1:-4566}
  install
  mkdir -p "$STATE_DIR"
  if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then
    echo "emulator already running on 127.0.0.1:$port"
  else
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$STATE_DIR/moto.log" 2>&1 &
    echo $! >"$STATE_DIR/moto.pid"
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
      sleep 0.1
    done
    echo "emulator started on 127.0.0.1:$port (log: $STATE_DIR/moto.log)"
  fi
  "$VENV/bin/python" scripts/emulator/seed.py "http://127.0.0.1:$port"
}

stop() {
  if [ -f "$STATE_DIR/moto.pid" ]; then
    kill "$(cat "$STATE_DIR/moto.pid")" 2>/dev/null || true
    rm -f "$STATE_DIR/moto.pid"
    echo "emulator stopped"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-4566}" ;;
  stop) stop ;;
  *) echo "usage: $0 install|start [PORT]|stop" >&2; exit 2 ;;
esac
