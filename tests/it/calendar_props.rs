//! Properties of the working-day calendar and the recurrence rules over
//! random dates, closed-day lists, rules and ranges (proptest).

use std::collections::HashSet;

use arshjul::calendar::{resolve_local, Calendar};
use arshjul::recurrence::{occurrences, period_of};
use arshjul::wheel::{ClosedDay, HolidayRule, Language, Organisation, Recurrence, Terms};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Weekday};
use proptest::prelude::*;

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

/// A day from 1990-01-01 to 2100-12-31.
fn day_between(first: NaiveDate, last: NaiveDate) -> impl Strategy<Value = NaiveDate> {
    (0..=(last - first).num_days()).prop_map(move |offset| first + TimeDelta::days(offset))
}

fn any_day() -> impl Strategy<Value = NaiveDate> {
    day_between(ymd(1990, 1, 1), ymd(2100, 12, 31))
}

/// A `MM-DD` that exists in a leap year, as validation guarantees.
fn month_day() -> impl Strategy<Value = (u32, u32)> {
    (1..=12u32).prop_flat_map(|month| {
        let last = match month {
            2 => 29u32,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        (Just(month), 1..=last)
    })
}

/// A day and a `closed` list, with dated entries clustered around the day so
/// that long closed runs are common.
fn day_and_closed() -> impl Strategy<Value = (NaiveDate, Vec<ClosedDay>, HolidayRule)> {
    let yearly = month_day().prop_map(|(month, day)| ClosedDay::Yearly { month, day });
    let near = (-15..=15i64).prop_map(Some);
    let entry = prop_oneof![
        yearly.prop_map(|c| (c, None)),
        near.prop_map(|o| (ClosedDay::Yearly { month: 1, day: 1 }, o))
    ];
    let holidays = prop_oneof![Just(HolidayRule::Dk), Just(HolidayRule::None)];
    (any_day(), prop::collection::vec(entry, 0..20), holidays).prop_map(
        |(day, entries, holidays)| {
            let closed = entries
                .into_iter()
                .map(|(closed, near)| match near {
                    Some(offset) => ClosedDay::Date(day + TimeDelta::days(offset)),
                    None => closed,
                })
                .collect();
            (day, closed, holidays)
        },
    )
}

fn calendar(closed: Vec<ClosedDay>, holidays: HolidayRule) -> Calendar {
    Calendar::new(&Organisation {
        name: "Ballerup Kommune".to_string(),
        timezone: chrono_tz::Europe::Copenhagen,
        language: Language::Da,
        send_time: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        holidays,
        closed,
        start: None,
        coordinator: None,
        digest: None,
    })
}

/// A rule of any kind with valid parameters, and terms it may use.
fn rule_and_terms() -> impl Strategy<Value = (Recurrence, Terms)> {
    let terms = || {
        (day_between(ymd(1990, 1, 1), ymd(2030, 12, 31)), 1..=6u32)
            .prop_map(|(start, years)| Terms { start, years })
    };
    let years = (1..=5u32, prop::option::of(1985..=2040i32), month_day()).prop_map(
        |(every, first, (month, day))| Recurrence::Years {
            every,
            first,
            month,
            day,
        },
    );
    let month = (1..=31u32).prop_map(|day| Recurrence::Month { day });
    let quarter = (1..=3u32, 1..=31u32).prop_map(|(month, day)| Recurrence::Quarter { month, day });
    let half = (1..=6u32, 1..=31u32).prop_map(|(month, day)| Recurrence::HalfYear { month, day });
    let others = prop_oneof![years, month, quarter, half];
    prop_oneof![
        (others, terms()),
        terms().prop_flat_map(|terms| {
            (1..=terms.years, month_day()).prop_map(move |(year, (month, day))| {
                (Recurrence::Term { year, month, day }, terms)
            })
        }),
    ]
}

/// The last Sunday of `month` in `year`: the EU changes clocks at 01:00 UTC.
fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut day = ymd(year, month, 31);
    while day.weekday() != Weekday::Sun {
        day = day.pred_opt().unwrap();
    }
    day
}

