//! Working days and send instants in the wheel's time zone: Danish public
//! holidays (computed from Easter), weekends, the wheel's extra closed days,
//! and the resolution of `send_time` on a given day across DST changes.
//! Pure: no clock, no I/O. Reference: Danish law for the holidays,
//! RFC 5545 for local times in a DST gap or fold.

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::wheel::{ClosedDay, HolidayRule, Organisation};

/// The last year with Store bededag: it was abolished from 2024.
const LAST_STORE_BEDEDAG: i32 = 2023;

/// The movable holidays as (days after Easter Sunday, Danish name), in date
/// order. Store bededag (+26) is handled separately because it ended in 2023.
const EASTER_HOLIDAYS: [(i64, &str); 7] = [
    (-3, "Skærtorsdag"),
    (-2, "Langfredag"),
    (0, "Påskedag"),
    (1, "2. påskedag"),
    (39, "Kristi himmelfartsdag"),
    (49, "Pinsedag"),
    (50, "2. pinsedag"),
];

/// Store bededag: the fourth Friday after Easter.
const STORE_BEDEDAG: (i64, &str) = (26, "Store bededag");

/// How far [`Calendar::open_on_or_before`] and [`Calendar::open_on_or_after`]
/// look for an open day before giving up. Weekends, holidays and yearly
/// closed days repeat every year, so a calendar without an open day in three
/// years plus one day per dated closed day has none at all.
const SEARCH_YEARS_IN_DAYS: usize = 3 * 366;

/// How far back [`resolve_local`] looks for the offset in force before a
/// spring-forward gap, in steps of [`GAP_PROBE_STEP_MINUTES`]. The longest
/// gap on record is a whole day (Samoa, 30 December 2011).
const GAP_PROBE_STEPS: i64 = 4 * 48;
const GAP_PROBE_STEP_MINUTES: i64 = 15;

/// Gregorian Easter Sunday (anonymous Gregorian algorithm).
pub fn easter_sunday(year: i32) -> NaiveDate {
    // Meeus/Jones/Butcher, in i64 so no year can overflow.
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    // Month is 3 or 4 and day 1..=31 by construction; only a year outside
    // chrono's range can fail, and then the nearest representable day is
    // the honest answer.
    u32::try_from(month)
        .ok()
        .zip(u32::try_from(day).ok())
        .and_then(|(month, day)| NaiveDate::from_ymd_opt(year, month, day))
        .unwrap_or(if year < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
}

/// The Danish public holidays (helligdage) of `year` with their Danish
/// names, in date order. Store bededag only up to and including 2023.
pub fn danish_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let easter = easter_sunday(year);
    let mut holidays = Vec::with_capacity(11);
    holidays.extend(NaiveDate::from_ymd_opt(year, 1, 1).map(|d| (d, "Nytårsdag")));
    let store_bededag = (year <= LAST_STORE_BEDEDAG).then_some(STORE_BEDEDAG);
    for (offset, name) in EASTER_HOLIDAYS.iter().copied().chain(store_bededag) {
        if let Some(day) = easter.checked_add_signed(TimeDelta::days(offset)) {
            holidays.push((day, name));
        }
    }
    holidays.extend(NaiveDate::from_ymd_opt(year, 12, 25).map(|d| (d, "Juledag")));
    holidays.extend(NaiveDate::from_ymd_opt(year, 12, 26).map(|d| (d, "2. juledag")));
    holidays.sort_by_key(|&(day, _)| day);
    holidays
}

/// Whether `day` is a Danish public holiday. Allocation-free: it compares
/// `day`'s distance from Easter Sunday with the movable holidays' offsets.
fn is_danish_holiday(day: NaiveDate) -> bool {
    match (day.month(), day.day()) {
        (1, 1) | (12, 25) | (12, 26) => return true,
        // Every movable holiday lies between 19 March (Skærtorsdag at the
        // earliest) and 14 June (2. pinsedag at the latest).
        (month, _) if !(3..=6).contains(&month) => return false,
        _ => {}
    }
    let offset = (day - easter_sunday(day.year())).num_days();
    EASTER_HOLIDAYS.iter().any(|&(o, _)| o == offset)
        || (offset == STORE_BEDEDAG.0 && day.year() <= LAST_STORE_BEDEDAG)
}

/// `now` in the zone `tz`, with its offset fixed: how instants are
/// stored in the database and shown to people.
pub fn local_now(tz: Tz, now: DateTime<Utc>) -> DateTime<FixedOffset> {
    now.with_timezone(&tz).fixed_offset()
}

