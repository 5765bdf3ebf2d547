//! The planner as a spec: literal wheels, literal dates, literal outcomes,
//! through two helpers (`check_plan`, `check_pass`).

use arshjul::planner::{self, Absence, Done, History, Standing, TaskHistory};
use arshjul::wheel::{self, Wheel};
use chrono::{DateTime, NaiveDate, Utc};

const BASE: &str = r#"
[organisation]
name = "Testkommune"
timezone = "Europe/Copenhagen"
send_time = "08:00"
holidays = "dk"
closed = ["12-24", "12-31"]
START

[terms]
start = 2022-01-01
years = 4

[defaults]
remind = ["30d", "7d", "1d"]
repeat = "7d"
escalate = [ { after = "7d", to = "bo" }, { after = "30d", to = "carl" } ]

[people.anna]
name = "Anna"
email = "anna@example.dk"

[people.bo]
name = "Bo"
email = "bo@example.dk"

[people.carl]
name = "Carl"
email = "carl@example.dk"
"#;

const POLICY: &str = r#"
[[task]]
id = "policy-review"
title = "Gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"
"#;

fn wheel_with(start: Option<&str>, tasks: &str) -> Wheel {
    let start = start.map(|s| format!("start = {s}")).unwrap_or_default();
    let text = BASE.replace("START", &start) + tasks;
    match wheel::parse(&text, "schedule.toml") {
        Ok(w) => w,
        Err(e) => panic!("test wheel does not parse:\n{e}"),
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

/// `plan` between two dates, one line per event:
/// `DATE HH:MM kind[ level] task/period -> to`.
fn check_plan(wheel: &Wheel, from: &str, to: &str, expected: &[&str]) {
    let got: Vec<String> = planner::plan_range(wheel, date(from), date(to))
        .iter()
        .map(|e| {
            let kind = if e.level > 0 {
                format!("{} {}", e.kind.as_str(), e.level)
            } else {
                e.kind.as_str().to_string()
            };
            format!(
                "{} {} {} {}/{} -> {}",
                e.date,
                e.at.format("%H:%M%:z"),
                kind,
                e.task,
                e.period,
                e.to.join(",")
            )
        })
        .collect();
    assert_eq!(got, expected, "\nplan {from}..{to}:\n{}\n", got.join("\n"));
}

/// One pass at `now`, one line per notification:
/// `DATE kind task/period step -> to [cc ...]`.
fn check_pass(wheel: &Wheel, history: &History, now: &str, expected: &[&str]) -> Vec<String> {
    let pass = planner::pass(wheel, history, time(now));
    let got: Vec<String> = pass
        .send
        .iter()
        .map(|n| {
            let cc = if n.cc.is_empty() {
                String::new()
            } else {
                format!(" cc {}", n.cc.join(","))
            };
            format!(
                "{} {} {}/{} -> {}{cc}",
                n.date,
                n.kind.as_str(),
                n.task,
                n.period,
                n.to
            )
        })
        .collect();
    assert_eq!(got, expected, "\npass at {now}:\n{}\n", got.join("\n"));
    pass.send.iter().map(|n| n.key.clone()).collect()
}

fn history_of(task: &str, th: TaskHistory) -> History {
    let mut h = History::default();
    h.tasks.insert(task.to_string(), th);
    h
}

/// A task's history that has only the messages `keys` sent.
fn sent_only(keys: &[String]) -> TaskHistory {
    TaskHistory {
        sent: keys.iter().cloned().collect(),
        ..Default::default()
    }
}

#[test]
fn yearly_task_reminders_move_back_escalations_and_repeats_move_forward() {
    // 2027-03-01 is a Monday. 30d before is Saturday 30 January: the
    // reminder moves back to Friday 29th; 1d before is Sunday 28 February:
    // back to Friday 26th. The first repeat (8 March) is the first
    // escalation's day, so only the escalation goes out. The repeat of 29
    // March falls on 2. påskedag and moves to Tuesday 30th.
    let w = wheel_with(Some("2027-01-01"), POLICY);
    check_plan(
        &w,
        "2027-01-01",
        "2027-04-05",
        &[
            "2027-01-29 08:00+01:00 reminder policy-review/2027 -> anna",
            "2027-02-22 08:00+01:00 reminder policy-review/2027 -> anna",
            "2027-02-26 08:00+01:00 reminder policy-review/2027 -> anna",
            "2027-03-01 08:00+01:00 due policy-review/2027 -> anna",
            "2027-03-08 08:00+01:00 escalation 1 policy-review/2027 -> bo",
            "2027-03-15 08:00+01:00 repeat policy-review/2027 -> anna",
            "2027-03-22 08:00+01:00 repeat policy-review/2027 -> anna",
            "2027-03-30 08:00+02:00 repeat policy-review/2027 -> anna",
            "2027-03-31 08:00+02:00 escalation 2 policy-review/2027 -> carl",
            "2027-04-05 08:00+02:00 repeat policy-review/2027 -> anna",
        ],
    );
}

#[test]
fn a_reminder_on_a_holiday_friday_moves_to_the_open_day_before() {
    // Langfredag 2027-03-26 and Skærtorsdag 03-25 are closed: a reminder
    // 1 day before a due date of Saturday 27 March lands on Wednesday 24th.
    let w = wheel_with(
        Some("2027-01-01"),
        r#"
[[task]]
id = "easter"
title = "Påsketjek"
owner = "anna"
every = "year"
due = "03-27"
remind = ["1d"]
repeat = "0d"
escalate = []
"#,
    );
    check_plan(
        &w,
        "2027-03-01",
        "2027-03-31",
        &[
            "2027-03-24 08:00+01:00 reminder easter/2027 -> anna",
            "2027-03-27 08:00+01:00 due easter/2027 -> anna",
        ],
    );
}

#[test]
fn a_due_date_on_the_spring_dst_sunday_is_read_after_the_gap() {
    // 02:30 does not exist on 2027-03-28 in Copenhagen: it is 03:30 CEST.
    let w = wheel_with(
        Some("2027-01-01"),
        r#"
[[task]]
id = "dst"
title = "Sommertid"
owner = "anna"
every = "year"
due = "03-28"
remind = []
repeat = "0d"
escalate = []
"#,
    );
    let w = Wheel {
        organisation: wheel::Organisation {
            send_time: chrono::NaiveTime::from_hms_opt(2, 30, 0).expect("time"),
            ..w.organisation.clone()
        },
        ..w
    };
    check_plan(
        &w,
        "2027-03-01",
        "2027-03-31",
        &["2027-03-28 03:30+02:00 due dst/2027 -> anna"],
    );
}

#[test]
fn the_send_time_must_have_come() {
    let w = wheel_with(Some("2027-01-01"), POLICY);
    let h = History::default();
    check_pass(&w, &h, "2027-01-29T07:59:59+01:00", &[]);
    check_pass(
        &w,
        &h,
        "2027-01-29T08:00:00+01:00",
        &["2027-01-29 reminder policy-review/2027 -> anna"],
    );
}

#[test]
fn a_second_pass_the_same_morning_sends_nothing() {
    let w = wheel_with(Some("2027-01-01"), POLICY);
    let keys = check_pass(
        &w,
        &History::default(),
        "2027-02-22T08:05:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> anna"],
    );
    let h = history_of("policy-review", sent_only(&keys));
    check_pass(&w, &h, "2027-02-22T09:00:00+01:00", &[]);
    check_pass(&w, &h, "2027-02-25T09:00:00+01:00", &[]);
    check_pass(
        &w,
        &h,
        "2027-02-26T09:00:00+01:00",
        &["2027-02-26 reminder policy-review/2027 -> anna"],
    );
}

#[test]
fn catch_up_after_ten_days_down_sends_only_the_latest_to_each_recipient() {
    // Down from 27 February to 9 March: the owner missed the due day and
    // the first repeat; the first escalation (8 March) copies the owner and
    // is enough for both.
    let w = wheel_with(Some("2027-01-01"), POLICY);
    let keys = check_pass(
        &w,
        &History::default(),
        "2027-03-09T10:00:00+01:00",
        &["2027-03-08 escalation policy-review/2027 -> bo cc anna"],
    );
    let h = history_of("policy-review", sent_only(&keys));
    check_pass(&w, &h, "2027-03-09T11:00:00+01:00", &[]);
    // A week later the owner's repeat goes out.
    check_pass(
        &w,
        &h,
        "2027-03-15T08:00:00+01:00",
        &["2027-03-15 repeat policy-review/2027 -> anna"],
    );
}

#[test]
fn catch_up_after_a_long_outage_addresses_each_recipient_once() {
    let w = wheel_with(Some("2027-01-01"), POLICY);
    check_pass(
        &w,
        &History::default(),
        "2027-04-06T09:00:00+02:00",
        &[
            "2027-03-08 escalation policy-review/2027 -> bo cc anna",
            "2027-03-31 escalation policy-review/2027 -> carl cc anna",
            "2027-04-05 repeat policy-review/2027 -> anna",
        ],
    );
}

#[test]
fn done_stops_repeats_and_escalations() {
    let w = wheel_with(Some("2027-01-01"), POLICY);
    let mut th = TaskHistory::default();
    th.done.insert("2027".into());
    th.last_done = Some(Done {
        period: "2027".into(),
        on: date("2027-03-03"),
    });
    let h = history_of("policy-review", th);
    check_pass(&w, &h, "2027-03-08T09:00:00+01:00", &[]);
    check_pass(&w, &h, "2027-06-01T09:00:00+02:00", &[]);
    // The next year's occurrence starts reminding as usual.
    check_pass(
        &w,
        &h,
        "2028-01-31T09:00:00+01:00",
        &["2028-01-31 reminder policy-review/2028 -> anna"],
    );
}

#[test]
fn occurrences_before_the_first_appearance_are_not_created() {
    // No organisation.start: the task appeared on 25 February 2027, so the
    // 2026 occurrence never exists; the 2027 one's latest reminder so far
    // (22 February) goes out at once.
    let w = wheel_with(None, POLICY);
    let h = history_of(
        "policy-review",
        TaskHistory {
            first_seen: Some(date("2027-02-25")),
            ..Default::default()
        },
    );
    check_pass(
        &w,
        &h,
        "2027-02-25T12:00:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> anna"],
    );
    let rows = planner::status(&w, &h, time("2027-02-25T12:00:00+01:00"));
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].period.as_str(), rows[0].state),
        ("2027", planner::State::Open)
    );
}

