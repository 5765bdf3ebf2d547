//! Small pure parsers for the strings inside wheel values: `"MM-DD"`,
//! `"YYYY-MM-DD"`, `"7d"`, `"08:00"`, `every`, task ids and e-mail
//! addresses. They say what is wrong; `check` words it and places it.

use chrono::{NaiveDate, NaiveTime};

use crate::wheel::Days;

/// The longest duration accepted anywhere, in days (about ten years). Longer
/// values are surely typos, and keeping them bounded keeps date arithmetic
/// downstream far from overflow.
pub(super) const MAX_DAYS: u32 = 3660;

/// Why a date string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DateProblem {
    /// Not of the expected shape (`"3-1"`, `"March 1"`).
    Format,
    /// The right shape but no such day (`"02-30"`).
    Impossible,
}

/// `"MM-DD"`, a day that exists in a leap year (so `"02-29"` is fine).
pub(super) fn month_day(text: &str) -> Result<(u32, u32), DateProblem> {
    let (month, day) = text.split_once('-').ok_or(DateProblem::Format)?;
    let month = fixed_digits(month, 2).ok_or(DateProblem::Format)?;
    let day = fixed_digits(day, 2).ok_or(DateProblem::Format)?;
    match NaiveDate::from_ymd_opt(2000, month, day) {
        Some(_) => Ok((month, day)),
        None => Err(DateProblem::Impossible),
    }
}

/// `"YYYY-MM-DD"`, a day that exists.
pub(super) fn date(text: &str) -> Result<NaiveDate, DateProblem> {
    let mut parts = text.splitn(3, '-');
    let year = parts
        .next()
        .and_then(|p| fixed_digits(p, 4))
        .ok_or(DateProblem::Format)?;
    let month = parts
        .next()
        .and_then(|p| fixed_digits(p, 2))
        .ok_or(DateProblem::Format)?;
    let day = parts
        .next()
        .and_then(|p| fixed_digits(p, 2))
        .ok_or(DateProblem::Format)?;
    let year = i32::try_from(year).map_err(|_| DateProblem::Format)?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or(DateProblem::Impossible)
}

/// Why a duration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DurationProblem {
    /// Not `"Nd"` or `"Nw"`.
    Format,
    /// Longer than [`MAX_DAYS`].
    TooLong,
}

/// `"Nd"` (days) or `"Nw"` (weeks), N a non-negative whole number.
pub(super) fn duration(text: &str) -> Result<Days, DurationProblem> {
    let (number, days_per_unit) = if let Some(number) = text.strip_suffix('d') {
        (number, 1)
    } else if let Some(number) = text.strip_suffix('w') {
        (number, 7)
    } else {
        return Err(DurationProblem::Format);
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationProblem::Format);
    }
    // All digits: a parse failure can only be overflow, which is too long.
    let days = number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(days_per_unit))
        .ok_or(DurationProblem::TooLong)?;
    if days > MAX_DAYS {
        return Err(DurationProblem::TooLong);
    }
    Ok(Days(days))
}

/// `"HH:MM"`, 24-hour clock, two digits each.
/// A weekday by its English lower-case name (`monday` … `sunday`).
pub(super) fn weekday(text: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    Some(match text {
        "monday" => Mon,
        "tuesday" => Tue,
        "wednesday" => Wed,
        "thursday" => Thu,
        "friday" => Fri,
        "saturday" => Sat,
        "sunday" => Sun,
        _ => return None,
    })
}

pub(super) fn send_time(text: &str) -> Option<NaiveTime> {
    let (hour, minute) = text.split_once(':')?;
    NaiveTime::from_hms_opt(fixed_digits(hour, 2)?, fixed_digits(minute, 2)?, 0)
}

/// What `every` says, before `due` is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Every {
    /// `"year"` (1), `"1 year"`, `"N years"`.
    Years(u32),
    Term,
    Month,
    Quarter,
    HalfYear,
}

/// Why `every` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EveryProblem {
    Unknown,
    /// `"0 years"`.
    ZeroYears,
}

/// The recurrence kinds: `year`, `N years`, `term`, `month`, `quarter`, `half-year`.
pub(super) fn every(text: &str) -> Result<Every, EveryProblem> {
    match text {
        "year" => return Ok(Every::Years(1)),
        "term" => return Ok(Every::Term),
        "month" => return Ok(Every::Month),
        "quarter" => return Ok(Every::Quarter),
        "half-year" => return Ok(Every::HalfYear),
        _ => {}
    }
    let (number, unit) = text.split_once(' ').ok_or(EveryProblem::Unknown)?;
    if !matches!(unit, "year" | "years")
        || number.is_empty()
        || !number.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(EveryProblem::Unknown);
    }
    // All digits, so a parse failure is a number too large for any wheel.
    match number.parse::<u32>() {
        Ok(0) => Err(EveryProblem::ZeroYears),
        Ok(n) if n <= 100 => Ok(Every::Years(n)),
        _ => Err(EveryProblem::Unknown),
    }
}

