//! Recurrence rules: which occurrences a task has, their due dates and their
//! period keys (`"2027"`, `"2026-2029"`, `"2027-03"`, `"2027-Q1"`,
//! `"2027-H1"`). Pure: no clock, no I/O, no working-day rules (due dates
//! never move). The n-th occurrence is computed from its period, never by
//! adding to the previous one, so month ends do not drift.

use chrono::NaiveDate;

use crate::wheel::{Recurrence, Terms};

/// One occurrence of a task: the period it covers and the day it is due.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Occurrence {
    pub period: String,
    pub due: NaiveDate,
}

/// The fixed-calendar occurrences of `rule` whose due date lies in
/// `from..=to`, in due-date order. `terms` is `Some` whenever `rule` is
/// `Term` (validation guarantees it).
pub fn occurrences(rule: &Recurrence, terms: Option<&Terms>, from: NaiveDate, to: NaiveDate) -> Vec<Occurrence> {
    todo!("{rule:?} {terms:?} {from} {to}")
}

/// The period key of the period that contains `day` under `rule`'s kind
/// (for `Years` with `every > 1`, the calendar year of `day`).
pub fn period_of(rule: &Recurrence, terms: Option<&Terms>, day: NaiveDate) -> String {
    todo!("{rule:?} {terms:?} {day}")
}

/// The length of one interval of `rule` in months: 12 × N for years,
/// 12 × term years for terms, 1, 3 or 6 for month, quarter, half-year.
pub fn interval_months(rule: &Recurrence, terms: Option<&Terms>) -> u32 {
    todo!("{rule:?} {terms:?}")
}

/// `day` plus `months` months, the day clamped to the target month's last
/// day (2024-02-29 + 12 months = 2025-02-28; 2027-01-31 + 1 = 2027-02-28).
pub fn add_months_clamped(day: NaiveDate, months: u32) -> NaiveDate {
    todo!("{day} {months}")
}

/// `year`-`month`-`day` with the day clamped to the month's last day.
pub fn clamped_date(year: i32, month: u32, day: u32) -> NaiveDate {
    todo!("{year} {month} {day}")
}
