#!/usr/bin/env bash
# Tests of the stack file's node settings in the AMS node's boot script
# (src/cluster/user_data/ams-node.sh): [server] properties and plugins, [license] key_parameter,
# [app.NAME] settings through AMS's REST API, recording through the S3 signing proxy, and the
# TURN credential; on the stubbed machine of tests/boot/node_test.sh (tests/boot/lib.sh,
# tests/boot/stub.sh), with python3 and sha256sum real.
#   tests/boot/settings_test.sh [CASE...]     (all cases by default; exit 1 if any fails)
# BOOT_TEMPLATE names another copy of the script to test (to see a case fail on a script broken
# on purpose).
set -euo pipefail
# shellcheck source=tests/boot/lib.sh
. "$(dirname "$0")/lib.sh"
TEMPLATE=${BOOT_TEMPLATE:-$HERE/../../src/cluster/user_data/ams-node.sh}
INSTANCE="i-0123456789abcdef0"
READY="--lifecycle-hook-name ams-stack-ready --instance-id $INSTANCE --auto-scaling-group-name ams-stack-origins --region eu-west-1"
CONTINUE="^aws autoscaling complete-lifecycle-action --lifecycle-action-result CONTINUE $READY\$"
ABANDON="^aws autoscaling complete-lifecycle-action --lifecycle-action-result ABANDON $READY\$"
TOOLS=(bash cat chmod cp cut dirname grep head ln md5sum mkdir mktemp readlink rm sed seq sha256sum sort timeout touch tr uname)
STUBBED=(apt-get apt-mark aws curl gpg mongosh sleep snap systemctl unzip)
LICENSE_KEY='LICENCE-9f8e7d6c-test-only'
TURN_SECRET='turn-s3cr3t-5a4b-test-only'
PLUGIN_URL=https://plugins.example.com/v2/filter-plugin.jar
FILLED=()

# A fresh AMS machine, as node_test.sh makes it; the script filled with FILLED's NAME=VALUE.
setup() {
  machine_setup
  mkdir -p "$T/ams/conf"
  ln -s "$HERE/stub.sh" "$T/ams/change_server_mode.sh"
  printf '%s\n' 'server.allowed_dashboard_CIDR=0.0.0.0/0' 'server.cpu_limit=75' 'http.port=5080' \
    >"$T/ams/conf/red5.properties"
  printf '%s\n' '<list>' '<bean id="valve.access" class="org.apache.catalina.valves.AccessLogValve">' \
    '</bean>' '</list>' >"$T/ams/conf/jee-container.xml"
  echo 1 >"$T/state/mongodb.answers-at"
  printf '%s' "$LICENSE_KEY" >"$T/state/ssm.licence"
  printf '%s' "$TURN_SECRET" >"$T/state/ssm.turn-secret"
  printf 'plugin bytes\n' >"$T/state/plugin.filter-plugin.jar"
  FILLED=()
}
filled_boot() {
  # As ams-stack sends it: without the script's (and the proxy's) comment lines.
  BOOT_AS_SHIPPED=1 "$HERE/fill.sh" "$TEMPLATE" MONGODB_HOST="$MONGODB_HOST" ROLE=origin "${FILLED[@]}" >"$T/boot.sh"
  boot
}
expect_ready() {
  expect_rc 0
  expect_count 1 "$CONTINUE"
  expect_not_called "$ABANDON|set-instance-health"
}
expect_abandoned() {
  expect_rc 1
  expect_count 1 "$ABANDON"
  expect_not_called '^aws: launch action completed: CONTINUE$'
}
# An application's settings as AMS keeps them (the stub's), property $2 of application $1.
setting() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$T/state/settings.$1" "$2"; }
expect_setting() {
  local got
  got=$(setting "$1" "$2" 2>/dev/null) || got="(none)"
  [ "$got" = "$3" ] || fail "$1's $2 is $got, expected $3"
}
# The first line of the output matching $1 comes before the first matching $2.
expect_said_before() {
  local a b
  a=$(grep -nE -- "$1" "$T/out" | head -n 1 | cut -d: -f1) || true
  b=$(grep -nE -- "$2" "$T/out" | head -n 1 | cut -d: -f1) || true
  if [ -z "$a" ] || [ -z "$b" ] || [ "$a" -ge "$b" ]; then fail "'$1' not said before '$2'"; fi
}

