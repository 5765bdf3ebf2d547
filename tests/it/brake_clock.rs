//! The brake against a wrong clock (issue 11, items 7 and 8): a pass more
//! than `max_clock_jump` after the last one, or one that would queue more
//! than `mail.max_per_pass` messages, records and sends nothing, exits 1
//! and shows `held:` in `status`; `tick --dry-run` shows what would go and
//! `tick --accept-burst` lets it through.

use crate::support::fixtures::assert_contains;
use crate::support::fixtures::testkommune_wheel;
use crate::support::{fixtures, Run, Scratch};

fn eml_count(s: &Scratch) -> usize {
    fixtures::eml_count(&s.file("outbox"))
}

/// A wheel of `n` yearly tasks due Monday 1 March 2027, each reminded
/// seven days before (Monday 22 February 2027, 08:00) and repeated weekly,
/// each owned by a person of its own (Anna owns the first), so that each
/// message is a mail of its own with `mail.bundle` on.
fn wheel(n: usize) -> String {
    wheel_owned(n, |i| {
        if i == 0 {
            "anna".into()
        } else {
            format!("p{i:03}")
        }
    })
}

/// [`wheel`] with the owner of task `i` given by `owner`.
fn wheel_owned(n: usize, owner: impl Fn(usize) -> String) -> String {
    let mut s = String::from(testkommune_wheel!(
        r#"holidays = "none"
start = 2027-01-01

[defaults]
remind = ["7d"]
repeat = "7d"

[people.anna]
name = "Anna"
email = "anna@example.dk"
"#
    ));
    for i in 1..n {
        s.push_str(&format!(
            "\n[people.p{i:03}]\nname = \"Person {i:03}\"\nemail = \"p{i:03}@example.dk\"\n"
        ));
    }
    for i in 0..n {
        s.push_str(&format!(
            "\n[[task]]\nid = \"t-{i:03}\"\ntitle = \"Opgave {i:03}\"\nowner = \"{}\"\nevery = \"year\"\ndue = \"03-01\"\n",
            owner(i)
        ));
    }
    s
}

fn notifications(s: &Scratch) -> usize {
    let v = s.run(&["history", "--json"]).expect(0).json();
    v["notifications"].as_array().map_or(0, Vec::len)
}

fn tick(s: &Scratch, now: &str) -> Run {
    s.run(&["tick", "--now", now])
}

#[test]
fn a_jump_of_35_days_passes() {
    let s = Scratch::new(&wheel(1));
    tick(&s, "2027-02-01T12:00:00+01:00").expect(0);
    // 35 days later to the minute: allowed. The reminder (22 Feb) and the
    // first repeat (8 Mar) collapse into one message by the catch-up rule.
    tick(&s, "2027-03-08T12:00:00+01:00").expect(0);
    assert_eq!(eml_count(&s), 1);
    let status = s
        .run(&["status", "--now", "2027-03-08T12:00:00+01:00"])
        .expect(0);
    assert!(!status.stdout().contains("held:"), "{}", status.stdout());
}

#[test]
fn a_jump_of_36_days_holds_records_nothing_and_status_says_held() {
    let s = Scratch::new(&wheel(1));
    tick(&s, "2027-02-01T12:00:00+01:00").expect(0);
    let held = tick(&s, "2027-03-09T12:00:00+01:00").expect(1);
    let err = held.stderr();
    assert!(err.contains("held: the clock jumped"), "{err}");
    assert!(err.contains("36 days"), "{err}");
    assert!(err.contains("max_clock_jump 35d"), "{err}");
    assert!(err.contains("--accept-burst"), "{err}");
    assert_eq!(eml_count(&s), 0, "nothing sent");
    assert_eq!(notifications(&s), 0, "nothing recorded");
    let status = s
        .run(&["status", "--now", "2027-03-09T12:00:00+01:00"])
        .expect(0);
    let first = status.stdout().lines().next().unwrap_or("").to_string();
    assert!(
        first.starts_with("held: the clock jumped"),
        "{}",
        status.stdout()
    );
    assert!(first.contains("since 2027-03-09 12:00"), "{first}");
    // Held again on the next try: the last pass has not moved.
    tick(&s, "2027-03-09T12:05:00+01:00").expect(1);
    // The clock is put right: the pass goes through and the hold ends.
    tick(&s, "2027-02-23T09:00:00+01:00").expect(0);
    assert_eq!(eml_count(&s), 1);
    let status = s
        .run(&["status", "--now", "2027-02-23T09:00:00+01:00"])
        .expect(0);
    assert!(!status.stdout().contains("held:"), "{}", status.stdout());
}

