//! The binary as users run it: exit codes, error lines, JSON shapes, and a
//! scripted year of ticks with the file transport.

use std::path::Path;

use crate::support::fixtures::{anna_wheel, testkommune_wheel};
use crate::support::fixtures::{assert_contains, eml_count};
use crate::support::Scratch;

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

#[test]
fn the_shipped_wheel_is_valid() {
    let s = Scratch::new("");
    let run = s
        .run(&[
            "--schedule",
            &repo("schedule.toml"),
            "check",
            "--now",
            "2026-11-28",
        ])
        .expect(0);
    assert_contains(run.stdout(), "Ballerup Kommune");
    assert_contains(run.stdout(), "Next due:");
    // Every task of the shipped wheel fires within five years.
    assert!(!run.stdout().contains("Never due"), "{}", run.stdout());
}

/// A coordinator's typo, `first = 2207` for 2027 in a three-yearly task,
/// makes a rule that never fires in the years anyone looks at: `check`
/// says which task. A six-yearly task silent for five years is its rule,
/// not a typo, and is not named.
#[test]
fn check_names_a_task_whose_rule_does_not_fire_in_five_years() {
    let s = Scratch::new(anna_wheel!(
        r#"
[[task]]
id = "risk-assessment"
title = "Risikovurdering"
owner = "anna"
every = "3 years"
first = 2207
due = "03-01"

[[task]]
id = "archive-review"
title = "Arkivgennemgang"
owner = "anna"
every = "6 years"
first = 2033
due = "06-30"

[[task]]
id = "policy-review"
title = "Gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"
"#
    ));
    let run = s.run(&["--now", "2027-01-15", "check"]).expect(0);
    let out = run.stdout();
    assert!(
        out.ends_with(
            "Never due in the next five years, though their rule recurs within five (is `first` or `start` right?):\n  risk-assessment\n"
        ),
        "{out}"
    );
    assert!(!out.contains("  archive-review\n"), "{out}");
    // The yearly task is listed as due, 1 March 2027 first.
    assert!(
        out.contains(
            "  2027-03-01  policy-review            2027       Gennemgang af politikken\n"
        ),
        "{out}"
    );
}

/// A wrong `start` can silence thousands of tasks: `check` names the
/// first 20 and counts the rest instead of printing a line for each.
#[test]
fn check_names_at_most_twenty_never_due_tasks_and_counts_the_rest() {
    let mut wheel = String::from(anna_wheel!(r#""#));
    for i in 0..25 {
        wheel.push_str(&format!(
            "\n[[task]]\nid = \"silent-{i:02}\"\ntitle = \"Opgave {i}\"\nowner = \"anna\"\nevery = \"3 years\"\nfirst = 2207\ndue = \"03-01\"\n"
        ));
    }
    let run = Scratch::new(&wheel)
        .run(&["--now", "2027-01-15", "check"])
        .expect(0);
    let out = run.stdout();
    assert_contains(&out, "  silent-19\n  … and 5 more\n");
    assert!(!out.contains("silent-20"), "{out}");
}

#[test]
fn every_bad_wheel_is_refused_with_its_place() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_wheels");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/bad_wheels") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be `# expect: ...`", path.display()));
        let s = Scratch::new(&text);
        let run = s.run(&["check"]).expect(2);
        let first = run.stderr().lines().next().unwrap_or("").to_string();
        assert_eq!(first, expected, "{}", path.display());
        assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} bad wheels found");
}

