#!/usr/bin/env bash
# Tests of the AMS node's boot script (src/cluster/user_data/ams-node.sh), run with its
# placeholders filled (tests/boot/fill.sh), in a scratch directory, with stand-ins
# (tests/boot/stub.sh) for every command it runs: the instance metadata service (curl), aws,
# mongosh answering for the remote MongoDB, apt, AMS's change_server_mode.sh (in $T/ams, with the
# image's conf/ files), AMS's root REST API on localhost (curl), and a PATH holding nothing else
# but a few plain tools (tests/boot/lib.sh).
#   tests/boot/node_test.sh [CASE...]     (all cases by default; exit 1 if any fails)
# BOOT_TEMPLATE names another copy of the script to test (to see a case fail on a script broken
# on purpose).
set -euo pipefail
# shellcheck source=tests/boot/lib.sh
. "$(dirname "$0")/lib.sh"
TEMPLATE=${BOOT_TEMPLATE:-$HERE/../../src/cluster/user_data/ams-node.sh}
INSTANCE="i-0123456789abcdef0"
URI="mongodb://antmedia:<password>@$MONGODB_HOST:27017/?authSource=admin"
UNHEALTHY="^aws autoscaling set-instance-health --instance-id $INSTANCE --health-status Unhealthy --no-should-respect-grace-period --region eu-west-1\$"
MODE_CHANGE='^change_server_mode.sh cluster '
# The launch lifecycle action, completed (or not) in the instance's group (tests/boot/stub.sh).
READY="--lifecycle-hook-name ams-stack-ready --instance-id $INSTANCE --auto-scaling-group-name ams-stack-origins --region eu-west-1"
CONTINUE="^aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE $READY\$"
ABANDON="^aws autoscaling complete-lifecycle-action --lifecycle-action-result ABANDON $READY\$"
# The plain tools the script and the stubs may use from the real system.
TOOLS=(bash cat chmod cut dirname grep head ln md5sum mkdir mktemp readlink rm sed seq sort timeout touch tr uname)
STUBBED=(apt-get apt-mark aws curl gpg mongosh sleep snap systemctl unzip)
ENABLE='^systemctl enable --now ams-drain\.service$'
REST='http://127\.0\.0\.1:5080/rest/v2'
STATUS="^curl .*$REST/first-login-status\$"
CLAIM="^curl .*--data-binary @- $REST/users/initial\$"
LOGIN="^curl .*--data-binary @- $REST/users/authenticate\$"
# The image's JWT secret of the management REST API in some builds: the instance id's MD5.
IMAGE_JWT=$(printf '%s' "$INSTANCE" | md5sum | cut -d' ' -f1)


# A fresh AMS machine (machine_setup) with mongosh and AMS installed, and the filled-in script;
# MongoDB answers the third ping.
setup() {
  machine_setup
  mkdir -p "$T/ams/conf"
  ln -s "$HERE/stub.sh" "$T/ams/change_server_mode.sh"
  printf '%s\n' '# Default value is open everyone' 'server.allowed_dashboard_CIDR=0.0.0.0/0' \
    'server.jwtServerControlEnabled=true' "server.jwtServerSecretKey=$IMAGE_JWT" 'http.port=5080' \
    >"$T/ams/conf/red5.properties"
  local layout
  for layout in jee-container jee-container-cluster; do
    printf '%s\n' '<property name="valves">' '<list>' \
      '<bean id="valve.access" class="org.apache.catalina.valves.AccessLogValve">' \
      '<property name="directory" value="log" />' '</bean>' '</list>' '</property>' >"$T/ams/conf/$layout.xml"
  done
  echo 3 >"$T/state/mongodb.answers-at"
  "$HERE/fill.sh" "$TEMPLATE" MONGODB_HOST="$MONGODB_HOST" ROLE=origin >"$T/boot.sh"
}