#[test]
fn a_rolling_task_is_due_one_interval_after_its_last_completion() {
    let w = wheel_with(
        Some("2027-01-01"),
        r#"
[[task]]
id = "restore-test"
title = "Test af genetablering"
owner = "anna"
every = "year"
due = "06-01"
anchor = "completion"
remind = ["7d"]
escalate = []
"#,
    );
    // Never done: the calendar's first occurrence.
    let rows = planner::status(&w, &History::default(), time("2027-02-01T12:00:00+01:00"));
    assert_eq!(
        (rows[0].period.as_str(), rows[0].due),
        ("2027", date("2027-06-01"))
    );
    // Done on 10 April 2027: next due 10 April 2028.
    let mut th = TaskHistory::default();
    th.done.insert("2027".into());
    th.last_done = Some(Done {
        period: "2027".into(),
        on: date("2027-04-10"),
    });
    let h = history_of("restore-test", th);
    let rows = planner::status(&w, &h, time("2027-05-01T12:00:00+02:00"));
    assert_eq!(
        (rows[0].period.as_str(), rows[0].due),
        ("2028", date("2028-04-10"))
    );
    check_pass(
        &w,
        &h,
        "2028-04-03T09:00:00+02:00",
        &["2028-04-03 reminder restore-test/2028 -> anna"],
    );
    // Done early, on 20 December 2027, for 2028: next due 20 December 2028,
    // which takes the next free period key.
    let mut th = TaskHistory::default();
    th.done.extend(["2027".to_string(), "2028".to_string()]);
    th.last_done = Some(Done {
        period: "2028".into(),
        on: date("2027-12-20"),
    });
    let h = history_of("restore-test", th);
    let rows = planner::status(&w, &h, time("2028-01-05T12:00:00+01:00"));
    assert_eq!(
        (rows[0].period.as_str(), rows[0].due),
        ("2029", date("2028-12-20"))
    );
}

