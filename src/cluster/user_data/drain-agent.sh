#!/bin/bash
# ams-drain: the drain agent of an AMS node (made by ams-stack; ams-node.sh installs it as
# ams-drain.service, not bound to antmedia.service: it must finish even if AMS died; ams-stack
# pastes it there without comment lines and indentation). Polls IMDSv2's target lifecycle state
# every 5 s.
# - InService, origins only: protects the instance from scale-in while it holds live publishers,
#   clears that when they are gone (a call only on a change, and once at start; retried if refused).
# - Terminated: IMDS says so from the start, but Auto Scaling first deregisters the instance from
#   its target groups and waits out the deregistration delay; only then does it put it in
#   Terminating:Wait, where the hook's lifecycle action exists (before, AWS refuses heartbeats and
#   completions: "No active Lifecycle Action found"). So the agent asks Auto Scaling for its own
#   lifecycle state (every 15 s; it says once that it waits for the deregistration to end) and
#   acts only in Terminating:Wait: it waits while AMS (REST on localhost) has publishers or WebRTC
#   viewers on this node, with a hook heartbeat at most every 60 s, for DRAIN_TIMEOUT_S at most
#   (counted from the first Terminating:Wait it sees), or until AMS fails to answer 3 polls in a
#   row (a dead AMS serves nobody); then completes the lifecycle action (CONTINUE; tried 5 times,
#   then exit 1 for systemd to restart it), writes a marker (a restart then only says so) and exits
#   0. A heartbeat or completion refused as "No active Lifecycle Action found" means "not yet": it
#   goes back to waiting for Terminating:Wait (not a failed try). Already Terminating:Proceed,
#   Terminated or in no group: nothing to complete, it says so and exits 0.
# Counted in each app of APPS (the apps' list needs the panel's login; AMS_DRAIN_APPS overrides):
# broadcasts "broadcasting" whose originAdress is this node's address, and the WebRTC clients of
# broadcasting streams on this node (webrtc-client-stats: 50 a page, enough to know "some").
# HLS/DASH players are plain HTTP requests, which the load balancer stopped sending here before
# this state. AMS has no switch that refuses new publishers or players: the agent stops nothing.
# Tests only: AMS_ROOT (file prefix), AMS_DRAIN_POLL_S (5), AMS_DRAIN_HEARTBEAT_S (60),
# AMS_DRAIN_MAX_POLLS (exit 0 after so many polls; default: never).
set -Eeuo pipefail
REGION="{REGION}" ROLE="{ROLE}" HOOK="{HOOK}" TIMEOUT_S="{DRAIN_TIMEOUT_S}"
APPS=${AMS_DRAIN_APPS:-WebRTCAppEE LiveApp} POLL_S=${AMS_DRAIN_POLL_S:-5}
BEAT_S=${AMS_DRAIN_HEARTBEAT_S:-60} MAX_POLLS=${AMS_DRAIN_MAX_POLLS:-0}
MARK=${AMS_ROOT:-}/var/lib/ams-drain/completed IMDS=http://169.254.169.254/latest
log() { echo "ams-drain: $*"; }
die() { log "error: $*" >&2 && exit 1; }
for v in "$REGION" "$ROLE" "$HOOK" "$TIMEOUT_S"; do [[ $v != *[{}]* ]] || die "unfilled: $v"; done
[[ $ROLE =~ ^(origin|edge)$ && $TIMEOUT_S =~ ^[0-9]+$ && $HOOK =~ ^[A-Za-z0-9_./-]+$ ]] || die "bad settings"
for v in aws curl python3; do command -v $v >/dev/null || die "no $v"; done