# The node completed its launch action with CONTINUE, once, and nothing else.
expect_ready() {
  expect_rc 0
  expect_count 1 "$CONTINUE"
  expect_called '^aws: launch action completed: CONTINUE$'
  expect_not_called "$ABANDON|set-instance-health"
}
# The node failed, and said so: its launch abandoned (through IMDSv2's instance id), exit 1.
expect_abandoned() {
  expect_rc 1
  expect_count 1 "$ABANDON"
  expect_called '^aws: launch action completed: ABANDON$'
  expect_not_called '^aws: launch action completed: CONTINUE$|set-instance-health'
  expect_order '^curl .*-X PUT .*/latest/api/token$' '^curl .*X-aws-ec2-metadata-token: .*/meta-data/instance-id$'
  expect_output "ams-node: error: abandoned its launch: Auto Scaling terminates and replaces it"
}
# ... when it did not join.
expect_unjoined() {
  expect_abandoned
  expect_output "ams-node: error: this node did not join the cluster"
}

test_placeholders_appear_once() {
  expect_placeholders COMMON REGION MONGODB_USER MONGODB_CREATE_USER PARAMETER PANEL_PARAMETER ADMIN_CIDR MONGODB_HOST ROLE READY_HOOK DRAIN_AGENT
}

test_joined_node_installs_and_starts_the_drain_agent() {
  boot
  expect_rc 0
  [ -x "$T/root/usr/local/sbin/ams-drain" ] || fail "no executable /usr/local/sbin/ams-drain"
  # The agent as filled for this node, comment lines and indentation dropped (tests/boot/fill.sh).
  "$HERE/fill.sh" "$HERE/../../src/cluster/user_data/drain-agent.sh" ROLE=origin |
    sed -E '1!{s/^[[:space:]]+//;/^(#|$)/d}' >"$T/agent"
  cmp -s "$T/agent" "$T/root/usr/local/sbin/ams-drain" || fail "the installed agent differs from drain-agent.sh filled"
  expect_file /usr/local/sbin/ams-drain '^REGION="eu-west-1" ROLE="origin" HOOK="ams-stack-drain" TIMEOUT_S="900"$'
  expect_file /etc/systemd/system/ams-drain.service '^ExecStart=/usr/local/sbin/ams-drain$'
  expect_file /etc/systemd/system/ams-drain.service '^After=network-online\.target antmedia\.service$'
  expect_file /etc/systemd/system/ams-drain.service '^Restart=on-failure$'
  expect_file /etc/systemd/system/ams-drain.service '^WantedBy=multi-user\.target$'
  expect_order '^systemctl daemon-reload$' "$MODE_CHANGE"
  expect_order '^systemctl daemon-reload$' "$ENABLE"
  expect_output 'ams-node: drain agent started'
}

test_drain_agent_failing_to_start_abandons_the_launch() {
  touch "$T/state/drain-unit.fails"
  boot
  expect_abandoned
  expect_order "$ENABLE" "$ABANDON"
  expect_output 'ams-node: error: this node did not start its drain agent'
  expect_not_output 'drain agent started'
}

test_drain_agent_dying_at_once_abandons_the_launch() {
  touch "$T/state/drain-unit.dies"
  boot
  expect_abandoned
  expect_order '^systemctl is-active --quiet ams-drain\.service$' "$ABANDON"
  expect_output 'ams-drain stopped right after it started'
  expect_not_output 'drain agent started'
}

test_mongodb_answering_late_is_waited_for_then_the_node_joins() {
  boot
  expect_rc 0
  expect_count 3 '^mongosh --nodb '
  expect_count 1 "$MODE_CHANGE"
  expect_called "${MODE_CHANGE}$(printf '%s' "$URI" | sed 's/[.?]/\\&/g')\$"
  expect_called "^change_server_mode.sh: run in $T/ams\$"
  expect_order '^mongosh: authenticated ping answered$' "$MODE_CHANGE"
  expect_ready
  expect_not_called '^(apt-get|unzip|install)'
  expect_output "waiting up to 30 s for MongoDB at $MONGODB_HOST:27017 to accept user antmedia"
  expect_output 'does not accept user antmedia yet: MongoServerSelectionError: connect ECONNREFUSED'
  expect_output "ams-node: joined the cluster"
}