#[test]
fn status_states_levels_and_days_overdue() {
    let w = wheel_with(Some("2027-01-01"), POLICY);
    let h = History::default();
    let row = |now: &str| {
        let r = planner::status(&w, &h, time(now)).remove(0);
        (
            r.period,
            r.state.as_str(),
            r.days_overdue,
            r.escalation_level,
        )
    };
    assert_eq!(
        row("2027-01-10T12:00:00+01:00"),
        ("2027".into(), "upcoming", 0, 0)
    );
    assert_eq!(
        row("2027-01-29T12:00:00+01:00"),
        ("2027".into(), "open", 0, 0)
    );
    assert_eq!(
        row("2027-03-01T23:00:00+01:00"),
        ("2027".into(), "open", 0, 0)
    );
    assert_eq!(
        row("2027-03-02T00:30:00+01:00"),
        ("2027".into(), "overdue", 1, 0)
    );
    assert_eq!(
        row("2027-03-08T07:00:00+01:00"),
        ("2027".into(), "overdue", 7, 0)
    );
    assert_eq!(
        row("2027-03-08T08:00:00+01:00"),
        ("2027".into(), "overdue", 7, 1)
    );
    assert_eq!(
        row("2027-04-01T08:00:00+02:00"),
        ("2027".into(), "overdue", 31, 2)
    );
}

#[test]
fn a_term_task_is_due_in_its_year_of_the_term() {
    let w = wheel_with(
        Some("2026-01-01"),
        r#"
[[task]]
id = "council-approval"
title = "Kommunalbestyrelsen godkender politikken"
owner = "anna"
every = "term"
due = { year = 1, date = "12-01" }
remind = ["30d"]
repeat = "0d"
escalate = []
"#,
    );
    check_plan(
        &w,
        "2026-01-01",
        "2030-12-31",
        &[
            "2026-10-30 08:00+01:00 reminder council-approval/2026-2029 -> anna",
            "2026-12-01 08:00+01:00 due council-approval/2026-2029 -> anna",
            "2030-11-01 08:00+01:00 reminder council-approval/2030-2033 -> anna",
            "2030-12-01 08:00+01:00 due council-approval/2030-2033 -> anna",
        ],
    );
}

#[test]
fn two_owners_each_get_their_own_message() {
    let w = wheel_with(
        Some("2027-01-01"),
        r#"
[[task]]
id = "training"
title = "Awareness"
owner = ["anna", "bo"]
every = "year"
due = "09-15"
remind = ["7d"]
escalate = []
"#,
    );
    check_pass(
        &w,
        &History::default(),
        "2027-09-08T08:00:00+02:00",
        &[
            "2027-09-08 reminder training/2027 -> anna",
            "2027-09-08 reminder training/2027 -> bo",
        ],
    );
}

// ---------------------------------------------------------------- done_target

fn done_history(task: &str, done: &[(&str, &str)]) -> History {
    let mut th = TaskHistory::default();
    for (period, on) in done {
        th.done.insert(period.to_string());
        th.last_done = Some(Done {
            period: period.to_string(),
            on: date(on),
        });
    }
    History {
        tasks: [(task.to_string(), th)].into_iter().collect(),
        ..History::default()
    }
}