imds() {
  local t
  t=$(curl -fsS -m 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" $IMDS/api/token) &&
    curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $t" "$IMDS/meta-data/$1"
}
# get APP PATH: the body of AMS's answer; fails 2 if APP is not deployed (404), else 1.
get() {
  local o
  o=$(curl -s -m 10 -w '\n%{http_code}' "http://127.0.0.1:5080/$1/rest/v2/$2") || return 1
  case ${o##*$'\n'} in 200) echo "${o%$'\n'*}" ;; 404) return 2 ;; *) return 1 ;; esac
}
# Reads a broadcast list: prints its length, then "STREAM_ID 1|0" (1: published here) a live one.
PY='import json,sys
b=json.load(sys.stdin)
print(len(b))
[print(x["streamId"],int(x.get("originAdress") in sys.argv[1].split())) for x in b if x.get("status")=="broadcasting"]'
# count [all]: "PUBLISHERS VIEWERS" here (viewers only with all); fails if AMS does not answer.
count() {
  local app off rows id mine rc p=0 v=0 n
  for app in $APPS; do
    off=0
    while :; do
      rc=0
      rows=$(get "$app" "broadcasts/list/$off/50") || rc=$?
      [ $rc != 2 ] || continue 2
      [ $rc = 0 ] && rows=$(python3 -c "$PY" "$ADDRS" <<<"$rows") || return 1
      while read -r id mine; do
        [ -n "$mine" ] || continue
        p=$((p + mine))
        if [ "${1:-}" = all ]; then
          n=$(get "$app" "broadcasts/$id/webrtc-client-stats/0/50" |
            python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') || return 1
          v=$((v + n))
        fi
      done <<<"$rows"
      [ "${rows%%$'\n'*}" -ge 50 ] || break
      off=$((off + 50))
    done
  done
  echo "$p $v"
}
# lookup: this instance's group in GROUP and its lifecycle state in Auto Scaling in LS ("in no
# group": GROUP empty); fails if Auto Scaling does not answer.
lookup() {
  local o
  o=$(aws autoscaling describe-auto-scaling-instances --instance-ids "$ID" --output text \
    --query 'AutoScalingInstances[0].[AutoScalingGroupName,LifecycleState]' --region "$REGION") || return 1
  IFS=$'\t' read -r GROUP LS <<<"$o"
  [[ $GROUP =~ ^[^[:space:]]+$ && $GROUP != None ]] || GROUP="" LS="in no group"
}
# asg ACTION ARGS: aws autoscaling ACTION for this instance's group (looked up once); fails 3 if
# AWS finds no active lifecycle action for it, else 1.
asg() {
  local e
  [ -n "$GROUP" ] || lookup || true
  [ -n "$GROUP" ] || { log "no group found" && return 1; }
  e=$(aws autoscaling "$@" --auto-scaling-group-name "$GROUP" --region "$REGION" 2>&1 >/dev/null) && return 0
  echo "$e" >&2
  [[ $e != *"No active Lifecycle Action found"* ]] || return 3
  return 1
}
guard() {
  local c want=yes
  c=$(count) || { [ "$rest" = down ] || log "no answer from AMS: protection kept"; rest=down; return 0; }
  rest=up
  [ "${c% *}" != 0 ] || want=no
  [ $want != "$protected" ] || return 0
  if asg set-instance-protection --instance-ids "$ID" "--$([ $want = yes ] || echo no-)protected-from-scale-in"; then
    protected=$want && log "${c% *} publishers: scale-in protection $want"
  else log "scale-in protection $want refused: retrying"; fi
}
# Terminating:Wait: returns when AWS says that no lifecycle action is active yet.
drain() {
  local beat=$SECONDS dead=0 c last="" i=0 rc hook=(--lifecycle-hook-name "$HOOK" --instance-id "$ID")
  [ -n "$END" ] || { END=$((SECONDS + TIMEOUT_S)) && log "draining for up to $TIMEOUT_S s"; }
  while :; do
    if c=$(count all); then
      dead=0
      [ "$c" != "0 0" ] || { log "no publisher or viewer left" && break; }
      [ "$c" = "$last" ] || log "waiting: ${c% *} publishers, ${c#* } viewers"
      last=$c
    else
      dead=$((dead + 1)) c=unknown
      log "no answer from AMS ($dead of 3)"
      [ $dead -lt 3 ] || { log "AMS is down: nothing to drain" && break; }
    fi
    [ $SECONDS -lt "$END" ] || { log "drain timeout reached ($c)" && break; }
    if [ $SECONDS -ge "$beat" ]; then
      rc=0
      asg record-lifecycle-action-heartbeat "${hook[@]}" || rc=$?
      case $rc in
        0) beat=$((SECONDS + BEAT_S)) && log "heartbeat sent" ;;
        3) log "heartbeat: no active lifecycle action yet" && return 0 ;;
        *) log "heartbeat refused: retrying" ;;
      esac
    fi
    sleep "$POLL_S"
  done
  while :; do
    rc=0
    asg complete-lifecycle-action --lifecycle-action-result CONTINUE "${hook[@]}" || rc=$?
    if [ $rc = 0 ]; then
      mkdir -p "${MARK%/*}" && echo "$ID" >"$MARK"
      log "lifecycle action completed: CONTINUE" && exit 0
    fi
    [ $rc != 3 ] || { log "completion: no active lifecycle action yet" && return 0; }
    i=$((i + 1)) && log "completion refused ($i of 5)"
    [ $i -lt 5 ] || exit 1
    sleep "$POLL_S"
  done
}
# Terminated: drains once Auto Scaling has the instance in Terminating:Wait (see above).
terminating() {
  local s="no answer"
  if lookup; then s=$LS; fi
  [ "$s" = "$seen" ] || log "Auto Scaling: $s"
  seen=$s
  case $s in
    Terminating:Wait) drain ;;
    Terminating:Proceed | Terminated | "in no group") log "no lifecycle action to complete" && exit 0 ;;
    *)
      [ -n "$waiting" ] || log "waiting for the deregistration from the target groups to end (Terminating:Wait)"
      waiting=yes
      ;;
  esac
  sleep $((2 * POLL_S))
}

until ID=$(imds instance-id) && [[ $ID =~ ^i-[0-9a-f]+$ ]] && ADDRS=$(imds local-ipv4); do
  log "no answer from IMDS yet" && sleep "$POLL_S"
done
ADDRS+=" $(imds public-ipv4 2>/dev/null || true)"
[ "$(cat "$MARK" 2>/dev/null)" != "$ID" ] || { log "lifecycle action completed already" && exit 0; }
log "$ROLE $ID $ADDRS"
GROUP="" LS="" protected="" rest="" last=- polls=0 seen="" waiting="" END=""
while :; do
  state=$(imds autoscaling/target-lifecycle-state 2>/dev/null) || state=""
  [ "$state" = "$last" ] || log "state: ${state:-none}"
  last=$state
  if [ "$state" = Terminated ]; then terminating; fi
  if [ "$state" = InService ] && [ $ROLE = origin ]; then guard; fi
  polls=$((polls + 1))
  [ $polls != "$MAX_POLLS" ] || exit 0
  sleep "$POLL_S"
done