test_mongodb_never_answering_abandons_the_launch() {
  rm "$T/state/mongodb.answers-at"
  WAIT_S=1 boot
  expect_unjoined
  expect_not_called "$MODE_CHANGE"
  # Its agent runs, so that the termination its group starts is drained at once, not after the
  # hook's whole timeout.
  [ -x "$T/root/usr/local/sbin/ams-drain" ] || fail "no drain agent on a node that did not join"
  expect_order "$ENABLE" '^mongosh --nodb '
  expect_order "$ENABLE" "$ABANDON"
  expect_output "error: MongoDB at $MONGODB_HOST:27017 did not accept user antmedia within 1 s \\(last answer: MongoServerSelectionError"
}

test_mongodb_refusing_the_user_abandons_the_launch() {
  echo 1 >"$T/state/mongodb.answers-at"
  touch "$T/state/mongodb.auth-refused"
  WAIT_S=1 boot
  expect_unjoined
  expect_not_called "$MODE_CHANGE"
  expect_output 'last answer: MongoServerError: Authentication failed'
}

test_default_user_antmedia_joins_with_the_password_from_ssm() {
  boot
  expect_ready
  expect_count 1 '^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/mongodb-password '
  expect_count 1 '^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/panel-password '
  expect_count 1 "$MODE_CHANGE"
  expect_called "${MODE_CHANGE}mongodb://antmedia:<password>@10\.0\.1\.23:27017/\?authSource=admin\$"
  expect_called '^mongosh: authenticated ping answered$'
  expect_not_called '^mongosh: ping answered, no user asked$'
  expect_output "ams-node: MongoDB at $MONGODB_HOST:27017 accepts user antmedia\$"
  expect_not_output 'accept(s)? connections'
  expect_password_nowhere
}

# A MongoDB adopted without auth (built by hand from Ant Media's guide): MONGODB_USER empty.
test_mongodb_without_auth_is_joined_without_credentials() {
  "$HERE/fill.sh" "$TEMPLATE" MONGODB_HOST="$MONGODB_HOST" ROLE=origin MONGODB_USER= >"$T/boot.sh"
  touch "$T/state/mongodb.no-auth"
  boot
  expect_ready
  # No read of MongoDB's password; the panel's, as always.
  expect_not_called '^aws ssm get-parameter .*--name /ams-stack/test/mongodb-password '
  expect_count 1 '^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/panel-password '
  expect_count 3 '^mongosh --nodb '
  expect_count 1 '^mongosh: ping answered, no user asked$'
  expect_not_called '^mongosh: authenticated ping'
  expect_count 1 "$MODE_CHANGE"
  expect_called "${MODE_CHANGE}mongodb://10\.0\.1\.23:27017/\?directConnection=true\$"
  expect_order '^mongosh: ping answered, no user asked$' "$MODE_CHANGE"
  expect_count 2 'body: \{"email":"admin","password":"<md5 of the panel password>"'
  expect_output "waiting up to 30 s for MongoDB at $MONGODB_HOST:27017 to accept connections\$"
  expect_output "MongoDB at $MONGODB_HOST:27017 does not accept connections yet: MongoServerSelectionError"
  expect_output "ams-node: MongoDB at $MONGODB_HOST:27017 accepts connections\$"
  expect_output "ams-node: joined the cluster: MongoDB at $MONGODB_HOST:27017\$"
  expect_not_output 'antmedia|<password>|mongodb-password'
  expect_password_nowhere
}

# The stub tells the two apart: a node asking for antmedia never joins a MongoDB without auth.
test_mongodb_without_auth_refuses_user_antmedia() {
  touch "$T/state/mongodb.no-auth"
  echo 1 >"$T/state/mongodb.answers-at"
  WAIT_S=1 boot
  expect_unjoined
  expect_not_called "$MODE_CHANGE"
  expect_output "did not accept user antmedia within 1 s \(last answer: MongoServerError: Authentication failed"
}

# Auth turned on for a MongoDB adopted without it: MONGODB_CREATE_USER=yes, the node makes the user.
fill_create_user() {
  "$HERE/fill.sh" "$TEMPLATE" MONGODB_HOST="$MONGODB_HOST" ROLE=origin MONGODB_CREATE_USER=yes >"$T/boot.sh"
}
CREATION='^mongosh: user creation asked: antmedia at mongodb://10\.0\.1\.23:27017/\?directConnection=true, the password from SSM in the environment$'