#[test]
fn done_means_the_oldest_occurrence_whose_first_reminder_day_has_come() {
    use planner::DoneTarget;
    let w = wheel_with(Some("2027-01-01"), POLICY);
    let none = History::default();
    // 2027-03-01 less 30 days is Saturday 30 January: the reminder moves
    // to Friday 29 January, and the occurrence opens then.
    let task = w.task("policy-review").expect("task");
    assert_eq!(
        planner::opens_on(&w, task, date("2027-03-01")),
        date("2027-01-29")
    );
    assert_eq!(
        planner::done_target(
            &w,
            &none,
            time("2027-01-28T23:59:00+01:00"),
            "policy-review"
        ),
        DoneTarget::NotYet {
            period: "2027".into(),
            due: date("2027-03-01"),
            opens: date("2027-01-29"),
        }
    );
    assert_eq!(
        planner::done_target(
            &w,
            &none,
            time("2027-01-29T00:00:00+01:00"),
            "policy-review"
        ),
        DoneTarget::Open {
            period: "2027".into(),
            due: date("2027-03-01"),
        }
    );
    // 2027 done on 10 March: in March 2027 nothing is open; 2028 opens on
    // Monday 31 January 2028.
    let h = done_history("policy-review", &[("2027", "2027-03-10")]);
    assert_eq!(
        planner::done_target(&w, &h, time("2027-03-20T12:00:00+01:00"), "policy-review"),
        DoneTarget::NotYet {
            period: "2028".into(),
            due: date("2028-03-01"),
            opens: date("2028-01-31"),
        }
    );
    // Overdue 2027 comes before open 2028.
    assert_eq!(
        planner::done_target(
            &w,
            &none,
            time("2028-02-10T12:00:00+01:00"),
            "policy-review"
        ),
        DoneTarget::Open {
            period: "2027".into(),
            due: date("2027-03-01"),
        }
    );
}

#[test]
fn done_on_a_term_task_waits_for_the_terms_first_reminder() {
    use planner::DoneTarget;
    let w = wheel_with(
        Some("2027-01-01"),
        r#"
[[task]]
id = "council-policy-approval"
title = "Godkendelse"
owner = "bo"
every = "term"
due = { year = 1, date = "09-01" }
remind = ["90d", "30d", "7d"]
"#,
    );
    assert_eq!(
        planner::done_target(
            &w,
            &History::default(),
            time("2027-03-10T12:00:00+01:00"),
            "council-policy-approval"
        ),
        DoneTarget::NotYet {
            period: "2030-2033".into(),
            due: date("2030-09-01"),
            opens: date("2030-06-03"),
        }
    );
}

// ---------------------------------------------------------------------------
// Absences: messages to someone away go to their deputy.

/// The policy review, with Dorte, who stands in for people.
fn policy_with_dorte() -> Wheel {
    wheel_with(
        Some("2027-01-01"),
        &format!("{POLICY}\n[people.dorte]\nname = \"Dorte\"\nemail = \"dorte@example.dk\"\n"),
    )
}

fn absence(id: i64, person: &str, from: &str, to: &str, deputy: &str) -> Absence {
    Absence {
        id,
        person: person.into(),
        from: date(from),
        to: date(to),
        deputy: deputy.into(),
    }
}

fn away(absences: Vec<Absence>) -> History {
    History {
        absences,
        ..History::default()
    }
}

#[test]
fn an_absent_owners_reminder_goes_to_the_deputy_with_the_owner_in_cc() {
    let w = policy_with_dorte();
    let h = away(vec![absence(
        1,
        "anna",
        "2027-02-20",
        "2027-02-23",
        "dorte",
    )]);
    check_pass(
        &w,
        &h,
        "2027-02-22T08:05:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> dorte cc anna"],
    );
    let pass = planner::pass(&w, &h, time("2027-02-22T08:05:00+01:00"));
    let n = &pass.send[0];
    // The key is still the owner's: the message is hers, delivered to Dorte.
    assert_eq!(n.key, "policy-review/2027/reminder/7/anna");
    assert_eq!(n.addressee(), "anna");
    assert_eq!(
        n.on_behalf,
        Some(Standing {
            person: "anna".into(),
            deputy: "dorte".into(),
            until: date("2027-02-23"),
        })
    );
}

#[test]
fn an_absence_is_inclusive_of_its_first_and_last_day_and_no_more() {
    let w = policy_with_dorte();
    for (from, to, expected) in [
        // Ended the day before the reminder: Anna gets it herself.
        (
            "2027-02-15",
            "2027-02-21",
            "2027-02-22 reminder policy-review/2027 -> anna",
        ),
        // Starts the day after.
        (
            "2027-02-23",
            "2027-03-01",
            "2027-02-22 reminder policy-review/2027 -> anna",
        ),
        // The reminder's day is the last day.
        (
            "2027-02-15",
            "2027-02-22",
            "2027-02-22 reminder policy-review/2027 -> dorte cc anna",
        ),
        // The reminder's day is the first day.
        (
            "2027-02-22",
            "2027-03-01",
            "2027-02-22 reminder policy-review/2027 -> dorte cc anna",
        ),
    ] {
        let h = away(vec![absence(1, "anna", from, to, "dorte")]);
        check_pass(&w, &h, "2027-02-22T08:05:00+01:00", &[expected]);
    }
}

