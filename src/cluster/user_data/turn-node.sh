#!/bin/bash
# TURN relay of the Ant Media Server cluster (made by ams-stack, `[turn] enabled = true`): EC2
# user data, run once as root by cloud-init at first boot of each instance of the TURN group
# (Ubuntu 24.04 from Canonical).
# 1. Installs coturn from Ubuntu's archive, its service kept from starting until it is configured
#    (policy-rc.d; an unconfigured coturn is an open relay), and the AWS CLI.
# 2. Reads the TURN shared secret (coturn's use-auth-secret) from SSM Parameter Store through the
#    instance role. It stays in memory and in coturn's configuration file (mode 0600, owned by
#    coturn's user): never in a log, a command line or the environment.
# 3. Takes one of the stack's TURN Elastic IPs (one per slot of the group, found by their tags:
#    ams-stack:stack STACK, ams-stack:name ADDRESSES*, so that resizing the group changes no
#    relay's user data): the one already on this instance, else the first free one, associated with
#    --no-allow-reassociation (an address another relay holds is never taken from it; two relays
#    booting at once each end up with their own). A replaced relay takes its predecessor's address
#    back, so turn.DOMAIN never changes. None free after 5 minutes: fails (6).
# 4. Writes /etc/turnserver.conf: listening port TURN_PORT (UDP and TCP), relay ports
#    RELAY_MIN-RELAY_MAX, external-ip PUBLIC/PRIVATE, realm REALM, the secret, fingerprints, no CLI,
#    no multicast peers, no TCP relay, at most 300 sessions of 5 Mbit/s, and denied-peer-ip for
#    every private, loopback, link-local (169.254.0.0/16: the instance metadata service and the
#    VPC's DNS), shared, reserved and multicast range, IPv4 and IPv6: the relay can reach the
#    internet's peers only, never the VPC or the metadata service. No TLS or DTLS (no certificate on
#    the relay: TURN's own messages are authenticated by the secret's HMAC, and WebRTC media is
#    DTLS-SRTP end to end through the relay).
# 5. Enables and restarts coturn, started again whenever it stops (a drop-in, Restart=always), and
#    checks that it listens on TURN_PORT over UDP and TCP.
# 6. On any failure (SSM unreadable, no address free, coturn not listening, anything else) marks
#    its own instance Unhealthy, which its Auto Scaling group replaces, and exits non-zero. (The
#    instance role may read that one parameter, describe addresses, associate the stack's TURN
#    addresses with the stack's instances, and set the health of the stack's groups' instances.)
# log, die, apt_get, install_aws_cli, read_password and instance_id come from common.sh, pasted in
# by ams-stack in place of the COMMON placeholder below.
# Set by tests only (tests/boot/); production uses the defaults:
#   AMS_ROOT          prefix of the files this script reads and writes itself (default: none)
#   AMS_TURN_WAIT_S   how long to wait for a free address, and for coturn (default: 300 seconds)
set -Eeuo pipefail
{COMMON}
BOOT_NAME=ams-turn
REGION="{REGION}"
REALM="{REALM}"
TURN_PORT="{TURN_PORT}"
RELAY_MIN="{RELAY_MIN}"
RELAY_MAX="{RELAY_MAX}"
STACK="{STACK}"
ADDRESSES="{ADDRESSES}"
ROOT=${AMS_ROOT:-}
WAIT_S=${AMS_TURN_WAIT_S:-300}
CONF=$ROOT/etc/turnserver.conf
# The name of the SSM parameter the secret is read from (a name, not a value). Last of the
# settings, as in mongodb.sh.
PARAMETER="{PARAMETER}"
SECRET=""
ready=""
step="install coturn"

