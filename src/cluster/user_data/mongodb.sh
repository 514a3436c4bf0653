#!/bin/bash
# MongoDB server for the Ant Media Server cluster (made by ams-stack): EC2 user data, run once as
# root by cloud-init at first boot of Ubuntu 24.04.
# 1. Installs MongoDB 8.0.12 from MongoDB's own apt repository and holds it at that release.
# 2. Reads the password of the one user the AMS nodes log in as from SSM Parameter Store through
#    the instance role. It stays in memory and in mongosh's environment: never in a file, a log or
#    a command line.
# 3. Keeps mongod's data on its own EBS volume (attached separately, maybe after boot): waits for
#    it, formats it only if it holds nothing, mounts it by its label (mongodb) at /var/lib/mongodb, makes mongod
#    need that mount on every boot, and grows the filesystem when the volume grows.
# 4. Creates the user (or, on data from an earlier instance, updates it), then turns on
#    authorization.
# log, die, apt_get, add_mongodb_repo, install_aws_cli and read_password come from common.sh,
# pasted in by ams-stack in place of the COMMON placeholder below.
# Set by tests only (tests/boot/); production uses the defaults:
#   AMS_ROOT           prefix of the files and device links this script reads and writes itself
#                      (default: none); paths written inside files and given to mount, chown and
#                      systemctl stay absolute
#   AMS_DEVICE_WAIT_S  how long to wait for the data volume to appear (default: 900 seconds)
set -Eeuo pipefail
{COMMON}
BOOT_NAME=ams-mongodb
REGION="{REGION}"
VOLUME="{VOLUME_ID}"
API_DEVICE="{DEVICE}"
MONGODB_VERSION=8.0.12
DATA_DIR=/var/lib/mongodb
ROOT=${AMS_ROOT:-}
DEVICE_WAIT_S=${AMS_DEVICE_WAIT_S:-900}
CONF=$ROOT/etc/mongod.conf
FSTAB=$ROOT/etc/fstab
UNITS=$ROOT/etc/systemd/system
GROW=/usr/local/sbin/ams-mongodb-grow
# The name of the SSM parameter the MongoDB user's login is read from (a name, not a value).
# Last of the settings on purpose: Prowler's user-data scanner misread the quoted value on the
# line after it.
PARAMETER="{PARAMETER}"

[[ $VOLUME =~ ^vol-[0-9a-f]+$ ]] || die "not an EBS volume id: $VOLUME"
[[ $API_DEVICE =~ ^/dev/(sd|xvd)[a-z]$ ]] || die "not a device name: $API_DEVICE"
# shellcheck source=/dev/null
. "$ROOT/etc/os-release"
[ "${VERSION_CODENAME:-}" = noble ] || die "made for Ubuntu 24.04 (noble), found ${PRETTY_NAME:-unknown}"

log "installing MongoDB $MONGODB_VERSION"
apt_get update
apt_get install gnupg curl unzip xfsprogs
add_mongodb_repo noble
apt_get update
packages=(mongodb-org mongodb-org-database mongodb-org-server mongodb-org-shell mongodb-org-mongos
  mongodb-org-tools mongodb-org-database-tools-extra)
apt_get install "${packages[@]/%/=$MONGODB_VERSION}" mongodb-mongosh
apt-mark hold "${packages[@]}" mongodb-mongosh

install_aws_cli
read_password "$REGION" "$PARAMETER"

