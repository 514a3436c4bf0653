#!/usr/bin/env bash
# Tests of the AMS nodes' drain agent (src/cluster/user_data/drain-agent.sh), run as EC2 gets it:
# taken from the filled ams-node.sh (tests/boot/fill.sh), in a scratch directory, with stand-ins
# (tests/boot/stub.sh) for the instance metadata service and AMS's REST API on localhost (curl)
# and aws, and a PATH holding nothing else but a few plain tools and python3 (tests/boot/lib.sh).
# The agent polls forever while InService: the cases bound it with AMS_DRAIN_MAX_POLLS.
#   tests/boot/drain_test.sh [CASE...]     (all cases by default; exit 1 if any fails)
# BOOT_DRAIN_AGENT names another copy of the agent to test (to see a case fail on an agent broken
# on purpose).
set -euo pipefail
# shellcheck source=tests/boot/lib.sh
. "$(dirname "$0")/lib.sh"
TEMPLATE=${BOOT_DRAIN_AGENT:-$HERE/../../src/cluster/user_data/drain-agent.sh}
INSTANCE="i-0123456789abcdef0"
GROUP="--auto-scaling-group-name ams-stack-origins --region eu-west-1"
PROTECT="^aws autoscaling set-instance-protection --instance-ids $INSTANCE --protected-from-scale-in $GROUP\$"
UNPROTECT="^aws autoscaling set-instance-protection --instance-ids $INSTANCE --no-protected-from-scale-in $GROUP\$"
HOOK="--lifecycle-hook-name ams-stack-drain --instance-id $INSTANCE $GROUP"
HEARTBEAT="^aws autoscaling record-lifecycle-action-heartbeat $HOOK\$"
COMPLETE="^aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE $HOOK\$"
# Auto Scaling's answers (tests/boot/stub.sh), and the completion it accepted.
TERMINATING=$'^aws: answered: ams-stack-origins\tTerminating$'
TERMINATING_WAIT=$'^aws: answered: ams-stack-origins\tTerminating:Wait$'
COMPLETED='^aws: drain action completed: CONTINUE'
LIST='127\.0\.0\.1:5080/WebRTCAppEE/rest/v2/broadcasts/list/0/50$'
TOOLS=(bash cat mkdir)
STUBBED=(aws curl sleep)

# The agent as ams-node.sh installs it (ROLE and DRAIN_TIMEOUT_S as given), on an instance in
# service with no stream; polls bounded to 30.
agent() {
  "$HERE/fill.sh" "$HERE/../../src/cluster/user_data/ams-node.sh" "$@" |
    sed -n "/<<'AMS_DRAIN_AGENT'\$/,/^AMS_DRAIN_AGENT\$/p" | sed '1d;$d' >"$T/boot.sh"
}
setup() {
  machine_setup
  echo InService >"$T/state/lifecycle-state"
  RUN_ENV=(AMS_DRAIN_MAX_POLLS=30)
  agent ROLE=origin
}
drain() { run "$T/boot.sh"; }

test_placeholders_appear_once() {
  expect_placeholders REGION ROLE HOOK DRAIN_TIMEOUT_S
  if grep -q '{COMMON}' "$TEMPLATE"; then fail "the agent pastes common.sh"; fi
  if grep -qx AMS_DRAIN_AGENT "$T/boot.sh"; then fail "the agent holds its heredoc's end"; fi
  "${SHELLCHECK:-$HERE/../../.venv/bin/shellcheck}" "$T/boot.sh" || fail "shellcheck: the agent as installed"
}

test_in_service_without_publishers_only_sets_the_initial_state() {
  drain
  expect_rc 0
  expect_count 1 "$UNPROTECT"
  expect_not_called "$PROTECT"
  expect_count 1 '^aws autoscaling describe-auto-scaling-instances '
  expect_count 30 'X-aws-ec2-metadata-token: .*/meta-data/autoscaling/target-lifecycle-state$'
  expect_not_called 'lifecycle-action'
  expect_output 'ams-drain: 0 publishers: scale-in protection no'
}

test_publishers_appearing_then_leaving_protect_once_then_unprotect_once() {
  echo "0 0 2 3 3 1 0" >"$T/state/ams.publishers"
  drain
  expect_rc 0
  expect_count 1 "$PROTECT"
  expect_count 2 "$UNPROTECT"
  expect_output 'ams-drain: 2 publishers: scale-in protection yes'
  # The second unprotect comes after the protect.
  [ "$(grep -E '^aws autoscaling set-instance-protection' "$T/log" | sed 's/.* --\([a-z-]*\)-from-scale-in .*/\1/' | tr '\n' ' ')" = "no-protected protected no-protected " ] ||
    fail "protection calls out of order"
}

