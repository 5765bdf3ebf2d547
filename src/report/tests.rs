//! The report model from literal records: states, lateness, retractions,
//! the summary's arithmetic and the term range.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use super::*;
use crate::store::{ReportCompletion, ReportData, ReportMessage, ReportRetraction};
use crate::wheel::{self, Wheel};

const WHEEL: &str = r#"
[organisation]
name = "Testkommune"
timezone = "Europe/Copenhagen"
language = "da"
send_time = "08:00"
holidays = "dk"
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
id = "quarterly"
title = "Kvartalsvis <kontrol> & opfølgning"
owner = "anna"
every = "quarter"
due = { month = 3, day = 15 }
remind = ["7d"]
escalate = [{ after = "7d", to = "chef" }]

[[task]]
id = "council"
title = "Byrådets godkendelse"
owner = "anna"
every = "term"
due = { year = 2, date = "06-30" }
"#;

fn wheel() -> Wheel {
    wheel::parse(WHEEL, "test.toml").unwrap()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn now(text: &str) -> DateTime<Utc> {
    at(text).with_timezone(&Utc)
}

fn completion(id: i64, task: &str, period: &str, when: &str) -> ReportCompletion {
    ReportCompletion {
        id,
        task: task.into(),
        period: period.into(),
        at: at(when),
        by: "anna@example.dk".into(),
        via: "link".into(),
        note: None,
        performed_by: None,
        retracted: None,
    }
}

fn chain() -> Chain {
    Chain {
        ok: true,
        rows: 0,
        head: String::new(),
        broken: None,
    }
}

fn build_at(data: &ReportData, range: &Range, when: &str) -> Report {
    let wheel = wheel();
    build(
        &wheel,
        data,
        &History::default(),
        range,
        now(when),
        chain(),
        |id| {
            Ok::<_, ()>(vec![Evidence {
                name: format!("bilag-{id}.pdf"),
                bytes: 10,
                sha256: "ab".repeat(32),
            }])
        },
    )
    .unwrap()
}

fn year_2027() -> Range {
    Range {
        from: day(2027, 1, 1),
        to: day(2027, 12, 31),
        term: None,
    }
}

#[test]
fn a_term_key_covers_the_term_and_a_wrong_one_is_refused() {
    let w = wheel();
    assert_eq!(
        Range::term(&w, "2026-2029").unwrap(),
        Range {
            from: day(2026, 1, 1),
            to: day(2029, 12, 31),
            term: Some("2026-2029".into())
        }
    );
    assert_eq!(
        Range::term(&w, "2027-2030").unwrap_err().to_string(),
        "--term \"2027-2030\": the wheel's terms do not have it; the term of 2027 is 2026-2029"
    );
    assert!(matches!(Range::term(&w, "2026"), Err(TermError::Shape(..))));
    assert!(matches!(
        Range::term(&w, "26-29"),
        Err(TermError::Shape(..))
    ));
}

#[test]
fn states_lateness_and_the_summary_of_a_year() {
    let mut late = completion(2, "quarterly", "2027-Q2", "2027-06-20T09:00:00+02:00");
    late.note = Some("sent | fordi\nferie".into());
    let mut undone = completion(3, "quarterly", "2027-Q3", "2027-09-10T09:00:00+02:00");
    undone.retracted = Some(ReportRetraction {
        at: at("2027-09-11T10:00:00+02:00"),
        by: "coord".into(),
        reason: "fejl".into(),
    });
    let data = ReportData {
        completions: vec![
            // Q1 due 2027-03-15, done on the due day: on time.
            completion(1, "quarterly", "2027-Q1", "2027-03-15T16:00:00+01:00"),
            // Q2 due 2027-06-15, done 5 days late.
            late,
            undone,
        ],
        messages: vec![ReportMessage {
            task: "quarterly".into(),
            period: "2027-Q2".into(),
            kind: "escalation".into(),
            step: 1,
            to: vec!["chef@example.dk".into()],
            cc: vec!["anna@example.dk".into()],
            sent_at: Some(at("2027-06-22T08:00:00+02:00")),
        }],
        ..ReportData::default()
    };
    // As of 2027-12-10: Q3 (due 09-15) was retracted, so overdue; Q4 (due
    // 12-15) opened on its reminder day 12-08.
    let r = build_at(&data, &year_2027(), "2027-12-10T12:00:00+01:00");
    let q = &r.tasks[0].occurrences;
    let states: Vec<(&str, NaiveDate, State, Option<i64>)> = q
        .iter()
        .map(|o| (o.period.as_str(), o.due, o.state, o.days_late))
        .collect();
    assert_eq!(
        states,
        vec![
            ("2027-Q1", day(2027, 3, 15), State::Done, Some(0)),
            ("2027-Q2", day(2027, 6, 15), State::Done, Some(5)),
            ("2027-Q3", day(2027, 9, 15), State::Overdue, Some(86)),
            ("2027-Q4", day(2027, 12, 15), State::Open, None),
        ]
    );
    assert_eq!(q[1].escalation_level, 1);
    // The rows say who was escalated to, not only how far.
    let mut md = Vec::new();
    super::markdown(&mut md, &r).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(
        md.contains("| 2027-Q2 | 2027-06-15 | gennemført |")
            && md.contains("| 5 | 1: chef@example.dk |"),
        "{md}"
    );
    let mut html = Vec::new();
    super::html(&mut html, &r).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("<div><strong>Eskaleret til:</strong> chef@example.dk</div>"),
        "{html}"
    );
    assert_eq!(q[1].note.as_deref(), Some("sent | fordi\nferie"));
    assert_eq!(q[1].evidence[0].name, "bilag-2.pdf");
    assert_eq!(q[2].retracted.len(), 1);
    assert!(q[2].evidence.is_empty());
    // The council task's 2026-2029 occurrence is due 2027-06-30 (second
    // year of the term), never done.
    assert_eq!(r.tasks[1].occurrences[0].due, day(2027, 6, 30));
    assert_eq!(r.tasks[1].occurrences[0].state, State::Overdue);
    let s = &r.summary;
    assert_eq!(
        (
            s.due,
            s.done_on_time,
            s.done_late,
            s.open,
            s.overdue,
            s.upcoming,
            s.escalations
        ),
        (5, 1, 1, 1, 2, 0, 1)
    );
    assert_eq!(s.on_time_share, Some(0.25));
}

