//! `arshjul report`: the term report for the council. [`build`] is a pure
//! function from the wheel, what the store recorded ([`ReportData`]), the
//! planner's history, `now`, the hash chain's verification ([`Chain`]) and
//! an evidence look-up to the model ([`Report`]); `render` turns the model
//! into HTML (one self-contained file), Markdown or JSON.

mod render;

pub use render::{html, json, markdown};

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

use crate::calendar::{local_now, Calendar};
use crate::planner::{self, History};
use crate::recurrence::{self, Period};
use crate::store::{ReportCompletion, ReportData, ReportMessage};
use crate::wheel::{Anchor, Language, Recurrence, Task, Wheel};

/// The days a report covers (both inclusive), and the term key when it
/// was asked for as `--term`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub term: Option<String>,
}

/// Why a `--term` key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TermError {
    #[error(
        "--term {0:?}: not an election term; expected FIRST-LAST with four-digit years, e.g. {1}"
    )]
    Shape(String, String),
    #[error("--term {0:?}: the wheel's terms do not have it; the term of {2} is {1}")]
    NotATerm(String, String, i32),
}

impl Range {
    /// The election term `key` (`2026-2029`) under the wheel's `[terms]`
    /// (the Danish municipal terms when the wheel has none): its first day
    /// to the day before the next term begins.
    pub fn term(wheel: &Wheel, key: &str) -> Result<Range, TermError> {
        let terms = wheel.terms.as_ref();
        let rule = Recurrence::Term {
            year: 1,
            month: 1,
            day: 1,
        };
        let example = || {
            let day = wheel
                .organisation
                .start
                .unwrap_or_else(|| NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default());
            recurrence::period_of(&rule, terms, day)
        };
        let start = match Period::parse(key) {
            Some(p @ Period::Term { .. }) => p.start(terms),
            _ => None,
        };
        let Some(start) = start else {
            return Err(TermError::Shape(key.to_string(), example()));
        };
        let actual = recurrence::period_of(&rule, terms, start);
        if actual != key {
            return Err(TermError::NotATerm(
                key.to_string(),
                actual,
                chrono::Datelike::year(&start),
            ));
        }
        let months = recurrence::interval_months(&rule, terms);
        let next = recurrence::add_months_clamped(start, months);
        Ok(Range {
            from: start,
            to: next.pred_opt().unwrap_or(next),
            term: Some(key.to_string()),
        })
    }
}

/// The most occurrences one report holds. A term of 300 monthly tasks is
/// about 15,000; a range of centuries would fill memory and a file nobody
/// can read (about 700 bytes an occurrence), so it is refused instead.
pub const REPORT_MAX_OCCURRENCES: u64 = 100_000;

/// An upper bound on the occurrences the calendar gives `range` (the
/// wheel's tasks on their fixed rules, from the wheel's `start` when later
/// than `range.from`), by arithmetic on the rules: nothing is expanded, so
/// it costs one step per task whatever the range. Occurrences that come only
/// from the database (completions, recorded occurrences) are not counted:
/// the database bounds those.
pub fn size_bound(wheel: &Wheel, range: &Range) -> u64 {
    if range.to < range.from {
        return 0;
    }
    let from = match wheel.organisation.start {
        Some(start) if start > range.from => start,
        _ => range.from,
    };
    if range.to < from {
        return 0;
    }
    let months = u64::try_from((range.to - from).num_days()).unwrap_or(0) / 28 + 1;
    let mut total: u64 = 0;
    for task in &wheel.tasks {
        let n = match task.anchor {
            Anchor::Completion => 1,
            Anchor::Fixed => {
                let every = u64::from(
                    recurrence::interval_months(&task.recurrence, wheel.terms.as_ref()).max(1),
                );
                months / every + 3
            }
        };
        total = total.saturating_add(n);
    }
    total
}

/// The hash chain's verification, as `arshjul verify` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub ok: bool,
    pub rows: u64,
    /// The head hash (64 hex digits), empty when unknown.
    pub head: String,
    pub broken: Option<ChainBreak>,
}

/// The first audit row that does not match its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub row: u64,
    pub table: String,
    pub task: String,
    pub period: String,
    pub what: String,
}

/// An evidence file kept with a completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// The whole report: what every renderer shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub organisation: String,
    pub language: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub term: Option<String>,
    /// `now`, in the wheel's zone: the report is as of this moment.
    pub generated_at: DateTime<FixedOffset>,
    pub summary: Summary,
    pub tasks: Vec<TaskReport>,
    pub chain: Chain,
}

