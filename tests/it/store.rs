//! The SQLite store against real database files in a temporary directory:
//! opening and refusing files, the outbox, completions as append-only
//! evidence, history for the planner, and several processes at once.

use crate::support::fixtures::{assert_contains, organisation};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use arshjul::planner::{self, Done, TaskHistory};
use arshjul::store::{
    Completion, CompletionOutcome, LinkAnswer, LinkLimits, LinkRequestOutcome, MessageState,
    NewCompletion, NewLinkRequest, NewMessage, NewRetraction, RetractionOutcome, Store, StoreError,
    Via, SCHEMA_VERSION,
};
use arshjul::wheel::{Anchor, Days, Language, Recurrence, Task, Wheel};
use chrono::{DateTime, FixedOffset, NaiveDate};
use tempfile::TempDir;

// ---------------------------------------------------------------- helpers

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// A wheel with the given (id, title) tasks, every one yearly on 03-01.
fn wheel(tasks: &[(&str, &str)]) -> Wheel {
    Wheel {
        organisation: organisation("Ballerup Kommune", Language::Da, None),
        terms: None,
        people: BTreeMap::new(),
        tasks: tasks
            .iter()
            .map(|(id, title)| Task {
                id: id.to_string(),
                title: title.to_string(),
                owners: vec!["digitalisering".to_string()],
                recurrence: Recurrence::Years {
                    every: 1,
                    first: None,
                    month: 3,
                    day: 1,
                },
                anchor: Anchor::Fixed,
                reference: None,
                description: None,
                category: None,
                remind: vec![Days(30), Days(7), Days(1)],
                repeat: Some(Days(7)),
                escalate: vec![],
            })
            .collect(),
    }
}

fn done(task: &str, period: &str, at: &str, by: &str) -> NewCompletion {
    NewCompletion {
        task: task.to_string(),
        period: period.to_string(),
        at: t(at),
        by: by.to_string(),
        via: Via::Link,
        note: None,
        client_addr: Some("192.0.2.10".to_string()),
        user_agent: Some("Mozilla/5.0".to_string()),
        recorded_at: t(at),
    }
}

fn message(key: &str, task: &str, period: &str, due_at: &str) -> NewMessage {
    NewMessage {
        key: key.to_string(),
        task: task.to_string(),
        period: period.to_string(),
        kind: "reminder".to_string(),
        step: 0,
        to: vec!["anna@example.dk".to_string()],
        cc: vec!["chef@example.dk".to_string()],
        subject: "Påmindelse: Årlig gennemgang".to_string(),
        message_id: format!("<{key}@arshjul>"),
        raw: format!("Subject: {key}\r\n\r\nÆøå\r\n").into_bytes(),
        due_at: t(due_at),
    }
}

struct Db {
    _dir: TempDir,
    path: PathBuf,
}

fn new_db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arshjul.db");
    Db { _dir: dir, path }
}

fn open_new(db: &Db) -> Store {
    Store::open(&db.path, true).unwrap()
}

