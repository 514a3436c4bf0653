# shellcheck shell=bash
# Shared part of ams-stack's EC2 boot scripts (src/cluster/user_data/): ams-stack pastes this text
# in place of each script's COMMON placeholder, right after `set -Eeuo pipefail`. It holds no
# placeholder itself. It defines, for the script, which sets BOOT_NAME (the messages' prefix):
#   log MSG, die MSG       a message on stdout; an error on stderr, then exit 1
#   apt_get ARGS           apt-get -y, waiting for apt's lock (unattended-upgrades runs at boot too)
#   add_mongodb_repo CODE  MongoDB's $MONGODB_SERIES apt repository for Ubuntu CODE, key checked
#   install_aws_cli        AWS CLI v2 at a pinned release from AWS, when `aws` is absent
#   read_password REG PAR [VAR]  SSM parameter PAR of region REG, decrypted, into the variable
#                          VAR (default PASSWORD): read with retries, never printed; fails loudly
#   instance_id            this instance's id, through IMDSv2 (a session token first)
# Files are written under $ROOT (set by the script; tests only, production: none).
export DEBIAN_FRONTEND=noninteractive
MONGODB_SERIES=8.0
AWSCLI_VERSION=2.22.35
IMDS=http://169.254.169.254/latest

log() { printf '%s: %s\n' "$BOOT_NAME" "$*"; }
die() {
  printf '%s: error: %s\n' "$BOOT_NAME" "$*" >&2
  exit 1
}

# poll WAIT_S INTERVAL NOTE CHECK...: runs CHECK every INTERVAL seconds until it succeeds; fails
# (returns 1) after WAIT_S seconds. NOTE, a command, says why it still waits: at the first miss,
# then once a minute.
poll() {
  local wait_s=$1 interval=$2 note=$3
  shift 3
  local deadline=$((SECONDS + wait_s)) next_note=0
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    if [ "$SECONDS" -ge "$next_note" ]; then
      "$note"
      next_note=$((SECONDS + 60))
    fi
    sleep "$interval"
  done
}
trap 'printf "%s: error: line %s: %s (exit %s)\n" "$BOOT_NAME" "$LINENO" "$BASH_COMMAND" "$?" >&2' ERR
apt_get() { apt-get -y -o DPkg::Lock::Timeout=600 "$@"; }

add_mongodb_repo() {
  local keyring=/usr/share/keyrings/mongodb-server-$MONGODB_SERIES.gpg
  mkdir -p "$ROOT/usr/share/keyrings" "$ROOT/etc/apt/sources.list.d"
  curl -fsSL --retry 5 "https://www.mongodb.org/static/pgp/server-$MONGODB_SERIES.asc" |
    gpg --batch --yes --dearmor -o "$ROOT$keyring"
  echo "deb [ arch=amd64,arm64 signed-by=$keyring ] https://repo.mongodb.org/apt/ubuntu $1/mongodb-org/$MONGODB_SERIES multiverse" \
    >"$ROOT/etc/apt/sources.list.d/mongodb-org-$MONGODB_SERIES.list"
}

# Ubuntu 24.04 has no awscli package: AWS CLI v2 from AWS, at a pinned release.
install_aws_cli() {
  command -v aws >/dev/null && return 0
  local url work
  url="https://awscli.amazonaws.com/awscli-exe-linux-$(uname -m)-$AWSCLI_VERSION.zip"
  if ! command -v unzip >/dev/null; then
    apt_get update
    apt_get install unzip
  fi
  log "installing AWS CLI from $url"
  work=$(mktemp -d)
  curl -fsSL --retry 5 -o "$work/awscliv2.zip" "$url" || die "could not download $url"
  unzip -q "$work/awscliv2.zip" -d "$work" || die "could not unzip $url"
  "$work/aws/install" || die "the AWS CLI $AWSCLI_VERSION installer failed"
  rm -rf "$work"
  command -v aws >/dev/null || die "AWS CLI $AWSCLI_VERSION installed, but aws is not on PATH"
}

read_password() {
  local attempt value var=${3:-PASSWORD}
  [[ $var =~ ^[A-Z_]+$ ]] || die "read_password: not a variable name: $var"
  log "reading SSM parameter $2"
  for attempt in $(seq 1 30); do
    if value=$(aws ssm get-parameter --region "$1" --name "$2" \
      --with-decryption --query Parameter.Value --output text) && [ -n "$value" ]; then
      printf -v "$var" '%s' "$value"
      return 0
    fi
    printf -v "$var" '%s' ""
    log "SSM parameter $2 not readable yet (attempt $attempt of 30)"
    sleep 10
  done
  die "could not read SSM parameter $2 in $1 after 30 attempts"
}

instance_id() {
  local token id
  token=$(curl -fsS --retry 5 --retry-connrefused -X PUT \
    -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$IMDS/api/token") || return 1
  id=$(curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" \
    "$IMDS/meta-data/instance-id") || return 1
  [[ $id =~ ^i-[0-9a-f]+$ ]] || return 1
  printf '%s\n' "$id"
}