/// The figures of the range. `due` = `done_on_time + done_late + open +
/// overdue + upcoming`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Occurrences whose due date is in the range.
    pub due: u64,
    pub done_on_time: u64,
    pub done_late: u64,
    pub open: u64,
    pub overdue: u64,
    pub upcoming: u64,
    /// `done_on_time / (done_on_time + done_late + overdue)`: of the
    /// occurrences done or past their due date, the share done by it.
    /// `None` when there are none.
    pub on_time_share: Option<f64>,
    /// Escalation messages sent for these occurrences.
    pub escalations: u64,
}

/// One task of the wheel and its occurrences due in the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskReport {
    pub id: String,
    pub title: String,
    pub reference: Option<String>,
    /// The owners' names.
    pub owners: Vec<String>,
    pub occurrences: Vec<OccurrenceReport>,
}

/// Where one occurrence stands at the report's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Done,
    Open,
    Overdue,
    Upcoming,
}

/// One occurrence: its due date, state, completion and messages.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OccurrenceReport {
    pub period: String,
    pub due: NaiveDate,
    pub state: State,
    /// For a done occurrence: done by its due date.
    pub on_time: Option<bool>,
    pub done_at: Option<DateTime<FixedOffset>>,
    pub by: Option<By>,
    /// `link` or `cli`.
    pub via: Option<String>,
    /// Days after the due date it was done, or, overdue, has been open;
    /// `None` while open or upcoming.
    pub days_late: Option<i64>,
    /// The highest escalation step sent (0: none).
    pub escalation_level: u32,
    pub note: Option<String>,
    pub evidence: Vec<Evidence>,
    /// Messages sent for the occurrence, in the order they were queued.
    pub messages: Vec<Message>,
    /// Completions of it that were retracted (`arshjul undo`).
    pub retracted: Vec<Retracted>,
}

/// Who did it: the person, when recorded, and the mailbox (or login name)
/// that recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct By {
    pub person: Option<String>,
    pub mailbox: String,
}

/// A message sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub kind: String,
    /// The escalation step (1 = first); 0 for other kinds.
    pub level: u32,
    pub to: Vec<String>,
    /// Who was copied: the owners on an escalation, the person away on
    /// their deputy's message.
    pub cc: Vec<String>,
    pub sent_at: DateTime<FixedOffset>,
}

/// A completion that was retracted, and its retraction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retracted {
    pub done_at: DateTime<FixedOffset>,
    pub by: String,
    pub retracted_at: DateTime<FixedOffset>,
    pub retracted_by: String,
    pub reason: String,
}

/// Builds the report for `range` as of `now`. `history` is the planner's
/// (for the current occurrence of a task anchored on completion);
/// `evidence` gives a completion's evidence files by its row id.
pub fn build<E>(
    wheel: &Wheel,
    data: &ReportData,
    history: &History,
    range: &Range,
    now: DateTime<Utc>,
    chain: Chain,
    evidence: impl Fn(i64) -> Result<Vec<Evidence>, E>,
) -> Result<Report, E> {
    let org = &wheel.organisation;
    let today = Calendar::new(org).local_date(&now);
    let data = &as_of(data, now);
    let status = planner::status(wheel, history, now);
    let mut summary = Summary {
        due: 0,
        done_on_time: 0,
        done_late: 0,
        open: 0,
        overdue: 0,
        upcoming: 0,
        on_time_share: None,
        escalations: 0,
    };
    // Each task's records, read once: the cost follows the records, not
    // records × occurrences.
    let mut records: HashMap<&str, Records> = HashMap::new();
    for c in &data.completions {
        records.entry(&c.task).or_default().completions.push(c);
    }
    for m in &data.messages {
        records.entry(&m.task).or_default().messages.push(m);
    }
    let none = Records::default();
    let mut tasks = Vec::new();
    for task in &wheel.tasks {
        let mut occurrences = Vec::new();
        let mine = records.get(task.id.as_str()).unwrap_or(&none);
        for (period, due) in occurrences_in(wheel, task, data, &status, range, today) {
            let occ = occurrence(wheel, task, mine, &period, due, today, &evidence)?;
            summary.due += 1;
            match (occ.state, occ.on_time) {
                (State::Done, Some(true)) => summary.done_on_time += 1,
                (State::Done, _) => summary.done_late += 1,
                (State::Open, _) => summary.open += 1,
                (State::Overdue, _) => summary.overdue += 1,
                (State::Upcoming, _) => summary.upcoming += 1,
            }
            summary.escalations += occ
                .messages
                .iter()
                .filter(|m| m.kind == planner::Kind::Escalation.as_str())
                .count() as u64;
            occurrences.push(occ);
        }
        tasks.push(TaskReport {
            id: task.id.clone(),
            title: task.title.clone(),
            reference: task.reference.clone(),
            owners: task
                .owners
                .iter()
                .map(|k| wheel.person(k).map_or(k.clone(), |p| p.name.clone()))
                .collect(),
            occurrences,
        });
    }
    let judged = summary.done_on_time + summary.done_late + summary.overdue;
    summary.on_time_share = (judged > 0).then(|| summary.done_on_time as f64 / judged as f64);
    Ok(Report {
        organisation: org.name.clone(),
        language: org.language.code(),
        from: range.from,
        to: range.to,
        term: range.term.clone(),
        generated_at: local_now(org.timezone, now),
        summary,
        tasks,
        chain,
    })
}

