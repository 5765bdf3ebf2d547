//! Recurrence rules: which occurrences a task has, their due dates and their
//! periods ([`Period`], whose keys are `"2027"`, `"2026-2029"`, `"2027-03"`,
//! `"2027-Q1"`, `"2027-H1"`). Pure: no clock, no I/O, no working-day rules (due dates
//! never move). The n-th occurrence is computed from its period, never by
//! adding to the previous one, so month ends do not drift.

use std::fmt;

use chrono::{Datelike, NaiveDate};

use crate::wheel::{Recurrence, Terms};

/// The Danish municipal election terms (Kommunal- og regionalvalgloven:
/// four years from 1 January after the election, 2022-2025, 2026-2029, …).
/// Validation guarantees `terms` whenever a task recurs per term; this is
/// only the answer of last resort should a caller pass `None` anyway.
const DANISH_TERMS: Terms = Terms {
    start: match NaiveDate::from_ymd_opt(2022, 1, 1) {
        Some(day) => day,
        None => NaiveDate::MIN,
    },
    years: 4,
};

/// One occurrence of a task: the period it covers and the day it is due.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Occurrence {
    pub period: String,
    pub due: NaiveDate,
}

/// A period of a recurrence, and its key: `2027` (a calendar year),
/// `2026-2029` (an election term: its first and last calendar years),
/// `2027-03` (a month), `2027-Q1` (a quarter), `2027-H1` (a half-year).
/// The one place keys are written ([`fmt::Display`]) and read
/// ([`Period::parse`]); the database and the messages carry the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Year(i64),
    Term { first: i64, last: i64 },
    Month { year: i64, month: u32 },
    Quarter { year: i64, quarter: u32 },
    Half { year: i64, half: u32 },
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Year(year) => write!(f, "{year}"),
            Period::Term { first, last } => write!(f, "{first}-{last}"),
            Period::Month { year, month } => write!(f, "{year}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
            Period::Half { year, half } => write!(f, "{year}-H{half}"),
        }
    }
}

impl Period {
    /// The period of `rule`'s kind that contains `day` (for `Years` with
    /// `every > 1`, the calendar year of `day`).
    pub fn of(rule: &Recurrence, terms: Option<&Terms>, day: NaiveDate) -> Period {
        match rule {
            Recurrence::Years { .. } => Period::Year(i64::from(day.year())),
            Recurrence::Term { .. } => {
                let terms = Term::rules(terms);
                terms.period(terms.index_of(day))
            }
            Recurrence::Month { .. } => Split::MONTHS.period(Split::MONTHS.index_of(day)),
            Recurrence::Quarter { .. } => Split::QUARTERS.period(Split::QUARTERS.index_of(day)),
            Recurrence::HalfYear { .. } => Split::HALVES.period(Split::HALVES.index_of(day)),
        }
    }