#[test]
fn the_day_a_message_is_sent_decides_not_the_day_it_was_planned_for() {
    // The pass runs a day late (the machine was off on 22 February): the
    // reminder of the 22nd goes out on the 23rd, the first day away.
    let w = policy_with_dorte();
    let h = away(vec![absence(
        1,
        "anna",
        "2027-02-23",
        "2027-03-05",
        "dorte",
    )]);
    check_pass(
        &w,
        &h,
        "2027-02-23T09:00:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> dorte cc anna"],
    );
}

#[test]
fn an_escalation_to_someone_away_goes_to_their_deputy() {
    // 8 March: escalation 1 to Bo, copying Anna. Bo is away.
    let w = policy_with_dorte();
    let h = away(vec![absence(1, "bo", "2027-03-01", "2027-03-12", "dorte")]);
    let keys = check_pass(
        &w,
        &h,
        "2027-03-08T08:05:00+01:00",
        &["2027-03-08 escalation policy-review/2027 -> dorte cc bo,anna"],
    );
    assert_eq!(keys, vec!["policy-review/2027/escalation/7/bo".to_string()]);
}

#[test]
fn an_escalation_copying_an_absent_owner_copies_her_deputy_too() {
    // Escalations count from the due date as before: 8 March, to Bo.
    let w = policy_with_dorte();
    let h = away(vec![absence(
        1,
        "anna",
        "2027-03-01",
        "2027-03-12",
        "dorte",
    )]);
    check_pass(
        &w,
        &h,
        "2027-03-08T08:05:00+01:00",
        &["2027-03-08 escalation policy-review/2027 -> bo cc anna,dorte"],
    );
    let pass = planner::pass(&w, &h, time("2027-03-08T08:05:00+01:00"));
    assert_eq!(pass.send[0].on_behalf, None);
    assert_eq!(
        pass.send[0].cc_deputies,
        vec![Standing {
            person: "anna".into(),
            deputy: "dorte".into(),
            until: date("2027-03-12"),
        }]
    );
}

#[test]
fn a_deputy_who_is_away_too_means_the_owner_gets_the_message_never_a_loop() {
    let w = policy_with_dorte();
    // Anna stands in for Dorte and Dorte for Anna; both away.
    let h = away(vec![
        absence(1, "anna", "2027-02-20", "2027-02-28", "dorte"),
        absence(2, "dorte", "2027-02-22", "2027-02-22", "anna"),
    ]);
    check_pass(
        &w,
        &h,
        "2027-02-22T08:05:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> anna"],
    );
    // Dorte's own absence is over on the 26th: she stands in again.
    check_pass(
        &w,
        &h,
        "2027-02-26T08:05:00+01:00",
        &["2027-02-26 reminder policy-review/2027 -> dorte cc anna"],
    );
}

#[test]
fn of_two_absences_covering_a_day_the_later_recorded_decides() {
    let w = policy_with_dorte();
    let h = away(vec![
        absence(7, "anna", "2027-02-01", "2027-02-28", "carl"),
        absence(3, "anna", "2027-02-20", "2027-02-23", "dorte"),
    ]);
    check_pass(
        &w,
        &h,
        "2027-02-22T08:05:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> carl cc anna"],
    );
    let pass = planner::pass(&w, &h, time("2027-02-22T08:05:00+01:00"));
    assert_eq!(
        pass.send[0].on_behalf.as_ref().unwrap().until,
        date("2027-02-28")
    );
}

#[test]
fn routing_keeps_the_key_so_a_pass_after_the_absence_ends_sends_nothing_again() {
    let w = policy_with_dorte();
    let mut h = away(vec![absence(
        1,
        "anna",
        "2027-02-20",
        "2027-02-23",
        "dorte",
    )]);
    let keys = check_pass(
        &w,
        &h,
        "2027-02-22T08:05:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> dorte cc anna"],
    );
    h.tasks.insert("policy-review".into(), sent_only(&keys));
    // Same day again, and after the absence (cancelled or over): nothing.
    check_pass(&w, &h, "2027-02-22T10:00:00+01:00", &[]);
    h.absences.clear();
    check_pass(&w, &h, "2027-02-25T09:00:00+01:00", &[]);
    // The next reminder (26 February) goes to Anna herself.
    check_pass(
        &w,
        &h,
        "2027-02-26T08:05:00+01:00",
        &["2027-02-26 reminder policy-review/2027 -> anna"],
    );
}

#[test]
fn a_deputy_no_longer_in_the_wheel_means_the_person_gets_their_own_mail() {
    let w = policy_with_dorte();
    let h = away(vec![absence(
        1,
        "anna",
        "2027-02-20",
        "2027-02-23",
        "ghost",
    )]);
    check_pass(
        &w,
        &h,
        "2027-02-22T08:05:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> anna"],
    );
}

