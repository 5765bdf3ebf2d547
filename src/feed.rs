//! iCalendar feeds (RFC 5545): one all-day VEVENT per occurrence on its
//! due date, for one person (the tasks they own) or the whole
//! organisation. Written by hand: CRLF line ends, text escaped (`\`, `;`,
//! `,`, line breaks), lines folded at 75 octets without splitting a
//! character. Pure: the caller gives the marks (with their states), the
//! link settings and the time stamp.
//!
//! - UID: `task/period@organisation`, each part percent-encoded outside
//!   `A-Z a-z 0-9 - . _ ~`, so it is the same on every fetch and never
//!   holds a character that needs escaping.
//! - SUMMARY: the title; a done occurrence is `✓ title (udført)` /
//!   `(done)`, an overdue one `! title (overskredet)` / `(overdue)`.
//! - DESCRIPTION: state, due date, period, owners, reference, and, in a
//!   person's feed only and only while the occurrence is open or overdue,
//!   the completion link (a capability: the organisation's feed, which a
//!   whole department may subscribe to, carries none).
//! - `REFRESH-INTERVAL` and `X-PUBLISHED-TTL`: one hour. A completion link
//!   is valid to the end of the day `link_days` after the fetch (the same
//!   all day, so the feed does not change with every fetch).

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::link::{self, Secret, Viewer};
use crate::planner::{Mark, MarkState};
use crate::wheel::{Language, Wheel};

/// How often a calendar client should fetch the feed again.
pub const REFRESH: &str = "PT1H";

/// What completion links in a person's feed need.
pub struct Links<'a> {
    pub public_url: &'a str,
    pub secret: &'a Secret,
    /// The `link_days` setting: a link stays valid this long after the feed
    /// was fetched.
    pub link_days: u32,
}