    /// Reads a key of any kind, written with a four-digit year (and, for a
    /// term, a four-digit last year): `2027`, `2026-2029`, `2027-03`,
    /// `2027-Q1`, `2027-H1`. Anything else is `None`.
    pub fn parse(key: &str) -> Option<Period> {
        let four_digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        let number = |s: &str, range: std::ops::RangeInclusive<u32>| {
            Some(s)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u32>().ok())
                .filter(|n| range.contains(n))
        };
        let (year, rest) = match key.split_once('-') {
            Some((y, r)) => (y, Some(r)),
            None => (key, None),
        };
        if !four_digits(year) {
            return None;
        }
        let year: i64 = year.parse().ok()?;
        Some(match rest {
            None => Period::Year(year),
            Some(r) if four_digits(r) => Period::Term {
                first: year,
                last: r.parse().ok()?,
            },
            Some(r) if r.len() == 2 && r.starts_with('Q') => Period::Quarter {
                year,
                quarter: number(&r[1..], 1..=4)?,
            },
            Some(r) if r.len() == 2 && r.starts_with('H') => Period::Half {
                year,
                half: number(&r[1..], 1..=2)?,
            },
            Some(r) if r.len() == 2 => Period::Month {
                year,
                month: number(r, 1..=12)?,
            },
            Some(_) => return None,
        })
    }

    /// The first day of the period. A term's first day comes from `terms`
    /// (the term whose first calendar year is the key's); a term key that
    /// no term has starts on 1 January of its first year.
    pub fn start(&self, terms: Option<&Terms>) -> Option<NaiveDate> {
        let year = |y: i64| i32::try_from(y).ok();
        match *self {
            Period::Year(y) => NaiveDate::from_ymd_opt(year(y)?, 1, 1),
            Period::Term { first, .. } => {
                let terms = Term::rules(terms);
                let offset = first - i64::from(terms.start.year());
                let k = offset.div_euclid(terms.years);
                match terms.start_of(k) {
                    Some(start) if offset.rem_euclid(terms.years) == 0 => Some(start),
                    _ => NaiveDate::from_ymd_opt(year(first)?, 1, 1),
                }
            }
            Period::Month { year: y, month } => NaiveDate::from_ymd_opt(year(y)?, month, 1),
            Period::Quarter { year: y, quarter } => {
                NaiveDate::from_ymd_opt(year(y)?, 3 * quarter - 2, 1)
            }
            Period::Half { year: y, half } => NaiveDate::from_ymd_opt(year(y)?, 6 * half - 5, 1),
        }
    }
}