# Every range a relayed peer may not be in (coturn's denied-peer-ip takes FIRST-LAST ranges).
DENIED=(
  0.0.0.0-0.255.255.255               # "this network"
  10.0.0.0-10.255.255.255             # private (RFC 1918)
  100.64.0.0-100.127.255.255          # shared address space (carrier-grade NAT)
  127.0.0.0-127.255.255.255           # loopback
  169.254.0.0-169.254.255.255         # link-local: instance metadata, the VPC's DNS
  172.16.0.0-172.31.255.255           # private (RFC 1918)
  192.0.0.0-192.0.0.255               # IETF protocol assignments
  192.0.2.0-192.0.2.255               # documentation
  192.88.99.0-192.88.99.255           # 6to4 relay anycast
  192.168.0.0-192.168.255.255         # private (RFC 1918)
  198.18.0.0-198.19.255.255           # benchmarking
  198.51.100.0-198.51.100.255         # documentation
  203.0.113.0-203.0.113.255           # documentation
  224.0.0.0-255.255.255.255           # multicast, reserved, broadcast
  ::-::1                              # unspecified, loopback
  ::ffff:0.0.0.0-::ffff:255.255.255.255  # IPv4-mapped
  64:ff9b::-64:ff9b::ffff:ffff        # NAT64
  fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff  # unique local (the metadata service's fd00:ec2::254)
  fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff  # link-local
  ff00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff  # multicast
)

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
  SECRET=""
  if [ -z "$ready" ]; then
    printf '%s: error: this relay did not %s (exit %s)\n' "$BOOT_NAME" "$step" "$rc" >&2
    mark_unhealthy
    [ "$rc" != 0 ] || rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT

