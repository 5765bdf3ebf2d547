#!/usr/bin/env bash
# The `tick` figure of BENCHMARKS.md for the smtp transport: one pass that
# delivers 10,000 reminders over SMTP to scripts/smtp-sink.py on loopback
# (no TLS, one connection reused). Needs python3 and /usr/bin/time; builds
# the release binary. ARSHJUL_BIN=path times another build instead (e.g.
# one built before a change), N=count changes the number of messages.
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
sink_script=$PWD/scripts/smtp-sink.py
work=$(mktemp -d)
sink=
cleanup() {
    [ -n "$sink" ] && kill "$sink" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$sink_script" "$port" >"$work/sink.out" 2>"$work/sink.err" &
sink=$!
for _ in $(seq 50); do
    grep -q listening "$work/sink.err" 2>/dev/null && break
    sleep 0.1
done

# n yearly tasks due Monday 15 February 2027, one reminder a week before:
# at noon on Monday 8 February every task has exactly one message due.
bench_wheel "$n" '["7d"]' year '"02-15"' >"$work/schedule.toml"

# One pass of n messages is a burst the brake holds (mail.max_per_pass);
# let it through, on builds that have the brake.
accept=
"$bin" tick --help 2>/dev/null | grep -q -- --accept-burst && accept=--accept-burst

echo "== tick, $n messages over SMTP to $sink_script on 127.0.0.1:$port ($bin)"
status=0
(
    cd "$work" &&
        ARSHJUL_MAIL__TRANSPORT=smtp ARSHJUL_MAIL__SMTP__HOST=127.0.0.1 \
            ARSHJUL_MAIL__SMTP__PORT="$port" ARSHJUL_MAIL__SMTP__TLS=none \
            /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
            "$bin" --now 2027-02-08T12:00:00+01:00 tick $accept >"$work/tick.out" 2>"$work/tick.err"
) || status=$?
kill -TERM "$sink"
wait "$sink" || true
sink=
tail -n 1 "$work/tick.err"
[ "$status" -eq 0 ] || echo "tick exited with $status" >&2
read -r wall user sys peak <"$work/time"
sent=$(awk '{print $1}' "$work/sink.out")
echo "sink: $(cat "$work/sink.out")"
awk -v w="$wall" -v u="$user" -v s="$sys" -v p="$peak" -v m="$sent" 'BEGIN {
    printf "wall %.2f s (%.2f s user, %.2f s sys, %d MB peak): %.0f messages/s\n", w, u, s, p / 1024, m / w
}'