/// A second, plain connection to the same file, as another process would have.
fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn siblings(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn keys(list: &[&str]) -> HashSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------- opening

#[test]
fn a_new_database_is_created_migrated_and_its_data_survives_reopening() {
    let db = new_db();
    {
        let mut store = open_new(&db);
        assert_eq!(store.path(), db.path.display().to_string());
        store.ping().unwrap();
        store
            .record_completion(&done(
                "policy-review",
                "2026",
                "2026-02-20T10:12:00+01:00",
                "anna@example.dk",
            ))
            .unwrap();
    }
    let store = Store::open(&db.path, false).unwrap();
    let c = store.completion("policy-review", "2026").unwrap().unwrap();
    assert_eq!(c.at, t("2026-02-20T10:12:00+01:00"));
    assert_eq!(c.at.offset().local_minus_utc(), 3600);
    assert_eq!(c.by, "anna@example.dk");
    assert_eq!(c.via, "link");

    let conn = raw(&db.path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[cfg(unix)]
#[test]
fn a_new_database_file_and_its_log_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = new_db();
    let mut store = open_new(&db);
    store
        .record_completion(&done(
            "policy-review",
            "2026",
            "2026-02-20T10:12:00+01:00",
            "anna",
        ))
        .unwrap();
    let mode = |name: &str| {
        let path = db.path.with_file_name(name);
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("arshjul.db"), 0o600);
    assert_eq!(mode("arshjul.db-wal"), 0o600);
}

#[test]
fn an_existing_empty_file_is_refused_and_left_untouched_with_or_without_create() {
    // A zero-byte arshjul.db used to be made into a new database silently,
    // and every message of the year went out again.
    for create in [true, false] {
        let db = new_db();
        std::fs::write(&db.path, b"").unwrap();
        let before = siblings(&db.path);
        let err = Store::open(&db.path, create).err().unwrap();
        assert!(matches!(err, StoreError::Empty { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.starts_with(&db.path.display().to_string()), "{text}");
        assert_contains(&text, "empty (0 bytes)");
        assert_contains(&text, "delete the file");
        assert_contains(&text, "restore it from a backup");
        assert_eq!(std::fs::read(&db.path).unwrap(), b"");
        assert_eq!(siblings(&db.path), before);
        assert!(matches!(
            Store::inspect(&db.path),
            Err(StoreError::Empty { .. })
        ));
    }
}

#[test]
fn a_blank_sqlite_database_is_refused_and_left_untouched() {
    let db = new_db();
    {
        let conn = raw(&db.path);
        conn.pragma_update(None, "page_size", 4096).unwrap();
        conn.execute_batch("VACUUM").unwrap();
    }
    let bytes = std::fs::read(&db.path).unwrap();
    assert!(!bytes.is_empty());
    let err = Store::open(&db.path, true).err().unwrap();
    assert!(matches!(err, StoreError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("blank SQLite database"), "{err}");
    assert_eq!(std::fs::read(&db.path).unwrap(), bytes);
}

#[test]
fn a_new_database_appears_only_migrated_and_leaves_no_temporary_file() {
    let db = new_db();
    assert_eq!(Store::inspect(&db.path).unwrap(), None);
    drop(open_new(&db));
    // Only SQLite's own files beside it: the temporary one is gone.
    for name in siblings(&db.path) {
        assert!(name.starts_with("arshjul.db"), "{name}");
    }
    assert_eq!(Store::inspect(&db.path).unwrap(), Some(SCHEMA_VERSION));
    // Reopened, it is the same database, not refused as blank.
    Store::open(&db.path, false).unwrap().ping().unwrap();
}

#[test]
fn a_missing_file_without_create_is_an_io_error_naming_it_and_nothing_is_created() {
    let db = new_db();
    let err = Store::open(&db.path, false).err().unwrap();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    let text = err.to_string();
    assert_contains(&text, &db.path.display().to_string());
    assert_contains(&text, "does not exist");
    assert!(!db.path.exists());
}

#[test]
fn a_missing_directory_is_an_io_error_naming_the_file() {
    let db = new_db();
    let path = db
        .path
        .parent()
        .unwrap()
        .join("no-such-dir")
        .join("arshjul.db");
    let err = Store::open(&path, true).err().unwrap();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir/arshjul.db"), "{err}");
}

/// Opens `contents` as a database and expects it refused as corrupt with
/// the file byte-for-byte as it was and no journal files beside it.
fn check_refused_untouched(contents: &[u8], expect: fn(&StoreError) -> bool) {
    let db = new_db();
    std::fs::write(&db.path, contents).unwrap();
    let before = siblings(&db.path);
    let err = Store::open(&db.path, true).err().unwrap();
    assert!(expect(&err), "{err:?}");
    assert!(
        err.to_string().starts_with(&db.path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(&db.path).unwrap(), contents);
    assert_eq!(siblings(&db.path), before);
}

#[test]
fn a_text_file_is_refused_as_corrupt_and_left_untouched() {
    check_refused_untouched(
        b"[organisation]\nname = \"Ballerup Kommune\"\ntimezone = \"Europe/Copenhagen\"\n",
        |e| matches!(e, StoreError::Corrupt { .. }),
    );
}

#[test]
fn random_bytes_are_refused_as_corrupt_and_left_untouched() {
    // A fixed pseudo-random sequence (xorshift), 8 KiB: the same bytes every run.
    let mut x: u32 = 2463534242;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    check_refused_untouched(&bytes, |e| matches!(e, StoreError::Corrupt { .. }));
}

#[test]
fn a_sqlite_header_with_garbage_after_it_is_refused_and_left_untouched() {
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 4096 - bytes.len()));
    check_refused_untouched(&bytes, |e| matches!(e, StoreError::Corrupt { .. }));
}

/// A database written by `setup` through a plain connection, in rollback
/// journal mode so that the whole database is the one file.
fn foreign_database(setup: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = raw(&path);
    conn.execute_batch(setup).unwrap();
    drop(conn);
    std::fs::read(&path).unwrap()
}

#[test]
fn a_schema_newer_than_this_binary_is_refused_and_left_untouched() {
    let newer = SCHEMA_VERSION + 1;
    let bytes = foreign_database(&format!(
        "PRAGMA application_id = 1634890600; CREATE TABLE future (x); PRAGMA user_version = {newer};"
    ));
    check_refused_untouched(&bytes, |e| {
        matches!(e, StoreError::TooNew { found, supported, .. }
            if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION)
    });
}

#[test]
fn another_applications_database_is_refused_and_left_untouched() {
    let bytes = foreign_database("CREATE TABLE contacts (name TEXT, phone TEXT);");
    check_refused_untouched(&bytes, |e| matches!(e, StoreError::Corrupt { .. }));
    let bytes = foreign_database("PRAGMA application_id = 42;");
    check_refused_untouched(&bytes, |e| matches!(e, StoreError::Corrupt { .. }));
}

// ---------------------------------------------------------------- tasks and history

#[test]
fn sync_tasks_records_first_seen_once_and_keeps_titles_current() {
    let db = new_db();
    let mut store = open_new(&db);
    store
        .sync_tasks(&wheel(&[("policy-review", "Gennemgang")]), d("2026-01-05"))
        .unwrap();
    store
        .sync_tasks(
            &wheel(&[
                ("policy-review", "Årlig gennemgang"),
                ("dr-plan", "Beredskabsplan"),
            ]),
            d("2026-02-10"),
        )
        .unwrap();

    let h = store
        .history(&wheel(&[("policy-review", ""), ("dr-plan", "")]))
        .unwrap();
    assert_eq!(h.tasks["policy-review"].first_seen, Some(d("2026-01-05")));
    assert_eq!(h.tasks["dr-plan"].first_seen, Some(d("2026-02-10")));
    let title: String = raw(&db.path)
        .query_row(
            "SELECT title FROM tasks WHERE id = 'policy-review'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(title, "Årlig gennemgang");
}

#[test]
fn history_gives_first_seen_done_periods_last_done_and_sent_keys() {
    let db = new_db();
    let mut store = open_new(&db);
    let w = wheel(&[
        ("policy-review", "Gennemgang"),
        ("dr-plan", "Beredskabsplan"),
        ("training", "Uddannelse"),
    ]);
    store.sync_tasks(&w, d("2024-01-02")).unwrap();
    store
        .record_completion(&done(
            "policy-review",
            "2024",
            "2024-02-20T10:00:00+01:00",
            "anna",
        ))
        .unwrap();
    // Backfilled later, but done earlier: recorded second, not the latest.
    store
        .record_completion(&done(
            "policy-review",
            "2026",
            "2026-02-27T09:00:00+01:00",
            "anna",
        ))
        .unwrap();
    store
        .record_completion(&done(
            "policy-review",
            "2025",
            "2025-03-03T09:00:00+01:00",
            "anna",
        ))
        .unwrap();
    // 00:30 local on 1 March is 23:30 UTC on 28 February: the local date counts.
    store
        .record_completion(&done("dr-plan", "2026", "2026-03-01T00:30:00+01:00", "bo"))
        .unwrap();
    store
        .record_pass(
            &[("policy-review".into(), "2027".into(), d("2027-03-01"))],
            &[
                message(
                    "policy-review/2027/reminder/0/anna",
                    "policy-review",
                    "2027",
                    "2027-01-29T08:00:00+01:00",
                ),
                message(
                    "dr-plan/2027/reminder/0/bo",
                    "dr-plan",
                    "2027",
                    "2027-01-29T08:00:00+01:00",
                ),
            ],
            t("2027-01-29T08:00:05+01:00"),
        )
        .unwrap();

    let h = store.history(&w).unwrap();
    assert_eq!(h.tasks.len(), 3);
    assert_eq!(
        h.tasks["policy-review"],
        TaskHistory {
            first_seen: Some(d("2024-01-02")),
            done: keys(&["2024", "2025", "2026"]),
            last_done: Some(Done {
                period: "2026".into(),
                on: d("2026-02-27")
            }),
            sent: keys(&["policy-review/2027/reminder/0/anna"]),
        }
    );
    assert_eq!(
        h.tasks["dr-plan"].last_done,
        Some(Done {
            period: "2026".into(),
            on: d("2026-03-01")
        })
    );
    assert_eq!(
        h.tasks["dr-plan"].sent,
        keys(&["dr-plan/2027/reminder/0/bo"])
    );
    assert_eq!(
        h.tasks["training"],
        TaskHistory {
            first_seen: Some(d("2024-01-02")),
            ..TaskHistory::default()
        }
    );
}

#[test]
fn last_done_compares_instants_not_local_clock_text() {
    let db = new_db();
    let mut store = open_new(&db);
    // 10:00+02:00 is 08:00 UTC; 09:00+00:00 is later although its text sorts first.
    store
        .record_completion(&done("rolling", "a", "2026-06-01T10:00:00+02:00", "anna"))
        .unwrap();
    store
        .record_completion(&done("rolling", "b", "2026-06-01T09:00:00+00:00", "anna"))
        .unwrap();
    let h = store.history(&wheel(&[("rolling", "")])).unwrap();
    assert_eq!(
        h.tasks["rolling"].last_done,
        Some(Done {
            period: "b".into(),
            on: d("2026-06-01")
        })
    );
    assert_eq!(
        store.last_completion("rolling").unwrap().unwrap().period,
        "b"
    );
}

#[test]
fn a_task_removed_from_the_wheel_keeps_its_rows_and_has_them_back_when_it_returns() {
    let db = new_db();
    let mut store = open_new(&db);
    let both = wheel(&[
        ("policy-review", "Gennemgang"),
        ("dr-plan", "Beredskabsplan"),
    ]);
    let one = wheel(&[("policy-review", "Gennemgang")]);
    store.sync_tasks(&both, d("2026-01-05")).unwrap();
    store
        .record_completion(&done("dr-plan", "2026", "2026-02-02T12:00:00+01:00", "bo"))
        .unwrap();
    store
        .record_pass(
            &[],
            &[message(
                "dr-plan/2026/reminder/0/bo",
                "dr-plan",
                "2026",
                "2026-01-30T08:00:00+01:00",
            )],
            t("2026-01-30T08:00:00+01:00"),
        )
        .unwrap();

    store.sync_tasks(&one, d("2026-06-01")).unwrap();
    let h = store.history(&one).unwrap();
    assert!(!h.tasks.contains_key("dr-plan"));
    assert_eq!(store.completions(Some("dr-plan")).unwrap().len(), 1);
    assert_eq!(store.notifications(Some("dr-plan")).unwrap().len(), 1);

    store.sync_tasks(&both, d("2027-01-04")).unwrap();
    let h = store.history(&both).unwrap();
    assert_eq!(h.tasks["dr-plan"].first_seen, Some(d("2026-01-05")));
    assert_eq!(h.tasks["dr-plan"].done, keys(&["2026"]));
    assert_eq!(
        h.tasks["dr-plan"].sent,
        keys(&["dr-plan/2026/reminder/0/bo"])
    );
}

#[test]
fn history_of_a_thousand_tasks_with_a_hundred_completions_each_loads_quickly() {
    let db = new_db();
    let ids: Vec<String> = (0..1000).map(|i| format!("task-{i:04}")).collect();
    let pairs: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), "Opgave")).collect();
    let w = wheel(&pairs);
    let mut store = open_new(&db);
    store.sync_tasks(&w, d("2020-01-01")).unwrap();
    {
        // Bulk rows through a plain connection: one transaction, not 100,000 fsyncs.
        let mut conn = raw(&db.path);
        let tx = conn.transaction().unwrap();
        let mut insert = tx
            .prepare(
                "INSERT INTO completions (task, period, at, at_utc, done_by, via, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, 'anna', 'cli', ?3)",
            )
            .unwrap();
        for id in &ids {
            for p in 0..100 {
                let day = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Days::new(p * 30);
                let at = format!("{day}T12:00:00+01:00");
                let at_utc = format!("{day}T11:00:00.000000000Z");
                insert
                    .execute(rusqlite::params![id, format!("p{p:03}"), at, at_utc])
                    .unwrap();
            }
        }
        drop(insert);
        tx.commit().unwrap();
    }

    let started = Instant::now();
    let h = store.history(&w).unwrap();
    let took = started.elapsed();
    eprintln!("history of 100,000 completions took {took:?}");
    assert_eq!(h.tasks.len(), 1000);
    assert_eq!(h.tasks["task-0999"].done.len(), 100);
    assert_eq!(
        h.tasks["task-0999"].last_done,
        Some(Done {
            period: "p099".into(),
            on: d("2008-02-18")
        })
    );
    // How fast is for the benchmarks (`scripts/bench.sh`, BENCHMARKS.md:
    // `status` on 1,000 tasks and 100,000 completions), not for a timed
    // test on a machine that may be busy.
}

// ---------------------------------------------------------------- the outbox

#[test]
fn record_pass_is_idempotent_on_message_keys() {
    let db = new_db();
    let mut store = open_new(&db);
    let occurrences = vec![(
        "policy-review".to_string(),
        "2027".to_string(),
        d("2027-03-01"),
    )];
    let first = [
        message(
            "policy-review/2027/reminder/0/anna",
            "policy-review",
            "2027",
            "2027-01-29T08:00:00+01:00",
        ),
        message(
            "policy-review/2027/reminder/0/bo",
            "policy-review",
            "2027",
            "2027-01-29T08:00:00+01:00",
        ),
    ];
    let now = t("2027-01-29T08:00:05+01:00");
    assert_eq!(store.record_pass(&occurrences, &first, now).unwrap(), 2);
    assert_eq!(store.record_pass(&occurrences, &first, now).unwrap(), 0);
    let later = [
        first[0].clone(),
        message(
            "policy-review/2027/reminder/1/anna",
            "policy-review",
            "2027",
            "2027-02-22T08:00:00+01:00",
        ),
    ];
    assert_eq!(
        store
            .record_pass(&occurrences, &later, t("2027-02-22T08:00:00+01:00"))
            .unwrap(),
        1
    );
    assert_eq!(store.notifications(None).unwrap().len(), 3);
    let occurrence_rows: i64 = raw(&db.path)
        .query_row("SELECT count(*) FROM occurrences", [], |r| r.get(0))
        .unwrap();
    assert_eq!(occurrence_rows, 1);
}

#[test]
fn deliverable_keeps_due_order_and_the_whole_message() {
    let db = new_db();
    let mut store = open_new(&db);
    let late = message(
        "b/2027/escalation/1/chef",
        "b",
        "2027",
        "2027-03-08T08:00:00+01:00",
    );
    let early = message(
        "a/2027/reminder/0/anna",
        "a",
        "2027",
        "2027-01-29T08:00:00+01:00",
    );
    // Queued in the other order: due order wins.
    store
        .record_pass(
            &[],
            &[late.clone(), early.clone()],
            t("2027-03-08T08:00:00+01:00"),
        )
        .unwrap();

    let out = store.deliverable(t("2027-03-08T08:00:01+01:00")).unwrap();
    assert_eq!(
        out.iter().map(|m| m.key.as_str()).collect::<Vec<_>>(),
        [early.key.as_str(), late.key.as_str()]
    );
    let m = &out[0];
    assert_eq!(
        (m.task.as_str(), m.period.as_str(), m.kind.as_str()),
        ("a", "2027", "reminder")
    );
    assert_eq!(m.to, ["anna@example.dk"]);
    assert_eq!(m.cc, ["chef@example.dk"]);
    assert_eq!(m.subject, "Påmindelse: Årlig gennemgang");
    assert_eq!(m.message_id, "<a/2027/reminder/0/anna@arshjul>");
    assert_eq!(
        m.raw,
        "Subject: a/2027/reminder/0/anna\r\n\r\nÆøå\r\n".as_bytes()
    );
    assert_eq!(
        (m.state, m.attempts, m.last_error.clone()),
        (MessageState::Pending, 0, None)
    );
    assert_eq!((m.next_attempt_at, m.sent_at), (None, None));
}

/// Queues Anna's reminder of task `a`, 2027, due 29 January 2027 08:00,
/// in a pass at that time; its outbox id.
fn queue_one_reminder(store: &mut Store) -> i64 {
    store
        .record_pass(
            &[],
            &[message(
                "a/2027/reminder/0/anna",
                "a",
                "2027",
                "2027-01-29T08:00:00+01:00",
            )],
            t("2027-01-29T08:00:00+01:00"),
        )
        .unwrap();
    store.deliverable(t("2027-01-29T08:00:00+01:00")).unwrap()[0].id
}

#[test]
fn deliverable_waits_for_next_attempt_at_compared_as_instants() {
    let db = new_db();
    let mut store = open_new(&db);
    let id = queue_one_reminder(&mut store);
    // Retry at 09:00 Copenhagen time, which is 08:00 UTC.
    store
        .mark_failed(
            id,
            "421 try again later",
            false,
            t("2027-01-29T09:00:00+01:00"),
        )
        .unwrap();

    assert_eq!(
        store.deliverable(t("2027-01-29T07:59:59Z")).unwrap(),
        vec![]
    );
    let due = store.deliverable(t("2027-01-29T08:00:00Z")).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].next_attempt_at, Some(t("2027-01-29T09:00:00+01:00")));
}