# metadata PATH: the instance metadata at PATH, through IMDSv2.
metadata() {
  local token
  token=$(curl -fsS --retry 5 --retry-connrefused -X PUT \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$IMDS/api/token") || return 1
  curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" "$IMDS/meta-data/$1"
}

# take_address: sets PUBLIC_IP to the address of the stack's TURN addresses this instance holds,
# associating a free one first if it holds none. Fails when none is free (or EC2 cannot say).
take_address() {
  local listed allocation ip holder
  listed=$(aws ec2 describe-addresses --region "$REGION" \
    --filters "Name=tag:ams-stack:stack,Values=$STACK" "Name=tag:ams-stack:name,Values=$ADDRESSES*" \
    --query 'Addresses[].[AllocationId,PublicIp,InstanceId]' --output text) || return 1
  while read -r allocation ip holder; do
    if [ "$holder" = "$INSTANCE" ]; then
      PUBLIC_IP=$ip
      log "holds TURN address $ip ($allocation) already"
      return 0
    fi
  done <<<"$listed"
  while read -r allocation ip holder; do
    [ -n "$allocation" ] && [ "$holder" = None ] || continue
    if aws ec2 associate-address --region "$REGION" --allocation-id "$allocation" \
      --instance-id "$INSTANCE" --no-allow-reassociation >/dev/null; then
      PUBLIC_IP=$ip
      log "took TURN address $ip ($allocation)"
      return 0
    fi
    log "could not take TURN address $ip ($allocation): another relay may have taken it"
  done <<<"$listed"
  return 1
}
no_address_yet() { log "no TURN address of stack $STACK ($ADDRESSES*) is free yet: waiting for one"; }

# Listens on TURN_PORT over UDP and TCP.
listening() {
  [ -n "$(ss -H -lnu "sport = :$TURN_PORT")" ] && [ -n "$(ss -H -lnt "sport = :$TURN_PORT")" ]
}
not_listening() { log "coturn does not listen on $TURN_PORT (UDP and TCP) yet"; }

[[ $REALM =~ ^[A-Za-z0-9.-]+$ ]] || die "not a domain name: $REALM"
for port in "$TURN_PORT" "$RELAY_MIN" "$RELAY_MAX"; do
  [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "not a port: $port"
done
[ "$RELAY_MIN" -lt "$RELAY_MAX" ] || die "not a port range: $RELAY_MIN-$RELAY_MAX"
[[ $STACK =~ ^[A-Za-z0-9_-]+$ ]] || die "not a stack name: $STACK"
[[ $ADDRESSES =~ ^[A-Za-z0-9_-]+$ ]] || die "not a name prefix: $ADDRESSES"
# shellcheck source=/dev/null
. "$ROOT/etc/os-release"
[ "${VERSION_CODENAME:-}" = noble ] || die "made for Ubuntu 24.04 (noble), found ${PRETTY_NAME:-unknown}"

log "installing coturn"
# Its package would start coturn at once with its own configuration: no authentication, no
# denied peers, an open relay into the VPC. Debian's policy-rc.d keeps any service from starting
# while packages install; coturn starts below, configured.
mkdir -p "$ROOT/usr/sbin"
printf '#!/bin/sh\n# ams-stack turn-node.sh: no service starts while it installs packages.\nexit 101\n' \
  >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
apt_get update
apt_get install coturn curl unzip iproute2
rm -f "$ROOT/usr/sbin/policy-rc.d"
systemctl stop coturn
install_aws_cli

step="read the TURN secret"
read_password "$REGION" "$PARAMETER" SECRET

step="take a TURN address"
INSTANCE=$(instance_id) || die "no instance id from IMDSv2"
PRIVATE_IP=$(metadata local-ipv4) || die "no private address from IMDSv2"
[[ $PRIVATE_IP =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "not a private IPv4 address: $PRIVATE_IP"
PUBLIC_IP=""
poll "$WAIT_S" 10 no_address_yet take_address ||
  die "none of stack $STACK's TURN addresses ($ADDRESSES*) could be taken within $WAIT_S s: all held by other relays, or none made?"
[[ $PUBLIC_IP =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "not a public IPv4 address: $PUBLIC_IP"

step="configure coturn"
# Written whole to a file only its owner reads, then moved into place: the secret is never in a
# file anyone else can read, nor in a command line (printf is bash's own).
mkdir -p "$ROOT/etc"
scratch=$(umask 077 && mktemp "$CONF.XXXXXX")
{
  printf '# coturn for the AMS cluster (ams-stack turn-node.sh): rewritten at every first boot.\n'
  printf 'listening-port=%s\n' "$TURN_PORT"
  printf 'min-port=%s\nmax-port=%s\n' "$RELAY_MIN" "$RELAY_MAX"
  printf 'external-ip=%s/%s\n' "$PUBLIC_IP" "$PRIVATE_IP"
  printf 'realm=%s\n' "$REALM"
  printf 'use-auth-secret\nstatic-auth-secret=%s\n' "$SECRET"
  printf '%s\n' fingerprint no-cli no-multicast-peers no-tcp-relay no-tls no-dtls \
    stale-nonce=600 syslog
  # Bounds on what the relay carries: every viewer AMS gives the TURN server to gets its one
  # credential (docs/OPERATIONS.md, TURN), so anyone who opens a player could relay through it.
  # 5 Mbit/s a session (an HD WebRTC stream is 4 at most), 300 sessions at once.
  printf '%s\n' max-bps=625000 total-quota=300 user-quota=300
  printf 'denied-peer-ip=%s\n' "${DENIED[@]}"
} >"$scratch"
SECRET=""
chmod 0600 "$scratch"
chown turnserver:turnserver "$scratch"
mv -f "$scratch" "$CONF"
log "wrote $CONF (mode 0600): realm $REALM, external address $PUBLIC_IP/$PRIVATE_IP, relay ports $RELAY_MIN-$RELAY_MAX"

step="start coturn"
# Started again whenever it stops (the group replaces only an instance that EC2 finds unwell).
mkdir -p "$ROOT/etc/systemd/system/coturn.service.d"
printf '[Service]\nRestart=always\nRestartSec=5\n' >"$ROOT/etc/systemd/system/coturn.service.d/ams-restart.conf"
systemctl daemon-reload
systemctl enable coturn
systemctl restart coturn
poll "$WAIT_S" 2 not_listening listening ||
  die "coturn does not listen on $TURN_PORT (UDP and TCP) within $WAIT_S s (see journalctl -u coturn)"
ready=yes
log "TURN relay ready: turn:$REALM:$TURN_PORT at $PUBLIC_IP"