#[test]
fn a_clock_that_goes_back_is_not_held_and_does_not_move_the_last_pass_back() {
    let s = Scratch::new(&wheel(1));
    tick(&s, "2027-02-01T12:00:00+01:00").expect(0);
    // Thirty days back: no hold.
    tick(&s, "2027-01-02T12:00:00+01:00").expect(0);
    // 35 days after the latest pass (1 Feb), 65 after the one back: allowed,
    // because the last pass stayed at 1 February.
    tick(&s, "2027-03-08T12:00:00+01:00").expect(0);
    // 36 days after 8 March (less the hour of summer time): held.
    tick(&s, "2027-04-13T12:00:00+02:00").expect(1);
    // A pass back in time, then one 36 days after it but only 1 day after
    // the latest: allowed, measured from the latest.
    tick(&s, "2027-03-01T12:00:00+01:00").expect(0);
    tick(&s, "2027-03-09T12:00:00+01:00").expect(0);
}

#[test]
fn max_clock_jump_is_a_setting() {
    let s = Scratch::new(&wheel(1));
    let env = [("ARSHJUL_MAX_CLOCK_JUMP", "2w")];
    s.run_env(&["tick", "--now", "2027-02-01T12:00:00+01:00"], &env)
        .expect(0);
    s.run_env(&["tick", "--now", "2027-02-16T12:00:00+01:00"], &env)
        .expect(1);
    let bad = s.run_env(
        &["tick", "--now", "2027-02-16T12:00:00+01:00"],
        &[("ARSHJUL_MAX_CLOCK_JUMP", "fortnight")],
    );
    let bad = bad.expect(2);
    assert!(bad.stderr().contains("max_clock_jump"), "{}", bad.stderr());
}

#[test]
fn a_first_pass_of_200_messages_goes_and_201_are_held() {
    let s = Scratch::new(&wheel(200));
    // Never a pass before: no clock jump, only the cap.
    tick(&s, "2027-02-22T09:00:00+01:00").expect(0);
    assert_eq!(eml_count(&s), 200);

    let s = Scratch::new(&wheel(201));
    let held = tick(&s, "2027-02-22T09:00:00+01:00").expect(1);
    assert!(
        held.stderr()
            .contains("held: one pass would queue 201 messages, more than mail.max_per_pass 200"),
        "{}",
        held.stderr()
    );
    assert_eq!(eml_count(&s), 0);
    assert_eq!(notifications(&s), 0);
    let status = s
        .run(&["status", "--now", "2027-02-22T09:00:00+01:00"])
        .expect(0);
    assert!(
        status
            .stdout()
            .starts_with("held: one pass would queue 201"),
        "{}",
        status.stdout()
    );
    // The cap is a setting.
    s.run_env(
        &["tick", "--now", "2027-02-22T09:00:00+01:00"],
        &[("ARSHJUL_MAIL__MAX_PER_PASS", "201")],
    )
    .expect(0);
    assert_eq!(eml_count(&s), 201);
}

