//! Requests for a fresh completion link (the button on the page of an
//! expired link): recorded with a rate limit checked in the same
//! transaction, answered by the engine's pass (a `link` message in the
//! outbox, in the same transaction that marks the request answered), and
//! listed by `history`.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate};
use rusqlite::{params, OptionalExtension};

use super::{
    codec, find_completion, insert_message, insert_unbuilt, Completion, Fault, MessageState,
    NewMessage, Store, StoreError, UnbuiltMessage,
};

/// A request to record: which occurrence, for which person key (the one the
/// token was issued to), and who asked, as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLinkRequest {
    pub task: String,
    pub period: String,
    pub due: NaiveDate,
    pub person: String,
    pub at: DateTime<FixedOffset>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// How often fresh links may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLimits {
    /// At most one request per recipient and occurrence within this time.
    pub per_recipient: Duration,
    /// At most this many requests in all within `window`.
    pub total: u32,
    pub window: Duration,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRequestOutcome {
    /// Recorded with this id; the next pass answers it.
    Recorded(i64),
    /// This recipient asked for this occurrence recently; try again after
    /// this many seconds.
    Recent { retry_after_secs: i64 },
    /// Too many requests in all lately; try again after this many seconds.
    Busy { retry_after_secs: i64 },
    /// The occurrence is done; nothing was recorded.
    AlreadyDone(Completion),
}

/// A request not yet answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequest {
    pub id: i64,
    pub task: String,
    pub period: String,
    pub due: NaiveDate,
    pub person: String,
    pub requested_at: DateTime<FixedOffset>,
}

/// How the engine answered a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAnswer {
    /// A message with a fresh link, to put in the outbox.
    Queued(Box<NewMessage>),
    /// The message could not be built: it goes into the outbox failed, with
    /// its reason, so `status` shows it and no pass tries it again.
    Unbuilt(Box<UnbuiltMessage>),
    /// The occurrence was done meanwhile; nothing to send.
    Done,
    /// The task or the person is no longer in the wheel; nothing to send.
    Gone,
}

impl LinkAnswer {
    fn outcome(&self) -> &'static str {
        match self {
            // The request's outcome names the message; the message's state
            // says whether it went.
            LinkAnswer::Queued(_) | LinkAnswer::Unbuilt(_) => "queued",
            LinkAnswer::Done => "done",
            LinkAnswer::Gone => "gone",
        }
    }
}

/// A request as `history` shows it, with the message that answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRequestRecord {
    pub task: String,
    pub period: String,
    pub person: String,
    pub requested_at: DateTime<FixedOffset>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// `None` while waiting for a pass; else `queued`, `done` or `gone`.
    pub outcome: Option<String>,
    pub handled_at: Option<DateTime<FixedOffset>>,
    /// The answering message's recipients, state and send time.
    pub to: Option<Vec<String>>,
    pub message_state: Option<MessageState>,
    pub sent_at: Option<DateTime<FixedOffset>>,
}

impl Store {
    /// Records a request for a fresh link unless the occurrence is done or
    /// a limit is reached, all in one IMMEDIATE transaction, so that two
    /// requests at once cannot both pass the limit.
    pub fn request_link(
        &mut self,
        r: &NewLinkRequest,
        limits: LinkLimits,
    ) -> Result<LinkRequestOutcome, StoreError> {
        self.write(|tx| {
            if let Some(done) = find_completion(tx, &r.task, &r.period)? {
                return Ok(LinkRequestOutcome::AlreadyDone(done));
            }
            let retry_after = |since: &str, wait: Duration| -> Result<i64, Fault> {
                let since = codec::parse_time(since, "a link request")?;
                Ok((since + wait - r.at).num_seconds().max(1))
            };
            let recent: Option<String> = tx
                .query_row(
                    "SELECT max(requested_utc) FROM link_requests
                     WHERE task = ?1 AND period = ?2 AND person = ?3 AND requested_utc > ?4",
                    params![
                        r.task,
                        r.period,
                        r.person,
                        codec::utc_key(&(r.at - limits.per_recipient))
                    ],
                    |row| row.get(0),
                )
                .optional()?
                .flatten();
            if let Some(last) = recent {
                return Ok(LinkRequestOutcome::Recent {
                    retry_after_secs: retry_after(&last, limits.per_recipient)?,
                });
            }
            let (count, oldest): (i64, Option<String>) = tx.query_row(
                "SELECT count(*), min(requested_utc) FROM link_requests WHERE requested_utc > ?1",
                params![codec::utc_key(&(r.at - limits.window))],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            if count >= i64::from(limits.total) {
                let retry_after_secs = match oldest {
                    Some(oldest) => retry_after(&oldest, limits.window)?,
                    None => limits.window.num_seconds().max(1),
                };
                return Ok(LinkRequestOutcome::Busy { retry_after_secs });
            }
            tx.execute(
                "INSERT INTO tasks (id, title, first_seen) VALUES (?1, ?1, ?2)
                 ON CONFLICT (id) DO NOTHING",
                params![r.task, codec::date(r.at.date_naive())],
            )?;
            tx.execute(
                "INSERT INTO link_requests (task, period, due, person, requested_at,
                     requested_utc, client_addr, user_agent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    r.task,
                    r.period,
                    codec::date(r.due),
                    r.person,
                    codec::time(&r.at),
                    codec::utc_key(&r.at),
                    r.client_addr,
                    r.user_agent,
                ],
            )?;
            let id = tx.last_insert_rowid();
            Ok(LinkRequestOutcome::Recorded(id))
        })
    }

