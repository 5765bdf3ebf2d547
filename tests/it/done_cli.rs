//! `done`, `undo` and `history` as owners and auditors use them (issue 11,
//! items 3, 4, 10 and 12): which occurrence `done` means, retractions that
//! keep the evidence, output that input cannot forge, dates and counts.

use crate::support::fixtures::assert_contains;
use crate::support::fixtures::testkommune_wheel;
use crate::support::smtp::{self, SmtpServer};
use crate::support::{Run, Scratch};

/// Policy review due 1 March each year; reminders 30, 7 and 1 day before.
const WHEEL: &str = testkommune_wheel!(
    r#"holidays = "dk"
closed = ["12-24", "12-31"]
start = 2027-01-01

[terms]
start = 2022-01-01
years = 4

[defaults]
remind = ["30d", "7d", "1d"]
repeat = "7d"
escalate = [ { after = "7d", to = "bo" } ]

[people.anna]
name = "Anna Ærø"
email = "anna@example.dk"

[people.bo]
name = "Bo"
email = "bo@example.dk"

[[task]]
id = "policy-review"
title = "Årlig gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"

[[task]]
id = "council-policy-approval"
title = "Kommunalbestyrelsens godkendelse (valgperiode)"
owner = "bo"
every = "term"
due = { year = 1, date = "09-01" }
remind = ["90d", "30d", "7d"]

[[task]]
id = "contingency-test"
title = "Test af beredskabsplanen"
owner = "anna"
every = "year"
due = "03-01"
anchor = "completion"
"#
);

fn completions(s: &Scratch, task: &str) -> Vec<serde_json::Value> {
    s.run(&["history", task, "--json"]).expect(0).json()["completions"]
        .as_array()
        .expect("completions")
        .clone()
}

/// `arshjul done TASK --by BY --now NOW` in `s`.
fn done(s: &Scratch, task: &str, by: &str, now: &str) -> Run {
    s.run(&["done", task, "--by", by, "--now", now])
}

// ---------------------------------------------------------------- item 3

