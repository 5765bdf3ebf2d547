//! The SQLite store: occurrences, completions (append-only audit evidence)
//! and the outbox of notifications with their idempotency keys. Owns the
//! schema and its migrations. Knows nothing of SMTP, HTTP or the clock:
//! every time it records is passed in by the caller.

mod absences;
mod brake;
mod bundles;
mod chain;
mod codec;
mod evidence;
mod links;
mod passlock;
mod report;
mod schema;
mod viewers;

pub use absences::{AbsenceFilter, AbsenceRecord, CancelOutcome, NewAbsence};
pub use brake::{AcceptedBurst, EngineState, Held};
pub use bundles::{BundlePart, NewBundle};
pub use chain::{sha256_hex, ChainBreak, ChainStatus};
pub use evidence::{
    distinct_name, sanitise_name, EvidenceFile, NewEvidence, StoredEvidence, MAX_FILES,
    MAX_NAME_CHARS, MAX_TOTAL_BYTES,
};
pub use links::{
    LinkAnswer, LinkLimits, LinkRequest, LinkRequestOutcome, LinkRequestRecord, NewLinkRequest,
};
pub use passlock::{pass_lock_path, PassLock};
pub use report::{ReportCompletion, ReportData, ReportMessage, ReportRetraction};

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};

use crate::planner::{Done, History, TaskHistory};
use crate::wheel::Wheel;

/// The newest schema version this binary writes and understands.
pub const SCHEMA_VERSION: i64 = schema::LATEST;

/// How long a statement waits for another process's lock before the store
/// gives up with [`StoreError::Locked`].
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Locks `store`, waiting at most `wait` for whoever holds it (the
/// daemon's pass, another request); then [`StoreError::Busy`]. A poisoned
/// lock is taken as is: every write is a SQLite transaction, so a panic
/// while holding it leaves nothing half done.
pub fn lock_within(
    store: &std::sync::Mutex<Store>,
    wait: Duration,
) -> Result<std::sync::MutexGuard<'_, Store>, StoreError> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match store.try_lock() {
            Ok(guard) => return Ok(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => return Ok(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {
                if std::time::Instant::now() >= deadline {
                    return Err(StoreError::Busy {
                        millis: wait.as_millis().try_into().unwrap_or(u64::MAX),
                    });
                }
                // std's mutex has no timed lock; a short nap in the
                // caller's (blocking) thread is the cost of a bound.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// A failure of the store, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is not a database, or is damaged. Never overwritten.
    #[error("{path}: not an arshjul database or damaged ({reason}); it was left untouched")]
    Corrupt { path: String, reason: String },
    #[error("{path}: the database schema is version {found}, newer than this arshjul understands ({supported}); upgrade arshjul")]
    TooNew {
        path: String,
        found: i64,
        supported: i64,
    },
    /// The file exists but holds no arshjul history (zero bytes, or a blank
    /// SQLite database). Never silently re-created: that would send every
    /// message of the year again.
    #[error("{path}: {what}, so it holds no history; arshjul does not start a new database in its place, because that would send every message of the year again. If this is a new installation, delete the file and arshjul creates the database; otherwise restore it from a backup. The file was left untouched")]
    Empty { path: String, what: String },
    #[error("{path}: the database is locked by another process; gave up after {seconds} s")]
    Locked { path: String, seconds: u64 },
    /// This process's own work (a pass) held the store longer than a
    /// caller would wait for it ([`lock_within`]).
    #[error("the database is busy with other work of this process; gave up after {millis} ms")]
    Busy { millis: u64 },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("database error: {0}")]
    Sqlite(String),
    /// The caller asked for something the store refuses (evidence over
    /// the limit); nothing was recorded. Bad input, not a fault.
    #[error("{0}")]
    Refused(String),
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

/// What a completion carries beyond [`NewCompletion`]: the person who
/// did the work and the evidence files, recorded in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompletionExtras {
    /// Who did the work ("Udført af"), when not the one recording it.
    pub performed_by: Option<String>,
    pub evidence: Vec<NewEvidence>,
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

/// A retraction to record (`arshjul undo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRetraction {
    pub task: String,
    pub period: String,
    /// When it was retracted.
    pub at: DateTime<FixedOffset>,
    pub by: String,
    /// Why; required and not blank.
    pub reason: String,
}

/// A recorded retraction of one completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retraction {
    pub task: String,
    pub period: String,
    pub at: DateTime<FixedOffset>,
    pub by: String,
    pub reason: String,
    /// The completion it retracts: when it was done and by whom.
    pub completion_at: DateTime<FixedOffset>,
    pub completion_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetractionOutcome {
    /// The completion was retracted; the period is open again.
    Retracted(Completion),
    /// The period has no completion that counts; nothing was recorded.
    NotDone,
}

/// A completion as `history` shows it: with its retraction, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionRecord {
    /// The completion's row id (for [`Store::evidence_for_completion`]).
    pub id: i64,
    pub completion: Completion,
    /// Who did the work, when recorded apart from `completion.by`.
    pub performed_by: Option<String>,
    /// Its evidence files, in the order given.
    pub evidence: Vec<EvidenceFile>,
    pub retraction: Option<Retraction>,
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

/// A notification whose message could not be built: it goes into the
/// outbox failed from the start, with the reason, so that `status` shows it
/// and its key is not planned again. It has no raw message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnbuiltMessage {
    pub key: String,
    pub task: String,
    pub period: String,
    pub kind: String,
    pub step: u32,
    /// The addresses it would have gone to, as far as they are known.
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Why it could not be built, worded for the operator.
    pub reason: String,
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

/// Where a batch of [`Store::deliverable_batch`] ended: the next batch
/// starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    due_utc: String,
    id: i64,
}

/// One sent-or-pending notification as `history` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub task: String,
    pub period: String,
    pub kind: String,
    /// The step of its key: an escalation's level (1, 2, …), a reminder's
    /// lead days, a repeat's number; see [`NotificationRecord::level`].
    pub step: u32,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub state: MessageState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<FixedOffset>,
    pub sent_at: Option<DateTime<FixedOffset>>,
}

impl NotificationRecord {
    /// The escalation level of an escalation (1, 2, …); 0 for other kinds.
    pub fn level(&self) -> u32 {
        if self.kind == "escalation" {
            self.step
        } else {
            0
        }
    }
}

