#!/usr/bin/env bash
# Tests of the MongoDB host's boot script (src/cluster/user_data/mongodb.sh), run with its
# placeholders filled (tests/boot/fill.sh), in a scratch directory, with stand-ins
# (tests/boot/stub.sh) for every system command it runs and a PATH holding nothing else but a few
# plain tools (tests/boot/lib.sh). Each case sets up devices and state, runs the script and checks
# the recorded calls and the files it wrote.
#   tests/boot/mongodb_test.sh [CASE...]     (all cases by default; exit 1 if any fails)
# SHELLCHECK, if set, is used to check the growth script the boot script writes. BOOT_TEMPLATE
# names another copy of the script to test (to see a case fail on a script broken on purpose).
set -euo pipefail
# shellcheck source=tests/boot/lib.sh
. "$(dirname "$0")/lib.sh"
TEMPLATE=${BOOT_TEMPLATE:-$HERE/../../src/cluster/user_data/mongodb.sh}
VOLUME=vol-0123456789abcdef0
BY_ID=nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0
# The plain tools the script and the stubs may use from the real system.
TOOLS=(bash cat chmod cut dirname grep ln mkdir mktemp readlink rm sed seq touch tr uname)
STUBBED=(apt-get apt-mark aws blkid blockdev chown curl findmnt gpg lsblk mkfs.xfs mongosh mount
  mountpoint sleep snap systemctl udevadm unzip xfs_growfs xfs_info)

# A fresh machine (machine_setup) with a root disk mounted at /, and the filled-in script.
setup() {
  machine_setup
  mkdir -p "$T/root/dev/disk/by-id"
  printf '%s\n' 'LABEL=cloudimg-rootfs / ext4 discard,commit=30,errors=remount-ro 0 1' >"$T/root/etc/fstab"
  touch "$T/root/dev/nvme0n1"
  echo "nvme0n1 /" >"$T/state/mounts"
  "$HERE/fill.sh" "$TEMPLATE" VOLUME_ID="$VOLUME" DEVICE=/dev/sdf >"$T/boot.sh"
}

# The data volume, attached: the NVMe disk and its by-id link.
attach() {
  touch "$T/root/dev/nvme1n1"
  ln -s ../../nvme1n1 "$T/root/dev/disk/by-id/$BY_ID"
}

expect_no_mongod() {
  expect_not_called '^systemctl (enable --now|start|restart) mongod'
  expect_not_called '^mkfs'
}

FSTAB_LINE='^LABEL=mongodb /var/lib/mongodb xfs [^ ]*nofail[^ ]* 0 0$'

test_placeholders_appear_once() {
  expect_placeholders COMMON REGION PARAMETER VOLUME_ID DEVICE
}

test_fresh_volume_is_formatted_mounted_and_used() {
  attach
  boot
  expect_rc 0
  expect_count 1 "^mkfs.xfs .*-L mongodb $T/root/dev/nvme1n1\$"
  expect_file /etc/fstab "$FSTAB_LINE"
  expect_file /etc/systemd/system/mongod.service.d/ams-data-volume.conf '^RequiresMountsFor=/var/lib/mongodb$'
  expect_file /etc/systemd/system/ams-mongodb-grow.service '^ExecStart=/usr/local/sbin/ams-mongodb-grow$'
  expect_file /etc/systemd/system/ams-mongodb-grow.timer '^OnUnitActiveSec=5min$'
  expect_order '^mkfs.xfs' '^mount /var/lib/mongodb$'
  expect_order '^systemctl daemon-reload' '^mount /var/lib/mongodb$'
  expect_order '^mount /var/lib/mongodb$' '^chown -R mongodb:mongodb /var/lib/mongodb$'
  expect_order '^chown' '^systemctl enable --now mongod$'
  expect_called '^systemctl enable --now ams-mongodb-grow.timer$'
  expect_not_called 'WITHOUT its data volume'
  expect_called '^mongosh: created antmedia$'
  expect_called '^mongosh: password from the environment matches$'
  expect_file /etc/mongod.conf '^  bindIp: 0.0.0.0$'
  expect_file /etc/mongod.conf '^  authorization: enabled$'
  expect_order '^mongosh: created antmedia' '^systemctl restart mongod$'
  expect_called '^apt-get .*install mongodb-org=8\.0\.12 .*mongodb-org-server=8\.0\.12 '
  expect_called '^apt-mark hold mongodb-org mongodb-org-database mongodb-org-server'
  expect_file /etc/apt/sources.list.d/mongodb-org-8.0.list 'noble/mongodb-org/8\.0 multiverse$'
  expect_called '^curl .*/static/pgp/server-8\.0\.asc$'
  expect_not_called '^(curl .*awscli|unzip|snap)'
}

test_volume_with_data_is_not_formatted_and_user_is_updated() {
  attach
  printf '%s\n' "UUID=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" "TYPE=xfs" "LABEL=mongodb" >"$T/state/probe.nvme1n1"
  echo antmedia >"$T/state/users"
  boot
  expect_rc 0
  expect_not_called '^mkfs'
  expect_file /etc/fstab "$FSTAB_LINE"
  expect_called '^mount /var/lib/mongodb$'
  expect_called '^mongosh: updated antmedia$'
  expect_not_called '^mongosh: created'
  expect_called '^mongosh: password from the environment matches$'
}