/// A local time in 2020-2035, half of them within four hours of a DST
/// change in Copenhagen (where the gaps and folds are).
fn copenhagen_local_time() -> impl Strategy<Value = NaiveDateTime> {
    let anywhere = (
        day_between(ymd(2020, 1, 1), ymd(2035, 12, 31)),
        0..86_400i64,
    )
        .prop_map(|(day, second)| day.and_time(NaiveTime::MIN) + TimeDelta::seconds(second));
    let near_change =
        (2020..=2035i32, prop::bool::ANY, 0..4 * 3600i64).prop_map(|(year, spring, second)| {
            let day = last_sunday(year, if spring { 3 } else { 10 });
            day.and_time(NaiveTime::MIN) + TimeDelta::seconds(second)
        });
    prop_oneof![anywhere, near_change]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn open_on_or_before_is_the_nearest_open_day_not_after((day, closed, holidays) in day_and_closed()) {
        let cal = calendar(closed, holidays);
        let open = cal.open_on_or_before(day);
        prop_assert!(open <= day);
        prop_assert!(!cal.is_closed(open), "{open} is closed");
        let mut between = open + TimeDelta::days(1);
        while between < day {
            prop_assert!(cal.is_closed(between), "{between} is open, between {open} and {day}");
            between += TimeDelta::days(1);
        }
    }

    #[test]
    fn open_on_or_after_is_the_nearest_open_day_not_before((day, closed, holidays) in day_and_closed()) {
        let cal = calendar(closed, holidays);
        let open = cal.open_on_or_after(day);
        prop_assert!(open >= day);
        prop_assert!(!cal.is_closed(open), "{open} is closed");
        let mut between = day + TimeDelta::days(1);
        while between < open {
            prop_assert!(cal.is_closed(between), "{between} is open, between {day} and {open}");
            between += TimeDelta::days(1);
        }
    }

    #[test]
    fn occurrences_are_sorted_in_range_unique_and_keyed_by_their_period(
        (rule, terms) in rule_and_terms(),
        from in any_day(),
        days in 0..4000i64,
    ) {
        let to = from + TimeDelta::days(days);
        let found = occurrences(&rule, Some(&terms), from, to);
        for pair in found.windows(2) {
            prop_assert!(pair[0].due < pair[1].due, "{:?} before {:?}", pair[0], pair[1]);
        }
        let mut keys = HashSet::new();
        for occurrence in &found {
            prop_assert!(from <= occurrence.due && occurrence.due <= to, "{occurrence:?} outside {from}..={to}");
            prop_assert!(keys.insert(occurrence.period.clone()), "{} twice", occurrence.period);
            prop_assert_eq!(&period_of(&rule, Some(&terms), occurrence.due), &occurrence.period);
        }
    }

    #[test]
    fn occurrences_of_adjacent_ranges_add_up(
        (rule, terms) in rule_and_terms(),
        from in any_day(),
        first_days in 0..2000i64,
        second_days in 1..2000i64,
    ) {
        let middle = from + TimeDelta::days(first_days);
        let to = middle + TimeDelta::days(second_days);
        let mut split = occurrences(&rule, Some(&terms), from, middle);
        split.extend(occurrences(&rule, Some(&terms), middle + TimeDelta::days(1), to));
        prop_assert_eq!(occurrences(&rule, Some(&terms), from, to), split);
    }

    #[test]
    fn every_period_inside_a_range_has_its_occurrence(
        (rule, terms) in rule_and_terms(),
        from in any_day(),
        days in 0..4000i64,
    ) {
        // A period wholly inside the range is due inside it, so its key must
        // be among the occurrences, unless the rule skips that year.
        let due_in_year = |key: &str| match rule {
            Recurrence::Years { every, first: Some(first), .. } => {
                let year: i32 = key.parse().unwrap();
                year >= first && (year - first) % every as i32 == 0
            }
            _ => true,
        };
        let to = from + TimeDelta::days(days);
        let keys: HashSet<String> = occurrences(&rule, Some(&terms), from, to).into_iter().map(|o| o.period).collect();
        let starts_before = period_of(&rule, Some(&terms), from.pred_opt().unwrap());
        let ends_after = period_of(&rule, Some(&terms), to.succ_opt().unwrap());
        let mut day = from;
        while day <= to {
            let key = period_of(&rule, Some(&terms), day);
            if key != starts_before && key != ends_after && due_in_year(&key) {
                prop_assert!(keys.contains(&key), "{key} missing from {from}..={to}");
            }
            day += TimeDelta::days(1);
        }
    }

    #[test]
    fn resolve_local_in_copenhagen_never_goes_back_or_more_than_an_hour_forward(local in copenhagen_local_time()) {
        let resolved = resolve_local(chrono_tz::Europe::Copenhagen, local).naive_local();
        prop_assert!(resolved >= local, "{local} became {resolved}");
        prop_assert!(resolved - local <= TimeDelta::hours(1), "{local} became {resolved}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn resolve_local_in_any_zone_moves_forward_by_at_most_a_day(
        zone in 0..chrono_tz::TZ_VARIANTS.len(),
        day in day_between(ymd(1900, 1, 1), ymd(2100, 12, 31)),
        second in 0..86_400i64,
    ) {
        // The longest gap on record is Samoa skipping 30 December 2011.
        let tz = chrono_tz::TZ_VARIANTS[zone];
        let local = day.and_time(NaiveTime::MIN) + TimeDelta::seconds(second);
        let resolved = resolve_local(tz, local).naive_local();
        prop_assert!(resolved >= local, "{local} in {tz} became {resolved}");
        prop_assert!(resolved - local <= TimeDelta::days(1), "{local} in {tz} became {resolved}");
    }
}

/// Every zone's every local time from 00:00 to 04:00, in 15-minute steps,
/// through 2027: a time in a gap resolves to the time plus the gap, a time
/// in a fold to the earlier instant, any other time to itself.
#[test]
fn resolve_local_across_every_gap_of_2027() {
    use chrono::offset::LocalResult;
    use chrono::{Offset, TimeZone};
    let (mut gaps, mut folds) = (0, 0);
    for tz in chrono_tz::TZ_VARIANTS {
        let mut day = ymd(2027, 1, 1);
        while day.year() == 2027 {
            for quarter in 0..16 {
                let local = day.and_time(NaiveTime::MIN) + TimeDelta::minutes(15 * quarter);
                let at = resolve_local(tz, local);
                match tz.from_local_datetime(&local) {
                    LocalResult::Single(only) => assert_eq!(at, only, "{local} in {tz}"),
                    LocalResult::Ambiguous(first, second) => {
                        folds += 1;
                        assert_eq!(at, first.min(second), "{local} in {tz}");
                    }
                    LocalResult::None => {
                        // The gap's length is the change of offset; clocks
                        // were last changed months before, so six hours
                        // earlier the old offset was in force.
                        gaps += 1;
                        let before = (at - TimeDelta::hours(6)).offset().fix();
                        let gap = at.offset().fix().local_minus_utc() - before.local_minus_utc();
                        let gap = TimeDelta::seconds(i64::from(gap));
                        assert!(gap > TimeDelta::zero(), "{local} in {tz}: no gap");
                        assert_eq!(at.naive_local(), local + gap, "{local} in {tz}");
                    }
                }
            }
            day = day.succ_opt().unwrap();
        }
    }
    // Dozens of zones still change clocks; finding none would mean the
    // scan above checked nothing.
    assert!(
        gaps > 100 && folds > 100,
        "only {gaps} gaps and {folds} folds found"
    );
}
