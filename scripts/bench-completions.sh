#!/usr/bin/env bash
# Durable completion POSTs per second, whole process: `arshjul tick` mails
# N reminders (file transport), their completion links are taken from the
# .eml files, and wrk POSTs each link once to `arshjul run` (16 keep-alive
# connections, 2 threads). Every answer must be 200 and every POST a new
# row in `completions`, each committed with SQLite `synchronous=FULL` in
# WAL mode (an fsync per completion). The rate is taken from the database:
# completions divided by the span of their `recorded_at` times.
# Needs wrk and python3; run from anywhere. Usage: bench-completions.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-wheel.sh
command -v wrk >/dev/null || {
    echo "needs: apt-get install -y wrk" >&2
    exit 2
}
n=${1:-20000}
cargo build --release --quiet
bin=$PWD/target/release/arshjul
lua=$PWD/scripts/bench-completions.lua
work=$(mktemp -d)
daemon=
trap '[ -n "$daemon" ] && kill "$daemon" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
port=18482
# n yearly tasks due 2 March 2027, each with a reminder on 1 March.
bench_wheel "$n" '["1d"]' year '"03-02"' >schedule.toml
echo "== completions: mailing $n reminders with links"
ARSHJUL_PUBLIC_URL=http://127.0.0.1:$port "$bin" --now 2027-03-01T09:00:00+01:00 tick --accept-burst 2>/dev/null
python3 - outbox >paths.txt <<'PY'
import pathlib, quopri, re, sys
link = re.compile(rb"https?://[^/\s]+(/done/[A-Za-z0-9_-]+)")
out = set()
for p in pathlib.Path(sys.argv[1]).glob("*.eml"):
    out.update(m.group(1).decode() for m in link.finditer(quopri.decodestring(p.read_bytes())))
sys.stdout.write("".join(f"{x}\n" for x in sorted(out)))
PY
echo "$(wc -l <paths.txt) distinct links"
# A fresh database: the links carry everything; the daemon records the tasks.
rm -f arshjul.db arshjul.db-wal arshjul.db-shm
ARSHJUL_LISTEN=127.0.0.1:$port "$bin" run >daemon.log 2>&1 &
daemon=$!
for _ in $(seq 50); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
done
PATHS=paths.txt THREADS=2 wrk -t2 -c16 -d30s -s "$lua" "http://127.0.0.1:$port"
kill "$daemon"
wait "$daemon" || true
daemon=
python3 - arshjul.db <<'PY'
import sqlite3, sys
from datetime import datetime
con = sqlite3.connect(sys.argv[1])
count, first, last = con.execute(
    "SELECT count(*), min(recorded_at), max(recorded_at) FROM completions").fetchone()
span = (datetime.fromisoformat(last[:26] + last[-6:]) -
        datetime.fromisoformat(first[:26] + first[-6:])).total_seconds()
print(f"{count} completions recorded in {span:.3f} s: {count / span:,.0f} per second")
PY
