#!/usr/bin/env bash
# Stand-ins for the system commands the boot scripts run, for tests/boot/mongodb_test.sh. One
# file, called through symlinks named after the commands: each call is recorded as one entry
# "NAME ARGS" in $BOOT_LOG, and acts on small files in $BOOT_STATE:
#   probe.DEV      what blkid finds on device DEV (absent: nothing); mkfs.xfs writes it
#   mounts         "DEV MOUNTPOINT" lines; mount adds one from fstab
#   mongod.active  mongod runs;  mongod.dead  it never answers
#   users          the MongoDB users that exist;  ssm-readable  the password can be read
#   device-bytes, fs-blocks  sizes blockdev and xfs_info report
# Other variables: AMS_ROOT (the boot script's file prefix), BOOT_SECRET_FILE (the password),
# BOOT_BIN (the stub directory), BOOT_STUB (this file), BOOT_SLEEP (the real sleep).
set -euo pipefail
name=${0##*/}
state=$BOOT_STATE
if [ "$name" = sleep ]; then
  exec "$BOOT_SLEEP" 0.01
fi
printf '%s\n' "$name $*" >>"$BOOT_LOG"
last=${!#}

note() { printf '%s\n' "$name: $*" >>"$BOOT_LOG"; }
data_mounted() { grep -q ' /var/lib/mongodb$' "$state/mounts" 2>/dev/null; }

case $name in
  apt-get)
    conf=$AMS_ROOT/etc/mongod.conf
    if [[ " $* " == *" mongodb-org-server="* ]] && [ ! -e "$conf" ]; then
      printf '%s\n' '# mongod.conf' '' 'storage:' '  dbPath: /var/lib/mongodb' '' \
        'systemLog:' '  destination: file' '  logAppend: true' '  path: /var/log/mongodb/mongod.log' \
        '' 'net:' '  port: 27017' '  bindIp: 127.0.0.1' '' 'processManagement:' \
        '  timeZoneInfo: /usr/share/zoneinfo' '' '#security:' >"$conf"
    fi
    ;;
  curl)
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
    if [ ! -e "$state/ssm-readable" ]; then
      echo "An error occurred (AccessDeniedException) when calling the GetParameter operation" >&2
      exit 254
    fi
    cat "$BOOT_SECRET_FILE"
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
    uuid=""
    while read -r spec point _; do
      if [ "$point" = "$last" ]; then uuid=${spec#UUID=}; fi
    done <"$AMS_ROOT/etc/fstab"
    [ -n "$uuid" ] || { echo "mount: $last: can't find in /etc/fstab." >&2; exit 1; }
    for probe in "$state"/probe.*; do
      if grep -qx "UUID=$uuid" "$probe"; then
        echo "${probe##*/probe.} $last" >>"$state/mounts"
        exit 0
      fi
    done
    echo "mount: can't find UUID=$uuid" >&2
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
  systemctl)
    case "$*" in
      "is-active --quiet mongod") [ -e "$state/mongod.active" ] ;;
      "stop mongod") rm -f "$state/mongod.active" ;;
      "enable --now mongod" | "start mongod" | "restart mongod")
        data_mounted || note "mongod started WITHOUT its data volume mounted"
        touch "$state/mongod.active"
        ;;
    esac
    ;;
  mongosh)
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
esac
