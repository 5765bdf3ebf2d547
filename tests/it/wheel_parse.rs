//! The wheel parser as a user meets it: every bad wheel in `tests/bad_wheels`
//! gives the error its first line promises, good wheels become the right
//! types, and the shipped `schedule.toml` parses.

use std::path::PathBuf;

use arshjul::config::read_wheel;
use arshjul::wheel::{
    parse, Anchor, ClosedDay, Days, EscalationStep, HolidayRule, Language, Recurrence, Terms, Wheel,
};
use chrono::{NaiveDate, NaiveTime};
use proptest::prelude::*;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A wheel with one organisation and three people around `tasks`.
fn wheel_source(extra_top: &str, tasks: &str) -> String {
    format!(
        r#"[organisation]
name = "Testkommune"
{extra_top}

[people.chef]
name = "Chefen"
email = "chef@kommune.example"

[people.direktoer]
name = "Direktøren"
email = "direktoer@kommune.example"

[people.it]
name = "IT-driften"
email = "it@leverandoer.example"

{tasks}"#
    )
}

fn parse_ok(source: &str) -> Wheel {
    match parse(source, "schedule.toml") {
        Ok(wheel) => wheel,
        Err(errors) => panic!("expected a valid wheel, got:\n{errors}\n--- source ---\n{source}"),
    }
}