test_user_is_created_in_mongodb_taking_no_password_yet_then_the_node_joins() {
  fill_create_user
  touch "$T/state/mongodb.no-auth"
  boot
  expect_ready
  # MongoDB answers the third call: two creation attempts wait for it, the third creates.
  expect_count 3 "$CREATION"
  expect_count 1 '^mongosh: created antmedia$'
  expect_not_called '^mongosh: updated |user creation refused'
  grep -qx antmedia "$T/state/users" || fail "no user antmedia in MongoDB"
  expect_count 4 '^mongosh --nodb '
  expect_count 1 '^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/mongodb-password '
  expect_order '^mongosh: created antmedia$' '^mongosh: authenticated ping answered$'
  expect_order '^mongosh: authenticated ping answered$' "$MODE_CHANGE"
  expect_not_called '^mongosh: ping answered, no user asked$'
  expect_count 1 "$MODE_CHANGE"
  expect_called "${MODE_CHANGE}mongodb://antmedia:<password>@10\.0\.1\.23:27017/\?authSource=admin\$"
  expect_output "ams-node: creating MongoDB user antmedia at $MONGODB_HOST:27017 unless MongoDB asks for a password already"
  expect_output "ams-node: MongoDB at $MONGODB_HOST:27017 does not answer yet: no answer: connect ECONNREFUSED"
  expect_output 'ams-node: created MongoDB user antmedia \(MongoDB takes no password yet\)$'
  expect_output "ams-node: MongoDB at $MONGODB_HOST:27017 accepts user antmedia\$"
  expect_not_called 'password in the environment'
  expect_password_nowhere
}

test_existing_user_is_updated_in_mongodb_taking_no_password_yet_then_the_node_joins() {
  # Another node made it first (or it was made by hand): its password and roles are set again.
  fill_create_user
  touch "$T/state/mongodb.no-auth"
  echo antmedia >"$T/state/users"
  echo 1 >"$T/state/mongodb.answers-at"
  boot
  expect_ready
  expect_count 1 "$CREATION"
  expect_count 1 '^mongosh: updated antmedia$'
  expect_not_called '^mongosh: created '
  expect_order '^mongosh: updated antmedia$' '^mongosh: authenticated ping answered$'
  expect_called "${MODE_CHANGE}mongodb://antmedia:<password>@10\.0\.1\.23:27017/\?authSource=admin\$"
  expect_output 'ams-node: updated the password and roles of MongoDB user antmedia \(MongoDB takes no password yet\)$'
  expect_not_output 'created MongoDB user'
  expect_password_nowhere
}

test_mongodb_asking_for_a_password_already_gets_no_user_made() {
  fill_create_user
  echo 1 >"$T/state/mongodb.answers-at"
  boot
  expect_ready
  expect_count 1 "$CREATION"
  expect_called '^mongosh: user creation refused: Command usersInfo requires authentication$'
  expect_not_called '^mongosh: (created|updated) '
  [ ! -e "$T/state/users" ] || fail "a user was made: $(cat "$T/state/users")"
  expect_order '^mongosh: user creation refused' '^mongosh: authenticated ping answered$'
  expect_called "${MODE_CHANGE}mongodb://antmedia:<password>@10\.0\.1\.23:27017/\?authSource=admin\$"
  expect_output "ams-node: MongoDB at $MONGODB_HOST:27017 asks for a password already: user antmedia not created \(it must exist\)"
  expect_not_output '(created|updated) MongoDB user'
  expect_password_nowhere
}

# MONGODB_CREATE_USER empty (the default): as before it existed, no user is ever made.
test_mongodb_without_auth_gets_no_user_by_default() {
  touch "$T/state/mongodb.no-auth"
  echo 1 >"$T/state/mongodb.answers-at"
  WAIT_S=1 boot
  expect_unjoined
  expect_not_called 'user creation|^mongosh: (created|updated) |^mongosh .*createUser'
  [ ! -e "$T/state/users" ] || fail "a user was made: $(cat "$T/state/users")"
  expect_not_called "$MODE_CHANGE"
  expect_output "did not accept user antmedia within 1 s \(last answer: MongoServerError: Authentication failed"
  expect_not_output 'MongoDB user|creating'
}