#[test]
fn a_deputy_who_owns_the_task_too_gets_no_second_copy_of_a_reminder() {
    // Anna and Dorte own the review together; Anna is away with Dorte as
    // deputy. Dorte gets her own reminder; Anna's is not doubled onto her.
    let w = wheel_with(
        Some("2027-01-01"),
        &format!(
            "{}\n[people.dorte]\nname = \"Dorte\"\nemail = \"dorte@example.dk\"\n",
            POLICY.replace("owner = \"anna\"", "owner = [\"anna\", \"dorte\"]")
        ),
    );
    let h = away(vec![absence(
        1,
        "anna",
        "2027-02-01",
        "2027-03-31",
        "dorte",
    )]);
    check_pass(
        &w,
        &h,
        "2027-02-22T08:05:00+01:00",
        &[
            "2027-02-22 reminder policy-review/2027 -> anna",
            "2027-02-22 reminder policy-review/2027 -> dorte",
        ],
    );
    // The escalation to Bo copies both owners; Dorte is copied once.
    check_pass(
        &w,
        &h,
        "2027-03-08T08:05:00+01:00",
        &["2027-03-08 escalation policy-review/2027 -> bo cc anna,dorte"],
    );
}

/// Dorte's wheel from `start` with one task owned by Anna, due on `due`
/// (MM-DD), one reminder a week before.
fn dorte_task(start: &str, due: &str) -> Wheel {
    wheel_with(
        Some(start),
        &format!(
            "[people.dorte]\nname = \"Dorte\"\nemail = \"dorte@example.dk\"\n\n\
             [[task]]\nid = \"t\"\ntitle = \"T\"\nowner = \"anna\"\nevery = \"year\"\n\
             due = \"{due}\"\nremind = [\"7d\"]\n"
        ),
    )
}

#[test]
fn an_absence_ending_on_29_february_covers_that_day_and_not_1_march() {
    let away_to_leap_day = away(vec![absence(
        1,
        "anna",
        "2028-02-21",
        "2028-02-29",
        "dorte",
    )]);
    // Due Tuesday 7 March 2028: reminded Tuesday 29 February, still away.
    check_pass(
        &dorte_task("2028-01-01", "03-07"),
        &away_to_leap_day,
        "2028-02-29T08:05:00+01:00",
        &["2028-02-29 reminder t/2028 -> dorte cc anna"],
    );
    // Due Wednesday 8 March: reminded Wednesday 1 March, back.
    check_pass(
        &dorte_task("2028-01-01", "03-08"),
        &away_to_leap_day,
        "2028-03-01T08:05:00+01:00",
        &["2028-03-01 reminder t/2028 -> anna"],
    );
    // A one-day absence on the leap day itself.
    check_pass(
        &dorte_task("2028-01-01", "03-07"),
        &away(vec![absence(
            1,
            "anna",
            "2028-02-29",
            "2028-02-29",
            "dorte",
        )]),
        "2028-02-29T08:05:00+01:00",
        &["2028-02-29 reminder t/2028 -> dorte cc anna"],
    );
}

#[test]
fn the_local_day_decides_an_absence_across_the_autumn_clock_change() {
    // Summer time ends Sunday 31 October 2027. The reminder of Friday 29
    // October (due Friday 5 November) was not sent; a pass at 00:30 on
    // Monday 1 November, local time (23:30 UTC on the 31st), sends it late.
    // Anna is away on Monday 1 November only: the local day counts, not
    // the UTC one, so Dorte gets it.
    let w = dorte_task("2027-01-01", "11-05");
    let one_day = away(vec![absence(
        1,
        "anna",
        "2027-11-01",
        "2027-11-01",
        "dorte",
    )]);
    check_pass(
        &w,
        &one_day,
        "2027-10-31T23:30:00Z",
        &["2027-10-29 reminder t/2027 -> dorte cc anna"],
    );
    // Away on the Sunday of the change only: back on Monday.
    check_pass(
        &w,
        &away(vec![absence(
            1,
            "anna",
            "2027-10-31",
            "2027-10-31",
            "dorte",
        )]),
        "2027-10-31T23:30:00Z",
        &["2027-10-29 reminder t/2027 -> anna"],
    );
}

#[test]
fn a_deputy_removed_from_the_wheel_after_the_absence_was_recorded_hands_the_message_back() {
    // The absence names Dorte; the wheel no longer has her (she left): Anna
    // gets her reminder herself rather than nobody getting it.
    let w = wheel_with(Some("2027-01-01"), POLICY);
    assert!(w.person("dorte").is_none());
    let h = away(vec![absence(
        1,
        "anna",
        "2027-02-20",
        "2027-02-23",
        "dorte",
    )]);
    check_pass(
        &w,
        &h,
        "2027-02-22T08:05:00+01:00",
        &["2027-02-22 reminder policy-review/2027 -> anna"],
    );
}

