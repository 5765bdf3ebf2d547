# Sourced by the bench scripts: writes a benchmark wheel to stdout.
#
#   bench_wheel N REMIND EVERY DUE [START]
#
# N tasks, task-0 ... task-(N-1), all owned by one person, from START
# (default 2027-01-01), with reminders REMIND (a TOML array, e.g. '[]' or
# '["7d"]') and no repeats. EVERY is "year", "month" or "mixed" (a third
# each yearly, monthly and quarterly, in turn); DUE is the TOML value of
# `due`, the same for every task (e.g. '"02-15"' or '15'), or "spread" to
# spread the tasks over the year ("MM-DD" for yearly, a day 1-28 for
# monthly, { month, day } for quarterly tasks).
#
# REMIND "shipped" takes the shipped wheel's defaults instead: reminders
# 30, 7 and 1 days ahead, weekly repeats and two escalations (7 and 30
# days after the due date). The wheel of issue 12 (10,000 tasks, `start`
# eleven months back):
#
#   bench_wheel 10000 shipped mixed spread "$(date -d '-11 months' +%F)"
bench_wheel() {
    local n=$1 remind=$2 every=$3 due=$4 start=${5:-2027-01-01} i due_i every_i
    printf '[organisation]\nname = "Bench"\nstart = %s\n\n' "$start"
    if [ "$remind" = shipped ]; then
        printf '[defaults]\nremind = ["30d", "7d", "1d"]\nrepeat = "7d"\n'
        printf 'escalate = [ { after = "7d", to = "chief" }, { after = "30d", to = "director" } ]\n\n'
        printf '[people.chief]\nname = "Chief"\nemail = "chief@example.dk"\n\n'
        printf '[people.director]\nname = "Director"\nemail = "director@example.dk"\n\n'
    else
        printf '[defaults]\nremind = %s\nrepeat = "0d"\n\n' "$remind"
    fi
    printf '[people.owner]\nname = "Owner"\nemail = "owner@example.dk"\n\n'
    for ((i = 0; i < n; i++)); do
        every_i=$every
        if [ "$every" = mixed ]; then
            case $((i % 3)) in
                0) every_i=year ;;
                1) every_i=month ;;
                2) every_i=quarter ;;
            esac
        fi
        if [ "$due" = spread ] && [ "$every_i" = year ]; then
            printf -v due_i '"%02d-%02d"' $((i % 12 + 1)) $((i % 28 + 1))
        elif [ "$due" = spread ] && [ "$every_i" = quarter ]; then
            printf -v due_i '{ month = %d, day = %d }' $((i % 3 + 1)) $((i % 28 + 1))
        elif [ "$due" = spread ]; then
            due_i=$((i % 28 + 1))
        else
            due_i=$due
        fi
        printf '[[task]]\nid = "task-%d"\ntitle = "Task %d"\nowner = "owner"\nevery = "%s"\ndue = %s\n\n' \
            "$i" "$i" "$every_i" "$due_i"
    done
}