/// The records as they stood at `now`: a report as of an earlier day
/// (`--now`) shows no completion, retraction or message recorded after it.
fn as_of(data: &ReportData, now: DateTime<Utc>) -> ReportData {
    let mut data = data.clone();
    data.completions.retain(|c| c.at <= now);
    for c in &mut data.completions {
        if c.retracted.as_ref().is_some_and(|r| r.at > now) {
            c.retracted = None;
        }
    }
    data.messages
        .retain(|m| m.sent_at.is_some_and(|t| t <= now));
    data
}

/// The periods of `task` due in the range, with their due dates, in due
/// order: on the calendar from the task's start (the wheel's `start`, else
/// its first appearance in the database, else today); the occurrences the
/// engine recorded; the current one of a task anchored on completion; and
/// every period with a completion.
fn occurrences_in(
    wheel: &Wheel,
    task: &Task,
    data: &ReportData,
    status: &[planner::StatusRow],
    range: &Range,
    today: NaiveDate,
) -> Vec<(String, NaiveDate)> {
    let terms = wheel.terms.as_ref();
    let in_range = |d: NaiveDate| d >= range.from && d <= range.to;
    let mut found: BTreeMap<String, NaiveDate> = BTreeMap::new();
    if task.anchor == Anchor::Fixed {
        let lb = wheel
            .organisation
            .start
            .or_else(|| data.first_seen.get(&task.id).copied())
            .unwrap_or(today);
        for o in recurrence::occurrences(&task.recurrence, terms, range.from.max(lb), range.to) {
            found.entry(o.period).or_insert(o.due);
        }
        for c in data.completions.iter().filter(|c| c.task == task.id) {
            if found.contains_key(&c.period) {
                continue;
            }
            let Some(start) = Period::parse(&c.period).and_then(|p| p.start(terms)) else {
                continue;
            };
            let end = start + chrono::Duration::days(366 * 8);
            if let Some(o) = recurrence::occurrences(&task.recurrence, terms, start, end)
                .into_iter()
                .find(|o| o.period == c.period)
            {
                if in_range(o.due) {
                    found.insert(o.period, o.due);
                }
            }
        }
    } else if let Some(row) = status.iter().find(|r| r.task == task.id) {
        if in_range(row.due) {
            found.insert(row.period.clone(), row.due);
        }
    }
    for (t, period, due) in &data.occurrences {
        if t == &task.id && in_range(*due) {
            found.entry(period.clone()).or_insert(*due);
        }
    }
    let mut list: Vec<(String, NaiveDate)> = found.into_iter().collect();
    list.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    list
}

/// One task's completions and messages.
#[derive(Default)]
struct Records<'d> {
    completions: Vec<&'d ReportCompletion>,
    messages: Vec<&'d ReportMessage>,
}

