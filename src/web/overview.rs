//! `GET /overview/{token}`: the whole organisation's årshjul for one
//! person (a manager in an escalation chain, or the coordinator): the
//! wheel of this year as inline SVG, each task's status and the
//! occurrences due in the next 60 days. The token is a viewer token of
//! kind overview for a person of the wheel (bound to their mailbox),
//! revoked by that person's overview version; anything else is the 404
//! page.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::pages::{NextLine, OverviewPage, StatusLine};
use crate::calendar::Calendar;
use crate::link::{Viewer, ViewerKind};
use crate::planner::{self, History, MarkState};
use crate::store::{Store, StoreError};
use crate::wheel::{Task, Wheel};

/// How far ahead "the next days" look.
pub const NEXT_DAYS: i64 = 60;

/// The person a verified overview token opens the page for: `None` when
/// the claims are not an overview for a person still in the wheel with
/// the mailbox the token was made for.
pub(super) fn viewer_of<'w>(
    wheel: &'w Wheel,
    claims: &crate::link::ViewerClaims,
) -> Option<&'w crate::wheel::Person> {
    match (&claims.kind, &claims.viewer) {
        (ViewerKind::Overview, Viewer::Person(key)) if claims.holds(wheel) => wheel.person(key),
        _ => None,
    }
}

/// What the page needs from the database at `now`: read under the store
/// (cheap, by the views the planner names), planned after ([`build`]), so
/// a large wheel does not hold the store while it is planned and drawn.
pub(super) struct Read {
    marks: History,
    status: History,
    latest: HashMap<String, crate::store::Completion>,
}

/// The year of the wheel and the range of its marks at `now`.
fn range(wheel: &Wheel, now: DateTime<Utc>) -> (NaiveDate, NaiveDate, NaiveDate) {
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let from = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let to = NaiveDate::from_ymd_opt(today.year(), 12, 31)
        .unwrap_or(today)
        .max(today + Duration::days(NEXT_DAYS));
    (today, from, to)
}

/// Reads what [`build`] needs at `now` from `store`.
pub(super) fn read(store: &Store, wheel: &Wheel, now: DateTime<Utc>) -> Result<Read, StoreError> {
    let (_, from, to) = range(wheel, now);
    let marks = store.history_at(wheel, now, |h| {
        planner::periods_between(wheel, h, now, from, to)
    })?;
    let (status, latest) =
        store.history_and_latest_at(wheel, now, |h| planner::periods_in_view(wheel, h, now))?;
    Ok(Read {
        marks,
        status,
        latest,
    })
}

/// The page's content at `now`, from what [`read`] read.
pub(super) fn build(wheel: &Wheel, viewer: &str, now: DateTime<Utc>, read: Read) -> OverviewPage {
    let tz = wheel.organisation.timezone;
    let (today, from, to) = range(wheel, now);
    let year = today.year();
    let next_end = today + Duration::days(NEXT_DAYS);
    let Read {
        marks: history,
        status: status_history,
        latest,
    } = read;
    let marks = planner::marks(wheel, &history, now, from, to);
    let svg = crate::picture::svg_element(wheel, year, &marks, today);
    let grouped = crate::picture::aggregates(wheel, year, &marks);

    let status = planner::status(wheel, &status_history, now);
    // Each task's first row, as a map: a linear search per task made the
    // page quadratic in the number of tasks.
    let mut first: HashMap<&str, &planner::StatusRow> = HashMap::new();
    for r in &status {
        first.entry(r.task.as_str()).or_insert(r);
    }
    let status = first;
    let rows = wheel
        .tasks
        .iter()
        .map(|task| {
            let row = status.get(task.id.as_str()).copied();
            let last = latest.get(&task.id).map(|c| {
                let by = wheel
                    .people
                    .values()
                    .find(|p| p.email.eq_ignore_ascii_case(&c.by) || p.key == c.by)
                    .map_or_else(|| c.by.clone(), |p| p.name.clone());
                (c.period.clone(), c.at.with_timezone(&tz), by)
            });
            StatusLine {
                title: task.title.clone(),
                owner: owners(wheel, task),
                period: row.map(|r| r.period.clone()),
                due: row.map(|r| r.due),
                state: row.map_or("none", |r| r.state.as_str()),
                days: row.map_or(0, |r| r.days_overdue),
                last,
            }
        })
        .collect();

    let mut next: Vec<NextLine> = marks
        .iter()
        .filter(|m| m.due >= today && m.due <= next_end)
        .filter_map(|m| {
            let task = wheel.task(&m.task)?;
            Some(NextLine {
                due: m.due,
                title: task.title.clone(),
                period: m.period.clone(),
                owner: owners(wheel, task),
                state: m.state.as_str(),
                days: match m.state {
                    MarkState::Overdue => (today - m.due).num_days(),
                    _ => 0,
                },
            })
        })
        .collect();
    next.sort_by(|a, b| a.due.cmp(&b.due).then_with(|| a.title.cmp(&b.title)));

    OverviewPage {
        organisation: wheel.organisation.name.clone(),
        viewer: viewer.to_string(),
        today,
        year,
        svg,
        rows,
        next,
        grouped,
    }
}

/// The owners' names, joined with commas.
fn owners(wheel: &Wheel, task: &Task) -> String {
    task.owners
        .iter()
        .map(|k| wheel.person(k).map_or(k.as_str(), |p| p.name.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}
