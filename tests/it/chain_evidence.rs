//! Issue 13, items 1, 2 and 4 from the shell: evidence files with `done`,
//! the hash chain and `verify` (with tampering behind arshjul's back, as an
//! attacker with write access to the file would do it), `evidence export`.

use crate::support::fixtures::testkommune_wheel;
use crate::support::Scratch;
use sha2::{Digest, Sha256};

/// Policy review due 1 March each year; reminders 30, 7 and 1 day before.
pub(crate) const WHEEL: &str = testkommune_wheel!(
    r#"holidays = "dk"
start = 2027-01-01

[defaults]
remind = ["30d", "7d", "1d"]
repeat = "7d"

[people.anna]
name = "Anna Ærø"
email = "anna@example.dk"

[[task]]
id = "policy-review"
title = "Årlig gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"

[[task]]
id = "backup-test"
title = "Test af backup"
owner = "anna"
every = "quarter"
due = { month = 3, day = 31 }
"#
);

pub(crate) fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn completions(s: &Scratch) -> Vec<serde_json::Value> {
    s.run(&["history", "--json"]).expect(0).json()["completions"]
        .as_array()
        .expect("completions")
        .clone()
}

pub(crate) fn db(s: &Scratch) -> rusqlite::Connection {
    rusqlite::Connection::open(s.file("arshjul.db")).unwrap()
}

/// A scratch wheel with a season of history: reminders sent (file
/// transport), two completions with evidence, one retracted.
pub(crate) fn season() -> Scratch {
    let s = Scratch::new(WHEEL);
    std::fs::write(s.file("referat.pdf"), b"%PDF-1.4 referat").unwrap();
    std::fs::write(s.file("log.txt"), b"backup ok\n").unwrap();
    s.run(&["tick", "--now", "2027-01-29T09:00:00+01:00"])
        .expect(0);
    s.run(&["tick", "--now", "2027-02-22T09:00:00+01:00"])
        .expect(0);
    s.run(&[
        "done",
        "policy-review",
        "--by",
        "digitalisering",
        "--performed-by",
        "Anna Ærø",
        "--evidence",
        "referat.pdf",
        "log.txt",
        "--now",
        "2027-02-25",
    ])
    .expect(0);
    s.run(&[
        "done",
        "backup-test",
        "--period",
        "2027-Q1",
        "--by",
        "bo",
        "--now",
        "2027-02-25",
    ])
    .expect(0);
    s.run(&[
        "undo",
        "backup-test",
        "--period",
        "2027-Q1",
        "--reason",
        "forkert kvartal",
        "--now",
        "2027-02-26",
    ])
    .expect(0);
    s
}

pub(crate) fn verify_ok(s: &Scratch) -> (u64, String) {
    let run = s.run(&["verify"]).expect(0);
    let out = run.stdout();
    let rest = out
        .trim()
        .strip_prefix("ok: ")
        .unwrap_or_else(|| panic!("{out}"));
    let (rows, head) = rest
        .split_once(" rows, head ")
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(head.len(), 64, "{out}");
    assert!(head.bytes().all(|b| b.is_ascii_hexdigit()), "{out}");
    (rows.parse().unwrap(), head.to_string())
}

fn verify_broken(s: &Scratch) -> String {
    let run = s.run(&["verify"]).expect(1);
    let out = run.stdout();
    assert!(out.starts_with("broken at row "), "{out}");
    out.trim().to_string()
}