fn occurrence<E>(
    wheel: &Wheel,
    task: &Task,
    data: &Records<'_>,
    period: &str,
    due: NaiveDate,
    today: NaiveDate,
    evidence: &impl Fn(i64) -> Result<Vec<Evidence>, E>,
) -> Result<OccurrenceReport, E> {
    let mine = |c: &&&ReportCompletion| c.period == period;
    // At most one completion of a period stands (the store enforces it);
    // should there be more, the last one recorded is shown.
    let standing = data
        .completions
        .iter()
        .rev()
        .filter(mine)
        .find(|c| c.retracted.is_none());
    let retracted = data
        .completions
        .iter()
        .filter(mine)
        .filter_map(|c| {
            c.retracted.as_ref().map(|r| Retracted {
                done_at: c.at,
                by: c.by.clone(),
                retracted_at: r.at,
                retracted_by: r.by.clone(),
                reason: r.reason.clone(),
            })
        })
        .collect();
    let messages: Vec<Message> = data
        .messages
        .iter()
        .filter(|m| m.period == period)
        .filter_map(|m| {
            m.sent_at.map(|sent_at| Message {
                kind: m.kind.clone(),
                level: if m.kind == planner::Kind::Escalation.as_str() {
                    m.step
                } else {
                    0
                },
                to: m.to.clone(),
                cc: m.cc.clone(),
                sent_at,
            })
        })
        .collect();
    let escalation_level = messages.iter().map(|m| m.level).max().unwrap_or(0);
    let mut occ = OccurrenceReport {
        period: period.to_string(),
        due,
        state: State::Upcoming,
        on_time: None,
        done_at: None,
        by: None,
        via: None,
        days_late: None,
        escalation_level,
        note: None,
        evidence: Vec::new(),
        messages,
        retracted,
    };
    match standing {
        Some(c) => {
            let late = (c.at.date_naive() - due).num_days().max(0);
            occ.state = State::Done;
            occ.on_time = Some(late == 0);
            occ.done_at = Some(c.at);
            occ.by = Some(By {
                person: c.performed_by.clone(),
                mailbox: c.by.clone(),
            });
            occ.via = Some(c.via.clone());
            occ.days_late = Some(late);
            occ.note = c.note.clone();
            occ.evidence = evidence(c.id)?;
        }
        None if today > due => {
            occ.state = State::Overdue;
            occ.days_late = Some((today - due).num_days());
        }
        None if planner::opens_on(wheel, task, due) <= today => occ.state = State::Open,
        None => {}
    }
    Ok(occ)
}

/// The labels of the HTML and Markdown report, in the wheel's language.
pub(crate) fn labels(language: Language) -> &'static Labels {
    match language {
        Language::Da => &DA,
        Language::En => &EN,
    }
}

/// Every fixed text of the report.
#[derive(Debug, Serialize)]
pub(crate) struct Labels {
    pub title: &'static str,
    pub term: &'static str,
    pub period: &'static str,
    pub generated: &'static str,
    /// Between the day and the time: `5. april 2027 kl. 12:00`.
    pub at: &'static str,
    /// The audit row a broken chain names: `række 2: completions …`.
    pub row: &'static str,
    pub summary: &'static str,
    pub due: &'static str,
    pub done_on_time: &'static str,
    pub done_late: &'static str,
    pub open: &'static str,
    pub overdue: &'static str,
    pub upcoming: &'static str,
    pub on_time_share: &'static str,
    pub on_time_share_note: &'static str,
    pub escalations: &'static str,
    pub tasks: &'static str,
    /// For a task with several owners.
    pub owners_many: &'static str,
    pub owners: &'static str,
    pub reference: &'static str,
    pub none_in_range: &'static str,
    pub col_period: &'static str,
    pub col_due: &'static str,
    pub col_state: &'static str,
    pub col_done_at: &'static str,
    pub col_by: &'static str,
    pub col_via: &'static str,
    pub col_days_late: &'static str,
    pub col_escalation: &'static str,
    pub col_messages: &'static str,
    pub note: &'static str,
    /// The detail line naming whom the escalations went to.
    pub escalated_to: &'static str,
    pub evidence: &'static str,
    pub bytes: &'static str,
    pub retracted: &'static str,
    pub retracted_by: &'static str,
    pub mailbox: &'static str,
    pub chain: &'static str,
    pub chain_ok: &'static str,
    pub chain_broken: &'static str,
    pub chain_broken_top: &'static str,
    pub chain_rows: &'static str,
    pub chain_head: &'static str,
    pub chain_check: &'static str,
    pub state_done: &'static str,
    pub state_open: &'static str,
    pub state_overdue: &'static str,
    pub state_upcoming: &'static str,
    pub via_link: &'static str,
    pub via_cli: &'static str,
    pub kind_reminder: &'static str,
    pub kind_due: &'static str,
    pub kind_repeat: &'static str,
    pub kind_escalation: &'static str,
    pub kind_link: &'static str,
    pub not_applicable: &'static str,
}