#[test]
fn a_temporary_failure_stays_pending_and_a_permanent_one_becomes_failed() {
    let db = new_db();
    let mut store = open_new(&db);
    store
        .record_pass(
            &[],
            &[
                message(
                    "a/2027/reminder/0/anna",
                    "a",
                    "2027",
                    "2027-01-29T08:00:00+01:00",
                ),
                message(
                    "a/2027/reminder/0/bo",
                    "a",
                    "2027",
                    "2027-01-29T08:00:00+01:00",
                ),
            ],
            t("2027-01-29T08:00:00+01:00"),
        )
        .unwrap();
    let out = store.deliverable(t("2027-01-29T08:00:00+01:00")).unwrap();
    let (temporary, permanent) = (out[0].id, out[1].id);

    store
        .mark_failed(temporary, "421 busy", false, t("2027-01-29T08:05:00+01:00"))
        .unwrap();
    store
        .mark_failed(
            temporary,
            "421 still busy",
            false,
            t("2027-01-29T08:15:00+01:00"),
        )
        .unwrap();
    store
        .mark_failed(
            permanent,
            "550 no such user",
            true,
            t("2027-01-29T08:05:00+01:00"),
        )
        .unwrap();

    let out = store.deliverable(t("2027-01-30T00:00:00+01:00")).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].id, temporary);
    assert_eq!(out[0].state, MessageState::Pending);
    assert_eq!(out[0].attempts, 2);
    assert_eq!(out[0].last_error.as_deref(), Some("421 still busy"));

    let failed: Vec<_> = store
        .notifications(Some("a"))
        .unwrap()
        .into_iter()
        .filter(|n| n.state == MessageState::Failed)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].attempts, failed[0].last_error.as_deref()),
        (1, Some("550 no such user"))
    );
}