#[test]
fn dry_run_lists_what_would_go_records_nothing_and_says_why_it_would_hold() {
    let s = Scratch::new(&wheel(2));
    tick(&s, "2027-02-01T12:00:00+01:00").expect(0);
    let before = std::fs::read(s.file("arshjul.db")).expect("db");
    let run = s
        .run(&["tick", "--dry-run", "--now", "2027-03-09T12:00:00+01:00"])
        .expect(0);
    let out = run.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    // Local day and time, kind, task, period, recipients.
    assert!(
        lines[0].starts_with("2027-03-08 08:00  repeat      t-000"),
        "{out}"
    );
    assert!(lines[0].contains(" 2027 "), "{out}");
    assert!(lines[0].ends_with("anna@example.dk"), "{out}");
    assert!(lines[1].contains("t-001"), "{out}");
    assert_eq!(lines[2], "2 messages would be recorded and sent now.");
    assert!(
        lines[3].starts_with("The brake would hold this pass: the clock jumped"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(s.file("arshjul.db")).expect("db"),
        before,
        "the database file changed"
    );
    assert_eq!(eml_count(&s), 0);
    assert_eq!(notifications(&s), 0);

    // Within the limit, it says it would go.
    let run = s
        .run(&["tick", "--dry-run", "--now", "2027-02-22T09:00:00+01:00"])
        .expect(0);
    assert!(
        run.stdout()
            .ends_with("The brake would let this pass through.\n"),
        "{}",
        run.stdout()
    );
    // Without a database, it plans from the wheel and creates nothing.
    let fresh = Scratch::new(&wheel(1));
    let run = fresh
        .run(&["tick", "--dry-run", "--now", "2027-02-22T09:00:00+01:00"])
        .expect(0);
    assert!(
        run.stdout().contains("1 message would be recorded"),
        "{}",
        run.stdout()
    );
    assert!(!fresh.file("arshjul.db").exists());
    assert!(!fresh.file("arshjul.secret").exists());
}

#[test]
fn accept_burst_sends_the_held_pass_and_records_who_accepted_it() {
    let s = Scratch::new(&wheel(201));
    tick(&s, "2027-02-22T09:00:00+01:00").expect(1);
    let run = s
        .run_env(
            &[
                "tick",
                "--accept-burst",
                "--now",
                "2027-02-22T09:00:00+01:00",
            ],
            &[("USER", "driftsvagt"), ("SUDO_USER", "")],
        )
        .expect(0);
    assert!(
        run.stderr().contains("201 new, 201 sent"),
        "{}",
        run.stderr()
    );
    assert_eq!(eml_count(&s), 201);
    let status = s
        .run(&["status", "--now", "2027-02-22T09:00:00+01:00"])
        .expect(0);
    assert!(!status.stdout().contains("held:"), "{}", status.stdout());

    let store = arshjul::store::Store::open(&s.file("arshjul.db"), false).expect("open");
    let bursts = store.accepted_bursts().expect("bursts");
    assert_eq!(bursts.len(), 1);
    assert_eq!(bursts[0].by, "driftsvagt");
    assert_eq!(bursts[0].queued, 201);
    assert!(bursts[0].reason.contains("201 messages"), "{:?}", bursts[0]);
    assert_eq!(bursts[0].at.to_rfc3339(), "2027-02-22T09:00:00+01:00");
    drop(store);
    // In the log of the tick and in `history`.
    assert!(run.stderr().contains("burst accepted"), "{}", run.stderr());
    assert!(
        !run.stderr().contains("nothing was held"),
        "{}",
        run.stderr()
    );
    let history = s.run(&["history"]).expect(0).stdout();
    assert!(
        history.contains(
            "Accepted bursts (1)\n  2027-02-22 09:00  by driftsvagt: 201 new; held because one pass would queue 201 messages"
        ),
        "{history}"
    );
}

#[test]
fn status_json_says_held_and_why() {
    let s = Scratch::new(&wheel(1));
    let now = "2027-02-22T09:00:00+01:00";
    let v = s.run(&["status", "--json", "--now", now]).expect(0).json();
    assert!(v["held"].is_null(), "{v}");
    tick(&s, "2027-01-10T12:00:00+01:00").expect(0);
    tick(&s, "2027-02-22T09:00:00+01:00").expect(1);
    let v = s.run(&["status", "--json", "--now", now]).expect(0).json();
    assert_eq!(v["held"]["since"], "2027-02-22T09:00:00+01:00", "{v}");
    let reason = v["held"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.starts_with("the clock jumped: now (2027-02-22 09:00) is 42 days"),
        "{v}"
    );
    assert_eq!(v["tasks"][0]["id"], "t-000", "{v}");
}

#[test]
fn dry_run_and_accept_burst_exclude_each_other() {
    let s = Scratch::new(&wheel(1));
    let run = s.run(&["tick", "--dry-run", "--accept-burst"]).expect(2);
    assert!(
        run.stderr().contains("cannot be used with"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_store_never_moves_the_last_pass_back_and_keeps_the_start_of_a_hold() {
    use arshjul::store::Store;
    use chrono::DateTime;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open(&dir.path().join("arshjul.db"), true).expect("open");
    let t = |s: &str| DateTime::parse_from_rfc3339(s).expect("time");
    assert_eq!(store.engine_state().expect("state"), Default::default());

    store
        .record_hold(t("2027-01-01T12:00:00+01:00"), "first")
        .expect("hold");
    store
        .record_hold(t("2027-01-02T12:00:00+01:00"), "second")
        .expect("hold");
    let state = store.engine_state().expect("state");
    assert_eq!(state.last_pass, None, "a hold is not a pass");
    let held = state.held.expect("held");
    assert_eq!(held.since, t("2027-01-01T12:00:00+01:00"));
    assert_eq!(held.reason, "second");

    store
        .record_pass_time(t("2027-02-01T12:00:00+01:00"))
        .expect("pass");
    // Earlier in UTC though later on the wall: the offsets count.
    store
        .record_pass_time(t("2027-02-01T12:30:00+02:00"))
        .expect("pass");
    let state = store.engine_state().expect("state");
    assert_eq!(state.last_pass, Some(t("2027-02-01T12:00:00+01:00")));
    assert_eq!(state.held, None, "a pass ends the hold");
    store
        .record_pass_time(t("2027-02-02T08:00:00+01:00"))
        .expect("pass");
    assert_eq!(
        store.engine_state().expect("state").last_pass,
        Some(t("2027-02-02T08:00:00+01:00"))
    );
}

/// A request for a fresh link, waiting for a pass, is a message that pass
/// will send: `--dry-run` lists it and counts it (it used to leave it out),
/// and the pass that follows sends exactly what was listed.
#[test]
fn dry_run_lists_the_fresh_links_the_pass_would_send() {
    use arshjul::store::{LinkLimits, LinkRequestOutcome, NewLinkRequest, Store};
    let s = Scratch::new(&wheel(2));
    tick(&s, "2027-02-22T09:00:00+01:00").expect(0);
    let mut store = Store::open(&s.file("arshjul.db"), false).expect("store");
    let limits = LinkLimits {
        per_recipient: chrono::Duration::hours(1),
        total: 20,
        window: chrono::Duration::hours(1),
    };
    let request = NewLinkRequest {
        task: "t-001".into(),
        period: "2027".into(),
        due: chrono::NaiveDate::from_ymd_opt(2027, 3, 1).expect("date"),
        person: "anna".into(),
        at: chrono::DateTime::parse_from_rfc3339("2027-02-23T10:00:00+01:00").expect("time"),
        client_addr: None,
        user_agent: None,
    };
    let recorded = store.request_link(&request, limits).expect("request");
    assert!(
        matches!(recorded, LinkRequestOutcome::Recorded(_)),
        "{recorded:?}"
    );
    drop(store);

    let now = "2027-02-23T10:01:00+01:00";
    let out = s
        .run(&["tick", "--dry-run", "--now", now])
        .expect(0)
        .stdout();
    assert_eq!(
        out,
        "2027-02-23 10:01  link        t-001                     2027        anna@example.dk\n\
         1 message would be recorded and sent now.\n\
         The brake would let this pass through.\n"
    );
    let run = tick(&s, now).expect(0);
    assert!(run.stderr().contains("1 new, 1 sent"), "{}", run.stderr());
}

/// The login name of who accepted a burst comes from the environment; in
/// `history` it is escaped as all table text is (`\e`, `\n`, a quote kept as
/// it is), not in Rust's debug notation.
#[test]
fn history_escapes_the_accepting_login_name_as_tables_do() {
    let s = Scratch::new(&wheel(1));
    tick(&s, "2027-01-02T12:00:00+01:00").expect(0);
    s.run_env(
        &[
            "tick",
            "--accept-burst",
            "--now",
            "2027-02-22T09:00:00+01:00",
        ],
        &[("USER", "o'brien\u{1b}[31m\nX"), ("SUDO_USER", "")],
    )
    .expect(0);
    let history = s.run(&["history"]).expect(0).stdout();
    assert!(
        history.contains("  by o'brien\\e[31m\\nX: 1 new; held because the clock jumped"),
        "{history}"
    );
}

/// With `mail.bundle` (the default) the brake counts mails, what the
/// recipients get: 300 reminders to one person on one day are 12 mails
/// (25 tasks each, see `bundle_attacks`) and go; 201 people owed two reminders each are 201 mails and are held,
/// and both the hold and `tick --dry-run` name mails and messages.
#[test]
fn the_brake_counts_mails_and_a_persons_messages_of_a_day_are_one() {
    let s = Scratch::new(&wheel_owned(300, |_| "anna".into()));
    let dry = s
        .run(&["tick", "--dry-run", "--now", "2027-02-22T09:00:00+01:00"])
        .expect(0);
    let out = dry.stdout();
    assert!(
        out.contains("\n300 messages in 12 mails would be recorded and sent now.\n"),
        "{out}"
    );
    assert!(
        out.ends_with("The brake would let this pass through.\n"),
        "{out}"
    );
    tick(&s, "2027-02-22T09:00:00+01:00").expect(0);
    assert_eq!(eml_count(&s), 12);
    assert_eq!(notifications(&s), 300, "history shows each part");

    // Two tasks per person: 200 people are 200 mails and go, 201 are held.
    let pairs = |i: usize| match i / 2 {
        0 => "anna".to_string(),
        p => format!("p{p:03}"),
    };
    let s = Scratch::new(&wheel_owned(400, pairs));
    tick(&s, "2027-02-22T09:00:00+01:00").expect(0);
    assert_eq!(eml_count(&s), 200);
    let s = Scratch::new(&wheel_owned(402, pairs));
    let held = tick(&s, "2027-02-22T09:00:00+01:00").expect(1);
    assert!(
        held.stderr().contains(
            "held: one pass would send 201 mails (402 messages), more than mail.max_per_pass 200"
        ),
        "{}",
        held.stderr()
    );
    assert_eq!(eml_count(&s), 0);
    let dry = s
        .run(&["tick", "--dry-run", "--now", "2027-02-22T09:00:00+01:00"])
        .expect(0);
    assert!(
        dry.stdout()
            .contains("\n402 messages in 201 mails would be recorded and sent now.\n"),
        "{}",
        dry.stdout()
    );
}

#[test]
fn accept_burst_when_nothing_is_held_says_so_and_records_no_burst() {
    let s = Scratch::new(&wheel(1));
    // Sunday 21 February 2027, a pass the brake lets through on its own;
    // then Monday 22 February, 09:00: one reminder, nothing held either.
    tick(&s, "2027-02-21T09:00:00+01:00").expect(0);
    for now in ["2027-02-22T09:00:00+01:00", "2027-02-22T10:00:00+01:00"] {
        let run = s
            .run_env(
                &["tick", "--accept-burst", "--now", now],
                &[("USER", "driftsvagt"), ("SUDO_USER", "")],
            )
            .expect(0);
        assert_contains(
            run.stderr(),
            "arshjul: tick: nothing was held; --accept-burst had nothing to let through \
             (no accepted burst recorded)",
        );
        assert!(!run.stderr().contains("burst accepted"), "{}", run.stderr());
    }
    assert_eq!(eml_count(&s), 1, "the reminder went as in any pass");
    let store = arshjul::store::Store::open(&s.file("arshjul.db"), false).expect("open");
    assert!(store.accepted_bursts().expect("bursts").is_empty());
    drop(store);
    let history = s.run(&["history"]).expect(0).stdout();
    assert!(!history.contains("Accepted bursts"), "{history}");
    // On a database that does not exist yet, too.
    let fresh = Scratch::new(&wheel(1));
    let run = fresh
        .run(&[
            "tick",
            "--accept-burst",
            "--now",
            "2027-02-22T09:00:00+01:00",
        ])
        .expect(0);
    assert_contains(run.stderr(), "nothing was held");
}
