#!/bin/bash
# Ant Media Server {ROLE} node joining the cluster (made by ams-stack): EC2 user data, run once as
# root by cloud-init at first boot of every origin and edge instance (AMS Enterprise image).
# 1. Reads the password of MongoDB's user antmedia from SSM Parameter Store through the instance
#    role. It stays in memory: in mongosh's environment and in change_server_mode.sh's arguments
#    (see there), never in a file, a log or any other command line.
# 2. Waits until MongoDB (made at the same time, maybe still installing) accepts that user: an
#    authenticated ping by mongosh, installed at a pinned release from MongoDB's repository when
#    the image has none. Every 10 s, for 15 minutes.
# 3. Joins the cluster with change_server_mode.sh and one full mongodb:// URI (since AMS 3.0:
#    separate user and password arguments are deprecated, and a bare IP makes it ask a question
#    nobody answers at boot); tried up to 3 times.
# 4. Starts the drain agent (drain-agent.sh, pasted by ams-stack in place of DRAIN_AGENT) as
#    ams-drain.service: a node without it would be cut off mid-stream.
# 5. On any failure (MongoDB never answers, the mode change keeps failing, the agent does not
#    start, anything else) marks its own instance Unhealthy in its Auto Scaling group, which
#    replaces it, and exits non-zero: a node left standalone must never pass health checks.
# log, die, apt_get, add_mongodb_repo, install_aws_cli, read_password and instance_id come from
# common.sh, pasted in by ams-stack in place of the COMMON placeholder below.
# Set by tests only (tests/boot/); production uses the defaults:
#   AMS_ROOT            prefix of the files this script reads and writes itself (default: none)
#   AMS_ANTMEDIA_DIR    where AMS is installed (default: /usr/local/antmedia)
#   AMS_MONGODB_WAIT_S  how long to wait for MongoDB to accept the user (default: 900 seconds)
set -Eeuo pipefail
{COMMON}
BOOT_NAME=ams-node
REGION="{REGION}"
PARAMETER="{PARAMETER}"
MONGOSH_VERSION=2.5.6
MODE_CHANGE_ATTEMPTS=3
ROOT=${AMS_ROOT:-}
AMS_DIR=${AMS_ANTMEDIA_DIR:-/usr/local/antmedia}
MONGODB_WAIT_S=${AMS_MONGODB_WAIT_S:-900}
PASSWORD=""
joined=""
ready=""
step="join the cluster"
scratch=""

# Replaces the password by <password> in text for the log.
redact() {
  if [ -n "$PASSWORD" ]; then printf '%s\n' "${1//"$PASSWORD"/<password>}"; else printf '%s\n' "$1"; fi
}
redact_lines() {
  local line
  while IFS= read -r line; do redact "$line"; done
}

# Has the Auto Scaling group replace this instance.
mark_unhealthy() {
  local id attempt
  command -v aws >/dev/null || {
    printf '%s: error: no AWS CLI: cannot mark this instance Unhealthy\n' "$BOOT_NAME" >&2
    return 1
  }
  id=$(instance_id) || {
    printf '%s: error: no instance id from IMDSv2: cannot mark this instance Unhealthy\n' "$BOOT_NAME" >&2
    return 1
  }
  for attempt in 1 2 3 4 5; do
    if aws autoscaling set-instance-health --instance-id "$id" --health-status Unhealthy \
      --no-should-respect-grace-period --region "$REGION"; then
      printf '%s: error: marked instance %s Unhealthy: its Auto Scaling group replaces it\n' "$BOOT_NAME" "$id" >&2
      return 0
    fi
    log "could not mark instance $id Unhealthy (attempt $attempt of 5)"
    [ "$attempt" = 5 ] || sleep 10
  done
  printf '%s: error: could not mark instance %s Unhealthy: terminate it by hand\n' "$BOOT_NAME" "$id" >&2
  return 1
}

