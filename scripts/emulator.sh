#!/usr/bin/env bash
# The local AWS emulator: moto in server mode, installed into ./.venv, on 127.0.0.1 only, behind
# our proxy (scripts/faultproxy/faultproxy.py without faults: it forwards every call to moto and
# answers DLM, which moto lacks, from memory; that DLM stores policies and takes no snapshots).
#   scripts/emulator.sh install         install the pinned moto into .venv (idempotent)
#   scripts/emulator.sh start [PORT]    start both in the background (the proxy on PORT, default
#                                       4566; moto on a free internal loopback port) and seed it
#   scripts/emulator.sh stop            stop the two started by `start`
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

# Settings shared with the test harness (tests/support/mod.rs sets the same).
export MOTO_ACM_VALIDATION_WAIT=2
export MOTO_AMIS_PATH="$PWD/scripts/emulator/amis.json"
# AWS's managed policies exist in every account; moto loads them only when asked.
export MOTO_IAM_LOAD_MANAGED_POLICIES=true

# A loopback port nothing listens on now.
free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local port=${1:-4566}
  install
  mkdir -p "$STATE_DIR"
  if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then
    echo "emulator already running on 127.0.0.1:$port"
  else
    local moto_port
    moto_port=$(free_port)
    nohup "$VENV/bin/python" scripts/emulator/moto_server.py -H 127.0.0.1 -p "$moto_port" >"$STATE_DIR/moto.log" 2>&1 &
    echo $! >"$STATE_DIR/moto.pid"
    nohup "$VENV/bin/python" scripts/faultproxy/faultproxy.py --listen "$port" \
      --upstream "http://127.0.0.1:$moto_port" >"$STATE_DIR/proxy.log" 2>&1 &
    echo $! >"$STATE_DIR/proxy.pid"
    # Through the proxy: both are up.
    for _ in $(seq 1 100); do
      curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && break
      sleep 0.1
    done
    if ! curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then
      echo "emulator did not come up on 127.0.0.1:$port; see $STATE_DIR/moto.log and $STATE_DIR/proxy.log" >&2
      stop >/dev/null
      exit 1
    fi
    echo "emulator started on 127.0.0.1:$port (moto on internal port $moto_port, DLM from memory; logs: $STATE_DIR/moto.log, $STATE_DIR/proxy.log)"
  fi
  "$VENV/bin/python" scripts/emulator/seed.py "http://127.0.0.1:$port"
}

stop() {
  local stopped=
  for name in proxy moto; do
    if [ -f "$STATE_DIR/$name.pid" ]; then
      kill "$(cat "$STATE_DIR/$name.pid")" 2>/dev/null || true
      rm -f "$STATE_DIR/$name.pid"
      stopped=yes
    fi
  done
  if [ -n "$stopped" ]; then
    echo "emulator stopped"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-4566}" ;;
  stop) stop ;;
  *) echo "usage: $0 install|start [PORT]|stop" >&2; exit 2 ;;
esac
