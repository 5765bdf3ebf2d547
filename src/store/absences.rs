//! Absences (`arshjul away`): appended, listed, cancelled once, and read
//! into the planner's history. Like completions they are audit evidence: no
//! row is deleted, and a cancellation sets its columns once (a trigger
//! refuses anything else).

use chrono::{DateTime, FixedOffset, NaiveDate};
use rusqlite::{params, Connection, OptionalExtension};

use super::{codec, Fault, Store, StoreError};
use crate::planner::Absence;

/// An absence to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAbsence {
    pub person: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub deputy: String,
    pub note: Option<String>,
    pub recorded_at: DateTime<FixedOffset>,
    /// Who recorded it (the login name).
    pub recorded_by: String,
}

/// A recorded absence, cancelled or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsenceRecord {
    pub id: i64,
    pub person: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub deputy: String,
    pub note: Option<String>,
    pub recorded_at: DateTime<FixedOffset>,
    pub recorded_by: String,
    pub cancelled_at: Option<DateTime<FixedOffset>>,
    pub cancelled_by: Option<String>,
}

/// What `cancel_absence` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    Cancelled(AbsenceRecord),
    /// It was cancelled before; nothing changed.
    AlreadyCancelled(AbsenceRecord),
    /// There is no absence with that id.
    Unknown,
}

/// Which absences to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbsenceFilter {
    /// Every absence ever recorded, cancelled ones included.
    All,
    /// Absences not cancelled whose last day is on or after this date.
    ActiveFrom(NaiveDate),
}

const COLUMNS: &str = "SELECT id, person, from_date, to_date, deputy, note, recorded_at,
        recorded_by, cancelled_at, cancelled_by FROM absences";

impl Store {
    /// Appends an absence; returns its id.
    pub fn record_absence(&mut self, a: &NewAbsence) -> Result<i64, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO absences (person, from_date, to_date, deputy, note, recorded_at,
                     recorded_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    a.person,
                    codec::date(a.from),
                    codec::date(a.to),
                    a.deputy,
                    a.note,
                    codec::time(&a.recorded_at),
                    a.recorded_by,
                ],
            )?;
            let id = tx.last_insert_rowid();
            Ok(id)
        })
    }

    /// Cancels absence `id` once: sets when and by whom. The row stays.
    pub fn cancel_absence(
        &mut self,
        id: i64,
        at: DateTime<FixedOffset>,
        by: &str,
    ) -> Result<CancelOutcome, StoreError> {
        self.write(|tx| {
            let Some(found) = find(tx, id)? else {
                return Ok(CancelOutcome::Unknown);
            };
            if found.cancelled_at.is_some() {
                return Ok(CancelOutcome::AlreadyCancelled(found));
            }
            tx.execute(
                "UPDATE absences SET cancelled_at = ?2, cancelled_by = ?3 WHERE id = ?1",
                params![id, codec::time(&at), by],
            )?;
            let updated = find(tx, id)?.ok_or_else(|| {
                Fault::Missing(format!("absence {id} vanished while it was cancelled"))
            })?;
            Ok(CancelOutcome::Cancelled(updated))
        })
    }

    /// Absences by first day, then id.
    pub fn absences(&self, filter: AbsenceFilter) -> Result<Vec<AbsenceRecord>, StoreError> {
        self.read(|conn| list(conn, filter))
    }

    /// The absences the planner routes by: not cancelled, last day on or
    /// after `from` (what a pass plans with; `plan` shows the same).
    pub fn planner_absences(&self, from: NaiveDate) -> Result<Vec<Absence>, StoreError> {
        self.read(|conn| for_planner(conn, from))
    }
}

/// The absences the planner routes by: not cancelled, last day on or after `from`.
pub(super) fn for_planner(conn: &Connection, from: NaiveDate) -> Result<Vec<Absence>, Fault> {
    Ok(list(conn, AbsenceFilter::ActiveFrom(from))?
        .into_iter()
        .map(|a| Absence {
            id: a.id,
            person: a.person,
            from: a.from,
            to: a.to,
            deputy: a.deputy,
        })
        .collect())
}

fn list(conn: &Connection, filter: AbsenceFilter) -> Result<Vec<AbsenceRecord>, Fault> {
    let (clause, since) = match filter {
        AbsenceFilter::All => ("WHERE ?1 IS NULL", None),
        AbsenceFilter::ActiveFrom(d) => (
            "WHERE cancelled_at IS NULL AND to_date >= ?1",
            Some(codec::date(d)),
        ),
    };
    let mut stmt = conn.prepare_cached(&format!("{COLUMNS} {clause} ORDER BY from_date, id"))?;
    let mut rows = stmt.query(params![since])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(from_row(row)?);
    }
    Ok(out)
}

fn find(conn: &Connection, id: i64) -> Result<Option<AbsenceRecord>, Fault> {
    conn.query_row(&format!("{COLUMNS} WHERE id = ?1"), params![id], |row| {
        Ok(from_row(row))
    })
    .optional()?
    .transpose()
}

fn from_row(row: &rusqlite::Row<'_>) -> Result<AbsenceRecord, Fault> {
    let id: i64 = row.get(0)?;
    let what = format!("absence {id}");
    Ok(AbsenceRecord {
        id,
        person: row.get(1)?,
        from: codec::parse_date(&row.get::<_, String>(2)?, &what)?,
        to: codec::parse_date(&row.get::<_, String>(3)?, &what)?,
        deputy: row.get(4)?,
        note: row.get(5)?,
        recorded_at: codec::parse_time(&row.get::<_, String>(6)?, &what)?,
        recorded_by: row.get(7)?,
        cancelled_at: codec::parse_opt_time(row.get(8)?, &what)?,
        cancelled_by: row.get(9)?,
    })
}