on_exit() {
  local rc=$?
  trap - ERR
  set +e
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
  if [ -z "$ready" ]; then
    printf '%s: error: this node did not %s (exit %s)\n' "$BOOT_NAME" "$step" "$rc" >&2
    mark_unhealthy
    [ "$rc" != 0 ] || rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT

install_aws_cli
read_password "$REGION" "$PARAMETER"
[[ $PASSWORD =~ ^[A-Za-z0-9._~-]+$ ]] ||
  die "the password in $PARAMETER holds characters a mongodb:// URI would need escaped"

# AMS's own interface: change_server_mode.sh takes the URI, password included, as an argument.
# That is unavoidable; its process (and the sed it runs) is the only one whose command line holds
# the password. The ping below uses the same URI, from its environment.
join=(./change_server_mode.sh cluster "mongodb://antmedia:${PASSWORD}@{MONGODB_HOST}:27017/?authSource=admin")
uri=${join[2]}
host=${uri#*@}
host=${host%%/*}
[[ $host =~ ^[A-Za-z0-9.-]+:27017$ ]] || die "not a MongoDB address: $(redact "$host")"

if ! command -v mongosh >/dev/null; then
  # shellcheck source=/dev/null
  codename=$(. "$ROOT/etc/os-release" && printf '%s' "${VERSION_CODENAME:-}")
  case $codename in
    focal | jammy | noble) ;;
    *) die "no mongosh, and MongoDB $MONGODB_SERIES has no packages for Ubuntu '$codename'" ;;
  esac
  log "installing mongosh $MONGOSH_VERSION from MongoDB's $MONGODB_SERIES repository for $codename"
  apt_get update
  apt_get install gnupg curl
  add_mongodb_repo "$codename"
  apt_get update
  apt_get install "mongodb-mongosh=$MONGOSH_VERSION"
  apt-mark hold mongodb-mongosh
  command -v mongosh >/dev/null || die "mongosh $MONGOSH_VERSION installed, but mongosh is not on PATH"
fi

# Succeeds when MongoDB accepts user antmedia; its answer otherwise in $answer. mongosh's own log
# and settings go to a scratch HOME, removed on exit.
scratch=$(mktemp -d)
ping_mongodb() {
  local out
  # shellcheck disable=SC2016 # JavaScript, not shell
  if out=$(AMS_MONGODB_URI=$uri HOME=$scratch timeout 60 mongosh --nodb --norc --quiet --eval '
    const uri = process.env.AMS_MONGODB_URI + "&serverSelectionTimeoutMS=10000&connectTimeoutMS=10000";
    const admin = new Mongo(uri).getDB("admin");
    const status = admin.runCommand({ connectionStatus: 1 });
    if (admin.runCommand({ ping: 1 }).ok !== 1 ||
      !status.authInfo.authenticatedUsers.some((u) => u.user === "antmedia")) {
      throw new Error("MongoDB answered, but not to user antmedia");
    }' 2>&1); then
    return 0
  fi
  out=$(redact "$out")
  answer=${out##*$'\n'}
  return 1
}
log "waiting up to $MONGODB_WAIT_S s for MongoDB at $host to accept user antmedia"
answer=""
not_yet() { log "MongoDB at $host does not accept user antmedia yet: ${answer:-no answer}"; }
poll "$MONGODB_WAIT_S" 10 not_yet ping_mongodb ||
  die "MongoDB at $host did not accept user antmedia within $MONGODB_WAIT_S s (last answer: ${answer:-none})"
log "MongoDB at $host accepts user antmedia"

[ -x "$AMS_DIR/change_server_mode.sh" ] || die "no $AMS_DIR/change_server_mode.sh: is this an AMS image?"
cd "$AMS_DIR"
for attempt in $(seq 1 "$MODE_CHANGE_ATTEMPTS"); do
  log "changing to cluster mode (attempt $attempt of $MODE_CHANGE_ATTEMPTS)"
  # Its output through redact_lines, in case AMS's script ever prints its arguments. It ends:
  # it restarts AMS through systemd, whose units keep none of its open files.
  if "${join[@]}" 2>&1 | redact_lines; then
    joined=yes
    break
  fi
  log "change_server_mode.sh failed (attempt $attempt of $MODE_CHANGE_ATTEMPTS)"
  [ "$attempt" = "$MODE_CHANGE_ATTEMPTS" ] || sleep 30
done
[ -n "$joined" ] || die "change_server_mode.sh failed $MODE_CHANGE_ATTEMPTS times"
unset PASSWORD uri join
log "joined the cluster: MongoDB at $host"
step="start its drain agent"
mkdir -p "$ROOT/usr/local/sbin" "$ROOT/etc/systemd/system"
cat >"$ROOT/usr/local/sbin/ams-drain" <<'AMS_DRAIN_AGENT'
{DRAIN_AGENT}
AMS_DRAIN_AGENT
chmod 0755 "$ROOT/usr/local/sbin/ams-drain"
printf '%s\n' '[Unit]' 'Description=ams-stack drain agent' 'Wants=network-online.target' \
  'After=network-online.target antmedia.service' '[Service]' 'ExecStart=/usr/local/sbin/ams-drain' \
  'Restart=on-failure' 'RestartSec=5' '[Install]' 'WantedBy=multi-user.target' \
  >"$ROOT/etc/systemd/system/ams-drain.service"
systemctl daemon-reload
systemctl enable --now ams-drain.service
ready=yes
log "drain agent started"