/// Resolves a local wall-clock time in `tz` to an instant. A time inside a
/// spring-forward gap is read with the offset before the gap (shifted
/// forward by the gap's length, RFC 5545); a time that exists twice (autumn
/// fold) is the earlier instant. Never panics.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Tz> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => at,
        LocalResult::Ambiguous(a, b) => a.min(b),
        LocalResult::None => resolve_in_gap(tz, local),
    }
}

/// `local` falls in a gap: find the offset of the last local time before
/// it and read `local` with that offset. The instant lies after the
/// transition, so its wall-clock time is `local` plus the gap's length.
fn resolve_in_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Tz> {
    let step = TimeDelta::minutes(GAP_PROBE_STEP_MINUTES);
    let mut probe = local;
    for _ in 0..GAP_PROBE_STEPS {
        let Some(earlier) = probe.checked_sub_signed(step) else {
            break;
        };
        probe = earlier;
        let before = match tz.from_local_datetime(&probe) {
            // The later reading of a fold is the one closer to the gap.
            LocalResult::Ambiguous(a, b) => a.max(b),
            LocalResult::Single(at) => at,
            LocalResult::None => continue,
        };
        let offset = before.offset().fix();
        if let Some(utc) =
            local.checked_sub_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc())))
        {
            return tz.from_utc_datetime(&utc);
        }
        break;
    }
    // No zone has a gap this long or this close to the end of time; reading
    // the wall-clock time as UTC keeps the answer total without panicking.
    tz.from_utc_datetime(&local)
}

/// The working-day calendar of one organisation.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: Tz,
    send_time: NaiveTime,
    holidays: HolidayRule,
    closed: Vec<ClosedDay>,
}

impl Calendar {
    pub fn new(org: &Organisation) -> Calendar {
        Calendar {
            tz: org.timezone,
            send_time: org.send_time,
            holidays: org.holidays,
            closed: org.closed.clone(),
        }
    }

    /// Saturday, Sunday, a public holiday (when `holidays = "dk"`), or a
    /// `closed` day of the wheel.
    pub fn is_closed(&self, day: NaiveDate) -> bool {
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            return true;
        }
        if self.closed.iter().any(|closed| closes(*closed, day)) {
            return true;
        }
        match self.holidays {
            HolidayRule::Dk => is_danish_holiday(day),
            HolidayRule::None => false,
        }
    }

    /// `day` if open, else the nearest earlier open day (reminders move here).
    /// A calendar with no open day at all leaves `day` where it is.
    pub fn open_on_or_before(&self, day: NaiveDate) -> NaiveDate {
        self.nearest_open(day, NaiveDate::pred_opt)
    }

    /// `day` if open, else the nearest later open day (escalations and
    /// repeats move here). A calendar with no open day at all leaves `day`
    /// where it is.
    pub fn open_on_or_after(&self, day: NaiveDate) -> NaiveDate {
        self.nearest_open(day, NaiveDate::succ_opt)
    }

    fn nearest_open(&self, day: NaiveDate, step: fn(&NaiveDate) -> Option<NaiveDate>) -> NaiveDate {
        let mut candidate = day;
        for _ in 0..=SEARCH_YEARS_IN_DAYS + self.closed.len() {
            if !self.is_closed(candidate) {
                return candidate;
            }
            match step(&candidate) {
                Some(next) => candidate = next,
                None => break,
            }
        }
        day
    }

    /// The instant `send_time` happens on `day` (see [`resolve_local`]).
    pub fn send_instant(&self, day: NaiveDate) -> DateTime<Tz> {
        resolve_local(self.tz, day.and_time(self.send_time))
    }

    /// The local calendar day of an instant.
    pub fn local_date<T: chrono::TimeZone>(&self, at: &DateTime<T>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }
}

