//! Property tests of the wheel parser and the planner: random valid wheels parse, and their plans keep the day rules.

use std::collections::{BTreeSet, HashMap, HashSet};

use arshjul::calendar::Calendar;
use arshjul::planner::{self, History, Kind, TaskHistory};
use arshjul::wheel::{self, Wheel};
use chrono::{Days, NaiveDate, Utc};
use proptest::prelude::*;

const PEOPLE: [&str; 3] = ["anna", "bo", "carl"];

/// Days in `month` of a leap year: every `MM-DD` the parser accepts.
fn leap_month_days(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn month_day() -> impl Strategy<Value = (u32, u32)> {
    (1u32..=12).prop_flat_map(|m| (Just(m), 1..=leap_month_days(m)))
}

fn duration(days: u32) -> String {
    if days % 7 == 0 && days > 0 {
        format!("\"{}w\"", days / 7)
    } else {
        format!("\"{days}d\"")
    }
}

/// `every`, `due` (and `first`) lines of one task.
fn recurrence() -> impl Strategy<Value = String> {
    prop_oneof![
        month_day().prop_map(|(m, d)| format!("every = \"year\"\ndue = \"{m:02}-{d:02}\"")),
        (2u32..=5, 2020i32..=2040, month_day()).prop_map(|(n, first, (m, d))| format!(
            "every = \"{n} years\"\nfirst = {first}\ndue = \"{m:02}-{d:02}\""
        )),
        (1u32..=4, month_day()).prop_map(|(y, (m, d))| format!(
            "every = \"term\"\ndue = {{ year = {y}, date = \"{m:02}-{d:02}\" }}"
        )),
        (1u32..=31).prop_map(|d| format!("every = \"month\"\ndue = {d}")),
        (1u32..=3, 1u32..=31)
            .prop_map(|(m, d)| format!("every = \"quarter\"\ndue = {{ month = {m}, day = {d} }}")),
        (1u32..=6, 1u32..=31).prop_map(|(m, d)| format!(
            "every = \"half-year\"\ndue = {{ month = {m}, day = {d} }}"
        )),
    ]
}

/// Reminder, repeat and escalation lines; each may be left to `[defaults]`.
fn policy() -> impl Strategy<Value = String> {
    (
        proptest::option::of(proptest::collection::btree_set(0u32..=60, 0..4)),
        proptest::option::of(0u32..=21),
        proptest::option::of(proptest::collection::btree_map(1u32..=90, 0usize..3, 0..3)),
    )
        .prop_map(|(remind, repeat, escalate)| {
            let mut out = String::new();
            if let Some(remind) = remind {
                let list: Vec<String> = remind.iter().rev().map(|d| duration(*d)).collect();
                out += &format!("remind = [{}]\n", list.join(", "));
            }
            if let Some(repeat) = repeat {
                out += &format!("repeat = {}\n", duration(repeat));
            }
            if let Some(escalate) = escalate {
                let steps: Vec<String> = escalate
                    .iter()
                    .map(|(after, who)| {
                        format!(
                            "{{ after = {}, to = \"{}\" }}",
                            duration(*after),
                            PEOPLE[*who]
                        )
                    })
                    .collect();
                out += &format!("escalate = [{}]\n", steps.join(", "));
            }
            out
        })
}

fn task() -> impl Strategy<Value = String> {
    (
        recurrence(),
        any::<bool>(),
        proptest::collection::btree_set(0usize..3, 1..3),
        policy(),
    )
        .prop_map(|(every, completion, owners, policy)| {
            let owners: Vec<String> = owners
                .iter()
                .map(|o| format!("\"{}\"", PEOPLE[*o]))
                .collect();
            let anchor = if completion {
                "anchor = \"completion\"\n"
            } else {
                ""
            };
            format!(
                "title = \"Opgave\"\nowner = [{}]\n{every}\n{anchor}{policy}",
                owners.join(", ")
            )
        })
}

fn closed_day() -> impl Strategy<Value = String> {
    prop_oneof![
        month_day().prop_map(|(m, d)| format!("\"{m:02}-{d:02}\"")),
        (2020i32..=2040, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| format!("\"{y}-{m:02}-{d:02}\"")),
    ]
}

/// A whole wheel file, valid by construction.
fn wheel_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["Europe/Copenhagen", "UTC", "America/New_York"]),
        (0u32..24, prop::sample::select(vec![0u32, 30, 59])),
        any::<bool>(),
        proptest::collection::vec(closed_day(), 0..6),
        proptest::option::weighted(0.25, (2020i32..=2040, 1u32..=12, 1u32..=28)),
        policy(),
        proptest::collection::vec(task(), 1..4),
    )
        .prop_map(|(tz, (hh, mm), dk, closed, start, defaults, tasks)| {
            let mut s = format!(
                "[organisation]\nname = \"Testkommune\"\ntimezone = \"{tz}\"\nlanguage = \"da\"\n\
                 send_time = \"{hh:02}:{mm:02}\"\nholidays = \"{}\"\nclosed = [{}]\n",
                if dk { "dk" } else { "none" },
                closed.join(", ")
            );
            if let Some((y, m, d)) = start {
                s += &format!("start = {y}-{m:02}-{d:02}\n");
            }
            s += "\n[terms]\nstart = 2022-01-01\nyears = 4\n\n[defaults]\n";
            s += &defaults;
            for p in PEOPLE {
                s += &format!("\n[people.{p}]\nname = \"{p}\"\nemail = \"{p}@example.dk\"\n");
            }
            for (i, t) in tasks.iter().enumerate() {
                s += &format!("\n[[task]]\nid = \"task-{i}\"\n{t}");
            }
            s
        })
}

