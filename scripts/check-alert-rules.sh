#!/bin/sh
# Checks the example alert rules of docs/operations.md ("## Alerts") with
# promtool: they parse, and tests/alerts/rules.test.yml passes.
#
#   scripts/check-alert-rules.sh [PROMTOOL]
set -eu
promtool=${1:-promtool}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The first ```yaml block after "## Alerts".
awk '/^## Alerts/ {a=1} a && /^```yaml/ {y=1; next} y && /^```/ {exit} y {print}' \
    "$here/docs/operations.md" > "$work/rules.yml"
test -s "$work/rules.yml" || { echo "no rules found in docs/operations.md" >&2; exit 1; }
cp "$here/tests/alerts/rules.test.yml" "$work/"
cd "$work"
"$promtool" check rules rules.yml
"$promtool" test rules rules.test.yml