test_placeholders_appear_once() {
  expect_placeholders LICENSE_PARAMETER TURN_PARAMETER TURN_URI S3_BUCKET S3_STORAGE_CLASS S3_PROXY SERVER_PROPERTIES PLUGINS APP_SETTINGS
}

test_properties_and_the_licence_are_written_before_the_join_the_key_nowhere_else() {
  FILLED=(SERVER_PROPERTIES=$'server.cpu_limit=85\nserver.name=ams-1' LICENSE_PARAMETER=/ams/licence)
  filled_boot
  expect_ready
  expect_file /../ams/conf/red5.properties '^server\.cpu_limit=85$'
  expect_file /../ams/conf/red5.properties '^server\.name=ams-1$'
  expect_file /../ams/conf/red5.properties "^server\\.licence_key=$LICENSE_KEY\$"
  expect_called '^aws ssm get-parameter --region eu-west-1 --name /ams/licence --with-decryption'
  expect_said_before 'red5.properties: server.cpu_limit as the stack file says' 'changing to cluster mode'
  expect_said_before 'red5.properties: the licence key of /ams/licence' 'changing to cluster mode'
  local leaks
  leaks=$(grep -rlF --exclude=red5.properties --exclude=ssm.licence -- "$LICENSE_KEY" "$T" || true)
  [ -z "$leaks" ] || fail "the licence key is in: $leaks"
}

test_a_plugin_with_its_digest_is_installed_before_the_join() {
  local sha
  sha=$(sha256sum "$T/state/plugin.filter-plugin.jar" | cut -d' ' -f1)
  FILLED=(PLUGINS="$sha filter-plugin.jar $PLUGIN_URL")
  filled_boot
  expect_ready
  cmp -s "$T/state/plugin.filter-plugin.jar" "$T/ams/plugins/filter-plugin.jar" || fail "plugin not installed"
  expect_called "^curl -fsSL --proto =https --max-time 300 -o .*/filter-plugin.jar $PLUGIN_URL\$"
  expect_said_before "plugin filter-plugin.jar installed \\(SHA-256 $sha\\)" 'changing to cluster mode'
}

test_a_plugin_with_another_digest_fails_the_boot_and_is_not_installed() {
  local wrong
  wrong=$(printf 'other' | sha256sum | cut -d' ' -f1)
  FILLED=(PLUGINS="$wrong filter-plugin.jar $PLUGIN_URL")
  filled_boot
  expect_abandoned
  [ ! -e "$T/ams/plugins/filter-plugin.jar" ] || fail "a plugin with another digest was installed"
  expect_output "plugin filter-plugin.jar from $PLUGIN_URL has SHA-256 [0-9a-f]{64}, not $wrong as the stack file says: not installed"
  expect_not_called '^change_server_mode.sh cluster '
}

test_a_plugin_that_cannot_be_fetched_fails_the_boot() {
  rm "$T/state/plugin.filter-plugin.jar"
  FILLED=(PLUGINS="$(printf 'x' | sha256sum | cut -d' ' -f1) filter-plugin.jar $PLUGIN_URL")
  filled_boot
  expect_abandoned
  expect_output "could not fetch plugin filter-plugin.jar from $PLUGIN_URL"
}

