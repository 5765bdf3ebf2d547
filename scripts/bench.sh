#!/usr/bin/env bash
# Whole-process figures for BENCHMARKS.md: `plan` against `remind` on the
# same yearly wheel, and `status` on a large history. Needs hyperfine and
# remind (Debian packages); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-wheel.sh
command -v hyperfine >/dev/null && command -v remind >/dev/null || {
    echo "needs: apt-get install -y hyperfine remind" >&2
    exit 2
}
cargo build --release --quiet
bin=$PWD/target/release/arshjul
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

months=(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec)
for n in 2000 10000; do
    bench_wheel "$n" '[]' year spread >"$work/wheel-$n.toml"
    for ((i = 0; i < n; i++)); do
        printf 'REM %d %s MSG task-%d\n' $((i % 28 + 1)) "${months[$((i % 12))]}" "$i"
    done >"$work/wheel-$n.rem"
    echo "== $n yearly tasks, ten years (due dates only, as remind lists them)"
    hyperfine --warmup 1 --runs 5 --export-markdown "$work/plan-$n.md" \
        "$bin --schedule $work/wheel-$n.toml plan --from 2027-01-01 --to 2036-12-31 --json >/dev/null" \
        "remind -s+522 $work/wheel-$n.rem 2027-01-01 >/dev/null"
    cat "$work/plan-$n.md"
done

# `status` with 1,000 monthly tasks and 0 / 100,000 / 1,000,000 historic
# completions, written straight into a database that `tick` created, in one
# transaction (1,000 periods per task at most: monthly periods back from
# 2026-12).
mkdir -p "$work/status"
bench_wheel 1000 '[]' month spread >"$work/status/schedule.toml"
for count in 0 100000 1000000; do
    dir=$work/status/$count
    mkdir -p "$dir/outbox"
    cp "$work/status/schedule.toml" "$dir/"
    (cd "$dir" && "$bin" --now 2027-01-01T00:00:00+01:00 tick --accept-burst >/dev/null)
    python3 - "$dir/arshjul.db" "$count" <<'PY'
import sqlite3, sys
db, count = sys.argv[1], int(sys.argv[2])
con = sqlite3.connect(db)
per_task = count // 1000
def rows():
    for t in range(1000):
        for k in range(per_task):
            y, m = 2026 - k // 12, 12 - k % 12
            at = f"{y:04d}-{m:02d}-15T10:00:00+01:00"
            utc = f"{y:04d}-{m:02d}-15T09:00:00Z"
            yield (f"task-{t}", f"{y:04d}-{m:02d}", at, utc, "owner", "cli", at)
with con:
    con.executemany(
        "INSERT INTO completions (task, period, at, at_utc, done_by, via, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", rows())
print(db, con.execute("SELECT count(*) FROM completions").fetchone()[0], "completions")
PY
done
echo "== status, 1,000 monthly tasks"
hyperfine --warmup 2 --runs 20 --export-markdown "$work/status.md" \
    -L count 0,100000,1000000 \
    "cd $work/status/{count} && $bin --now 2027-01-20T12:00:00+01:00 status --json >/dev/null"
cat "$work/status.md"
/usr/bin/time -v sh -c "cd $work/status/1000000 && $bin --now 2027-01-20T12:00:00+01:00 status --json >/dev/null" 2>&1 |
    grep -E 'Maximum resident|Elapsed'

# The idle daemon on the shipped wheel: resident memory and CPU time over a
# minute, and how often it wakes (strace counts its epoll_wait calls).
idle=$work/idle
mkdir -p "$idle/outbox"
cp schedule.toml "$idle/"
(cd "$idle" && ARSHJUL_LISTEN=127.0.0.1:18481 exec "$bin" run >"$idle/log" 2>&1) &
daemon=$!
sleep 2
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$daemon/stat"; }
before=$(cpu)
echo "== idle daemon (pid $daemon)"
grep -E 'VmRSS|Threads' "/proc/$daemon/status"
if command -v strace >/dev/null; then
    timeout 60 strace -f -c -e trace=epoll_wait,epoll_pwait,futex -p "$daemon" 2>&1 | tail -n 8 || true
else
    sleep 60
fi
after=$(cpu)
grep -E 'VmRSS|VmHWM' "/proc/$daemon/status"
echo "CPU time over 60 s: $(((after - before) * 1000 / ticks)) ms"
kill "$daemon"
wait "$daemon" || true
