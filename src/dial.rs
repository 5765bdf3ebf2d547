//! The geometry of the årshjul's dial: a date's angle on a wheel of one
//! year, and points on circles. Pure arithmetic on dates (never instants),
//! so a day is a day: DST changes, leap seconds and time zones do not move
//! a mark.
//!
//! Angles are in degrees, clockwise from the top (12 o'clock), as a clock
//! hand turns: 1 January starts at 0°, the year ends at 360°. SVG's y axis
//! points down, which [`point`] accounts for.

use chrono::{Datelike, NaiveDate};

/// The number of days in `year` (365 or 366).
pub fn days_in_year(year: i32) -> u32 {
    if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
        366
    } else {
        365
    }
}

/// The angle where `date`'s day begins on the dial of its year: 1 January
/// at 0°, each day an equal slice (360/365 or 360/366 degrees).
pub fn start_angle(date: NaiveDate) -> f64 {
    f64::from(date.ordinal0()) * 360.0 / f64::from(days_in_year(date.year()))
}

/// The angle at the middle of `date`'s slice: where a mark for that day
/// goes, so that 31 December sits just before the top and 1 January just
/// after it.
pub fn angle(date: NaiveDate) -> f64 {
    (f64::from(date.ordinal0()) + 0.5) * 360.0 / f64::from(days_in_year(date.year()))
}

/// The point at `degrees` (clockwise from the top) on a circle of `radius`
/// around `(cx, cy)`, in SVG coordinates (y down).
pub fn point(cx: f64, cy: f64, radius: f64, degrees: f64) -> (f64, f64) {
    let rad = degrees.to_radians();
    (cx + radius * rad.sin(), cy - radius * rad.cos())
}

/// The angle where `month` (1–12) of `year` begins.
pub fn month_start(year: i32, month: u32) -> f64 {
    NaiveDate::from_ymd_opt(year, month, 1).map_or(360.0, start_angle)
}

/// The angle in the middle of `month` (1–12) of `year`: where a mark
/// standing for the whole month goes.
pub fn month_middle(year: i32, month: u32) -> f64 {
    let end = if month >= 12 {
        360.0
    } else {
        month_start(year, month + 1)
    };
    (month_start(year, month) + end) / 2.0
}

/// The month cell a date falls in on the wheel of `year`: its month
/// (1–12) when it is in `year`, `None` otherwise. Months, not ISO weeks:
/// a month never straddles two years, while ISO week 2026-W53 runs from
/// 28 December 2026 to 3 January 2027, so a week cell would put 1 January
/// 2027 on the wrong year's wheel or split the week in two.
pub fn month_cell(year: i32, date: NaiveDate) -> Option<u32> {
    (date.year() == year).then(|| date.month())
}

