#!/usr/bin/env bash
# Prints a boot script (src/cluster/user_data/*.sh) with its placeholders filled as ams-stack
# fills them: COMMON by the text of common.sh (first; it holds no placeholder), the others by
# test values, or by the NAME=VALUE arguments given; DRAIN_AGENT last, by drain-agent.sh filled
# the same way with its comment lines dropped (lines whose first non-blank character is #, the
# first line kept); S3_PROXY by s3-proxy.py as it is. BOOT_COMMON, BOOT_DRAIN_AGENT and
# BOOT_S3_PROXY name other copies of common.sh, drain-agent.sh and s3-proxy.py to paste (to see a
# test fail on one broken on purpose).
#   tests/boot/fill.sh TEMPLATE [NAME=VALUE...]     (BOOT_AS_SHIPPED=1: as sent, comments dropped)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || {
  echo "usage: $0 TEMPLATE [NAME=VALUE...]" >&2
  exit 2
}
template=$1
shift
declare -A values=(
  [REGION]=eu-west-1
  [PARAMETER]=/ams-stack/test/mongodb-password
  [PANEL_PARAMETER]=/ams-stack/test/panel-password
  [ADMIN_CIDR]="203.0.113.0/24,198.51.100.7/32"
  [VOLUME_ID]=vol-0123456789abcdef0
  [DEVICE]=/dev/sdf
  [MONGODB_HOST]=10.0.1.23
  [MONGODB_USER]=antmedia
  [MONGODB_CREATE_USER]=""
  [ROLE]=origin
  [HOOK]=ams-stack-drain
  [READY_HOOK]=ams-stack-ready
  [DRAIN_TIMEOUT_S]=900
  [LICENSE_PARAMETER]=""
  [TURN_PARAMETER]=""
  [TURN_URI]=""
  [S3_BUCKET]=""
  [S3_STORAGE_CLASS]=STANDARD
  [SERVER_PROPERTIES]=""
  [PLUGINS]=""
  [APP_SETTINGS]=""
  [REALM]=turn.stream.example.com
  [TURN_PORT]=3478
  [RELAY_MIN]=49152
  [RELAY_MAX]=65535
  [STACK]=test
  [ADDRESSES]=turn-address-
)
for pair in "$@"; do
  [[ $pair == ?*=* ]] || {
    echo "fill: not NAME=VALUE: $pair" >&2
    exit 2
  }
  values[${pair%%=*}]=${pair#*=}
done
# As ams-stack ships the nodes' script (BOOT_AS_SHIPPED=1; nodes.rs `shipped`): the template,
# common.sh and the proxy each without comment or blank lines (each one's first line kept),
# indentation kept, before anything is filled in.
shipped() { if [ "${BOOT_AS_SHIPPED:-}" = 1 ]; then sed -E '1!{/^[[:space:]]*(#|$)/d}'; else cat; fi; }
text=$(shipped <"$template")
common=$(shipped <"${BOOT_COMMON:-$HERE/../../src/cluster/user_data/common.sh}")
text=${text//"{COMMON}"/"$common"}
for name in "${!values[@]}"; do
  text=${text//"{$name}"/"${values[$name]}"}
done
# The S3 signing proxy as is (Python: its indentation is its syntax).
if [[ $text == *"{S3_PROXY}"* ]]; then
  proxy=$(shipped <"${BOOT_S3_PROXY:-$HERE/../../src/cluster/user_data/s3-proxy.py}")
  text=${text//"{S3_PROXY}"/"$proxy"}
fi
if [[ $text == *"{DRAIN_AGENT}"* ]]; then
  agent=$("$0" "${BOOT_DRAIN_AGENT:-$HERE/../../src/cluster/user_data/drain-agent.sh}" "$@" |
    sed -E '1!{s/^[[:space:]]+//;/^(#|$)/d}')
  text=${text//"{DRAIN_AGENT}"/"$agent"}
fi
printf '%s\n' "$text"
