//! `arshjul wheel` (the årshjul as SVG), `arshjul calendar` (an iCalendar
//! feed) and `arshjul link calendar` (a feed's URL, and revoking it).

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{open_if_present, CmdResult, Failure};
use crate::calendar::Calendar;
use crate::config::Config;
use crate::planner::{self, Mark};
use crate::store::Store;
use crate::wheel::Wheel;

/// The occurrences due in `from..=to` with their states at `now`, read
/// from `store` (or from nothing: then nothing is done).
pub(super) fn marks(
    store: Option<&Store>,
    wheel: &Wheel,
    now: DateTime<Utc>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Mark>, Failure> {
    let history = match store {
        Some(s) => s.history_at(wheel, now, |h| {
            planner::periods_between(wheel, h, now, from, to)
        })?,
        None => Default::default(),
    };
    Ok(planner::marks(wheel, &history, now, from, to))
}

/// Writes `text` to `out` (a file), or to standard output.
fn emit(text: &str, out: Option<&Path>) -> CmdResult {
    match out {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| Failure::runtime(format!("{}: cannot write: {e}", path.display())))?;
            Ok(ExitCode::SUCCESS)
        }
        None => super::finish_output(std::io::Write::write_all(
            &mut std::io::stdout().lock(),
            text.as_bytes(),
        )),
    }
}

/// `arshjul wheel [--year Y] [--out FILE]`.
pub(super) fn wheel(
    loaded: &Config,
    now: DateTime<Utc>,
    year: Option<i32>,
    out: Option<&Path>,
) -> CmdResult {
    let wheel = &loaded.wheel;
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let year = year.unwrap_or(today.year());
    let (Some(from), Some(to)) = (
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    ) else {
        return Err(Failure::usage(format!("--year {year} is out of range")));
    };
    let store = open_if_present(&loaded.settings)?;
    let marks = marks(store.as_ref(), wheel, now, from, to)?;
    emit(&crate::picture::svg(wheel, year, &marks, today), out)
}