#[test]
fn a_missing_wheel_is_a_clear_error() {
    let s = Scratch::new("");
    std::fs::remove_file(s.file("schedule.toml")).expect("rm");
    let run = s.run(&["check"]).expect(2);
    assert!(
        run.stderr().starts_with("schedule.toml: cannot read"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_stray_environment_variable_does_not_break_the_program() {
    let s = Scratch::new("");
    s.run_env(
        &["--schedule", &repo("schedule.toml"), "check"],
        &[("ARSHJUL_FOO", "1"), ("ARSHJUL_LOG", "x")],
    )
    .expect(0);
}

#[test]
fn a_bad_setting_names_the_key() {
    let s = Scratch::new("");
    std::fs::write(s.file("arshjul.toml"), "[mail]\ntransport = \"pigeon\"\n").expect("write");
    let run = s
        .run(&["--schedule", &repo("schedule.toml"), "check"])
        .expect(2);
    assert_contains(run.stderr(), "mail.transport");
}

const WHEEL: &str = testkommune_wheel!(
    r#"holidays = "dk"
closed = ["12-24", "12-31"]
start = 2027-01-01

[defaults]
remind = ["30d", "7d", "1d"]
repeat = "7d"
escalate = [ { after = "7d", to = "bo" }, { after = "30d", to = "carl" } ]

[people.anna]
name = "Anna Ærø"
email = "anna@example.dk"

[people.bo]
name = "Bo"
email = "bo@example.dk"

[people.carl]
name = "Carl"
email = "carl@example.dk"

[[task]]
id = "policy-review"
title = "Årlig gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"
reference = "ISO/IEC 27001:2022 5.2"
description = "Gennemgå politikken."
"#
);

#[test]
fn plan_json_has_the_contract_shape() {
    let s = Scratch::new(WHEEL);
    let v = s
        .run(&[
            "plan",
            "--from",
            "2027-03-01",
            "--to",
            "2027-03-08",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(v["from"], "2027-03-01");
    assert_eq!(v["to"], "2027-03-08");
    let events = v["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{v}");
    assert_eq!(events[0]["kind"], "due");
    assert_eq!(events[0]["date"], "2027-03-01");
    assert_eq!(events[0]["at"], "2027-03-01T08:00:00+01:00");
    assert_eq!(events[0]["to"][0], "anna@example.dk");
    assert_eq!(events[1]["kind"], "escalation");
    assert_eq!(events[1]["level"], 1);
    assert_eq!(events[1]["to"][0], "bo@example.dk");
}

#[test]
fn plan_refuses_a_reversed_range() {
    let s = Scratch::new(WHEEL);
    s.run(&["plan", "--from", "2027-03-08", "--to", "2027-03-01"])
        .expect(2);
}

#[test]
fn plan_refuses_a_range_too_large_to_list_and_names_the_way_out() {
    // Every occurrence repeats weekly until the range ends: to 9999 the
    // shipped wheel would list billions of events. Refused at once (exit 2)
    // with the bound, and nothing on stdout.
    let s = Scratch::new("");
    let shipped = repo("schedule.toml");
    let run = s
        .run(&[
            "--schedule",
            &shipped,
            "plan",
            "--from",
            "2026-01-01",
            "--to",
            "9999-12-31",
        ])
        .expect(2);
    let err = run.stderr();
    assert!(
        err.contains("--from 2026-01-01 --to 9999-12-31 could list up to")
            && err.contains("one run lists at most 5000000")
            && err.contains("--task"),
        "{err}"
    );
    assert_eq!(run.stdout(), "");
    // Ten years of the same wheel are listed as before.
    let run = s
        .run(&[
            "--schedule",
            &shipped,
            "plan",
            "--from",
            "2026-01-01",
            "--to",
            "2035-12-31",
        ])
        .expect(0);
    assert!(run.stdout().lines().count() > 1000, "{}", run.stdout());
}

#[test]
fn a_scripted_season_of_ticks_status_done_and_history() {
    let s = Scratch::new(WHEEL);
    let outbox = s.file("outbox");
    // Before the first reminder: nothing, but the database exists.
    s.run(&["tick", "--now", "2027-01-20T09:00:00+01:00"])
        .expect(0);
    assert_eq!(eml_count(&outbox), 0);
    let v = s
        .run(&["status", "--json", "--now", "2027-01-20T09:00:00+01:00"])
        .expect(0)
        .json();
    assert_eq!(v["tasks"][0]["state"], "upcoming");
    assert_eq!(v["tasks"][0]["period"], "2027");
    assert_eq!(v["tasks"][0]["due"], "2027-03-01");
    assert_eq!(v["tasks"][0]["last_done"], serde_json::Value::Null);

    // The 30-day reminder (moved to Friday 29 January).
    s.run(&["tick", "--now", "2027-01-29T08:00:00+01:00"])
        .expect(0);
    assert_eq!(eml_count(&outbox), 1);
    // The same morning again: nothing twice.
    s.run(&["tick", "--now", "2027-01-29T08:30:00+01:00"])
        .expect(0);
    assert_eq!(eml_count(&outbox), 1);

    // Down until 9 March, 39 days: more than max_clock_jump (35d), so the
    // brake holds the pass until the operator lets it through.
    let held = s
        .run(&["tick", "--now", "2027-03-09T10:00:00+01:00"])
        .expect(1);
    assert_contains(held.stderr(), "held: the clock jumped");
    assert_eq!(eml_count(&outbox), 1);
    // Let through, the catch-up rule holds: the escalation to bo (Cc anna)
    // is enough.
    s.run(&[
        "tick",
        "--accept-burst",
        "--now",
        "2027-03-09T10:00:00+01:00",
    ])
    .expect(0);
    assert_eq!(eml_count(&outbox), 2);
    let v = s
        .run(&["status", "--json", "--now", "2027-03-09T10:00:00+01:00"])
        .expect(0)
        .json();
    let row = &v["tasks"][0];
    assert_eq!(row["state"], "overdue");
    assert_eq!(row["days_overdue"], 8);
    assert_eq!(row["escalation_level"], 1);
    assert_eq!(row["owner"][0], "anna");

    // Done by hand: no more repeats or escalations.
    s.run(&[
        "done",
        "policy-review",
        "--by",
        "anna@example.dk",
        "--note",
        "Gennemgået på mødet",
        "--now",
        "2027-03-10T11:00:00+01:00",
    ])
    .expect(0);
    let again = s
        .run(&[
            "done",
            "policy-review",
            "--period",
            "2027",
            "--now",
            "2027-03-10T12:00:00+01:00",
        ])
        .expect(0);
    assert_contains(again.stdout(), "already done");
    // 51 days on: let through (a held pass would send nothing whatever the
    // completion), so that this shows the completion stops the repeats.
    s.run(&[
        "tick",
        "--accept-burst",
        "--now",
        "2027-04-30T10:00:00+02:00",
    ])
    .expect(0);
    assert_eq!(eml_count(&outbox), 2);

    let v = s
        .run(&["status", "--json", "--now", "2027-04-30T10:00:00+02:00"])
        .expect(0)
        .json();
    let row = &v["tasks"][0];
    assert_eq!(row["period"], "2028");
    assert_eq!(row["state"], "upcoming");
    assert_eq!(row["last_done"]["period"], "2027");
    assert_eq!(row["last_done"]["by"], "anna@example.dk");
    assert_eq!(row["last_done"]["via"], "cli");
    assert_eq!(row["last_done"]["at"], "2027-03-10T11:00:00+01:00");

    let h = s.run(&["history", "--json"]).expect(0).json();
    assert_eq!(h["completions"].as_array().map(Vec::len), Some(1));
    assert_eq!(h["completions"][0]["note"], "Gennemgået på mødet");
    let kinds: Vec<&str> = h["notifications"]
        .as_array()
        .expect("n")
        .iter()
        .filter_map(|n| n["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["escalation", "reminder"]);
    assert_eq!(h["notifications"][0]["to"], "bo@example.dk");
}

#[test]
fn done_names_an_unknown_task_or_period() {
    let s = Scratch::new(WHEEL);
    let run = s.run(&["done", "nope", "--now", "2027-03-10"]).expect(2);
    assert_contains(run.stderr(), "unknown task \"nope\"");
    let run = s
        .run(&[
            "done",
            "policy-review",
            "--period",
            "2027-Q1",
            "--now",
            "2027-03-10",
        ])
        .expect(2);
    assert_contains(run.stderr(), "no period \"2027-Q1\"");
}

#[test]
fn backfilled_completion_keeps_its_date() {
    let s = Scratch::new(WHEEL);
    s.run(&[
        "done",
        "policy-review",
        "--period",
        "2027",
        "--at",
        "2027-02-20",
        "--by",
        "anna",
        "--now",
        "2027-03-10",
    ])
    .expect(0);
    let h = s
        .run(&["history", "policy-review", "--json"])
        .expect(0)
        .json();
    assert_eq!(h["completions"][0]["at"], "2027-02-20T12:00:00+01:00");
}

/// `arshjul check | head -1`: the reader goes away before the report is
/// written. The command ends quietly (exit 0), never with a panic and a
/// backtrace (it used `println!`, which panics on a closed pipe).
#[test]
fn check_into_a_closed_pipe_ends_quietly() {
    use std::process::Stdio;
    let s = Scratch::new(&std::fs::read_to_string(repo("schedule.toml")).expect("wheel"));
    for args in [
        &["check"][..],
        &["--now", "2027-03-02", "done", "policy-review"][..],
    ] {
        let mut child = crate::support::arshjul(s.path())
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn arshjul");
        // Close the reading end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

/// `done --by ""` (a script's `--by "$WHO"` with WHO unset) is the login
/// name, as for `undo`: a completion is never attributed to no one.
#[test]
fn done_with_a_blank_by_records_the_login_name() {
    let s = Scratch::new(&std::fs::read_to_string(repo("schedule.toml")).expect("wheel"));
    for (task, by) in [("policy-review", ""), ("access-review-hr", "  ")] {
        let out = s
            .run_env(
                &["--now", "2027-03-02", "done", task, "--by", by],
                &[("SUDO_USER", ""), ("USER", "kirsten"), ("LOGNAME", "")],
            )
            .expect(0)
            .stdout();
        assert!(out.ends_with(" by kirsten\n"), "{out}");
    }
    let v = s.run(&["history", "--json"]).expect(0).json();
    let bys: Vec<&str> = v["completions"]
        .as_array()
        .expect("completions")
        .iter()
        .map(|c| c["by"].as_str().expect("by"))
        .collect();
    assert_eq!(bys, ["kirsten", "kirsten"], "{v}");
}
