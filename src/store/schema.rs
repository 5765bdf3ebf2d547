//! The database schema: its migrations, and the checks that decide whether
//! an existing file may be opened and upgraded at all. Nothing here is ever
//! written to a file that failed those checks.

use rusqlite::{Connection, TransactionBehavior};

use super::Fault;

/// Written to the header's `application_id` so that arshjul recognises its
/// own files and refuses other applications' databases ("arsh" in ASCII).
pub(super) const APPLICATION_ID: i64 = 0x6172_7368;

/// Migration scripts: `MIGRATIONS[n]` takes the schema from version `n` to
/// `n + 1`. Scripts are only ever appended; a released one never changes.
pub(super) const MIGRATIONS: &[&str] = &[
    V1,
    V2_RETRACTIONS,
    V3_LINK_REQUESTS,
    V4_ENGINE_STATE,
    V5_ABSENCES,
    V6_EVIDENCE_CHAIN,
    V7_VIEWERS,
    V8_BUNDLE_PARTS,
];

/// Version 1. Times are RFC 3339 text with their offset, as given; each
/// time that is compared or sorted also has a `*_utc` twin in a fixed-width
/// UTC form whose text order is time order. Dates are `YYYY-MM-DD`.
const V1: &str = r#"
PRAGMA application_id = 1634890600;

CREATE TABLE tasks (
    id         TEXT PRIMARY KEY NOT NULL,
    title      TEXT NOT NULL,
    first_seen TEXT NOT NULL
) STRICT;

CREATE TABLE occurrences (
    task       TEXT NOT NULL REFERENCES tasks(id),
    period     TEXT NOT NULL,
    due        TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (task, period)
) STRICT;

-- Completions are audit evidence: appended, never changed or removed.
CREATE TABLE completions (
    id          INTEGER PRIMARY KEY,
    task        TEXT NOT NULL REFERENCES tasks(id),
    period      TEXT NOT NULL,
    at          TEXT NOT NULL,
    at_utc      TEXT NOT NULL,
    done_by     TEXT NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('link', 'cli')),
    note        TEXT,
    client_addr TEXT,
    user_agent  TEXT,
    recorded_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX completions_once ON completions (task, period);
CREATE INDEX completions_task_at ON completions (task, at_utc);
CREATE INDEX completions_at ON completions (at_utc);
CREATE TRIGGER completions_never_change BEFORE UPDATE ON completions
BEGIN
    SELECT RAISE(ABORT, 'completions are audit evidence and cannot be changed');
END;
CREATE TRIGGER completions_never_delete BEFORE DELETE ON completions
BEGIN
    SELECT RAISE(ABORT, 'completions are audit evidence and cannot be deleted');
END;

-- The outbox. Its keys are what keeps a notification from going out twice,
-- so rows are never removed either. `raw` comes last so that queries not
-- asking for it never read its overflow pages.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    key              TEXT NOT NULL UNIQUE,
    task             TEXT NOT NULL REFERENCES tasks(id),
    period           TEXT NOT NULL,
    kind             TEXT NOT NULL,
    step             INTEGER NOT NULL CHECK (step >= 0),
    to_addrs         TEXT NOT NULL,
    cc_addrs         TEXT NOT NULL,
    subject          TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error       TEXT,
    next_attempt_at  TEXT,
    next_attempt_utc TEXT,
    due_at           TEXT NOT NULL,
    due_utc          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    created_utc      TEXT NOT NULL,
    sent_at          TEXT,
    raw              BLOB NOT NULL
) STRICT;
CREATE INDEX outbox_pending ON outbox (due_utc, id) WHERE state = 'pending';
CREATE INDEX outbox_task_key ON outbox (task, key);
CREATE INDEX outbox_task_created ON outbox (task, created_utc, id);
CREATE INDEX outbox_created ON outbox (created_utc, id);
CREATE INDEX outbox_failed ON outbox (created_utc, id) WHERE state = 'failed';
CREATE TRIGGER outbox_never_delete BEFORE DELETE ON outbox
BEGIN
    SELECT RAISE(ABORT, 'outbox rows keep notifications from being sent twice and cannot be deleted');
END;
"#;