#[test]
fn the_deputy_is_told_when_the_person_is_back_not_when_their_own_turn_ends() {
    // Anna is away all February with Carl standing in; for 20–23 February
    // Dorte stands in instead (recorded later, so she decides those days).
    // Dorte's message must not say Anna is away only until the 23rd: she is
    // back on 1 March. Back-to-back absences count as one stretch too.
    let w = policy_with_dorte();
    for absences in [
        vec![
            absence(3, "anna", "2027-02-01", "2027-02-28", "carl"),
            absence(7, "anna", "2027-02-20", "2027-02-23", "dorte"),
        ],
        vec![
            absence(3, "anna", "2027-02-20", "2027-02-23", "dorte"),
            absence(4, "anna", "2027-02-24", "2027-02-28", "carl"),
        ],
    ] {
        let h = away(absences);
        check_pass(
            &w,
            &h,
            "2027-02-22T08:05:00+01:00",
            &["2027-02-22 reminder policy-review/2027 -> dorte cc anna"],
        );
        let pass = planner::pass(&w, &h, time("2027-02-22T08:05:00+01:00"));
        assert_eq!(
            pass.send[0].on_behalf.as_ref().unwrap().until,
            date("2027-02-28")
        );
    }
    // A gap of a day is a return: the first stretch ends on the 23rd.
    let h = away(vec![
        absence(3, "anna", "2027-02-20", "2027-02-23", "dorte"),
        absence(4, "anna", "2027-02-25", "2027-02-28", "carl"),
    ]);
    let pass = planner::pass(&w, &h, time("2027-02-22T08:05:00+01:00"));
    assert_eq!(
        pass.send[0].on_behalf.as_ref().unwrap().until,
        date("2027-02-23")
    );
}

/// `check`'s "Next due" list as it was computed before `next_due`: every
/// event of five years expanded, then the due dates kept and cut to five.
fn next_due_by_expanding(w: &Wheel, from: NaiveDate, to: NaiveDate) -> Vec<planner::PlanEvent<'_>> {
    let mut dues: Vec<_> = planner::plan_range(w, from, to)
        .into_iter()
        .filter(|e| e.kind == planner::Kind::Due)
        .collect();
    dues.truncate(5);
    dues
}

const NEXT_DUE_TASKS: &str = r#"
[[task]]
id = "policy-review"
title = "Gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"

[[task]]
id = "monthly-log"
title = "Logopfølgning"
owner = "anna"
every = "month"
due = 31

[[task]]
id = "quarterly-access"
title = "Adgangsrevision"
owner = "bo"
every = "quarter"
due = { month = 3, day = 15 }

[[task]]
id = "restore-test"
title = "Test af genetablering"
owner = "anna"
every = "year"
due = "06-01"
anchor = "completion"

[[task]]
id = "rolling-monthly"
title = "Rullende månedstjek"
owner = "bo"
every = "month"
due = 1
anchor = "completion"

[[task]]
id = "council-approval"
title = "Kommunalbestyrelsen godkender politikken"
owner = "anna"
every = "term"
due = { year = 1, date = "12-01" }

[[task]]
id = "same-day-a"
title = "Samme dag A"
owner = "carl"
every = "year"
due = "03-01"
"#;

#[test]
fn next_due_equals_the_due_dates_of_the_expanded_plan() {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schedule.toml"))
        .expect("the shipped wheel");
    let mut wheels = vec![(
        "shipped",
        wheel::parse(&shipped, "schedule.toml").expect("the shipped wheel parses"),
    )];
    for (name, start) in [
        ("no start", None),
        ("start in the past", Some("2020-05-17")),
        ("start near", Some("2027-01-01")),
        ("start in the future", Some("2031-09-30")),
    ] {
        wheels.push((name, wheel_with(start, NEXT_DUE_TASKS)));
    }
    let days = [
        "2026-01-01",
        "2026-11-30",
        "2027-02-28",
        "2027-03-01",
        "2027-03-02",
        "2027-06-01",
        "2027-12-31",
        "2029-12-01",
        "2031-09-30",
        "2032-02-29",
    ];
    let mut compared = 0;
    for (name, w) in &wheels {
        for day in days {
            let from = date(day);
            let to = from + chrono::Duration::days(366 * 5);
            let expected = next_due_by_expanding(w, from, to);
            let got = planner::next_due(w, from, to, 5);
            assert_eq!(got, expected, "{name}, from {day}");
            compared += expected.len();
            // `plan`'s refusal rests on this bound: never below the truth.
            for years in [1, 9] {
                let to = from + chrono::Duration::days(366 * years);
                let listed = planner::plan_range(w, from, to).len() as u64;
                let bound = planner::plan_size_bound(w, from, to, None);
                assert!(
                    listed <= bound,
                    "{name}, {day} + {years} years: {listed} > {bound}"
                );
            }
        }
    }
    assert!(compared > 100, "the wheels must have due dates to compare");
}

#[test]
fn next_due_names_the_next_five_due_dates_with_literal_dates() {
    // A rolling task never done has one occurrence, the calendar's first
    // after the start: rolling-monthly's 2027-01-01 lies before `from`, so
    // it is not listed (as `plan` does not list it either).
    let w = wheel_with(Some("2027-01-01"), NEXT_DUE_TASKS);
    let from = date("2027-02-20");
    let got: Vec<String> = planner::next_due(&w, from, from + chrono::Duration::days(366 * 5), 5)
        .iter()
        .map(|e| format!("{} {} {}", e.due, e.task, e.period))
        .collect();
    assert_eq!(
        got,
        [
            "2027-02-28 monthly-log 2027-02",
            "2027-03-01 policy-review 2027",
            "2027-03-01 same-day-a 2027",
            "2027-03-15 quarterly-access 2027-Q1",
            "2027-03-31 monthly-log 2027-03",
        ]
    );
}

