//! No wheel that passes `check` can stop a pass (issue 11, items 5 and 6):
//! every wheel the parser accepts, whatever its text fields hold, yields
//! notifications that all compose; and a message that cannot be built
//! anyway is recorded failed while the rest of the pass goes out.

use std::cell::Cell;

use arshjul::calendar::Calendar;
use arshjul::mail::Composer;
use arshjul::planner::{self, History};
use arshjul::settings::Settings;
use arshjul::wheel;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::Scratch;

/// A TOML basic string holding `text` exactly.
fn toml_str(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A text field: mostly ordinary, sometimes anything at all.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => "[A-Za-zÆØÅæøå][A-Za-zÆØÅæøå .'&-]{0,40}",
        1 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7fa-z\\x{80}-\\x{9f}]{1,12}",
        1 => ".{0,4}[\\n\\r\\t\\x{2028}\\x{2029}\\x{85}].{0,4}",
        1 => ".{0,4}[\\x{61c}\\x{200e}\\x{200f}\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}].{0,4}",
        1 => "[\\x{627}-\\x{64a}\\x{5d0}-\\x{5ea} ]{1,30}",
        1 => "[a-zø\"\\\\<>, ]{150,230}",
        1 => "[A-Za-z]{190,210}",
    ]
}

/// An e-mail address: mostly plain, sometimes odd or broken.
fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => "[a-z]{1,10}@[a-z]{1,10}\\.(dk|example)",
        1 => "[a-z0-9._%+=!#'*/?^`{|}~-]{1,70}@[a-z0-9.-]{1,30}",
        1 => "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.\"(),:;<>@\\[\\] -]{1,40}",
        1 => "[a-z]{1,10}@[a-zæøå_-]{1,64}\\.[a-z]{2,4}",
        1 => "[a-z]{1,10}@\\[[0-9.]{1,15}\\]",
        1 => any::<String>(),
    ]
}

/// A person or task key: mostly plain, sometimes anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => "[a-z][a-z0-9-]{0,12}",
        1 => any::<String>(),
        1 => "[a-z]{490,510}",
    ]
}

/// A whole wheel whose every text field comes from the strategies above.
fn wheel_source() -> impl Strategy<Value = String> {
    (
        (text(), prop_oneof![Just("da"), Just("en")]),
        (key(), text(), address()),
        (key(), text(), address()),
        (key(), text(), text(), text()),
    )
        .prop_map(
            |((org, language), (ka, name_a, mail_a), (kb, name_b, mail_b), (id, title, reference, description))| {
                let (org, ka, kb) = (toml_str(&org), toml_str(&ka), toml_str(&kb));
                format!(
                    "[organisation]\nname = {org}\nlanguage = \"{language}\"\nstart = 2027-01-01\n\n\
                     [defaults]\nremind = [\"30d\", \"1d\"]\nrepeat = \"7d\"\n\
                     escalate = [ {{ after = \"7d\", to = {kb} }} ]\n\n\
                     [people.{ka}]\nname = {}\nemail = {}\n\n\
                     [people.{kb}]\nname = {}\nemail = {}\n\n\
                     [[task]]\nid = {}\ntitle = {}\nowner = {ka}\nevery = \"year\"\ndue = \"03-01\"\n\
                     reference = {}\ndescription = {}\n",
                    toml_str(&name_a),
                    toml_str(&mail_a),
                    toml_str(&name_b),
                    toml_str(&mail_b),
                    toml_str(&id),
                    toml_str(&title),
                    toml_str(&reference),
                    toml_str(&description),
                )
            },
        )
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("time")
        .with_timezone(&Utc)
}