/// The feed of `viewer`: the marks of the tasks they own (a person), or
/// all marks (the organisation). `now` stamps the events (`DTSTAMP`) and
/// starts the links' validity.
pub fn ics(
    wheel: &Wheel,
    marks: &[Mark],
    viewer: &Viewer,
    links: Option<&Links<'_>>,
    now: DateTime<Utc>,
) -> String {
    let lang = wheel.organisation.language;
    let org = &wheel.organisation.name;
    let name = match viewer {
        Viewer::Organisation => format!("{} — {org}", words(lang).calendar),
        Viewer::Person(key) => {
            let who = wheel.person(key).map_or(key.as_str(), |p| p.name.as_str());
            format!("{} — {who} — {org}", words(lang).calendar)
        }
    };
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        format!(
            "PRODID:-//arshjul//arshjul {}//EN",
            env!("CARGO_PKG_VERSION")
        ),
        "CALSCALE:GREGORIAN".to_string(),
        "METHOD:PUBLISH".to_string(),
        format!("NAME:{}", escape(&name)),
        format!("X-WR-CALNAME:{}", escape(&name)),
        format!("REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}"),
        format!("X-PUBLISHED-TTL:{REFRESH}"),
    ] {
        push_line(&mut out, &line);
    }
    let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
    for m in marks {
        let Some(task) = wheel.task(&m.task) else {
            continue;
        };
        let person = match viewer {
            Viewer::Organisation => None,
            Viewer::Person(key) => {
                if !task.owners.contains(key) {
                    continue;
                }
                Some(key.as_str())
            }
        };
        let w = words(lang);
        let summary = match m.state {
            MarkState::Done => format!("✓ {} ({})", task.title, state_word(lang, m.state)),
            MarkState::Overdue => format!("! {} ({})", task.title, state_word(lang, m.state)),
            MarkState::Open | MarkState::Upcoming => task.title.clone(),
        };
        let owners = task
            .owners
            .iter()
            .map(|k| wheel.person(k).map_or(k.as_str(), |p| p.name.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let owners_word = if task.owners.len() == 1 {
            w.owner
        } else {
            w.owners
        };
        let mut desc = format!(
            "{}: {}\n{}: {}\n{}: {}\n{owners_word}: {owners}",
            w.state,
            state_word(lang, m.state),
            w.due,
            lang.long_date(m.due),
            w.period,
            m.period,
        );
        if let Some(reference) = &task.reference {
            let _ = write!(desc, "\n{}: {reference}", w.reference);
        }
        if let (Some(person), Some(links), MarkState::Open | MarkState::Overdue) =
            (person, links, m.state)
        {
            let expires = link_expiry(wheel, now, links.link_days);
            let url = link::url(
                links.public_url,
                links.secret,
                &task.id,
                &m.period,
                person,
                m.due,
                expires,
            );
            let _ = write!(desc, "\n\n{}: {url}", w.complete);
        }
        if let Some(d) = &task.description {
            let _ = write!(desc, "\n\n{d}");
        }
        let next = m.due.succ_opt().unwrap_or(NaiveDate::MAX);
        let mut lines = vec![
            "BEGIN:VEVENT".to_string(),
            format!("UID:{}", uid(&task.id, &m.period, org)),
            format!("DTSTAMP:{stamp}"),
            format!("DTSTART;VALUE=DATE:{}", m.due.format("%Y%m%d")),
            format!("DTEND;VALUE=DATE:{}", next.format("%Y%m%d")),
            format!("SUMMARY:{}", escape(&summary)),
            format!("DESCRIPTION:{}", escape(&desc)),
        ];
        if let Some(category) = &task.category {
            lines.push(format!("CATEGORIES:{}", escape(category)));
        }
        lines.push("TRANSP:TRANSPARENT".to_string());
        lines.push("END:VEVENT".to_string());
        for line in lines {
            push_line(&mut out, &line);
        }
    }
    push_line(&mut out, "END:VCALENDAR");
    out
}

/// The end (23:59:59 local) of the day `link_days` after today: a feed's
/// completion links are the same all day, so a feed fetched hourly only
/// changes when something in it does, or once a day.
fn link_expiry(wheel: &Wheel, now: DateTime<Utc>, link_days: u32) -> DateTime<Utc> {
    let tz = wheel.organisation.timezone;
    let today = crate::calendar::local_now(tz, now).date_naive();
    let day = today
        .checked_add_signed(Duration::days(i64::from(link_days)))
        .unwrap_or(NaiveDate::MAX);
    crate::calendar::resolve_local(tz, day.and_hms_opt(23, 59, 59).unwrap_or_default())
        .with_timezone(&Utc)
}

struct Words {
    calendar: &'static str,
    state: &'static str,
    due: &'static str,
    period: &'static str,
    owner: &'static str,
    owners: &'static str,
    reference: &'static str,
    complete: &'static str,
}

fn words(lang: Language) -> Words {
    match lang {
        Language::Da => Words {
            calendar: "Årshjul",
            state: "Status",
            due: "Frist",
            period: "Periode",
            owner: "Ansvarlig",
            owners: "Ansvarlige",
            reference: "Henvisning",
            complete: "Markér opgaven som udført",
        },
        Language::En => Words {
            calendar: "Compliance calendar",
            state: "State",
            due: "Due",
            period: "Period",
            owner: "Owner",
            owners: "Owners",
            reference: "Reference",
            complete: "Mark the task done",
        },
    }
}

fn state_word(lang: Language, state: MarkState) -> &'static str {
    match (lang, state) {
        (Language::Da, MarkState::Done) => "udført",
        (Language::Da, MarkState::Overdue) => "overskredet",
        (Language::Da, MarkState::Open) => "åben",
        (Language::Da, MarkState::Upcoming) => "kommende",
        (Language::En, s) => s.as_str(),
    }
}

/// `task/period@organisation`, each part percent-encoded outside the
/// unreserved characters.
pub fn uid(task: &str, period: &str, organisation: &str) -> String {
    format!(
        "{}/{}@{}",
        percent(task),
        percent(period),
        percent(organisation)
    )
}

fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A TEXT value escaped (RFC 5545 3.3.11): `\` `;` `,` and line breaks;
/// other control characters (which TEXT may not hold) dropped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push_str("\\n");
                }
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line` folded at 75 octets (continuations start with a space,
/// which counts), never inside a character, and CRLF.
fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a,b;c\\d\ne\r\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
        assert_eq!(escape("x\u{7}y\tz"), "xy z");
    }

    #[test]
    fn uids_are_encoded() {
        assert_eq!(
            uid("policy-review", "2027-Q1", "Ballerup Kommune"),
            "policy-review/2027-Q1@Ballerup%20Kommune"
        );
        assert_eq!(uid("a", "b", "Æ/@;"), "a/b@%C3%86%2F%40%3B");
    }

    #[test]
    fn lines_fold_at_75_octets_without_splitting_a_character() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "æ".repeat(100));
        push_line(&mut out, &line);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, line);
        let mut short = String::new();
        push_line(&mut short, "END:VCALENDAR");
        assert_eq!(short, "END:VCALENDAR\r\n");
        // Exactly 75 octets stays one line.
        let mut exact = String::new();
        push_line(&mut exact, &"x".repeat(75));
        assert_eq!(exact, format!("{}\r\n", "x".repeat(75)));
    }
}