    /// Requests not answered yet, oldest first.
    pub fn open_link_requests(&self) -> Result<Vec<LinkRequest>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, task, period, due, person, requested_at FROM link_requests
                 WHERE handled_at IS NULL ORDER BY id",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let what = format!("link request {id}");
                out.push(LinkRequest {
                    id,
                    task: row.get(1)?,
                    period: row.get(2)?,
                    due: codec::parse_date(&row.get::<_, String>(3)?, &what)?,
                    person: row.get(4)?,
                    requested_at: codec::parse_time(&row.get::<_, String>(5)?, &what)?,
                });
            }
            Ok(out)
        })
    }

    /// Answers request `id` in one IMMEDIATE transaction: puts the message
    /// (if any) in the outbox and marks the request answered. Returns
    /// whether this call answered it (false: another process did first, and
    /// nothing was written).
    pub fn answer_link_request(
        &mut self,
        id: i64,
        answer: &LinkAnswer,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let now_text = codec::time(&now);
            let key = match answer {
                LinkAnswer::Queued(m) => Some(m.key.as_str()),
                LinkAnswer::Unbuilt(m) => Some(m.key.as_str()),
                _ => None,
            };
            let answered = tx.execute(
                "UPDATE link_requests SET handled_at = ?2, outcome = ?3, message_key = ?4
                 WHERE id = ?1 AND handled_at IS NULL",
                params![id, now_text, answer.outcome(), key],
            )?;
            if answered == 0 {
                return Ok(false);
            }
            if let LinkAnswer::Unbuilt(m) = answer {
                insert_unbuilt(tx, m, &now)?;
            }
            if let LinkAnswer::Queued(m) = answer {
                insert_message(tx, m, &now)?;
            }
            Ok(true)
        })
    }

    /// Link requests, newest first, optionally of one task, each with the
    /// message that answered it.
    pub fn link_requests(&self, task: Option<&str>) -> Result<Vec<LinkRequestRecord>, StoreError> {
        self.read(|conn| {
            let filter = match task {
                Some(_) => "WHERE r.task = ?1",
                None => "WHERE ?1 IS NULL",
            };
            let mut stmt = conn.prepare(&format!(
                "SELECT r.id, r.task, r.period, r.person, r.requested_at, r.client_addr,
                        r.user_agent, r.outcome, r.handled_at, o.to_addrs, o.state, o.sent_at
                 FROM link_requests r LEFT JOIN outbox o ON o.key = r.message_key
                 {filter}
                 ORDER BY r.requested_utc DESC, r.id DESC"
            ))?;
            let mut rows = stmt.query(params![task])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let what = format!("link request {}", row.get::<_, i64>(0)?);
                out.push(LinkRequestRecord {
                    task: row.get(1)?,
                    period: row.get(2)?,
                    person: row.get(3)?,
                    requested_at: codec::parse_time(&row.get::<_, String>(4)?, &what)?,
                    client_addr: row.get(5)?,
                    user_agent: row.get(6)?,
                    outcome: row.get(7)?,
                    handled_at: codec::parse_opt_time(row.get(8)?, &what)?,
                    to: row
                        .get::<_, Option<String>>(9)?
                        .map(|s| codec::parse_addresses(&s, &what))
                        .transpose()?,
                    message_state: row
                        .get::<_, Option<String>>(10)?
                        .map(|s| codec::parse_state(&s, &what))
                        .transpose()?,
                    sent_at: codec::parse_opt_time(row.get(11)?, &what)?,
                });
            }
            Ok(out)
        })
    }
}