#[test]
fn done_without_a_period_before_the_first_reminder_day_names_the_next_occurrence() {
    let s = Scratch::new(WHEEL);
    // The 30-day reminder of 2027 falls on Friday 29 January.
    let run = s
        .run(&["done", "policy-review", "--now", "2027-01-28"])
        .expect(2);
    let err = run.stderr();
    assert_contains(
        &err,
        "the next occurrence, 2027, is due 2027-03-01 and opens 2027-01-29",
    );
    assert_contains(&err, "arshjul done policy-review --period 2027");
    assert!(completions(&s, "policy-review").is_empty());
    // On its first reminder day it is open, and meant.
    let run = done(&s, "policy-review", "anna", "2027-01-29").expect(0);
    assert!(
        run.stdout()
            .starts_with("policy-review 2027: done 2027-01-29 12:00 by anna"),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_second_done_in_march_2027_does_not_record_2028() {
    let s = Scratch::new(WHEEL);
    done(&s, "policy-review", "anna", "2027-03-10").expect(0);
    let run = done(&s, "policy-review", "anna", "2027-03-20").expect(2);
    // 2028-03-01 less 30 days is Monday 31 January 2028 (a leap year).
    assert_contains(
        run.stderr(),
        "the next occurrence, 2028, is due 2028-03-01 and opens 2028-01-31",
    );
    let done = completions(&s, "policy-review");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["period"], "2027");
}

#[test]
fn done_without_a_period_takes_the_oldest_overdue_occurrence() {
    let s = Scratch::new(WHEEL);
    // 10 February 2028: 2027 is overdue, 2028 has opened (31 January).
    let run = done(&s, "policy-review", "anna", "2028-02-10").expect(0);
    assert!(
        run.stdout().starts_with("policy-review 2027: done"),
        "{}",
        run.stdout()
    );
    let run = done(&s, "policy-review", "anna", "2028-02-10").expect(0);
    assert!(
        run.stdout().starts_with("policy-review 2028: done"),
        "{}",
        run.stdout()
    );
}

#[test]
fn an_explicit_future_period_is_recorded_and_said_to_be_early() {
    let s = Scratch::new(WHEEL);
    let run = done_period(&s, "policy-review", "2028", "2027-03-20").expect(0);
    assert_contains(
        run.stdout(),
        "recorded for 2028, which is not due until 2028-03-01",
    );
    // An open period is not called early.
    let run = done_period(&s, "policy-review", "2027", "2027-03-20").expect(0);
    assert!(!run.stdout().contains("not due until"), "{}", run.stdout());
}

#[test]
fn a_rolling_tasks_later_period_is_said_not_to_have_begun() {
    let s = Scratch::new(WHEEL);
    let run = done_period(&s, "contingency-test", "2029", "2027-03-10").expect(0);
    assert_contains(run.stdout(), "contingency-test 2029: done 2027-03-10 12:00 by anna — recorded for 2029, which has not begun");
}

#[test]
fn a_term_task_is_not_completed_years_ahead() {
    let s = Scratch::new(WHEEL);
    // The 2026-2029 term's approval (2026-09-01) is before the wheel's
    // start; the next is 2030-2033, due Sunday 1 September 2030, whose
    // 90-day reminder falls on Monday 3 June 2030.
    let run = s
        .run(&["done", "council-policy-approval", "--now", "2027-03-10"])
        .expect(2);
    assert_contains(
        run.stderr(),
        "the next occurrence, 2030-2033, is due 2030-09-01 and opens 2030-06-03",
    );
    assert_contains(run.stderr(), "--period 2030-2033");
    assert!(completions(&s, "council-policy-approval").is_empty());
    let run = done(&s, "council-policy-approval", "bo", "2030-06-03").expect(0);
    assert!(
        run.stdout()
            .starts_with("council-policy-approval 2030-2033: done"),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_term_that_begins_mid_year_is_named_by_its_key() {
    // Terms from 1 July: 2022-07-01 to 2026-06-30 is "2022-2026", the next
    // "2026-2030", whose first-year approval is due 1 September 2026.
    let wheel = WHEEL.replace("start = 2022-01-01", "start = 2022-07-01");
    let s = Scratch::new(&wheel);
    let run = s
        .run(&[
            "done",
            "council-policy-approval",
            "--period",
            "2026-2030",
            "--by",
            "bo",
            "--now",
            "2027-03-10",
        ])
        .expect(0);
    assert!(
        run.stdout()
            .starts_with("council-policy-approval 2026-2030: done"),
        "{}",
        run.stdout()
    );
    // A key of the calendar-year shape is not one of these terms.
    let run = s
        .run(&[
            "done",
            "council-policy-approval",
            "--period",
            "2027-2030",
            "--now",
            "2027-03-10",
        ])
        .expect(2);
    assert_contains(
        run.stderr(),
        "task \"council-policy-approval\" has no period \"2027-2030\"",
    );
}

#[test]
fn a_rolling_task_is_not_completed_before_its_next_occurrence_opens() {
    let s = Scratch::new(WHEEL);
    done(&s, "contingency-test", "anna", "2027-03-10").expect(0);
    // The next is due one year after the completion: Friday 10 March 2028,
    // opening 30 days before, Wednesday 9 February 2028.
    let run = s
        .run(&["done", "contingency-test", "--now", "2027-04-01"])
        .expect(2);
    assert_contains(
        run.stderr(),
        "the next occurrence, 2028, is due 2028-03-10 and opens 2028-02-09",
    );
    let run = done(&s, "contingency-test", "anna", "2028-02-09").expect(0);
    assert!(
        run.stdout().starts_with("contingency-test 2028: done"),
        "{}",
        run.stdout()
    );
}

// ---------------------------------------------------------------- item 4

fn status_row(s: &Scratch, task: &str, now: &str) -> serde_json::Value {
    let v = s.run(&["status", "--json", "--now", now]).expect(0).json();
    v["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|r| r["id"] == task)
        .cloned()
        .expect("row")
}

#[test]
fn undo_reopens_the_period_and_history_keeps_both_rows() {
    let s = Scratch::new(WHEEL);
    done(&s, "policy-review", "anna", "2027-03-10T11:00:00+01:00").expect(0);
    assert_eq!(
        status_row(&s, "policy-review", "2027-03-12")["period"],
        "2028"
    );
    let run = s
        .run(&[
            "undo",
            "policy-review",
            "--period",
            "2027",
            "--reason",
            "Forkert opgave",
            "--by",
            "bo",
            "--now",
            "2027-03-12T09:30:00+01:00",
        ])
        .expect(0);
    assert_contains(
        run.stdout(),
        "policy-review 2027: the completion of 2027-03-10 11:00 by anna is retracted by bo",
    );
    let row = status_row(&s, "policy-review", "2027-03-12");
    assert_eq!(row["period"], "2027");
    assert_eq!(row["state"], "overdue");
    assert_eq!(row["last_done"], serde_json::Value::Null);
    // The next pass plans the 2027 occurrence again.
    s.run(&["tick", "--now", "2027-03-15T09:00:00+01:00"])
        .expect(0);
    let h = s
        .run(&["history", "policy-review", "--json"])
        .expect(0)
        .json();
    assert_eq!(h["notifications"][0]["period"], "2027", "{h}");

    // Done again: recorded, and history shows all three rows.
    done(&s, "policy-review", "anna", "2027-03-16T10:00:00+01:00").expect(0);
    let h = s
        .run(&["history", "policy-review", "--json"])
        .expect(0)
        .json();
    let c = h["completions"].as_array().expect("completions");
    assert_eq!(c.len(), 2, "{h}");
    assert_eq!(c[0]["at"], "2027-03-16T10:00:00+01:00");
    assert_eq!(c[0]["retracted"], false);
    assert_eq!(c[1]["at"], "2027-03-10T11:00:00+01:00");
    assert_eq!(c[1]["retracted"], true);
    let r = &h["retractions"][0];
    assert_eq!(r["task"], "policy-review");
    assert_eq!(r["period"], "2027");
    assert_eq!(r["at"], "2027-03-12T09:30:00+01:00");
    assert_eq!(r["by"], "bo");
    assert_eq!(r["reason"], "Forkert opgave");
    assert_eq!(r["completion"]["at"], "2027-03-10T11:00:00+01:00");
    assert_eq!(r["completion"]["by"], "anna");

    let table = s.run(&["history", "policy-review"]).expect(0).stdout();
    assert_contains(
        &table,
        "2027-03-10 11:00  policy-review            2027       by anna via cli  [retracted]",
    );
    assert_contains(
        &table,
        "2027-03-12 09:30  policy-review            2027       retracted by bo: \"Forkert opgave\"",
    );
    assert_eq!(
        status_row(&s, "policy-review", "2027-03-17")["period"],
        "2028"
    );
}

#[test]
fn undo_of_a_period_not_done_or_without_a_reason_is_refused() {
    let s = Scratch::new(WHEEL);
    let run = s
        .run(&[
            "undo",
            "policy-review",
            "--period",
            "2027",
            "--reason",
            "oops",
            "--now",
            "2027-03-12",
        ])
        .expect(2);
    assert_contains(
        run.stderr(),
        "policy-review 2027: not done; nothing to undo",
    );
    s.run(&["done", "policy-review", "--now", "2027-03-10"])
        .expect(0);
    let run = s
        .run(&[
            "undo",
            "policy-review",
            "--period",
            "2027",
            "--reason",
            "  ",
            "--now",
            "2027-03-12",
        ])
        .expect(2);
    assert_contains(run.stderr(), "--reason is empty");
    s.run(&[
        "undo",
        "policy-review",
        "--period",
        "2027",
        "--now",
        "2027-03-12",
    ])
    .expect(2);
    s.run(&[
        "undo",
        "nope",
        "--period",
        "2027",
        "--reason",
        "x",
        "--now",
        "2027-03-12",
    ])
    .expect(2);
    // Nothing was retracted: the period is still done.
    assert_eq!(
        status_row(&s, "policy-review", "2027-03-12")["period"],
        "2028"
    );
    // A second undo of the same completion finds nothing left to undo.
    let undo = [
        "undo",
        "policy-review",
        "--period",
        "2027",
        "--reason",
        "wrong",
        "--now",
        "2027-03-12",
    ];
    s.run(&undo).expect(0);
    s.run(&undo).expect(2);
}

// ---------------------------------------------------------------- item 10

const HOSTILE_NOTE: &str =
    "ok\n  2027-01-01 00:00  policy-review  2027  by chef via cli\x1b]0;pwned\x07\x1b[2J\r\u{9b}31m\u{202e}";

#[test]
fn history_escapes_control_characters_and_json_keeps_them_exact() {
    let s = Scratch::new(WHEEL);
    s.run(&[
        "done",
        "policy-review",
        "--by",
        "mallory\x1b[1A",
        "--note",
        HOSTILE_NOTE,
        "--now",
        "2027-03-10T11:00:00+01:00",
    ])
    .expect(0);
    let run = s.run(&["history"]).expect(0);
    let out = run.stdout();
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(!out.contains('\r'), "{out:?}");
    assert!(!out.contains('\u{9b}'), "{out:?}");
    assert!(!out.contains('\u{202e}'), "{out:?}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[1],
        "  2027-03-10 11:00  policy-review            2027       by mallory\\e[1A via cli  \"ok\\n  2027-01-01 00:00  policy-review  2027  by chef via cli\\e]0;pwned\\x07\\e[2J\\r\\u{9b}31m\\u{202e}\"",
    );
    assert_eq!(lines[2], "Notifications (0)");
    let h = s.run(&["history", "--json"]).expect(0).json();
    assert_eq!(h["completions"][0]["note"], HOSTILE_NOTE.trim());
    assert_eq!(h["completions"][0]["by"], "mallory\x1b[1A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_error_text_cannot_forge_status_lines() {
    let s = std::sync::Arc::new(Scratch::new(WHEEL));
    let server = SmtpServer::start().await;
    server.reject(
        "anna@example.dk",
        "550 5.1.1 No such user\x1b]8;;http://evil.example\x07click\x1b[2K",
    );
    let mut env = smtp::env(server.port());
    env.push(("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS".into(), "2".into()));
    let s2 = s.clone();
    let tick = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s2.run_env(&["tick", "--now", "2027-01-29T09:00:00+01:00"], &env)
    })
    .await
    .expect("tick");
    assert_eq!(tick.code(), 1, "{}", tick.stderr());
    let status = s
        .run(&["status", "--now", "2027-01-29T09:00:00+01:00"])
        .expect(0)
        .stdout();
    assert!(!status.contains('\x1b'), "{status:?}");
    assert_contains(
        &status,
        "No such user\\e]8;;http://evil.example\\x07click\\e[2K",
    );
    assert_contains(tick.stderr(), "refused for good by the mail server");
    let history = s.run(&["history"]).expect(0).stdout();
    assert!(!history.contains('\x1b'), "{history:?}");
    assert_contains(&history, "[failed after 1 attempt: ");
    let v = s
        .run(&["status", "--json", "--now", "2027-01-29T09:00:00+01:00"])
        .expect(0)
        .json();
    let error = v["failed_notifications"][0]["error"]
        .as_str()
        .expect("error");
    assert!(
        error.contains("No such user\x1b]8;;http://evil.example\x07click\x1b[2K"),
        "{error:?}"
    );
}

// ---------------------------------------------------------------- item 12

#[test]
fn history_of_an_unknown_task_exits_2_like_done() {
    let s = Scratch::new(WHEEL);
    let done = s.run(&["done", "nope", "--now", "2027-03-10"]).expect(2);
    let history = s.run(&["history", "nope"]).expect(2);
    assert!(
        history
            .stderr()
            .starts_with("unknown task \"nope\" (tasks: policy-review, "),
        "{}",
        history.stderr()
    );
    assert_eq!(history.stderr(), done.stderr());
    // With a database too.
    s.run(&["done", "policy-review", "--now", "2027-03-10"])
        .expect(0);
    let history = s.run(&["history", "nope"]).expect(2);
    assert_eq!(history.stderr(), done.stderr());
    s.run(&["history", "policy-review"]).expect(0);
}

#[test]
fn command_line_dates_need_a_four_digit_year() {
    let s = Scratch::new(WHEEL);
    for (args, flag) in [
        (
            &["plan", "--from", "27-01-01", "--to", "2027-12-31"][..],
            "--from",
        ),
        (
            &["plan", "--from", "2027-01-01", "--to", "2027-1-31"][..],
            "--to",
        ),
        (&["status", "--now", "27-03-01"][..], "--now"),
        (&["status", "--now", "27-03-01T08:00:00+01:00"][..], "--now"),
        (
            &[
                "done",
                "policy-review",
                "--at",
                "27-02-20",
                "--now",
                "2027-03-10",
            ][..],
            "--at",
        ),
    ] {
        let run = s.run(args).expect(2);
        let err = run.stderr();
        assert!(err.contains(flag), "{args:?}: {err}");
        assert!(err.contains("YYYY-MM-DD"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    assert!(completions(&s, "policy-review").is_empty());
    s.run(&["plan", "--from", "2027-01-01", "--to", "2027-01-31"])
        .expect(0);
}

#[test]
fn counts_of_one_are_singular() {
    let one = WHEEL.split("\n[[task]]").next().expect("head").to_string()
        + r#"
[[task]]
id = "policy-review"
title = "Årlig gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"
"#;
    let s = Scratch::new(&one);
    let run = s.run(&["check", "--now", "2027-01-01"]).expect(0);
    assert!(
        run.stdout().starts_with("Testkommune: 1 task, 2 people ("),
        "{}",
        run.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_with_deferred_messages_explains_its_exit_code() {
    let s = std::sync::Arc::new(Scratch::new(WHEEL));
    // Nothing listens on the port: every delivery fails for now.
    let mut env = smtp::env(smtp::refusing_port().await);
    env.push(("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS".into(), "1".into()));
    // Two messages, not one bundle (`bundle_status` has the bundle's case).
    let (k, v) = crate::support::NO_BUNDLE;
    env.push((k.into(), v.into()));
    let s2 = s.clone();
    let tick = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s2.run_env(&["tick", "--now", "2027-01-29T09:00:00+01:00"], &env)
    })
    .await
    .expect("tick");
    assert_eq!(tick.code(), 1, "{}", tick.stderr());
    let err = tick.stderr();
    assert_contains(&err, "0 failed");
    assert_contains(&err, "2 messages were deferred: the mail server failed for now (a temporary failure); they are kept and retried at 2027-01-29 ");
    assert_contains(&err, "`arshjul status` shows the reason");
    let history = s.run(&["history"]).expect(0).stdout();
    assert_contains(&history, "[pending after 1 attempt: ");
    let status = s
        .run(&["status", "--now", "2027-01-29T09:00:00+01:00"])
        .expect(0)
        .stdout();
    assert_contains(&status, "\nDeferred messages (2), kept and retried:\n");
    assert_contains(
        &status,
        "  2027-01-29 09:00  policy-review 2027 reminder to anna@example.dk: retry 2027-01-29 ",
    );
    assert_contains(&status, " after 1 attempt: ");
    let v = s
        .run(&["status", "--json", "--now", "2027-01-29T09:00:00+01:00"])
        .expect(0)
        .json();
    let deferred = v["deferred_notifications"].as_array().expect("deferred");
    assert_eq!(deferred.len(), 2, "{v}");
    assert_eq!(deferred[0]["state"], "pending");
    assert_eq!(deferred[0]["attempts"], 1);
    assert!(
        deferred[0]["retry_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2027-01-29T")),
        "{v}"
    );
    assert!(
        deferred[0]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{v}"
    );
}

// ------------------------------------------------- periods before the start

/// `done TASK --period P --by anna --now NOW`.
fn done_period(s: &Scratch, task: &str, period: &str, now: &str) -> Run {
    s.run(&[
        "done", task, "--period", period, "--by", "anna", "--now", now,
    ])
}

#[test]
fn a_period_before_the_wheels_start_is_refused_naming_the_first_period() {
    // The wheel starts 2027-01-01: policy review's first occurrence is due
    // 2027-03-01, so 2019 and 2026 are periods the wheel never has.
    let s = Scratch::new(WHEEL);
    for period in ["2019", "2026"] {
        let run = done_period(&s, "policy-review", period, "2027-03-20").expect(2);
        assert_contains(
            run.stderr(),
            &format!(
                "task \"policy-review\" has no period \"{period}\": the wheel starts 2027-01-01 \
                 (organisation.start), and the task's first period is 2027"
            ),
        );
    }
    // A quarter that does not exist, and a quarter of a yearly task.
    for period in ["2027-Q5", "2027-Q1"] {
        let run = done_period(&s, "policy-review", period, "2027-03-20").expect(2);
        assert_contains(
            run.stderr(),
            &format!("task \"policy-review\" has no period \"{period}\""),
        );
    }
    // Terms of four years from 2022: 2022-2025 ended before the start; the
    // term the start falls in, 2026-2029, is the first (a_term_that_begins_
    // mid_year_is_named_by_its_key records one due before the start).
    let run = done_period(&s, "council-policy-approval", "2022-2025", "2027-03-20").expect(2);
    assert_contains(run.stderr(), "the task's first period is 2026-2029");
    done_period(&s, "council-policy-approval", "2026-2029", "2027-03-20").expect(0);
    // A task anchored on completion: the period the start falls in is first.
    let run = done_period(&s, "contingency-test", "2026", "2027-03-20").expect(2);
    assert_contains(run.stderr(), "the task's first period is 2027");
    assert!(completions(&s, "policy-review").is_empty());
    assert!(completions(&s, "contingency-test").is_empty());
}

#[test]
fn a_past_period_after_the_start_is_still_recorded() {
    let s = Scratch::new(WHEEL);
    // 2027 is overdue by more than a year on 2028-05-01: still recordable.
    let run = done_period(&s, "policy-review", "2027", "2028-05-01").expect(0);
    assert_contains(run.stdout(), "2027");
    // Its first period, recorded late with the work done before the start.
    let run = s
        .run(&[
            "done",
            "policy-review",
            "--period",
            "2028",
            "--by",
            "anna",
            "--at",
            "2026-12-15",
            "--now",
            "2028-05-01",
        ])
        .expect(0);
    assert_contains(run.stdout(), "2028");
    assert_eq!(completions(&s, "policy-review").len(), 2);
}