#[test]
fn a_sent_message_leaves_the_queue_and_keeps_its_first_sent_at() {
    let db = new_db();
    let mut store = open_new(&db);
    let id = queue_one_reminder(&mut store);
    store.mark_sent(id, t("2027-01-29T08:00:03+01:00")).unwrap();
    store.mark_sent(id, t("2027-01-29T09:00:00+01:00")).unwrap();
    // A late failure report does not undo the delivery.
    store
        .mark_failed(id, "timeout", true, t("2027-01-29T09:00:00+01:00"))
        .unwrap();

    assert_eq!(
        store.deliverable(t("2027-12-31T00:00:00+01:00")).unwrap(),
        vec![]
    );
    let n = &store.notifications(None).unwrap()[0];
    assert_eq!(n.state, MessageState::Sent);
    assert_eq!(n.sent_at, Some(t("2027-01-29T08:00:03+01:00")));
    assert_eq!(n.created_at, t("2027-01-29T08:00:00+01:00"));
    assert_eq!(n.attempts, 0);
}

#[test]
fn marking_an_unknown_message_is_an_error_naming_it() {
    let db = new_db();
    let mut store = open_new(&db);
    let err = store
        .mark_sent(77, t("2027-01-29T08:00:00+01:00"))
        .unwrap_err();
    assert!(err.to_string().contains("no outbox message 77"), "{err}");
    let err = store
        .mark_failed(77, "x", true, t("2027-01-29T08:00:00+01:00"))
        .unwrap_err();
    assert!(err.to_string().contains("no outbox message 77"), "{err}");
}