/// The fixed-calendar occurrences of `rule` whose due date lies in
/// `from..=to`, in due-date order. `terms` is `Some` whenever `rule` is
/// `Term` (validation guarantees it).
pub fn occurrences(
    rule: &Recurrence,
    terms: Option<&Terms>,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Occurrence> {
    if from > to {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut push = |period: String, due: Option<NaiveDate>| {
        if let Some(due) = due.filter(|due| (from..=to).contains(due)) {
            found.push(Occurrence { period, due });
        }
    };
    match *rule {
        Recurrence::Years {
            every,
            first,
            month,
            day,
        } => {
            let mut year = i64::from(from.year());
            // Without `first` the task is due every year, whatever `every`
            // says: the wheel only has `first = None` for `every = "year"`.
            let every = match first.map(i64::from) {
                Some(first) => {
                    let every = i64::from(every.max(1));
                    // The first year at or after `from` that is `first + k * every`.
                    year = first + (year - first).max(0).div_euclid(every) * every;
                    if year < i64::from(from.year()) {
                        year += every;
                    }
                    every
                }
                None => 1,
            };
            while year <= i64::from(to.year()) {
                push(year.to_string(), date_clamped(year, month, day));
                year += every;
            }
        }
        Recurrence::Term { year, month, day } => {
            let terms = Term::rules(terms);
            // A due date never precedes its term's start, so terms after the
            // one containing `to` have nothing in range; a `year` beyond the
            // term's length reaches that many terms back.
            let reach = (i64::from(year.max(1)) - 1).div_euclid(terms.years) + 1;
            for k in terms.index_of(from) - reach..=terms.index_of(to) {
                push(terms.key(k), terms.due(k, year, month, day));
            }
        }
        Recurrence::Month { day } => {
            for index in Split::MONTHS.index_of(from)..=Split::MONTHS.index_of(to) {
                push(Split::MONTHS.key(index), Split::MONTHS.due(index, 1, day));
            }
        }
        Recurrence::Quarter { month, day } => {
            for index in Split::QUARTERS.index_of(from)..=Split::QUARTERS.index_of(to) {
                push(
                    Split::QUARTERS.key(index),
                    Split::QUARTERS.due(index, month, day),
                );
            }
        }
        Recurrence::HalfYear { month, day } => {
            for index in Split::HALVES.index_of(from)..=Split::HALVES.index_of(to) {
                push(
                    Split::HALVES.key(index),
                    Split::HALVES.due(index, month, day),
                );
            }
        }
    }
    found
}

/// The period key of the period that contains `day` under `rule`'s kind
/// (for `Years` with `every > 1`, the calendar year of `day`).
pub fn period_of(rule: &Recurrence, terms: Option<&Terms>, day: NaiveDate) -> String {
    Period::of(rule, terms, day).to_string()
}

/// The length of one interval of `rule` in months: 12 × N for years,
/// 12 × term years for terms, 1, 3 or 6 for month, quarter, half-year.
pub fn interval_months(rule: &Recurrence, terms: Option<&Terms>) -> u32 {
    match rule {
        Recurrence::Years { every, .. } => every.max(&1).saturating_mul(12),
        Recurrence::Term { .. } => terms
            .unwrap_or(&DANISH_TERMS)
            .years
            .max(1)
            .saturating_mul(12),
        Recurrence::Month { .. } => 1,
        Recurrence::Quarter { .. } => 3,
        Recurrence::HalfYear { .. } => 6,
    }
}

/// `day` plus `months` months, the day clamped to the target month's last
/// day (2024-02-29 + 12 months = 2025-02-28; 2027-01-31 + 1 = 2027-02-28).
pub fn add_months_clamped(day: NaiveDate, months: u32) -> NaiveDate {
    let index = i64::from(day.year()) * 12 + i64::from(day.month0()) + i64::from(months);
    let target = index.div_euclid(12);
    date_clamped(target, month_of(index), day.day()).unwrap_or_else(|| edge_of_time(target))
}

/// `year`-`month`-`day` with the day clamped to the month's last day.
pub fn clamped_date(year: i32, month: u32, day: u32) -> NaiveDate {
    date_clamped(i64::from(year), month, day).unwrap_or_else(|| edge_of_time(i64::from(year)))
}

/// `year`-`month`-`day` with the month clamped to 1–12 and the day to the
/// month's days; `None` only for a year chrono cannot represent.
fn date_clamped(year: i64, month: u32, day: u32) -> Option<NaiveDate> {
    let year = i32::try_from(year).ok()?;
    let month = month.clamp(1, 12);
    // At most four tries: 31, 30, 29, 28.
    (1..=day.clamp(1, 31))
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
}

/// The representable day nearest to a year chrono cannot represent.
fn edge_of_time(year: i64) -> NaiveDate {
    if year < 0 {
        NaiveDate::MIN
    } else {
        NaiveDate::MAX
    }
}

/// The calendar month (1–12) of a month index `year * 12 + month0`.
fn month_of(index: i64) -> u32 {
    // rem_euclid(12) is 0..=11, so the conversion cannot fail.
    u32::try_from(index.rem_euclid(12)).unwrap_or(0) + 1
}

/// A year split into equal periods (months, quarters or half-years),
/// numbered from year 0 as `year * per_year + position in the year`.
struct Split {
    per_year: i64,
}

impl Split {
    const MONTHS: Split = Split { per_year: 12 };
    const QUARTERS: Split = Split { per_year: 4 };
    const HALVES: Split = Split { per_year: 2 };

    fn months_each(&self) -> i64 {
        12 / self.per_year
    }

    fn index_of(&self, day: NaiveDate) -> i64 {
        i64::from(day.year()) * self.per_year + i64::from(day.month0()) / self.months_each()
    }

    fn period(&self, index: i64) -> Period {
        let year = index.div_euclid(self.per_year);
        // rem_euclid is 0..per_year, so the conversion cannot fail.
        let position = u32::try_from(index.rem_euclid(self.per_year)).unwrap_or(0) + 1;
        match self.per_year {
            12 => Period::Month {
                year,
                month: position,
            },
            4 => Period::Quarter {
                year,
                quarter: position,
            },
            _ => Period::Half {
                year,
                half: position,
            },
        }
    }

    fn key(&self, index: i64) -> String {
        self.period(index).to_string()
    }

    /// The `day` of the `month`-th month (1-based, kept inside the period)
    /// of period `index`.
    fn due(&self, index: i64, month: u32, day: u32) -> Option<NaiveDate> {
        let month = i64::from(month).clamp(1, self.months_each());
        let first_month0 = index.rem_euclid(self.per_year) * self.months_each();
        let year = index.div_euclid(self.per_year);
        date_clamped(year, month_of(first_month0 + month - 1), day)
    }
}

/// Election terms, numbered from the configured one: term `k` starts
/// `k * years` years after `start` (`k` is negative before it).
struct Term {
    start: NaiveDate,
    years: i64,
}

impl Term {
    fn rules(terms: Option<&Terms>) -> Term {
        let terms = terms.copied().unwrap_or(DANISH_TERMS);
        Term {
            start: terms.start,
            years: i64::from(terms.years.max(1)),
        }
    }

    /// The first day of term `k`; `None` beyond chrono's range.
    fn start_of(&self, k: i64) -> Option<NaiveDate> {
        let year = i64::from(self.start.year()) + k.checked_mul(self.years)?;
        date_clamped(year, self.start.month(), self.start.day())
    }

    /// The number of the term that contains `day`.
    fn index_of(&self, day: NaiveDate) -> i64 {
        let k = (i64::from(day.year()) - i64::from(self.start.year())).div_euclid(self.years);
        // Term k starts in or before `day`'s year and term k + 1 after it,
        // so only a start later in the same year can put `day` in term k - 1.
        match self.start_of(k) {
            Some(start) if day < start => k - 1,
            _ => k,
        }
    }

    /// Term `k`: its first and last calendar years.
    fn period(&self, k: i64) -> Period {
        let first = i64::from(self.start.year()) + k.saturating_mul(self.years);
        let last = match self.start_of(k + 1).and_then(|next| next.pred_opt()) {
            Some(end) => i64::from(end.year()),
            None => first + self.years - 1,
        };
        Period::Term { first, last }
    }

    fn key(&self, k: i64) -> String {
        self.period(k).to_string()
    }

    /// The due date in the `year`-th year (1-based) of term `k`: the first
    /// `month`-`day` on or after that year's first day. For terms that start
    /// on 1 January this is simply `month`-`day` of calendar year
    /// `first + year - 1`.
    fn due(&self, k: i64, year: u32, month: u32, day: u32) -> Option<NaiveDate> {
        let term_start = self.start_of(k)?;
        let year_start = date_clamped(
            i64::from(term_start.year()) + i64::from(year.max(1)) - 1,
            term_start.month(),
            term_start.day(),
        )?;
        let due = date_clamped(i64::from(year_start.year()), month, day)?;
        if due >= year_start {
            Some(due)
        } else {
            date_clamped(i64::from(year_start.year()) + 1, month, day)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Danish municipal terms: 2022-2025, 2026-2029, …
    fn terms() -> Terms {
        Terms {
            start: date("2022-01-01"),
            years: 4,
        }
    }

    /// Checks the occurrences of `rule` in `from..=to` against
    /// `(period, due)` pairs, and that each due date's period is its key.
    fn check(rule: Recurrence, from: &str, to: &str, expected: &[(&str, &str)]) {
        check_with(rule, terms(), from, to, expected)
    }

    fn check_with(rule: Recurrence, terms: Terms, from: &str, to: &str, expected: &[(&str, &str)]) {
        let found = occurrences(&rule, Some(&terms), date(from), date(to));
        let found: Vec<(&str, String)> = found
            .iter()
            .map(|o| (o.period.as_str(), o.due.to_string()))
            .collect();
        let expected: Vec<(&str, String)> =
            expected.iter().map(|&(p, d)| (p, d.to_string())).collect();
        assert_eq!(found, expected, "{rule:?} from {from} to {to}");
        for (period, due) in &found {
            assert_eq!(
                period_of(&rule, Some(&terms), date(due)),
                *period,
                "period of {due} under {rule:?}"
            );
        }
    }

    fn yearly(month: u32, day: u32) -> Recurrence {
        Recurrence::Years {
            every: 1,
            first: None,
            month,
            day,
        }
    }

    #[test]
    fn every_year() {
        check(
            yearly(3, 1),
            "2026-01-01",
            "2028-12-31",
            &[
                ("2026", "2026-03-01"),
                ("2027", "2027-03-01"),
                ("2028", "2028-03-01"),
            ],
        );
        // The range is inclusive at both ends.
        check(
            yearly(3, 1),
            "2027-03-01",
            "2028-03-01",
            &[("2027", "2027-03-01"), ("2028", "2028-03-01")],
        );
        check(yearly(3, 1), "2027-03-02", "2028-02-29", &[]);
    }

    #[test]
    fn every_year_on_29_february() {
        check(
            yearly(2, 29),
            "2027-01-01",
            "2029-12-31",
            &[
                ("2027", "2027-02-28"),
                ("2028", "2028-02-29"),
                ("2029", "2029-02-28"),
            ],
        );
    }

    #[test]
    fn every_year_at_year_ends() {
        check(
            yearly(12, 31),
            "2026-12-31",
            "2027-01-01",
            &[("2026", "2026-12-31")],
        );
        check(
            yearly(1, 1),
            "2026-12-31",
            "2027-01-01",
            &[("2027", "2027-01-01")],
        );
        check(yearly(12, 31), "2027-01-01", "2027-12-30", &[]);
    }

    #[test]
    fn every_two_years_from_2027() {
        let rule = Recurrence::Years {
            every: 2,
            first: Some(2027),
            month: 6,
            day: 15,
        };
        check(
            rule,
            "2020-01-01",
            "2033-12-31",
            &[
                ("2027", "2027-06-15"),
                ("2029", "2029-06-15"),
                ("2031", "2031-06-15"),
                ("2033", "2033-06-15"),
            ],
        );
        // A range starting in an off year finds the next on year.
        check(rule, "2028-01-01", "2030-12-31", &[("2029", "2029-06-15")]);
        check(rule, "2029-06-16", "2031-06-14", &[]);
        // Without `first` there is nothing to count from, so every year.
        let rule = Recurrence::Years {
            every: 2,
            first: None,
            month: 1,
            day: 1,
        };
        check(
            rule,
            "2027-01-01",
            "2028-12-31",
            &[("2027", "2027-01-01"), ("2028", "2028-01-01")],
        );
        // Every third year from 2025.
        let rule = Recurrence::Years {
            every: 3,
            first: Some(2025),
            month: 1,
            day: 10,
        };
        check(
            rule,
            "2026-01-01",
            "2031-12-31",
            &[("2028", "2028-01-10"), ("2031", "2031-01-10")],
        );
    }

    #[test]
    fn per_term() {
        // Year 4, 1 December: the last December of each term.
        let rule = Recurrence::Term {
            year: 4,
            month: 12,
            day: 1,
        };
        check(
            rule,
            "2026-01-01",
            "2029-12-31",
            &[("2026-2029", "2029-12-01")],
        );
        check(rule, "2026-01-01", "2029-11-30", &[]);
        check(
            rule,
            "2029-12-01",
            "2029-12-01",
            &[("2026-2029", "2029-12-01")],
        );
    }

    #[test]
    fn per_term_across_several_terms() {
        let rule = Recurrence::Term {
            year: 4,
            month: 12,
            day: 1,
        };
        check(
            rule,
            "2024-01-01",
            "2034-01-01",
            &[
                ("2022-2025", "2025-12-01"),
                ("2026-2029", "2029-12-01"),
                ("2030-2033", "2033-12-01"),
            ],
        );
        // Year 1, 1 March: early in each term.
        let rule = Recurrence::Term {
            year: 1,
            month: 3,
            day: 1,
        };
        check(
            rule,
            "2026-03-01",
            "2030-02-28",
            &[("2026-2029", "2026-03-01")],
        );
    }

    #[test]
    fn per_term_before_the_configured_term() {
        // Terms before 2022 have negative numbers and the same length.
        let rule = Recurrence::Term {
            year: 2,
            month: 5,
            day: 1,
        };
        check(
            rule,
            "2010-01-01",
            "2023-12-31",
            &[
                ("2010-2013", "2011-05-01"),
                ("2014-2017", "2015-05-01"),
                ("2018-2021", "2019-05-01"),
                ("2022-2025", "2023-05-01"),
            ],
        );
        assert_eq!(
            period_of(&rule, Some(&terms()), date("2017-12-31")),
            "2014-2017"
        );
        assert_eq!(
            period_of(&rule, Some(&terms()), date("2018-01-01")),
            "2018-2021"
        );
    }

    #[test]
    fn per_term_starting_mid_year() {
        // A term from 1 July: its first year runs to 30 June, so 1 March of
        // year 1 is the March after the start.
        let mid_year = Terms {
            start: date("2022-07-01"),
            years: 4,
        };
        let rule = Recurrence::Term {
            year: 1,
            month: 3,
            day: 1,
        };
        check_with(
            rule,
            mid_year,
            "2022-01-01",
            "2027-12-31",
            &[("2022-2026", "2023-03-01"), ("2026-2030", "2027-03-01")],
        );
        assert_eq!(
            period_of(&rule, Some(&mid_year), date("2026-06-30")),
            "2022-2026"
        );
        assert_eq!(
            period_of(&rule, Some(&mid_year), date("2026-07-01")),
            "2026-2030"
        );
    }

    #[test]
    fn monthly_on_the_31st_is_clamped_to_short_months() {
        check(
            Recurrence::Month { day: 31 },
            "2027-01-01",
            "2027-05-31",
            &[
                ("2027-01", "2027-01-31"),
                ("2027-02", "2027-02-28"),
                ("2027-03", "2027-03-31"),
                ("2027-04", "2027-04-30"),
                ("2027-05", "2027-05-31"),
            ],
        );
    }

    #[test]
    fn monthly_on_the_29th_in_a_leap_and_a_common_february() {
        let rule = Recurrence::Month { day: 29 };
        check(
            rule,
            "2028-02-01",
            "2028-03-31",
            &[("2028-02", "2028-02-29"), ("2028-03", "2028-03-29")],
        );
        check(
            rule,
            "2027-02-01",
            "2027-03-31",
            &[("2027-02", "2027-02-28"), ("2027-03", "2027-03-29")],
        );
    }

    #[test]
    fn monthly_across_a_year_end() {
        check(
            Recurrence::Month { day: 15 },
            "2026-11-16",
            "2027-01-15",
            &[("2026-12", "2026-12-15"), ("2027-01", "2027-01-15")],
        );
    }

    #[test]
    fn quarterly() {
        // The second month of each quarter, on the 31st: clamped in
        // February, May stays, August stays, November has 30 days.
        check(
            Recurrence::Quarter { month: 2, day: 31 },
            "2027-01-01",
            "2027-12-31",
            &[
                ("2027-Q1", "2027-02-28"),
                ("2027-Q2", "2027-05-31"),
                ("2027-Q3", "2027-08-31"),
                ("2027-Q4", "2027-11-30"),
            ],
        );
        check(
            Recurrence::Quarter { month: 3, day: 31 },
            "2026-12-31",
            "2027-06-30",
            &[
                ("2026-Q4", "2026-12-31"),
                ("2027-Q1", "2027-03-31"),
                ("2027-Q2", "2027-06-30"),
            ],
        );
    }

    #[test]
    fn half_yearly() {
        check(
            Recurrence::HalfYear { month: 6, day: 30 },
            "2026-07-01",
            "2027-12-31",
            &[
                ("2026-H2", "2026-12-30"),
                ("2027-H1", "2027-06-30"),
                ("2027-H2", "2027-12-30"),
            ],
        );
        check(
            Recurrence::HalfYear { month: 1, day: 15 },
            "2027-01-16",
            "2028-01-15",
            &[("2027-H2", "2027-07-15"), ("2028-H1", "2028-01-15")],
        );
    }

    #[test]
    fn an_empty_or_reversed_range_has_no_occurrences() {
        check(yearly(3, 1), "2027-03-02", "2027-03-01", &[]);
        check(
            Recurrence::Month { day: 1 },
            "2027-03-02",
            "2027-03-31",
            &[],
        );
    }

    #[test]
    fn ten_years_of_months() {
        let found = occurrences(
            &Recurrence::Month { day: 31 },
            None,
            date("2026-01-01"),
            date("2035-12-31"),
        );
        assert_eq!(found.len(), 120);
        assert_eq!(
            found[119],
            Occurrence {
                period: "2035-12".to_string(),
                due: date("2035-12-31")
            }
        );
    }

    #[test]
    fn period_of_a_day() {
        fn check(rule: Recurrence, day: &str, expected: &str) {
            assert_eq!(
                period_of(&rule, Some(&terms()), date(day)),
                expected,
                "{rule:?} on {day}"
            );
        }
        let every_two = Recurrence::Years {
            every: 2,
            first: Some(2027),
            month: 3,
            day: 1,
        };
        check(yearly(3, 1), "2027-12-31", "2027");
        check(every_two, "2028-06-01", "2028");
        check(
            Recurrence::Term {
                year: 1,
                month: 1,
                day: 1,
            },
            "2029-12-31",
            "2026-2029",
        );
        check(
            Recurrence::Term {
                year: 1,
                month: 1,
                day: 1,
            },
            "2030-01-01",
            "2030-2033",
        );
        check(Recurrence::Month { day: 1 }, "2027-03-31", "2027-03");
        check(
            Recurrence::Quarter { month: 1, day: 1 },
            "2027-03-31",
            "2027-Q1",
        );
        check(
            Recurrence::Quarter { month: 1, day: 1 },
            "2027-04-01",
            "2027-Q2",
        );
        check(
            Recurrence::Quarter { month: 1, day: 1 },
            "2027-12-31",
            "2027-Q4",
        );
        check(
            Recurrence::HalfYear { month: 1, day: 1 },
            "2027-06-30",
            "2027-H1",
        );
        check(
            Recurrence::HalfYear { month: 1, day: 1 },
            "2027-07-01",
            "2027-H2",
        );
    }

    #[test]
    fn interval_months_per_rule() {
        fn check(rule: Recurrence, expected: u32) {
            assert_eq!(interval_months(&rule, Some(&terms())), expected, "{rule:?}");
        }
        check(yearly(3, 1), 12);
        check(
            Recurrence::Years {
                every: 2,
                first: Some(2027),
                month: 3,
                day: 1,
            },
            24,
        );
        check(
            Recurrence::Term {
                year: 1,
                month: 3,
                day: 1,
            },
            48,
        );
        check(Recurrence::Month { day: 1 }, 1);
        check(Recurrence::Quarter { month: 1, day: 1 }, 3);
        check(Recurrence::HalfYear { month: 1, day: 1 }, 6);
    }

    #[test]
    fn add_months_clamps_to_the_month_end() {
        fn check(day: &str, months: u32, expected: &str) {
            assert_eq!(
                add_months_clamped(date(day), months),
                date(expected),
                "{day} + {months} months"
            );
        }
        check("2024-02-29", 12, "2025-02-28");
        check("2024-02-29", 48, "2028-02-29");
        check("2027-01-31", 1, "2027-02-28");
        check("2028-01-31", 1, "2028-02-29");
        check("2027-08-31", 1, "2027-09-30");
        check("2027-11-30", 3, "2028-02-29");
        check("2027-12-15", 1, "2028-01-15");
        check("2027-03-01", 0, "2027-03-01");
        // Far beyond chrono's range the answer is its last day, not a panic.
        check("2027-03-01", u32::MAX, &NaiveDate::MAX.to_string());
    }

    #[test]
    fn clamped_dates() {
        fn check(year: i32, month: u32, day: u32, expected: &str) {
            assert_eq!(
                clamped_date(year, month, day),
                date(expected),
                "{year}-{month}-{day}"
            );
        }
        check(2027, 2, 29, "2027-02-28");
        check(2028, 2, 29, "2028-02-29");
        check(2100, 2, 29, "2100-02-28");
        check(2000, 2, 29, "2000-02-29");
        check(2027, 4, 31, "2027-04-30");
        check(2027, 12, 31, "2027-12-31");
        check(2027, 1, 1, "2027-01-01");
    }
}