test_app_settings_are_written_where_they_differ_then_checked() {
  FILLED=(APP_SETTINGS=$'WebRTCAppEE mp4MuxingEnabled true\n* hlsListSize "5"')
  filled_boot
  expect_ready
  expect_setting WebRTCAppEE mp4MuxingEnabled true
  expect_setting WebRTCAppEE hlsListSize '"5"'
  expect_setting LiveApp hlsListSize '"5"'
  expect_setting LiveApp mp4MuxingEnabled false
  # What AMS had and the stack file does not name is kept.
  expect_setting LiveApp stunServerURI '"stun:stun1.l.google.com:19302"'
  expect_count 1 '^curl: settings of WebRTCAppEE written'
  expect_count 1 '^curl: settings of LiveApp written'
  expect_output 'application WebRTCAppEE: set hlsListSize mp4MuxingEnabled'
  expect_not_called 'no session cookie'
  expect_order "^curl .*/rest/v2/users/authenticate\$" '^curl: settings of'
}

test_settings_already_as_the_stack_file_says_are_not_written_again() {
  echo '{"mp4MuxingEnabled":true,"hlsListSize":"15"}' >"$T/state/settings.WebRTCAppEE"
  FILLED=(APP_SETTINGS='WebRTCAppEE mp4MuxingEnabled true')
  filled_boot
  expect_ready
  expect_not_called '^curl: settings of WebRTCAppEE written'
  expect_output 'application WebRTCAppEE: its settings are as the stack file says already'
}

test_an_application_the_node_lacks_is_created_then_set() {
  FILLED=(APP_SETTINGS='Classroom hlsListSize "5"')
  filled_boot
  expect_ready
  expect_called '^curl: application Classroom created$'
  expect_setting Classroom hlsListSize '"5"'
  expect_not_called '^curl: settings of (LiveApp|WebRTCAppEE) written'
}

test_an_application_another_node_made_is_waited_for_not_created() {
  echo "Classroom 3" >"$T/state/apps.arriving"
  APP_SYNC_WAIT_S=30
  FILLED=(APP_SETTINGS='Classroom hlsListSize "5"')
  filled_boot
  expect_ready
  expect_not_called '^curl: application Classroom created$'
  expect_output 'application Classroom deployed from the cluster'
  expect_setting Classroom hlsListSize '"5"'
}

test_an_application_named_without_settings_is_created() {
  FILLED=(APP_SETTINGS='Classroom')
  filled_boot
  expect_ready
  expect_called '^curl: application Classroom created$'
  expect_not_called '^curl: settings of .* written'
}

test_recording_and_turn_turned_off_reset_only_what_ams_stack_had_set() {
  echo '{"s3RecordingEnabled":true,"s3Endpoint":"http://127.0.0.1:5180","stunServerURI":"turn:turn.example.com:3478","turnServerUsername":"4102444800:ams","turnServerCredential":"abc="}' \
    >"$T/state/settings.WebRTCAppEE"
  # Someone's own S3 and TURN, set in the panel: not ours, left alone.
  echo '{"s3RecordingEnabled":true,"s3Endpoint":"https://s3.example.net","stunServerURI":"turn:mine.example.net","turnServerUsername":"me","turnServerCredential":"pw"}' \
    >"$T/state/settings.LiveApp"
  filled_boot
  expect_ready
  expect_setting WebRTCAppEE s3RecordingEnabled false
  expect_setting WebRTCAppEE s3Endpoint '""'
  expect_setting WebRTCAppEE stunServerURI '"stun:stun1.l.google.com:19302"'
  expect_setting WebRTCAppEE turnServerUsername '""'
  expect_setting WebRTCAppEE turnServerCredential '""'
  expect_not_called '^curl: settings of LiveApp written'
  expect_setting LiveApp s3Endpoint '"https://s3.example.net"'
  expect_setting LiveApp turnServerUsername '"me"'
}

test_settings_refused_fail_the_boot() {
  touch "$T/state/settings.refused"
  FILLED=(APP_SETTINGS='WebRTCAppEE mp4MuxingEnabled true')
  filled_boot
  expect_abandoned
  expect_output 'AMS refused the settings of application WebRTCAppEE .*: mp4MuxingEnabled'
}