const QUARTERLY: &str = r#"
[[task]]
id = "access-review"
title = "Gennemgang af adgange"
owner = "bo"
every = "quarter"
due = { month = 3, day = 31 }
remind = ["14d"]
"#;

fn marks_of(wheel: &Wheel, history: &History, now: &str, from: &str, to: &str) -> Vec<String> {
    let now = time(now);
    let (from, to) = (date(from), date(to));
    // The view the store loads for `marks` is exactly its occurrences.
    let view = planner::periods_between(wheel, history, now, from, to);
    let marks = planner::marks(wheel, history, now, from, to);
    assert_eq!(
        view,
        marks
            .iter()
            .map(|m| (m.task.clone(), m.period.clone()))
            .collect::<Vec<_>>()
    );
    marks
        .iter()
        .map(|m| format!("{} {} {} {}", m.task, m.period, m.due, m.state.as_str()))
        .collect()
}

#[test]
fn marks_are_every_occurrence_of_a_range_with_its_state_on_the_day() {
    let wheel = wheel_with(Some("2027-01-01"), &format!("{POLICY}{QUARTERLY}"));
    let history = done_history("policy-review", &[("2027", "2027-02-25")]);
    assert_eq!(
        marks_of(
            &wheel,
            &history,
            "2027-06-20T10:00:00Z",
            "2027-01-01",
            "2027-12-31"
        ),
        [
            "policy-review 2027 2027-03-01 done",
            "access-review 2027-Q1 2027-03-31 overdue",
            "access-review 2027-Q2 2027-06-30 open",
            "access-review 2027-Q3 2027-09-30 upcoming",
            "access-review 2027-Q4 2027-12-31 upcoming",
        ]
    );
    // (now, from, to, the marks), with nothing done.
    let cases: [(&str, &str, &str, &[&str]); 5] = [
        // The first reminder day (16 June, 14 days before 30 June) opens it;
        // the day before it is still upcoming.
        (
            "2027-06-15T10:00:00Z",
            "2027-06-01",
            "2027-06-30",
            &["access-review 2027-Q2 2027-06-30 upcoming"],
        ),
        (
            "2027-06-16T10:00:00Z",
            "2027-06-01",
            "2027-06-30",
            &["access-review 2027-Q2 2027-06-30 open"],
        ),
        // The local day decides: 21:00 UTC is 23:00 on 30 June in Copenhagen
        // (the due date: open), 22:30 UTC is 00:30 on 1 July (overdue).
        (
            "2027-06-30T21:00:00Z",
            "2027-06-01",
            "2027-06-30",
            &["access-review 2027-Q2 2027-06-30 open"],
        ),
        (
            "2027-06-30T22:30:00Z",
            "2027-06-01",
            "2027-06-30",
            &["access-review 2027-Q2 2027-06-30 overdue"],
        ),
        // Nothing before `organisation.start`.
        ("2027-01-10T10:00:00Z", "2026-01-01", "2027-01-31", &[]),
    ];
    for (now, from, to, expected) in cases {
        let marks = marks_of(&wheel, &History::default(), now, from, to);
        assert_eq!(marks, expected, "marks at {now} from {from} to {to}");
    }
}

const ROLLING: &str = r#"
[[task]]
id = "contingency-plan-review"
title = "Gennemgang af beredskabsplanen"
owner = "anna"
every = "year"
due = "05-01"
anchor = "completion"
"#;

#[test]
fn marks_keep_the_done_occurrence_of_a_task_anchored_on_completion() {
    // First due 1 May 2027, done on 20 April 2027: the next is due 20
    // April 2028. The year 2027 still shows the review, done, on the day
    // it was done (it used to have no mark at all in 2027).
    let wheel = wheel_with(Some("2027-01-01"), ROLLING);
    let history = done_history("contingency-plan-review", &[("2027", "2027-04-20")]);
    assert_eq!(
        marks_of(
            &wheel,
            &history,
            "2027-06-20T10:00:00Z",
            "2027-01-01",
            "2027-12-31"
        ),
        ["contingency-plan-review 2027 2027-04-20 done"]
    );
    // A feed's window (a year back, two ahead) has both: the done one and
    // the next, pending.
    assert_eq!(
        marks_of(
            &wheel,
            &history,
            "2027-06-20T10:00:00Z",
            "2026-06-20",
            "2029-06-20"
        ),
        [
            "contingency-plan-review 2027 2027-04-20 done",
            "contingency-plan-review 2028 2028-04-20 upcoming",
        ]
    );
    // Before it is done, the occurrence is the calendar's: 1 May, open.
    assert_eq!(
        marks_of(
            &wheel,
            &History::default(),
            "2027-04-15T10:00:00Z",
            "2027-01-01",
            "2027-12-31"
        ),
        ["contingency-plan-review 2027 2027-05-01 open"]
    );
}
