//! `arshjul report`: a scripted year through the real binary, its figures
//! computed here independently from `history --json`; term keys; `--out`;
//! hostile text escaped; the HTML printed to PDF by headless Chromium at
//! A4 width.

use std::collections::BTreeMap;
use std::process::Command;

use chrono::NaiveDate;
use serde_json::Value;

use crate::support::fixtures::{anna_wheel, testkommune_wheel, year_2027_report};
use crate::support::{browser, Scratch};

const WHEEL: &str = testkommune_wheel!(
    r#"holidays = "dk"
start = 2027-01-01

[terms]
start = 2022-01-01
years = 4

[people.anna]
name = "Anna Andersen"
email = "anna@example.dk"

[people.chef]
name = "Chefen"
email = "chef@example.dk"

[[task]]
id = "monthly"
title = "Månedlig kontrol af adgange"
owner = "anna"
every = "month"
due = 10
remind = ["3d"]
repeat = "7d"
escalate = [{ after = "5d", to = "chef" }]

[[task]]
id = "annual"
title = "Årlig gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"
remind = ["14d"]
repeat = "7d"
escalate = [{ after = "3d", to = "chef" }]

[[task]]
id = "quarterly"
title = "Kvartalsvis opfølgning"
owner = "anna"
every = "quarter"
due = { month = 3, day = 15 }
remind = ["7d"]
escalate = [{ after = "7d", to = "chef" }]
"#
);

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// What happens on a day of the scripted year, besides the pass.
enum Act {
    Done(&'static str, &'static str),
    Undo(&'static str, &'static str),
}

/// Completions on time, late, never (monthly 2027-05 and 2027-07,
/// quarterly Q2, monthly 2027-12), and one undone (monthly 2027-04).
const SCRIPT: &[(&str, Act)] = &[
    ("2027-01-08", Act::Done("monthly", "2027-01")),
    ("2027-02-20", Act::Done("monthly", "2027-02")),
    ("2027-03-05", Act::Done("annual", "2027")),
    ("2027-03-10", Act::Done("monthly", "2027-03")),
    ("2027-03-14", Act::Done("quarterly", "2027-Q1")),
    ("2027-04-12", Act::Done("monthly", "2027-04")),
    ("2027-04-13", Act::Undo("monthly", "2027-04")),
    ("2027-06-09", Act::Done("monthly", "2027-06")),
    ("2027-08-30", Act::Done("monthly", "2027-08")),
    ("2027-09-09", Act::Done("monthly", "2027-09")),
    ("2027-09-30", Act::Done("quarterly", "2027-Q3")),
    ("2027-10-10", Act::Done("monthly", "2027-10")),
    ("2027-11-25", Act::Done("monthly", "2027-11")),
    ("2027-12-01", Act::Done("quarterly", "2027-Q4")),
];

/// Every occurrence of the wheel in 2027, with its due date, as the wheel
/// says (written out here, not asked of arshjul).
fn dues() -> BTreeMap<(String, String), NaiveDate> {
    let mut out = BTreeMap::new();
    for m in 1..=12 {
        out.insert(
            ("monthly".to_string(), format!("2027-{m:02}")),
            day(&format!("2027-{m:02}-10")),
        );
    }
    out.insert(("annual".into(), "2027".into()), day("2027-03-01"));
    for (q, m) in [(1, 3), (2, 6), (3, 9), (4, 12)] {
        out.insert(
            ("quarterly".into(), format!("2027-Q{q}")),
            day(&format!("2027-{m:02}-15")),
        );
    }
    out
}

/// Runs the year: a pass every third day, the script's completions (at
/// 10:00 that day) and retractions before the pass.
fn scripted_year() -> Scratch {
    let s = Scratch::new(WHEEL);
    let mut d = day("2027-01-01");
    let mut n = 0;
    while d <= day("2027-12-31") {
        let now = format!("{d}T12:00:00+01:00");
        for (when, act) in SCRIPT.iter().filter(|(when, _)| day(when) == d) {
            match act {
                Act::Done(task, period) => {
                    let at = format!("{when}T10:00:00+01:00");
                    s.run(&[
                        "--now", &now, "done", task, "--period", period, "--by", "anna", "--at",
                        &at,
                    ])
                    .expect(0);
                }
                Act::Undo(task, period) => {
                    s.run(&[
                        "--now", &now, "undo", task, "--period", period, "--reason", "fejl",
                        "--by", "coord",
                    ])
                    .expect(0);
                }
            }
        }
        if n % 3 == 0 {
            s.run(&["--now", &now, "tick"]).expect(0);
        }
        n += 1;
        d = d.succ_opt().unwrap();
    }
    s
}

