# shellcheck shell=bash
# What the boot-script tests (tests/boot/*_test.sh) share, sourced by each: a scratch machine
# ($T: stubs in $T/bin, a few real tools in $T/sys, files under $T/root, stub state in $T/state),
# running a script on it with nothing else on PATH, checks over the calls the stubs recorded
# ($T/log) and what the script printed ($T/out), and the runner (`main "$@"`: the cases named, or
# every test_* function, side by side; exit 1 if any fails).
# The sourcing file sets TOOLS (real tools) and STUBBED (commands stood in for by stub.sh), and
# defines setup (calls machine_setup, then adds its own) and its test_* functions. WAIT_S (30 s
# unless a case sets it) bounds the scripts' waits: AMS_DEVICE_WAIT_S, AMS_MONGODB_WAIT_S,
# AMS_PANEL_WAIT_S.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECRET='Pa55-w0rd-4f9c-test-only'
PANEL_SECRET='Pan3l-s3cr3t-7d2e-test-only'
PANEL_HASH=$(printf '%s' "$PANEL_SECRET" | md5sum | cut -d' ' -f1)
MONGODB_HOST=10.0.1.23
REAL_SLEEP=$(command -v sleep)
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
T=""
RUN_ENV=()
REPORTS=""
failures=0
case_failed=0
rc=0
cleanup() { if [ -n "$T" ]; then rm -rf "$T"; fi; }
trap 'cleanup; if [ -n "$REPORTS" ]; then rm -rf "$REPORTS"; fi' EXIT

fail() {
  echo "    FAIL: $*"
  case_failed=1
}

# A fresh Ubuntu 24.04 machine with the stubs; the passwords (MongoDB's, the panel's) readable
# from SSM.
machine_setup() {
  cleanup
  T=$(mktemp -d)
  mkdir -p "$T/root/etc" "$T/bin" "$T/sys" "$T/state" "$T/secret" "$T/tmp"
  printf '%s\n' 'PRETTY_NAME="Ubuntu 24.04.3 LTS"' 'VERSION_CODENAME=noble' >"$T/root/etc/os-release"
  printf '%s' "$SECRET" >"$T/secret/password"
  printf '%s' "$PANEL_SECRET" >"$T/secret/panel-password"
  touch "$T/state/ssm-readable" "$T/log" "$T/out"
  local tool
  for tool in "${TOOLS[@]}"; do ln -s "$(command -v "$tool")" "$T/sys/$tool"; done
  # python3 as the AMS image has it: the interpreter itself (not a version manager's shim,
  # which needs more than this PATH holds).
  ln -s "$PYTHON" "$T/sys/python3"
  for tool in "${STUBBED[@]}"; do ln -s "$HERE/stub.sh" "$T/bin/$tool"; done
}

# Runs a script with the stubs only (and the NAME=VALUE settings of RUN_ENV, empty unless a test
# file sets it); its exit code in $rc, its output in $T/out.
run() {
  rc=0
  env -i PATH="$T/bin:$T/sys" HOME="$T" TMPDIR="$T/tmp" AMS_ROOT="$T/root" \
    AMS_DEVICE_WAIT_S="${WAIT_S:-30}" AMS_MONGODB_WAIT_S="${WAIT_S:-30}" AMS_PANEL_WAIT_S="${WAIT_S:-30}" \
    AMS_APP_SYNC_WAIT_S="${APP_SYNC_WAIT_S:-1}" \
    AMS_ANTMEDIA_DIR="$T/ams" BOOT_LOG="$T/log" BOOT_STATE="$T/state" BOOT_BIN="$T/bin" \
    BOOT_STUB="$HERE/stub.sh" BOOT_SLEEP="$REAL_SLEEP" BOOT_SECRET_FILE="$T/secret/password" \
    BOOT_PANEL_SECRET_FILE="$T/secret/panel-password" BOOT_PANEL_HASH="$PANEL_HASH" \
    BOOT_MONGODB_HOST="$MONGODB_HOST" \
    "${RUN_ENV[@]}" bash "$@" >>"$T/out" 2>&1 || rc=$?
}
boot() { run "$T/boot.sh"; }