#[test]
fn every_wheel_check_accepts_composes_every_message_of_its_passes() {
    let composer = Composer::new(&Settings::default().mail).expect("built-in templates");
    // The 30-day reminder, the 1-day reminder, and after the due date a
    // repeat with the escalation: every kind of message.
    let instants = [
        at("2027-01-29T08:00:00+01:00"),
        at("2027-02-26T08:00:00+01:00"),
        at("2027-03-10T08:00:00+01:00"),
    ];
    let accepted = Cell::new(0usize);
    let composed = Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 1000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&wheel_source(), |source| {
            let Ok(wheel) = wheel::parse(&source, "schedule.toml") else {
                return Ok(());
            };
            accepted.set(accepted.get() + 1);
            for now in instants {
                let pass = planner::pass(&wheel, &History::default(), now);
                let today = Calendar::new(&wheel.organisation).local_date(&now);
                for n in &pass.send {
                    let link = "https://arshjul.example/done/token";
                    let result = composer.compose(&wheel, n, Some(link), today);
                    prop_assert!(
                        result.is_ok(),
                        "{}: {}\nwheel:\n{source}",
                        n.key,
                        result.err().map(|e| e.to_string()).unwrap_or_default()
                    );
                    // Nor does any subject carry a bidi control (U+202E
                    // and the like): `check` refuses them in every text.
                    if let Ok(m) = &result {
                        prop_assert!(
                            !m.subject.chars().any(|c| matches!(
                                c,
                                '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                                    | '\u{2066}'..='\u{2069}'
                            )),
                            "{:?}\nwheel:\n{source}",
                            m.subject
                        );
                    }
                    composed.set(composed.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The property is only worth something if many odd wheels got through.
    assert!(
        accepted.get() >= 100,
        "only {} of 1000 wheels were accepted",
        accepted.get()
    );
    assert!(composed.get() >= 300, "only {} messages", composed.get());
}

const TWO_TASKS: &str = r#"
[organisation]
name = "Testkommune"
start = 2027-01-01

[people.anna]
name = "Anna Ærø"
email = "anna@example.dk"

[[task]]
id = "good"
title = "Det der virker"
owner = "anna"
every = "year"
due = "03-01"

[[task]]
id = "bad"
title = "Det der ikke kan bygges"
owner = "anna"
every = "year"
due = "03-01"
"#;

/// A template that fails for the task `bad` only: the start-up check renders
/// a sample context (task `policy-review`), so only the pass meets it.
const FAILS_FOR_BAD: &str =
    "Hej {{ recipient.name }}\n{% if task_id == \"bad\" %}{{ no_such_value }}{% endif %}\n";

#[test]
fn a_message_that_cannot_be_built_is_recorded_failed_and_the_others_go_out() {
    let s = Scratch::new(TWO_TASKS);
    std::fs::create_dir_all(s.file("tpl/da")).expect("mkdir");
    std::fs::write(s.file("tpl/da/reminder.txt"), FAILS_FOR_BAD).expect("template");
    // One mail per message: Anna's two reminders are not bundled.
    std::fs::write(
        s.file("arshjul.toml"),
        "[mail]\ntemplates = \"tpl\"\nbundle = false\n",
    )
    .expect("settings");

    let now = "2027-01-29T08:00:00+01:00";
    let run = s.run(&["tick", "--now", now]).expect(1);
    assert!(
        run.stderr().contains("2 new, 1 sent, 0 deferred, 1 failed"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    let sent: Vec<String> = std::fs::read_dir(s.file("outbox"))
        .expect("outbox")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("eml"))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("X-Arshjul-Task: good"), "{}", sent[0]);

    // `status` shows the failed one with its reason.
    let status = s.run(&["status", "--now", now]).expect(0).stdout();
    let line = status
        .lines()
        .find(|l| l.contains("bad 2027 reminder"))
        .unwrap_or_else(|| panic!("no failed line:\n{status}"));
    assert!(line.contains("anna@example.dk"), "{line}");
    assert!(line.contains("not built"), "{line}");
    assert!(line.contains("no_such_value"), "{line}");
    let v = s.run(&["status", "--json", "--now", now]).expect(0).json();
    let failed = v["failed_notifications"].as_array().expect("failed list");
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["task"], "bad");

    // It is not tried again on every pass: the next one is quiet.
    s.run(&["tick", "--now", "2027-01-29T09:00:00+01:00"])
        .expect(0);
}

/// A fresh link asked for on an expired link's page whose message cannot be
/// built: the request is answered with the message recorded failed and its
/// reason (`status`, `history`), and no later pass tries it again (it used
/// to be left open, logged as an error on every pass, and never shown).
#[test]
fn a_new_link_that_cannot_be_built_is_recorded_failed_and_not_tried_again() {
    use arshjul::store::{LinkLimits, LinkRequestOutcome, NewLinkRequest, Store};
    let s = Scratch::new(TWO_TASKS);
    std::fs::create_dir_all(s.file("tpl/da")).expect("mkdir");
    std::fs::write(s.file("tpl/da/link.txt"), FAILS_FOR_BAD).expect("template");
    std::fs::write(s.file("arshjul.toml"), "[mail]\ntemplates = \"tpl\"\n").expect("settings");
    s.run(&["tick", "--now", "2027-01-29T08:00:00+01:00"])
        .expect(0);

    let mut store = Store::open(&s.file("arshjul.db"), false).expect("store");
    let at = DateTime::parse_from_rfc3339("2027-01-29T09:00:00+01:00").expect("time");
    let request = |task: &str| NewLinkRequest {
        task: task.into(),
        period: "2027".into(),
        due: chrono::NaiveDate::from_ymd_opt(2027, 3, 1).expect("date"),
        person: "anna".into(),
        at,
        client_addr: Some("198.51.100.7".into()),
        user_agent: None,
    };
    let limits = LinkLimits {
        per_recipient: chrono::Duration::hours(1),
        total: 20,
        window: chrono::Duration::hours(1),
    };
    for task in ["bad", "good"] {
        let recorded = store.request_link(&request(task), limits).expect("request");
        assert!(
            matches!(recorded, LinkRequestOutcome::Recorded(_)),
            "{recorded:?}"
        );
    }
    drop(store);

    let now = "2027-01-29T09:01:00+01:00";
    let run = s.run(&["tick", "--now", now]).expect(1);
    assert!(
        run.stderr().contains("1 new, 1 sent, 0 deferred, 1 failed"),
        "{}",
        run.stderr()
    );
    let status = s.run(&["status", "--now", now]).expect(0).stdout();
    let line = status
        .lines()
        .find(|l| l.contains("bad 2027 link"))
        .unwrap_or_else(|| panic!("no failed line:\n{status}"));
    assert!(line.contains("not built"), "{line}");
    assert!(line.contains("no_such_value"), "{line}");
    let history = s.run(&["history", "bad", "--now", now]).expect(0).stdout();
    assert!(
        history.contains("[new link to anna@example.dk failed]"),
        "{history}"
    );

    // Answered once: the next pass is quiet.
    let run = s
        .run_env(
            &["tick", "--now", "2027-01-29T09:02:00+01:00"],
            &[("RUST_LOG", "error")],
        )
        .expect(0);
    assert!(!run.stderr().contains("new link"), "{}", run.stderr());
}
