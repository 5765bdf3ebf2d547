//! Working days and send instants in the wheel's time zone: Danish public
//! holidays (computed from Easter), weekends, the wheel's extra closed days,
//! and the resolution of `send_time` on a given day across DST changes.
//! Pure: no clock, no I/O. Reference: Danish law for the holidays,
//! RFC 5545 for local times in a DST gap or fold.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;

use crate::wheel::{ClosedDay, HolidayRule, Organisation};

/// Gregorian Easter Sunday (anonymous Gregorian algorithm).
pub fn easter_sunday(year: i32) -> NaiveDate {
    todo!("easter {year}")
}

/// The Danish public holidays (helligdage) of `year` with their Danish
/// names, in date order. Store bededag only up to and including 2023.
pub fn danish_holidays(year: i32) -> Vec<(NaiveDate, &'static str)> {
    todo!("{year}")
}

/// Resolves a local wall-clock time in `tz` to an instant. A time inside a
/// spring-forward gap is read with the offset before the gap (shifted
/// forward by the gap's length, RFC 5545); a time that exists twice (autumn
/// fold) is the earlier instant. Never panics.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Tz> {
    todo!("{tz} {local}")
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

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Saturday, Sunday, a public holiday (when `holidays = "dk"`), or a
    /// `closed` day of the wheel.
    pub fn is_closed(&self, day: NaiveDate) -> bool {
        todo!("{day}")
    }

    /// `day` if open, else the nearest earlier open day (reminders move here).
    pub fn open_on_or_before(&self, day: NaiveDate) -> NaiveDate {
        todo!("{day}")
    }

    /// `day` if open, else the nearest later open day (escalations and
    /// repeats move here).
    pub fn open_on_or_after(&self, day: NaiveDate) -> NaiveDate {
        todo!("{day}")
    }

    /// The instant `send_time` happens on `day` (see [`resolve_local`]).
    pub fn send_instant(&self, day: NaiveDate) -> DateTime<Tz> {
        todo!("{day}")
    }

    /// The local calendar day of an instant.
    pub fn local_date<T: chrono::TimeZone>(&self, at: &DateTime<T>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }
}