#[test]
fn notifications_are_listed_newest_first() {
    let db = new_db();
    let mut store = open_new(&db);
    store
        .record_pass(
            &[],
            &[message("a/1", "a", "2027", "2027-01-29T08:00:00+01:00")],
            t("2027-01-29T08:00:00+01:00"),
        )
        .unwrap();
    store
        .record_pass(
            &[],
            &[message("b/1", "b", "2027", "2027-02-01T08:00:00+01:00")],
            t("2027-02-01T08:00:00+01:00"),
        )
        .unwrap();
    store
        .record_pass(
            &[],
            &[message("a/2", "a", "2027", "2027-02-22T08:00:00+01:00")],
            t("2027-02-22T08:00:00+01:00"),
        )
        .unwrap();

    let all: Vec<String> = store
        .notifications(None)
        .unwrap()
        .into_iter()
        .map(|n| n.task + "@" + &n.created_at.to_rfc3339())
        .collect();
    assert_eq!(
        all,
        [
            "a@2027-02-22T08:00:00+01:00",
            "b@2027-02-01T08:00:00+01:00",
            "a@2027-01-29T08:00:00+01:00"
        ]
    );
    assert_eq!(store.notifications(Some("a")).unwrap().len(), 2);
    assert_eq!(store.notifications(Some("nothing")).unwrap(), vec![]);
}

// ---------------------------------------------------------------- completions

#[test]
fn a_second_completion_of_a_period_is_already_done_with_the_first_one() {
    let db = new_db();
    let mut store = open_new(&db);
    let first = NewCompletion {
        note: Some("Godkendt på mødet".to_string()),
        ..done(
            "policy-review",
            "2026",
            "2026-02-20T10:12:00+01:00",
            "anna@example.dk",
        )
    };
    assert_eq!(
        store.record_completion(&first).unwrap(),
        CompletionOutcome::Recorded
    );

    let second = NewCompletion {
        via: Via::Cli,
        ..done(
            "policy-review",
            "2026",
            "2026-02-25T09:00:00+01:00",
            "bo@example.dk",
        )
    };
    let expected = Completion {
        task: "policy-review".into(),
        period: "2026".into(),
        at: t("2026-02-20T10:12:00+01:00"),
        by: "anna@example.dk".into(),
        via: "link".into(),
        note: Some("Godkendt på mødet".into()),
    };
    assert_eq!(
        store.record_completion(&second).unwrap(),
        CompletionOutcome::AlreadyDone(expected.clone())
    );
    assert_eq!(store.completions(None).unwrap(), vec![expected]);
}

#[test]
fn completions_are_listed_newest_first_by_instant() {
    let db = new_db();
    let mut store = open_new(&db);
    store
        .record_completion(&done("a", "2025", "2025-02-20T10:00:00+01:00", "anna"))
        .unwrap();
    store
        .record_completion(&done("b", "2026", "2026-06-01T09:00:00+02:00", "bo"))
        .unwrap();
    store
        .record_completion(&done("a", "2026", "2026-06-01T08:00:00+00:00", "anna"))
        .unwrap();

    let order: Vec<(String, String)> = store
        .completions(None)
        .unwrap()
        .into_iter()
        .map(|c| (c.task, c.period))
        .collect();
    assert_eq!(
        order,
        [
            ("a".into(), "2026".into()),
            ("b".into(), "2026".into()),
            ("a".into(), "2025".into())
        ]
    );
    let a: Vec<String> = store
        .completions(Some("a"))
        .unwrap()
        .into_iter()
        .map(|c| c.period)
        .collect();
    assert_eq!(a, ["2026", "2025"]);
    assert_eq!(store.last_completion("a").unwrap().unwrap().period, "2026");
    assert_eq!(store.last_completion("never").unwrap(), None);
    assert_eq!(store.completion("a", "2024").unwrap(), None);
}

#[test]
fn completions_cannot_be_deleted_or_changed_even_by_hand() {
    let db = new_db();
    let mut store = open_new(&db);
    store
        .record_completion(&done(
            "policy-review",
            "2026",
            "2026-02-20T10:12:00+01:00",
            "anna",
        ))
        .unwrap();

    store
        .record_pass(
            &[],
            &[message(
                "policy-review/2026/reminder/0/anna",
                "policy-review",
                "2026",
                "2026-01-30T08:00:00+01:00",
            )],
            t("2026-01-30T08:00:00+01:00"),
        )
        .unwrap();

    let conn = raw(&db.path);
    let err = conn.execute("DELETE FROM completions", []).unwrap_err();
    assert!(err.to_string().contains("cannot be deleted"), "{err}");
    let err = conn
        .execute("UPDATE completions SET done_by = 'mallory'", [])
        .unwrap_err();
    assert!(err.to_string().contains("cannot be changed"), "{err}");
    assert!(conn.execute("DELETE FROM outbox", []).is_err());
    assert_eq!(
        store
            .completion("policy-review", "2026")
            .unwrap()
            .unwrap()
            .by,
        "anna"
    );
}

#[test]
fn a_link_request_is_evidence_answered_once_with_its_message_and_never_deleted() {
    let db = new_db();
    let mut store = open_new(&db);
    let limits = LinkLimits {
        per_recipient: chrono::Duration::hours(1),
        total: 20,
        window: chrono::Duration::hours(1),
    };
    let request = NewLinkRequest {
        task: "policy-review".into(),
        period: "2027".into(),
        due: d("2027-03-01"),
        person: "anna".into(),
        at: t("2027-07-01T10:00:00+02:00"),
        client_addr: Some("198.51.100.7".into()),
        user_agent: Some("Testbrowser/1.0".into()),
    };
    let LinkRequestOutcome::Recorded(id) = store.request_link(&request, limits).unwrap() else {
        panic!("the first request is recorded");
    };
    let open = store.open_link_requests().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!((open[0].id, open[0].due), (id, d("2027-03-01")));

    let m = message(
        &format!("policy-review/2027/link/{id}/anna"),
        "policy-review",
        "2027",
        "2027-07-01T10:00:05+02:00",
    );
    let answered_at = t("2027-07-01T10:00:05+02:00");
    assert!(store
        .answer_link_request(id, &LinkAnswer::Queued(Box::new(m)), answered_at)
        .unwrap());
    // Another process answering the same request writes nothing.
    assert!(!store
        .answer_link_request(id, &LinkAnswer::Done, answered_at)
        .unwrap());
    assert_eq!(store.open_link_requests().unwrap(), vec![]);
    assert_eq!(store.deliverable(answered_at).unwrap().len(), 1);

    let records = store.link_requests(Some("policy-review")).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome.as_deref(), Some("queued"));
    assert_eq!(records[0].message_state, Some(MessageState::Pending));
    assert_eq!(records[0].client_addr.as_deref(), Some("198.51.100.7"));
    assert_eq!(store.link_requests(Some("other")).unwrap(), vec![]);

    let conn = raw(&db.path);
    let err = conn.execute("DELETE FROM link_requests", []).unwrap_err();
    assert!(err.to_string().contains("cannot be deleted"), "{err}");
    for change in [
        "UPDATE link_requests SET person = 'mallory'",
        "UPDATE link_requests SET client_addr = '6.6.6.6'",
        "UPDATE link_requests SET outcome = 'gone', message_key = NULL",
    ] {
        let err = conn.execute(change, []).unwrap_err();
        assert!(err.to_string().contains("answered once"), "{change}: {err}");
    }
}