/// The figures of one occurrence, computed from `history --json` alone.
#[derive(Debug, PartialEq)]
struct Expected {
    state: &'static str,
    days_late: Option<i64>,
    escalation_level: u64,
    messages: u64,
    by: Option<String>,
}

#[test]
fn a_scripted_year_gives_the_figures_history_gives() {
    let s = scripted_year();
    let history = s.run(&["history", "--json"]).expect(0).json();
    let today = day("2027-12-31");
    let mut expected = BTreeMap::new();
    for ((task, period), due) in dues() {
        let standing: Vec<&Value> = history["completions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["task"] == task && c["period"] == period && c["retracted"] == false)
            .collect();
        assert!(standing.len() <= 1);
        let sent: Vec<&Value> = history["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["task"] == task && m["period"] == period && m["state"] == "sent")
            .collect();
        let escalations = sent.iter().filter(|m| m["kind"] == "escalation").count() as u64;
        let e = match standing.first() {
            Some(c) => {
                let done = day(&c["at"].as_str().unwrap()[..10]);
                Expected {
                    state: "done",
                    days_late: Some((done - due).num_days().max(0)),
                    escalation_level: escalations,
                    messages: sent.len() as u64,
                    by: Some(c["by"].as_str().unwrap().to_string()),
                }
            }
            None => {
                assert!(
                    due < today,
                    "every occurrence of 2027 is past by 31 December"
                );
                Expected {
                    state: "overdue",
                    days_late: Some((today - due).num_days()),
                    escalation_level: escalations,
                    messages: sent.len() as u64,
                    by: None,
                }
            }
        };
        expected.insert((task, period), e);
    }

    let report = s
        .run(&year_2027_report("2027-12-31", "json"))
        .expect(0)
        .json();
    assert_eq!(report["organisation"], "Testkommune");
    assert_eq!(report["from"], "2027-01-01");
    assert_eq!(report["to"], "2027-12-31");
    let mut got = BTreeMap::new();
    for task in report["tasks"].as_array().unwrap() {
        for o in task["occurrences"].as_array().unwrap() {
            let key = (
                task["id"].as_str().unwrap().to_string(),
                o["period"].as_str().unwrap().to_string(),
            );
            assert_eq!(
                day(o["due"].as_str().unwrap()),
                dues()[&key],
                "due of {key:?}"
            );
            let state = match o["state"].as_str().unwrap() {
                "done" => "done",
                "overdue" => "overdue",
                other => panic!("{key:?} is {other} on 31 December"),
            };
            got.insert(
                key,
                Expected {
                    state,
                    days_late: o["days_late"].as_i64(),
                    escalation_level: o["escalation_level"].as_u64().unwrap(),
                    messages: o["messages"].as_array().unwrap().len() as u64,
                    by: o["by"]["mailbox"].as_str().map(str::to_string),
                },
            );
        }
    }
    assert_eq!(got, expected);

    // The summary, from the same independent figures.
    let done: Vec<&Expected> = expected.values().filter(|e| e.state == "done").collect();
    let on_time = done.iter().filter(|e| e.days_late == Some(0)).count() as u64;
    let late = done.len() as u64 - on_time;
    let overdue = expected.values().filter(|e| e.state == "overdue").count() as u64;
    let escalations: u64 = expected.values().map(|e| e.escalation_level).sum();
    let summary = &report["summary"];
    assert_eq!(summary["due"], expected.len() as u64, "{summary}");
    assert_eq!(summary["done_on_time"], on_time, "{summary}");
    assert_eq!(summary["done_late"], late, "{summary}");
    assert_eq!(summary["open"], 0, "{summary}");
    assert_eq!(summary["overdue"], overdue, "{summary}");
    assert_eq!(summary["escalations"], escalations, "{summary}");
    let share = on_time as f64 / (on_time + late + overdue) as f64;
    assert!(
        (summary["on_time_share"].as_f64().unwrap() - share).abs() < 1e-12,
        "{summary}"
    );
    // The script's own shape: the undone month counts as not done, and the
    // year has all four kinds of outcome.
    assert_eq!(
        expected[&("monthly".into(), "2027-04".into())].state,
        "overdue"
    );
    assert!(on_time >= 3 && late >= 3 && overdue >= 4 && escalations >= 4);
    let undone = report["tasks"][0]["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["period"] == "2027-04")
        .unwrap()
        .clone();
    assert_eq!(undone["retracted"][0]["reason"], "fejl", "{undone}");
    assert_eq!(report["chain"]["ok"], true);
    assert!(report["chain"]["rows"].as_u64().unwrap() > 0);

    // The same year as a Markdown and an HTML file.
    let md = s
        .run(&year_2027_report("2027-12-31", "md"))
        .expect(0)
        .stdout();
    assert!(
        md.contains("| 2027-04 | 2027-04-10 | overskredet |"),
        "{md}"
    );
    html_prints_to_a4_pdf(&s, "a scripted year");
}

/// Writes the 2026-2029 term's HTML report with `--out` and has headless
/// Chromium check it at A4 width and print it to PDF.
fn html_prints_to_a4_pdf(s: &Scratch, what: &str) {
    let out = s.file("byraad.html");
    s.run(&[
        "--now",
        "2027-12-31",
        "report",
        "--term",
        "2026-2029",
        "--out",
        out.to_str().unwrap(),
    ])
    .expect(0);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"da\">"));
    assert!(html.contains("Valgperiode 2026-2029: 1. januar 2026 – 31. december 2029"));
    if !browser::ready(&format!("the report's browser check ({what})")) {
        return;
    }
    let pdf = s.file("byraad.pdf");
    let (stdout, _) = browser::node(
        "report.mjs",
        &[&out.to_string_lossy(), &pdf.to_string_lossy()],
    );
    // "ok PAGES": the PDF has pages, and it is a PDF.
    let pages: u32 = stdout
        .trim()
        .strip_prefix("ok ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(pages >= 1, "{stdout}");
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-") && bytes.len() > 1000);
}

#[test]
fn a_term_key_the_wheel_has_not_is_bad_input() {
    let s = Scratch::new(WHEEL);
    let r = s.run(&["report", "--term", "2027-2030"]).expect(2);
    assert_eq!(
        r.stderr().trim(),
        "--term \"2027-2030\": the wheel's terms do not have it; the term of 2027 is 2026-2029"
    );
    let r = s.run(&["report", "--term", "næste"]).expect(2);
    assert!(
        r.stderr()
            .contains("not an election term; expected FIRST-LAST"),
        "{}",
        r.stderr()
    );
    let r = s
        .run(&["report", "--from", "2027-02-01", "--to", "2027-01-01"])
        .expect(2);
    assert_eq!(
        r.stderr().trim(),
        "--to 2027-01-01 is before --from 2027-02-01"
    );
    s.run(&[
        "report",
        "--term",
        "2026-2029",
        "--from",
        "2027-01-01",
        "--to",
        "2027-02-01",
    ])
    .expect(2);
    s.run(&["report"]).expect(2);
}

#[test]
fn a_range_of_millennia_is_refused_before_anything_is_expanded() {
    let s = Scratch::new(WHEEL);
    s.run(&["--now", "2027-03-20", "tick"]).expect(0);
    // Expanded, this was every month of 8,000 years per task: seconds of
    // work and tens of megabytes for this small wheel, gigabytes of memory
    // for a wheel of hundreds of tasks.
    let r = s
        .run(&[
            "--now",
            "2027-03-20",
            "report",
            "--from",
            "0001-01-01",
            "--to",
            "9999-12-31",
            "--format",
            "json",
        ])
        .expect(2);
    assert_eq!(r.stdout(), "");
    assert!(
        r.stderr()
            .starts_with("--from 0001-01-01 --to 9999-12-31: the report could hold up to ")
            && r.stderr().contains("one report holds at most 100000"),
        "{}",
        r.stderr()
    );
    // A long but sensible range is still a report.
    let r = s
        .run(&[
            "--now",
            "2027-03-20",
            "report",
            "--from",
            "2001-01-01",
            "--to",
            "2100-12-31",
            "--format",
            "json",
        ])
        .expect(0);
    let v: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(v["to"], "2100-12-31");
}

#[test]
fn out_is_written_whole_or_not_at_all() {
    let s = Scratch::new(WHEEL);
    s.run(&["--now", "2027-03-20", "tick"]).expect(0);
    let out = s.file("rapport.json");
    std::fs::write(&out, "old").unwrap();
    let args = |path: &str| {
        vec![
            "--now".to_string(),
            "2027-03-20".into(),
            "report".into(),
            "--term".into(),
            "2026-2029".into(),
            "--format".into(),
            "json".into(),
            "--out".into(),
            path.to_string(),
        ]
    };
    let a = args(out.to_str().unwrap());
    let r = s
        .run(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .expect(0);
    assert_eq!(r.stdout(), "", "nothing on stdout with --out");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written["term"], "2026-2029");
    // A directory that is not there: exit 1, and no file left behind.
    let missing = s.file("no-such-dir/rapport.json");
    let a = args(missing.to_str().unwrap());
    let r = s
        .run(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .expect(1);
    assert!(r.stderr().starts_with("cannot write "), "{}", r.stderr());
    // PATH is a directory: the temporary file is written, the rename
    // fails, exit 1, the directory is untouched and the temporary file gone.
    let dir = s.file("a-dir");
    std::fs::create_dir(&dir).unwrap();
    let a = args(dir.to_str().unwrap());
    let r = s
        .run(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .expect(1);
    assert!(r.stderr().starts_with("cannot write "), "{}", r.stderr());
    assert!(dir.is_dir());
    let left: Vec<_> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn out_follows_a_symlink_and_never_replaces_a_pipe_or_device() {
    let s = Scratch::new(WHEEL);
    let report = |path: &std::path::Path| {
        let p = path.to_str().unwrap().to_string();
        let args = [
            "--now",
            "2027-03-20",
            "report",
            "--term",
            "2026-2029",
            "--format",
            "json",
            "--out",
            &p,
        ];
        s.run(&args)
    };
    // A link to the council case's file: the file gets the report, the
    // link stays a link.
    let real = s.file("rapport.json");
    std::fs::write(&real, "old").unwrap();
    let link = s.file("seneste.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    report(&link).expect(0);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&real).unwrap()).unwrap();
    assert_eq!(written["term"], "2026-2029");
    // A named pipe (as /dev/null or /dev/stdout would be a device or a
    // pipe): refused with exit 1, and still a pipe afterwards.
    let fifo = s.file("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let r = report(&fifo).expect(1);
    assert!(r.stderr().contains("not a regular file"), "{}", r.stderr());
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn long_words_wrap_in_the_report_on_a_phone_and_on_a4() {
    // One word of 100 letters in the title, a reference without spaces and
    // a long name: at 390 px they widened the page (a sideways scrollbar).
    let wheel = WHEEL.replace(
        "title = \"Kvartalsvis opfølgning\"",
        "title = \"Informationssikkerhedspolitikkensgodkendelsesprocedurebeskrivelsesdokumentgennemgangsopgaven i kommunen\"\n\
         reference = \"ISO/IEC27001:2022-A.5.15,A.5.18,A.5.19,A.5.20,A.5.21,A.5.22,A.5.23,A.5.24\"",
    );
    assert_ne!(wheel, WHEEL);
    let s = Scratch::new(&wheel);
    s.run(&["--now", "2027-03-20", "tick"]).expect(0);
    s.run(&[
        "--now",
        "2027-03-20",
        "done",
        "quarterly",
        "--period",
        "2027-Q1",
        "--by",
        "Bjørnstjernebjørnsonsensønderjyskeadministrationsmedarbejderkoordinatorassistent",
    ])
    .expect(0);
    html_prints_to_a4_pdf(&s, "long words");
}

#[test]
fn hostile_titles_and_notes_are_escaped_in_html_and_markdown() {
    let wheel = WHEEL.replace(
        "title = \"Kvartalsvis opfølgning\"",
        "title = \"<img src=x onerror=alert(1)> & </table> | *fed*\"",
    );
    let s = Scratch::new(&wheel);
    s.run(&["--now", "2027-03-20", "tick"]).expect(0);
    s.run(&[
        "--now",
        "2027-03-20",
        "done",
        "quarterly",
        "--period",
        "2027-Q1",
        "--note",
        "<script>alert(2)</script>\n| linje to \u{1b}[31m",
    ])
    .expect(0);
    let report = |format: &str| {
        s.run(&[
            "--now",
            "2027-03-20",
            "report",
            "--from",
            "2027-01-01",
            "--to",
            "2027-03-31",
            "--format",
            format,
        ])
        .expect(0)
        .stdout()
    };
    let html = report("html");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &lt;&#x2f;table&gt; | *fed*"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(2)&lt;&#x2f;script&gt;\n| linje to \\u{1b}[31m"),
        "{html}"
    );
    assert!(!html.contains("<script") && !html.contains("<img") && !html.contains('\u{1b}'));
    assert_eq!(
        html.matches("</table>").count(),
        html.matches("<table").count()
    );
    let md = report("md");
    assert!(
        md.contains("### &lt;img src=x onerror=alert(1)&gt; &amp; &lt;/table&gt; \\| \\*fed\\*"),
        "{md}"
    );
    assert!(
        md.contains("&lt;script&gt;alert(2)&lt;/script&gt;<br>\\| linje to \\\\u{1b}\\[31m"),
        "{md}"
    );
    assert!(!md.contains('\u{1b}'));
    // JSON is exact.
    let json: Value = serde_json::from_str(&report("json")).unwrap();
    assert_eq!(
        json["tasks"][2]["occurrences"][0]["note"],
        "<script>alert(2)</script>\n| linje to \u{1b}[31m"
    );
}

/// With `mail.bundle` (the default), one mail carries several tasks'
/// messages: the report counts each part as its own occurrence's message,
/// escalations and their levels included, as it does without bundling.
#[test]
fn bundled_messages_count_for_their_own_occurrences() {
    let s = Scratch::new(anna_wheel!(
        r#"
[people.chef]
name = "Chefen"
email = "chef@kommune.example"

[defaults]
remind = ["7d"]
repeat = "0d"
escalate = [ { after = "7d", to = "chef" } ]

[[task]]
id = "policy-review"
title = "Gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"

[[task]]
id = "backup-test"
title = "Test af backup"
owner = "anna"
every = "year"
due = "03-01"
"#
    ));
    let bundle = [("ARSHJUL_MAIL__BUNDLE", "true")];
    // Monday 22 February 2027: both reminders, one mail to Anna; Monday
    // 8 March: both escalations, one mail to the chief.
    for now in ["2027-02-22T09:00:00+01:00", "2027-03-08T09:00:00+01:00"] {
        s.run_env(&["--now", now, "tick"], &bundle).expect(0);
    }
    assert_eq!(crate::support::fixtures::eml_count(&s.file("outbox")), 2);
    let r = s
        .run(&year_2027_report("2027-03-09", "json"))
        .expect(0)
        .json();
    for task in r["tasks"].as_array().unwrap() {
        let occ = &task["occurrences"][0];
        let kinds: Vec<(&str, u64, &str)> = occ["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap(),
                    m["level"].as_u64().unwrap(),
                    m["to"][0].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("reminder", 0, "anna@kommune.example"),
                ("escalation", 1, "chef@kommune.example")
            ],
            "{}: {r}",
            task["id"]
        );
        assert_eq!(occ["escalation_level"], 1, "{r}");
        // The escalation copied the owner: the report says so.
        assert_eq!(
            occ["messages"][1]["cc"],
            serde_json::json!(["anna@kommune.example"]),
            "{r}"
        );
        assert_eq!(occ["messages"][0]["cc"], serde_json::json!([]), "{r}");
    }
    assert_eq!(r["summary"]["escalations"], 2, "{r}");
}
