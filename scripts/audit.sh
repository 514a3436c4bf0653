#!/usr/bin/env bash
# An independent security audit of a deployed stack: Prowler (PyPI `prowler`) over the services
# the stack uses (ec2 elbv2 autoscaling iam vpc, with --scan-unused-services) and parliament (PyPI
# `parliament`) over its roles' IAM policies, then a filter (scripts/audit/findings.py) that keeps
# the failed findings on the stack's own resources and drops those the stack makes on purpose
# (scripts/audit/by-design.toml, each with its reason; docs/SECURITY.md).
#
#   scripts/audit.sh                 on the emulator: starts a fresh, private moto and proxy on free
#                                    loopback ports (nothing else shares it), deploys the default
#                                    stack (stacks/local.toml, named `local`, into target/audit/root
#                                    so the tree's state/ is untouched), scans it, stops both
#   scripts/audit.sh --stack NAME    a stack already deployed (stacks/NAME.toml and its state,
#                                    under AMS_STACK_ROOT if set, as for ams-stack itself):
#                                    nothing is started or deployed. On a real account: credentials
#                                    from the standard chain (AWS_PROFILE, environment, SSO...) with
#                                    read-only rights (the managed policies SecurityAudit and
#                                    ViewOnlyAccess), no AWS_ENDPOINT_URL; the region is the stack
#                                    file's. A stack file with `endpoint` (stacks/local.toml after
#                                    scripts/local-up.sh) is scanned on that emulator. E.g.
#                                      AWS_PROFILE=audit scripts/audit.sh --stack prod
#
# Prints the findings left (check id, severity, the resource's name in the stack and in AWS, the
# scanner's message) and a summary: checks run, findings passed and failed, failed on the stack,
# excused by design (per reason), emulator artefacts (per cause; only on an emulator), left.
# Exits 1 if any finding is left, 0 if none. Everything it writes goes to target/audit/ (Prowler's
# OCSF JSON, its log, the stack inventory, parliament's findings, the emulator's logs).
#
# Prowler and parliament are installed once, pinned, into .venv-audit (about 6 minutes and 2.4 GB
# the first time: Prowler brings every cloud's SDK); moto and the proxy come from .venv
# (scripts/emulator.sh install).
#
# What moto lacks, so that the checks relying on it see nothing or fail on their own (Prowler logs
# each as an ERROR in target/audit/prowler.log and goes on; no flag of Prowler's avoids them):
# EC2 GetInstanceMetadataDefaults, GetImageBlockPublicAccessState,
# GetSnapshotBlockPublicAccessState, DescribeClientVpnEndpoints; SSM DescribeInstanceInformation
# (so ec2_instance_managed_by_ssm fails every instance) and ListResourceComplianceSummaries; IAM
# GenerateServiceLastAccessedDetails; Organizations ListOrganizationsFeatures; WAF Classic
# (regional) ListWebACLs, ListRules, ListRuleGroups. ec2_elastic_ip_shodan needs --shodan KEY and
# is skipped. Prowler's own privilege-escalation table names `codestar:CreateProject`, which its
# IAM action list no longer has: two ERROR lines on any account.
set -euo pipefail
cd "$(dirname "$0")/.."
PROWLER_VERSION=5.46.0
PARLIAMENT_VERSION=1.6.4
VENV=.venv-audit
OUT=target/audit
SERVICES=(ec2 elbv2 autoscaling iam vpc)

stack=
while [ $# -gt 0 ]; do
  case $1 in
    --stack) stack=${2:?--stack needs a stack name}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--stack NAME]" >&2; exit 2 ;;
  esac
done

now() { date +%s; }
started=$(now)

install_audit() {
  if "$VENV/bin/python" -c "
import sys
from importlib.metadata import version
sys.exit(version('prowler') != '$PROWLER_VERSION' or version('parliament') != '$PARLIAMENT_VERSION')" 2>/dev/null; then
    return
  fi
  echo "audit: installing prowler $PROWLER_VERSION and parliament $PARLIAMENT_VERSION into $VENV (once: several minutes)"
  local begin
  begin=$(now)
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "prowler==$PROWLER_VERSION" "parliament==$PARLIAMENT_VERSION"
  echo "audit: installed in $(($(now) - begin))s"
}

# The stack file's region, read as the program reads it (TOML).
stack_key() {
  "$VENV/bin/python" -c "
import sys, tomllib
print(tomllib.load(open(sys.argv[1], 'rb')).get(sys.argv[2], ''))" "$1" "$2"
}

install_audit
rm -rf "$OUT"
mkdir -p "$OUT"
cargo build --quiet --locked
AMS_STACK=$PWD/target/debug/ams-stack

# The emulator's processes, if this run starts them; stopped on exit, whatever happens.
pids=()
trap 'kill ${pids[@]+"${pids[@]}"} 2>/dev/null || true' EXIT

