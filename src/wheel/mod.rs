//! The wheel as validated types: what `schedule.toml` means once it has been
//! parsed and checked. Pure data; nothing here reads files or the clock.
//!
//! Every value downstream code sees has already been checked by
//! [`parse()`], so the planner never re-validates strings.

pub mod parse;
pub mod text;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate, NaiveTime};
use chrono_tz::Tz;

pub(crate) use parse::lower_first;
pub use parse::{parse, parse_bytes, WheelError, WheelErrors};

/// A validated wheel: organisation, election terms, people and tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Wheel {
    pub organisation: Organisation,
    /// Election terms; present whenever any task recurs per `term`.
    pub terms: Option<Terms>,
    /// People by key (the `[people.KEY]` table name).
    pub people: BTreeMap<String, Person>,
    /// Tasks in file order.
    pub tasks: Vec<Task>,
}

impl Wheel {
    pub fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    /// The person behind a key. Validation guarantees every key used by a
    /// task exists, so a miss here is a programming error upstream.
    pub fn person(&self, key: &str) -> Option<&Person> {
        self.people.get(key)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub name: String,
    pub timezone: Tz,
    pub language: Language,
    /// Local wall-clock time at which notifications go out.
    pub send_time: NaiveTime,
    pub holidays: HolidayRule,
    pub closed: Vec<ClosedDay>,
    /// No occurrence is due before this date.
    pub start: Option<NaiveDate>,
    /// The person who coordinates the wheel (a key of `people`): gets the
    /// weekly digest, and may be given the overview link.
    pub coordinator: Option<String>,
    /// The weekday of the weekly digest to the coordinator; `None`: no
    /// digest.
    pub digest: Option<chrono::Weekday>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Da,
    En,
}

impl Language {
    /// A date as people write it in this language: Danish `1. marts 2027`,
    /// English `1 March 2027`.
    pub fn long_date(self, date: NaiveDate) -> String {
        let month = self.month_name(date.month());
        match self {
            Language::Da => format!("{}. {} {}", date.day(), month, date.year()),
            Language::En => format!("{} {} {}", date.day(), month, date.year()),
        }
    }

    /// The name of `month` (1–12; other values wrap) in this language:
    /// Danish `marts` (lower case, as Danish writes it), English `March`.
    pub fn month_name(self, month: u32) -> &'static str {
        const DA: [&str; 12] = [
            "januar",
            "februar",
            "marts",
            "april",
            "maj",
            "juni",
            "juli",
            "august",
            "september",
            "oktober",
            "november",
            "december",
        ];
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let i = (month.wrapping_sub(1) % 12) as usize;
        match self {
            Language::Da => DA[i],
            Language::En => EN[i],
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::Da => "da",
            Language::En => "en",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidayRule {
    /// The Danish public holidays (helligdage), computed from Easter.
    Dk,
    None,
}

/// An extra closed day from `organisation.closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedDay {
    /// `MM-DD`: that day every year. `02-29` only matches leap years.
    Yearly { month: u32, day: u32 },
    /// `YYYY-MM-DD`: that one date.
    Date(NaiveDate),
}

/// Election terms: `start` is the first day of any one term, each `years` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    pub start: NaiveDate,
    pub years: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub key: String,
    pub name: String,
    pub email: String,
    /// Key of the person who stands in while this one is away (`deputy`);
    /// always another person of the wheel.
    pub deputy: Option<String>,
    /// How mail opens (`greeting`): `None` (not in the wheel) is the
    /// language's "Kære {name}" / "Dear {name}", right for a person's name;
    /// `Some("")` is no greeting, for a role ("Digitaliseringschefen") or a
    /// shared mailbox; other text is the opening as written. The mail adds
    /// the comma.
    pub greeting: Option<String>,
}

/// A whole number of days; `"2w"` in the wheel becomes `Days(14)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Days(pub u32);

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}d", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationStep {
    /// Days after the due date.
    pub after: Days,
    /// Person key of the escalation target.
    pub to: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `[a-z0-9-]+`, unique, stable: history is keyed on it.
    pub id: String,
    pub title: String,
    /// Person keys, at least one, in wheel order.
    pub owners: Vec<String>,
    pub recurrence: Recurrence,
    pub anchor: Anchor,
    pub reference: Option<String>,
    pub description: Option<String>,
    /// Lead times before the due date, in wheel order.
    pub remind: Vec<Days>,
    /// While overdue, remind the owners again this often. `None`: no repeats.
    pub repeat: Option<Days>,
    /// Escalation chain, ordered by `after` ascending (level 1 first).
    pub escalate: Vec<EscalationStep>,
    /// The optional `category` (one line, at most `MAX_TITLE_CHARS`): the
    /// ring the task is drawn on in `arshjul wheel`.
    pub category: Option<String>,
}

/// When a task falls due. Month and day values are validated: `month` is
/// 1–12 (1–3 inside a quarter, 1–6 inside a half-year), `day` 1–31, and a
/// `MM-DD` pair exists in a leap year. A day past a month's end is clamped
/// to the month's last day (29 February becomes 28 February in common years).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recurrence {
    /// `every = "year"` or `"N years"`: due on `month`-`day` in the years
    /// `first + k * every`. For `"year"`, `first` is `None`: every year.
    Years {
        every: u32,
        first: Option<i32>,
        month: u32,
        day: u32,
    },
    /// `every = "term"`: in the `year`-th year (1-based) of each election term.
    Term { year: u32, month: u32, day: u32 },
    /// `every = "month"`: on `day` of every month.
    Month { day: u32 },
    /// `every = "quarter"`: on `day` of the `month`-th month of each quarter.
    Quarter { month: u32, day: u32 },
    /// `every = "half-year"`: on `day` of the `month`-th month of each half.
    HalfYear { month: u32, day: u32 },
}

/// Fixed recurrence follows the calendar; completion-anchored recurrence
/// makes the next due date the last completion date plus the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Fixed,
    Completion,
}