test_user_creation_failing_otherwise_abandons_the_launch() {
  fill_create_user
  touch "$T/state/mongodb.no-auth" "$T/state/mongodb.create-fails"
  echo 1 >"$T/state/mongodb.answers-at"
  boot
  expect_unjoined
  expect_count 1 "$CREATION"
  expect_not_called '^mongosh: (created|updated) |authenticated ping'
  expect_not_called "$MODE_CHANGE"
  expect_order "$CREATION" "$ABANDON"
  expect_output "ams-node: error: could not create or update MongoDB user antmedia at $MONGODB_HOST:27017: MongoServerError: not primary"
  expect_password_nowhere
}

test_mongodb_never_answering_the_user_creation_abandons_the_launch() {
  fill_create_user
  touch "$T/state/mongodb.no-auth"
  rm "$T/state/mongodb.answers-at"
  WAIT_S=1 boot
  expect_unjoined
  expect_called "$CREATION"
  expect_not_called '^mongosh: (created|updated) |authenticated ping'
  expect_not_called "$MODE_CHANGE"
  expect_output "error: MongoDB at $MONGODB_HOST:27017 did not answer within 1 s \(last answer: no answer: connect ECONNREFUSED"
}

test_bad_mongodb_create_user_fails_loudly() {
  "$HERE/fill.sh" "$TEMPLATE" MONGODB_CREATE_USER=true >"$T/boot.sh"
  boot
  expect_unjoined
  expect_output 'error: MONGODB_CREATE_USER is neither yes nor empty: true'
  expect_not_called '^mongosh|^aws ssm get-parameter .*--name /ams-stack/test/mongodb-password '
}

test_bad_mongodb_user_fails_loudly() {
  "$HERE/fill.sh" "$TEMPLATE" MONGODB_USER='ant@media' >"$T/boot.sh"
  boot
  expect_unjoined
  expect_output 'error: not a MongoDB user name a mongodb:// URI takes unescaped: ant@media'
  expect_not_called '^aws ssm get-parameter .*--name /ams-stack/test/mongodb-password '
  expect_not_called "$MODE_CHANGE"
}

test_failing_mode_change_is_retried_then_the_launch_abandoned() {
  echo 99 >"$T/state/mode-change.fails"
  boot
  expect_unjoined
  expect_count 3 "$MODE_CHANGE"
  expect_output 'error: change_server_mode.sh failed 3 times'
  expect_order "$MODE_CHANGE" "$ABANDON"
}

test_mode_change_failing_once_is_retried() {
  echo 1 >"$T/state/mode-change.fails"
  boot
  expect_rc 0
  expect_count 2 "$MODE_CHANGE"
  expect_ready
}

test_missing_aws_cli_is_installed_at_the_pinned_version() {
  rm "$T/bin/aws"
  boot
  expect_rc 0
  expect_called "^curl .*https://awscli\.amazonaws\.com/awscli-exe-linux-$(uname -m)-2\.22\.35\.zip\$"
  expect_called '^unzip -q .*/awscliv2\.zip -d '
  expect_order '^install' '^aws ssm get-parameter'
  expect_not_called '^(snap|apt-get .*awscli)'
}

test_missing_mongosh_is_installed_at_the_pinned_version_before_the_ping() {
  rm "$T/bin/mongosh"
  printf '%s\n' 'PRETTY_NAME="Ubuntu 22.04.5 LTS"' 'VERSION_CODENAME=jammy' >"$T/root/etc/os-release"
  boot
  expect_rc 0
  expect_called '^curl .*/static/pgp/server-8\.0\.asc$'
  expect_file /usr/share/keyrings/mongodb-server-8.0.gpg 'BEGIN PGP PUBLIC KEY BLOCK'
  expect_file /etc/apt/sources.list.d/mongodb-org-8.0.list \
    '^deb \[ arch=amd64,arm64 signed-by=/usr/share/keyrings/mongodb-server-8\.0\.gpg \] https://repo\.mongodb\.org/apt/ubuntu jammy/mongodb-org/8\.0 multiverse$'
  expect_order '^gpg ' '^apt-get .*install mongodb-mongosh=2\.5\.6$'
  expect_called '^apt-mark hold mongodb-mongosh$'
  expect_order '^apt-get .*install mongodb-mongosh=2\.5\.6$' '^mongosh '
  expect_count 1 "$MODE_CHANGE"
}

