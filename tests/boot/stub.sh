#!/usr/bin/env bash
# Stand-ins for the system commands the boot scripts run, for tests/boot/*_test.sh. One file,
# called through symlinks named after the commands: each call is recorded as one entry
# "NAME ARGS" in $BOOT_LOG (for change_server_mode.sh, the password replaced by <password>; a
# stub finding the password in its environment adds a note, mongosh excepted), and acts on small
# files in $BOOT_STATE:
#   probe.DEV      what blkid finds on device DEV (absent: nothing); mkfs.xfs writes it
#   mounts         "DEV MOUNTPOINT" lines; mount adds one from fstab
#   mongod.active  mongod runs;  mongod.dead  it never answers
#   users          the MongoDB users that exist;  ssm-readable  the password can be read
#   device-bytes, fs-blocks  sizes blockdev and xfs_info report
# For an AMS node (mongosh called with AMS_MONGODB_URI: the remote ping, authenticated as user
# AMS_MONGODB_USER, which must be antmedia):
#   mongodb.answers-at N  the Nth ping is the first MongoDB answers (absent: it never answers)
#   mongodb.auth-refused  it answers, but refuses the user;  mongodb.error-names-uri  its errors
#                         quote the URI;  pings  the pings so far
#   mongodb.no-auth       MongoDB has no auth (built by hand from Ant Media's guide): it answers a
#                         ping on mongodb://HOST:27017/?directConnection=true with no user asked
#                         (AMS_MONGODB_USER empty); with credentials it refuses them (no such
#                         user) unless antmedia is in users (made by a node, below), with a user
#                         asked the ping fails (nobody is authenticated)
# The node making its user (MONGODB_CREATE_USER=yes: mongosh with AMS_MONGODB_URI and a script
# holding createUser) counts as a ping, and answers as the script prints its verdict: "no answer:
# ..." before MongoDB answers; "auth required" without mongodb.no-auth; else "created" (antmedia
# added to users) or "updated" (it was there); each noted with the password it got.
#   mongodb.create-fails  the user creation fails otherwise (MongoDB answers an error)
#   mode-change.fails N   change_server_mode.sh fails its first N runs;  mode-changes  its runs
#   imds-down             the instance metadata service does not answer
#   asg-refuses           SetInstanceHealth is refused;  apt-fails  apt-get installs nothing
#   drain-unit.fails      systemctl cannot start ams-drain.service
#   drain-unit.dies       it starts, and is no longer active a moment later
# AMS's root REST API on 127.0.0.1:5080/rest/v2 (the web panel's users, kept in MongoDB):
#   panel.users           "EMAIL ours|other" lines: its users, with the panel password's hash
#                         (ours) or another password;  panel.down  it never answers
#   panel.answers-at N    the Nth first-login-status call is the first answered
#   panel.race            another node claims the admin between first-login-status and
#                         users/initial;  panel-status-calls  calls so far
# For the drain agent (IMDS answers 10.0.2.15 as local-ipv4; no public-ipv4):
#   lifecycle-state       the target lifecycle state (absent: 404, not in a group)
#   lifecycle.terminated-at N  from the Nth state read on: Terminated;  lifecycle-reads  so far
#   ams.publishers, ams.viewers  "N N ...": this node's publishers / WebRTC viewers at each
#                         WebRTCAppEE list read (the last repeats; absent: 0); also broadcasting:
#                         a stream of another origin, with the viewers;  ams-lists  reads so far
#   ams.down              AMS's REST does not answer;  ams.no-liveapp  LiveApp is not deployed
#   protection-refuses    SetInstanceProtection is refused
# Auto Scaling's side (describe-auto-scaling-instances answers the instance's group,
# ams-stack-origins, and its lifecycle state; lifecycle actions are refused as AWS refuses them,
# with "No active Lifecycle Action found with instance ID ...", when none is active; each
# accepted completion is noted in the log):
#   asg.deregistering-s S once IMDS said Terminated (first at terminated-since), the instance is
#                         Terminating for S seconds (the deregistration delay; absent: 0), then
#                         Terminating:Wait, where the drain hook's action is active; before
#                         Terminated: InService
#   asg.state STATE       its lifecycle state instead, fixed (gone: in no group)
#   no-action.refusals N  the drain hook's first N heartbeats and completions in Terminating:Wait
#                         are refused all the same (Auto Scaling lagging behind its own answer)
#   launch-hook.absent    the ready hook (ams-stack-ready) has no active launch action (a group
#                         made before ams-stack had it);  launch.completed  it was completed
#                         (a second completion is refused)
#   complete.fails N      CompleteLifecycleAction (any hook) fails its first N calls, throttled;
#                         completes  calls
# For the TURN relay (turn-node.sh):
#   addresses             "ALLOCATION_ID PUBLIC_IP HOLDER NAME" lines: the Elastic IPs of stack
#                         `test` EC2 knows, each held by an instance or by None, NAME its
#                         ams-stack:name tag; describe-addresses answers those whose tags match
#                         its filters (stack test, a name prefix),
#                         associate-address gives a free one to the instance (AWS's
#                         Resource.AlreadyAssociated for a held one, as --no-allow-reassociation
#                         asks), each accepted association noted in the log
#   associate.race        another relay takes the first address this one asks for, just before
#   coturn.active         coturn runs (systemctl restart coturn);  coturn.deaf  it never listens
# Other variables: AMS_ROOT (the boot script's file prefix), BOOT_SECRET_FILE (the password),
# BOOT_PANEL_SECRET_FILE (the panel's password), BOOT_PANEL_HASH (its MD5, as AMS's panel sends
# it), AMS_ANTMEDIA_DIR (AMS's directory),
# BOOT_BIN (the stub directory), BOOT_STUB (this file), BOOT_SLEEP (the real sleep),
# BOOT_MONGODB_HOST (MongoDB's address in the node's script).
set -euo pipefail
name=${0##*/}
state=$BOOT_STATE
if [ "$name" = sleep ]; then
  exec "$BOOT_SLEEP" 0.01
fi
secret=$(<"$BOOT_SECRET_FILE")
panel_secret=$(cat "${BOOT_PANEL_SECRET_FILE:-/dev/null}")
panel_hash=${BOOT_PANEL_HASH:-}
entry="$name $*"
if [ "$name" = change_server_mode.sh ]; then entry=${entry//"$secret"/<password>}; fi
printf '%s\n' "$entry" >>"$BOOT_LOG"
last=${!#}

note() { printf '%s\n' "$name: $*" >>"$BOOT_LOG"; }
# The number of earlier calls counted in state file $1, plus this one (also written back).
count() {
  local n=0
  if [ -e "$state/$1" ]; then n=$(<"$state/$1"); fi
  n=$((n + 1))
  echo "$n" >"$state/$1"
  echo "$n"
}
if [ "$name" != mongosh ]; then
  for var in $(compgen -e); do
    [[ $var != BOOT_* ]] || continue
    if [[ ${!var} == *"$secret"* ]]; then note "password in the environment ($var)"; fi
    if [ -n "$panel_secret" ] && [[ ${!var} == *"$panel_secret"* || ${!var} == *"$panel_hash"* ]]; then
      note "panel password in the environment ($var)"
    fi
  done
fi
# The value of option $1 in the arguments that follow it.
option() {
  local want=$1
  shift
  while [ $# -gt 1 ]; do
    if [ "$1" = "$want" ]; then
      echo "$2"
      return 0
    fi
    shift
  done
}
# Auto Scaling's lifecycle state of the instance now (see asg.* above).
asg_state() {
  local since wait_us
  if [ -e "$state/asg.state" ]; then
    cat "$state/asg.state"
  elif [ ! -e "$state/terminated-since" ]; then
    echo InService
  else
    since=$(<"$state/terminated-since")
    wait_us=$(($(cat "$state/asg.deregistering-s" 2>/dev/null || echo 0) * 1000000))
    if [ $((${EPOCHREALTIME/./} - since)) -lt "$wait_us" ]; then echo Terminating; else echo Terminating:Wait; fi
  fi
}
# Microseconds since the instance entered Terminating:Wait.
into_wait_us() {
  echo $((${EPOCHREALTIME/./} - $(<"$state/terminated-since") - $(cat "$state/asg.deregistering-s" 2>/dev/null || echo 0) * 1000000))
}
# Refuses the call (operation $1) as AWS does when no lifecycle action is active.
no_action() {
  echo "An error occurred (ValidationError) when calling the $1 operation: No active Lifecycle Action found with instance ID $instance" >&2
  exit 254
}
# The drain hook's action (operation $1): refused unless active.
drain_action() {
  [ "$(asg_state)" = Terminating:Wait ] || no_action "$1"
  if [ -e "$state/no-action.refusals" ] && [ "$(count no-action-calls)" -le "$(<"$state/no-action.refusals")" ]; then
    no_action "$1"
  fi
}
data_mounted() { grep -q ' /var/lib/mongodb$' "$state/mounts" 2>/dev/null; }

case $name in
  apt-get)
    if [ -e "$state/apt-fails" ] && [ "$1" != update ]; then
      echo "E: Unable to locate package ${last%%=*}" >&2
      exit 100
    fi
    if [[ " $* " == *" coturn "* ]] && ! grep -qx 'exit 101' "$AMS_ROOT/usr/sbin/policy-rc.d" 2>/dev/null; then
      note "coturn installed with its service free to start (no policy-rc.d exit 101)"
    fi
    conf=$AMS_ROOT/etc/mongod.conf
    if [[ " $* " == *" mongodb-org-server="* ]] && [ ! -e "$conf" ]; then
      printf '%s\n' '# mongod.conf' '' 'storage:' '  dbPath: /var/lib/mongodb' '' \
        'systemLog:' '  destination: file' '  logAppend: true' '  path: /var/log/mongodb/mongod.log' \
        '' 'net:' '  port: 27017' '  bindIp: 127.0.0.1' '' 'processManagement:' \
        '  timeZoneInfo: /usr/share/zoneinfo' '' '#security:' >"$conf"
    fi
    if [[ " $* " == *" mongodb-mongosh"* ]]; then ln -sf "$BOOT_STUB" "$BOOT_BIN/mongosh"; fi
    ;;
  curl)
    imds=http://169.254.169.254/latest
    if [[ $last == "$imds/"* ]] && [ -e "$state/imds-down" ]; then
      echo "curl: (7) Failed to connect to 169.254.169.254 port 80" >&2
      exit 7
    fi
    if [ "$last" = "$imds/api/token" ]; then
      [[ " $* " == *" -X PUT "* ]] || exit 22
      echo "imds-token-5e6f"
      exit 0
    fi
    if [ "$last" = "$imds/meta-data/instance-id" ]; then
      if [[ " $* " != *" X-aws-ec2-metadata-token: imds-token-5e6f "* ]]; then
        note "instance id asked without an IMDSv2 session token"
        exit 22
      fi
      echo "i-0123456789abcdef0"
      exit 0
    fi
    if [[ $last == "$imds/meta-data/"* ]]; then
      if [[ " $* " != *" X-aws-ec2-metadata-token: imds-token-5e6f "* ]]; then
        note "metadata asked without an IMDSv2 session token"
        exit 22
      fi
      case ${last#"$imds/meta-data/"} in
        local-ipv4) echo 10.0.2.15 ;;
        autoscaling/target-lifecycle-state)
          n=$(count lifecycle-reads)
          if [ -e "$state/lifecycle.terminated-at" ] && [ "$n" -ge "$(<"$state/lifecycle.terminated-at")" ]; then
            answer=Terminated
          elif [ -e "$state/lifecycle-state" ]; then
            answer=$(<"$state/lifecycle-state")
          else
            exit 22
          fi
          if [ "$answer" = Terminated ] && [ ! -e "$state/terminated-since" ]; then
            echo "${EPOCHREALTIME/./}" >"$state/terminated-since"
          fi
          echo "$answer"
          ;;
        *) exit 22 ;;
      esac
      exit 0
    fi
    if [[ $last == https://*.jar ]]; then
      # A plugin's download: the file plugin.NAME of the state, when there.
      file=$state/plugin.${last##*/}
      [ -e "$file" ] || { echo "curl: (22) The requested URL returned error: 404" >&2; exit 22; }
      cat "$file" >"$(option -o "$@")"
      exit 0
    fi
    if [[ $last == http://127.0.0.1:5080/rest/v2/applications* ]]; then
      # The applications and their settings (apps: their names; apps.arriving "APP N": APP is
      # deployed from the cluster at the Nth listing; settings.APP: each one's settings as JSON;
      # settings.refused: a write is refused; settings.ignored: a write is answered success and
      # changes nothing).
      [[ " $* " == *" -b "*/cookies" -c "*/cookies" "* ]] || note "no session cookie: $*"
      path=${last#http://127.0.0.1:5080/rest/v2/}
      [ -e "$state/apps" ] || echo "LiveApp WebRTCAppEE" >"$state/apps"
      if [[ " $* " == *" --data-binary @- "* ]]; then body=$(cat); fi
      case $path in
        applications)
          # apps.arriving APP N: APP comes from the cluster at the Nth listing.
          if [ -e "$state/apps.arriving" ]; then
            read -r arriving at <"$state/apps.arriving"
            if [ "$(count app-lists)" -ge "$at" ]; then
              echo "$(<"$state/apps") $arriving" >"$state/apps"
              rm "$state/apps.arriving"
            fi
          fi
          read -ra apps <"$state/apps"
          printf '{"applications":['
          printf '"%s",' "${apps[@]}" | sed 's/,$//'
          printf ']}\n'
          ;;
        applications/settings/*)
          app=${path##*/}
          settings=$state/settings.$app
          [ -e "$settings" ] || echo '{"mp4MuxingEnabled":false,"hlsListSize":"15","stunServerURI":"stun:stun1.l.google.com:19302"}' >"$settings"
          if [ -n "${body+set}" ]; then
            note "settings of $app written: $body"
            if [ -e "$state/settings.refused" ]; then echo '{"success":false,"message":"not allowed"}'; exit 0; fi
            [ -e "$state/settings.ignored" ] || printf '%s\n' "$body" >"$settings"
            echo '{"success":true}'
          else
            cat "$settings"
          fi
          ;;
        applications/*)
          note "application ${path#applications/} created"
          echo "$(<"$state/apps") ${path#applications/}" >"$state/apps"
          echo '{"success":true}'
          ;;
      esac
      exit 0
    fi
    if [[ $last == http://127.0.0.1:5080/rest/v2/* ]]; then
      # The root app: the web panel's users.
      if [ ! -e "$AMS_ANTMEDIA_DIR/conf/initialized" ]; then note "REST called without conf/initialized"; fi
      users=$state/panel.users
      if [ "$last" = http://127.0.0.1:5080/rest/v2/first-login-status ]; then
        n=$(count panel-status-calls)
        if [ -e "$state/panel.down" ] ||
          { [ -e "$state/panel.answers-at" ] && [ "$n" -lt "$(<"$state/panel.answers-at")" ]; }; then
          echo "curl: (7) Failed to connect to 127.0.0.1 port 5080 after 0 ms: Couldn't connect to server" >&2
          exit 7
        fi
        if [ -s "$users" ]; then echo '{"success":false,"message":null,"dataId":null,"errorId":0}'; else
          echo '{"success":true,"message":null,"dataId":null,"errorId":0}'
        fi
        exit 0
      fi
      [[ " $* " == *" --data-binary @- "* ]] || { note "no body on stdin: $*"; exit 2; }
      body=$(cat)
      note "${last##*/} body: ${body//"$panel_hash"/<md5 of the panel password>}"
      [[ $body =~ ^\{\"email\":\"([^\"]+)\",\"password\":\"([0-9a-f]{32})\"(.*)\}$ ]] || {
        echo '{"success":false,"message":"bad body"}'
        exit 0
      }
      email=${BASH_REMATCH[1]} whose=other
      if [ "${BASH_REMATCH[2]}" = "$panel_hash" ]; then whose=ours; fi
      case ${last##*/} in
        initial)
          if [ -e "$state/panel.race" ]; then echo "admin ours" >>"$users"; fi
          if [ -s "$users" ]; then echo '{"success":false,"message":null,"dataId":null,"errorId":-1}'; else
            echo "$email $whose" >>"$users"
            echo '{"success":true,"message":null,"dataId":null,"errorId":-1}'
          fi
          ;;
        authenticate)
          if grep -qx "$email ours" "$users" 2>/dev/null && [ "$whose" = ours ]; then
            echo '{"success":true,"message":"system/ADMIN","dataId":null,"errorId":0}'
          else
            echo '{"success":false,"message":null,"dataId":null,"errorId":0}'
          fi
          ;;
        *) echo '<html>Not Found</html>' ;;
      esac
      exit 0
    fi
    if [[ $last == http://127.0.0.1:5080/* ]]; then
      if [ -e "$state/ams.down" ]; then
        echo "curl: (7) Failed to connect to 127.0.0.1 port 5080" >&2
        exit 7
      fi
      # The Nth value of state file $1 (the last one past its end; 0 without the file).
      nth() {
        local values=(0)
        if [ -e "$state/$1" ]; then read -ra values <"$state/$1"; fi
        if [ "$2" -le ${#values[@]} ]; then echo "${values[$2 - 1]}"; else echo "${values[-1]}"; fi
      }
      path=${last#http://127.0.0.1:5080/}
      code=200
      case $path in
        WebRTCAppEE/rest/v2/broadcasts/list/0/50)
          n=$(count ams-lists)
          nth ams.viewers "$n" >"$state/ams.viewers-now"
          body='{"streamId":"gone","status":"finished","originAdress":"10.0.2.15"}'
          body+=',{"streamId":"other","status":"broadcasting","originAdress":"10.0.3.7"}'
          for ((i = 1; i <= $(nth ams.publishers "$n"); i++)); do
            body+=",{\"streamId\":\"pub$i\",\"status\":\"broadcasting\",\"originAdress\":\"10.0.2.15\"}"
          done
          body="[$body]"
          ;;
        WebRTCAppEE/rest/v2/broadcasts/other/webrtc-client-stats/0/50)
          body=""
          for ((i = 1; i <= $(<"$state/ams.viewers-now"); i++)); do body+="${body:+,}{\"clientId\":$i}"; done
          body="[$body]"
          ;;
        WebRTCAppEE/rest/v2/broadcasts/*/webrtc-client-stats/0/50) body='[]' ;;
        LiveApp/rest/v2/broadcasts/list/*)
          body='[]'
          if [ -e "$state/ams.no-liveapp" ]; then code=404 body='<html>Not Found</html>'; fi
          ;;
        *) code=404 body='<html>Not Found</html>' ;;
      esac
      # As curl -w '\n%{http_code}' prints it.
      printf '%s\n%s' "$body" "$code"
      exit 0
    fi
    out=""
    while [ $# -gt 0 ]; do
      if [ "$1" = -o ]; then out=$2; fi
      shift
    done
    if [ -n "$out" ]; then echo "zip" >"$out"; else echo "-----BEGIN PGP PUBLIC KEY BLOCK-----"; fi
    ;;
  gpg)
    out=$last
    if [ -e "$out" ] && [[ " $* " != *" --yes "* ]]; then
      echo "gpg: $out exists" >&2
      exit 2
    fi
    cat >"$out"
    ;;
  unzip)
    mkdir -p "$last/aws"
    ln -s "$BOOT_STUB" "$last/aws/install"
    ;;
  install)
    ln -sf "$BOOT_STUB" "$BOOT_BIN/aws"
    ;;
  aws)
    instance=$(option --instance-id "$@")
    case "$1 $2" in
      "ssm get-parameter")
        if [ ! -e "$state/ssm-readable" ]; then
          echo "An error occurred (AccessDeniedException) when calling the GetParameter operation" >&2
          exit 254
        fi
        parameter=$(option --name "$@")
        if [ -e "$state/ssm.${parameter##*/}" ]; then
          cat "$state/ssm.${parameter##*/}"
        elif [[ " $* " == *" --name "*/panel-password" "* ]]; then cat "$BOOT_PANEL_SECRET_FILE"; else cat "$BOOT_SECRET_FILE"; fi
        ;;
      "ec2 describe-addresses")
        [ "$(option --query "$@")" = 'Addresses[].[AllocationId,PublicIp,InstanceId]' ] || {
          echo "aws (stub): query not expected: $*" >&2
          exit 252
        }
        [[ " $* " == *" --filters Name=tag:ams-stack:stack,Values=test Name=tag:ams-stack:name,Values="*"* "* ]] || {
          echo "aws (stub): filters not expected: $*" >&2
          exit 252
        }
        prefix="$*"
        prefix=${prefix##*Name=tag:ams-stack:name,Values=}
        prefix=${prefix%%\* *}
        while read -r allocation ip holder tag; do
          [[ $tag == "$prefix"* ]] && printf '%s\t%s\t%s\n' "$allocation" "$ip" "$holder"
        done <"$state/addresses" || true
        ;;
      "ec2 associate-address")
        [[ " $* " == *" --no-allow-reassociation "* ]] || note "associate-address WITHOUT --no-allow-reassociation"
        allocation=$(option --allocation-id "$@")
        if [ -e "$state/associate.race" ]; then
          rm "$state/associate.race"
          sed -i "s/^$allocation \([^ ]*\) None /$allocation \1 i-0another0relay0000 /" "$state/addresses"
        fi
        if ! grep -q "^$allocation [^ ]* None " "$state/addresses"; then
          echo "An error occurred (Resource.AlreadyAssociated) when calling the AssociateAddress operation: resource $allocation is already associated" >&2
          exit 254
        fi
        sed -i "s/^$allocation \([^ ]*\) None /$allocation \1 $instance /" "$state/addresses"
        note "associated $allocation with $instance"
        echo '{"AssociationId": "eipassoc-0123"}'
        ;;
      "autoscaling set-instance-health")
        if [ -e "$state/asg-refuses" ]; then
          echo "An error occurred (AccessDenied) when calling the SetInstanceHealth operation" >&2
          exit 254
        fi
        ;;
      "autoscaling describe-auto-scaling-instances")
        [ "$(option --instance-ids "$@")" = i-0123456789abcdef0 ] || {
          echo "aws (stub): not this instance: $*" >&2
          exit 252
        }
        lifecycle=$(asg_state)
        group=ams-stack-origins
        query=$(option --query "$@")
        case $query in
          'AutoScalingInstances[0].AutoScalingGroupName') answer=$group ;;
          'AutoScalingInstances[0].[AutoScalingGroupName,LifecycleState]') answer="$group"$'\t'"$lifecycle" ;;
          *)
            echo "aws (stub): query not expected: $query" >&2
            exit 252
            ;;
        esac
        # As the AWS CLI prints a null in text.
        if [ "$lifecycle" = gone ]; then answer=None; fi
        note "answered: $answer"
        echo "$answer"
        ;;
      "autoscaling set-instance-protection")
        if [ -e "$state/protection-refuses" ]; then
          echo "An error occurred (AccessDenied) when calling the SetInstanceProtection operation" >&2
          exit 254
        fi
        ;;
      "autoscaling record-lifecycle-action-heartbeat") drain_action RecordLifecycleActionHeartbeat ;;
      "autoscaling complete-lifecycle-action")
        n=$(count completes)
        if [ -e "$state/complete.fails" ] && [ "$n" -le "$(<"$state/complete.fails")" ]; then
          echo "An error occurred (Throttling) when calling the CompleteLifecycleAction operation (reached max retries: 2): Rate exceeded" >&2
          exit 254
        fi
        result=$(option --lifecycle-action-result "$@")
        if [ "$(option --lifecycle-hook-name "$@")" = ams-stack-ready ]; then
          if [ -e "$state/launch-hook.absent" ] || [ -e "$state/launch.completed" ]; then
            no_action CompleteLifecycleAction
          fi
          touch "$state/launch.completed"
          note "launch action completed: $result"
        else
          drain_action CompleteLifecycleAction
          note "drain action completed: $result, $(($(into_wait_us) / 1000000)) s into Terminating:Wait"
        fi
        ;;
      *)
        echo "aws (stub): not expected: $*" >&2
        exit 252
        ;;
    esac
    ;;
  blkid)
    key=${last##*/}
    [ -e "$state/probe.$key" ] || exit 2
    cat "$state/probe.$key"
    ;;
  mkfs.xfs)
    key=${last##*/}
    if [ -e "$state/probe.$key" ]; then
      echo "mkfs.xfs: $last appears to contain an existing filesystem" >&2
      exit 1
    fi
    printf '%s\n' "UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" "TYPE=xfs" "LABEL=mongodb" >"$state/probe.$key"
    ;;
  lsblk)
    [ -e "$last" ] || exit 32
    key=${last##*/}
    if [ -e "$state/mounts" ]; then
      while read -r dev point; do
        if [ "$dev" = "$key" ]; then echo "$point"; fi
      done <"$state/mounts"
    fi
    ;;
  mount)
    source_spec=""
    while read -r spec point _; do
      if [ "$point" = "$last" ]; then source_spec=$spec; fi
    done <"$AMS_ROOT/etc/fstab"
    [ -n "$source_spec" ] || { echo "mount: $last: can't find in /etc/fstab." >&2; exit 1; }
    for probe in "$state"/probe.*; do
      if grep -qxF "$source_spec" "$probe"; then
        echo "${probe##*/probe.} $last" >>"$state/mounts"
        exit 0
      fi
    done
    echo "mount: can't find $source_spec" >&2
    exit 1
    ;;
  mountpoint)
    grep -q " $last\$" "$state/mounts" 2>/dev/null
    ;;
  findmnt)
    while read -r dev point; do
      if [ "$point" = "$last" ]; then echo "/dev/$dev"; fi
    done <"$state/mounts"
    ;;
  blockdev)
    cat "$state/device-bytes"
    ;;
  xfs_info)
    printf '%s\n' \
      "meta-data=/dev/nvme1n1           isize=512    agcount=4, agsize=655360 blks" \
      "         =                       sectsz=512   attr=2, projid32bit=1" \
      "data     =                       bsize=4096   blocks=$(cat "$state/fs-blocks"), imaxpct=25" \
      "         =                       sunit=0      swidth=0 blks" \
      "naming   =version 2              bsize=4096   ascii-ci=0, ftype=1" \
      "log      =internal log           bsize=4096   blocks=16384, version=2"
    ;;
  ss)
    # Listening sockets on the port asked (the last argument, "sport = :PORT"): coturn's.
    if [ -e "$state/coturn.active" ] && [ ! -e "$state/coturn.deaf" ]; then
      echo "UNCONN 0 0 0.0.0.0:${last##*:} 0.0.0.0:*"
    fi
    ;;
  systemctl)
    case "$*" in
      "restart coturn") touch "$state/coturn.active" ;;
      "enable --now ams-drain.service") [ ! -e "$state/drain-unit.fails" ] ;;
      "is-active --quiet ams-drain.service") [ ! -e "$state/drain-unit.dies" ] ;;
      "enable --now ams-s3-proxy.service") [ ! -e "$state/s3-proxy.fails" ] ;;
      "is-active --quiet ams-s3-proxy.service") [ ! -e "$state/s3-proxy.fails" ] ;;
      "is-active --quiet mongod") [ -e "$state/mongod.active" ] ;;
      "stop mongod") rm -f "$state/mongod.active" ;;
      "enable --now mongod" | "start mongod" | "restart mongod")
        data_mounted || note "mongod started WITHOUT its data volume mounted"
        touch "$state/mongod.active"
        ;;
    esac
    ;;
  mongosh)
    if [ -n "${AMS_MONGODB_URI:-}" ]; then
      [[ $last == *process.env.AMS_MONGODB_URI* ]] || {
        note "ping without the URI from the environment"
        exit 1
      }
      n=$(count pings)
      answered=yes
      if [ ! -e "$state/mongodb.answers-at" ] || [ "$n" -lt "$(<"$state/mongodb.answers-at")" ]; then answered=""; fi
      if [[ $last == *createUser* ]]; then
        if [ -z "${AMS_MONGODB_PASSWORD:-}" ]; then given=missing; elif [ "$AMS_MONGODB_PASSWORD" = "$secret" ]; then
          given="the password from SSM"
        else given="another password"; fi
        note "user creation asked: ${AMS_MONGODB_USER:-no user} at $AMS_MONGODB_URI, $given in the environment"
        for want in process.env.AMS_MONGODB_PASSWORD process.env.AMS_MONGODB_USER usersInfo updateUser \
          '{ role: "readWriteAnyDatabase", db: "admin" }'; do
          [[ $last == *"$want"* ]] || { note "user creation script without $want"; exit 1; }
        done
        if [ -z "$answered" ]; then
          echo "no answer: connect ECONNREFUSED $BOOT_MONGODB_HOST:27017"
          exit 0
        fi
        if [ "$AMS_MONGODB_URI" != "mongodb://$BOOT_MONGODB_HOST:27017/?directConnection=true" ]; then
          echo "MongoServerError: Authentication failed." >&2
          exit 1
        fi
        if [ -e "$state/mongodb.create-fails" ]; then
          echo "MongoServerError: not primary" >&2
          exit 1
        fi
        if [ ! -e "$state/mongodb.no-auth" ]; then
          note "user creation refused: Command usersInfo requires authentication"
          echo "auth required"
        elif grep -qx "$AMS_MONGODB_USER" "$state/users" 2>/dev/null; then
          note "updated $AMS_MONGODB_USER"
          echo updated
        else
          echo "$AMS_MONGODB_USER" >>"$state/users"
          note "created $AMS_MONGODB_USER"
          echo created
        fi
        exit 0
      fi
      if [ -z "$answered" ]; then
        if [ -e "$state/mongodb.error-names-uri" ]; then
          echo "MongoServerSelectionError: no server for $AMS_MONGODB_URI" >&2
        else
          echo "MongoServerSelectionError: connect ECONNREFUSED $BOOT_MONGODB_HOST:27017" >&2
        fi
        exit 1
      fi
      authenticated="mongodb://antmedia:$secret@$BOOT_MONGODB_HOST:27017/?authSource=admin"
      if [ -e "$state/mongodb.no-auth" ] &&
        ! { [ "$AMS_MONGODB_URI" = "$authenticated" ] && grep -qx antmedia "$state/users" 2>/dev/null; }; then
        if [ "$AMS_MONGODB_URI" != "mongodb://$BOOT_MONGODB_HOST:27017/?directConnection=true" ]; then
          echo "MongoServerError: Authentication failed." >&2
          exit 1
        fi
        if [ -n "${AMS_MONGODB_USER:-}" ]; then
          echo "Error: MongoDB answered, but not to user $AMS_MONGODB_USER" >&2
          exit 1
        fi
        note "ping answered, no user asked"
        exit 0
      fi
      if [ -e "$state/mongodb.auth-refused" ] ||
        [ "$AMS_MONGODB_URI" != "$authenticated" ]; then
        echo "MongoServerError: Authentication failed." >&2
        exit 1
      fi
      if [ "${AMS_MONGODB_USER:-}" != antmedia ]; then
        note "authenticated ping not asking for user antmedia (AMS_MONGODB_USER=${AMS_MONGODB_USER:-})"
        exit 1
      fi
      note "authenticated ping answered"
      exit 0
    fi
    if [ ! -e "$state/mongod.active" ] || [ -e "$state/mongod.dead" ]; then
      echo "MongoNetworkError: connect ECONNREFUSED 127.0.0.1:27017" >&2
      exit 1
    fi
    script=$last
    if [[ $script == *'db.getUser("antmedia")'* ]]; then
      if [ -z "${AMS_MONGODB_PASSWORD:-}" ]; then
        note "password missing from the environment"
      elif [ "$AMS_MONGODB_PASSWORD" = "$(cat "$BOOT_SECRET_FILE")" ]; then
        note "password from the environment matches"
      else
        note "password from the environment differs"
      fi
      if grep -qx antmedia "$state/users" 2>/dev/null; then
        [[ $script == *'db.updateUser("antmedia", spec)'* ]] || exit 1
        note "updated antmedia"
      else
        [[ $script == *'db.createUser('* ]] || exit 1
        echo antmedia >>"$state/users"
        note "created antmedia"
      fi
    fi
    ;;
  change_server_mode.sh)
    note "run in $PWD"
    conf=$AMS_ANTMEDIA_DIR/conf
    note "dashboard filter at the mode change: $(grep '^server.allowed_dashboard_CIDR=' "$conf/red5.properties" || true)"
    # As some AMS releases do: the cluster layout of Tomcat copied in.
    if [ -e "$conf/jee-container-cluster.xml" ]; then
      printf '%s\n' "$(<"$conf/jee-container-cluster.xml")" >"$conf/jee-container.xml"
    fi
    echo "Mode: $1"
    # As if AMS printed its argument: the boot script must keep it out of its log.
    echo "clusterdb.host=$2"
    n=$(count mode-changes)
    if [ -e "$state/mode-change.fails" ] && [ "$n" -le "$(<"$state/mode-change.fails")" ]; then
      echo "Job for antmedia.service failed because the control process exited with error code." >&2
      exit 1
    fi
    echo "Ant Media Server is restarting in $1 mode."
    ;;
esac
