//! What `arshjul report` reads: every recorded occurrence, completion (with
//! its retraction), message and each task's first appearance, in one read
//! snapshot. The report itself is built by `crate::report`, purely.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::{codec, Fault, Store, StoreError};

/// Everything the term report needs from the database.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// Each task's first appearance (`tasks.first_seen`).
    pub first_seen: HashMap<String, NaiveDate>,
    /// Occurrences the engine recorded: (task, period, due).
    pub occurrences: Vec<(String, String, NaiveDate)>,
    /// Every completion, oldest first, with its retraction if retracted.
    pub completions: Vec<ReportCompletion>,
    /// Every message in the outbox, oldest first.
    pub messages: Vec<ReportMessage>,
}

/// A completion as the report shows it; `id` is the row's id (for its
/// evidence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCompletion {
    pub id: i64,
    pub task: String,
    pub period: String,
    pub at: DateTime<FixedOffset>,
    /// `done_by`: who or which mailbox recorded it.
    pub by: String,
    pub via: String,
    pub note: Option<String>,
    /// The person who did it, when recorded (besides the mailbox in `by`).
    pub performed_by: Option<String>,
    pub retracted: Option<ReportRetraction>,
}

/// The retraction of a completion (`arshjul undo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRetraction {
    pub at: DateTime<FixedOffset>,
    pub by: String,
    pub reason: String,
}

/// One outbox message: its kind, step (escalation level for escalations),
/// addressee and whether and when it went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMessage {
    pub task: String,
    pub period: String,
    pub kind: String,
    pub step: u32,
    pub to: Vec<String>,
    /// Who was copied (an escalation copies the owners).
    pub cc: Vec<String>,
    pub sent_at: Option<DateTime<FixedOffset>>,
}

impl Store {
    /// Reads [`ReportData`] in one snapshot.
    pub fn report_data(&self) -> Result<ReportData, StoreError> {
        self.load_report_data().map_err(|f| self.fail(f))
    }

    fn load_report_data(&self) -> Result<ReportData, Fault> {
        let snapshot = self.conn.unchecked_transaction()?;
        let mut data = ReportData::default();
        {
            let mut stmt = snapshot.prepare("SELECT id, first_seen FROM tasks")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id: String = row.get(0)?;
                let day = codec::parse_date(&row.get::<_, String>(1)?, &format!("task {id:?}"))?;
                data.first_seen.insert(id, day);
            }
        }
        {
            let mut stmt =
                snapshot.prepare("SELECT task, period, due FROM occurrences ORDER BY due, task")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let task: String = row.get(0)?;
                let period: String = row.get(1)?;
                let what = format!("occurrence {task} {period}");
                let due = codec::parse_date(&row.get::<_, String>(2)?, &what)?;
                data.occurrences.push((task, period, due));
            }
        }
        {
            let mut stmt = snapshot.prepare(
                "SELECT c.id, c.task, c.period, c.at, c.done_by, c.via, c.note,
                        r.at, r.done_by, r.reason, c.performed_by
                 FROM completions c LEFT JOIN retractions r ON r.completion = c.id
                 ORDER BY c.at_utc, c.id",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let what = format!("completion {id}");
                let retracted = match row.get::<_, Option<String>>(7)? {
                    None => None,
                    Some(at) => Some(ReportRetraction {
                        at: codec::parse_time(&at, &format!("retraction of {what}"))?,
                        by: row.get(8)?,
                        reason: row.get(9)?,
                    }),
                };
                data.completions.push(ReportCompletion {
                    id,
                    task: row.get(1)?,
                    period: row.get(2)?,
                    at: codec::parse_time(&row.get::<_, String>(3)?, &what)?,
                    by: row.get(4)?,
                    via: row.get(5)?,
                    note: row.get(6)?,
                    performed_by: row.get(10)?,
                    retracted,
                });
            }
        }
        {
            let mut stmt = snapshot.prepare(
                // A bundle (`mail.bundle`) is one outbox row carrying several
                // notifications: each of its parts counts as the message of
                // its own occurrence, with its own kind and step.
                "SELECT o.id, coalesce(p.task, o.task), coalesce(p.period, o.period),
                        coalesce(p.kind, o.kind), coalesce(p.step, o.step),
                        o.to_addrs, o.sent_at, o.cc_addrs
                 FROM outbox o LEFT JOIN bundle_parts p ON p.bundle = o.id
                 ORDER BY o.created_utc, o.id, p.rowid",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let what = format!("outbox message {}", row.get::<_, i64>(0)?);
                data.messages.push(ReportMessage {
                    task: row.get(1)?,
                    period: row.get(2)?,
                    kind: row.get(3)?,
                    step: codec::count(row.get(4)?, &what)?,
                    to: codec::parse_addresses(&row.get::<_, String>(5)?, &what)?,
                    sent_at: codec::parse_opt_time(row.get(6)?, &what)?,
                    cc: codec::parse_addresses(&row.get::<_, String>(7)?, &what)?,
                });
            }
        }
        snapshot.commit()?;
        Ok(data)
    }
}