/// The Mondays of `year`, where the week ticks go.
pub fn mondays(year: i32) -> Vec<NaiveDate> {
    let Some(first) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return Vec::new();
    };
    let offset = (7 - first.weekday().num_days_from_monday()) % 7;
    first
        .iter_days()
        .skip(offset as usize)
        .step_by(7)
        .take_while(|d| d.year() == year)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_first_of_january_is_at_the_top() {
        assert!(close(start_angle(date(2027, 1, 1)), 0.0));
        assert!(close(angle(date(2027, 1, 1)), 0.5 * 360.0 / 365.0));
        let (x, y) = point(100.0, 100.0, 50.0, start_angle(date(2027, 1, 1)));
        assert!(close(x, 100.0) && close(y, 50.0), "({x}, {y})");
    }

    #[test]
    fn the_thirty_first_of_december_is_just_before_the_top() {
        let a = angle(date(2027, 12, 31));
        assert!(close(a, 364.5 * 360.0 / 365.0));
        assert!(a > 359.0 && a < 360.0);
        // In a leap year too: day 366 of 366.
        let a = angle(date(2028, 12, 31));
        assert!(close(a, 365.5 * 360.0 / 366.0));
        assert!(a > 359.0 && a < 360.0);
    }

    #[test]
    fn the_twenty_ninth_of_february_has_its_own_slice_in_a_leap_year() {
        assert_eq!(days_in_year(2028), 366);
        assert_eq!(days_in_year(2027), 365);
        assert_eq!(days_in_year(2100), 365);
        assert_eq!(days_in_year(2000), 366);
        let feb28 = angle(date(2028, 2, 28));
        let feb29 = angle(date(2028, 2, 29));
        let mar1 = angle(date(2028, 3, 1));
        assert!(feb28 < feb29 && feb29 < mar1);
        assert!(close(feb29 - feb28, 360.0 / 366.0));
        // 1 March is day 61 of a leap year, day 60 of a common one.
        assert!(close(start_angle(date(2028, 3, 1)), 60.0 * 360.0 / 366.0));
        assert!(close(start_angle(date(2027, 3, 1)), 59.0 * 360.0 / 365.0));
    }

    #[test]
    fn quarters_and_half_year_fall_where_a_clock_would_put_them() {
        // 1 July 2027 is day 182 (0-based 181) of 365: just before half way.
        let a = start_angle(date(2027, 7, 1));
        assert!(close(a, 181.0 * 360.0 / 365.0));
        assert!(a > 178.0 && a < 180.0);
        let (x, y) = point(0.0, 0.0, 10.0, 90.0);
        assert!(
            close(x, 10.0) && y.abs() < 1e-9,
            "3 o'clock is right: ({x}, {y})"
        );
        let (x, y) = point(0.0, 0.0, 10.0, 180.0);
        assert!(
            x.abs() < 1e-9 && close(y, 10.0),
            "6 o'clock is down: ({x}, {y})"
        );
    }

    #[test]
    fn a_dst_change_day_is_a_day_like_any_other() {
        // 28 March 2027 (spring forward in Europe) and 31 October 2027 (back).
        let spring = date(2027, 3, 28);
        let autumn = date(2027, 10, 31);
        let slice = 360.0 / 365.0;
        assert!(close(
            angle(spring.succ_opt().unwrap()) - angle(spring),
            slice
        ));
        assert!(close(
            angle(autumn.succ_opt().unwrap()) - angle(autumn),
            slice
        ));
    }

    #[test]
    fn month_starts_and_mondays() {
        assert!(close(month_start(2027, 1), 0.0));
        assert!(close(month_start(2027, 2), 31.0 * 360.0 / 365.0));
        assert!(close(month_start(2027, 13), 360.0));
        let m = mondays(2027);
        assert_eq!(m.first(), Some(&date(2027, 1, 4)));
        assert_eq!(m.last(), Some(&date(2027, 12, 27)));
        assert_eq!(m.len(), 52);
        // 2024 began on a Monday.
        assert_eq!(mondays(2024).first(), Some(&date(2024, 1, 1)));
    }

    #[test]
    fn a_month_cell_holds_the_dates_of_its_month_and_year_only() {
        // The year's ends: 31 December 2026 is on the 2026 wheel alone,
        // though ISO week 2026-W53 runs on to 3 January 2027.
        assert_eq!(month_cell(2026, date(2026, 12, 31)), Some(12));
        assert_eq!(month_cell(2027, date(2026, 12, 31)), None);
        assert_eq!(month_cell(2027, date(2027, 1, 1)), Some(1));
        assert_eq!(month_cell(2026, date(2027, 1, 1)), None);
        assert_eq!(month_cell(2027, date(2027, 1, 3)), Some(1));
        assert_eq!(month_cell(2027, date(2027, 12, 31)), Some(12));
        // A leap day is February's.
        assert_eq!(month_cell(2028, date(2028, 2, 29)), Some(2));
        assert_eq!(month_cell(2028, date(2028, 3, 1)), Some(3));
    }

    #[test]
    fn a_month_mark_sits_in_the_middle_of_its_month() {
        // January 2027: days 0..31 of 365.
        assert!(close(month_middle(2027, 1), 15.5 * 360.0 / 365.0));
        // December 2027: from day 334 to the year's end.
        assert!(close(
            month_middle(2027, 12),
            (334.0 + 365.0) / 2.0 * 360.0 / 365.0
        ));
        // February in a leap year has 29 days: days 31..60 of 366.
        assert!(close(month_middle(2028, 2), 45.5 * 360.0 / 366.0));
        assert!(close(month_middle(2027, 2), 45.0 * 360.0 / 365.0));
        // Each middle lies between its month's start and the next one's.
        for m in 1..12 {
            let mid = month_middle(2027, m);
            assert!(month_start(2027, m) < mid && mid < month_start(2027, m + 1));
        }
    }
}