/// Retractions (`arshjul undo`): a completion recorded by mistake is not
/// changed or removed; a retraction is appended that names it, with who,
/// when and why, and the period counts as open again. A period may then be
/// completed again, so `completions_once` gives way to "at most one
/// completion that is not retracted", which the store enforces inside its
/// write transaction. `standing_completions` is the completions that count.
const V2_RETRACTIONS: &str = r#"
CREATE TABLE retractions (
    id          INTEGER PRIMARY KEY,
    completion  INTEGER NOT NULL UNIQUE REFERENCES completions(id),
    at          TEXT NOT NULL,
    at_utc      TEXT NOT NULL,
    done_by     TEXT NOT NULL,
    reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0)
) STRICT;
CREATE TRIGGER retractions_never_change BEFORE UPDATE ON retractions
BEGIN
    SELECT RAISE(ABORT, 'retractions are audit evidence and cannot be changed');
END;
CREATE TRIGGER retractions_never_delete BEFORE DELETE ON retractions
BEGIN
    SELECT RAISE(ABORT, 'retractions are audit evidence and cannot be deleted');
END;

DROP INDEX completions_once;
CREATE INDEX completions_task_period ON completions (task, period);

CREATE VIEW standing_completions AS
    SELECT * FROM completions c
    WHERE NOT EXISTS (SELECT 1 FROM retractions r WHERE r.completion = c.id);
"#;

/// Requests for a fresh completion link, made on the page of an expired
/// link (`POST /done/{token}/new-link`). Evidence like completions: a row is
/// never deleted, and of a row only its answer (`handled_at`, `outcome`,
/// `message_key`) is ever filled in, once. `person` is the person key the
/// token was issued to; the address comes from the wheel when the engine
/// answers, never from the request.
const V3_LINK_REQUESTS: &str = r#"
CREATE TABLE link_requests (
    id            INTEGER PRIMARY KEY,
    task          TEXT NOT NULL REFERENCES tasks(id),
    period        TEXT NOT NULL,
    due           TEXT NOT NULL,
    person        TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    requested_utc TEXT NOT NULL,
    client_addr   TEXT,
    user_agent    TEXT,
    handled_at    TEXT,
    outcome       TEXT CHECK (outcome IN ('queued', 'done', 'gone')),
    message_key   TEXT,
    CHECK ((handled_at IS NULL) = (outcome IS NULL)),
    CHECK (message_key IS NULL OR outcome = 'queued')
) STRICT;
CREATE INDEX link_requests_open ON link_requests (id) WHERE handled_at IS NULL;
CREATE INDEX link_requests_recent ON link_requests (requested_utc);
CREATE INDEX link_requests_recipient ON link_requests (task, period, person, requested_utc);
CREATE TRIGGER link_requests_never_delete BEFORE DELETE ON link_requests
BEGIN
    SELECT RAISE(ABORT, 'link requests are evidence and cannot be deleted');
END;
CREATE TRIGGER link_requests_answered_once BEFORE UPDATE ON link_requests
WHEN OLD.handled_at IS NOT NULL
    OR NEW.id IS NOT OLD.id OR NEW.task IS NOT OLD.task OR NEW.period IS NOT OLD.period
    OR NEW.due IS NOT OLD.due OR NEW.person IS NOT OLD.person
    OR NEW.requested_at IS NOT OLD.requested_at OR NEW.requested_utc IS NOT OLD.requested_utc
    OR NEW.client_addr IS NOT OLD.client_addr OR NEW.user_agent IS NOT OLD.user_agent
BEGIN
    SELECT RAISE(ABORT, 'a link request is answered once and otherwise never changed');
END;
"#;

/// The engine's own state, for the brake against a wrong clock: the `now`
/// of the last pass that went through (never moved backwards), and why the
/// engine is holding, if it is. One row at most. Accepted bursts are
/// evidence of an operator's decision: appended, never changed or removed.
const V4_ENGINE_STATE: &str = r#"
CREATE TABLE engine_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_pass_at  TEXT,
    last_pass_utc TEXT,
    held_since    TEXT,
    held_reason   TEXT
) STRICT;