#[test]
fn before_the_start_nothing_counts_and_an_empty_range_has_no_share() {
    let r = build_at(
        &ReportData::default(),
        &Range {
            from: day(2026, 1, 1),
            to: day(2026, 12, 31),
            term: None,
        },
        "2027-02-01T12:00:00+01:00",
    );
    assert!(r.tasks.iter().all(|t| t.occurrences.is_empty()));
    assert_eq!(r.summary.due, 0);
    assert_eq!(r.summary.on_time_share, None);
}

#[test]
fn the_html_escapes_titles_and_notes_and_warns_of_a_broken_chain() {
    let mut c = completion(1, "quarterly", "2027-Q1", "2027-03-15T16:00:00+01:00");
    c.note = Some("<script>alert(1)</script> & \u{1b}[31m".into());
    let data = ReportData {
        completions: vec![c],
        ..ReportData::default()
    };
    let mut r = build_at(&data, &year_2027(), "2027-04-01T12:00:00+02:00");
    let mut html = Vec::new();
    super::html(&mut html, &r).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"da\">"),
        "{html}"
    );
    assert!(html.contains("Kvartalsvis &lt;kontrol&gt; &amp; opfølgning"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; \\u{1b}[31m"));
    assert!(!html.contains("<script"));
    assert!(!html.contains('\u{1b}'));
    assert!(!html.contains("role=\"alert\""));
    // When it was made, written the Danish way.
    assert!(
        html.contains("Udarbejdet: 1. april 2027 kl. 12:00"),
        "{html}"
    );
    // Nothing is fetched from elsewhere.
    for external in ["src=", "href=", "@import", "url("] {
        assert!(!html.contains(external), "{external}");
    }

    r.chain = Chain {
        ok: false,
        rows: 9,
        head: "cd".repeat(32),
        broken: Some(ChainBreak {
            row: 4,
            table: "completions".into(),
            task: "quarterly".into(),
            period: "2027-Q1".into(),
            what: "by".into(),
        }),
    };
    let mut html = Vec::new();
    super::html(&mut html, &r).unwrap();
    let html = String::from_utf8(html).unwrap();
    let warning = html.find("role=\"alert\"").expect("a warning");
    assert!(
        warning < html.find("<h1>").unwrap(),
        "the warning comes first"
    );
    // Danish through and through: the row is a "række".
    assert!(html.contains("række 4: completions quarterly 2027-Q1: by"));
    assert!(html.contains(&"cd".repeat(32)));
}

#[test]
fn markdown_has_the_same_rows_with_cells_escaped() {
    let mut c = completion(1, "quarterly", "2027-Q1", "2027-03-15T16:00:00+01:00");
    c.note = Some("a | b\nc".into());
    let data = ReportData {
        completions: vec![c],
        ..ReportData::default()
    };
    let mut r = build_at(&data, &year_2027(), "2027-04-01T12:00:00+02:00");
    r.chain.head = "ef".repeat(32);
    let mut md = Vec::new();
    super::markdown(&mut md, &r).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(
        md.contains("### Kvartalsvis &lt;kontrol&gt; &amp; opfølgning"),
        "{md}"
    );
    assert!(
        md.contains("| 2027-Q1 | 2027-03-15 | gennemført | 2027-03-15 16:00 | anna@example.dk | link | 0 | 0 | 0 | a \\| b<br>c | bilag-1.pdf (10 byte) SHA-256 "),
        "{md}"
    );
    assert!(md.contains(&format!("`{}`", "ef".repeat(32))));
    // Every table row has the same number of cells as its header.
    for line in md.lines().filter(|l| l.starts_with("| 2027-")) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 12, "{line}");
    }
}

