//! The engine's state for the brake against a wrong clock: when the last
//! pass was, whether the engine is holding and why, and the bursts an
//! operator let through.

use chrono::{DateTime, FixedOffset};
use rusqlite::{params, OptionalExtension};

use super::{codec, Store, StoreError};

/// The engine is holding: no pass records or sends anything until the
/// clock is plausible again or an operator accepts the burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The `now` of the first held pass of this hold.
    pub since: DateTime<FixedOffset>,
    pub reason: String,
}

/// What the brake needs to know.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineState {
    /// The latest `now` of a pass that went through; `None` before the first.
    pub last_pass: Option<DateTime<FixedOffset>>,
    pub held: Option<Held>,
}

/// A burst an operator let through with `tick --accept-burst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedBurst {
    pub at: DateTime<FixedOffset>,
    pub by: String,
    pub reason: String,
    pub queued: u32,
}

impl Store {
    /// The last pass and the hold, as recorded.
    pub fn engine_state(&self) -> Result<EngineState, StoreError> {
        self.read(|conn| {
            let row: Option<(Option<String>, Option<String>, Option<String>)> = conn
                .query_row(
                    "SELECT last_pass_at, held_since, held_reason FROM engine_state WHERE id = 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((last, since, reason)) = row else {
                return Ok(EngineState::default());
            };
            let last_pass = codec::parse_opt_time(last, "the last pass")?;
            let held = match (codec::parse_opt_time(since, "the hold")?, reason) {
                (Some(since), Some(reason)) => Some(Held { since, reason }),
                _ => None,
            };
            Ok(EngineState { last_pass, held })
        })
    }

    /// A pass went through at `now`: the last pass becomes `now` unless it
    /// is already later (a clock that went back never moves it back), and
    /// the hold, if any, ends.
    pub fn record_pass_time(&mut self, now: DateTime<FixedOffset>) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO engine_state (id, last_pass_at, last_pass_utc) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET
                     last_pass_at = CASE WHEN last_pass_utc IS NULL OR last_pass_utc < excluded.last_pass_utc
                                         THEN excluded.last_pass_at ELSE last_pass_at END,
                     last_pass_utc = CASE WHEN last_pass_utc IS NULL OR last_pass_utc < excluded.last_pass_utc
                                          THEN excluded.last_pass_utc ELSE last_pass_utc END,
                     held_since = NULL,
                     held_reason = NULL",
                params![codec::time(&now), codec::utc_key(&now)],
            )?;
            Ok(())
        })
    }

    /// A pass at `now` was held for `reason`. The last pass stays as it
    /// was; a hold already in force keeps its start and takes the new reason.
    pub fn record_hold(
        &mut self,
        now: DateTime<FixedOffset>,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO engine_state (id, held_since, held_reason) VALUES (1, ?1, ?2)
                 ON CONFLICT (id) DO UPDATE SET
                     held_since = coalesce(held_since, excluded.held_since),
                     held_reason = excluded.held_reason",
                params![codec::time(&now), reason],
            )?;
            Ok(())
        })
    }

    /// Appends the record of a burst let through.
    pub fn record_accepted_burst(&mut self, burst: &AcceptedBurst) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO accepted_bursts (at, at_utc, accepted_by, reason, queued)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    codec::time(&burst.at),
                    codec::utc_key(&burst.at),
                    burst.by,
                    burst.reason,
                    burst.queued
                ],
            )?;
            Ok(())
        })
    }

    /// Every burst let through, newest first.
    pub fn accepted_bursts(&self) -> Result<Vec<AcceptedBurst>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, at, accepted_by, reason, queued FROM accepted_bursts
                 ORDER BY at_utc DESC, id DESC",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let what = format!("accepted burst {id}");
                out.push(AcceptedBurst {
                    at: codec::parse_time(&row.get::<_, String>(1)?, &what)?,
                    by: row.get(2)?,
                    reason: row.get(3)?,
                    queued: codec::count(row.get(4)?, &what)?,
                });
            }
            Ok(out)
        })
    }
}
