#!/bin/bash
# Ant Media Server {ROLE} node joining the cluster (made by ams-stack): EC2 user data, run once as
# root by cloud-init at first boot of every origin and edge instance (AMS Enterprise image).
# 1. First (once the AWS CLI is there) starts the drain agent (drain-agent.sh, pasted by ams-stack
#    in place of DRAIN_AGENT) as ams-drain.service: a node without it would be cut off
#    mid-stream, and one that fails below would wait out the termination hook's whole timeout.
# 2. Reads the password of MongoDB's user MONGODB_USER (antmedia) from SSM Parameter Store through
#    the instance role. It stays in memory: in mongosh's environment and in change_server_mode.sh's
#    arguments (see there), never in a file, a log or any other command line. With MONGODB_USER
#    empty (a MongoDB adopted without auth), no MongoDB password is read.
# 3. With MONGODB_CREATE_USER yes (auth just turned on for an adopted MongoDB): connects without
#    credentials first; if MongoDB takes no password yet, creates MONGODB_USER on admin (that
#    password, role readWriteAnyDatabase), or sets both again if it exists. A MongoDB asking for a
#    password already is left alone (4 checks the user). No answer: retried as in 4; else fails (7).
# 4. Waits until MongoDB (made at the same time, maybe still installing) accepts that user: an
#    authenticated ping by mongosh, installed at a pinned release from MongoDB's repository when
#    the image has none (without a user: a plain ping, answered ok). Every 10 s, for 15 minutes.
# 5. Joins the cluster with change_server_mode.sh and one full mongodb:// URI (since AMS 3.0:
#    separate user and password arguments are deprecated, and a bare IP makes it ask a question
#    nobody answers at boot): user and password with authSource=admin, or, without a user, no
#    credentials and directConnection=true; tried up to 3 times.
# 6. Last, once really ready (the panel's admin verified, below: AMS answers the load balancers'
#    health check before that), completes its launch lifecycle action (hook READY_HOOK, in the
#    group that describe-auto-scaling-instances names) with CONTINUE: only then does the group
#    register it with its target groups and put it in service. Refused as "No active Lifecycle
#    Action found": launched before its group had the hook (a group made by an older ams-stack),
#    said, and the node is ready all the same. Other refusals: 5 tries, 10 s apart, then 7.
# 7. On any failure (MongoDB never answers, the mode change keeps failing, the panel's admin
#    cannot be claimed or verified, the agent does not start, the launch action cannot be
#    completed, anything else) completes its launch action with ABANDON: Auto Scaling terminates
#    and replaces it. Where no launch action is active (launched before the hook) or ABANDON is
#    refused, marks its own instance Unhealthy instead, which its group replaces too. Exits
#    non-zero: a node left standalone, or serving a panel whose admin is not ours, must never
#    pass health checks. (The instance role may complete lifecycle actions, send their
#    heartbeats and set the health of the stack's groups' instances.)
# The stack file's settings for every node (docs/OPERATIONS.md, "Node settings as code"):
# - before the join, whose restart makes AMS read them: [server] properties written into
#   conf/red5.properties; the self-hosted licence key read from SSM (LICENSE_PARAMETER) into it;
#   each [server] plugin fetched over HTTPS and installed into plugins/ only if its SHA-256 is the
#   one the stack file names (any other: the boot fails, 7, and a roll stops and goes back);
#   with [recording] s3, the S3 signing proxy (s3-proxy.py, pasted for S3_PROXY) started as
#   ams-s3-proxy.service: AMS's S3 client takes only static keys, so AMS sends to it on
#   127.0.0.1 and it signs each request with the instance role (no access key anywhere);
# - after the panel's admin is ours: the [app.NAME] settings through AMS's REST API, which in
#   cluster mode keeps them in MongoDB for every node: an application named there that this node
#   lacks is created; each application's settings are read, and written back only where they
#   differ from the stack file's (the first node on a new version writes them, the others find
#   them so), then read again and checked. With [recording] s3, every application records to the
#   stack's bucket under recordings/; with [turn], every application's STUN/TURN server is the
#   stack's, with a credential made here from the TURN secret in SSM (TURN_PARAMETER) for
#   coturn's use-auth-secret (the secret itself is never written anywhere).
# The web panel (before the join, whose restart makes AMS read it; after the join, through AMS's
# REST API on localhost):
# - writes conf/initialized first: the Marketplace image's conf/init.sh, which creates the
#   default admin JamesBond (password: the instance id), does nothing once it exists;
# - replaces the image's JWT secret of the management REST API (some Marketplace builds derive it
#   from the instance id) by a random one;
# - limits the panel (AMS's dashboard IP filter, the root app) to ADMIN_CIDR and this host;
#   behind the load balancer AMS sees the client's address through Tomcat's RemoteIpValve
#   (X-Forwarded-For from a private address), added to jee-container.xml when missing;
# - claims the first admin (user ADMIN_USER, password from SSM parameter PANEL_PARAMETER) if AMS
#   says nobody has, then logs in with it: a panel whose admin is not ours fails the boot.
#   The password, MD5-hashed as AMS's panel sends it, goes to curl on its standard input only.
# log, die, apt_get, add_mongodb_repo, install_aws_cli, read_password and instance_id come from
# common.sh, pasted in by ams-stack in place of the COMMON placeholder below.
# Set by tests only (tests/boot/); production uses the defaults:
#   AMS_ROOT            prefix of the files this script reads and writes itself (default: none)
#   AMS_ANTMEDIA_DIR    where AMS is installed (default: /usr/local/antmedia)
#   AMS_MONGODB_WAIT_S  how long to wait for MongoDB to answer (default: 900 seconds)
#   AMS_PANEL_WAIT_S    how long to wait for AMS's REST API after the join (default: 600 seconds)
#   AMS_APP_SYNC_WAIT_S how long an application the stack file names may take to come from the
#                       cluster before this node creates it (default: 120 seconds)
set -Eeuo pipefail
{COMMON}
BOOT_NAME=ams-node
REGION="{REGION}"
# MongoDB's user for AMS: antmedia, its password in PARAMETER. Empty: a MongoDB adopted without
# auth (built by hand from Ant Media's guide), joined without credentials (PARAMETER unread) until
# its operator turns auth on.
MONGODB_USER="{MONGODB_USER}"
# yes: MongoDB may take no password yet (auth just turned on for an adopted MongoDB); MONGODB_USER
# is then created there first (3 above). Empty: the user exists, or there is none.
MONGODB_CREATE_USER="{MONGODB_CREATE_USER}"
PARAMETER="{PARAMETER}"
PANEL_PARAMETER="{PANEL_PARAMETER}"
ADMIN_CIDR="{ADMIN_CIDR}"
READY_HOOK="{READY_HOOK}"
LICENSE_PARAMETER="{LICENSE_PARAMETER}"
TURN_PARAMETER="{TURN_PARAMETER}"
TURN_URI="{TURN_URI}"
S3_BUCKET="{S3_BUCKET}"
S3_STORAGE_CLASS="{S3_STORAGE_CLASS}"
# A TURN credential for coturn's use-auth-secret: this user name (an expiry far ahead, 2100),
# with the HMAC-SHA1 of it under the secret as its password.
TURN_USER="4102444800:ams"
S3_PROXY_PORT=5180
# The stack file's [server] properties (KEY=VALUE), plugins (SHA256 FILE URL) and [app.NAME]
# settings (APP NAME JSON; APP * is every application on the node), a line each.
SERVER_PROPERTIES=$(
  cat <<'AMS_END_OF_PROPERTIES'
{SERVER_PROPERTIES}
AMS_END_OF_PROPERTIES
)
PLUGINS=$(
  cat <<'AMS_END_OF_PLUGINS'
{PLUGINS}
AMS_END_OF_PLUGINS
)
APP_SETTINGS=$(
  cat <<'AMS_END_OF_APP_SETTINGS'
{APP_SETTINGS}
AMS_END_OF_APP_SETTINGS
)
ADMIN_USER="admin"
AMS_REST=http://127.0.0.1:5080/rest/v2
MONGOSH_VERSION=2.5.6
MODE_CHANGE_ATTEMPTS=3
ROOT=${AMS_ROOT:-}
AMS_DIR=${AMS_ANTMEDIA_DIR:-/usr/local/antmedia}
MONGODB_WAIT_S=${AMS_MONGODB_WAIT_S:-900}
PANEL_WAIT_S=${AMS_PANEL_WAIT_S:-600}
APP_SYNC_WAIT_S=${AMS_APP_SYNC_WAIT_S:-120}
PASSWORD=""
PANEL_PASSWORD=""
PANEL_HASH=""
LICENSE_KEY=""
TURN_SECRET=""
TURN_CREDENTIAL=""
joined=""
ready=""
step="join the cluster"
scratch=""

