//! Bundles (`mail.bundle`): several notifications to one recipient set on
//! one local day, sent as one mail. The mail is one outbox row (kind
//! `bundle`, its own key); each notification it carries is a part whose
//! key is recorded in `bundle_parts` in the same transaction, so the
//! planner sees every part as in the outbox and never plans it again, and
//! a crash between record and delivery leaves one pending row to send,
//! never the parts on their own.

use chrono::{DateTime, FixedOffset};
use rusqlite::params;

use super::{insert_message, NewMessage, Store, StoreError};

/// One notification carried by a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePart {
    /// The notification's own idempotency key, as the planner made it.
    pub key: String,
    pub task: String,
    pub period: String,
    pub kind: String,
    pub step: u32,
}

/// A rendered bundle: its outbox row (its own key, kind `bundle`, `task`
/// and `period` those of its first part) and the parts it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBundle {
    pub message: NewMessage,
    pub parts: Vec<BundlePart>,
}

impl Store {
    /// In one IMMEDIATE transaction, puts each bundle in the outbox as
    /// pending, with its parts. A bundle whose key is already there is
    /// ignored with its parts (they were recorded with it). A bundle one of
    /// whose parts is already recorded (on its own or in another bundle)
    /// is refused whole: a part is sent once. Returns how many bundles
    /// were new.
    pub fn record_bundles(
        &mut self,
        bundles: &[NewBundle],
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut new = 0;
            {
                let today = super::codec::date(now.date_naive());
                let mut task = tx.prepare(
                    "INSERT INTO tasks (id, title, first_seen) VALUES (?1, ?1, ?2)
                     ON CONFLICT (id) DO NOTHING",
                )?;
                let mut known = tx.prepare(
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE key = ?1)
                         OR EXISTS (SELECT 1 FROM bundle_parts WHERE key = ?1)",
                )?;
                let mut part = tx.prepare(
                    "INSERT INTO bundle_parts (key, bundle, task, period, kind, step)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                'bundles: for b in bundles {
                    let m = &b.message;
                    if known.query_row([&m.key], |r| r.get::<_, bool>(0))? {
                        continue;
                    }
                    for p in &b.parts {
                        if known.query_row([&p.key], |r| r.get::<_, bool>(0))? {
                            tracing::warn!(bundle = %m.key, part = %p.key, "bundle not recorded: a part is in the outbox already");
                            continue 'bundles;
                        }
                    }
                    for p in &b.parts {
                        task.execute(params![p.task, today])?;
                    }
                    task.execute(params![m.task, today])?;
                    if insert_message(tx, m, &now)? == 0 {
                        continue;
                    }
                    let id = tx.last_insert_rowid();
                    for p in &b.parts {
                        part.execute(params![p.key, id, p.task, p.period, p.kind, p.step])?;
                    }
                    new += 1;
                }
            }
            Ok(new)
        })
    }

    /// The parts of the bundle in outbox row `id`, in the order recorded.
    pub fn bundle_parts(&self, id: i64) -> Result<Vec<BundlePart>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT key, task, period, kind, step FROM bundle_parts
                 WHERE bundle = ?1 ORDER BY rowid",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(BundlePart {
                    key: r.get(0)?,
                    task: r.get(1)?,
                    period: r.get(2)?,
                    kind: r.get(3)?,
                    step: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