#[test]
fn done_keeps_evidence_files_and_the_person_and_history_shows_their_hashes() {
    let s = season();
    let all = completions(&s);
    let review = all
        .iter()
        .find(|c| c["task"] == "policy-review")
        .expect("review");
    assert_eq!(review["by"], "digitalisering");
    assert_eq!(review["performed_by"], "Anna Ærø");
    assert_eq!(
        review["evidence"],
        serde_json::json!([
            {"name": "referat.pdf", "bytes": 16, "sha256": sha(b"%PDF-1.4 referat")},
            {"name": "log.txt", "bytes": 10, "sha256": sha(b"backup ok\n")},
        ])
    );
    let backup = all.iter().find(|c| c["task"] == "backup-test").unwrap();
    assert_eq!(backup["performed_by"], serde_json::Value::Null);
    assert_eq!(backup["evidence"], serde_json::json!([]));
    let table = s.run(&["history"]).expect(0).stdout();
    assert!(table.contains("performed by Anna Ærø"), "{table}");
    assert!(
        table.contains(&format!(
            "evidence referat.pdf (16 bytes) sha256 {}",
            sha(b"%PDF-1.4 referat")
        )),
        "{table}"
    );
}

#[test]
fn the_same_file_twice_is_stored_once_under_two_names() {
    let s = Scratch::new(WHEEL);
    std::fs::create_dir(s.file("a")).unwrap();
    std::fs::write(s.file("a/rapport.pdf"), b"same bytes").unwrap();
    std::fs::write(s.file("rapport.pdf"), b"same bytes").unwrap();
    s.run(&[
        "done",
        "policy-review",
        "--evidence",
        "a/rapport.pdf",
        "--evidence",
        "rapport.pdf",
        "--now",
        "2027-02-25",
    ])
    .expect(0);
    let names: Vec<String> = completions(&s)[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["rapport.pdf", "rapport (2).pdf"]);
    let blobs: i64 = db(&s)
        .query_row("SELECT count(*) FROM evidence_blobs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(blobs, 1);
}

#[test]
fn a_missing_or_oversize_evidence_file_is_refused_by_name_and_nothing_is_recorded() {
    let s = Scratch::new(WHEEL);
    std::fs::write(s.file("ok.txt"), b"fine").unwrap();
    std::fs::write(s.file("big.bin"), vec![7u8; 11]).unwrap();
    let run = s
        .run(&[
            "done",
            "policy-review",
            "--evidence",
            "ok.txt",
            "nowhere.pdf",
            "--now",
            "2027-02-25",
        ])
        .expect(2);
    assert!(
        run.stderr().starts_with("nowhere.pdf: cannot read"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("nothing was recorded"),
        "{}",
        run.stderr()
    );
    let run = s
        .run_env(
            &[
                "done",
                "policy-review",
                "--evidence",
                "ok.txt",
                "big.bin",
                "--now",
                "2027-02-25",
            ],
            &[("ARSHJUL_EVIDENCE__MAX_BYTES", "10")],
        )
        .expect(2);
    assert!(
        run.stderr()
            .starts_with("big.bin: the evidence file is larger than evidence.max_bytes (10 bytes)"),
        "{}",
        run.stderr()
    );
    assert!(completions(&s).is_empty());
    // A file of exactly the limit is taken.
    s.run_env(
        &[
            "done",
            "policy-review",
            "--evidence",
            "ok.txt",
            "--now",
            "2027-02-25",
        ],
        &[("ARSHJUL_EVIDENCE__MAX_BYTES", "4")],
    )
    .expect(0);
    assert_eq!(completions(&s).len(), 1);
}

#[test]
fn verify_counts_completions_retractions_and_sent_messages_and_the_head_follows_the_content() {
    let s = season();
    let conn = db(&s);
    let count =
        |sql: &str| -> u64 { conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap() as u64 };
    let sent = count("SELECT count(*) FROM outbox WHERE state = 'sent'");
    assert!(sent >= 2, "the season sends reminders");
    let (rows, head) = verify_ok(&s);
    assert_eq!(rows, 2 + 1 + sent);
    // The head is the last chain row's hash, and each hash is SHA-256 of
    // the previous hash's bytes and the chained content, recomputed here.
    let mut prev = [0u8; 32];
    let mut stmt = conn
        .prepare("SELECT prev, hash, content FROM chain ORDER BY seq")
        .unwrap();
    let mut it = stmt.query([]).unwrap();
    let mut last = String::new();
    while let Some(r) = it.next().unwrap() {
        let p: String = r.get(0).unwrap();
        assert_eq!(
            p,
            prev.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let content: Vec<u8> = r.get(2).unwrap();
        let mut h = Sha256::new();
        h.update(prev);
        h.update(&content);
        let digest = h.finalize();
        last = format!("{digest:x}");
        assert_eq!(r.get::<_, String>(1).unwrap(), last);
        prev.copy_from_slice(&digest);
    }
    assert_eq!(head, last);
    // Verifying changes nothing: the same database gives the same head.
    assert_eq!(verify_ok(&s), (rows, head));
}

#[test]
fn a_done_by_changed_behind_arshjuls_back_breaks_the_chain_at_that_row() {
    let s = season();
    verify_ok(&s);
    let conn = db(&s);
    let row: i64 = conn
        .query_row(
            "SELECT seq FROM chain WHERE tbl = 'completions' AND row_id =
               (SELECT id FROM completions WHERE task = 'policy-review')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // As an attacker would: the trigger is in the way, so it goes first.
    conn.execute_batch(
        "DROP TRIGGER completions_never_change;
         UPDATE completions SET done_by = 'mallory' WHERE task = 'policy-review';",
    )
    .unwrap();
    assert_eq!(
        verify_broken(&s),
        format!(
            "broken at row {row}: completions policy-review 2027: done_by is \"mallory\", chained as \"digitalisering\""
        )
    );
}

#[test]
fn a_deleted_row_breaks_the_chain_with_or_without_its_chain_row() {
    let s = season();
    let before = verify_ok(&s);
    let conn = db(&s);
    let (row, id): (i64, i64) = conn
        .query_row(
            "SELECT seq, row_id FROM chain WHERE tbl = 'retractions'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    conn.execute_batch("DROP TRIGGER retractions_never_delete;")
        .unwrap();
    conn.execute("DELETE FROM retractions WHERE id = ?1", [id])
        .unwrap();
    let out = verify_broken(&s);
    assert!(
        out.starts_with(&format!(
            "broken at row {row}: retractions backup-test 2027-Q1: "
        )),
        "{out}"
    );
    assert!(out.contains("is gone"), "{out}");
    // The careful attacker removes the chain row too. The retraction was
    // the last row, so what is left is a shorter chain that holds: only
    // its head shows the loss, which is why `verify` prints it.
    conn.execute_batch("DROP TRIGGER chain_never_delete;")
        .unwrap();
    conn.execute("DELETE FROM chain WHERE seq = ?1", [row])
        .unwrap();
    let (rows, shorter) = verify_ok(&s);
    assert_eq!(rows, before.0 - 1);
    assert_ne!(shorter, before.1);
    // A row in the middle, removed with its chain row: the chain skips.
    let (seq, id): (i64, i64) = conn
        .query_row(
            "SELECT seq, row_id FROM chain WHERE tbl = 'completions' ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(seq < rows as i64);
    conn.execute_batch(
        "DROP TRIGGER completions_never_delete; DROP TRIGGER evidence_never_delete;",
    )
    .unwrap();
    conn.execute("DELETE FROM evidence WHERE completion = ?1", [id])
        .unwrap();
    conn.execute("DELETE FROM completions WHERE id = ?1", [id])
        .unwrap();
    conn.execute("DELETE FROM chain WHERE seq = ?1", [seq])
        .unwrap();
    let out = verify_broken(&s);
    assert!(out.starts_with(&format!("broken at row {seq}: ")), "{out}");
    assert!(out.ends_with("a row was removed"), "{out}");
}

#[test]
fn a_changed_evidence_file_breaks_the_chain_at_its_completion() {
    let s = season();
    let conn = db(&s);
    let row: i64 = conn
        .query_row(
            "SELECT seq FROM chain WHERE tbl = 'completions' AND row_id =
               (SELECT id FROM completions WHERE task = 'policy-review')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute_batch(
        "DROP TRIGGER evidence_blobs_never_change;
         UPDATE evidence_blobs SET content = CAST('%PDF-1.4 forfalsk' AS BLOB)
         WHERE bytes = 16;",
    )
    .unwrap();
    let out = verify_broken(&s);
    assert_eq!(
        out,
        format!(
            "broken at row {row}: completions policy-review 2027: evidence \"referat.pdf\": the file's SHA-256 is {}, chained as {}",
            sha(b"%PDF-1.4 forfalsk"),
            sha(b"%PDF-1.4 referat")
        )
    );
}

#[test]
fn re_ordered_chain_rows_break_the_chain_at_the_first_of_them() {
    let s = season();
    let conn = db(&s);
    conn.execute_batch(
        "DROP TRIGGER chain_never_change;
         UPDATE chain SET seq = -1 WHERE seq = 2;
         UPDATE chain SET seq = 2 WHERE seq = 3;
         UPDATE chain SET seq = 3 WHERE seq = -1;",
    )
    .unwrap();
    let out = verify_broken(&s);
    assert!(out.starts_with("broken at row 2: "), "{out}");
    assert!(out.contains("does not follow the row before it"), "{out}");
}

#[test]
fn a_completion_inserted_behind_arshjuls_back_is_not_in_the_chain() {
    let s = season();
    let (rows, _) = verify_ok(&s);
    db(&s)
        .execute_batch(
            "INSERT INTO completions (task, period, at, at_utc, done_by, via, recorded_at)
             VALUES ('backup-test', '2027-Q2', '2027-05-01T12:00:00+02:00',
                     '2027-05-01T10:00:00Z', 'mallory', 'cli', '2027-05-01T12:00:00+02:00');",
        )
        .unwrap();
    let out = verify_broken(&s);
    assert!(
        out.starts_with(&format!(
            "broken at row {}: completions backup-test 2027-Q2: completions row ",
            rows + 1
        )),
        "{out}"
    );
    assert!(
        out.ends_with("is not in the chain (written behind arshjul's back)"),
        "{out}"
    );
}

#[test]
fn evidence_export_writes_task_period_name_and_sha256sums_that_check() {
    let s = season();
    std::fs::write(s.file("foto.jpg"), b"jpeg 1").unwrap();
    std::fs::create_dir(s.file("b")).unwrap();
    std::fs::write(s.file("b/foto.jpg"), b"jpeg 2").unwrap();
    s.run(&[
        "done",
        "backup-test",
        "--period",
        "2027-Q1",
        "--evidence",
        "foto.jpg",
        "b/foto.jpg",
        "--now",
        "2027-02-27",
    ])
    .expect(0);
    let run = s.run(&["evidence", "export", "eksport"]).expect(0);
    assert!(
        run.stdout().starts_with("exported 4 evidence files"),
        "{}",
        run.stdout()
    );
    let out = s.file("eksport");
    assert_eq!(
        std::fs::read(out.join("policy-review/2027/referat.pdf")).unwrap(),
        b"%PDF-1.4 referat"
    );
    assert_eq!(
        std::fs::read(out.join("backup-test/2027-Q1/foto.jpg")).unwrap(),
        b"jpeg 1"
    );
    assert_eq!(
        std::fs::read(out.join("backup-test/2027-Q1/foto (2).jpg")).unwrap(),
        b"jpeg 2"
    );
    let sums = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 4, "{sums}");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .expect("sha256sum");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // Again into the same directory: refused, nothing overwritten.
    std::fs::write(out.join("SHA256SUMS"), "mine").unwrap();
    let run = s.run(&["evidence", "export", "eksport"]).expect(2);
    assert!(
        run.stderr().contains("eksport: is not empty"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("SHA256SUMS")).unwrap(),
        "mine"
    );
    // An empty directory is fine.
    std::fs::create_dir(s.file("tom")).unwrap();
    s.run(&["evidence", "export", "tom"]).expect(0);
    assert!(s.file("tom/SHA256SUMS").is_file());
}