expect_rc() {
  if [ "$1" = 0 ] && [ "$rc" != 0 ]; then fail "exit code $rc, expected 0"; fi
  if [ "$1" != 0 ] && [ "$rc" = 0 ]; then fail "exit code 0, expected a failure"; fi
}
# A call or note in the log (a grep -E pattern over its lines).
called() { grep -Eq -- "$1" "$T/log"; }
expect_called() { called "$1" || fail "no call matching: $1"; }
expect_not_called() { if called "$1"; then fail "unexpected call matching: $1"; fi; }
expect_count() {
  local n
  n=$(grep -Ec -- "$2" "$T/log" || true)
  [ "$n" = "$1" ] || fail "$n calls matching $2, expected $1"
}
expect_output() { grep -Eq -- "$1" "$T/out" || fail "output lacks: $1"; }
expect_not_output() { if grep -Eq -- "$1" "$T/out"; then fail "output has: $1"; fi; }
expect_file() { grep -Eq -- "$2" "$T/root$1" 2>/dev/null || fail "$1 lacks: $2"; }
# The first log line matching $1 comes before the first one matching $2.
expect_order() {
  local a b
  a=$(grep -nE -- "$1" "$T/log" | head -n 1 | cut -d: -f1) || true
  b=$(grep -nE -- "$2" "$T/log" | head -n 1 | cut -d: -f1) || true
  if [ -z "$a" ] || [ -z "$b" ] || [ "$a" -ge "$b" ]; then fail "'$1' (line ${a:-none}) not before '$2' (line ${b:-none})"; fi
}
# No file under $T but the passwords' own holds a password (MongoDB's, the panel's, or the
# panel's MD5 hash, which AMS takes as the password).
expect_password_nowhere() {
  local leaks secret
  for secret in "$SECRET" "$PANEL_SECRET" "$PANEL_HASH"; do
    leaks=$(grep -rlF --exclude-dir=secret -- "$secret" "$T" || true)
    [ -z "$leaks" ] || fail "a password is in: $leaks"
  done
}

# Each placeholder named appears once in $TEMPLATE (a ${NAME}-like use would be filled too), none
# in common.sh (pasted in), none is left in the filled script.
expect_placeholders() {
  local p n any='\{(COMMON|REGION|PARAMETER|PANEL_PARAMETER|ADMIN_CIDR|VOLUME_ID|DEVICE|MONGODB_HOST|MONGODB_USER|MONGODB_CREATE_USER|ROLE|HOOK|READY_HOOK|DRAIN_TIMEOUT_S|DRAIN_AGENT|LICENSE_PARAMETER|TURN_PARAMETER|TURN_URI|S3_BUCKET|S3_STORAGE_CLASS|S3_PROXY|SERVER_PROPERTIES|PLUGINS|APP_SETTINGS|REALM|TURN_PORT|RELAY_MIN|RELAY_MAX|STACK|ADDRESSES)\}'
  for p in "$@"; do
    n=$(grep -o "{$p}" "$TEMPLATE" | wc -l || true)
    [ "$n" = 1 ] || fail "{$p} appears $n times"
  done
  if grep -Eq "$any" "${BOOT_COMMON:-$HERE/../../src/cluster/user_data/common.sh}"; then
    fail "common.sh holds a placeholder"
  fi
  if grep -Eq "$any" "$T/boot.sh"; then fail "a placeholder is left"; fi
}

# One case in a scratch directory of its own: prints its verdict, fails if the case failed.
run_case() {
  case_failed=0
  WAIT_S=30
  setup
  "test_$1"
  if [ "$case_failed" = 0 ]; then
    echo "ok   $1"
  else
    echo "FAIL $1; the script said:"
    sed 's/^/    | /' "$T/out" | tail -n 15
  fi
  cleanup
  [ "$case_failed" = 0 ]
}

main() {
  local cases=("$@") pids=() name i
  if [ ${#cases[@]} = 0 ]; then
    mapfile -t cases < <(declare -F | sed -n 's/^declare -f test_//p')
  fi
  # The cases run side by side (most of the time is spent waiting); verdicts print in order.
  REPORTS=$(mktemp -d)
  for name in "${cases[@]}"; do
    run_case "$name" >"$REPORTS/$name" 2>&1 &
    pids+=($!)
  done
  for i in "${!cases[@]}"; do
    wait "${pids[$i]}" || failures=$((failures + 1))
    cat "$REPORTS/${cases[$i]}"
  done
  rm -rf "$REPORTS"
  REPORTS=""
  echo "$(basename "$0" .sh): ${#cases[@]} run, $failures failed"
  [ "$failures" = 0 ]
}