test_refused_protection_is_retried_next_poll() {
  echo 2 >"$T/state/ams.publishers"
  touch "$T/state/protection-refuses"
  RUN_ENV=(AMS_DRAIN_MAX_POLLS=3)
  drain
  expect_rc 0
  expect_count 3 "$PROTECT"
  expect_output 'scale-in protection yes refused: retrying'
}

test_edge_never_touches_protection() {
  agent ROLE=edge DRAIN_TIMEOUT_S=0
  echo 2 >"$T/state/ams.publishers"
  echo 25 >"$T/state/lifecycle.terminated-at"
  drain
  expect_rc 0
  expect_not_called 'set-instance-protection'
  expect_count 1 "$COMPLETE"
}

test_terminated_with_nothing_to_drain_completes_at_once() {
  echo 3 >"$T/state/lifecycle.terminated-at"
  drain
  expect_rc 0
  expect_count 1 "$COMPLETE"
  expect_not_called 'record-lifecycle-action-heartbeat'
  expect_count 3 'target-lifecycle-state$'
  expect_output 'ams-drain: no publisher or viewer left'
  expect_file /var/lib/ams-drain/completed "^$INSTANCE\$"
  # Started again (systemd), it does not complete again.
  drain
  expect_rc 0
  expect_count 1 "$COMPLETE"
  expect_output 'ams-drain: lifecycle action completed already'
}

test_streams_ending_late_are_waited_for_with_heartbeats() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo "2 1 1 0" >"$T/state/ams.publishers"
  echo "4 4 2 2 0" >"$T/state/ams.viewers"
  RUN_ENV=(AMS_DRAIN_HEARTBEAT_S=0)
  drain
  expect_rc 0
  expect_count 4 "$HEARTBEAT"
  expect_count 1 "$COMPLETE"
  expect_order "$HEARTBEAT" "$COMPLETE"
  expect_count 5 '127\.0\.0\.1:5080/WebRTCAppEE/rest/v2/broadcasts/list/0/50$'
  expect_called '127\.0\.0\.1:5080/LiveApp/rest/v2/broadcasts/list/0/50$'
  expect_output 'ams-drain: waiting: 2 publishers, 4 viewers'
  expect_output 'ams-drain: waiting: 0 publishers, 2 viewers'
}

test_streams_never_ending_are_cut_at_the_timeout() {
  agent ROLE=edge DRAIN_TIMEOUT_S=8
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo 1 >"$T/state/ams.viewers"
  drain
  expect_rc 0
  # Heartbeats at most every 60 s: the first one only, over several polls.
  expect_count 1 "$HEARTBEAT"
  [ "$(grep -c '/WebRTCAppEE/rest/v2/broadcasts/list/0/50$' "$T/log")" -ge 2 ] || fail "fewer than 2 polls in 8 s"
  expect_count 1 "$COMPLETE"
  expect_output 'ams-drain: drain timeout reached \(0 1\)'
}

test_ams_down_proceeds_after_three_polls() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  touch "$T/state/ams.down"
  drain
  expect_rc 0
  expect_count 3 '127\.0\.0\.1:5080/WebRTCAppEE/rest/v2/broadcasts/list/0/50$'
  expect_count 1 "$COMPLETE"
  expect_output 'ams-drain: AMS is down: nothing to drain'
}

test_ams_down_in_service_leaves_protection_alone() {
  touch "$T/state/ams.down"
  drain
  expect_rc 0
  expect_not_called 'set-instance-protection'
  [ "$(grep -c 'ams-drain: no answer from AMS: protection kept' "$T/out")" = 1 ] || fail "not said once"
}

test_missing_app_counts_as_empty() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  touch "$T/state/ams.no-liveapp"
  drain
  expect_rc 0
  expect_count 1 "$COMPLETE"
  expect_not_output 'no answer from AMS'
}

test_refused_completion_is_retried() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo 1 >"$T/state/complete.fails"
  drain
  expect_rc 0
  expect_count 2 "$COMPLETE"
  expect_output 'completion refused \(1 of 5\)'
  expect_file /var/lib/ams-drain/completed "^$INSTANCE\$"
}

test_completion_refused_five_times_fails_for_systemd_to_restart() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo 99 >"$T/state/complete.fails"
  drain
  expect_rc 1
  expect_count 5 "$COMPLETE"
  [ ! -e "$T/root/var/lib/ams-drain/completed" ] || fail "marker written without completion"
}