CREATE TABLE accepted_bursts (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    at_utc      TEXT NOT NULL,
    accepted_by TEXT NOT NULL,
    reason      TEXT NOT NULL,
    queued      INTEGER NOT NULL CHECK (queued >= 0)
) STRICT;
CREATE TRIGGER accepted_bursts_never_change BEFORE UPDATE ON accepted_bursts
BEGIN
    SELECT RAISE(ABORT, 'accepted bursts are audit evidence and cannot be changed');
END;
CREATE TRIGGER accepted_bursts_never_delete BEFORE DELETE ON accepted_bursts
BEGIN
    SELECT RAISE(ABORT, 'accepted bursts are audit evidence and cannot be deleted');
END;
"#;

/// Absences (`arshjul away`): who is away from when to when (inclusive
/// local dates), who stands in, who recorded it. Audit evidence like the
/// completions: never deleted, and the only change ever made is setting the
/// cancellation columns once.
const V5_ABSENCES: &str = r#"
CREATE TABLE absences (
    id           INTEGER PRIMARY KEY,
    person       TEXT NOT NULL,
    from_date    TEXT NOT NULL,
    to_date      TEXT NOT NULL,
    deputy       TEXT NOT NULL,
    note         TEXT,
    recorded_at  TEXT NOT NULL,
    recorded_by  TEXT NOT NULL,
    cancelled_at TEXT,
    cancelled_by TEXT,
    CHECK (from_date <= to_date),
    CHECK (deputy <> person),
    CHECK ((cancelled_at IS NULL) = (cancelled_by IS NULL))
) STRICT;
CREATE INDEX absences_to ON absences (to_date) WHERE cancelled_at IS NULL;
CREATE TRIGGER absences_never_delete BEFORE DELETE ON absences
BEGIN
    SELECT RAISE(ABORT, 'absences are audit evidence and cannot be deleted');
END;
CREATE TRIGGER absences_only_cancelled_once BEFORE UPDATE ON absences
WHEN OLD.cancelled_at IS NOT NULL
    OR NEW.cancelled_at IS NULL
    OR NEW.id IS NOT OLD.id
    OR NEW.person IS NOT OLD.person
    OR NEW.from_date IS NOT OLD.from_date
    OR NEW.to_date IS NOT OLD.to_date
    OR NEW.deputy IS NOT OLD.deputy
    OR NEW.note IS NOT OLD.note
    OR NEW.recorded_at IS NOT OLD.recorded_at
    OR NEW.recorded_by IS NOT OLD.recorded_by
BEGIN
    SELECT RAISE(ABORT, 'absences are audit evidence: the only change is one cancellation');
END;
"#;

/// Evidence files, the person who did the work, and the hash chain.
///
/// `evidence_blobs` holds each file's bytes once, keyed by their SHA-256
/// (content-addressed, so the same file given twice is stored once);
/// `evidence` names the files of one completion (the sanitised name, unique
/// within the completion). `completions.performed_by` is the person who did
/// the work ("Udført af"), beside `done_by`, the mailbox or login that
/// recorded it. All append-only, like the completions.
///
/// `chain` is the tamper-evident log: one row per audit event (a completion
/// with its evidence, a retraction, a message sent or given up), in the
/// order they were written, each with the canonical content that was hashed
/// and `hash = SHA-256(prev ‖ content)` (see `store/chain.rs`). Rows that
/// existed before this migration are chained once, at the next open, in
/// Rust (SQL has no SHA-256): `chain_start.existing_chained` says whether
/// that happened.
const V6_EVIDENCE_CHAIN: &str = r#"
ALTER TABLE completions ADD COLUMN performed_by TEXT;

CREATE TABLE evidence_blobs (
    sha256  TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
    bytes   INTEGER NOT NULL CHECK (bytes >= 0),
    content BLOB NOT NULL
) STRICT;
CREATE TRIGGER evidence_blobs_never_change BEFORE UPDATE ON evidence_blobs
BEGIN
    SELECT RAISE(ABORT, 'evidence is audit evidence and cannot be changed');
END;
CREATE TRIGGER evidence_blobs_never_delete BEFORE DELETE ON evidence_blobs
BEGIN
    SELECT RAISE(ABORT, 'evidence is audit evidence and cannot be deleted');