/// Whether the wheel's closed-day entry `closed` falls on `day`. A yearly
/// `02-29` matches only in leap years, because only they have that day.
fn closes(closed: ClosedDay, day: NaiveDate) -> bool {
    match closed {
        ClosedDay::Yearly { month, day: d } => day.month() == month && day.day() == d,
        ClosedDay::Date(date) => date == day,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::wheel::Language;

    #[test]
    fn local_now_carries_the_zone_offset_of_that_instant() {
        let tz: Tz = "Europe/Copenhagen".parse().unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Winter time, then summer time after the change on 28 March 2027.
        assert_eq!(
            local_now(tz, at("2027-03-28T00:30:00Z")).to_rfc3339(),
            "2027-03-28T01:30:00+01:00"
        );
        assert_eq!(
            local_now(tz, at("2027-03-28T01:30:00Z")).to_rfc3339(),
            "2027-03-28T03:30:00+02:00"
        );
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    /// A Copenhagen calendar sending at 08:00 with the given holiday rule
    /// and `closed` entries written as in `schedule.toml`.
    fn calendar(holidays: HolidayRule, closed: &[&str]) -> Calendar {
        calendar_at(chrono_tz::Europe::Copenhagen, "08:00", holidays, closed)
    }

    fn calendar_at(tz: Tz, send_time: &str, holidays: HolidayRule, closed: &[&str]) -> Calendar {
        let closed = closed
            .iter()
            .map(|s| match s.len() {
                5 => ClosedDay::Yearly {
                    month: s[..2].parse().unwrap(),
                    day: s[3..].parse().unwrap(),
                },
                _ => ClosedDay::Date(date(s)),
            })
            .collect();
        Calendar::new(&Organisation {
            name: "Ballerup Kommune".to_string(),
            timezone: tz,
            language: Language::Da,
            send_time: NaiveTime::parse_from_str(send_time, "%H:%M").unwrap(),
            holidays,
            closed,
            start: None,
            coordinator: None,
            digest: None,
        })
    }

    #[test]
    fn easter_sunday_2019_to_2030() {
        fn check(year: i32, expected: &str) {
            assert_eq!(easter_sunday(year), date(expected), "Easter {year}");
        }
        check(2019, "2019-04-21");
        check(2020, "2020-04-12");
        check(2021, "2021-04-04");
        check(2022, "2022-04-17");
        check(2023, "2023-04-09");
        check(2024, "2024-03-31");
        check(2025, "2025-04-20");
        check(2026, "2026-04-05");
        check(2027, "2027-03-28");
        check(2028, "2028-04-16");
        check(2029, "2029-04-01");
        check(2030, "2030-04-21");
    }

    #[test]
    fn easter_sunday_at_its_extremes() {
        // 22 March is the earliest possible Easter, 25 April the latest.
        assert_eq!(easter_sunday(1818), date("1818-03-22"));
        assert_eq!(easter_sunday(2285), date("2285-03-22"));
        assert_eq!(easter_sunday(1943), date("1943-04-25"));
        assert_eq!(easter_sunday(2038), date("2038-04-25"));
    }

    #[test]
    fn danish_holidays_2023_include_store_bededag() {
        let expected = [
            ("2023-01-01", "Nytårsdag"),
            ("2023-04-06", "Skærtorsdag"),
            ("2023-04-07", "Langfredag"),
            ("2023-04-09", "Påskedag"),
            ("2023-04-10", "2. påskedag"),
            ("2023-05-05", "Store bededag"),
            ("2023-05-18", "Kristi himmelfartsdag"),
            ("2023-05-28", "Pinsedag"),
            ("2023-05-29", "2. pinsedag"),
            ("2023-12-25", "Juledag"),
            ("2023-12-26", "2. juledag"),
        ];
        let expected: Vec<_> = expected.iter().map(|&(d, name)| (date(d), name)).collect();
        assert_eq!(danish_holidays(2023), expected);
    }

    #[test]
    fn danish_holidays_2024_have_no_store_bededag() {
        let expected = [
            ("2024-01-01", "Nytårsdag"),
            ("2024-03-28", "Skærtorsdag"),
            ("2024-03-29", "Langfredag"),
            ("2024-03-31", "Påskedag"),
            ("2024-04-01", "2. påskedag"),
            ("2024-05-09", "Kristi himmelfartsdag"),
            ("2024-05-19", "Pinsedag"),
            ("2024-05-20", "2. pinsedag"),
            ("2024-12-25", "Juledag"),
            ("2024-12-26", "2. juledag"),
        ];
        let expected: Vec<_> = expected.iter().map(|&(d, name)| (date(d), name)).collect();
        assert_eq!(danish_holidays(2024), expected);
        // Easter 2024 + 26 days is a Friday and an ordinary working day now.
        assert!(!calendar(HolidayRule::Dk, &[]).is_closed(date("2024-04-26")));
    }

    #[test]
    fn second_pentecost_2028_falls_on_constitution_day() {
        let holidays = danish_holidays(2028);
        assert!(holidays.contains(&(date("2028-06-05"), "2. pinsedag")));
        // Grundlovsdag is not a helligdag: 5 June 2029 is a Tuesday and open.
        assert!(!holidays.iter().any(|&(_, name)| name == "Grundlovsdag"));
        assert!(!calendar(HolidayRule::Dk, &[]).is_closed(date("2029-06-05")));
    }

    #[test]
    fn is_closed_agrees_with_the_holiday_list_for_every_day_1990_to_2100() {
        let cal = calendar(HolidayRule::Dk, &[]);
        let mut day = date("1990-01-01");
        let mut holidays = danish_holidays(1990);
        while day <= date("2100-12-31") {
            if day.ordinal() == 1 {
                holidays = danish_holidays(day.year());
            }
            let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
            let holiday = holidays.iter().any(|&(d, _)| d == day);
            assert_eq!(cal.is_closed(day), weekend || holiday, "{day}");
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn is_closed() {
        fn check(holidays: HolidayRule, closed: &[&str], day: &str, expected: bool) {
            let cal = calendar(holidays, closed);
            assert_eq!(
                cal.is_closed(date(day)),
                expected,
                "{day} with {holidays:?} and closed {closed:?}"
            );
        }
        use HolidayRule::{Dk, None};
        // Weekends are closed whatever the holiday rule.
        check(None, &[], "2027-03-06", true); // Saturday
        check(None, &[], "2027-03-07", true); // Sunday
        check(None, &[], "2027-03-08", false); // Monday
                                               // Holidays only with holidays = "dk".
        check(Dk, &[], "2027-03-26", true); // Langfredag
        check(None, &[], "2027-03-26", false);
        check(Dk, &[], "2027-05-06", true); // Kristi himmelfartsdag, a Thursday
        check(Dk, &[], "2027-05-07", false); // the Friday after
        check(Dk, &[], "2023-05-05", true); // the last Store bededag
        check(Dk, &[], "2025-05-16", false); // Easter + 26, abolished
                                             // A yearly closed day matches every year.
        check(None, &["12-24"], "2026-12-24", true);
        check(None, &["12-24"], "2030-12-24", true);
        check(None, &["12-24"], "2026-12-23", false);
        // 02-29 closes 29 February in leap years and nothing in common years.
        check(None, &["02-29"], "2028-02-29", true);
        check(None, &["02-29"], "2027-02-26", false);
        check(None, &["02-29"], "2027-03-01", false);
        // A dated closed day matches that date only.
        check(None, &["2027-06-04"], "2027-06-04", true);
        check(None, &["2027-06-04"], "2028-06-05", false);
    }

    #[test]
    fn open_days() {
        fn check(closed: &[&str], day: &str, before: &str, after: &str) {
            let cal = calendar(HolidayRule::Dk, closed);
            assert_eq!(
                cal.open_on_or_before(date(day)),
                date(before),
                "open on or before {day}"
            );
            assert_eq!(
                cal.open_on_or_after(date(day)),
                date(after),
                "open on or after {day}"
            );
        }
        let office = &["12-24", "12-31"];
        // An open day stays where it is.
        check(office, "2027-03-24", "2027-03-24", "2027-03-24");
        // Langfredag: Skærtorsdag before it and the Easter weekend and
        // 2. påskedag after it are closed too.
        check(office, "2027-03-26", "2027-03-24", "2027-03-30");
        // Christmas 2026: 24 (closed), 25-26 (holidays), 27 (Sunday).
        check(office, "2026-12-24", "2026-12-23", "2026-12-28");
        // Across a year end: 31 December 2027 (closed, Friday), 1 January
        // 2028 (holiday, Saturday), 2 January (Sunday).
        check(office, "2027-12-31", "2027-12-30", "2028-01-03");
        check(office, "2028-01-01", "2027-12-30", "2028-01-03");
        // A dated closed day extends a weekend.
        check(&["2027-06-04"], "2027-06-05", "2027-06-03", "2027-06-07");
    }

    #[test]
    fn a_calendar_without_open_days_leaves_the_day_alone() {
        let every_day: Vec<String> = (1..=12u32)
            .flat_map(|m| (1..=31u32).map(move |d| format!("{m:02}-{d:02}")))
            .collect();
        let every_day: Vec<&str> = every_day.iter().map(String::as_str).collect();
        let cal = calendar(HolidayRule::Dk, &every_day);
        assert_eq!(
            cal.open_on_or_before(date("2027-03-24")),
            date("2027-03-24")
        );
        assert_eq!(cal.open_on_or_after(date("2027-03-24")), date("2027-03-24"));
    }

    #[test]
    fn open_days_at_the_ends_of_time_do_not_panic() {
        let cal = calendar(HolidayRule::Dk, &[]);
        let _ = cal.open_on_or_before(NaiveDate::MIN);
        let _ = cal.open_on_or_after(NaiveDate::MAX);
        let _ = cal.is_closed(NaiveDate::MIN);
        let _ = cal.is_closed(NaiveDate::MAX);
        let _ = easter_sunday(i32::MAX);
        let _ = danish_holidays(i32::MIN);
    }

    /// Checks that the local time `at` in `tz` resolves to the instant
    /// written as RFC 3339 in `expected`.
    fn check_resolve(tz: Tz, at: &str, expected: &str) {
        let resolved = resolve_local(tz, local(at));
        assert_eq!(resolved.to_rfc3339(), expected, "{at} in {tz}");
    }

    #[test]
    fn resolve_local_copenhagen_spring_forward_2027() {
        // 28 March 2027: 02:00 CET becomes 03:00 CEST.
        let cph = chrono_tz::Europe::Copenhagen;
        check_resolve(cph, "2027-03-28 01:59", "2027-03-28T01:59:00+01:00");
        check_resolve(cph, "2027-03-28 02:00", "2027-03-28T03:00:00+02:00");
        check_resolve(cph, "2027-03-28 02:30", "2027-03-28T03:30:00+02:00");
        check_resolve(cph, "2027-03-28 03:00", "2027-03-28T03:00:00+02:00");
        // 02:30 in the gap is 01:30 UTC.
        let at = resolve_local(cph, local("2027-03-28 02:30"));
        assert_eq!(at.naive_utc(), local("2027-03-28 01:30"));
    }

    #[test]
    fn resolve_local_copenhagen_fall_back_2027() {
        // 31 October 2027: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happen
        // twice and the earlier (summer time) reading wins.
        let cph = chrono_tz::Europe::Copenhagen;
        check_resolve(cph, "2027-10-31 01:59", "2027-10-31T01:59:00+02:00");
        check_resolve(cph, "2027-10-31 02:00", "2027-10-31T02:00:00+02:00");
        check_resolve(cph, "2027-10-31 02:30", "2027-10-31T02:30:00+02:00");
        check_resolve(cph, "2027-10-31 03:00", "2027-10-31T03:00:00+01:00");
    }

    #[test]
    fn resolve_local_other_zones() {
        // New York, 14 March 2027: 02:00 EST becomes 03:00 EDT.
        let ny = chrono_tz::America::New_York;
        check_resolve(ny, "2027-03-14 02:30", "2027-03-14T03:30:00-04:00");
        check_resolve(ny, "2027-11-07 01:30", "2027-11-07T01:30:00-04:00");
        // UTC has no gaps and no folds.
        check_resolve(
            chrono_tz::UTC,
            "2027-03-28 02:30",
            "2027-03-28T02:30:00+00:00",
        );
        // Lord Howe Island moves by 30 minutes: on 3 October 2027 02:00
        // (+10:30) becomes 02:30 (+11:00); on 4 April 2027 02:00 (+11:00)
        // becomes 01:30 (+10:30).
        // Samoa skipped 30 December 2011 entirely (-10:00 became +14:00).
        check_resolve(
            chrono_tz::Pacific::Apia,
            "2011-12-30 12:00",
            "2011-12-31T12:00:00+14:00",
        );
        let lord_howe = chrono_tz::Australia::Lord_Howe;
        check_resolve(lord_howe, "2027-10-03 01:59", "2027-10-03T01:59:00+10:30");
        check_resolve(lord_howe, "2027-10-03 02:15", "2027-10-03T02:45:00+11:00");
        check_resolve(lord_howe, "2027-10-03 02:30", "2027-10-03T02:30:00+11:00");
        check_resolve(lord_howe, "2027-04-04 01:45", "2027-04-04T01:45:00+11:00");
        check_resolve(lord_howe, "2027-04-04 02:00", "2027-04-04T02:00:00+10:30");
    }

    #[test]
    fn send_instant() {
        fn check(send_time: &str, day: &str, expected: &str) {
            let cal = calendar_at(
                chrono_tz::Europe::Copenhagen,
                send_time,
                HolidayRule::Dk,
                &[],
            );
            assert_eq!(
                cal.send_instant(date(day)).to_rfc3339(),
                expected,
                "{send_time} on {day}"
            );
        }
        check("08:00", "2027-01-15", "2027-01-15T08:00:00+01:00");
        check("08:00", "2027-07-15", "2027-07-15T08:00:00+02:00");
        check("02:30", "2027-03-28", "2027-03-28T03:30:00+02:00");
        check("02:30", "2027-10-31", "2027-10-31T02:30:00+02:00");
    }

    #[test]
    fn local_date_reads_the_wheel_zone() {
        let cal = calendar(HolidayRule::Dk, &[]);
        let late_utc = chrono::Utc
            .with_ymd_and_hms(2027, 6, 30, 23, 30, 0)
            .unwrap();
        assert_eq!(cal.local_date(&late_utc), date("2027-07-01"));
    }
}