test_settings_that_do_not_hold_fail_the_boot() {
  touch "$T/state/settings.ignored"
  FILLED=(APP_SETTINGS='WebRTCAppEE mp4MuxingEnabled true')
  filled_boot
  expect_abandoned
  expect_output 'application WebRTCAppEE does not keep what the stack file says: mp4MuxingEnabled'
}

test_the_turn_credential_is_made_from_the_secret_which_is_written_nowhere() {
  FILLED=(TURN_PARAMETER=/ams-stack/test/turn-secret TURN_URI=turn:turn.example.com:3478)
  filled_boot
  expect_ready
  local credential leaks
  # coturn's use-auth-secret: base64(HMAC-SHA1(secret, user)).
  credential=$(printf '%s' '4102444800:ams' | openssl dgst -sha1 -hmac "$TURN_SECRET" -binary | base64)
  for app in LiveApp WebRTCAppEE; do
    expect_setting "$app" stunServerURI '"turn:turn.example.com:3478"'
    expect_setting "$app" turnServerUsername '"4102444800:ams"'
    expect_setting "$app" turnServerCredential "\"$credential\""
  done
  leaks=$(grep -rlF --exclude=ssm.turn-secret -- "$TURN_SECRET" "$T" || true)
  [ -z "$leaks" ] || fail "the TURN secret is in: $leaks"
  expect_not_output "$credential"
}

test_recording_starts_the_signing_proxy_and_points_every_application_at_it() {
  FILLED=(S3_BUCKET=test-recordings-1 S3_STORAGE_CLASS=STANDARD_IA)
  filled_boot
  expect_ready
  local unit=/etc/systemd/system/ams-s3-proxy.service
  expect_file "$unit" '^Environment=AMS_S3_BUCKET=test-recordings-1 AMS_S3_REGION=eu-west-1 AMS_S3_PREFIX=recordings/ AMS_S3_LISTEN_PORT=5180$'
  expect_file "$unit" '^ExecStart=/usr/bin/python3 /usr/local/sbin/ams-s3-proxy$'
  expect_file "$unit" '^DynamicUser=yes$'
  sed -E '1!{/^[[:space:]]*(#|$)/d}' "$HERE/../../src/cluster/user_data/s3-proxy.py" >"$T/proxy"
  cmp -s "$T/proxy" "$T/root/usr/local/sbin/ams-s3-proxy" ||
    fail "the installed proxy differs from s3-proxy.py as shipped"
  "$PYTHON" -m py_compile "$T/root/usr/local/sbin/ams-s3-proxy" || fail "the shipped proxy does not compile"
  expect_called '^systemctl enable --now ams-s3-proxy\.service$'
  expect_order '^systemctl enable --now ams-s3-proxy\.service$' '^change_server_mode.sh cluster '
  for app in LiveApp WebRTCAppEE; do
    expect_setting "$app" s3RecordingEnabled true
    expect_setting "$app" s3BucketName '"test-recordings-1"'
    expect_setting "$app" s3Endpoint '"http://127.0.0.1:5180"'
    expect_setting "$app" s3PathStyleAccessEnabled true
    expect_setting "$app" s3StorageClass '"STANDARD_IA"'
    expect_setting "$app" s3StreamsFolderPath '"recordings/streams"'
    expect_setting "$app" s3PreviewsFolderPath '"recordings/previews"'
    expect_setting "$app" s3Permission '"bucket-owner-full-control"'
  done
}

test_a_proxy_that_does_not_start_fails_the_boot() {
  touch "$T/state/s3-proxy.fails"
  FILLED=(S3_BUCKET=test-recordings-1 S3_STORAGE_CLASS=STANDARD)
  filled_boot
  expect_abandoned
  expect_output 'this node did not start its S3 signing proxy'
}

main "$@"
