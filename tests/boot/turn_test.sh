#!/usr/bin/env bash
# Tests of the TURN relay's boot script (src/cluster/user_data/turn-node.sh), run with its
# placeholders filled (tests/boot/fill.sh), in a scratch directory, with stand-ins
# (tests/boot/stub.sh) for every system command it runs and a PATH holding nothing else but a few
# plain tools (tests/boot/lib.sh). Each case sets up the stack's Elastic IPs and what fails, runs
# the script and checks the recorded calls, what it printed and coturn's configuration.
#   tests/boot/turn_test.sh [CASE...]     (all cases by default; exit 1 if any fails)
# BOOT_TEMPLATE names another copy of the script to test (to see a case fail on a script broken
# on purpose).
set -euo pipefail
# shellcheck source=tests/boot/lib.sh
. "$(dirname "$0")/lib.sh"
TEMPLATE=${BOOT_TEMPLATE:-$HERE/../../src/cluster/user_data/turn-node.sh}
INSTANCE="i-0123456789abcdef0"
FIRST=eipalloc-0aaa0000000000001
SECOND=eipalloc-0bbb0000000000002
# The plain tools the script and the stubs may use from the real system.
TOOLS=(bash cat chmod cut dirname grep head ln mkdir mktemp mv readlink rm sed seq stat touch tr uname)
STUBBED=(apt-get aws chown curl sleep ss systemctl unzip)

# A fresh Ubuntu machine (machine_setup) with the AWS CLI, the filled-in script, and the stack's
# two TURN addresses, the first held by another relay.
setup() {
  machine_setup
  "$HERE/fill.sh" "$TEMPLATE" >"$T/boot.sh"
  addresses "$FIRST 198.51.100.7 i-0another0relay0000" "$SECOND 198.51.100.8 None"
  RUN_ENV=(AMS_TURN_WAIT_S=2)
}

CONF=/etc/turnserver.conf

# The stack's TURN addresses ("ALLOCATION PUBLIC_IP HOLDER" each, named turn-address-N), and one
# of another kind of the stack's (the NAT gateway's), which a relay must never take.
addresses() {
  local i=0 line
  : >"$T/state/addresses"
  for line in "$@"; do
    i=$((i + 1))
    echo "$line turn-address-$i" >>"$T/state/addresses"
  done
  echo "eipalloc-0ccc0000000000003 198.51.100.99 None nat-address" >>"$T/state/addresses"
}

# The secret is in coturn's configuration and nowhere else the script wrote or printed: not its
# output, no call's arguments or environment, no other file.
expect_secret_only_in_the_conf() {
  local leaks
  leaks=$(grep -rlF --exclude-dir=secret -- "$SECRET" "$T" | grep -vx "$T/root$CONF" || true)
  [ -z "$leaks" ] || fail "the secret is in: $leaks"
  expect_not_called 'password in the environment'
}

# A failed boot: said, its instance marked Unhealthy, coturn neither configured nor started.
expect_failed_loudly() {
  expect_rc 1
  expect_output 'ams-turn: error: this relay did not '
  expect_called "^aws autoscaling set-instance-health --instance-id $INSTANCE --health-status Unhealthy "
  expect_output 'marked instance .* Unhealthy: its Auto Scaling group replaces it'
  expect_not_called '^systemctl (enable|restart) coturn'
  [ ! -e "$T/root$CONF" ] || fail "$CONF written"
  expect_secret_only_in_the_conf
}

test_placeholders_appear_once() {
  expect_placeholders COMMON REGION PARAMETER REALM TURN_PORT RELAY_MIN RELAY_MAX STACK ADDRESSES
}