static DA: Labels = Labels {
    title: "Rapport om årshjulet",
    term: "Valgperiode",
    period: "Periode",
    generated: "Udarbejdet",
    at: "kl.",
    row: "række",
    summary: "Sammenfatning",
    due: "Planlagte aktiviteter med frist i perioden",
    done_on_time: "Gennemført rettidigt",
    done_late: "Gennemført for sent",
    open: "Ikke gennemført, fristen er ikke overskredet",
    overdue: "Ikke gennemført, fristen er overskredet",
    upcoming: "Endnu ikke aktuelle",
    on_time_share: "Andel af planlagte aktiviteter, som er gennemført rettidigt",
    on_time_share_note: "Andelen er de rettidigt gennemførte aktiviteter ud af alle, der er gennemført eller har overskredet fristen. Aktiviteter, der hverken er gennemført eller har overskredet fristen, tæller ikke med.",
    escalations: "Eskaleringer sendt",
    tasks: "Aktiviteter",
    owners: "Ansvarlig",
    owners_many: "Ansvarlige",
    reference: "Henvisning",
    none_in_range: "Ingen frister i perioden.",
    col_period: "Periode",
    col_due: "Frist",
    col_state: "Status",
    col_done_at: "Gennemført",
    col_by: "Af",
    col_via: "Via",
    col_days_late: "Dage for sent",
    col_escalation: "Eskaleret til trin",
    col_messages: "Beskeder sendt",
    note: "Bemærkning",
    escalated_to: "Eskaleret til",
    evidence: "Dokumentation",
    bytes: "byte",
    retracted: "Tilbagekaldt",
    retracted_by: "tilbagekaldt af",
    mailbox: "registreret af",
    chain: "Revisionsloggens kæde",
    chain_ok: "Kæden er kontrolleret og hel.",
    chain_broken: "Kæden er brudt: revisionsloggen er ændret efter registreringen.",
    chain_broken_top: "Advarsel: revisionsloggens kæde er brudt. Tallene nedenfor bygger på data, der er ændret efter registreringen.",
    chain_rows: "Rækker",
    chain_head: "Kædens hoved (SHA-256)",
    chain_check: "Kør arshjul verify på samme database: den skal vise samme hoved.",
    state_done: "gennemført",
    state_open: "åben",
    state_overdue: "overskredet",
    state_upcoming: "kommende",
    via_link: "link",
    via_cli: "kommandolinje",
    kind_reminder: "påmindelse",
    kind_due: "frist",
    kind_repeat: "gentagelse",
    kind_escalation: "eskalering",
    kind_link: "nyt link",
    not_applicable: "–",
};

static EN: Labels = Labels {
    title: "Compliance calendar report",
    term: "Election term",
    period: "Period",
    generated: "Prepared",
    at: "at",
    row: "row",
    summary: "Summary",
    due: "Planned activities due in the period",
    done_on_time: "Done on time",
    done_late: "Done late",
    open: "Not done, not yet overdue",
    overdue: "Not done, overdue",
    upcoming: "Not yet open",
    on_time_share: "Share of planned activities done on time",
    on_time_share_note: "The share is the activities done on time out of all that are done or past their due date. Activities neither done nor past their due date do not count.",
    escalations: "Escalations sent",
    tasks: "Activities",
    owners: "Owner",
    owners_many: "Owners",
    reference: "Reference",
    none_in_range: "Nothing due in the period.",
    col_period: "Period",
    col_due: "Due",
    col_state: "State",
    col_done_at: "Done",
    col_by: "By",
    col_via: "Via",
    col_days_late: "Days late",
    col_escalation: "Escalated to step",
    col_messages: "Messages sent",
    note: "Note",
    escalated_to: "Escalated to",
    evidence: "Evidence",
    bytes: "bytes",
    retracted: "Retracted",
    retracted_by: "retracted by",
    mailbox: "recorded by",
    chain: "The audit log's chain",
    chain_ok: "The chain is verified and intact.",
    chain_broken: "The chain is broken: the audit log was changed after it was recorded.",
    chain_broken_top: "Warning: the audit log's chain is broken. The figures below rest on data changed after it was recorded.",
    chain_rows: "Rows",
    chain_head: "Head of the chain (SHA-256)",
    chain_check: "Run arshjul verify on the same database: it must show the same head.",
    state_done: "done",
    state_open: "open",
    state_overdue: "overdue",
    state_upcoming: "upcoming",
    via_link: "link",
    via_cli: "command line",
    kind_reminder: "reminder",
    kind_due: "due",
    kind_repeat: "repeat",
    kind_escalation: "escalation",
    kind_link: "new link",
    not_applicable: "–",
};

#[cfg(test)]
mod tests;