test_volume_attached_late_is_waited_for() {
  ("$REAL_SLEEP" 1.5 && attach) &
  local attacher=$!
  WAIT_S=30 boot
  wait "$attacher"
  expect_rc 0
  expect_output "waiting up to 30 s for EBS volume $VOLUME"
  expect_output "EBS volume $VOLUME is $T/root/dev/nvme1n1"
  expect_count 1 '^mkfs.xfs'
  expect_called '^systemctl enable --now mongod$'
}

test_volume_never_attached_fails_loudly() {
  WAIT_S=1 boot
  expect_rc 1
  expect_output "error: EBS volume $VOLUME did not appear within 1 s"
  expect_no_mongod
  expect_not_called '^mount '
}

test_root_disk_is_never_used() {
  # Only the root disk answers to a candidate name.
  ln -s nvme0n1 "$T/root/dev/xvdf"
  WAIT_S=1 boot
  expect_rc 1
  expect_output "not using $T/root/dev/nvme0n1: it is in use \\(mounted at /\\)"
  expect_no_mongod
  expect_not_called '^blkid'
}

test_volume_with_something_else_is_refused() {
  attach
  printf '%s\n' "PTUUID=5e6f" "PTTYPE=gpt" >"$T/state/probe.nvme1n1"
  boot
  expect_rc 1
  expect_output "error: .*nvme1n1 holds PTUUID=5e6f PTTYPE=gpt, not an XFS filesystem"
  expect_no_mongod
  expect_not_called '^mount '
}

test_xfs_not_made_by_this_script_is_refused() {
  attach
  printf '%s\n' "UUID=9a8b7c6d-0000-4000-8000-123456789abc" "TYPE=xfs" "LABEL=other" >"$T/state/probe.nvme1n1"
  boot
  expect_rc 1
  expect_output "error: .*nvme1n1 holds an XFS filesystem labelled 'other', not 'mongodb'"
  expect_no_mongod
  expect_not_called '^mount '
  expect_not_called '^mkfs'
}

test_unreadable_password_fails_loudly() {
  attach
  rm "$T/state/ssm-readable"
  boot
  expect_rc 1
  expect_output 'error: could not read SSM parameter /ams-stack/test/mongodb-password in eu-west-1 after 30 attempts'
  expect_count 30 '^aws ssm get-parameter --region eu-west-1 --name /ams-stack/test/mongodb-password '
  expect_no_mongod
}

test_mongod_that_never_answers_fails_in_bounded_time() {
  attach
  touch "$T/state/mongod.dead"
  boot
  expect_rc 1
  expect_output 'error: mongod did not answer ping within 300 s'
  expect_not_called '^mongosh: (created|updated)'
}

test_rerun_changes_nothing_twice() {
  attach
  boot
  boot
  expect_rc 0
  local lines
  lines=$(grep -c '/var/lib/mongodb' "$T/root/etc/fstab")
  [ "$lines" = 1 ] || fail "fstab has $lines lines for /var/lib/mongodb"
  lines=$(grep -c '^security:' "$T/root/etc/mongod.conf")
  [ "$lines" = 1 ] || fail "mongod.conf has $lines security sections"
  expect_count 1 '^mkfs.xfs'
  expect_count 1 '^mount /var/lib/mongodb$'
  expect_count 1 '^mongosh: created antmedia$'
  expect_output 'authorization already enabled'
}

test_missing_aws_cli_is_installed_at_the_pinned_version() {
  attach
  rm "$T/bin/aws"
  boot
  expect_rc 0
  expect_called "^curl .*https://awscli\.amazonaws\.com/awscli-exe-linux-$(uname -m)-2\.22\.35\.zip\$"
  expect_called '^unzip -q .*/awscliv2\.zip -d '
  expect_called '^install'
  expect_order '^install' '^aws ssm get-parameter'
  expect_not_called '^(snap|apt-get .*awscli)'
}

test_password_is_never_written_or_on_a_command_line() {
  attach
  boot
  expect_rc 0
  expect_called '^mongosh: password from the environment matches$'
  expect_password_nowhere
  expect_not_called 'password in the environment'
}

# The growth script the boot script installs, run by its timer.
grow_setup() {
  attach
  boot
  [ "$rc" = 0 ] || fail "boot failed"
  : >"$T/log"
  if [ -n "${SHELLCHECK:-}" ]; then
    "$SHELLCHECK" "$T/root/usr/local/sbin/ams-mongodb-grow" || fail "shellcheck finds fault with the growth script"
  fi
}

test_grown_volume_grows_the_filesystem() {
  grow_setup
  echo 21474836480 >"$T/state/device-bytes"
  echo 2621440 >"$T/state/fs-blocks"
  run "$T/root/usr/local/sbin/ams-mongodb-grow"
  expect_rc 0
  expect_called '^blockdev --getsize64 /dev/nvme1n1$'
  expect_count 1 '^xfs_growfs /var/lib/mongodb$'
}

test_same_size_volume_is_left_alone() {
  grow_setup
  echo 10737418240 >"$T/state/device-bytes"
  echo 2621440 >"$T/state/fs-blocks"
  run "$T/root/usr/local/sbin/ams-mongodb-grow"
  expect_rc 0
  expect_called '^xfs_info /var/lib/mongodb$'
  expect_not_called '^xfs_growfs'
}

main "$@"