test_mongosh_missing_on_an_unknown_release_fails_loudly() {
  rm "$T/bin/mongosh"
  printf '%s\n' 'PRETTY_NAME="Debian GNU/Linux 12"' 'VERSION_CODENAME=bookworm' >"$T/root/etc/os-release"
  boot
  expect_unjoined
  expect_output "error: no mongosh, and MongoDB 8.0 has no packages for Ubuntu 'bookworm'"
  expect_not_called "$MODE_CHANGE"
}

test_any_other_failure_abandons_the_launch() {
  rm "$T/bin/mongosh"
  touch "$T/state/apt-fails"
  boot
  expect_unjoined
  expect_output 'ams-node: error: line [0-9]+: apt-get -y .* \(exit 100\)'
  expect_not_called "$MODE_CHANGE"
}

test_password_is_only_in_the_mode_change_arguments() {
  # MongoDB's first answer quotes the URI; AMS's script prints it (see stub.sh).
  touch "$T/state/mongodb.error-names-uri"
  boot
  expect_rc 0
  expect_called '^mongosh: authenticated ping answered$'
  expect_count 1 '^change_server_mode.sh cluster mongodb://antmedia:<password>@'
  expect_not_called 'password in the environment'
  expect_called "$CLAIM"
  expect_count 2 'body: \{"email":"admin","password":"<md5 of the panel password>"'
  expect_output 'no server for mongodb://antmedia:<password>@'
  expect_output "^clusterdb.host=mongodb://antmedia:<password>@$MONGODB_HOST:27017"
  expect_password_nowhere
  local left
  left=$(ls -A "$T/tmp")
  [ -z "$left" ] || fail "left in TMPDIR: $left"
}

test_unreadable_password_abandons_the_launch() {
  rm "$T/state/ssm-readable"
  boot
  expect_unjoined
  expect_output 'error: could not read SSM parameter /ams-stack/test/mongodb-password in eu-west-1 after 30 attempts'
  expect_count 30 '^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/mongodb-password '
  expect_not_called '^mongosh'
  expect_not_called "$MODE_CHANGE"
}

test_missing_ams_abandons_the_launch() {
  rm "$T/ams/change_server_mode.sh"
  boot
  expect_unjoined
  expect_output "error: no $T/ams/change_server_mode.sh: is this an AMS image\\?"
}

test_refused_health_report_is_retried_and_said() {
  rm "$T/state/mongodb.answers-at"
  touch "$T/state/launch-hook.absent" "$T/state/asg-refuses"
  WAIT_S=1 boot
  expect_rc 1
  expect_count 5 "$UNHEALTHY"
  expect_output "error: could not mark instance $INSTANCE Unhealthy: terminate it by hand"
}

test_no_instance_id_is_said() {
  rm "$T/state/mongodb.answers-at"
  touch "$T/state/imds-down"
  WAIT_S=1 boot
  expect_rc 1
  expect_not_called '^aws autoscaling'
  expect_output 'ams-node: no instance id from IMDSv2: cannot complete the launch lifecycle action'
  expect_output 'error: no instance id from IMDSv2: cannot mark this instance Unhealthy'
}

test_first_node_claims_the_panel_admin_once_after_the_join() {
  boot
  expect_rc 0
  expect_count 1 "$STATUS"
  expect_count 1 "$CLAIM"
  expect_called '^curl: initial body: \{"email":"admin","password":"<md5 of the panel password>","userType":"ADMIN","scope":"system"\}$'
  expect_called '^curl: authenticate body: \{"email":"admin","password":"<md5 of the panel password>"\}$'
  expect_order "$MODE_CHANGE" "$STATUS"
  expect_order "$STATUS" "$CLAIM"
  expect_order "$CLAIM" "$LOGIN"
  expect_order "$ENABLE" "$MODE_CHANGE"
  expect_count 2 "^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/(mongodb|panel)-password "
  grep -qx 'admin ours' "$T/state/panel.users" || fail "no admin with the panel password"
  expect_not_called 'REST called without conf/initialized'
  expect_output "ams-node: claimed the web panel's first admin: admin"
  expect_output "ams-node: the web panel's admin is admin, with the password of /ams-stack/test/panel-password"
  expect_password_nowhere
}