#[test]
fn the_store_code_has_no_delete_statement() {
    for file in [
        "src/store/mod.rs",
        "src/store/schema.rs",
        "src/store/codec.rs",
        "src/store/links.rs",
    ] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        for line in text.lines() {
            let upper = line.to_uppercase();
            assert!(
                !upper.contains("DELETE FROM") || upper.contains("BEFORE DELETE ON"),
                "{file}: {line}"
            );
        }
    }
}

// ---------------------------------------------------------------- several processes

#[test]
fn two_stores_on_one_file_record_concurrently_without_errors_or_lost_rows() {
    let db = new_db();
    drop(open_new(&db));
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = ["anna", "bo"]
        .into_iter()
        .map(|who| {
            // Opened here and moved: a store can be handed to another thread.
            let mut store = Store::open(&db.path, false).unwrap();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                let mut recorded = 0;
                for i in 0..40 {
                    // Both record the same 40 periods: each period once in all.
                    let c = done(
                        "shared",
                        &format!("p{i:02}"),
                        "2026-02-20T10:12:00+01:00",
                        who,
                    );
                    if store.record_completion(&c).unwrap() == CompletionOutcome::Recorded {
                        recorded += 1;
                    }
                    // Each queues its own message and one both queue.
                    let own = message(
                        &format!("{who}/{i}"),
                        "shared",
                        "2026",
                        "2026-02-01T08:00:00+01:00",
                    );
                    let both = message(
                        &format!("both/{i}"),
                        "shared",
                        "2026",
                        "2026-02-01T08:00:00+01:00",
                    );
                    store
                        .record_pass(
                            &[("shared".into(), format!("p{i:02}"), d("2026-03-01"))],
                            &[own, both],
                            t("2026-02-01T08:00:00+01:00"),
                        )
                        .unwrap();
                }
                recorded
            })
        })
        .collect();
    let recorded: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();

    let store = Store::open(&db.path, false).unwrap();
    assert_eq!(recorded, 40);
    assert_eq!(store.completions(Some("shared")).unwrap().len(), 40);
    assert_eq!(store.notifications(Some("shared")).unwrap().len(), 120);
}

#[test]
fn two_processes_creating_the_same_new_file_at_once_both_succeed() {
    let db = new_db();
    let barrier = Arc::new(Barrier::new(2));
    let openers: Vec<_> = (0..2)
        .map(|_| {
            let (path, barrier) = (db.path.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                Store::open(&path, true).map(|s| s.ping())
            })
        })
        .collect();
    for o in openers {
        o.join().unwrap().unwrap().unwrap();
    }
    let version: i64 = raw(&db.path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_database_locked_by_another_process_gives_locked_after_the_busy_timeout() {
    let db = new_db();
    let mut store = open_new(&db);
    store.set_busy_timeout(Duration::from_millis(300)).unwrap();
    let other = raw(&db.path);
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let started = Instant::now();
    let err = store
        .record_completion(&done(
            "policy-review",
            "2026",
            "2026-02-20T10:12:00+01:00",
            "anna",
        ))
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(err, StoreError::Locked { seconds: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&db.path.display().to_string()),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(300),
        "gave up after {waited:?}"
    );
    // Readers are not blocked by a writer in WAL mode.
    store.ping().unwrap();

    other.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        store
            .record_completion(&done(
                "policy-review",
                "2026",
                "2026-02-20T10:12:00+01:00",
                "anna"
            ))
            .unwrap(),
        CompletionOutcome::Recorded
    );
}

#[test]
fn a_task_first_met_in_a_completion_is_first_seen_on_the_day_it_was_recorded() {
    let db = new_db();
    let mut store = open_new(&db);
    let backfill = NewCompletion {
        via: Via::Cli,
        recorded_at: t("2026-03-04T15:00:00+01:00"),
        ..done("policy-review", "2025", "2025-02-20T10:12:00+01:00", "anna")
    };
    store.record_completion(&backfill).unwrap();
    store
        .sync_tasks(&wheel(&[("policy-review", "Gennemgang")]), d("2026-03-09"))
        .unwrap();
    let h = store.history(&wheel(&[("policy-review", "")])).unwrap();
    assert_eq!(h.tasks["policy-review"].first_seen, Some(d("2026-03-04")));
    assert_eq!(
        h.tasks["policy-review"].last_done,
        Some(Done {
            period: "2025".into(),
            on: d("2025-02-20")
        })
    );
}

#[test]
fn a_damaged_row_is_reported_as_corrupt_naming_it_not_a_panic() {
    let db = new_db();
    let mut store = open_new(&db);
    store
        .record_completion(&done(
            "policy-review",
            "2026",
            "2026-02-20T10:12:00+01:00",
            "anna",
        ))
        .unwrap();
    raw(&db.path)
        .execute(
            "INSERT INTO completions (id, task, period, at, at_utc, done_by, via, recorded_at)
             VALUES (9, 'policy-review', '2027', 'last Tuesday', '2027-02-20', 'eve', 'cli', 'x')",
            [],
        )
        .unwrap();

    let err = store.completions(None).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("completion 9"), "{err}");
    assert!(err.to_string().contains("\"last Tuesday\""), "{err}");
    let err = store.history(&wheel(&[("policy-review", "")])).unwrap_err();
    assert!(err.to_string().contains("completion 9"), "{err}");
    // The intact row is still readable on its own.
    assert_eq!(
        store
            .completion("policy-review", "2026")
            .unwrap()
            .unwrap()
            .by,
        "anna"
    );
}