/// `[a-z0-9-]+`.
pub(super) fn is_task_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

/// A plain mailbox address: exactly one `@`, a non-empty local part, a
/// domain of dot-separated non-empty labels (at least two), and none of
/// whitespace, control characters or `<>,;:"()[]\` anywhere (those belong
/// to display names and lists, not to one address).
pub(super) fn is_email(text: &str) -> bool {
    if text
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c))
    {
        return false;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && !domain.contains('@')
        && labels.len() >= 2
        && labels.iter().all(|label| !label.is_empty())
}

/// Exactly `width` ASCII digits.
fn fixed_digits(text: &str, width: usize) -> Option<u32> {
    if text.len() == width && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_day_must_exist_in_a_leap_year() {
        assert_eq!(month_day("03-01"), Ok((3, 1)));
        assert_eq!(month_day("02-29"), Ok((2, 29)));
        assert_eq!(month_day("12-31"), Ok((12, 31)));
        assert_eq!(month_day("02-30"), Err(DateProblem::Impossible));
        assert_eq!(month_day("04-31"), Err(DateProblem::Impossible));
        assert_eq!(month_day("13-01"), Err(DateProblem::Impossible));
        assert_eq!(month_day("00-10"), Err(DateProblem::Impossible));
        assert_eq!(month_day("3-1"), Err(DateProblem::Format));
        assert_eq!(month_day("03/01"), Err(DateProblem::Format));
        assert_eq!(month_day("+3-01"), Err(DateProblem::Format));
        assert_eq!(month_day(""), Err(DateProblem::Format));
    }

    #[test]
    fn dates_must_exist() {
        assert_eq!(
            date("2026-01-01"),
            Ok(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
        );
        assert_eq!(
            date("2028-02-29"),
            Ok(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap())
        );
        assert_eq!(date("2027-02-29"), Err(DateProblem::Impossible));
        assert_eq!(date("2026-1-1"), Err(DateProblem::Format));
        assert_eq!(date("2026-01-01-01"), Err(DateProblem::Format));
        assert_eq!(date("12-24"), Err(DateProblem::Format));
    }

    #[test]
    fn durations_are_days_or_weeks() {
        assert_eq!(duration("0d"), Ok(Days(0)));
        assert_eq!(duration("30d"), Ok(Days(30)));
        assert_eq!(duration("2w"), Ok(Days(14)));
        assert_eq!(duration("3660d"), Ok(Days(3660)));
        assert_eq!(duration("3661d"), Err(DurationProblem::TooLong));
        assert_eq!(duration("99999999999999d"), Err(DurationProblem::TooLong));
        assert_eq!(duration("700000000w"), Err(DurationProblem::TooLong));
        for bad in ["7x", "d", "7", "-1d", "+1d", " 7d", "7 d", "7D", "1.5w", ""] {
            assert_eq!(duration(bad), Err(DurationProblem::Format), "{bad:?}");
        }
    }

    #[test]
    fn send_time_is_hh_mm() {
        assert_eq!(send_time("08:00"), NaiveTime::from_hms_opt(8, 0, 0));
        assert_eq!(send_time("23:59"), NaiveTime::from_hms_opt(23, 59, 0));
        for bad in ["8am", "8:00", "24:00", "12:60", "08:00:00", ""] {
            assert_eq!(send_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_names_the_recurrence_kinds() {
        assert_eq!(every("year"), Ok(Every::Years(1)));
        assert_eq!(every("1 year"), Ok(Every::Years(1)));
        assert_eq!(every("2 years"), Ok(Every::Years(2)));
        assert_eq!(every("term"), Ok(Every::Term));
        assert_eq!(every("month"), Ok(Every::Month));
        assert_eq!(every("quarter"), Ok(Every::Quarter));
        assert_eq!(every("half-year"), Ok(Every::HalfYear));
        assert_eq!(every("0 years"), Err(EveryProblem::ZeroYears));
        for bad in [
            "fortnight",
            "years",
            "2  years",
            "two years",
            "2 months",
            "Year",
            "-1 years",
            "101 years",
        ] {
            assert_eq!(every(bad), Err(EveryProblem::Unknown), "{bad:?}");
        }
    }

    #[test]
    fn task_ids_are_lower_case_digits_and_dashes() {
        assert!(is_task_id("policy-review"));
        assert!(is_task_id("access-review-2"));
        for bad in ["", "Policy Review", "policy_review", "politik-gennemgang-æ"] {
            assert!(!is_task_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn email_addresses_are_plain_mailboxes() {
        assert!(is_email("digitaliseringschef@ballerup.example"));
        assert!(is_email("a.b+c@sub.example.dk"));
        for bad in [
            "",
            "no-at.example.dk",
            "@example.dk",
            "a@@example.dk",
            "a@b@example.dk",
            "a@localhost",
            "a@example.",
            "a@.example",
            "a@example..dk",
            "a b@example.dk",
            "Anna <anna@example.dk>",
            "a@example.dk,b@example.dk",
            "a@example.dk;",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
    }
}
