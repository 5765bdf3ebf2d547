#!/usr/bin/env bash
# The scale table of BENCHMARKS.md (issue 12, items 2 and 6): wheels of
# 100, 1,000 and 10,000 tasks written by scripts/bench-wheel.sh (a third
# each yearly, monthly and quarterly; the shipped defaults: three
# reminders, weekly repeats, two escalations; `start` eleven months back),
# and for each, under /usr/bin/time -v (elapsed time, peak resident size):
#
#   check                      the wheel read and checked, next due dates
#   plan, one year             from today to a year on, --json (refused
#                              on 10,000 tasks: more events than one run
#                              lists, see planner::PLAN_MAX_EVENTS)
#   plan, one quarter          from today to three months on, --json
#   first pass                 tick --accept-burst on a fresh database,
#                              delivering every message to the file
#                              transport (outbox/); the pass that must fit
#                              under the unit's MemoryMax
#   status                     after that pass
#
# Builds the release binary; ARSHJUL_BIN=path times another build instead.
# SIZES="100 1000" picks the wheels. The 10,000-task first pass writes
# about 150,000 .eml files and takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-wheel.sh
sizes=${SIZES:-100 1000 10000}
if [ -n "${ARSHJUL_BIN:-}" ]; then
    bin=$ARSHJUL_BIN
else
    cargo build --release --quiet
    bin=$PWD/target/release/arshjul
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date -d '-11 months' +%F)
from=$(date +%F)
to=$(date -d '+1 year -1 day' +%F)
quarter=$(date -d '+3 months -1 day' +%F)

measure() {
    local n=$1 label=$2
    shift 2
    local status=0
    /usr/bin/time -v "$@" >"$work/out" 2>"$work/time" || status=$?
    printf '| %6s | %-14s | %10s | %9s kB | %s\n' "$n" "$label" \
        "$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/time")" \
        "$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")" \
        "exit $status, $(wc -l <"$work/out") lines of output"
}

echo "| tasks | command | time | peak RSS | |"
for n in $sizes; do
    dir=$work/$n
    mkdir -p "$dir"
    bench_wheel "$n" shipped mixed spread "$start" >"$dir/schedule.toml"
    # An empty settings file: the defaults, whatever /etc/arshjul holds.
    : >"$dir/arshjul.toml"
    (
        cd "$dir"
        measure "$n" check "$bin" check
        measure "$n" "plan 1 year" "$bin" plan --from "$from" --to "$to" --json
        measure "$n" "plan 1 quarter" "$bin" plan --from "$from" --to "$quarter" --json
        measure "$n" "first pass" "$bin" tick --accept-burst
        echo "|        | (messages)   | $(find outbox -name '*.eml' | wc -l) written to outbox/"
        measure "$n" status "$bin" status
    )
    rm -rf "$dir"
done