#[test]
fn history_in_view_reads_only_the_periods_the_planner_names() {
    let db = new_db();
    let mut store = open_new(&db);
    let w = wheel(&[("policy-review", "Årlig gennemgang")]);
    store.sync_tasks(&w, d("2020-01-01")).unwrap();
    for (year, at) in [
        ("2021", "2021-02-20T10:00:00+01:00"),
        ("2022", "2022-02-21T10:00:00+01:00"),
    ] {
        store
            .record_completion(&done("policy-review", year, at, "anna"))
            .unwrap();
    }
    let msgs = [
        message(
            "policy-review/2022/reminder/30/anna",
            "policy-review",
            "2022",
            "2022-01-30T08:00:00+01:00",
        ),
        message(
            "policy-review/2023/reminder/30/anna",
            "policy-review",
            "2023",
            "2023-01-30T08:00:00+01:00",
        ),
        message(
            "policy-review/2023/reminder/7/anna",
            "policy-review",
            "2023",
            "2023-02-22T08:00:00+01:00",
        ),
        message(
            "policy-review/2024/reminder/30/anna",
            "policy-review",
            "2024",
            "2024-01-30T08:00:00+01:00",
        ),
    ];
    store
        .record_pass(&[], &msgs, t("2024-01-30T08:00:00+01:00"))
        .unwrap();

    let mut asked = Vec::new();
    let h = store
        .history_in_view(&w, |partial| {
            // First appearance and the last completion are known before the view.
            let th = &partial.tasks["policy-review"];
            assert_eq!(th.first_seen, Some(d("2020-01-01")));
            assert_eq!(
                th.last_done,
                Some(Done {
                    period: "2022".into(),
                    on: d("2022-02-21")
                })
            );
            asked = vec![
                ("policy-review".to_string(), "2021".to_string()),
                ("policy-review".to_string(), "2023".to_string()),
            ];
            asked.clone()
        })
        .unwrap();
    let th = &h.tasks["policy-review"];
    // 2021 was asked and is done; 2022 is the last completion; 2024 was not asked.
    assert_eq!(th.done, keys(&["2021", "2022"]));
    assert_eq!(
        th.sent,
        keys(&[
            "policy-review/2023/reminder/30/anna",
            "policy-review/2023/reminder/7/anna"
        ])
    );
    assert_eq!(asked.len(), 2);
}

#[test]
fn failed_notifications_lists_only_messages_given_up_on() {
    let db = new_db();
    let mut store = open_new(&db);
    let w = wheel(&[("policy-review", "Årlig gennemgang")]);
    store.sync_tasks(&w, d("2027-01-01")).unwrap();
    let msgs = [
        message(
            "policy-review/2027/reminder/30/anna",
            "policy-review",
            "2027",
            "2027-01-29T08:00:00+01:00",
        ),
        message(
            "policy-review/2027/reminder/7/anna",
            "policy-review",
            "2027",
            "2027-02-22T08:00:00+01:00",
        ),
        message(
            "policy-review/2027/reminder/1/anna",
            "policy-review",
            "2027",
            "2027-02-26T08:00:00+01:00",
        ),
    ];
    store
        .record_pass(&[], &msgs, t("2027-02-26T08:00:00+01:00"))
        .unwrap();
    let pending = store.deliverable(t("2027-02-26T08:00:00+01:00")).unwrap();
    store
        .mark_sent(pending[0].id, t("2027-02-26T08:00:01+01:00"))
        .unwrap();
    store
        .mark_failed(
            pending[1].id,
            "550 5.1.1 no such user",
            true,
            t("2027-02-26T08:00:02+01:00"),
        )
        .unwrap();
    store
        .mark_failed(
            pending[2].id,
            "451 try later",
            false,
            t("2027-02-26T09:00:00+01:00"),
        )
        .unwrap();
    let failed = store.failed_notifications().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].last_error.as_deref(),
        Some("550 5.1.1 no such user")
    );
    assert_eq!(failed[0].state, MessageState::Failed);
}

#[test]
fn status_reads_each_tasks_latest_completion_with_the_history() {
    let db = new_db();
    let mut store = open_new(&db);
    let w = wheel(&[("a", "A"), ("b", "B"), ("never", "Never")]);
    store.sync_tasks(&w, d("2024-01-01")).unwrap();
    // The 2025 period of "a" is recorded last but done earliest: the latest
    // completion is the one done last (2026), not the one recorded last.
    for (task, period, at) in [
        ("a", "2026", "2026-03-01T09:00:00+01:00"),
        ("b", "2025", "2025-05-01T09:00:00+02:00"),
        ("a", "2025", "2025-02-20T10:00:00+01:00"),
    ] {
        store
            .record_completion(&done(task, period, at, "anna"))
            .unwrap();
    }
    let (history, latest) = store
        .history_and_latest_at(&w, t("2026-06-01T12:00:00+02:00").to_utc(), |h| {
            planner::periods_in_view(&w, h, t("2026-06-01T12:00:00+02:00").to_utc())
        })
        .unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(latest["a"].period, "2026");
    assert_eq!(latest["a"].at, t("2026-03-01T09:00:00+01:00"));
    assert_eq!(latest["b"].period, "2025");
    assert!(!latest.contains_key("never"));
    for task in ["a", "b", "never"] {
        assert_eq!(
            latest.get(task),
            store.last_completion(task).unwrap().as_ref()
        );
        let last_done = history.tasks[task].last_done.as_ref().map(|d| &d.period);
        assert_eq!(last_done, latest.get(task).map(|c| &c.period));
    }
}

// ---------------------------------------------------------------- retractions

fn retraction(task: &str, period: &str, at: &str, by: &str, reason: &str) -> NewRetraction {
    NewRetraction {
        task: task.to_string(),
        period: period.to_string(),
        at: t(at),
        by: by.to_string(),
        reason: reason.to_string(),
    }
}