test_existing_admin_is_not_claimed_again() {
  echo "admin ours" >"$T/state/panel.users"
  boot
  expect_rc 0
  expect_not_called "$CLAIM"
  expect_count 1 "$LOGIN"
  expect_output "the web panel's admin exists already"
  expect_not_output 'claimed'
}

test_admin_claimed_by_another_node_meanwhile_is_accepted() {
  touch "$T/state/panel.race"
  boot
  expect_rc 0
  expect_count 1 "$CLAIM"
  expect_count 1 "$LOGIN"
  expect_output 'another node claimed the web panel.s admin first \(\{"success":false'
  expect_ready
}

test_admin_that_is_not_ours_abandons_the_launch() {
  # The Marketplace image's default: JamesBond, made before ams-stack could stop it.
  echo "JamesBond other" >"$T/state/panel.users"
  boot
  expect_abandoned
  expect_not_called "$CLAIM"
  expect_order "$LOGIN" "$ABANDON"
  expect_output "ams-node: error: AMS refuses admin with the password of /ams-stack/test/panel-password"
  expect_output "ams-node: error: this node did not claim the web panel's admin"
  expect_password_nowhere
}

test_ams_rest_answering_late_is_waited_for() {
  echo 3 >"$T/state/panel.answers-at"
  boot
  expect_rc 0
  expect_count 3 "$STATUS"
  expect_count 1 "$CLAIM"
  expect_output "AMS's REST API does not answer yet: curl: \(7\)"
}

test_ams_rest_never_answering_abandons_the_launch() {
  touch "$T/state/panel.down"
  echo 1 >"$T/state/mongodb.answers-at"
  WAIT_S=1 boot
  expect_abandoned
  expect_not_called "$CLAIM"
  expect_output "error: AMS's REST API did not answer within 1 s \(last answer: curl: \(7\).*the panel's admin is unclaimed"
  expect_output "ams-node: error: this node did not claim the web panel's admin"
}

test_default_admin_is_prevented_first() {
  # Even a node failing at its first step leaves conf/initialized: the image's init.sh stays idle.
  rm "$T/state/ssm-readable"
  boot
  expect_unjoined
  [ -f "$T/ams/conf/initialized" ] || fail "no conf/initialized"
  expect_output 'ams-node: wrote conf/initialized'
}

test_dashboard_filter_and_forwarded_address_are_set_before_the_join() {
  local props=$T/ams/conf/red5.properties layout jwt
  boot
  expect_rc 0
  expect_called '^change_server_mode.sh: dashboard filter at the mode change: server\.allowed_dashboard_CIDR=203\.0\.113\.0/24,198\.51\.100\.7/32,127\.0\.0\.1/32$'
  [ "$(grep -c '^server\.allowed_dashboard_CIDR=' "$props")" = 1 ] || fail "server.allowed_dashboard_CIDR not once in red5.properties"
  grep -q '^http\.port=5080$' "$props" || fail "red5.properties lost its other lines"
  jwt=$(sed -n 's/^server\.jwtServerSecretKey=//p' "$props")
  [[ $jwt =~ ^[A-Za-z0-9]{32}$ && $jwt != "$IMAGE_JWT" ]] || fail "the image's JWT secret was not replaced: '$jwt'"
  for layout in jee-container jee-container-cluster; do
    [ "$(grep -c 'org\.apache\.catalina\.valves\.RemoteIpValve' "$T/ams/conf/$layout.xml")" = 1 ] ||
      fail "$layout.xml: not one RemoteIpValve"
    grep -B1 'AccessLogValve' "$T/ams/conf/$layout.xml" | grep -q RemoteIpValve ||
      fail "$layout.xml: the RemoteIpValve is not right before the AccessLogValve"
  done
  expect_output 'dashboard IP filter: 203\.0\.113\.0/24,198\.51\.100\.7/32 and this host'
}

