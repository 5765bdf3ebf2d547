//! Planner benchmarks: `plan` over ten years for large wheels, `check`'s
//! next five due dates of 10,000 tasks, and one `pass`/`status` for a
//! thousand tasks with history. Figures go in
//! BENCHMARKS.md, never in timed unit tests.

use std::collections::BTreeMap;

use arshjul::planner::{self, Done, History, TaskHistory};
use arshjul::wheel::{
    Anchor, Days, EscalationStep, HolidayRule, Language, Organisation, Person, Recurrence, Task,
    Terms, Wheel,
};
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// A wheel of `n` yearly tasks spread over the year, with the contract's
/// example defaults (three reminders, weekly repeats, two escalations).
pub fn wheel(n: usize) -> Wheel {
    let mut people = BTreeMap::new();
    for key in ["owner", "chief", "director"] {
        people.insert(
            key.to_string(),
            Person {
                key: key.into(),
                name: key.into(),
                email: format!("{key}@example.dk"),
                deputy: None,
                greeting: None,
            },
        );
    }
    let tasks = (0..n)
        .map(|i| Task {
            id: format!("task-{i}"),
            title: format!("Task {i}"),
            owners: vec!["owner".into()],
            recurrence: Recurrence::Years {
                every: 1,
                first: None,
                month: (i % 12) as u32 + 1,
                day: (i % 28) as u32 + 1,
            },
            anchor: Anchor::Fixed,
            reference: None,
            description: None,
            category: None,
            remind: vec![Days(30), Days(7), Days(1)],
            repeat: Some(Days(7)),
            escalate: vec![
                EscalationStep {
                    after: Days(7),
                    to: "chief".into(),
                },
                EscalationStep {
                    after: Days(30),
                    to: "director".into(),
                },
            ],
        })
        .collect();
    Wheel {
        organisation: Organisation {
            name: "Bench".into(),
            timezone: chrono_tz::Europe::Copenhagen,
            language: Language::Da,
            send_time: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
            holidays: HolidayRule::Dk,
            closed: vec![],
            start: NaiveDate::from_ymd_opt(2027, 1, 1),
            coordinator: None,
            digest: None,
        },
        terms: Some(Terms {
            start: NaiveDate::from_ymd_opt(2022, 1, 1).unwrap_or_default(),
            years: 4,
        }),
        people,
        tasks,
    }
}

/// The wheel of issue 12: like [`wheel`], but a third each yearly, monthly
/// and quarterly tasks, in turn (task-0 yearly, task-1 monthly, task-2
/// quarterly, ...), as `scripts/bench-wheel.sh` writes with `mixed`.
fn mixed_wheel(n: usize) -> Wheel {
    let mut w = wheel(n);
    for (i, t) in w.tasks.iter_mut().enumerate() {
        let day = (i % 28) as u32 + 1;
        match i % 3 {
            1 => t.recurrence = Recurrence::Month { day },
            2 => {
                t.recurrence = Recurrence::Quarter {
                    month: (i / 3 % 3) as u32 + 1,
                    day,
                }
            }
            _ => {}
        }
    }
    w
}

/// History where every task was done each year from 2027 to 2036.
fn history(w: &Wheel) -> History {
    let mut h = History::default();
    for t in &w.tasks {
        let mut th = TaskHistory {
            first_seen: NaiveDate::from_ymd_opt(2027, 1, 1),
            ..Default::default()
        };
        for y in 2027..2037 {
            th.done.insert(y.to_string());
        }
        th.last_done = Some(Done {
            period: "2036".into(),
            on: NaiveDate::from_ymd_opt(2036, 2, 1).unwrap_or_default(),
        });
        h.tasks.insert(t.id.clone(), th);
    }
    h
}

fn bench(c: &mut Criterion) {
    let from = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap_or_default();
    let to = NaiveDate::from_ymd_opt(2036, 12, 31).unwrap_or_default();
    let mut g = c.benchmark_group("plan_10y");
    g.sample_size(10);
    for n in [2_000usize, 10_000] {
        let w = wheel(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &w, |b, w| {
            b.iter(|| planner::plan_range(w, from, to).len())
        });
    }
    g.finish();

    // `check`'s "Next due" list: 10,000 mixed tasks, `start` (2027-01-01)
    // eleven months back, five years ahead.
    let w = mixed_wheel(10_000);
    let today = NaiveDate::from_ymd_opt(2027, 12, 1).unwrap_or_default();
    let until = today + chrono::Duration::days(366 * 5);
    c.bench_function("check_next_due_10000_tasks", |b| {
        b.iter(|| planner::next_due(&w, today, until, 5).len())
    });

    let w = wheel(1_000);
    let h = history(&w);
    let now = Utc
        .with_ymd_and_hms(2036, 6, 1, 10, 0, 0)
        .single()
        .unwrap_or_default();
    c.bench_function("pass_1000_tasks", |b| {
        b.iter(|| planner::pass(&w, &h, now).send.len())
    });
    c.bench_function("status_1000_tasks", |b| {
        b.iter(|| planner::status(&w, &h, now).len())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