END;

CREATE TABLE evidence (
    id         INTEGER PRIMARY KEY,
    completion INTEGER NOT NULL REFERENCES completions(id),
    name       TEXT NOT NULL CHECK (length(name) > 0),
    sha256     TEXT NOT NULL REFERENCES evidence_blobs(sha256),
    bytes      INTEGER NOT NULL CHECK (bytes >= 0),
    UNIQUE (completion, name)
) STRICT;
CREATE TRIGGER evidence_never_change BEFORE UPDATE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is audit evidence and cannot be changed');
END;
CREATE TRIGGER evidence_never_delete BEFORE DELETE ON evidence
BEGIN
    SELECT RAISE(ABORT, 'evidence is audit evidence and cannot be deleted');
END;

CREATE TABLE chain (
    seq     INTEGER PRIMARY KEY,
    tbl     TEXT NOT NULL CHECK (tbl IN ('completions', 'retractions', 'outbox')),
    row_id  INTEGER NOT NULL,
    event   TEXT NOT NULL CHECK (event IN ('recorded', 'sent', 'given-up')),
    prev    TEXT NOT NULL CHECK (length(prev) = 64),
    hash    TEXT NOT NULL CHECK (length(hash) = 64),
    content BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX chain_rows ON chain (tbl, row_id, event);
CREATE TRIGGER chain_never_change BEFORE UPDATE ON chain
BEGIN
    SELECT RAISE(ABORT, 'the hash chain is audit evidence and cannot be changed');
END;
CREATE TRIGGER chain_never_delete BEFORE DELETE ON chain
BEGIN
    SELECT RAISE(ABORT, 'the hash chain is audit evidence and cannot be deleted');
END;

CREATE TABLE chain_start (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    existing_chained INTEGER NOT NULL CHECK (existing_chained IN (0, 1))
) STRICT;
INSERT INTO chain_start (id, existing_chained) VALUES (1, 0);
"#;

/// Viewer versions (`arshjul link calendar --revoke`): per (kind, viewer)
/// the version viewer links must carry; raising it revokes the links made
/// before. No row: version 0.
const V7_VIEWERS: &str = r#"
CREATE TABLE viewer_versions (
    kind       TEXT NOT NULL,
    viewer     TEXT NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 0),
    revoked_at TEXT NOT NULL,
    revoked_by TEXT NOT NULL,
    PRIMARY KEY (kind, viewer)
) STRICT;
"#;

/// Bundles (`mail.bundle`): one outbox row (kind `bundle`) carries several
/// notifications to one recipient set on one day. Each part's own key is
/// kept here, tied to its bundle row, so that the planner's "already in the
/// outbox" check sees the parts and never plans them again, and `history`
/// can show each task's message. A part key belongs to one bundle only.
const V8_BUNDLE_PARTS: &str = r#"
CREATE TABLE bundle_parts (
    key    TEXT PRIMARY KEY,
    bundle INTEGER NOT NULL REFERENCES outbox(id),
    task   TEXT NOT NULL,
    period TEXT NOT NULL,
    kind   TEXT NOT NULL,
    step   INTEGER NOT NULL CHECK (step >= 0)
) STRICT;
CREATE INDEX bundle_parts_task_key ON bundle_parts (task, key);
CREATE INDEX bundle_parts_bundle ON bundle_parts (bundle);
"#;

/// The newest schema version this binary knows.
pub(super) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Reads the header and the schema without writing anything, and refuses a
/// file that is not ours, is damaged, or is newer than this binary.
pub(super) fn inspect(conn: &Connection) -> Result<(), Fault> {
    // The first read validates the file header: a file that is not a
    // database fails here with SQLITE_NOTADB.
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let application_id: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version = user_version(conn)?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(Fault::Damaged(format!(
            "it belongs to another application (application_id {application_id})"
        )));
    }
    check_version(version)?;
    if version == 0 && objects > 0 {
        return Err(Fault::Damaged(
            "it is a SQLite database with tables that arshjul did not create".to_string(),
        ));
    }
    Ok(())
}

