#!/usr/bin/env bash
# Whole-process figures for BENCHMARKS.md: `plan` against `remind` on the
# same yearly wheel, and `status` on a large history. Needs hyperfine and
# remind (Debian packages); builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
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
    {
        printf '[organisation]\nname = "Bench"\nstart = 2027-01-01\n\n'
        printf '[defaults]\nremind = []\nrepeat = "0d"\n\n'
        printf '[people.owner]\nname = "Owner"\nemail = "owner@example.dk"\n\n'
        for ((i = 0; i < n; i++)); do
            printf '[[task]]\nid = "task-%d"\ntitle = "Task %d"\nowner = "owner"\nevery = "year"\ndue = "%02d-%02d"\n\n' \
                "$i" "$i" $((i % 12 + 1)) $((i % 28 + 1))
        done
    } >"$work/wheel-$n.toml"
    for ((i = 0; i < n; i++)); do
        printf 'REM %d %s MSG task-%d\n' $((i % 28 + 1)) "${months[$((i % 12))]}" "$i"
    done >"$work/wheel-$n.rem"
    echo "== $n yearly tasks, ten years (due dates only, as remind lists them)"
    hyperfine --warmup 1 --runs 5 --export-markdown "$work/plan-$n.md" \
        "$bin --schedule $work/wheel-$n.toml plan --from 2027-01-01 --to 2036-12-31 --json >/dev/null" \
        "remind -s+522 $work/wheel-$n.rem 2027-01-01 >/dev/null"
    cat "$work/plan-$n.md"
done
