//! The SQLite store: occurrences, completions (append-only audit evidence)
//! and the outbox of notifications with their idempotency keys. Owns the
//! schema and its migrations. Knows nothing of SMTP, HTTP or the clock:
//! every time it records is passed in by the caller.

use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate};

use crate::planner::History;
use crate::wheel::Wheel;

/// A failure of the store, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a database, or is damaged. Never overwritten.
    #[error("{path}: not an arshjul database or damaged ({reason}); it was left untouched")]
    Corrupt { path: String, reason: String },
    #[error("{path}: the database schema is version {found}, newer than this arshjul understands ({supported}); upgrade arshjul")]
    TooNew { path: String, found: i64, supported: i64 },
    #[error("{path}: the database is locked by another process; gave up after {seconds} s")]
    Locked { path: String, seconds: u64 },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("database error: {0}")]
    Sqlite(String),
}

/// How a completion was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Link,
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Link => "link",
            Via::Cli => "cli",
        }
    }
}

/// A completion to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCompletion {
    pub task: String,
    pub period: String,
    pub at: DateTime<FixedOffset>,
    pub by: String,
    pub via: Via,
    pub note: Option<String>,
    /// For links: the client address and user agent, as evidence.
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// When it was recorded (differs from `at` when backfilled).
    pub recorded_at: DateTime<FixedOffset>,
}

/// A recorded completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub task: String,
    pub period: String,
    pub at: DateTime<FixedOffset>,
    pub by: String,
    pub via: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionOutcome {
    Recorded,
    /// The period was already done; nothing new was recorded.
    AlreadyDone(Completion),
}

/// A rendered message to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Idempotency key from the planner; a second insert is ignored.
    pub key: String,
    pub task: String,
    pub period: String,
    pub kind: String,
    pub step: u32,
    /// E-mail addresses: envelope recipients are `to` + `cc`.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub message_id: String,
    /// The whole RFC 5322 message as sent.
    pub raw: Vec<u8>,
    pub due_at: DateTime<FixedOffset>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    Pending,
    Sent,
    Failed,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub key: String,
    pub task: String,
    pub period: String,
    pub kind: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub raw: Vec<u8>,
    pub state: MessageState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<FixedOffset>>,
    pub sent_at: Option<DateTime<FixedOffset>>,
}

/// One sent-or-pending notification as `history` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub task: String,
    pub period: String,
    pub kind: String,
    pub to: Vec<String>,
    pub state: MessageState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<FixedOffset>,
    pub sent_at: Option<DateTime<FixedOffset>>,
}

/// An open database. One connection; not shared between threads (wrap it
/// in a mutex, or open one per thread: WAL lets readers and a writer mix).
pub struct Store {
    conn: rusqlite::Connection,
    path: String,
}

impl Store {
    /// Opens the database at `path`, applying migrations. With `create`, a
    /// missing file is created (mode 0600); without it, a missing file is
    /// an `Io` error naming it. A corrupt file or a newer schema is refused
    /// and never touched.
    pub fn open(path: &Path, create: bool) -> Result<Store, StoreError> {
        todo!("{} {create}", path.display())
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// `SELECT 1`: for `/healthz`.
    pub fn ping(&self) -> Result<(), StoreError> {
        todo!()
    }

    /// Records each task of the wheel: new ids get `first_seen = today`,
    /// known ids get their current title. Tasks gone from the wheel keep
    /// their rows and history.
    pub fn sync_tasks(&mut self, wheel: &Wheel, today: NaiveDate) -> Result<(), StoreError> {
        todo!("{} {today}", wheel.tasks.len())
    }

    /// What the planner needs to know, for the tasks of `wheel`.
    pub fn history(&self, wheel: &Wheel) -> Result<History, StoreError> {
        todo!("{}", wheel.tasks.len())
    }

    /// In one IMMEDIATE transaction: records occurrences (task, period, due)
    /// not yet known, and puts messages in the outbox as pending. A message
    /// whose key is already there is ignored. Returns how many were new.
    pub fn record_pass(
        &mut self,
        occurrences: &[(String, String, NaiveDate)],
        messages: &[NewMessage],
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        todo!("{} {} {now}", occurrences.len(), messages.len())
    }

    /// Pending messages whose next attempt is due at `now`, oldest first.
    pub fn deliverable(&self, now: DateTime<FixedOffset>) -> Result<Vec<OutboxMessage>, StoreError> {
        todo!("{now}")
    }

    /// The server accepted message `id`.
    pub fn mark_sent(&mut self, id: i64, at: DateTime<FixedOffset>) -> Result<(), StoreError> {
        todo!("{id} {at}")
    }

    /// Delivery of `id` failed: counts the attempt, keeps the error. A
    /// permanent failure becomes `Failed`; a temporary one stays `Pending`
    /// until `retry_at`.
    pub fn mark_failed(
        &mut self,
        id: i64,
        error: &str,
        permanent: bool,
        retry_at: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        todo!("{id} {error} {permanent} {retry_at}")
    }

    /// Appends a completion unless the period is already done.
    pub fn record_completion(&mut self, c: &NewCompletion) -> Result<CompletionOutcome, StoreError> {
        todo!("{c:?}")
    }

    /// The completion of one period, if any.
    pub fn completion(&self, task: &str, period: &str) -> Result<Option<Completion>, StoreError> {
        todo!("{task} {period}")
    }

    /// The most recent completion of a task, by `at`.
    pub fn last_completion(&self, task: &str) -> Result<Option<Completion>, StoreError> {
        todo!("{task}")
    }

    /// Completions, newest first, optionally of one task.
    pub fn completions(&self, task: Option<&str>) -> Result<Vec<Completion>, StoreError> {
        todo!("{task:?}")
    }

    /// Notifications in the outbox, newest first, optionally of one task.
    pub fn notifications(&self, task: Option<&str>) -> Result<Vec<NotificationRecord>, StoreError> {
        todo!("{task:?}")
    }
}