# The volume's device. Nitro: an NVMe disk whose serial is the volume id without its dash.
# Xen: the API's name or its xvd form. A disk with anything else mounted (the root disk) is never
# used.
letter=${API_DEVICE##*/}
letter=${letter#sd}
letter=${letter#xvd}
candidates=("$ROOT/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${VOLUME/-/}"
  "$ROOT/dev/sd$letter" "$ROOT/dev/xvd$letter")
refused=""
# Succeeds when nothing but the data directory is mounted from disk $1 or its partitions.
usable() {
  local mounts
  mounts=$(lsblk -nro MOUNTPOINT "$1") || return 1
  mounts=$(printf '%s\n' "$mounts" | grep -vx -e '' -e "$DATA_DIR") || return 0
  if [[ " $refused " != *" $1 "* ]]; then
    log "not using $1: it is in use (mounted at ${mounts//$'\n'/, })"
    refused="$refused $1"
  fi
  return 1
}
# Sets device to the first usable candidate.
find_device() {
  local link target
  for link in "${candidates[@]}"; do
    [ -e "$link" ] || continue
    target=$(readlink -f "$link") || continue
    if usable "$target"; then
      device=$target
      return 0
    fi
  done
  return 1
}
log "waiting up to $DEVICE_WAIT_S s for EBS volume $VOLUME at one of: ${candidates[*]}"
device=""
still_waiting() { log "still waiting for EBS volume $VOLUME"; }
poll "$DEVICE_WAIT_S" 5 still_waiting find_device ||
  die "EBS volume $VOLUME did not appear within $DEVICE_WAIT_S s (looked for ${candidates[*]}); mongod not started"
log "EBS volume $VOLUME is $device"

# Format only a volume that holds nothing at all (blkid exit 2): never one with data.
rc=0
found=$(blkid -p -o export "$device") || rc=$?
if [ "$rc" = 2 ]; then
  log "$device holds nothing: formatting it (XFS)"
  mkfs.xfs -q -L mongodb "$device"
  udevadm settle
  found=$(blkid -p -o export "$device") || die "blkid finds no filesystem on $device after mkfs.xfs"
elif [ "$rc" != 0 ]; then
  die "blkid could not probe $device (exit $rc): not touching it"
fi
fs_type=$(printf '%s\n' "$found" | sed -n 's/^TYPE=//p')
label=$(printf '%s\n' "$found" | sed -n 's/^LABEL=//p')
if [ "$fs_type" != xfs ]; then
  die "$device holds $(printf '%s' "$found" | tr '\n' ' '), not an XFS filesystem: neither formatting nor mounting it"
fi
if [ "$label" != mongodb ]; then
  die "$device holds an XFS filesystem labelled '${label}', not 'mongodb' (made by this script): not mounting it"
fi

# By label, not UUID: a volume restored from a snapshot carries the label of the filesystem it
# copies, while this fstab line, written once at first boot, must find whichever volume is
# attached later (the same one, a restored one).
fstab_line="LABEL=mongodb $DATA_DIR xfs defaults,noatime,nofail 0 0"
if grep -qxF "$fstab_line" "$FSTAB"; then
  log "$FSTAB already mounts the filesystem labelled mongodb at $DATA_DIR"
elif grep -Eq "^[^#]*[[:space:]]${DATA_DIR}[[:space:]]" "$FSTAB"; then
  die "$FSTAB already mounts something else at $DATA_DIR: not changing it"
else
  printf '%s\n' "$fstab_line" >>"$FSTAB"
fi
mkdir -p "$ROOT$DATA_DIR" "$UNITS/mongod.service.d" "$ROOT/usr/local/sbin"
printf '[Unit]\nRequiresMountsFor=%s\n' "$DATA_DIR" >"$UNITS/mongod.service.d/ams-data-volume.conf"

# Growth: ModifyVolume makes the disk larger; this makes the filesystem follow, without a reboot.
cat >"$ROOT$GROW" <<'SCRIPT'
#!/bin/bash
# Grows the XFS filesystem at /var/lib/mongodb to the size of its EBS volume when the volume has
# grown (written by ams-stack's MongoDB boot script, run by ams-mongodb-grow.timer).
set -euo pipefail
dir=/var/lib/mongodb
if ! mountpoint -q "$dir"; then
  echo "$dir is not mounted: nothing to grow" >&2
  exit 0
fi
device=$(findmnt -nro SOURCE --mountpoint "$dir")
device_bytes=$(blockdev --getsize64 "$device")
sizes=$(xfs_info "$dir" | sed -n 's/^data *= *bsize=\([0-9]*\) *blocks=\([0-9]*\),.*/\1 \2/p')
if ! [[ $sizes =~ ^[0-9]+\ [0-9]+$ ]]; then
  echo "could not read the size of $dir from xfs_info" >&2
  exit 1
fi
fs_bytes=$((${sizes% *} * ${sizes#* }))
# A tail smaller than 1 MiB may stay unused (XFS allocation groups have a minimum size).
if [ $((device_bytes - fs_bytes)) -gt 1048576 ]; then
  echo "growing $dir: $device has $device_bytes bytes, its filesystem $fs_bytes"
  xfs_growfs "$dir"
fi
SCRIPT
chmod 755 "$ROOT$GROW"
cat >"$UNITS/ams-mongodb-grow.service" <<UNIT
[Unit]
Description=Grow the MongoDB data filesystem to its EBS volume's size (ams-stack)
RequiresMountsFor=$DATA_DIR

[Service]
Type=oneshot
ExecStart=$GROW
UNIT
cat >"$UNITS/ams-mongodb-grow.timer" <<UNIT
[Unit]
Description=Check every 5 minutes whether the MongoDB data volume has grown (ams-stack)

[Timer]
OnBootSec=5min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload

if ! mountpoint -q "$DATA_DIR"; then
  # The package is not meant to start mongod; if it did, it must not keep files under the mount.
  if systemctl is-active --quiet mongod; then
    log "stopping mongod before mounting its data volume"
    systemctl stop mongod
  fi
  mount "$DATA_DIR"
fi
chown -R mongodb:mongodb "$DATA_DIR"
systemctl enable --now ams-mongodb-grow.timer

[ -f "$CONF" ] || die "$CONF is missing after installing mongodb-org"
grep -qx "  dbPath: $DATA_DIR" "$CONF" || die "$CONF does not keep mongod's data in $DATA_DIR"
sed -i 's/^  bindIp: .*/  bindIp: 0.0.0.0/' "$CONF"
grep -qx '  bindIp: 0.0.0.0' "$CONF" || die "could not set bindIp in $CONF"

wait_for_mongod() {
  local _
  for _ in $(seq 1 150); do
    mongosh --quiet --eval 'db.runCommand({ ping: 1 }).ok' >/dev/null 2>&1 && return 0
    sleep 2
  done
  die "mongod did not answer ping within 300 s (see journalctl -u mongod)"
}
log "starting mongod"
systemctl enable --now mongod
wait_for_mongod

# The nodes' user: read and write the AMS databases, SCRAM-SHA-256, nothing more. Data from an
# earlier instance already holds it: then its password and roles are set again.
if grep -q '^security:' "$CONF"; then
  log "authorization already enabled in $CONF: user antmedia left as it is"
else
  AMS_MONGODB_PASSWORD=$PASSWORD mongosh --quiet admin --eval '
    const spec = { pwd: process.env.AMS_MONGODB_PASSWORD, mechanisms: [ "SCRAM-SHA-256" ],
      roles: [ { role: "readWriteAnyDatabase", db: "admin" } ] };
    if (db.getUser("antmedia") === null) {
      db.createUser(Object.assign({ user: "antmedia" }, spec));
      print("ams-mongodb: created user antmedia");
    } else {
      db.updateUser("antmedia", spec);
      print("ams-mongodb: updated the password and roles of user antmedia");
    }' || die "could not create or update the user antmedia"
  printf 'security:\n  authorization: enabled\n' >>"$CONF"
  log "authorization enabled: restarting mongod"
  systemctl restart mongod
  wait_for_mongod
fi
unset PASSWORD
log "MongoDB $MONGODB_VERSION ready, data on $device (EBS volume $VOLUME)"