/// Refuses a file that has never been migrated (`user_version` 0, no
/// tables): every database arshjul makes is migrated before it is put in
/// place, so such a file was made by something else and holds no history.
pub(super) fn refuse_blank(conn: &Connection) -> Result<(), Fault> {
    if user_version(conn)? == 0 {
        return Err(Fault::Blank(
            "it is a blank SQLite database without arshjul's tables".to_string(),
        ));
    }
    Ok(())
}

/// Applies every migration the file has not had yet, each in its own
/// IMMEDIATE transaction, re-reading the version under the write lock so
/// that two processes opening a new file at once migrate it once.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), Fault> {
    while user_version(conn)? < LATEST {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version = user_version(&tx)?;
        check_version(version)?;
        let Some(script) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            // Another process finished the migration while we waited.
            return Ok(());
        };
        if version == 0 {
            let objects: i64 =
                tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
            if objects > 0 {
                return Err(Fault::Damaged(
                    "it is a SQLite database with tables that arshjul did not create".to_string(),
                ));
            }
        }
        tx.execute_batch(script)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}

fn user_version(conn: &Connection) -> Result<i64, Fault> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

fn check_version(version: i64) -> Result<(), Fault> {
    if version > LATEST {
        return Err(Fault::TooNew(version));
    }
    if version < 0 {
        return Err(Fault::Damaged(format!(
            "its schema version {version} is not one arshjul ever wrote"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_with_completions_takes_retractions() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(
            "INSERT INTO tasks VALUES ('policy-review', 'Politik', '2027-01-01');
             INSERT INTO completions (task, period, at, at_utc, done_by, via, recorded_at)
             VALUES ('policy-review', '2027', '2027-03-10T11:00:00+01:00',
                     '2027-03-10T10:00:00Z', 'anna', 'cli', '2027-03-10T11:00:00+01:00');",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), LATEST);
        let standing = |conn: &Connection| -> i64 {
            conn.query_row("SELECT count(*) FROM standing_completions", [], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(standing(&conn), 1);
        conn.execute(
            "INSERT INTO retractions (completion, at, at_utc, done_by, reason)
             VALUES (1, '2027-03-12T09:00:00+01:00', '2027-03-12T08:00:00Z', 'bo', 'wrong')",
            [],
        )
        .unwrap();
        assert_eq!(standing(&conn), 0);
        // The period may be completed again: the unique index is gone.
        conn.execute(
            "INSERT INTO completions (task, period, at, at_utc, done_by, via, recorded_at)
             VALUES ('policy-review', '2027', '2027-03-16T10:00:00+01:00',
                     '2027-03-16T09:00:00Z', 'anna', 'cli', '2027-03-16T10:00:00+01:00')",
            [],
        )
        .unwrap();
        assert_eq!(standing(&conn), 1);
        // A completion can be retracted once.
        assert!(conn
            .execute(
                "INSERT INTO retractions (completion, at, at_utc, done_by, reason)
                 VALUES (1, '2027-03-17T09:00:00+01:00', '2027-03-17T08:00:00Z', 'bo', 'again')",
                [],
            )
            .is_err());
    }

    #[test]
    fn the_application_id_in_the_first_migration_is_the_constant() {
        assert!(V1.contains(&format!("application_id = {APPLICATION_ID};")));
    }

    #[test]
    fn a_version_1_database_keeps_its_data_and_gains_the_absences_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(V1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO tasks (id, title, first_seen) VALUES ('t', 'T', '2027-01-01')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn).unwrap(), LATEST);
        let tasks: i64 = conn
            .query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tasks, 1);
        let insert =
            "INSERT INTO absences (person, from_date, to_date, deputy, recorded_at, recorded_by)
                      VALUES (?1, ?2, ?3, ?4, '2027-06-30T12:00:00+02:00', 'x')";
        conn.execute(insert, ["anna", "2027-07-01", "2027-07-14", "bo"])
            .unwrap();
        // The table's own checks: no self-deputy, no reversed dates.
        assert!(conn
            .execute(insert, ["anna", "2027-07-01", "2027-07-14", "anna"])
            .is_err());
        assert!(conn
            .execute(insert, ["anna", "2027-07-14", "2027-07-01", "bo"])
            .is_err());
    }
}