test_missing_dashboard_setting_is_added() {
  printf '%s\n' 'http.port=5080' >"$T/ams/conf/red5.properties"
  boot
  expect_rc 0
  grep -qx 'server.allowed_dashboard_CIDR=203.0.113.0/24,198.51.100.7/32,127.0.0.1/32' "$T/ams/conf/red5.properties" ||
    fail "no server.allowed_dashboard_CIDR added"
}

test_bad_admin_cidr_fails_loudly() {
  "$HERE/fill.sh" "$TEMPLATE" ADMIN_CIDR='0.0.0.0/0 x' >"$T/boot.sh"
  boot
  expect_unjoined
  expect_output "error: not a CIDR list: 0\.0\.0\.0/0 x"
  expect_not_called "$MODE_CHANGE"
}

test_ready_node_completes_its_launch_action_last() {
  boot
  expect_ready
  expect_called "^aws autoscaling describe-auto-scaling-instances --instance-ids $INSTANCE --output text --query AutoScalingInstances\\[0\\]\\.AutoScalingGroupName --region eu-west-1\$"
  expect_order '^aws autoscaling describe-auto-scaling-instances ' "$CONTINUE"
  expect_order "$LOGIN" "$CONTINUE"
  [ "$(tail -n 1 "$T/log")" = 'aws: launch action completed: CONTINUE' ] || fail "something ran after the completion"
  expect_output 'ams-node: launch lifecycle action completed \(CONTINUE\): its group puts this node in service'
}

test_failed_node_without_launch_action_marks_itself_unhealthy() {
  # A group made before ams-stack had the launch hook; or an instance in service already.
  rm "$T/state/mongodb.answers-at"
  touch "$T/state/launch-hook.absent"
  WAIT_S=1 boot
  expect_rc 1
  expect_count 1 "$ABANDON"
  expect_not_called '^aws: launch action completed'
  expect_count 1 "$UNHEALTHY"
  expect_order "$ABANDON" "$UNHEALTHY"
  expect_output 'No active Lifecycle Action found with instance ID'
  expect_output 'ams-node: no launch lifecycle action to abandon \(launched before its group had hook ams-stack-ready, or in service already\)'
  expect_output "ams-node: error: marked instance $INSTANCE Unhealthy: its Auto Scaling group replaces it"
  expect_not_output 'abandoned its launch'
}

test_failed_node_whose_abandon_is_refused_marks_itself_unhealthy() {
  rm "$T/state/mongodb.answers-at"
  echo 99 >"$T/state/complete.fails"
  WAIT_S=1 boot
  expect_rc 1
  expect_count 5 "$ABANDON"
  expect_count 1 "$UNHEALTHY"
  expect_output 'launch lifecycle action ABANDON refused \(attempt 5 of 5\)'
  expect_output 'ams-node: could not abandon its launch'
  expect_output "ams-node: error: marked instance $INSTANCE Unhealthy"
}

test_node_launched_before_its_group_had_the_hook_is_ready_all_the_same() {
  touch "$T/state/launch-hook.absent"
  boot
  expect_rc 0
  expect_count 1 "$CONTINUE"
  expect_not_called "$ABANDON|set-instance-health"
  expect_output 'ams-node: no launch lifecycle action to complete: this instance was launched before its group had hook ams-stack-ready; ready all the same'
}

test_refused_continue_is_retried() {
  echo 2 >"$T/state/complete.fails"
  boot
  expect_rc 0
  expect_count 3 "$CONTINUE"
  expect_called '^aws: launch action completed: CONTINUE$'
  expect_not_called "$ABANDON|set-instance-health"
  expect_output 'Rate exceeded'
  expect_output 'launch lifecycle action CONTINUE refused \(attempt 2 of 5\)'
}

test_continue_refused_five_times_fails_the_boot() {
  echo 5 >"$T/state/complete.fails"
  boot
  expect_count 5 "$CONTINUE"
  expect_abandoned
  expect_order "$CONTINUE" "$ABANDON"
  expect_output 'ams-node: error: could not complete the launch lifecycle action \(hook ams-stack-ready\)'
  expect_output 'ams-node: error: this node did not complete its launch lifecycle action'
}

main "$@"