# AWS deregisters a terminating instance from its target groups before its hook's action exists.
test_deregistration_is_waited_out_then_drained_from_terminating_wait() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo 3 >"$T/state/asg.deregistering-s"
  echo "1 1 0" >"$T/state/ams.viewers"
  RUN_ENV=(AMS_DRAIN_MAX_POLLS=2000 AMS_DRAIN_HEARTBEAT_S=0)
  drain
  expect_rc 0
  [ "$(grep -cxF "$(printf 'aws: answered: ams-stack-origins\tTerminating')" "$T/log")" -ge 2 ] ||
    fail "Auto Scaling not asked again while Terminating"
  # Nothing counted, no heartbeat, no completion before Terminating:Wait.
  expect_order "$TERMINATING" "$TERMINATING_WAIT"
  expect_order "$TERMINATING_WAIT" "$LIST"
  expect_order "$TERMINATING_WAIT" "$HEARTBEAT"
  expect_count 2 "$HEARTBEAT"
  expect_count 1 "$COMPLETE"
  expect_count 1 "$COMPLETED"
  expect_not_output 'No active Lifecycle Action found'
  [ "$(grep -c 'ams-drain: waiting for the deregistration from the target groups to end' "$T/out")" = 1 ] ||
    fail "the wait for the deregistration not said once"
  expect_output 'ams-drain: Auto Scaling: Terminating$'
  expect_output 'ams-drain: Auto Scaling: Terminating:Wait$'
  expect_file /var/lib/ams-drain/completed "^$INSTANCE\$"
}

test_no_active_lifecycle_action_means_not_yet_and_completes_later() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  # Refused: the 2 heartbeats, then 6 completions (more than the 5 tries a refusal gets).
  echo 8 >"$T/state/no-action.refusals"
  echo "1 1 0" >"$T/state/ams.viewers"
  RUN_ENV=(AMS_DRAIN_MAX_POLLS=2000 AMS_DRAIN_HEARTBEAT_S=0)
  drain
  expect_rc 0
  expect_count 2 "$HEARTBEAT"
  expect_count 7 "$COMPLETE"
  expect_count 1 "$COMPLETED"
  expect_output 'ams-drain: heartbeat: no active lifecycle action yet'
  expect_output 'ams-drain: completion: no active lifecycle action yet'
  expect_not_output 'refused \([0-9] of 5\)'
  expect_file /var/lib/ams-drain/completed "^$INSTANCE\$"
}

test_drain_timeout_counts_from_terminating_wait() {
  agent ROLE=edge DRAIN_TIMEOUT_S=3
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo 4 >"$T/state/asg.deregistering-s"
  echo 1 >"$T/state/ams.viewers"
  RUN_ENV=(AMS_DRAIN_MAX_POLLS=2000)
  drain
  expect_rc 0
  expect_count 1 "$COMPLETE"
  expect_output 'ams-drain: drain timeout reached \(0 1\)'
  # 3 s of draining once in Terminating:Wait (bash counts whole seconds: over 2 s), not 3 s from
  # Terminated (over already when the wait began, 4 s later).
  expect_called "$COMPLETED, ([2-9]|[1-9][0-9]+) s into Terminating:Wait\$"
}

test_instance_past_terminating_wait_exits_without_completing() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo Terminating:Proceed >"$T/state/asg.state"
  drain
  expect_rc 0
  expect_not_called 'lifecycle-action'
  expect_not_called "$LIST"
  expect_output 'ams-drain: Auto Scaling: Terminating:Proceed$'
  expect_output 'ams-drain: no lifecycle action to complete'
}

test_instance_in_no_group_any_more_exits_without_completing() {
  echo 1 >"$T/state/lifecycle.terminated-at"
  echo gone >"$T/state/asg.state"
  drain
  expect_rc 0
  expect_not_called 'lifecycle-action'
  expect_output 'ams-drain: Auto Scaling: in no group$'
  expect_output 'ams-drain: no lifecycle action to complete'
}

test_not_in_a_group_does_nothing() {
  rm "$T/state/lifecycle-state"
  drain
  expect_rc 0
  expect_not_called '^aws'
  expect_output 'ams-drain: state: none'
}

test_unfilled_placeholder_fails_loudly() {
  sed 's/ams-stack-drain/{HOOK}/' "$T/boot.sh" >"$T/broken.sh"
  run "$T/broken.sh"
  expect_rc 1
  expect_output 'ams-drain: error: unfilled: \{HOOK\}'
  expect_not_called '^(aws|curl)'
}

test_no_aws_cli_fails_loudly() {
  rm "$T/bin/aws"
  drain
  expect_rc 1
  expect_output 'ams-drain: error: no aws'
}

main "$@"
