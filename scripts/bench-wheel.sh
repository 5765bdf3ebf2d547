# Sourced by the bench scripts: writes a benchmark wheel to stdout.
#
#   bench_wheel N REMIND EVERY DUE
#
# N tasks, task-0 ... task-(N-1), all owned by one person, from 2027-01-01,
# with reminders REMIND (a TOML array, e.g. '[]' or '["7d"]') and no
# repeats. EVERY is "year" or "month"; DUE is the TOML value of `due`, the
# same for every task (e.g. '"02-15"' or '15'), or "spread" to spread the
# tasks over the year ("MM-DD" for yearly, a day 1-28 for monthly tasks).
bench_wheel() {
    local n=$1 remind=$2 every=$3 due=$4 i due_i
    printf '[organisation]\nname = "Bench"\nstart = 2027-01-01\n\n'
    printf '[defaults]\nremind = %s\nrepeat = "0d"\n\n' "$remind"
    printf '[people.owner]\nname = "Owner"\nemail = "owner@example.dk"\n\n'
    for ((i = 0; i < n; i++)); do
        if [ "$due" = spread ] && [ "$every" = year ]; then
            printf -v due_i '"%02d-%02d"' $((i % 12 + 1)) $((i % 28 + 1))
        elif [ "$due" = spread ]; then
            due_i=$((i % 28 + 1))
        else
            due_i=$due
        fi
        printf '[[task]]\nid = "task-%d"\ntitle = "Task %d"\nowner = "owner"\nevery = "%s"\ndue = %s\n\n' \
            "$i" "$i" "$every" "$due_i"
    done
}
