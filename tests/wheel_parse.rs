//! The wheel parser as a user meets it: every bad wheel in `tests/bad_wheels`
//! gives the error its first line promises, good wheels become the right
//! types, and the shipped `schedule.toml` parses.

use std::path::{Path, PathBuf};

use arshjul::wheel::{
    parse, parse_file, Anchor, ClosedDay, Days, EscalationStep, HolidayRule, Language, Recurrence,
    Terms, Wheel,
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