fn parsed(text: &str) -> Result<Wheel, TestCaseError> {
    wheel::parse(text, "schedule.toml")
        .map_err(|e| TestCaseError::fail(format!("a valid wheel was refused: {e}\n{text}")))
}

fn date_in_range() -> impl Strategy<Value = NaiveDate> {
    (0u64..=7304).prop_map(|n| {
        NaiveDate::from_ymd_opt(2020, 1, 1)
            .and_then(|d| d.checked_add_days(Days::new(n)))
            .expect("2020-01-01 plus at most 7304 days is a date")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_generated_wheel_parses(text in wheel_text()) {
        parsed(&text)?;
    }

    #[test]
    fn plans_keep_the_day_rules(text in wheel_text(), from in date_in_range(), len in 0u64..=400) {
        let wheel = parsed(&text)?;
        let cal = Calendar::new(&wheel.organisation);
        let to = from + Days::new(len);
        let events = planner::plan_range(&wheel, from, to);
        let mut seen = HashSet::new();
        for pair in events.windows(2) {
            prop_assert!(pair[0].at <= pair[1].at, "events out of time order: {:?} then {:?}", pair[0], pair[1]);
        }
        for e in &events {
            prop_assert!(e.date >= from && e.date <= to, "event outside {from}..={to}: {e:?}");
            match e.kind {
                Kind::Due => prop_assert_eq!(e.date, e.due, "due event not on its due date: {:?}", e),
                Kind::Reminder => {
                    prop_assert!(!cal.is_closed(e.date), "reminder on a closed day: {:?}", e);
                    prop_assert!(e.date <= e.due, "reminder after its due date: {:?}", e);
                }
                Kind::Repeat | Kind::Escalation => {
                    prop_assert!(!cal.is_closed(e.date), "{:?} on a closed day: {:?}", e.kind, e);
                    prop_assert!(e.date > e.due, "{:?} not after its due date: {:?}", e.kind, e);
                }
                Kind::Link => prop_assert!(false, "a link message is never planned: {:?}", e),
                Kind::Digest => prop_assert!(false, "a digest is never in a plan: {:?}", e),
            }
            let id = (e.task, e.period.clone(), e.kind, e.level, e.date);
            prop_assert!(seen.insert(id), "event twice: {:?}", e);
        }
    }

    #[test]
    fn a_pass_never_sends_a_key_twice(
        text in wheel_text(),
        day in date_in_range(),
        seconds in 0i64..86_400,
        first_seen in proptest::option::of(0u64..=1500),
    ) {
        let wheel = parsed(&text)?;
        let now = day
            .and_hms_opt(0, 0, 0)
            .map(|midnight| midnight.and_utc() + chrono::Duration::seconds(seconds))
            .expect("midnight exists in UTC");
        let mut history = History::default();
        for task in &wheel.tasks {
            history.tasks.insert(
                task.id.clone(),
                TaskHistory {
                    first_seen: first_seen.and_then(|n| day.checked_sub_days(Days::new(n))),
                    ..TaskHistory::default()
                },
            );
        }
        let first = planner::pass(&wheel, &history, now);
        let mut keys = BTreeSet::new();
        for n in &first.send {
            prop_assert!(keys.insert(n.key.clone()), "key sent twice in one pass: {}", n.key);
            prop_assert!(n.at.with_timezone(&Utc) <= now, "sent before its time: {:?}", n);
        }
        if let Some(next) = first.next_at {
            prop_assert!(next > now, "next_at {next} is not after now {now}");
        }
        let mut by_task: HashMap<String, Vec<String>> = HashMap::new();
        for n in &first.send {
            by_task.entry(n.task.clone()).or_default().push(n.key.clone());
        }
        for (task, sent) in by_task {
            if let Some(h) = history.tasks.get_mut(&task) {
                h.sent.extend(sent);
            }
        }
        let second = planner::pass(&wheel, &history, now);
        prop_assert!(second.send.is_empty(), "second pass at {now} resent: {:?}", second.send);
    }
}

#[test]
fn the_shipped_wheel_plans_2027_without_a_closed_reminder_day() {
    // A fixed example beside the random ones: the shipped wheel has events in
    // 2027 and none of its reminders fall on a closed day.
    let text =
        std::fs::read_to_string("schedule.toml").expect("schedule.toml is in the repository");
    let wheel = wheel::parse(&text, "schedule.toml").expect("the shipped wheel is valid");
    let cal = Calendar::new(&wheel.organisation);
    let from = NaiveDate::from_ymd_opt(2027, 1, 1).expect("a date");
    let to = NaiveDate::from_ymd_opt(2027, 12, 31).expect("a date");
    let events = planner::plan_range(&wheel, from, to);
    assert!(events.iter().any(|e| e.kind == Kind::Due
        && e.task == "policy-review"
        && e.due == NaiveDate::from_ymd_opt(2027, 3, 1).expect("a date")));
    assert!(events
        .iter()
        .filter(|e| e.kind == Kind::Reminder)
        .all(|e| !cal.is_closed(e.date)));
}

/// A rule of each kind (the fields other than the kind do not change the
/// period a day is in).
fn rule_of_kind(kind: u8) -> wheel::Recurrence {
    use wheel::Recurrence;
    match kind {
        0 => Recurrence::Years {
            every: 1,
            first: None,
            month: 3,
            day: 1,
        },
        1 => Recurrence::Years {
            every: 3,
            first: Some(2026),
            month: 3,
            day: 1,
        },
        2 => Recurrence::Term {
            year: 2,
            month: 6,
            day: 30,
        },
        3 => Recurrence::Month { day: 31 },
        4 => Recurrence::Quarter { month: 2, day: 15 },
        _ => Recurrence::HalfYear { month: 6, day: 30 },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every recurrence kind: the key of the period a day is in reads back
    /// as the same period, and the period's first day lies in it, also for
    /// election terms that start in the middle of a year.
    #[test]
    fn a_period_key_reads_back_as_the_same_period(
        kind in 0u8..6,
        day in 0i64..(7400 * 365),
        (start_year, start_month, start_day) in (1000i32..=1500, 1u32..=12, 1u32..=29),
        years in 1u32..=100,
    ) {
        use arshjul::recurrence::Period;
        let day = NaiveDate::from_ymd_opt(1600, 1, 1).unwrap() + chrono::Duration::days(day);
        let terms = wheel::Terms {
            start: NaiveDate::from_ymd_opt(start_year, start_month, start_day.min(28)).unwrap(),
            years,
        };
        let rule = rule_of_kind(kind);
        let period = Period::of(&rule, Some(&terms), day);
        let key = period.to_string();
        prop_assert_eq!(Period::parse(&key), Some(period), "key {}", key);
        prop_assert_eq!(arshjul::recurrence::period_of(&rule, Some(&terms), day), key.clone());
        let start = period.start(Some(&terms)).unwrap();
        prop_assert!(start <= day, "{} starts {} after {}", key, start, day);
        prop_assert_eq!(Period::of(&rule, Some(&terms), start), period, "start {}", start);
    }
}

#[test]
fn period_keys_of_every_kind_read_and_write_alike() {
    use arshjul::recurrence::Period;
    let cases = [
        ("2027", Period::Year(2027)),
        (
            "2026-2029",
            Period::Term {
                first: 2026,
                last: 2029,
            },
        ),
        (
            "2027-03",
            Period::Month {
                year: 2027,
                month: 3,
            },
        ),
        (
            "2027-Q1",
            Period::Quarter {
                year: 2027,
                quarter: 1,
            },
        ),
        (
            "2027-H2",
            Period::Half {
                year: 2027,
                half: 2,
            },
        ),
    ];
    for (key, period) in cases {
        assert_eq!(Period::parse(key), Some(period), "{key}");
        assert_eq!(period.to_string(), key);
    }
    let july1 = NaiveDate::from_ymd_opt(2027, 7, 1);
    assert_eq!(
        Period::Half {
            year: 2027,
            half: 2
        }
        .start(None),
        july1
    );
    for bad in [
        "27",
        "2027-3",
        "2027-13",
        "2027-00",
        "2027-Q5",
        "2027-Q0",
        "2027-H3",
        "2027-+1",
        "2026-+029",
        "2027-",
        "2027-Q1x",
        "",
    ] {
        assert_eq!(Period::parse(bad), None, "{bad}");
    }
}