/// Every error as Display prints it.
fn parse_err(source: &str) -> Vec<String> {
    match parse(source, "schedule.toml") {
        Ok(wheel) => panic!("expected errors, got a wheel: {wheel:#?}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

fn one_task(every: &str, due: &str, extra: &str) -> Wheel {
    let task = format!(
        "[[task]]\nid = \"t\"\ntitle = \"En opgave\"\nowner = \"chef\"\nevery = {every}\ndue = {due}\n{extra}\n"
    );
    parse_ok(&wheel_source(
        "[terms]\nstart = 2022-01-01\nyears = 4\n",
        &task,
    ))
}

#[test]
fn every_bad_wheel_reports_the_error_its_first_line_expects() {
    let dir = manifest_dir().join("tests/bad_wheels");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 30,
        "expected the bad-wheel collection, found {} files",
        files.len()
    );

    let mut failures = Vec::new();
    for path in &files {
        let source = std::fs::read_to_string(path).unwrap();
        let first_line = source.lines().next().unwrap_or_default();
        let Some(expected) = first_line.strip_prefix("# expect: ") else {
            failures.push(format!(
                "{}: first line is not `# expect: ...`",
                path.display()
            ));
            continue;
        };
        match parse(&source, "schedule.toml") {
            Ok(_) => failures.push(format!("{}: parsed without errors", path.display())),
            Err(errors) => {
                let actual = errors.0[0].to_string();
                if actual != expected {
                    failures.push(format!(
                        "{}:\n  expected: {expected}\n  actual:   {actual}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_recurrence_kind_maps_to_its_recurrence() {
    let cases = [
        (
            "\"year\"",
            "\"03-01\"",
            "",
            Recurrence::Years {
                every: 1,
                first: None,
                month: 3,
                day: 1,
            },
        ),
        (
            "\"year\"",
            "\"02-29\"",
            "first = 2028",
            Recurrence::Years {
                every: 1,
                first: Some(2028),
                month: 2,
                day: 29,
            },
        ),
        (
            "\"1 year\"",
            "\"12-31\"",
            "",
            Recurrence::Years {
                every: 1,
                first: None,
                month: 12,
                day: 31,
            },
        ),
        (
            "\"2 years\"",
            "\"09-15\"",
            "first = 2027",
            Recurrence::Years {
                every: 2,
                first: Some(2027),
                month: 9,
                day: 15,
            },
        ),
        (
            "\"term\"",
            "{ year = 2, date = \"06-01\" }",
            "",
            Recurrence::Term {
                year: 2,
                month: 6,
                day: 1,
            },
        ),
        (
            "\"term\"",
            "{ date = \"01-31\", year = 4 }",
            "",
            Recurrence::Term {
                year: 4,
                month: 1,
                day: 31,
            },
        ),
        ("\"month\"", "31", "", Recurrence::Month { day: 31 }),
        (
            "\"quarter\"",
            "{ month = 3, day = 31 }",
            "",
            Recurrence::Quarter { month: 3, day: 31 },
        ),
        (
            "\"half-year\"",
            "{ month = 6, day = 30 }",
            "",
            Recurrence::HalfYear { month: 6, day: 30 },
        ),
    ];
    for (every, due, extra, expected) in cases {
        let wheel = one_task(every, due, extra);
        assert_eq!(
            wheel.tasks[0].recurrence, expected,
            "every = {every}, due = {due}"
        );
    }
}

#[test]
fn organisation_settings_are_read_and_defaulted() {
    let minimal = parse_ok(&wheel_source(
        "",
        "[[task]]\nid = \"t\"\ntitle = \"T\"\nowner = \"chef\"\nevery = \"month\"\ndue = 1\n",
    ));
    let org = &minimal.organisation;
    assert_eq!(org.name, "Testkommune");
    assert_eq!(org.timezone, chrono_tz::Europe::Copenhagen);
    assert_eq!(org.language, Language::Da);
    assert_eq!(org.send_time, NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    assert_eq!(org.holidays, HolidayRule::Dk);
    assert_eq!(org.closed, vec![]);
    assert_eq!(org.start, None);
    assert_eq!(minimal.terms, None);

    let full = parse_ok(&wheel_source(
        r#"timezone = "Europe/Oslo"
language = "en"
send_time = "07:30"
holidays = "none"
closed = ["12-24", "02-29", "2026-05-15"]
start = "2026-03-01"

[terms]
start = "2022-01-01"
years = 4"#,
        "[[task]]\nid = \"t\"\ntitle = \"T\"\nowner = \"chef\"\nevery = \"month\"\ndue = 1\n",
    ));
    let org = &full.organisation;
    assert_eq!(org.timezone, chrono_tz::Europe::Oslo);
    assert_eq!(org.language, Language::En);
    assert_eq!(org.send_time, NaiveTime::from_hms_opt(7, 30, 0).unwrap());
    assert_eq!(org.holidays, HolidayRule::None);
    assert_eq!(
        org.closed,
        vec![
            ClosedDay::Yearly { month: 12, day: 24 },
            ClosedDay::Yearly { month: 2, day: 29 },
            ClosedDay::Date(date(2026, 5, 15)),
        ]
    );
    assert_eq!(org.start, Some(date(2026, 3, 1)));
    assert_eq!(
        full.terms,
        Some(Terms {
            start: date(2022, 1, 1),
            years: 4
        })
    );
}

#[test]
fn built_in_defaults_apply_without_a_defaults_table() {
    let wheel = one_task("\"year\"", "\"03-01\"", "");
    let task = &wheel.tasks[0];
    assert_eq!(task.remind, vec![Days(30), Days(7), Days(1)]);
    assert_eq!(task.repeat, Some(Days(7)));
    assert_eq!(task.escalate, vec![]);
    assert_eq!(task.anchor, Anchor::Fixed);
    assert_eq!(task.owners, vec!["chef"]);
    assert_eq!(task.reference, None);
    assert_eq!(task.description, None);
}

#[test]
fn defaults_apply_and_task_overrides_replace_them_whole() {
    let wheel = parse_ok(&wheel_source(
        r#"
[defaults]
remind = ["2w", "0d"]
escalate = [ { after = "30d", to = "direktoer" },
             { after = "1w", to = "chef" } ]"#,
        r#"
[[task]]
id = "uses-defaults"
title = "Bruger standarden"
owner = "it"
every = "year"
due = "03-01"

[[task]]
id = "overrides"
title = "Har sine egne"
owner = ["it", "chef"]
every = "year"
due = "03-01"
anchor = "completion"
reference = "ISO/IEC 27001:2022 A.5.1"
description = "Gennemgå politikken."
remind = ["1d"]
repeat = "0d"
escalate = [ { after = "3d", to = "direktoer" } ]
"#,
    ));
    let uses = wheel.task("uses-defaults").unwrap();
    assert_eq!(uses.remind, vec![Days(14), Days(0)]);
    // `repeat` is absent from [defaults], so the built-in 7 days applies.
    assert_eq!(uses.repeat, Some(Days(7)));
    // Stored sorted by `after`: the 1-week step is level 1.
    assert_eq!(
        uses.escalate,
        vec![
            EscalationStep {
                after: Days(7),
                to: "chef".to_string()
            },
            EscalationStep {
                after: Days(30),
                to: "direktoer".to_string()
            },
        ]
    );

    let own = wheel.task("overrides").unwrap();
    assert_eq!(own.owners, vec!["it", "chef"]);
    assert_eq!(own.anchor, Anchor::Completion);
    assert_eq!(own.reference.as_deref(), Some("ISO/IEC 27001:2022 A.5.1"));
    assert_eq!(own.description.as_deref(), Some("Gennemgå politikken."));
    assert_eq!(own.remind, vec![Days(1)]);
    assert_eq!(own.repeat, None);
    assert_eq!(
        own.escalate,
        vec![EscalationStep {
            after: Days(3),
            to: "direktoer".to_string()
        }]
    );
    assert_eq!(wheel.person("it").unwrap().email, "it@leverandoer.example");
    assert_eq!(wheel.person("direktoer").unwrap().name, "Direktøren");
}

#[test]
fn an_empty_override_list_means_none() {
    let wheel = one_task("\"year\"", "\"03-01\"", "remind = []\nescalate = []");
    assert_eq!(wheel.tasks[0].remind, vec![]);
    assert_eq!(wheel.tasks[0].escalate, vec![]);
}

#[test]
fn all_problems_are_reported_at_once_in_file_order() {
    let source = wheel_source(
        "send_time = \"8am\"\n\n[defaults]\nrepeat = \"1 week\"",
        r#"
[[task]]
id = "b"
title = "B"
owner = ["æøå", "ukendt"]
every = "fortnight"
due = "03-01"

[[task]]
id = "a"
title = " "
owner = "chef"
every = "month"
due = 32
remind = ["7x"]

[[task]]
id = "b"
title = "B igen"
owner = "chef"
every = "2 years"
due = "02-30"
"#,
    );
    assert_eq!(
        parse_err(&source),
        vec![
            r#"schedule.toml:3:13: bad send time "8am" (use HH:MM)"#,
            r#"schedule.toml:6:10: defaults: bad duration "1 week" (use "Nd" or "Nw")"#,
            // Columns count characters: "æøå" is 3 characters but 6 bytes.
            r#"schedule.toml:24:10: unknown person "æøå" in task "b""#,
            r#"schedule.toml:24:17: unknown person "ukendt" in task "b""#,
            r#"schedule.toml:25:9: task "b": unknown recurrence "fortnight" (year, N years, term, month, quarter, half-year)"#,
            r#"schedule.toml:30:9: task "a": empty title"#,
            r#"schedule.toml:33:7: task "a": day 32 is outside 1-31"#,
            r#"schedule.toml:34:11: task "a": bad duration "7x" (use "Nd" or "Nw")"#,
            r#"schedule.toml:37:6: duplicate task id "b" (first defined at line 22)"#,
            r#"schedule.toml:40:9: task "b": every = "2 years" needs first = YEAR (the first year it is due)"#,
        ]
    );
}

#[test]
fn windows_line_endings_and_a_byte_order_mark_do_not_move_errors() {
    let task =
        "[[task]]\nid = \"t\"\ntitle = \"T\"\nowner = \"chef\"\nevery = \"month\"\ndue = 0\n";
    let unix = wheel_source("send_time = \"8am\"", task);
    let windows = format!("\u{feff}{}", unix.replace('\n', "\r\n"));
    let expected = vec![
        r#"schedule.toml:3:13: bad send time "8am" (use HH:MM)"#,
        r#"schedule.toml:22:7: task "t": day 0 is outside 1-31"#,
    ];
    assert_eq!(parse_err(&unix), expected);
    assert_eq!(parse_err(&windows), expected);
}

#[test]
fn missing_task_keys_are_all_named() {
    let source = wheel_source("", "[[task]]\nid = \"t\"\nevery = \"year\"\n");
    assert_eq!(
        parse_err(&source),
        vec![
            r#"schedule.toml:17:1: task "t": missing key "title""#,
            r#"schedule.toml:17:1: task "t": missing key "owner""#,
            r#"schedule.toml:17:1: task "t": missing key "due""#,
        ]
    );
}

#[test]
fn the_shipped_schedule_parses() {
    let wheel = match read_wheel(&manifest_dir().join("schedule.toml")) {
        Ok(wheel) => wheel,
        Err(errors) => panic!("the shipped schedule.toml is invalid:\n{errors}"),
    };
    assert_eq!(wheel.organisation.name, "Ballerup Kommune");
    assert_eq!(wheel.organisation.start, Some(date(2027, 1, 1)));
    assert_eq!(
        wheel.organisation.closed,
        vec![
            ClosedDay::Yearly { month: 12, day: 24 },
            ClosedDay::Yearly { month: 12, day: 31 },
            ClosedDay::Yearly { month: 6, day: 5 },
        ]
    );
    assert_eq!(
        wheel.terms,
        Some(Terms {
            start: date(2022, 1, 1),
            years: 4
        })
    );
    let ids: Vec<&str> = wheel.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "policy-review",
            "guideline-review",
            "procedures-and-wheel-revision",
            "council-policy-approval",
            "council-security-report",
            "contingency-plan-review",
            "supplier-supervision",
            "awareness-training",
            "access-review-esdh",
            "access-review-hr",
        ]
    );
    assert_eq!(
        wheel.task("council-policy-approval").unwrap().recurrence,
        Recurrence::Term {
            year: 1,
            month: 9,
            day: 1
        }
    );
    let contingency = wheel.task("contingency-plan-review").unwrap();
    assert_eq!(contingency.anchor, Anchor::Completion);
    assert_eq!(
        contingency.owners,
        vec!["digitaliseringschef", "it-forsyningen"]
    );
    for task in &wheel.tasks {
        assert!(
            task.reference
                .as_deref()
                .is_some_and(|r| r.starts_with("ISO/IEC 27001:2022 ")),
            "{}",
            task.id
        );
        assert!(
            task.description
                .as_deref()
                .is_some_and(|d| d.starts_with("Politikken: ")),
            "{}",
            task.id
        );
    }
    assert!(wheel
        .people
        .values()
        .all(|p| p.email.ends_with("@ballerup.example")));
}

#[test]
fn an_unreadable_file_is_one_whole_file_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let errors = read_wheel(&path).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].line, 0);
    let expected = format!(
        "{}: cannot read: no such file or directory (os error 2)",
        path.display()
    );
    assert_eq!(errors.to_string(), expected);
}

#[test]
fn a_huge_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schedule.toml");
    let mut source = wheel_source("", "");
    source.push_str(&"# fyld\n".repeat(2 * 1024 * 1024));
    std::fs::write(&path, source).unwrap();
    let expected = format!(
        "{}: cannot read: the file is larger than 10 MB; is this the right file?",
        path.display()
    );
    assert_eq!(read_wheel(&path).unwrap_err().to_string(), expected);
}

#[test]
fn a_file_that_is_not_utf8_is_placed_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schedule.toml");
    // "navn = \"Bal" then a Latin-1 'l' with a stray 0xE6 (æ in Latin-1).
    std::fs::write(&path, b"[organisation]\nname = \"Ballerup \xe6\"\n").unwrap();
    let errors = read_wheel(&path).unwrap_err();
    let expected = format!(
        "{}:2:18: the file is not UTF-8 text (save it as UTF-8)",
        path.display()
    );
    assert_eq!(errors.to_string(), expected);
}

#[test]
fn a_file_on_disk_parses_like_a_string() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schedule.toml");
    let source = wheel_source(
        "",
        "[[task]]\nid = \"t\"\ntitle = \"T\"\nowner = \"chef\"\nevery = \"month\"\ndue = 1\n",
    );
    std::fs::write(&path, &source).unwrap();
    assert_eq!(read_wheel(&path).unwrap(), parse_ok(&source));
}

/// Inputs that have broken parsers before: deep nesting, odd numbers,
/// values of every type in every place.
#[test]
fn hand_picked_garbage_is_an_error_not_a_panic() {
    let nested = format!("a = {}{}", "[".repeat(5000), "]".repeat(5000));
    let inline = format!("a = {}{}", "{ b = ".repeat(3000), "}".repeat(3000));
    let shipped = std::fs::read_to_string(manifest_dir().join("schedule.toml")).unwrap();
    let mut inputs: Vec<String> = [
        "", "\u{feff}", "\0", "[[task]]", "[organisation]", "[organisation]\nname = 1", "organisation = 5",
        "[organisation]\nname = \"x\"\n[[task]]\nid = \"t\"\ntitle = \"t\"\nowner = 1\nevery = 2\ndue = []",
        "[organisation]\nname = \"x\"\n[[task]]\nid = \"t\"\ntitle = \"t\"\nowner = []\nevery = \"term\"\ndue = { year = -9223372036854775808, date = 1 }",
        "[organisation]\nname = \"x\"\n[[task]]\nid = \"t\"\ntitle = \"t\"\nowner = \"x\"\nevery = \"quarter\"\ndue = { month = 9223372036854775807, day = -1 }",
        "[organisation]\nname = \"x\"\n[[task]]\nid = \"t\"\ntitle = \"t\"\nowner = \"x\"\nevery = \"4294967297 years\"\ndue = 1979-05-27T07:32:00Z\nfirst = -5",
        "[organisation]\nname = \"x\"\nstart = 07:32:00\n[terms]\nstart = 1979-05-27T00:32:00.999999-07:00\nyears = 9223372036854775807",
        "task = [1, 2]", "[[task]]\n[[task.x]]", "people = 3", "[people]\na = 1", "defaults = []",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    inputs.push(nested);
    inputs.push(inline);
    inputs.push(shipped.replace('"', "\u{201c}"));
    inputs.push(shipped.replace('=', "= ["));
    for input in &inputs {
        assert!(
            parse(input, "schedule.toml").is_err(),
            "accepted: {input:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(source in "\\PC*") {
        let _ = parse(&source, "schedule.toml");
    }

    #[test]
    fn a_damaged_shipped_schedule_never_panics(cut in 0usize..20_000, at in 0usize..20_000, insert in "\\PC{0,3}") {
        let shipped = std::fs::read_to_string(manifest_dir().join("schedule.toml")).unwrap();
        let mut cut_at = cut.min(shipped.len());
        while !shipped.is_char_boundary(cut_at) {
            cut_at -= 1;
        }
        let truncated = &shipped[..cut_at];
        let _ = parse(truncated, "schedule.toml");

        let mut at = at.min(shipped.len());
        while !shipped.is_char_boundary(at) {
            at -= 1;
        }
        let mut edited = shipped.clone();
        edited.insert_str(at, &insert);
        if let Err(errors) = parse(&edited, "schedule.toml") {
            // Every error is placed inside the file (or is about the whole file).
            let lines = edited.lines().count() + 1;
            for e in &errors.0 {
                prop_assert!(e.line <= lines, "{e}");
                prop_assert!(!e.message.is_empty() && !e.message.ends_with('.'), "{e}");
            }
        }
    }
}

#[test]
fn a_greeting_is_read_as_written_and_none_when_empty() {
    let source = r#"[organisation]
name = "Testkommune"

[people.anne]
name = "Anne Hansen"
email = "anne@kommune.example"

[people.chef]
name = "Digitaliseringschefen"
email = "chef@kommune.example"
greeting = ""

[people.bo]
name = "Bo Berg"
email = "bo@kommune.example"
greeting = "Kære Bo,"

[[task]]
id = "t"
title = "En opgave"
owner = "chef"
every = "year"
due = "03-01"
"#;
    let wheel = parse_ok(source);
    assert_eq!(wheel.people["anne"].greeting, None);
    assert_eq!(wheel.people["chef"].greeting.as_deref(), Some(""));
    // The mail adds the comma; one written is not doubled.
    assert_eq!(wheel.people["bo"].greeting.as_deref(), Some("Kære Bo"));

    let bad = source.replace("greeting = \"Kære Bo,\"", "greeting = \"Kære\\nBo\"");
    let errors = parse_err(&bad);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("schedule.toml:16:12: person \"bo\": the greeting "),
        "{errors:?}"
    );

    // Every role of the shipped wheel is in definite form and has no greeting.
    let shipped = read_wheel(&manifest_dir().join("schedule.toml")).expect("the shipped wheel");
    for p in shipped.people.values() {
        assert_eq!(p.greeting.as_deref(), Some(""), "{}", p.key);
    }
}