test_a_relay_takes_a_free_address_and_serves_with_the_secret_0600() {
  boot
  expect_rc 0
  expect_called '^apt-get .*install coturn'
  expect_not_called 'coturn installed with its service free to start'
  [ ! -e "$T/root/usr/sbin/policy-rc.d" ] || fail "policy-rc.d left behind: no service would ever start"
  expect_order '^apt-get .*install coturn' '^systemctl stop coturn$'
  expect_called "^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/mongodb-password --with-decryption"
  expect_called "^aws ec2 associate-address --region eu-west-1 --allocation-id $SECOND --instance-id $INSTANCE --no-allow-reassociation$"
  expect_not_called "associate-address .*$FIRST"
  expect_not_called 'associate-address .*eipalloc-0ccc'
  expect_called "^aws ec2 describe-addresses --region eu-west-1 --filters Name=tag:ams-stack:stack,Values=test Name=tag:ams-stack:name,Values=turn-address-\\* "
  expect_not_called 'WITHOUT --no-allow-reassociation'
  expect_called "^aws: associated $SECOND with $INSTANCE$"
  local mode
  mode=$(stat -c %a "$T/root$CONF" 2>/dev/null) || true
  [ "$mode" = 600 ] || fail "$CONF has mode ${mode:-none}, not 600"
  expect_called "^chown turnserver:turnserver $T/root$CONF\\."
  expect_file "$CONF" "^static-auth-secret=$SECRET\$"
  expect_file "$CONF" '^use-auth-secret$'
  expect_file "$CONF" '^realm=turn\.stream\.example\.com$'
  expect_file "$CONF" '^listening-port=3478$'
  expect_file "$CONF" '^min-port=49152$'
  expect_file "$CONF" '^max-port=65535$'
  expect_file "$CONF" '^external-ip=198\.51\.100\.8/10\.0\.2\.15$'
  local line
  for line in fingerprint no-cli no-multicast-peers no-tcp-relay no-tls no-dtls max-bps=625000 total-quota=300 user-quota=300; do
    expect_file "$CONF" "^$line\$"
  done
  for line in 0.0.0.0-0.255.255.255 10.0.0.0-10.255.255.255 100.64.0.0-100.127.255.255 \
    127.0.0.0-127.255.255.255 169.254.0.0-169.254.255.255 172.16.0.0-172.31.255.255 \
    192.168.0.0-192.168.255.255 224.0.0.0-255.255.255.255 ::-::1 \
    fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff; do
    expect_file "$CONF" "^denied-peer-ip=${line//./\\.}\$"
  done
  if grep -v '^#' "$T/root$CONF" 2>/dev/null | grep -q '[[:space:]]'; then fail "$CONF has a setting with blanks (a comment pasted in?)"; fi
  expect_order "^aws: associated $SECOND" '^chown turnserver:turnserver'
  expect_order '^chown turnserver:turnserver' '^systemctl restart coturn$'
  expect_called '^systemctl enable coturn$'
  expect_file /etc/systemd/system/coturn.service.d/ams-restart.conf '^Restart=always$'
  expect_order '^systemctl daemon-reload$' '^systemctl restart coturn$'
  expect_called '^ss -H -lnu sport = :3478$'
  expect_called '^ss -H -lnt sport = :3478$'
  expect_output 'ams-turn: TURN relay ready: turn:turn\.stream\.example\.com:3478 at 198\.51\.100\.8$'
  expect_not_called 'set-instance-health'
  expect_secret_only_in_the_conf
}

test_an_address_this_instance_holds_already_is_kept() {
  addresses "$FIRST 198.51.100.7 $INSTANCE" "$SECOND 198.51.100.8 None"
  boot
  expect_rc 0
  expect_not_called '^aws ec2 associate-address'
  expect_file "$CONF" '^external-ip=198\.51\.100\.7/10\.0\.2\.15$'
}

test_an_address_taken_by_another_relay_meanwhile_is_left_for_the_next_free_one() {
  addresses "$FIRST 198.51.100.7 None" "$SECOND 198.51.100.8 None"
  touch "$T/state/associate.race"
  boot
  expect_rc 0
  expect_output "could not take TURN address 198\\.51\\.100\\.7 \\($FIRST\\)"
  expect_called "^aws: associated $SECOND with $INSTANCE$"
  expect_file "$CONF" '^external-ip=198\.51\.100\.8/10\.0\.2\.15$'
}

test_no_free_address_fails_loudly_and_marks_the_relay_unhealthy() {
  addresses "$FIRST 198.51.100.7 i-0another0relay0000" "$SECOND 198.51.100.8 i-0third0relay000000"
  boot
  expect_failed_loudly
  expect_output "none of stack test's TURN addresses \\(turn-address-\\*\\) could be taken within 2 s"
  expect_output 'ams-turn: no TURN address of stack test \(turn-address-\*\) is free yet'
  expect_not_called '^aws ec2 associate-address'
}

test_an_unreadable_secret_fails_loudly_and_marks_the_relay_unhealthy() {
  rm "$T/state/ssm-readable"
  boot
  expect_failed_loudly
  expect_output 'could not read SSM parameter /ams-stack/test/mongodb-password in eu-west-1 after 30 attempts'
  expect_output 'this relay did not read the TURN secret'
  expect_not_called '^aws ec2 associate-address'
}

test_coturn_not_listening_fails_loudly_and_marks_the_relay_unhealthy() {
  touch "$T/state/coturn.deaf"
  boot
  expect_rc 1
  expect_output 'coturn does not listen on 3478 \(UDP and TCP\) within 2 s'
  expect_called "^aws autoscaling set-instance-health --instance-id $INSTANCE --health-status Unhealthy "
  expect_secret_only_in_the_conf
}

test_a_refused_health_mark_is_said_and_the_boot_still_fails() {
  rm "$T/state/ssm-readable"
  touch "$T/state/asg-refuses"
  boot
  expect_rc 1
  expect_count 5 '^aws autoscaling set-instance-health'
  expect_output 'could not mark instance .* Unhealthy: terminate it by hand'
}

main "$@"