# Replaces the passwords (and the panel's hash) by <password> in text for the log.
redact() {
  local text=$1 secret
  for secret in "$PASSWORD" "$PANEL_PASSWORD" "$PANEL_HASH" "$LICENSE_KEY" "$TURN_SECRET" "$TURN_CREDENTIAL"; do
    if [ -n "$secret" ]; then text=${text//"$secret"/<password>}; fi
  done
  printf '%s\n' "$text"
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

# launch_action RESULT: completes this instance's launch lifecycle action (hook READY_HOOK) with
# RESULT; 5 tries, 10 s apart. Fails 3 when Auto Scaling has no such action active, else 1.
launch_action() {
  local id group out attempt
  [[ $READY_HOOK =~ ^[A-Za-z0-9_./-]+$ ]] || { log "not a lifecycle hook name: $READY_HOOK"; return 1; }
  command -v aws >/dev/null || { log "no AWS CLI: cannot complete the launch lifecycle action"; return 1; }
  id=$(instance_id) || { log "no instance id from IMDSv2: cannot complete the launch lifecycle action"; return 1; }
  for attempt in 1 2 3 4 5; do
    if group=$(aws autoscaling describe-auto-scaling-instances --instance-ids "$id" --output text \
      --query 'AutoScalingInstances[0].AutoScalingGroupName' --region "$REGION") &&
      [[ $group =~ ^[^[:space:]]+$ && $group != None ]]; then
      out=$(aws autoscaling complete-lifecycle-action --lifecycle-action-result "$1" \
        --lifecycle-hook-name "$READY_HOOK" --instance-id "$id" --auto-scaling-group-name "$group" \
        --region "$REGION" 2>&1 >/dev/null) && return 0
      printf '%s\n' "$out" >&2
      [[ $out != *"No active Lifecycle Action found"* ]] || return 3
      log "launch lifecycle action $1 refused (attempt $attempt of 5)"
    else
      log "no Auto Scaling group found for instance $id (attempt $attempt of 5)"
    fi
    [ "$attempt" = 5 ] || sleep 10
  done
  return 1
}

on_exit() {
  local rc=$? result
  trap - ERR
  set +e
  if [ -n "$scratch" ]; then rm -rf "$scratch"; fi
  if [ -z "$ready" ]; then
    printf '%s: error: this node did not %s (exit %s)\n' "$BOOT_NAME" "$step" "$rc" >&2
    launch_action ABANDON
    result=$?
    if [ "$result" = 0 ]; then
      printf '%s: error: abandoned its launch: Auto Scaling terminates and replaces it\n' "$BOOT_NAME" >&2
    else
      if [ "$result" = 3 ]; then
        log "no launch lifecycle action to abandon (launched before its group had hook $READY_HOOK, or in service already)"
      else
        log "could not abandon its launch"
      fi
      mark_unhealthy
    fi
    [ "$rc" != 0 ] || rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT

# set_property FILE KEY VALUE: the line KEY=VALUE in FILE, replacing KEY's line or added at its
# end. Bash only: VALUE is in no command line.
set_property() {
  local line text="" found=""
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line == "$2="* ]]; then line="$2=$3" found=yes; fi
    text+="$line"$'\n'
  done <"$1"
  [ -n "$found" ] || text+="$2=$3"$'\n'
  printf '%s' "$text" >"$1"
}

[ -x "$AMS_DIR/change_server_mode.sh" ] || die "no $AMS_DIR/change_server_mode.sh: is this an AMS image?"
# First, before the image's own first-boot script can make JamesBond (it runs once AMS answers).
: >"$AMS_DIR/conf/initialized"
log "wrote conf/initialized: the image's init.sh makes no default admin"
[[ $ADMIN_CIDR =~ ^[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*$ ]] || die "not a CIDR list: $ADMIN_CIDR"

install_aws_cli
# As soon as the AWS CLI it needs is there, before anything else that can fail: a node that
# never joins is still drained when its group replaces it (AMS answers no streams, or nothing: the
# agent completes the termination at once instead of after the hook's whole timeout).
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
# A simple unit counts as started once forked: an agent that dies at once (bad settings, no
# python3) must still fail the boot.
sleep 5
systemctl is-active --quiet ams-drain.service ||
  die "ams-drain stopped right after it started (journalctl -u ams-drain says why)"
log "drain agent started"
step="join the cluster"

[[ $MONGODB_CREATE_USER =~ ^(yes)?$ ]] || die "MONGODB_CREATE_USER is neither yes nor empty: $MONGODB_CREATE_USER"
if [ -n "$MONGODB_USER" ]; then
  [[ $MONGODB_USER =~ ^[A-Za-z0-9._~-]+$ ]] ||
    die "not a MongoDB user name a mongodb:// URI takes unescaped: $MONGODB_USER"
  read_password "$REGION" "$PARAMETER"
fi
read_password "$REGION" "$PANEL_PARAMETER" PANEL_PASSWORD
# What AMS's panel sends for a password: its MD5 in hex (md5sum reads it from a pipe).
PANEL_HASH=$(printf '%s' "$PANEL_PASSWORD" | md5sum)
PANEL_HASH=${PANEL_HASH%% *}
[[ $PANEL_HASH =~ ^[0-9a-f]{32}$ ]] || die "could not hash the panel password"
PANEL_PASSWORD=""
# What the URI holds before the host (user and password, or nothing), its options, and what the
# log says MongoDB must accept.
# (Written so that no line pairs the user's name and the password in the way secret scanners
# such as Prowler's read as a credential: the user data holds neither.)
if [ -n "$PASSWORD" ] && [[ ! $PASSWORD =~ ^[A-Za-z0-9._~-]+$ ]]; then
  die "the password in $PARAMETER holds characters a mongodb:// URI would need escaped"
fi
userinfo="" options=directConnection=true accepted=connections
if [ -n "$MONGODB_USER" ]; then
  at_host="$PASSWORD@"
  userinfo="$MONGODB_USER:$at_host" options=authSource=admin accepted="user $MONGODB_USER"
  at_host=""
fi

# AMS's own interface: change_server_mode.sh takes the URI, password included, as an argument.
# That is unavoidable; its process (and the sed it runs) is the only one whose command line holds
# the password. The ping below uses the same URI, from its environment.
join=(./change_server_mode.sh cluster "mongodb://${userinfo}{MONGODB_HOST}:27017/?$options")
userinfo=""
uri=${join[2]}
host=${uri#mongodb://}
host=${host#*@}
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

# Succeeds when MongoDB answers a ping ok, authenticated as MONGODB_USER unless that is empty;
# its answer otherwise in $answer. mongosh's own log and settings go to a scratch HOME, removed on
# exit.
scratch=$(mktemp -d)
ping_mongodb() {
  local out
  # shellcheck disable=SC2016 # JavaScript, not shell
  if out=$(AMS_MONGODB_URI=$uri AMS_MONGODB_USER=$MONGODB_USER HOME=$scratch timeout 60 mongosh --nodb --norc --quiet --eval '
    const uri = process.env.AMS_MONGODB_URI + "&serverSelectionTimeoutMS=10000&connectTimeoutMS=10000";
    const user = process.env.AMS_MONGODB_USER;
    const admin = new Mongo(uri).getDB("admin");
    if (admin.runCommand({ ping: 1 }).ok !== 1) {
      throw new Error("MongoDB answered, but not ok to a ping");
    }
    if (user && !admin.runCommand({ connectionStatus: 1 }).authInfo.authenticatedUsers.some((u) => u.user === user)) {
      throw new Error("MongoDB answered, but not to user " + user);
    }' 2>&1); then
    return 0
  fi
  out=$(redact "$out")
  answer=${out##*$'\n'}
  return 1
}
# MONGODB_CREATE_USER: user MONGODB_USER made in a MongoDB that takes no password yet, connected
# to without credentials (the password only in mongosh's environment). Succeeds when that is done
# or MongoDB asks for a password already (then $answer says which); fails when MongoDB does not
# answer (its error in $answer); dies on anything else.
create_user() {
  local out
  # shellcheck disable=SC2016 # JavaScript, not shell
  if out=$(AMS_MONGODB_URI="mongodb://$host/?directConnection=true" AMS_MONGODB_USER=$MONGODB_USER \
    AMS_MONGODB_PASSWORD=$PASSWORD HOME=$scratch timeout 60 mongosh --nodb --norc --quiet --eval '
    const uri = process.env.AMS_MONGODB_URI + "&serverSelectionTimeoutMS=10000&connectTimeoutMS=10000";
    const user = process.env.AMS_MONGODB_USER;
    const spec = { pwd: process.env.AMS_MONGODB_PASSWORD, mechanisms: [ "SCRAM-SHA-256" ],
      roles: [ { role: "readWriteAnyDatabase", db: "admin" } ] };
    // A command refused by MongoDB throws, whichever way this mongosh reports it.
    const run = (admin, command) => {
      const result = admin.runCommand(command);
      if (result.ok !== 1) {
        throw Object.assign(new Error(result.errmsg), { code: result.code, codeName: result.codeName });
      }
      return result;
    };
    const verdict = () => {
      let admin, found;
      try {
        admin = new Mongo(uri).getDB("admin");
        run(admin, { connectionStatus: 1 });
      } catch (e) {
        if (/^Mongo(ServerSelection|Network|NetworkTimeout)Error$/.test(e.name)) return "no answer: " + e.message;
        throw e;
      }
      try {
        found = run(admin, { usersInfo: user }).users.length > 0;
      } catch (e) {
        if (e.code === 13 || e.codeName === "Unauthorized" || /requires authentication/.test(e.message)) {
          return "auth required";
        }
        throw e;
      }
      if (!found) {
        try {
          run(admin, Object.assign({ createUser: user }, spec));
          return "created";
        } catch (e) {
          // DuplicateKey: another node created it meanwhile.
          if (e.code !== 51003 && !/already exists/.test(e.message)) throw e;
        }
      }
      run(admin, Object.assign({ updateUser: user }, spec));
      return "updated";
    };
    print(verdict());' 2>&1); then
    out=$(redact "$out")
    answer=${out##*$'\n'}
    case $answer in
      created | updated | "auth required") return 0 ;;
      "no answer: "*) return 1 ;;
    esac
  fi
  die "could not create or update MongoDB user $MONGODB_USER at $host: $(redact "${out:-no answer}")"
}
if [ -n "$MONGODB_CREATE_USER" ] && [ -n "$MONGODB_USER" ]; then
  log "creating MongoDB user $MONGODB_USER at $host unless MongoDB asks for a password already"
  answer=""
  unanswered() { log "MongoDB at $host does not answer yet: ${answer:-no answer}"; }
  poll "$MONGODB_WAIT_S" 10 unanswered create_user ||
    die "MongoDB at $host did not answer within $MONGODB_WAIT_S s (last answer: ${answer:-none})"
  case $answer in
    created) log "created MongoDB user $MONGODB_USER (MongoDB takes no password yet)" ;;
    updated) log "updated the password and roles of MongoDB user $MONGODB_USER (MongoDB takes no password yet)" ;;
    *) log "MongoDB at $host asks for a password already: user $MONGODB_USER not created (it must exist)" ;;
  esac
fi

log "waiting up to $MONGODB_WAIT_S s for MongoDB at $host to accept $accepted"
answer=""
not_yet() { log "MongoDB at $host does not accept $accepted yet: ${answer:-no answer}"; }
poll "$MONGODB_WAIT_S" 10 not_yet ping_mongodb ||
  die "MongoDB at $host did not accept $accepted within $MONGODB_WAIT_S s (last answer: ${answer:-none})"
log "MongoDB at $host accepts $accepted"

# The panel's settings, read by AMS at the restart change_server_mode.sh makes.
step="restrict the web panel"
properties=$AMS_DIR/conf/red5.properties
[ -f "$properties" ] || die "no $properties: is this an AMS image?"
set_property "$properties" server.allowed_dashboard_CIDR "$ADMIN_CIDR,127.0.0.1/32"
jwt_secret=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32) || true
[ ${#jwt_secret} = 32 ] || die "could not make a JWT secret"
set_property "$properties" server.jwtServerSecretKey "$jwt_secret"
unset jwt_secret
log "dashboard IP filter: $ADMIN_CIDR and this host; management JWT secret replaced"
# Every Tomcat layout AMS has (some releases' change_server_mode.sh copies the cluster one in).
for container in "$AMS_DIR"/conf/jee-container*.xml; do
  [ -f "$container" ] || continue
  ! grep -q 'org\.apache\.catalina\.valves\.RemoteIpValve' "$container" || continue
  grep -q 'class="org\.apache\.catalina\.valves\.AccessLogValve"' "$container" ||
    die "no AccessLogValve in $container to put Tomcat's RemoteIpValve before"
  sed -i '0,/<bean [^>]*class="org\.apache\.catalina\.valves\.AccessLogValve"/s//<bean class="org.apache.catalina.valves.RemoteIpValve" \/>\n&/' "$container"
  log "added Tomcat's RemoteIpValve to ${container##*/}: AMS sees clients' addresses behind the load balancer"
done
grep -q 'org\.apache\.catalina\.valves\.RemoteIpValve' "$AMS_DIR/conf/jee-container.xml" ||
  die "no $AMS_DIR/conf/jee-container.xml with Tomcat's RemoteIpValve: is this an AMS image?"

step="apply the stack file's server settings"
while IFS= read -r line; do
  [ -n "$line" ] || continue
  set_property "$properties" "${line%%=*}" "${line#*=}"
  log "red5.properties: ${line%%=*} as the stack file says"
done <<<"$SERVER_PROPERTIES"
if [ -n "$LICENSE_PARAMETER" ]; then
  read_password "$REGION" "$LICENSE_PARAMETER" LICENSE_KEY
  [[ $LICENSE_KEY != *[[:space:]]* ]] || die "the licence key in $LICENSE_PARAMETER holds white space"
  set_property "$properties" server.licence_key "$LICENSE_KEY"
  LICENSE_KEY=""
  log "red5.properties: the licence key of $LICENSE_PARAMETER"
fi
mkdir -p "$AMS_DIR/plugins"
while read -r sha file url; do
  [ -n "$sha" ] || continue
  log "fetching plugin $file from $url"
  curl -fsSL --proto =https --max-time 300 -o "$scratch/$file" "$url" ||
    die "could not fetch plugin $file from $url"
  got=$(sha256sum "$scratch/$file")
  got=${got%% *}
  [ "$got" = "$sha" ] ||
    die "plugin $file from $url has SHA-256 $got, not $sha as the stack file says: not installed"
  cp "$scratch/$file" "$AMS_DIR/plugins/$file"
  chmod 0644 "$AMS_DIR/plugins/$file"
  log "plugin $file installed (SHA-256 $sha)"
done <<<"$PLUGINS"
if [ -n "$S3_BUCKET" ]; then
  step="start its S3 signing proxy"
  cat >"$ROOT/usr/local/sbin/ams-s3-proxy" <<'AMS_S3_PROXY'
{S3_PROXY}
AMS_S3_PROXY
  chmod 0755 "$ROOT/usr/local/sbin/ams-s3-proxy"
  printf '%s\n' '[Unit]' 'Description=ams-stack S3 signing proxy (AMS records through the instance role)' \
    'Wants=network-online.target' 'After=network-online.target' '[Service]' \
    "Environment=AMS_S3_BUCKET=$S3_BUCKET AMS_S3_REGION=$REGION AMS_S3_PREFIX=recordings/ AMS_S3_LISTEN_PORT=$S3_PROXY_PORT" \
    'ExecStart=/usr/bin/python3 /usr/local/sbin/ams-s3-proxy' 'Restart=always' 'RestartSec=2' \
    'DynamicUser=yes' '[Install]' 'WantedBy=multi-user.target' >"$ROOT/etc/systemd/system/ams-s3-proxy.service"
  systemctl daemon-reload
  systemctl enable --now ams-s3-proxy.service
  sleep 2
  systemctl is-active --quiet ams-s3-proxy.service ||
    die "ams-s3-proxy stopped right after it started (journalctl -u ams-s3-proxy says why)"
  log "S3 signing proxy started on 127.0.0.1:$S3_PROXY_PORT for bucket $S3_BUCKET"
  APP_SETTINGS+=$'\n'"* s3RecordingEnabled true"$'\n'"* s3BucketName \"$S3_BUCKET\""
  APP_SETTINGS+=$'\n'"* s3RegionName \"$REGION\""$'\n'"* s3Endpoint \"http://127.0.0.1:$S3_PROXY_PORT\""
  APP_SETTINGS+=$'\n'"* s3PathStyleAccessEnabled true"$'\n'"* s3AccessKey \"signed-by-the-node-proxy\""
  APP_SETTINGS+=$'\n'"* s3SecretKey \"not-a-secret\""$'\n'"* s3Permission \"bucket-owner-full-control\""
  APP_SETTINGS+=$'\n'"* s3StreamsFolderPath \"recordings/streams\""$'\n'"* s3PreviewsFolderPath \"recordings/previews\""
  APP_SETTINGS+=$'\n'"* s3StorageClass \"$S3_STORAGE_CLASS\""
fi
# What ams-stack set before and the stack file no longer asks for (recording or TURN turned off):
# "IF_NAME IF_JSON NAME JSON" lines, NAME set to JSON where IF_NAME still holds IF_JSON (AMS's
# default where the value is ours; never over what someone set since).
RESETS=""
if [ -z "$S3_BUCKET" ]; then
  RESETS+="s3Endpoint \"http://127.0.0.1:$S3_PROXY_PORT\" s3RecordingEnabled false"$'\n'
  RESETS+="s3Endpoint \"http://127.0.0.1:$S3_PROXY_PORT\" s3Endpoint \"\""$'\n'
fi
if [ -z "$TURN_PARAMETER" ]; then
  RESETS+="turnServerUsername \"$TURN_USER\" stunServerURI \"stun:stun1.l.google.com:19302\""$'\n'
  RESETS+="turnServerUsername \"$TURN_USER\" turnServerCredential \"\""$'\n'
  RESETS+="turnServerUsername \"$TURN_USER\" turnServerUsername \"\""$'\n'
fi
if [ -n "$TURN_PARAMETER" ]; then
  step="make its TURN credential"
  read_password "$REGION" "$TURN_PARAMETER" TURN_SECRET
  # shellcheck disable=SC2016 # Python, not shell
  TURN_CREDENTIAL=$(AMS_TURN_SECRET=$TURN_SECRET AMS_TURN_USER=$TURN_USER python3 -c '
import base64, hashlib, hmac, os
mac = hmac.new(os.environ["AMS_TURN_SECRET"].encode(), os.environ["AMS_TURN_USER"].encode(), hashlib.sha1)
print(base64.b64encode(mac.digest()).decode())') || die "could not make the TURN credential"
  TURN_SECRET=""
  [[ $TURN_CREDENTIAL =~ ^[A-Za-z0-9+/=]{28}$ ]] || die "could not make the TURN credential"
  APP_SETTINGS+=$'\n'"* stunServerURI \"$TURN_URI\""$'\n'"* turnServerUsername \"$TURN_USER\""
  APP_SETTINGS+=$'\n'"* turnServerCredential \"$TURN_CREDENTIAL\""
  log "TURN server $TURN_URI, user $TURN_USER, its credential made from $TURN_PARAMETER"
fi

step="join the cluster"
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
PASSWORD=""
unset uri join
log "joined the cluster: MongoDB at $host"

# The web panel's first admin. In cluster mode AMS keeps its users in MongoDB, shared by every
# node: the first node to get here claims it, the others find it and log in with it.
step="claim the web panel's admin"
# rest GET|POST PATH: AMS's answer (its body) on stdout; POST sends this script's stdin. The
# panel's session (its cookie, once logged in) is kept in the scratch directory, removed on exit.
rest() {
  if [ "$1" = POST ]; then
    curl -sS -m 30 -b "$scratch/cookies" -c "$scratch/cookies" -H 'Content-Type: application/json' \
      --data-binary @- "$AMS_REST/$2"
  else
    curl -sS -m 30 -b "$scratch/cookies" -c "$scratch/cookies" "$AMS_REST/$2"
  fi
}
succeeded() { [[ $1 =~ \"success\"[[:space:]]*:[[:space:]]*true ]]; }
credentials() { printf '{"email":"%s","password":"%s"%s}' "$ADMIN_USER" "$PANEL_HASH" "${1:-}"; }
first_login=""
panel_status() {
  first_login=$(rest GET first-login-status 2>&1) && [[ $first_login =~ \"success\"[[:space:]]*:[[:space:]]*(true|false) ]]
}
panel_not_yet() { log "AMS's REST API does not answer yet: $(redact "${first_login:-no answer}")"; }
log "waiting up to $PANEL_WAIT_S s for AMS's REST API on this node"
poll "$PANEL_WAIT_S" 10 panel_not_yet panel_status ||
  die "AMS's REST API did not answer within $PANEL_WAIT_S s (last answer: $(redact "${first_login:-none}")): the panel's admin is unclaimed"
if succeeded "$first_login"; then
  answer=$(credentials ',"userType":"ADMIN","scope":"system"' | rest POST users/initial) || answer=""
  if succeeded "$answer"; then
    log "claimed the web panel's first admin: $ADMIN_USER"
  else
    log "another node claimed the web panel's admin first ($(redact "${answer:-no answer}"))"
  fi
else
  log "the web panel's admin exists already"
fi
answer=$(credentials | rest POST users/authenticate) || answer=""
succeeded "$answer" ||
  die "AMS refuses $ADMIN_USER with the password of $PANEL_PARAMETER ($(redact "${answer:-no answer}")): its panel's admin is not ours"
PANEL_HASH=""
log "the web panel's admin is $ADMIN_USER, with the password of $PANEL_PARAMETER"

# The application settings, through the session just opened (AMS keeps them in MongoDB).
step="apply the stack file's application settings"
# settings_py MODE [APP]: apps (stdin: AMS's list of applications; prints a name a line), or
# merge (stdin: APP's settings; prints the names the stack file changes, then the settings with
# them changed; the wanted lines come from the environment, never an argument).
settings_py() {
  # shellcheck disable=SC2016 # Python, not shell
  AMS_SETTINGS=$APP_SETTINGS AMS_RESETS=$RESETS python3 -c '
import json, os, sys
if sys.argv[1] == "apps":
    print("\n".join(json.load(sys.stdin)["applications"]))
    sys.exit(0)
app, current, wanted = sys.argv[2], json.load(sys.stdin), {}
for line in os.environ["AMS_SETTINGS"].splitlines():
    parts = line.split(" ", 2)
    if len(parts) == 3 and parts[0] in ("*", app):
        wanted[parts[1]] = json.loads(parts[2])
for line in os.environ["AMS_RESETS"].splitlines():
    if line.strip():
        decoder, at = json.JSONDecoder(), line.index(" ") + 1
        held, end = decoder.raw_decode(line, at)
        name, value = line[end + 1:].split(" ", 1)
        if current.get(line[:at - 1]) == held:
            wanted.setdefault(name, json.loads(value))
print(" ".join(sorted(k for k, v in wanted.items() if current.get(k) != v)))
current.update(wanted)
print(json.dumps(current))' "$@"
}
if [ -n "$APP_SETTINGS$RESETS" ]; then
  listed_apps() { answer=$(rest GET applications) && apps=$(settings_py apps <<<"$answer"); }
  apps_not_listed() { log "AMS does not list its applications yet: $(redact "${answer:-no answer}")"; }
  answer="" apps=""
  poll "$PANEL_WAIT_S" 10 apps_not_listed listed_apps ||
    die "AMS did not list its applications within $PANEL_WAIT_S s"
  wanted_apps=$(sed -n 's/^\([A-Za-z0-9][A-Za-z0-9]*\)\( .*\)\{0,1\}$/\1/p' <<<"$APP_SETTINGS" | sort -u)
  for app in $wanted_apps; do
    grep -qx -- "$app" <<<"$apps" && continue
    # Another node may have made it: AMS deploys it here from the cluster, and a create would
    # replace its settings (for every node) with the defaults. It is made only if it does not come.
    app_listed() { listed_apps && grep -qx -- "$app" <<<"$apps"; }
    app_not_yet() { log "application $app is not on this node yet: waiting for the cluster to deploy it"; }
    if poll "$APP_SYNC_WAIT_S" 10 app_not_yet app_listed; then
      log "application $app deployed from the cluster"
      continue
    fi
    log "creating application $app (the stack file names it)"
    answer=$(rest POST "applications/$app" </dev/null) || answer=""
    app_not_deployed() { log "application $app is not deployed yet: $(redact "${answer:-no answer}")"; }
    poll "$PANEL_WAIT_S" 10 app_not_deployed app_listed ||
      die "AMS did not deploy application $app within $PANEL_WAIT_S s"
    log "application $app created"
  done
  for app in $apps; do
    if ! current=$(rest GET "applications/settings/$app") || ! merged=$(settings_py merge "$app" <<<"$current"); then
      die "could not read the settings of application $app: $(redact "${current:-no answer}")"
    fi
    changed=${merged%%$'\n'*}
    if [ -z "$changed" ]; then
      log "application $app: its settings are as the stack file says already"
      continue
    fi
    answer=$(rest POST "applications/settings/$app" <<<"${merged#*$'\n'}") || answer=""
    succeeded "$answer" ||
      die "AMS refused the settings of application $app ($(redact "${answer:-no answer}")): $changed"
    if ! current=$(rest GET "applications/settings/$app") || ! merged=$(settings_py merge "$app" <<<"$current"); then
      die "could not read the settings of application $app back: $(redact "${current:-no answer}")"
    fi
    [ -z "${merged%%$'\n'*}" ] ||
      die "application $app does not keep what the stack file says: ${merged%%$'\n'*}"
    log "application $app: set $changed"
  done
fi
unset current merged

step="complete its launch lifecycle action"
result=0
launch_action CONTINUE || result=$?
case $result in
  0) log "launch lifecycle action completed (CONTINUE): its group puts this node in service" ;;
  3) log "no launch lifecycle action to complete: this instance was launched before its group had hook $READY_HOOK; ready all the same" ;;
  *) die "could not complete the launch lifecycle action (hook $READY_HOOK)" ;;
esac
ready=yes