#[test]
fn a_report_as_of_an_earlier_day_ignores_what_came_after_it() {
    let mut undone = completion(1, "quarterly", "2027-Q1", "2027-03-10T09:00:00+01:00");
    undone.retracted = Some(ReportRetraction {
        at: at("2027-04-02T10:00:00+02:00"),
        by: "coord".into(),
        reason: "fejl".into(),
    });
    let data = ReportData {
        completions: vec![
            undone,
            completion(2, "quarterly", "2027-Q2", "2027-06-20T09:00:00+02:00"),
        ],
        messages: vec![ReportMessage {
            task: "quarterly".into(),
            period: "2027-Q2".into(),
            kind: "escalation".into(),
            step: 1,
            to: vec!["chef@example.dk".into()],
            cc: vec!["anna@example.dk".into()],
            sent_at: Some(at("2027-06-22T08:00:00+02:00")),
        }],
        ..ReportData::default()
    };
    // On 1 April 2027 the retraction of Q1 and everything of Q2 lay ahead.
    let r = build_at(&data, &year_2027(), "2027-04-01T12:00:00+02:00");
    let q = &r.tasks[0].occurrences;
    assert_eq!((q[0].state, q[0].on_time), (State::Done, Some(true)));
    assert!(q[0].retracted.is_empty());
    assert_eq!(
        (q[1].period.as_str(), q[1].state),
        ("2027-Q2", State::Upcoming)
    );
    assert!(q[1].messages.is_empty());
    assert_eq!(r.summary.escalations, 0);
}

#[test]
fn an_english_wheel_gets_an_english_report() {
    let mut w = wheel();
    w.organisation.language = Language::En;
    let r = build(
        &w,
        &ReportData::default(),
        &History::default(),
        &year_2027(),
        now("2027-04-01T12:00:00+02:00"),
        chain(),
        |_| Ok::<_, ()>(Vec::new()),
    )
    .unwrap();
    let mut html = Vec::new();
    super::html(&mut html, &r).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains("<h1>Compliance calendar report</h1>"));
    assert!(html.contains("Period: 1 January 2027 – 31 December 2027"));
    assert!(html.contains(">overdue<"), "Q1 2027 is overdue on 1 April");
    assert!(!html.contains("Rapport om"));
}

#[test]
fn the_size_bound_counts_from_the_wheels_start_and_covers_the_calendar() {
    let w = wheel();
    // Before the wheel's start (2027-01-01) nothing is due.
    let before = Range {
        from: day(2001, 1, 1),
        to: day(2026, 12, 31),
        term: None,
    };
    assert_eq!(size_bound(&w, &before), 0);
    // 2027: four quarters and one term occurrence; the bound is above them
    // and small.
    let b = size_bound(&w, &year_2027());
    assert!((5..=20).contains(&b), "{b}");
    // Millennia: from 2027 to 9999, four quarters a year and a term every
    // four years, at least; the bound is above that.
    let huge = Range {
        from: day(1, 1, 1),
        to: day(9999, 12, 31),
        term: None,
    };
    assert!(size_bound(&w, &huge) >= 7973 * 4 + 7973 / 4);
    // A term is far below the limit.
    let term = Range::term(&w, "2026-2029").unwrap();
    assert!(size_bound(&w, &term) < 100);
}

#[test]
fn the_report_names_a_tasks_facts_with_the_mails_words() {
    // A coordinator reads the mails and the report side by side: the same
    // field has the same name (Danish "Henvisning", not "Reference").
    for (language, mail) in [
        (
            Language::Da,
            include_str!("../../templates/da/escalation.txt"),
        ),
        (
            Language::En,
            include_str!("../../templates/en/escalation.txt"),
        ),
    ] {
        let t = labels(language);
        for label in [t.reference, t.col_period] {
            assert!(
                mail.lines().any(|l| l.starts_with(&format!("{label}:"))),
                "{language:?}: {label:?} is not a field of the escalation mail"
            );
        }
    }
}

#[test]
fn a_task_of_several_owners_says_ansvarlige() {
    let text = WHEEL.replace(
        "id = \"council\"\ntitle = \"Byrådets godkendelse\"\nowner = \"anna\"",
        "id = \"council\"\ntitle = \"Byrådets godkendelse\"\nowner = [\"anna\", \"chef\"]",
    );
    assert_ne!(text, WHEEL);
    let w = wheel::parse(&text, "test.toml").unwrap();
    let range = Range::term(&w, "2026-2029").unwrap();
    let r = build(
        &w,
        &ReportData::default(),
        &History::default(),
        &range,
        now("2027-04-01T10:00:00Z"),
        chain(),
        |_| Ok::<_, crate::store::StoreError>(Vec::new()),
    )
    .unwrap();
    let mut html = Vec::new();
    super::html(&mut html, &r).unwrap();
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("Ansvarlige: Anna Andersen, Chefen"), "{html}");
    assert!(html.contains("Ansvarlig: Anna Andersen<"), "{html}");
    let mut md = Vec::new();
    super::markdown(&mut md, &r).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(md.contains("Ansvarlige: Anna Andersen, Chefen"), "{md}");
}
