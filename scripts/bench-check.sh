#!/usr/bin/env bash
# The `check` and `plan` figures of BENCHMARKS.md (issue 12, item 1): the
# issue's wheel of N tasks (default 10,000; a third each yearly, monthly
# and quarterly; the shipped defaults: three reminders, weekly repeats, two
# escalations; `start` eleven months back), then `check` and a `plan`
# range too large to list, each under /usr/bin/time -v (elapsed time and
# peak resident size). Builds the release binary; ARSHJUL_BIN=path times
# another build instead (e.g. one built before a change).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-wheel.sh
n=${N:-10000}
if [ -n "${ARSHJUL_BIN:-}" ]; then
    bin=$ARSHJUL_BIN
else
    cargo build --release --quiet
    bin=$PWD/target/release/arshjul
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench_wheel "$n" shipped mixed spread "$(date -d '-11 months' +%F)" >"$work/schedule.toml"
shipped=$PWD/schedule.toml
cd "$work"

measure() {
    local label=$1
    shift
    /usr/bin/time -v "$@" >"$work/out" 2>"$work/time" || true
    printf '%-44s %8s s  %8s kB peak\n' "$label" \
        "$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")" \
        "$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")"
}

for _ in 1 2 3; do
    measure "check, $n tasks" "$bin" --schedule schedule.toml check
done
# A build without the refusal lists until killed: 30 s at most.
measure "plan --to 9999-12-31, shipped wheel" \
    timeout 30 "$bin" --schedule "$shipped" plan --from 2026-01-01 --to 9999-12-31