/// What went wrong inside the store, before it is worded with the path.
#[derive(Debug)]
enum Fault {
    Db(rusqlite::Error),
    /// A row or header that arshjul cannot have written.
    Damaged(String),
    TooNew(i64),
    /// A database with no arshjul history in it at all.
    Blank(String),
    /// A caller named a row that does not exist.
    Missing(String),
    /// The caller's request is refused as it is (evidence over a limit).
    Refused(String),
    /// The file cannot be used as it is (permissions, file system).
    Io(String),
}

impl From<rusqlite::Error> for Fault {
    fn from(e: rusqlite::Error) -> Fault {
        Fault::Db(e)
    }
}

impl From<rusqlite::types::FromSqlError> for Fault {
    fn from(e: rusqlite::types::FromSqlError) -> Fault {
        Fault::Damaged(format!("a column holds a value of the wrong type ({e})"))
    }
}

/// An open database. One connection; not shared between threads (wrap it
/// in a mutex, or open one per thread: WAL lets readers and a writer mix).
pub struct Store {
    conn: Connection,
    path: String,
    busy_timeout: Duration,
}

impl Store {
    /// Opens the database at `path`, applying migrations. With `create`, a
    /// missing file is created (mode 0600): built and migrated under a
    /// temporary name and then linked into place, so a crash never leaves a
    /// half-made database at `path`. Without `create`, a missing file is an
    /// `Io` error naming it. A corrupt file, a newer schema, an empty file or
    /// a blank SQLite database is refused and never touched.
    pub fn open(path: &Path, create: bool) -> Result<Store, StoreError> {
        Store::open_with_busy_timeout(path, create, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Store::open`], waiting at most `busy_timeout` for another
    /// process's lock (the `busy_timeout_ms` setting), while opening and
    /// after, before giving up with [`StoreError::Locked`].
    pub fn open_with_busy_timeout(
        path: &Path,
        create: bool,
        busy_timeout: Duration,
    ) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let io = |reason: String| StoreError::Io {
            path: shown.clone(),
            reason,
        };
        if !file_present(path)? {
            if !create {
                return Err(io("the database file does not exist".to_string()));
            }
            create_migrated(path).map_err(|e| match e {
                Created::Io(reason) => io(reason),
                Created::Db(e) => StoreError::Sqlite(format!("{shown}: {e}")),
            })?;
        }

        // No SQLITE_OPEN_CREATE: the file exists now, and if it vanished in
        // the meantime that is an error, not a reason to make a new one.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| io(format!("cannot open the database file: {e}")))?;
        let mut store = Store {
            conn,
            path: shown,
            busy_timeout,
        };
        store.prepare().map_err(|f| store.fail(f))?;
        Ok(store)
    }

    /// What is at `path`, read without writing anything: `Ok(None)` when
    /// there is no file yet (the first `tick` or `run` creates it),
    /// `Ok(Some(version))` for an arshjul database this binary can open, and
    /// the error [`Store::open`] would give otherwise. For `check`.
    pub fn inspect(path: &Path) -> Result<Option<i64>, StoreError> {
        let shown = path.display().to_string();
        if !file_present(path)? {
            return Ok(None);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::Io {
            path: shown.clone(),
            reason: format!("cannot open the database file: {e}"),
        })?;
        let store = Store {
            conn,
            path: shown,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        };
        let version = (|| -> Result<i64, Fault> {
            store.conn.busy_timeout(store.busy_timeout)?;
            schema::inspect(&store.conn)?;
            schema::refuse_blank(&store.conn)?;
            Ok(store
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))?)
        })();
        version.map(Some).map_err(|f| store.fail(f))
    }

    /// Checks the file, then (and only then) configures the connection and
    /// migrates the schema.
    fn prepare(&mut self) -> Result<(), Fault> {
        self.conn.busy_timeout(self.busy_timeout)?;
        schema::inspect(&self.conn)?;
        schema::refuse_blank(&self.conn)?;
        if self.conn.is_readonly(rusqlite::MAIN_DB)? {
            return Err(Fault::Io(
                "the database file is read-only for this user; arshjul needs to write to it"
                    .to_string(),
            ));
        }
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Fault::Io(format!(
                "SQLite cannot use its write-ahead log here (the journal stayed {mode:?}); \
                 is the file on a network file system?"
            )));
        }
        // Completions are audit evidence: a commit is on disk when it returns.
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut self.conn)?;
        chain::chain_existing(&mut self.conn)?;
        Ok(())
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// How long to wait for another process's lock before giving up with
    /// `Locked` (5 s unless changed).
    pub fn set_busy_timeout(&mut self, timeout: Duration) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(timeout)
            .map_err(|e| self.fail(e.into()))?;
        self.busy_timeout = timeout;
        Ok(())
    }

    /// How long a statement waits for another process's lock.
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// `SELECT 1`: for `/healthz`.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("SELECT 1", [], |r| r.get::<_, i64>(0))
            .map(|_| ())
            .map_err(|e| self.fail(e.into()))
    }

    /// For `/metrics`: messages pending in the outbox, and completions
    /// recorded by channel (`via`), retracted ones included.
    pub fn metrics_counts(&self) -> Result<(i64, Vec<(String, u64)>), StoreError> {
        let read = || -> Result<(i64, Vec<(String, u64)>), rusqlite::Error> {
            let pending = self.conn.query_row(
                "SELECT count(*) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            let mut stmt = self
                .conn
                .prepare("SELECT via, count(*) FROM completions GROUP BY via ORDER BY via")?;
            let completions = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .map(|row| row.map(|(via, n)| (via, u64::try_from(n).unwrap_or(0))))
                .collect::<Result<_, _>>()?;
            Ok((pending, completions))
        };
        read().map_err(|e| self.fail(e.into()))
    }

    /// Takes the write lock and lets it go (`BEGIN IMMEDIATE; ROLLBACK`),
    /// writing nothing: for `/healthz`, which must know that a pass or a
    /// completion could write now. Waits at most the busy timeout.
    pub fn probe_write(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK")
            .map_err(|e| self.fail(e.into()))
    }

    /// Records each task of the wheel: new ids get `first_seen = today`,
    /// known ids get their current title. Tasks gone from the wheel keep
    /// their rows and history.
    pub fn sync_tasks(&mut self, wheel: &Wheel, today: NaiveDate) -> Result<(), StoreError> {
        self.write(|tx| {
            {
                let mut upsert = tx.prepare(
                    "INSERT INTO tasks (id, title, first_seen) VALUES (?1, ?2, ?3)
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title
                     WHERE title IS NOT excluded.title",
                )?;
                let today = codec::date(today);
                for task in &wheel.tasks {
                    upsert.execute(params![task.id, task.title, today])?;
                }
            }
            Ok(())
        })
    }

    /// What the planner needs to know, for the tasks of `wheel`. Every task
    /// of the wheel has an entry, empty when the database knows nothing of
    /// it. Loaded with one query per table, whatever the number of tasks.
    pub fn history(&self, wheel: &Wheel) -> Result<History, StoreError> {
        self.load_history(wheel).map_err(|f| self.fail(f))
    }

    fn load_history(&self, wheel: &Wheel) -> Result<History, Fault> {
        let mut tasks: HashMap<String, TaskHistory> = wheel
            .tasks
            .iter()
            .map(|t| (t.id.clone(), TaskHistory::default()))
            .collect();

        // One read transaction: all four queries see the same snapshot,
        // whatever other processes commit meanwhile.
        let snapshot = self.conn.unchecked_transaction()?;
        {
            let mut stmt = snapshot.prepare("SELECT id, first_seen FROM tasks")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let id: &str = row.get_ref(0)?.as_str()?;
                if let Some(h) = tasks.get_mut(id) {
                    let first_seen = row.get_ref(1)?.as_str()?;
                    let what = format!("task {id:?}");
                    h.first_seen = Some(codec::parse_date(first_seen, &what)?);
                }
            }
        }
        {
            // Completions that count: not retracted.
            let mut stmt = snapshot.prepare("SELECT task, period FROM standing_completions")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                if let Some(h) = tasks.get_mut(row.get_ref(0)?.as_str()?) {
                    h.done.insert(row.get(1)?);
                }
            }
        }
        {
            // The latest completion of each task, by instant. SQLite takes
            // the bare columns of a `max()` aggregate from the row holding
            // the maximum, found here through the index on (task, at_utc).
            let mut stmt = snapshot.prepare(
                "SELECT task, id, period, at, max(at_utc) FROM standing_completions GROUP BY task",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                if let Some(h) = tasks.get_mut(row.get_ref(0)?.as_str()?) {
                    let id: i64 = row.get(1)?;
                    let at = row.get_ref(3)?.as_str()?;
                    let on = codec::parse_time(at, &format!("completion {id}"))?.date_naive();
                    h.last_done = Some(Done {
                        period: row.get(2)?,
                        on,
                    });
                }
            }
        }
        {
            // Served from the index on (task, key) alone.
            let mut stmt = snapshot.prepare("SELECT task, key FROM outbox")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                if let Some(h) = tasks.get_mut(row.get_ref(0)?.as_str()?) {
                    h.sent.insert(row.get(1)?);
                }
            }
            // The parts of bundles count as in the outbox too.
            let mut stmt = snapshot.prepare("SELECT task, key FROM bundle_parts")?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                if let Some(h) = tasks.get_mut(row.get_ref(0)?.as_str()?) {
                    h.sent.insert(row.get(1)?);
                }
            }
        }
        let absences = absences::for_planner(&snapshot, NaiveDate::MIN)?;
        snapshot.commit()?;
        Ok(History { tasks, absences })
    }

    /// What the planner needs at one moment, read at a cost that grows with
    /// the number of tasks and the occurrences in view, not with years of
    /// history: first appearance and last completion per task, then `view`
    /// names the (task, period) pairs the planner will look at, and only
    /// those are checked for a completion and for messages already sent.
    pub fn history_in_view<F>(&self, wheel: &Wheel, view: F) -> Result<History, StoreError>
    where
        F: FnOnce(&History) -> Vec<(String, String)>,
    {
        self.load_history_in_view(wheel, NaiveDate::MIN, view)
            .map(|(history, _)| history)
            .map_err(|f| self.fail(f))
    }

    /// [`Store::history_in_view`] at `now`: absences that ended before
    /// yesterday (UTC) are left out, as they cannot cover the local day of
    /// `now` in any time zone. The caller names the view (the engine passes
    /// `planner::periods_in_view`); the store does not plan.
    pub fn history_at<F>(
        &self,
        wheel: &Wheel,
        now: DateTime<chrono::Utc>,
        view: F,
    ) -> Result<History, StoreError>
    where
        F: FnOnce(&History) -> Vec<(String, String)>,
    {
        self.history_and_latest_at(wheel, now, view)
            .map(|(history, _)| history)
    }

    /// [`Store::history_at`] and, from the same snapshot, each task's most
    /// recent completion (by `at`) in full, keyed by task id: what `status`
    /// shows, read once instead of once more per task.
    pub fn history_and_latest_at<F>(
        &self,
        wheel: &Wheel,
        now: DateTime<chrono::Utc>,
        view: F,
    ) -> Result<(History, HashMap<String, Completion>), StoreError>
    where
        F: FnOnce(&History) -> Vec<(String, String)>,
    {
        let since = now.date_naive().pred_opt().unwrap_or(NaiveDate::MIN);
        self.load_history_in_view(wheel, since, view)
            .map_err(|f| self.fail(f))
    }

    /// The history in view and each task's latest completion, in one read
    /// transaction.
    fn load_history_in_view<F>(
        &self,
        wheel: &Wheel,
        absences_since: NaiveDate,
        view: F,
    ) -> Result<(History, HashMap<String, Completion>), Fault>
    where
        F: FnOnce(&History) -> Vec<(String, String)>,
    {
        let snapshot = self.conn.unchecked_transaction()?;
        let mut history = History::default();
        let mut latest = HashMap::new();
        {
            let mut seen = snapshot.prepare_cached("SELECT first_seen FROM tasks WHERE id = ?1")?;
            let mut last = snapshot.prepare_cached(LAST_COMPLETION)?;
            for task in &wheel.tasks {
                let mut h = TaskHistory::default();
                let first_seen: Option<String> =
                    seen.query_row([&task.id], |row| row.get(0)).optional()?;
                if let Some(text) = first_seen {
                    h.first_seen = Some(codec::parse_date(&text, &format!("task {:?}", task.id))?);
                }
                let mut rows = last.query([&task.id])?;
                if let Some(c) = rows.next()?.map(completion_from).transpose()? {
                    h.done.insert(c.period.clone());
                    h.last_done = Some(Done {
                        period: c.period.clone(),
                        on: c.at.date_naive(),
                    });
                    latest.insert(task.id.clone(), c);
                }
                history.tasks.insert(task.id.clone(), h);
            }
        }
        let wanted = view(&history);
        {
            let mut done = snapshot.prepare_cached(
                "SELECT 1 FROM standing_completions WHERE task = ?1 AND period = ?2",
            )?;
            // Keys are `task/period/…`: a range over the (task, key) index.
            let mut sent = snapshot.prepare_cached(
                "SELECT key FROM outbox WHERE task = ?1 AND key >= ?2 AND key < ?3",
            )?;
            // The parts of bundles count as in the outbox too.
            let mut parts = snapshot.prepare_cached(
                "SELECT key FROM bundle_parts WHERE task = ?1 AND key >= ?2 AND key < ?3",
            )?;
            for (task, period) in wanted {
                let Some(h) = history.tasks.get_mut(&task) else {
                    continue;
                };
                if h.done.contains(&period) {
                    continue;
                }
                if done.exists([&task, &period])? {
                    h.done.insert(period);
                    continue;
                }
                let low = format!("{task}/{period}/");
                let high = format!("{task}/{period}0");
                let mut rows = sent.query([&task, &low, &high])?;
                while let Some(row) = rows.next()? {
                    h.sent.insert(row.get(0)?);
                }
                let mut rows = parts.query([&task, &low, &high])?;
                while let Some(row) = rows.next()? {
                    h.sent.insert(row.get(0)?);
                }
            }
        }
        history.absences = absences::for_planner(&snapshot, absences_since)?;
        snapshot.commit()?;
        Ok((history, latest))
    }

    /// In one IMMEDIATE transaction: records occurrences (task, period, due)
    /// not yet known, and puts messages in the outbox as pending. A message
    /// whose key is already there is ignored. Returns how many were new.
    ///
    /// A task the database has not seen yet (no `sync_tasks` before) is
    /// recorded with `first_seen` = the date of `now` and its id as title.
    pub fn record_pass(
        &mut self,
        occurrences: &[(String, String, NaiveDate)],
        messages: &[NewMessage],
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.record_pass_with_unbuilt(occurrences, messages, &[], now)
    }

    /// [`Store::record_pass`], and in the same transaction the messages that
    /// could not be built, each as a `failed` row with its reason (no raw
    /// message, no attempt). An unbuilt key already in the outbox is ignored
    /// like any other. Returns how many rows were new, of both kinds.
    pub fn record_pass_with_unbuilt(
        &mut self,
        occurrences: &[(String, String, NaiveDate)],
        messages: &[NewMessage],
        unbuilt: &[UnbuiltMessage],
        now: DateTime<FixedOffset>,
    ) -> Result<usize, StoreError> {
        self.write(|tx| {
            let mut new = 0;
            {
                let now_text = codec::time(&now);
                let today = codec::date(now.date_naive());
                let mut task = tx.prepare(
                    "INSERT INTO tasks (id, title, first_seen) VALUES (?1, ?1, ?2)
                     ON CONFLICT (id) DO NOTHING",
                )?;
                let mut occurrence = tx.prepare(
                    "INSERT INTO occurrences (task, period, due, first_seen) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (task, period) DO NOTHING",
                )?;
                for (id, period, due) in occurrences {
                    task.execute(params![id, today])?;
                    occurrence.execute(params![id, period, codec::date(*due), now_text])?;
                }
                for m in messages {
                    task.execute(params![m.task, today])?;
                    new += insert_message(tx, m, &now)?;
                }
                for m in unbuilt {
                    task.execute(params![m.task, today])?;
                    new += insert_unbuilt(tx, m, &now)?;
                }
            }
            Ok(new)
        })
    }

    /// Pending messages whose next attempt is due at `now`, oldest first
    /// (by due time, then by the order they were queued).
    pub fn deliverable(
        &self,
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.load_deliverable(now).map_err(|f| self.fail(f))
    }

    fn load_deliverable(&self, now: DateTime<FixedOffset>) -> Result<Vec<OutboxMessage>, Fault> {
        Ok(self.load_deliverable_batch(now, None, u32::MAX)?.0)
    }

    /// At most `limit` of [`Store::deliverable`]'s messages, those after
    /// `after` (the cursor a previous batch returned; `None`: from the
    /// start), and the cursor after the last one. Reading batch after batch
    /// goes through the pending messages once, in the same order, holding
    /// one batch in memory; a message marked sent, failed or deferred
    /// meanwhile is not read again.
    pub fn deliverable_batch(
        &self,
        now: DateTime<FixedOffset>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<(Vec<OutboxMessage>, Option<Cursor>), StoreError> {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX);
        self.load_deliverable_batch(now, after, limit)
            .map_err(|f| self.fail(f))
    }

    fn load_deliverable_batch(
        &self,
        now: DateTime<FixedOffset>,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<(Vec<OutboxMessage>, Option<Cursor>), Fault> {
        // The row value comparison walks the partial index `outbox_pending`
        // (due_utc, id) from the cursor on.
        // Two texts, so that each is one range over the index.
        let (sql, due, id) = match after {
            Some(c) => (DELIVERABLE_AFTER, c.due_utc.as_str(), c.id),
            None => (DELIVERABLE_FIRST, "", 0),
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params![codec::utc_key(&now), due, id, limit])?;
        let mut out = Vec::new();
        let mut cursor = None;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let what = format!("outbox message {id}");
            out.push(OutboxMessage {
                id,
                key: row.get(1)?,
                task: row.get(2)?,
                period: row.get(3)?,
                kind: row.get(4)?,
                to: codec::parse_addresses(&row.get::<_, String>(5)?, &what)?,
                cc: codec::parse_addresses(&row.get::<_, String>(6)?, &what)?,
                subject: row.get(7)?,
                message_id: row.get(8)?,
                state: codec::parse_state(&row.get::<_, String>(9)?, &what)?,
                attempts: codec::count(row.get(10)?, &what)?,
                last_error: row.get(11)?,
                next_attempt_at: codec::parse_opt_time(row.get(12)?, &what)?,
                sent_at: codec::parse_opt_time(row.get(13)?, &what)?,
                raw: row.get(14)?,
            });
            cursor = Some(Cursor {
                due_utc: row.get(15)?,
                id,
            });
        }
        Ok((out, cursor))
    }

    /// How many messages [`Store::deliverable`] would return, without
    /// reading them.
    pub fn deliverable_count(&self, now: DateTime<FixedOffset>) -> Result<usize, StoreError> {
        self.read(|conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM outbox
                 WHERE state = 'pending' AND (next_attempt_utc IS NULL OR next_attempt_utc <= ?1)",
                params![codec::utc_key(&now)],
                |r| r.get(0),
            )?;
            Ok(usize::try_from(n).unwrap_or(0))
        })
    }

    /// The earliest retry of a message deferred by a temporary failure, if
    /// any is waiting.
    pub fn next_retry(&self) -> Result<Option<DateTime<FixedOffset>>, StoreError> {
        self.read(|conn| {
            let text: Option<String> = conn
                .query_row(
                    "SELECT next_attempt_at FROM outbox
                     WHERE state = 'pending' AND next_attempt_utc IS NOT NULL
                     ORDER BY next_attempt_utc LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            codec::parse_opt_time(text, "the next retry")
        })
    }

    /// The server accepted message `id`. Marking a message sent twice keeps
    /// the first `sent_at`.
    pub fn mark_sent(&mut self, id: i64, at: DateTime<FixedOffset>) -> Result<(), StoreError> {
        self.write(|tx| {
            require_message(tx, id)?;
            let changed = tx.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?2,
                     next_attempt_at = NULL, next_attempt_utc = NULL
                 WHERE id = ?1 AND state <> 'sent'",
                params![id, codec::time(&at)],
            )?;
            if changed > 0 {
                chain::append(tx, "outbox", id, "sent")?;
            }
            Ok(())
        })
    }

    /// Delivery of `id` failed: counts the attempt, keeps the error. A
    /// permanent failure becomes `Failed`; a temporary one stays `Pending`
    /// until `retry_at`. A message already sent is left as it is.
    pub fn mark_failed(
        &mut self,
        id: i64,
        error: &str,
        permanent: bool,
        retry_at: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            require_message(tx, id)?;
            let (state, next_at, next_utc) = if permanent {
                (MessageState::Failed, None, None)
            } else {
                (
                    MessageState::Pending,
                    Some(codec::time(&retry_at)),
                    Some(codec::utc_key(&retry_at)),
                )
            };
            let changed = tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, state = ?3,
                     next_attempt_at = ?4, next_attempt_utc = ?5
                 WHERE id = ?1 AND state <> 'sent' AND state <> 'failed'",
                params![id, error, codec::state(state), next_at, next_utc],
            )?;
            if changed > 0 && permanent {
                // Given up: the message will never go out.
                chain::append(tx, "outbox", id, "given-up")?;
            }
            Ok(())
        })
    }

    /// Appends a completion unless the period is already done (a completion
    /// that was retracted does not count). Safe when
    /// several processes record the same period at once: one records, the
    /// others get `AlreadyDone` with its completion.
    ///
    /// A task the database has not seen yet is recorded with `first_seen` =
    /// the date of `recorded_at` and its id as title.
    pub fn record_completion(
        &mut self,
        c: &NewCompletion,
    ) -> Result<CompletionOutcome, StoreError> {
        self.record_completion_with(c, &CompletionExtras::default())
    }

    /// [`Store::record_completion`] with who did the work and evidence
    /// files, all in the one transaction that also appends the completion
    /// (its evidence included) to the hash chain: recorded whole or not at
    /// all. Evidence over [`MAX_TOTAL_BYTES`] together is
    /// [`StoreError::Refused`]; the per-file limit is the caller's setting.
    pub fn record_completion_with(
        &mut self,
        c: &NewCompletion,
        extras: &CompletionExtras,
    ) -> Result<CompletionOutcome, StoreError> {
        // Each `AlreadyDone` commits a transaction that changed nothing:
        // the completion found has its task row already, so the task
        // insert before it did nothing.
        self.write(|tx| {
            if let Some(existing) = find_completion(tx, &c.task, &c.period)? {
                return Ok(CompletionOutcome::AlreadyDone(existing));
            }
            tx.execute(
                "INSERT INTO tasks (id, title, first_seen) VALUES (?1, ?1, ?2)
                 ON CONFLICT (id) DO NOTHING",
                params![c.task, codec::date(c.recorded_at.date_naive())],
            )?;
            let inserted = tx.execute(
                "INSERT INTO completions (task, period, at, at_utc, done_by, via, note,
                     client_addr, user_agent, recorded_at, performed_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    c.task,
                    c.period,
                    codec::time(&c.at),
                    codec::utc_key(&c.at),
                    c.by,
                    c.via.as_str(),
                    c.note,
                    c.client_addr,
                    c.user_agent,
                    codec::time(&c.recorded_at),
                    extras.performed_by,
                ],
            );
            match inserted {
                Ok(_) => {
                    let id = tx.last_insert_rowid();
                    evidence::insert(tx, id, &extras.evidence)?;
                    chain::append(tx, "completions", id, "recorded")?;
                    Ok(CompletionOutcome::Recorded)
                }
                // A constraint (a foreign key, a CHECK) refused the row;
                // if another writer recorded the period meanwhile, say so.
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    match find_completion(tx, &c.task, &c.period)? {
                        Some(existing) => Ok(CompletionOutcome::AlreadyDone(existing)),
                        None => Err(e.into()),
                    }
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Retracts the completion of one period that counts, if there is one:
    /// appends a retraction row (the completion itself is never changed),
    /// and the period is open again. In one IMMEDIATE transaction, so it
    /// cannot race a completion or another retraction of the same period.
    pub fn record_retraction(
        &mut self,
        r: &NewRetraction,
    ) -> Result<RetractionOutcome, StoreError> {
        if r.reason.trim().is_empty() {
            return Err(self.fail(Fault::Missing("a retraction needs a reason".to_string())));
        }
        // `NotDone` commits a transaction that changed nothing.
        self.write(|tx| {
            let found: Option<i64> = tx
                .query_row(
                    "SELECT id FROM standing_completions WHERE task = ?1 AND period = ?2
                     ORDER BY id DESC LIMIT 1",
                    params![r.task, r.period],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(id) = found else {
                return Ok(RetractionOutcome::NotDone);
            };
            let completion = {
                let mut stmt = tx.prepare(&format!("{COMPLETION_COLUMNS} WHERE id = ?1"))?;
                let mut rows = stmt.query(params![id])?;
                match rows.next()? {
                    Some(row) => completion_from(row)?,
                    None => return Err(Fault::Missing(format!("there is no completion {id}"))),
                }
            };
            tx.execute(
                "INSERT INTO retractions (completion, at, at_utc, done_by, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    codec::time(&r.at),
                    codec::utc_key(&r.at),
                    r.by,
                    r.reason
                ],
            )?;
            chain::append(tx, "retractions", tx.last_insert_rowid(), "recorded")?;
            Ok(RetractionOutcome::Retracted(completion))
        })
    }

    /// Every completion, newest first (by `at`), each with its retraction
    /// if it was retracted; optionally of one task. What `history` shows.
    pub fn completion_records(
        &self,
        task: Option<&str>,
    ) -> Result<Vec<CompletionRecord>, StoreError> {
        self.read(|conn| {
            let filter = match task {
                Some(_) => "WHERE c.task = ?1",
                None => "WHERE ?1 IS NULL",
            };
            let mut stmt = conn.prepare(&format!(
                "SELECT c.id, c.task, c.period, c.at, c.done_by, c.via, c.note,
                        r.id, r.at, r.done_by, r.reason, c.performed_by
                 FROM completions c LEFT JOIN retractions r ON r.completion = c.id
                 {filter}
                 ORDER BY c.at_utc DESC, c.id DESC"
            ))?;
            let mut rows = stmt.query(params![task])?;
            // Every evidence row of these completions, read in one query.
            let mut files = evidence::by_completion(conn, task)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let completion = completion_from(row)?;
                let retraction = match row.get::<_, Option<i64>>(7)? {
                    None => None,
                    Some(rid) => Some(Retraction {
                        task: completion.task.clone(),
                        period: completion.period.clone(),
                        at: codec::parse_time(
                            &row.get::<_, String>(8)?,
                            &format!("retraction {rid}"),
                        )?,
                        by: row.get(9)?,
                        reason: row.get(10)?,
                        completion_at: completion.at,
                        completion_by: completion.by.clone(),
                    }),
                };
                let id: i64 = row.get(0)?;
                out.push(CompletionRecord {
                    id,
                    completion,
                    performed_by: row.get(11)?,
                    evidence: files.remove(&id).unwrap_or_default(),
                    retraction,
                });
            }
            Ok(out)
        })
    }

    /// The evidence files of completion `completion_id` (see
    /// [`CompletionRecord::id`]), in the order they were given.
    pub fn evidence_for_completion(
        &self,
        completion_id: i64,
    ) -> Result<Vec<EvidenceFile>, StoreError> {
        self.read(|conn| evidence::for_completion(conn, completion_id))
    }

    /// Every evidence file with its completion's task and period, by task,
    /// period and the order recorded (for `evidence export`).
    pub fn all_evidence(&self) -> Result<Vec<StoredEvidence>, StoreError> {
        self.read(evidence::all)
    }

    /// The bytes of the evidence file with this SHA-256.
    pub fn evidence_content(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        self.read(|conn| evidence::content(conn, sha256))
    }

    /// Walks the hash chain and re-hashes every evidence file: `ok` with
    /// the row count and head hash, or the first row that does not match.
    /// Reads only; a broken chain is a result, not an error.
    pub fn verify_chain(&self) -> Result<ChainStatus, StoreError> {
        self.read(chain::verify)
    }

    /// Whether the outbox has a message with idempotency key `key`, in any
    /// state, on its own or as a part of a bundle (the weekly digest asks
    /// before it is built).
    pub fn has_message(&self, key: &str) -> Result<bool, StoreError> {
        self.read(|conn| {
            let found: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM outbox WHERE key = ?1
                     UNION ALL SELECT 1 FROM bundle_parts WHERE key = ?1",
                    params![key],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(found.is_some())
        })
    }

    /// The completion of one period that counts (not retracted), if any.
    pub fn completion(&self, task: &str, period: &str) -> Result<Option<Completion>, StoreError> {
        self.read(|conn| find_completion(conn, task, period))
    }

    /// The most recent completion of a task, by `at`.
    pub fn last_completion(&self, task: &str) -> Result<Option<Completion>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(LAST_COMPLETION)?;
            let mut rows = stmt.query(params![task])?;
            rows.next()?.map(completion_from).transpose()
        })
    }

    /// Completions, newest first (by `at`), optionally of one task.
    pub fn completions(&self, task: Option<&str>) -> Result<Vec<Completion>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "{COMPLETION_COLUMNS} {} ORDER BY at_utc DESC, id DESC",
                task_filter(task)
            ))?;
            let mut rows = stmt.query(params![task])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(completion_from(row)?);
            }
            Ok(out)
        })
    }

    /// The completions that count (not retracted) done at `since` or later,
    /// oldest first (by `at`): what the weekly digest lists as done.
    pub fn standing_completions_since(
        &self,
        since: DateTime<chrono::Utc>,
    ) -> Result<Vec<Completion>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "{STANDING_COLUMNS} WHERE at_utc >= ?1 ORDER BY at_utc, id"
            ))?;
            let key = codec::utc_key(&since.fixed_offset());
            let mut rows = stmt.query(params![key])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(completion_from(row)?);
            }
            Ok(out)
        })
    }

    /// Notifications in the outbox, newest first (by when they were queued),
    /// optionally of one task.
    pub fn notifications(&self, task: Option<&str>) -> Result<Vec<NotificationRecord>, StoreError> {
        self.notification_records(task_filter(task), params![task])
    }

    /// Messages given up on (a permanent delivery failure), newest first:
    /// `status` shows them. Served by a partial index, so the cost follows
    /// the number of failures, not the size of the outbox.
    pub fn failed_notifications(&self) -> Result<Vec<NotificationRecord>, StoreError> {
        self.notification_records("WHERE state = 'failed'", params![])
    }

    /// Messages deferred by a temporary failure and waiting for their next
    /// attempt, oldest first, each with the time of that attempt: `status`
    /// shows them with the server's reason.
    #[allow(clippy::type_complexity)]
    pub fn deferred_notifications(
        &self,
    ) -> Result<Vec<(NotificationRecord, Option<DateTime<FixedOffset>>)>, StoreError> {
        self.read(|conn| {
            // A deferred bundle is one row per part (each part's task
            // shows its message), as in `history`.
            let mut stmt = conn.prepare(
                "SELECT o.id, coalesce(p.task, o.task), coalesce(p.period, o.period),
                        coalesce(p.kind, o.kind), o.to_addrs, o.state, o.attempts,
                        o.last_error, o.created_at, o.sent_at, o.cc_addrs,
                        coalesce(p.step, o.step), o.next_attempt_at
                 FROM outbox o LEFT JOIN bundle_parts p ON p.bundle = o.id
                 WHERE o.state = 'pending' AND o.attempts > 0
                 ORDER BY o.due_utc, o.id, p.rowid",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let record = notification_from(row)?;
                let what = format!("outbox message {}", row.get::<_, i64>(0)?);
                out.push((record, codec::parse_opt_time(row.get(12)?, &what)?));
            }
            Ok(out)
        })
    }

    fn notification_records(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<NotificationRecord>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT id, task, period, kind, to_addrs, state, attempts, last_error,
                        created_at, sent_at, cc_addrs, step
                 FROM ({NOTIFICATION_ROWS}) {filter}
                 ORDER BY created_utc DESC, id DESC"
            ))?;
            let mut rows = stmt.query(args)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(notification_from(row)?);
            }
            Ok(out)
        })
    }

    /// Runs `f` in one IMMEDIATE transaction and commits it when `f`
    /// returns `Ok` (an `Err` rolls it back); any fault, the commit's
    /// included, is worded by [`Store::fail`]. Every write goes through
    /// here.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, Fault>,
    ) -> Result<T, StoreError> {
        let result = (|| -> Result<T, Fault> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        result.map_err(|f| self.fail(f))
    }

    /// Runs the read `f` on the connection; any fault is worded by
    /// [`Store::fail`].
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, Fault>) -> Result<T, StoreError> {
        f(&self.conn).map_err(|f| self.fail(f))
    }

    /// Words a fault for the operator, naming the file.
    fn fail(&self, fault: Fault) -> StoreError {
        let path = self.path.clone();
        match fault {
            Fault::Db(e) => match e.sqlite_error_code() {
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
                    path,
                    seconds: self
                        .busy_timeout
                        .as_millis()
                        .div_ceil(1000)
                        .try_into()
                        .unwrap_or(u64::MAX),
                },
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                    path,
                    reason: e.to_string(),
                },
                Some(ErrorCode::CannotOpen | ErrorCode::SystemIoFailure | ErrorCode::DiskFull) => {
                    StoreError::Io {
                        path,
                        reason: e.to_string(),
                    }
                }
                _ => StoreError::Sqlite(format!("{path}: {e}")),
            },
            Fault::Damaged(reason) => StoreError::Corrupt { path, reason },
            Fault::Blank(what) => StoreError::Empty { path, what },
            Fault::TooNew(found) => StoreError::TooNew {
                path,
                found,
                supported: SCHEMA_VERSION,
            },
            Fault::Missing(what) => StoreError::Sqlite(format!("{path}: {what}")),
            Fault::Refused(what) => StoreError::Refused(what),
            Fault::Io(reason) => StoreError::Io { path, reason },
        }
    }
}

/// Whether SQLite's write-ahead log beside `path` holds anything: a
/// database whose pages are all still in the log can be 0 bytes itself.
fn has_log(path: &Path) -> bool {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    std::fs::metadata(Path::new(&log)).is_ok_and(|m| m.len() > 0)
}

/// Why a new database could not be made.
enum Created {
    Io(String),
    Db(String),
}

/// Makes a new, migrated database at `path` that is never seen half-made:
/// it is built under a temporary name in the same directory (mode 0600: it
/// will hold names, e-mail addresses and client addresses), then linked to
/// `path`. If another process got there first, its database is kept. A
/// crash leaves at most a stray temporary file, never an empty `path`.
fn create_migrated(path: &Path) -> Result<(), Created> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "arshjul.db".to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temp = path.with_file_name(format!(".{name}.new-{}-{nanos}", std::process::id()));
    let made = (|| {
        create_private(&temp)
            .map_err(|e| Created::Io(format!("cannot create the database file: {e}")))?;
        {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let mut conn = Connection::open_with_flags(&temp, flags)
                .map_err(|e| Created::Io(format!("cannot create the database file: {e}")))?;
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(|e| Created::Db(e.to_string()))?;
            schema::migrate(&mut conn).map_err(|f| match f {
                Fault::Db(e) => Created::Db(e.to_string()),
                Fault::Damaged(why)
                | Fault::Blank(why)
                | Fault::Missing(why)
                | Fault::Refused(why)
                | Fault::Io(why) => Created::Db(why),
                Fault::TooNew(version) => {
                    Created::Db(format!("the new file has schema version {version}"))
                }
            })?;
            conn.close().map_err(|(_, e)| Created::Db(e.to_string()))?;
        }
        match std::fs::hard_link(&temp, path) {
            Ok(()) => Ok(()),
            // Another process made it first; theirs is opened like any other.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            // A file system without hard links: a rename, unless the file
            // appeared meanwhile.
            Err(_) if !path.exists() => std::fs::rename(&temp, path)
                .map_err(|e| Created::Io(format!("cannot create the database file: {e}"))),
            Err(_) => Ok(()),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    made
}

/// Creates an empty file readable and writable by its owner only.
/// Whether a database file is at `path`: `false` when there is none, an
/// error for a directory, an empty file (0 bytes, no write-ahead log beside
/// it) or one that cannot be read. What `open` and `inspect` agree on.
fn file_present(path: &Path) -> Result<bool, StoreError> {
    let shown = path.display().to_string();
    let io = |reason: String| StoreError::Io {
        path: shown.clone(),
        reason,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io("is a directory, not a database file".to_string())),
        Ok(meta) if meta.len() == 0 && !has_log(path) => Err(StoreError::Empty {
            path: shown.clone(),
            what: "the database file is empty (0 bytes)".to_string(),
        }),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(format!("cannot read the database file: {e}"))),
    }
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map(|_| ())
}

fn require_message(conn: &Connection, id: i64) -> Result<(), Fault> {
    let found: Option<i64> = conn
        .query_row("SELECT id FROM outbox WHERE id = ?1", params![id], |r| {
            r.get(0)
        })
        .optional()?;
    match found {
        Some(_) => Ok(()),
        None => Err(Fault::Missing(format!("there is no outbox message {id}"))),
    }
}

/// The WHERE clause for an optional task bound as `?1`: two fixed texts,
/// so that a query for one task can use the index on `task`.
/// The outbox as `history` and `status` see it: a bundle (`mail.bundle`)
/// is one row per part, with the part's task, period and kind and the
/// bundle's recipients, state and times, so each task shows its message.
const NOTIFICATION_ROWS: &str = "SELECT o.id AS id, coalesce(p.task, o.task) AS task,
        coalesce(p.period, o.period) AS period, coalesce(p.kind, o.kind) AS kind,
        o.to_addrs AS to_addrs, o.state AS state, o.attempts AS attempts,
        o.last_error AS last_error, o.created_at AS created_at, o.sent_at AS sent_at,
        o.cc_addrs AS cc_addrs, o.created_utc AS created_utc,
        coalesce(p.step, o.step) AS step
    FROM outbox o LEFT JOIN bundle_parts p ON p.bundle = o.id";

fn task_filter(task: Option<&str>) -> &'static str {
    match task {
        Some(_) => "WHERE task = ?1",
        None => "WHERE ?1 IS NULL",
    }
}

/// The columns [`Store::deliverable_batch`] reads, of pending messages whose
/// next attempt is due at `?1`.
macro_rules! select_deliverable {
    () => {
        "SELECT id, key, task, period, kind, to_addrs, cc_addrs, subject, message_id,
                state, attempts, last_error, next_attempt_at, sent_at, raw, due_utc
         FROM outbox
         WHERE state = 'pending' AND (next_attempt_utc IS NULL OR next_attempt_utc <= ?1) "
    };
}

/// A message that could not be built: `failed` from the start, with its
/// reason, no raw message and no attempt; not when a bundle carries it
/// (see [`INSERT_MESSAGE`]). Parameters: see [`insert_unbuilt`].
const INSERT_UNBUILT: &str = "INSERT INTO outbox (key, task, period, kind, step, to_addrs,
         cc_addrs, subject, message_id, state, attempts, last_error, due_at, due_utc,
         created_at, created_utc, raw)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, '', '', 'failed', 0, ?8, ?9, ?10, ?11, ?12, X''
     WHERE NOT EXISTS (SELECT 1 FROM bundle_parts WHERE key = ?1)
     ON CONFLICT (key) DO NOTHING";

/// Inserts `m` by [`INSERT_UNBUILT`], created at `now`; 1 if it was new.
fn insert_unbuilt(
    conn: &Connection,
    m: &UnbuiltMessage,
    now: &DateTime<FixedOffset>,
) -> Result<usize, Fault> {
    let new = conn.prepare_cached(INSERT_UNBUILT)?.execute(params![
        m.key,
        m.task,
        m.period,
        m.kind,
        m.step,
        codec::addresses(&m.to),
        codec::addresses(&m.cc),
        m.reason,
        codec::time(&m.due_at),
        codec::utc_key(&m.due_at),
        codec::time(now),
        codec::utc_key(now),
    ])?;
    if new > 0 {
        // Given up from the start: it will never go out.
        chain::append(conn, "outbox", conn.last_insert_rowid(), "given-up")?;
    }
    Ok(new)
}

/// Puts a rendered message in the outbox, pending; a key already there is
/// left as it is. Returns 1 for a new row, 0 otherwise.
fn insert_message(
    conn: &Connection,
    m: &NewMessage,
    now: &DateTime<FixedOffset>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(INSERT_MESSAGE)?.execute(params![
        m.key,
        m.task,
        m.period,
        m.kind,
        m.step,
        codec::addresses(&m.to),
        codec::addresses(&m.cc),
        m.subject,
        m.message_id,
        codec::time(&m.due_at),
        codec::utc_key(&m.due_at),
        codec::time(now),
        codec::utc_key(now),
        m.raw,
    ])
}

/// One rendered message, pending, unless its key is there already: in the
/// outbox, or as a part of a bundle. Two passes at once (`tick` and the
/// daemon) may plan from the same history; one records a bundle carrying
/// a message the other, planned a moment before, has on its own. The
/// outbox's UNIQUE key alone does not see the part, and the message would
/// go twice. Parameters: see [`insert_message`].
const INSERT_MESSAGE: &str = "INSERT INTO outbox (key, task, period, kind, step, to_addrs,
         cc_addrs, subject, message_id, state, attempts, due_at, due_utc,
         created_at, created_utc, raw)
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?10, ?11, ?12, ?13, ?14
     WHERE NOT EXISTS (SELECT 1 FROM bundle_parts WHERE key = ?1)
     ON CONFLICT (key) DO NOTHING";

/// The pending messages due at `?1`, in delivery order, at most `?4`; `?2`
/// and `?3` unused (see [`DELIVERABLE_AFTER`]).
const DELIVERABLE_FIRST: &str = concat!(select_deliverable!(), "ORDER BY due_utc, id LIMIT ?4");

/// [`DELIVERABLE_FIRST`] after the cursor (`?2` due_utc, `?3` id).
const DELIVERABLE_AFTER: &str = concat!(
    select_deliverable!(),
    "AND (due_utc, id) > (?2, ?3) ORDER BY due_utc, id LIMIT ?4"
);

/// The columns [`completion_from`] reads, in its order.
macro_rules! select_completions {
    () => {
        "SELECT id, task, period, at, done_by, via, note FROM "
    };
}

/// Every completion ever recorded, retracted or not (for `history`).
const COMPLETION_COLUMNS: &str = concat!(select_completions!(), "completions");

/// The completions that count: those not retracted.
const STANDING_COLUMNS: &str = concat!(select_completions!(), "standing_completions");

/// A task's most recent completion that counts, by `at` (the
/// `completions_task_at` index).
const LAST_COMPLETION: &str = concat!(
    select_completions!(),
    "standing_completions WHERE task = ?1 ORDER BY at_utc DESC, id DESC LIMIT 1"
);

fn find_completion(
    conn: &Connection,
    task: &str,
    period: &str,
) -> Result<Option<Completion>, Fault> {
    let mut stmt = conn.prepare(&format!(
        "{STANDING_COLUMNS} WHERE task = ?1 AND period = ?2"
    ))?;
    let mut rows = stmt.query(params![task, period])?;
    rows.next()?.map(completion_from).transpose()
}

/// A notification from a row whose first eleven columns are id, task,
/// period, kind, to_addrs, state, attempts, last_error, created_at, sent_at
/// and cc_addrs.
fn notification_from(row: &rusqlite::Row<'_>) -> Result<NotificationRecord, Fault> {
    let what = format!("outbox message {}", row.get::<_, i64>(0)?);
    Ok(NotificationRecord {
        task: row.get(1)?,
        period: row.get(2)?,
        kind: row.get(3)?,
        to: codec::parse_addresses(&row.get::<_, String>(4)?, &what)?,
        state: codec::parse_state(&row.get::<_, String>(5)?, &what)?,
        attempts: codec::count(row.get(6)?, &what)?,
        last_error: row.get(7)?,
        created_at: codec::parse_time(&row.get::<_, String>(8)?, &what)?,
        sent_at: codec::parse_opt_time(row.get(9)?, &what)?,
        cc: codec::parse_addresses(&row.get::<_, String>(10)?, &what)?,
        step: codec::count(row.get(11)?, &what)?,
    })
}

fn completion_from(row: &rusqlite::Row<'_>) -> Result<Completion, Fault> {
    let id: i64 = row.get(0)?;
    Ok(Completion {
        task: row.get(1)?,
        period: row.get(2)?,
        at: codec::parse_time(&row.get::<_, String>(3)?, &format!("completion {id}"))?,
        by: row.get(4)?,
        via: row.get(5)?,
        note: row.get(6)?,
    })
}
