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

/// SHA-256 of `bytes`, as 64 hex digits.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
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
            let (task, period) = now
                .as_ref()
                .map(|n| (n.task.clone(), n.period.clone()))
                .or_else(|| {
                    decode(&chained).and_then(|v| {
                        let find = |key: &str| {
                            v.iter()
                                .position(|x| *x == Value::Text(key.to_string()))
                                .and_then(|p| v.get(p + 1))
                                .map(text_of)
                        };
                        Some((find("task")?, find("period").unwrap_or_default()))
                    })
                })
                .unwrap_or_default();
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
    use super::*;

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
