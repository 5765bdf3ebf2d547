//! The hash chain: a tamper-evident log of every audit row.
//!
//! One global chain in the order rows were written: each row of the
//! `chain` table names an audit row (`tbl`, `row_id`) and the event
//! (`recorded` for a completion or a retraction, `sent` or `given-up` for a
//! message), and holds that row's canonical content as it was when chained
//! and `hash = SHA-256(prev ‖ content)`, where `prev` is the previous chain
//! row's hash (32 zero bytes for the first). Every writer appends in the
//! same transaction as the row itself.
//!
//! The canonical content is a byte string with one meaning: the text
//! `arshjul-chain-v1`, then the table and the event, then each column as
//! its name and its value, every item length-prefixed (see [`Encoder`]).
//! A completion's content ends with its evidence rows (id, name, SHA-256,
//! size), so evidence is chained with its completion; the files' bytes are
//! covered by their SHA-256, which `verify` recomputes. A message's content
//! carries the SHA-256 of the message as sent, not the message.
//!
//! `verify` walks the chain: every hash must follow from the row before it
//! and the content, and every content must equal what the audit row holds
//! now (so a changed, deleted or re-ordered row, and a row added behind
//! arshjul's back, are all found, with the column that differs).

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::Fault;

/// The hash before the first row.
pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What `arshjul verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStatus {
    /// Every row chained and every evidence file matched.
    pub ok: bool,
    /// How many rows the chain has.
    pub rows: u64,
    /// The last row's hash (64 hex digits; 64 zeros for an empty chain).
    pub head: String,
    /// The first row that does not match, when not `ok`.
    pub broken: Option<ChainBreak>,
}

/// The first row of the chain that does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// Its position in the chain, from 1 (one past the last row for an
    /// audit row that is not in the chain at all).
    pub row: u64,
    /// `completions`, `retractions` or `outbox`.
    pub table: String,
    /// The task and period of the audit row, when they are known.
    pub task: String,
    pub period: String,
    /// What differs, in words.
    pub what: String,
}

/// Lowercase hex of `bytes`.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The canonical encoding. Each item is a tag byte and its bytes:
/// `T` + 8-byte big-endian length + UTF-8 text; `I` + 8-byte big-endian
/// two's-complement integer; `N` for NULL; `R` + the 8-byte IEEE 754 bits;
/// `B` + 8-byte length + bytes. A column is its name (a `T` item), then
/// its value.
struct Encoder(Vec<u8>);

impl Encoder {
    fn new(table: &str, event: &str) -> Encoder {
        let mut e = Encoder(Vec::new());
        e.text("arshjul-chain-v1");
        e.text(table);
        e.text(event);
        e
    }

    fn text(&mut self, s: &str) {
        self.0.push(b'T');
        self.0.extend_from_slice(&(s.len() as u64).to_be_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.0.push(b'N'),
            Value::Integer(i) => {
                self.0.push(b'I');
                self.0.extend_from_slice(&i.to_be_bytes());
            }
            Value::Real(f) => {
                self.0.push(b'R');
                self.0.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::Text(s) => self.text(s),
            Value::Blob(b) => {
                self.0.push(b'B');
                self.0.extend_from_slice(&(b.len() as u64).to_be_bytes());
                self.0.extend_from_slice(b);
            }
        }
    }

    fn column(&mut self, name: &str, v: &Value) {
        self.text(name);
        self.value(v);
    }
}

/// Reads back what [`Encoder`] wrote: the items in order.
fn decode(mut bytes: &[u8]) -> Option<Vec<Value>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, tail) = b.split_at(n);
        *b = tail;
        Some(head)
    }
    fn eight(b: &mut &[u8]) -> Option<[u8; 8]> {
        take(b, 8)?.try_into().ok()
    }
    let mut out = Vec::new();
    while let Some((&tag, rest)) = bytes.split_first() {
        bytes = rest;
        out.push(match tag {
            b'N' => Value::Null,
            b'I' => Value::Integer(i64::from_be_bytes(eight(&mut bytes)?)),
            b'R' => Value::Real(f64::from_bits(u64::from_be_bytes(eight(&mut bytes)?))),
            b'T' | b'B' => {
                let len = usize::try_from(u64::from_be_bytes(eight(&mut bytes)?)).ok()?;
                let data = take(&mut bytes, len)?;
                if tag == b'T' {
                    Value::Text(String::from_utf8(data.to_vec()).ok()?)
                } else {
                    Value::Blob(data.to_vec())
                }
            }
            _ => return None,
        });
    }
    Some(out)
}

const COMPLETION_COLUMNS: &[&str] = &[
    "id",
    "task",
    "period",
    "at",
    "at_utc",
    "done_by",
    "performed_by",
    "via",
    "note",
    "client_addr",
    "user_agent",
    "recorded_at",
];
const RETRACTION_COLUMNS: &[&str] = &["id", "completion", "at", "at_utc", "done_by", "reason"];
const OUTBOX_COLUMNS: &[&str] = &[
    "id",
    "key",
    "task",
    "period",
    "kind",
    "step",
    "to_addrs",
    "cc_addrs",
    "subject",
    "message_id",
    "state",
    "due_at",
    "created_at",
];

/// One audit row as the chain sees it.
struct Row {
    content: Vec<u8>,
    task: String,
    period: String,
}

/// Reads `columns` of row `id` of `table` as values, or `None` if gone.
fn values(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    id: i64,
) -> Result<Option<Vec<Value>>, Fault> {
    let sql = format!("SELECT {} FROM {table} WHERE id = ?1", columns.join(", "));
    let mut stmt = conn.prepare_cached(&sql)?;
    let n = columns.len();
    Ok(stmt
        .query_row(params![id], |r| {
            (0..n).map(|i| r.get::<_, Value>(i)).collect()
        })
        .optional()?)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        _ => String::new(),
    }
}

/// The canonical content of an audit row now, with its task and period;
/// `None` when the row is gone.
fn content(conn: &Connection, table: &str, id: i64, event: &str) -> Result<Option<Row>, Fault> {
    let mut e = Encoder::new(table, event);
    let (task, period) = match table {
        "completions" => {
            let Some(v) = values(conn, table, COMPLETION_COLUMNS, id)? else {
                return Ok(None);
            };
            for (name, value) in COMPLETION_COLUMNS.iter().zip(&v) {
                e.column(name, value);
            }
            let mut stmt = conn.prepare_cached(
                "SELECT id, name, sha256, bytes FROM evidence WHERE completion = ?1 ORDER BY id",
            )?;
            let mut rows = stmt.query(params![id])?;
            while let Some(r) = rows.next()? {
                for (i, name) in [
                    "evidence.id",
                    "evidence.name",
                    "evidence.sha256",
                    "evidence.bytes",
                ]
                .iter()
                .enumerate()
                {
                    e.column(name, &r.get::<_, Value>(i)?);
                }
            }
            (text_of(&v[1]), text_of(&v[2]))
        }
        "retractions" => {
            let Some(v) = values(conn, table, RETRACTION_COLUMNS, id)? else {
                return Ok(None);
            };
            for (name, value) in RETRACTION_COLUMNS.iter().zip(&v) {
                e.column(name, value);
            }
            let of: Option<(String, String)> = conn
                .prepare_cached("SELECT task, period FROM completions WHERE id = ?1")?
                .query_row(params![v[1]], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            of.unwrap_or_default()
        }
        "outbox" => {
            let last = if event == "sent" {
                "sent_at"
            } else {
                "last_error"
            };
            let mut columns = OUTBOX_COLUMNS.to_vec();
            columns.extend([last, "raw"]);
            let Some(v) = values(conn, table, &columns, id)? else {
                return Ok(None);
            };
            for (name, value) in OUTBOX_COLUMNS.iter().zip(&v) {
                e.column(name, value);
            }
            e.column(last, &v[OUTBOX_COLUMNS.len()]);
            let raw = match &v[OUTBOX_COLUMNS.len() + 1] {
                Value::Blob(b) => sha256_hex(b),
                other => sha256_hex(text_of(other).as_bytes()),
            };
            e.column("raw_sha256", &Value::Text(raw));
            // A bundle's parts (`bundle_parts`): which tasks it carried is
            // evidence too (the term report counts it as each part's
            // message). A single message has none, so its content is as
            // before bundles.
            let mut stmt = conn.prepare_cached(
                "SELECT key, task, period, kind, step FROM bundle_parts
                 WHERE bundle = ?1 ORDER BY rowid",
            )?;
            let mut rows = stmt.query(params![id])?;
            while let Some(r) = rows.next()? {
                for (i, name) in [
                    "part.key",
                    "part.task",
                    "part.period",
                    "part.kind",
                    "part.step",
                ]
                .iter()
                .enumerate()
                {
                    e.column(name, &r.get::<_, Value>(i)?);
                }
            }
            (text_of(&v[2]), text_of(&v[3]))
        }
        other => return Err(Fault::Damaged(format!("the chain names a table {other:?}"))),
    };
    Ok(Some(Row {
        content: e.0,
        task,
        period,
    }))
}

/// `SHA-256(prev ‖ content)`, `prev` given as hex.
fn link(prev: &str, content: &[u8]) -> String {
    let mut h = Sha256::new();
    let mut raw = [0u8; 32];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = prev
            .get(i * 2..i * 2 + 2)
            .and_then(|p| u8::from_str_radix(p, 16).ok())
            .unwrap_or(0);
    }
    h.update(raw);
    h.update(content);
    hex(&h.finalize())
}

/// Appends the row (`table`, `id`) at `event` to the chain. Call inside
/// the IMMEDIATE transaction that wrote the row.
pub(super) fn append(conn: &Connection, table: &str, id: i64, event: &str) -> Result<(), Fault> {
    let Some(row) = content(conn, table, id, event)? else {
        return Err(Fault::Missing(format!(
            "there is no {table} row {id} to chain"
        )));
    };
    let prev: String = conn
        .prepare_cached("SELECT hash FROM chain ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| GENESIS.to_string());
    let hash = link(&prev, &row.content);
    conn.prepare_cached(
        "INSERT INTO chain (tbl, row_id, event, prev, hash, content) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![table, id, event, prev, hash, row.content])?;
    Ok(())
}

/// The audit rows that should be chained and are not, in the order they
/// are chained once: completions, retractions, then messages sent or
/// given up, each by id.
fn unchained(conn: &Connection) -> Result<Vec<(&'static str, i64, &'static str)>, Fault> {
    let mut out = Vec::new();
    for (table, event, sql) in [
        (
            "completions",
            "recorded",
            "SELECT id FROM completions c WHERE NOT EXISTS
               (SELECT 1 FROM chain WHERE tbl = 'completions' AND row_id = c.id) ORDER BY id",
        ),
        (
            "retractions",
            "recorded",
            "SELECT id FROM retractions r WHERE NOT EXISTS
               (SELECT 1 FROM chain WHERE tbl = 'retractions' AND row_id = r.id) ORDER BY id",
        ),
        (
            "outbox",
            "sent",
            "SELECT id FROM outbox o WHERE state = 'sent' AND NOT EXISTS
               (SELECT 1 FROM chain WHERE tbl = 'outbox' AND row_id = o.id AND event = 'sent')
             ORDER BY id",
        ),
        (
            "outbox",
            "given-up",
            "SELECT id FROM outbox o WHERE state = 'failed' AND NOT EXISTS
               (SELECT 1 FROM chain WHERE tbl = 'outbox' AND row_id = o.id AND event = 'given-up')
             ORDER BY id",
        ),
    ] {
        let mut stmt = conn.prepare(sql)?;
        let ids = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        for id in ids {
            out.push((table, id?, event));
        }
    }
    Ok(out)
}

/// Once per database: chains the audit rows written before the chain
/// existed (the migration that made it cannot hash). Later rows are
/// chained by their writers; a row that appears unchained after this is
/// one `verify` reports.
pub(super) fn chain_existing(conn: &mut Connection) -> Result<(), Fault> {
    let done = |c: &Connection| -> Result<bool, Fault> {
        Ok(c.query_row(
            "SELECT existing_chained FROM chain_start WHERE id = 1",
            [],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
            != Some(0))
    };
    if done(conn)? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if done(&tx)? {
        return Ok(());
    }
    for (table, id, event) in unchained(&tx)? {
        append(&tx, table, id, event)?;
    }
    tx.execute(
        "UPDATE chain_start SET existing_chained = 1 WHERE id = 1",
        [],
    )?;
    tx.commit()?;
    Ok(())
}

/// Names the first field where `now` differs from `then` (both canonical
/// contents), in words.
fn difference(then: &[u8], now: &[u8]) -> String {
    let (Some(then), Some(now)) = (decode(then), decode(now)) else {
        return "its chained content cannot be read".to_string();
    };
    let shown = |v: &Value| match v {
        Value::Null => "nothing".to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => f.to_string(),
        Value::Text(s) => format!("{s:?}"),
        Value::Blob(b) => format!("{} bytes", b.len()),
    };
    // After the three header items, every item pair is (name, value).
    let pairs = |v: &[Value]| -> Vec<(String, Value)> {
        v.get(3..)
            .unwrap_or_default()
            .chunks(2)
            .map(|c| (text_of(&c[0]), c.get(1).cloned().unwrap_or(Value::Null)))
            .collect()
    };
    let (then, now) = (pairs(&then), pairs(&now));
    for i in 0..then.len().max(now.len()) {
        match (then.get(i), now.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (Some((n1, v1)), Some((n2, v2))) if n1 == n2 => {
                return format!("{n1} is {}, chained as {}", shown(v2), shown(v1));
            }
            (Some((n, _)), _) if n.starts_with("evidence.") => {
                return "evidence chained with it is gone or differs".to_string();
            }
            (_, Some((n, _))) if n.starts_with("evidence.") => {
                return "it has evidence that was not chained".to_string();
            }
            _ => break,
        }
    }
    "its content differs from what was chained".to_string()
}

/// The task and period named in chained content whose row is gone: its own
/// `task` and `period`, or those of the completion a retraction names.
fn chained_place(conn: &Connection, chained: &[u8]) -> Result<(String, String), Fault> {
    let Some(items) = decode(chained) else {
        return Ok(Default::default());
    };
    let find = |key: &str| {
        items
            .get(3..)
            .unwrap_or_default()
            .chunks(2)
            .find(|c| c[0] == Value::Text(key.to_string()))
            .and_then(|c| c.get(1).cloned())
    };
    if let (Some(task), Some(period)) = (find("task"), find("period")) {
        return Ok((text_of(&task), text_of(&period)));
    }
    let Some(Value::Integer(completion)) = find("completion") else {
        return Ok(Default::default());
    };
    Ok(conn
        .query_row(
            "SELECT task, period FROM completions WHERE id = ?1",
            params![completion],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or_default())
}

/// Walks the chain and re-hashes every evidence file.
pub(super) fn verify(conn: &Connection) -> Result<ChainStatus, Fault> {
    let snapshot = conn.unchecked_transaction()?;
    // Evidence whose bytes no longer match their SHA-256, by completion.
    let mut bad_blobs: std::collections::HashMap<i64, String> = Default::default();
    {
        let mut stmt = snapshot.prepare(
            "SELECT e.completion, e.name, e.sha256, e.bytes, b.content, b.bytes
             FROM evidence e LEFT JOIN evidence_blobs b ON b.sha256 = e.sha256
             ORDER BY e.id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let completion: i64 = r.get(0)?;
            let name: String = r.get(1)?;
            let sha: String = r.get(2)?;
            let bytes: i64 = r.get(3)?;
            let what = match r.get::<_, Option<Vec<u8>>>(4)? {
                None => Some(format!(
                    "evidence {name:?}: its file (SHA-256 {sha}) is gone"
                )),
                Some(content) => {
                    let actual = sha256_hex(&content);
                    if actual != sha {
                        Some(format!(
                            "evidence {name:?}: the file's SHA-256 is {actual}, chained as {sha}"
                        ))
                    } else if i64::try_from(content.len()).ok() != Some(bytes)
                        || r.get::<_, i64>(5)? != bytes
                    {
                        Some(format!(
                            "evidence {name:?}: the file has {} bytes, chained as {bytes}",
                            content.len()
                        ))
                    } else {
                        None
                    }
                }
            };
            if let Some(what) = what {
                bad_blobs.entry(completion).or_insert(what);
            }
        }
    }
    let mut rows = 0u64;
    let mut head = GENESIS.to_string();
    let mut broken = None;
    {
        let mut stmt = snapshot.prepare(
            "SELECT seq, tbl, row_id, event, prev, hash, content FROM chain ORDER BY seq",
        )?;
        let mut it = stmt.query([])?;
        while let Some(r) = it.next()? {
            let seq: i64 = r.get(0)?;
            let table: String = r.get(1)?;
            let id: i64 = r.get(2)?;
            let event: String = r.get(3)?;
            let prev: String = r.get(4)?;
            let hash: String = r.get(5)?;
            let chained: Vec<u8> = r.get(6)?;
            let expected = rows + 1;
            let now = content(&snapshot, &table, id, &event)?;
            let (task, period) = match &now {
                Some(n) => (n.task.clone(), n.period.clone()),
                None => chained_place(&snapshot, &chained)?,
            };
            let fail = |what: String| ChainBreak {
                row: expected,
                table: table.clone(),
                task: task.clone(),
                period: period.clone(),
                what,
            };
            let problem = if u64::try_from(seq).ok() != Some(expected) {
                Some(fail(format!(
                    "the chain skips from row {} to row {seq}: a row was removed",
                    rows
                )))
            } else if prev != head {
                Some(fail(
                    "it does not follow the row before it (a row was removed or re-ordered)"
                        .to_string(),
                ))
            } else if link(&prev, &chained) != hash {
                Some(fail(
                    "its hash does not match its chained content".to_string(),
                ))
            } else {
                match &now {
                    None => Some(fail(format!(
                        "the {} row {id} it names is gone (deleted)",
                        table
                    ))),
                    Some(n) if n.content != chained => Some(fail(difference(&chained, &n.content))),
                    Some(_) if table == "completions" => bad_blobs.remove(&id).map(fail),
                    Some(_) => None,
                }
            };
            if broken.is_none() {
                broken = problem;
            }
            rows += 1;
            head = hash;
        }
    }
    if broken.is_none() {
        // An audit row that is not in the chain at all was written behind
        // arshjul's back (or its chain row was removed with it).
        if let Some((table, id, event)) = unchained(&snapshot)?.into_iter().next() {
            let now = content(&snapshot, table, id, event)?;
            let (task, period) = now.map(|n| (n.task, n.period)).unwrap_or_default();
            broken = Some(ChainBreak {
                row: rows + 1,
                table: table.to_string(),
                task,
                period,
                what: format!(
                    "{table} row {id} is not in the chain (written behind arshjul's back)"
                ),
            });
        }
    }
    if broken.is_none() {
        // Evidence of a completion that is not chained at all.
        if let Some((_, what)) = bad_blobs.into_iter().min_by_key(|(id, _)| *id) {
            broken = Some(ChainBreak {
                row: rows + 1,
                table: "completions".to_string(),
                task: String::new(),
                period: String::new(),
                what,
            });
        }
    }
    snapshot.commit()?;
    Ok(ChainStatus {
        ok: broken.is_none(),
        rows,
        head,
        broken,
    })
}

#[cfg(test)]
mod tests {
    use super::super::schema::MIGRATIONS;
    use super::super::{NewEvidence, Store};
    use super::*;

    /// A database as arshjul 5 left it: a completion, its retraction, a
    /// message sent, one given up and one pending.
    fn version_5_database(path: &std::path::Path) {
        let conn = Connection::open(path).unwrap();
        for script in &MIGRATIONS[..5] {
            conn.execute_batch(script).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "INSERT INTO tasks VALUES ('policy-review', 'Politik', '2027-01-01');
             INSERT INTO completions (task, period, at, at_utc, done_by, via, recorded_at)
             VALUES ('policy-review', '2027', '2027-03-10T11:00:00+01:00',
                     '2027-03-10T10:00:00Z', 'anna', 'cli', '2027-03-10T11:00:00+01:00');
             INSERT INTO retractions (completion, at, at_utc, done_by, reason)
             VALUES (1, '2027-03-12T09:00:00+01:00', '2027-03-12T08:00:00Z', 'bo', 'forkert');
             INSERT INTO outbox (key, task, period, kind, step, to_addrs, cc_addrs, subject,
                 message_id, state, due_at, due_utc, created_at, created_utc, sent_at, raw)
             VALUES ('policy-review/2027/reminder/0/anna', 'policy-review', '2027', 'reminder',
                 0, 'anna@example.dk', '', 'Påmindelse', '<1@a>', 'sent',
                 '2027-01-29T08:00:00+01:00', '2027-01-29T07:00:00Z',
                 '2027-01-29T08:00:00+01:00', '2027-01-29T07:00:00Z',
                 '2027-01-29T08:00:01+01:00', X'41'),
                    ('policy-review/2027/reminder/1/anna', 'policy-review', '2027', 'reminder',
                 1, 'anna@example.dk', '', 'Påmindelse', '<2@a>', 'failed',
                 '2027-02-22T08:00:00+01:00', '2027-02-22T07:00:00Z',
                 '2027-02-22T08:00:00+01:00', '2027-02-22T07:00:00Z', NULL, X'42'),
                    ('policy-review/2027/reminder/2/anna', 'policy-review', '2027', 'reminder',
                 2, 'anna@example.dk', '', 'Påmindelse', '<3@a>', 'pending',
                 '2027-02-28T08:00:00+01:00', '2027-02-28T07:00:00Z',
                 '2027-02-28T08:00:00+01:00', '2027-02-28T07:00:00Z', NULL, X'43');",
        )
        .unwrap();
    }

    #[test]
    fn an_existing_database_is_chained_once_at_open_and_new_rows_follow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arshjul.db");
        version_5_database(&path);
        let store = Store::open(&path, false).unwrap();
        let first = store.verify_chain().unwrap();
        // The completion, its retraction, the sent and the given-up
        // message; the pending one is not evidence of anything yet.
        assert_eq!((first.ok, first.rows, &first.broken), (true, 4, &None));
        drop(store);
        // Opening again chains nothing twice.
        let mut store = Store::open(&path, false).unwrap();
        assert_eq!(store.verify_chain().unwrap(), first);
        let at = chrono::DateTime::parse_from_rfc3339("2027-02-28T08:00:02+01:00").unwrap();
        store.mark_sent(3, at).unwrap();
        // Marking it sent again changes nothing and chains nothing.
        store.mark_sent(3, at).unwrap();
        let now = store.verify_chain().unwrap();
        assert!(now.ok, "{now:?}");
        assert_eq!(now.rows, 5);
        assert_ne!(now.head, first.head);
    }

    #[test]
    fn a_process_killed_between_the_migration_and_the_chaining_leaves_it_for_the_next_open() {
        // What a kill leaves: the schema migrated (its own transactions),
        // the chaining of the existing rows not committed.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arshjul.db");
        version_5_database(&path);
        {
            let conn = Connection::open(&path).unwrap();
            for script in &MIGRATIONS[5..] {
                conn.execute_batch(script).unwrap();
            }
            conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
                .unwrap();
            let chained: i64 = conn
                .query_row("SELECT count(*) FROM chain", [], |r| r.get(0))
                .unwrap();
            assert_eq!(chained, 0);
        }
        let store = Store::open(&path, false).unwrap();
        let status = store.verify_chain().unwrap();
        assert_eq!((status.ok, status.rows, &status.broken), (true, 4, &None));
        drop(store);
        let again = Store::open(&path, false).unwrap();
        assert_eq!(again.verify_chain().unwrap(), status);
    }

    #[test]
    fn a_message_given_up_is_chained_once_and_a_temporary_failure_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arshjul.db");
        version_5_database(&path);
        let mut store = Store::open(&path, false).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2027-02-28T08:00:02+01:00").unwrap();
        store.mark_failed(3, "451 try later", false, at).unwrap();
        assert_eq!(store.verify_chain().unwrap().rows, 4);
        store.mark_failed(3, "550 no such user", true, at).unwrap();
        assert_eq!(store.verify_chain().unwrap().rows, 5);
        // A message already given up stays as it was chained.
        store.mark_failed(3, "550 again", true, at).unwrap();
        let status = store.verify_chain().unwrap();
        assert!(status.ok, "{status:?}");
        assert_eq!(status.rows, 5);
    }

    #[test]
    fn evidence_over_100_mb_together_is_refused_and_nothing_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("arshjul.db");
        let mut store = Store::open(&path, true).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2027-02-28T08:00:02+01:00").unwrap();
        let c = super::super::NewCompletion {
            task: "policy-review".into(),
            period: "2027".into(),
            at,
            by: "anna".into(),
            via: super::super::Via::Cli,
            note: None,
            client_addr: None,
            user_agent: None,
            recorded_at: at,
        };
        let half = vec![0u8; 50 * 1024 * 1024];
        let extras = super::super::CompletionExtras {
            performed_by: None,
            evidence: vec![
                NewEvidence {
                    name: "a".into(),
                    content: half.clone(),
                },
                NewEvidence {
                    name: "b".into(),
                    content: half,
                },
                NewEvidence {
                    name: "c".into(),
                    content: vec![1],
                },
            ],
        };
        let err = store.record_completion_with(&c, &extras).unwrap_err();
        assert!(matches!(err, super::super::StoreError::Refused(_)), "{err}");
        assert!(store.completion_records(None).unwrap().is_empty());
        let status = store.verify_chain().unwrap();
        assert_eq!((status.ok, status.rows), (true, 0));
        assert_eq!(status.head, GENESIS);
    }

    #[test]
    fn the_encoding_reads_back_and_cannot_be_shifted() {
        let mut e = Encoder::new("completions", "recorded");
        e.column("done_by", &Value::Text("ab".into()));
        e.column("note", &Value::Null);
        let mut f = Encoder::new("completions", "recorded");
        // Moving a character between fields changes the bytes.
        f.column("done_by", &Value::Text("a".into()));
        f.column("note", &Value::Text("b".into()));
        assert_ne!(e.0, f.0);
        let back = decode(&e.0).unwrap();
        assert_eq!(back.len(), 7);
        assert_eq!(back[4], Value::Text("ab".into()));
        assert_eq!(back[6], Value::Null);
        assert_eq!(
            difference(&e.0, &f.0),
            "done_by is \"a\", chained as \"ab\""
        );
    }

    #[test]
    fn the_link_is_sha256_of_the_previous_hash_and_the_content() {
        // SHA-256 of 32 zero bytes followed by "abc", computed independently.
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(b"abc");
        assert_eq!(link(GENESIS, b"abc"), hex(&h.finalize()));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