if [ -z "$stack" ]; then
  # A private emulator, as scripts/emulator.sh starts one, but on free ports and with its pids
  # kept here: a developer's emulator on 4566 is left alone.
  scripts/emulator.sh install
  free_port() {
    .venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  }
  moto_port=$(free_port)
  MOTO_ACM_VALIDATION_WAIT=2 MOTO_AMIS_PATH="$PWD/scripts/emulator/amis.json" \
    .venv/bin/python scripts/emulator/moto_server.py -H 127.0.0.1 -p "$moto_port" >"$OUT/moto.log" 2>&1 &
  pids+=($!)
  port=$(free_port)
  .venv/bin/python scripts/faultproxy/faultproxy.py --listen "$port" \
    --upstream "http://127.0.0.1:$moto_port" >"$OUT/proxy.log" 2>&1 &
  pids+=($!)
  endpoint=http://127.0.0.1:$port
  for _ in $(seq 1 100); do
    curl -fsS "$endpoint/moto-api/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "$endpoint/moto-api/" >/dev/null || { echo "audit: the emulator did not come up; see $OUT/moto.log, $OUT/proxy.log" >&2; exit 1; }
  .venv/bin/python scripts/emulator/seed.py "$endpoint" >/dev/null
  stack=local
  root=$OUT/root
  mkdir -p "$root/stacks" "$root/state"
  sed "s|^endpoint = .*|endpoint = \"$endpoint\"|" stacks/local.toml >"$root/stacks/local.toml"
  unset AWS_PROFILE AWS_SESSION_TOKEN
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_ENDPOINT_URL=$endpoint
  begin=$(now)
  "$AMS_STACK" --root "$root" up local --yes >"$OUT/up.log" 2>&1 || { cat "$OUT/up.log" >&2; exit 1; }
  echo "audit: deployed the default stack on a private emulator at $endpoint in $(($(now) - begin))s"
  # A day-old stack has its first daily snapshot of MongoDB's data (the snapshot policy); the
  # emulator's policy takes none, so take the one `ams-stack backup` takes on demand.
  "$AMS_STACK" --root "$root" backup local >"$OUT/backup.log" 2>&1 || { cat "$OUT/backup.log" >&2; exit 1; }
else
  root=${AMS_STACK_ROOT:-.}
  [ -f "$root/stacks/$stack.toml" ] || { echo "audit: no $root/stacks/$stack.toml" >&2; exit 2; }
  endpoint=$(stack_key "$root/stacks/$stack.toml" endpoint)
  if [ -n "$endpoint" ]; then
    export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
    export AWS_ENDPOINT_URL=$endpoint
  fi
fi
region=$(stack_key "$root/stacks/$stack.toml" region)
export AWS_DEFAULT_REGION=$region AWS_REGION=$region
emulator=()
retries=()
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  emulator=(--emulator)
  # The emulator throttles nothing; retrying what it lacks only costs time (WAF Classic's).
  retries=(--aws-retries-max-attempts 1)
fi

"$AMS_STACK" --root "$root" state export "$stack" >"$OUT/state.json"
"$VENV/bin/python" scripts/audit/findings.py inventory "$OUT/state.json" >"$OUT/inventory.json"
"$VENV/bin/python" scripts/audit/findings.py iam "$OUT/inventory.json" >"$OUT/parliament.json"

begin=$(now)
# -z: failed checks are our filter's business, not an exit code; --log-level ERROR: the calls
# the emulator cannot answer are logged, once each.
"$VENV/bin/prowler" aws --services "${SERVICES[@]}" --scan-unused-services --region "$region" \
  --no-banner --no-color --ignore-exit-code-3 --log-level ERROR \
  --output-formats json-ocsf --output-directory "$OUT" --output-filename prowler ${retries[@]+"${retries[@]}"} \
  >"$OUT/prowler.log" 2>&1 || { tail -n 40 "$OUT/prowler.log" >&2; echo "audit: prowler failed; see $OUT/prowler.log" >&2; exit 1; }
checks_run=$(grep -ao 'Executing [0-9]* checks' "$OUT/prowler.log" | grep -o '[0-9]*' || echo 0)
echo "audit: prowler ran $checks_run checks in $(($(now) - begin))s ($(grep -c ' ERROR: ' "$OUT/prowler.log" || true) errors logged in $OUT/prowler.log)"

status=0
"$VENV/bin/python" scripts/audit/findings.py report --ocsf "$OUT/prowler.ocsf.json" \
  --inventory "$OUT/inventory.json" --rules scripts/audit/by-design.toml --stack "$stack" \
  --iam "$OUT/parliament.json" --checks-run "$checks_run" ${emulator[@]+"${emulator[@]}"} || status=$?
echo "audit: $(($(now) - started))s in all"
exit "$status"