#[test]
fn a_retraction_reopens_the_period_and_both_rows_stay() {
    let db = new_db();
    let mut store = open_new(&db);
    let w = wheel(&[("policy-review", "Politik")]);
    store
        .record_completion(&done(
            "policy-review",
            "2027",
            "2027-03-10T11:00:00+01:00",
            "anna",
        ))
        .unwrap();
    let outcome = store
        .record_retraction(&retraction(
            "policy-review",
            "2027",
            "2027-03-12T09:30:00+01:00",
            "bo",
            "wrong task",
        ))
        .unwrap();
    match outcome {
        RetractionOutcome::Retracted(c) => {
            assert_eq!((c.period.as_str(), c.by.as_str()), ("2027", "anna"))
        }
        other => panic!("{other:?}"),
    }
    // Every reader sees the period open again.
    assert_eq!(store.completion("policy-review", "2027").unwrap(), None);
    assert_eq!(store.last_completion("policy-review").unwrap(), None);
    let h = store.history(&w).unwrap();
    assert!(h.tasks["policy-review"].done.is_empty());
    assert_eq!(h.tasks["policy-review"].last_done, None);
    let h = store
        .history_at(&w, t("2027-03-12T10:00:00+01:00").into(), |h| {
            planner::periods_in_view(&w, h, t("2027-03-12T10:00:00+01:00").into())
        })
        .unwrap();
    assert!(!h.tasks["policy-review"].done.contains("2027"));

    // It can be completed again; a second retraction retracts that one.
    assert_eq!(
        store
            .record_completion(&done(
                "policy-review",
                "2027",
                "2027-03-16T10:00:00+01:00",
                "carl",
            ))
            .unwrap(),
        CompletionOutcome::Recorded
    );
    assert_eq!(
        store
            .completion("policy-review", "2027")
            .unwrap()
            .unwrap()
            .by,
        "carl"
    );
    let again = store
        .record_completion(&done(
            "policy-review",
            "2027",
            "2027-03-17T10:00:00+01:00",
            "dora",
        ))
        .unwrap();
    assert!(matches!(again, CompletionOutcome::AlreadyDone(c) if c.by == "carl"));

    let records = store.completion_records(Some("policy-review")).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].completion.by, "carl");
    assert_eq!(records[0].retraction, None);
    assert_eq!(records[1].completion.by, "anna");
    let r = records[1].retraction.as_ref().expect("retracted");
    assert_eq!(r.by, "bo");
    assert_eq!(r.reason, "wrong task");
    assert_eq!(r.at, t("2027-03-12T09:30:00+01:00"));
    assert_eq!(r.completion_at, t("2027-03-10T11:00:00+01:00"));
    // `completions` still lists every row ever recorded.
    assert_eq!(store.completions(Some("policy-review")).unwrap().len(), 2);
}

#[test]
fn a_retraction_of_a_period_not_done_records_nothing() {
    let db = new_db();
    let mut store = open_new(&db);
    let r = retraction(
        "policy-review",
        "2027",
        "2027-03-12T09:30:00+01:00",
        "bo",
        "x",
    );
    assert_eq!(
        store.record_retraction(&r).unwrap(),
        RetractionOutcome::NotDone
    );
    store
        .record_completion(&done(
            "policy-review",
            "2027",
            "2027-03-10T11:00:00+01:00",
            "anna",
        ))
        .unwrap();
    // A blank reason is refused, and nothing is retracted.
    let blank = retraction(
        "policy-review",
        "2027",
        "2027-03-12T09:30:00+01:00",
        "bo",
        " ",
    );
    assert!(store.record_retraction(&blank).is_err());
    assert!(store.completion("policy-review", "2027").unwrap().is_some());
    assert!(matches!(
        store.record_retraction(&r).unwrap(),
        RetractionOutcome::Retracted(_)
    ));
    assert_eq!(
        store.record_retraction(&r).unwrap(),
        RetractionOutcome::NotDone
    );
    let count: i64 = raw(&db.path)
        .query_row("SELECT count(*) FROM retractions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 1);
}

#[test]
fn retracting_a_rolling_tasks_latest_completion_falls_back_to_the_one_before() {
    let db = new_db();
    let mut store = open_new(&db);
    let w = wheel(&[("contingency-test", "Beredskab")]);
    for (period, at) in [
        ("2026", "2026-03-05T10:00:00+01:00"),
        ("2027", "2027-03-20T10:00:00+01:00"),
    ] {
        store
            .record_completion(&done("contingency-test", period, at, "anna"))
            .unwrap();
    }
    store
        .record_retraction(&retraction(
            "contingency-test",
            "2027",
            "2027-03-21T10:00:00+01:00",
            "anna",
            "recorded on the wrong task",
        ))
        .unwrap();
    let h = store.history(&w).unwrap();
    assert_eq!(
        h.tasks["contingency-test"].last_done,
        Some(Done {
            period: "2026".to_string(),
            on: d("2026-03-05"),
        })
    );
    let h = store
        .history_at(&w, t("2027-03-22T10:00:00+01:00").into(), |h| {
            planner::periods_in_view(&w, h, t("2027-03-22T10:00:00+01:00").into())
        })
        .unwrap();
    assert_eq!(
        h.tasks["contingency-test"].last_done,
        Some(Done {
            period: "2026".to_string(),
            on: d("2026-03-05"),
        })
    );
}

#[test]
fn completions_and_retractions_cannot_be_changed_or_deleted_by_hand() {
    let db = new_db();
    let mut store = open_new(&db);
    store
        .record_completion(&done(
            "policy-review",
            "2027",
            "2027-03-10T11:00:00+01:00",
            "anna",
        ))
        .unwrap();
    store
        .record_retraction(&retraction(
            "policy-review",
            "2027",
            "2027-03-12T09:30:00+01:00",
            "bo",
            "wrong task",
        ))
        .unwrap();
    let conn = raw(&db.path);
    for (sql, words) in [
        ("DELETE FROM completions", "cannot be deleted"),
        (
            "UPDATE completions SET done_by = 'mallory'",
            "cannot be changed",
        ),
        ("DELETE FROM retractions", "cannot be deleted"),
        (
            "UPDATE retractions SET reason = 'nothing'",
            "cannot be changed",
        ),
    ] {
        let err = conn.execute(sql, []).unwrap_err();
        assert!(err.to_string().contains(words), "{sql}: {err}");
    }
    assert!(conn
        .execute(
            "INSERT INTO retractions (completion, at, at_utc, done_by, reason)
             VALUES (1, 'x', 'x', 'x', '  ')",
            [],
        )
        .is_err());
    let records = store.completion_records(None).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].completion.by, "anna");
    assert_eq!(
        records[0].retraction.as_ref().map(|r| r.reason.as_str()),
        Some("wrong task")
    );
}

#[test]
fn viewer_versions_start_at_zero_rise_on_revoke_and_persist() {
    let db = new_db();
    let mut store = open_new(&db);
    assert_eq!(store.viewer_version("calendar", "person:anna").unwrap(), 0);
    let at = t("2027-05-10T12:00:00+02:00");
    assert_eq!(
        store
            .revoke_viewer("calendar", "person:anna", at, "ulla")
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .revoke_viewer("calendar", "person:anna", at, "ulla")
            .unwrap(),
        2
    );
    // Other kinds and viewers are their own.
    assert_eq!(store.viewer_version("overview", "person:anna").unwrap(), 0);
    assert_eq!(store.viewer_version("calendar", "organisation").unwrap(), 0);
    drop(store);
    let store = Store::open(&db.path, false).unwrap();
    assert_eq!(store.viewer_version("calendar", "person:anna").unwrap(), 2);
    let by: String = raw(&db.path)
        .query_row(
            "SELECT revoked_by FROM viewer_versions WHERE viewer = 'person:anna'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(by, "ulla");
}
