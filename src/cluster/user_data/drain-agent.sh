#!/bin/bash
# ams-drain: the drain agent of an AMS node (made by ams-stack; ams-node.sh installs it as
# ams-drain.service, not bound to antmedia.service: it must finish even if AMS died; ams-stack
# pastes it there without comment lines and indentation). Polls IMDSv2's target lifecycle state
# every 5 s.
# - InService, origins only: protects the instance from scale-in while it holds live publishers,
#   clears that when they are gone (a call only on a change, and once at start; retried if refused).
# - Terminated: waits while AMS (REST on localhost) has publishers or WebRTC viewers on this node,
#   with a hook heartbeat at most every 60 s, for DRAIN_TIMEOUT_S at most, or until AMS fails to
#   answer 3 polls in a row (a dead AMS serves nobody); then completes the lifecycle action
#   (CONTINUE, tried 5 times), writes a marker (a restart then only says so) and exits 0.
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
# asg ACTION ARGS: aws autoscaling ACTION for this instance's group (looked up once).
asg() {
  [ -n "$GROUP" ] || GROUP=$(aws autoscaling describe-auto-scaling-instances --instance-ids "$ID" \
    --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text --region "$REGION") || GROUP=""
  [[ $GROUP =~ ^[^[:space:]]+$ && $GROUP != None ]] || { GROUP="" && log "no group found" && return 1; }
  aws autoscaling "$@" --auto-scaling-group-name "$GROUP" --region "$REGION"
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
drain() {
  local end=$((SECONDS + TIMEOUT_S)) beat=$SECONDS dead=0 c last="" i hook=(--lifecycle-hook-name "$HOOK" --instance-id "$ID")
  log "draining for up to $TIMEOUT_S s"
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
    if [ $SECONDS -ge "$beat" ]; then
      if asg record-lifecycle-action-heartbeat "${hook[@]}"; then
        beat=$((SECONDS + BEAT_S)) && log "heartbeat sent"
      else log "heartbeat refused: retrying"; fi
    fi
    [ $SECONDS -lt $end ] || { log "drain timeout reached ($c)" && break; }
    sleep "$POLL_S"
  done
  for i in 1 2 3 4 5; do
    if asg complete-lifecycle-action --lifecycle-action-result CONTINUE "${hook[@]}"; then
      mkdir -p "${MARK%/*}" && echo "$ID" >"$MARK"
      log "lifecycle action completed: CONTINUE" && exit 0
    fi
    log "completion refused ($i of 5)"
    sleep "$POLL_S"
  done
  exit 1
}

until ID=$(imds instance-id) && [[ $ID =~ ^i-[0-9a-f]+$ ]] && ADDRS=$(imds local-ipv4); do
  log "no answer from IMDS yet" && sleep "$POLL_S"
done
ADDRS+=" $(imds public-ipv4 2>/dev/null || true)"
[ "$(cat "$MARK" 2>/dev/null)" != "$ID" ] || { log "lifecycle action completed already" && exit 0; }
log "$ROLE $ID $ADDRS"
GROUP="" protected="" rest="" last=- polls=0
while :; do
  state=$(imds autoscaling/target-lifecycle-state 2>/dev/null) || state=""
  [ "$state" = "$last" ] || log "state: ${state:-none}"
  last=$state
  if [ "$state" = Terminated ]; then drain; fi
  if [ "$state" = InService ] && [ $ROLE = origin ]; then guard; fi
  polls=$((polls + 1))
  [ $polls != "$MAX_POLLS" ] || exit 0
  sleep "$POLL_S"
done
