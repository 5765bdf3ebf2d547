//! `arshjul wheel` (the årshjul as SVG), `arshjul calendar` (an iCalendar
//! feed), `arshjul link calendar` (a feed's URL, and revoking it) and
//! `arshjul link overview` (a person's overview link, and revoking it).

use std::path::Path;
use std::process::ExitCode;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::{open_if_present, CmdResult, Failure};
use crate::calendar::Calendar;
use crate::config::Config;
use crate::feed;
use crate::link::{self, Secret, Viewer, ViewerClaims, ViewerKind};
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

/// The feed's window around `today`: from one year before to two years after.
pub(super) fn window(today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let from = today
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(NaiveDate::MIN);
    let to = today
        .checked_add_months(chrono::Months::new(24))
        .unwrap_or(NaiveDate::MAX);
    (from, to)
}

/// `KEY` as a viewer: a person of the wheel, else a usage error.
fn viewer_of(wheel: &Wheel, person: Option<&str>, flag: &str) -> Result<Viewer, Failure> {
    match person {
        None => Ok(Viewer::Organisation),
        Some(key) if wheel.person(key).is_some() => Ok(Viewer::Person(key.to_string())),
        Some(key) => Err(Failure::usage(format!(
            "{flag} {}: no such person in [people] of the wheel",
            super::quote(key)
        ))),
    }
}

/// `arshjul calendar [--person KEY] [--out FILE]`.
pub(super) fn calendar(
    loaded: &Config,
    now: DateTime<Utc>,
    person: Option<&str>,
    out: Option<&Path>,
) -> CmdResult {
    let wheel = &loaded.wheel;
    let viewer = viewer_of(wheel, person, "--person")?;
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let (from, to) = window(today);
    let store = open_if_present(&loaded.settings)?;
    let marks = marks(store.as_ref(), wheel, now, from, to)?;
    let secret = match viewer {
        Viewer::Person(_) => Some(
            Secret::load_or_create(&loaded.settings.secret_path())
                .map_err(|e| Failure::runtime(e.to_string()))?,
        ),
        Viewer::Organisation => None,
    };
    let links = secret.as_ref().map(|secret| feed::Links {
        public_url: &loaded.settings.public_url,
        secret,
        link_days: loaded.settings.link_days,
    });
    emit(&feed::ics(wheel, &marks, &viewer, links.as_ref(), now), out)
}

/// `arshjul link calendar [--for KEY] [--revoke]`: prints the feed's URL,
/// after revoking the ones made before when asked to.
pub(super) fn link_calendar(
    loaded: &Config,
    now: DateTime<Utc>,
    person: Option<&str>,
    revoke: bool,
) -> CmdResult {
    let viewer = viewer_of(&loaded.wheel, person, "--for")?;
    print_url(&viewer_link(
        loaded,
        now,
        ViewerKind::Calendar,
        viewer,
        revoke,
    )?)
}

/// `arshjul link overview --for KEY [--revoke]`: prints the person's
/// overview link, after revoking the ones made before when asked to.
pub(super) fn link_overview(
    loaded: &Config,
    now: DateTime<Utc>,
    person: &str,
    revoke: bool,
) -> CmdResult {
    let viewer = viewer_of(&loaded.wheel, Some(person), "--for")?;
    print_url(&viewer_link(
        loaded,
        now,
        ViewerKind::Overview,
        viewer,
        revoke,
    )?)
}

/// The URL of a new `kind` link for `viewer`: with the viewer's current
/// version (raised first, and recorded with the login name, when `revoke`:
/// the links made before stop working), a person's bound to their mailbox
/// in the wheel now, signed with the link secret.
fn viewer_link(
    loaded: &Config,
    now: DateTime<Utc>,
    kind: ViewerKind,
    viewer: Viewer,
    revoke: bool,
) -> Result<String, Failure> {
    let viewer = &viewer;
    let wheel = &loaded.wheel;
    let version = if revoke {
        let mut store = crate::engine::open_store(&loaded.settings).map_err(Failure::from)?;
        let at = crate::calendar::local_now(wheel.organisation.timezone, now);
        store.revoke_viewer(kind.as_str(), &viewer.as_key(), at, &super::login_name())?
    } else {
        match open_if_present_quietly(loaded)? {
            Some(store) => store.viewer_version(kind.as_str(), &viewer.as_key())?,
            None => 0,
        }
    };
    let secret = Secret::load_or_create(&loaded.settings.secret_path())
        .map_err(|e| Failure::runtime(e.to_string()))?;
    if revoke {
        let what = match kind {
            ViewerKind::Calendar => "calendar",
            ViewerKind::Overview => "overview",
        };
        eprintln!(
            "arshjul: the {what} links made before for {} no longer work",
            shown(wheel, viewer)
        );
    }
    let claims = ViewerClaims::current(wheel, kind, viewer.clone(), version).ok_or_else(|| {
        Failure::usage(format!(
            "--for {}: no such person in [people] of the wheel",
            shown(wheel, viewer)
        ))
    })?;
    Ok(link::viewer_url(
        &loaded.settings.public_url,
        &secret,
        &claims,
    ))
}

fn print_url(url: &str) -> CmdResult {
    super::finish_output(std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        format!("{url}\n").as_bytes(),
    ))
}

fn shown(wheel: &Wheel, viewer: &Viewer) -> String {
    match viewer {
        Viewer::Organisation => format!(
            "the organisation ({})",
            super::output::clean(&wheel.organisation.name)
        ),
        Viewer::Person(key) => super::output::clean(key).to_string(),
    }
}

fn open_if_present_quietly(loaded: &Config) -> Result<Option<Store>, Failure> {
    if !loaded.settings.database.exists() {
        return Ok(None);
    }
    Ok(Some(Store::open_with_busy_timeout(
        &loaded.settings.database,
        false,
        loaded.settings.busy_timeout(),
    )?))
}
