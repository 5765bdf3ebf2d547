//! Fixtures that several test modules share word for word: people, dates,
//! instants, the outbox count and the Ballerup wheel of the link tests.
//! A module whose wheel differs in what it tests keeps its own.

use std::collections::BTreeMap;
use std::path::Path;

use arshjul::wheel::{
    Anchor, Days, HolidayRule, Language, Organisation, Person, Recurrence, Task, Wheel,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// A person of the wheel, keyed, with no deputy.
pub fn person(key: &str, name: &str, email: &str) -> (String, Person) {
    (
        key.into(),
        Person {
            key: key.into(),
            name: name.into(),
            email: email.into(),
            deputy: None,
            greeting: None,
        },
    )
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a test date")
}

/// An RFC 3339 instant, such as `2027-02-22T09:00:00+01:00`, in UTC.
pub fn utc(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a test instant")
        .with_timezone(&Utc)
}

/// The `.eml` files in the file transport's outbox `dir` (0 without one).
pub fn eml_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Runs a blocking closure off the async runtime, so that the test servers
/// on it keep answering while the binary runs.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

/// An organisation in Copenhagen's time zone that sends at 08:00 and
/// keeps Danish holidays, with no extra closed days.
pub fn organisation(name: &str, language: Language, start: Option<NaiveDate>) -> Organisation {
    Organisation {
        name: name.into(),
        timezone: chrono_tz::Europe::Copenhagen,
        language,
        send_time: NaiveTime::from_hms_opt(8, 0, 0).expect("08:00"),
        holidays: HolidayRule::Dk,
        closed: vec![],
        start,
        coordinator: None,
        digest: None,
    }
}

/// Ballerup's wheel of the link tests: one yearly task, the policy review
/// due 1 March (reminders 30, 7 and 1 day before, weekly repeats), owned by
/// Anna; the chief is in the wheel too. Danish holidays; first seen 2026.
pub fn ballerup(language: Language) -> Wheel {
    Wheel {
        organisation: organisation("Ballerup Kommune", language, Some(date(2026, 1, 1))),
        terms: None,
        people: BTreeMap::from([
            person("anna", "Anna Jensen", "anna@ballerup.example.dk"),
            person(
                "digitaliseringschef",
                "Digitaliseringschefen",
                "digitaliseringschef@ballerup.example.dk",
            ),
        ]),
        tasks: vec![Task {
            id: "policy-review".into(),
            title: "Årlig gennemgang af informationssikkerhedspolitikken".into(),
            owners: vec!["anna".into()],
            recurrence: Recurrence::Years {
                every: 1,
                first: None,
                month: 3,
                day: 1,
            },
            anchor: Anchor::Fixed,
            reference: Some("ISO/IEC 27001:2022 5.2".into()),
            description: None,
            category: None,
            remind: vec![Days(30), Days(7), Days(1)],
            repeat: Some(Days(7)),
            escalate: vec![],
        }],
    }
}

/// Asserts that `text` contains `needle`; a failure shows both.
#[track_caller]
pub fn assert_contains(text: impl AsRef<str>, needle: &str) {
    let text = text.as_ref();
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// A wheel for Testkommune: the `[organisation]` head every such test wheel
/// shares (Copenhagen time, Danish, sending at 08:00), then `$rest` (a string
/// literal starting with the organisation's remaining keys). A `&'static str`,
/// so it can stand in a `const`; its lines number as if written out in full.
macro_rules! testkommune_wheel {
    ($rest:literal) => {
        concat!(
            "\n[organisation]\n",
            "name = \"Testkommune\"\n",
            "timezone = \"Europe/Copenhagen\"\n",
            "language = \"da\"\n",
            "send_time = \"08:00\"\n",
            $rest
        )
    };
}
pub(crate) use testkommune_wheel;

/// The smallest Testkommune wheel: the organisation (started 1 January
/// 2027) and Anna Hansen as its one person, then `$rest` (a string literal:
/// more people, defaults, tasks). A `&'static str`; its lines number as if
/// written out in full.
macro_rules! anna_wheel {
    ($rest:literal) => {
        concat!(
            "\n[organisation]\n",
            "name = \"Testkommune\"\n",
            "start = 2027-01-01\n",
            "\n",
            "[people.anna]\n",
            "name = \"Anna Hansen\"\n",
            "email = \"anna@kommune.example\"\n",
            $rest
        )
    };
}
pub(crate) use anna_wheel;

/// `arshjul --now NOW report` for the calendar year 2027 in `format`.
pub fn year_2027_report<'a>(now: &'a str, format: &'a str) -> [&'a str; 9] {
    [
        "--now",
        now,
        "report",
        "--from",
        "2027-01-01",
        "--to",
        "2027-12-31",
        "--format",
        format,
    ]
}
