//! A pass in batches (issue 12, item 2): the engine renders and records
//! the messages of a pass `batch` at a time, each batch in its own
//! transaction, and reads pending messages from the outbox a batch at a
//! time. The batch size changes how many transactions a pass takes, never
//! what it records or sends; a pass stopped between batches (as a crash
//! there would leave it) is completed by the next pass, each message once.
//! The real engine on a real SQLite file, delivering through the file
//! transport.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::support::fixtures::utc;
use crate::support::mime::Mail;
use arshjul::config::Config;
use arshjul::engine::{Engine, Outcome, Report};
use arshjul::settings::Settings;
use arshjul::store::{NotificationRecord, Store};
use chrono::{DateTime, Timelike, Utc};

/// Ten yearly tasks due Monday 15 February 2027, each with a reminder a
/// week ahead: at noon on Monday 8 February the pass has ten messages.
fn wheel() -> String {
    let mut s = String::from(
        "[organisation]\nname = \"Bench\"\nstart = 2027-01-01\n\n\
         [defaults]\nremind = [\"7d\"]\nrepeat = \"0d\"\n\n\
         [people.owner]\nname = \"Owner\"\nemail = \"owner@example.dk\"\n\n",
    );
    for i in 0..10 {
        s.push_str(&format!(
            "[[task]]\nid = \"task-{i}\"\ntitle = \"Task {i}\"\nowner = \"owner\"\n\
             every = \"year\"\ndue = \"02-15\"\n\n"
        ));
    }
    s
}

fn now() -> DateTime<Utc> {
    utc("2027-02-08T12:00:00+01:00")
}

/// A database, a link secret and an outbox directory of their own.
struct Setup {
    dir: tempfile::TempDir,
    store: Mutex<Store>,
    engine: Engine,
}

impl Setup {
    fn new(batch: usize) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, [7u8; 32]).unwrap();
        let mut settings = Settings {
            database: dir.path().join("arshjul.db"),
            secret_file: Some(secret),
            public_url: "http://x".into(),
            ..Settings::default()
        };
        settings.mail.dir = dir.path().join("outbox");
        // These tests count messages per batch, one mail each.
        settings.mail.bundle = false;
        std::fs::create_dir_all(&settings.mail.dir).unwrap();
        let wheel = arshjul::wheel::parse(&wheel(), "schedule.toml").unwrap();
        let store = Mutex::new(Store::open(&settings.database, true).unwrap());
        let mut engine = Engine::new(Config { settings, wheel }).unwrap();
        engine.set_batch(batch);
        assert_eq!(engine.batch(), batch);
        Setup { dir, store, engine }
    }

    async fn pass(&self, stop: &(dyn Fn() -> bool + Sync)) -> Report {
        match self
            .engine
            .guarded_pass(&self.store, now(), stop, None)
            .await
            .unwrap()
        {
            Outcome::Passed(report) => report,
            Outcome::Held(brake) => panic!("held: {brake}"),
        }
    }

    /// The outbox, newest first, each message's send time truncated to
    /// the second (it is `now` plus the time the pass took so far).
    fn outbox(&self) -> Vec<NotificationRecord> {
        let mut rows = self.store.lock().unwrap().notifications(None).unwrap();
        for r in &mut rows {
            r.sent_at = r.sent_at.map(|t| t.with_nanosecond(0).unwrap());
        }
        rows
    }

    fn outbox_dir(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }
}

/// What each `.eml` file written says, by file name: recipients, subject,
/// Message-ID, text and HTML (the Date header and the MIME boundaries are
/// the only parts of a message that differ from run to run).
fn mails(dir: &Path) -> BTreeMap<String, [String; 6]> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = Mail::parse(std::fs::read(e.path()).unwrap());
            (
                e.file_name().to_string_lossy().into_owned(),
                [
                    m.to().join(","),
                    m.cc().join(","),
                    m.header("Subject"),
                    m.header("Message-ID"),
                    m.text(),
                    m.html(),
                ],
            )
        })
        .collect()
}

#[tokio::test]
async fn a_pass_in_batches_of_three_records_and_sends_what_one_batch_does() {
    let whole = Setup::new(1000);
    let report = whole.pass(&|| false).await;
    assert_eq!((report.queued, report.sent), (10, 10), "{report:?}");

    let batched = Setup::new(3);
    let report = batched.pass(&|| false).await;
    assert_eq!((report.queued, report.sent), (10, 10), "{report:?}");

    assert_eq!(batched.outbox(), whole.outbox());
    let (a, b) = (mails(&whole.outbox_dir()), mails(&batched.outbox_dir()));
    assert_eq!(a.len(), 10);
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_pass_stopped_between_batches_is_completed_by_the_next_each_message_once() {
    let whole = Setup::new(1000);
    whole.pass(&|| false).await;

    // Stopped before its third batch: as a crash between batches leaves
    // it, two batches (six messages) recorded, nothing sent.
    let batched = Setup::new(3);
    let asked = AtomicUsize::new(0);
    let report = batched
        .pass(&|| asked.fetch_add(1, Ordering::SeqCst) >= 2)
        .await;
    assert_eq!(report, Report::default());
    let recorded = batched.outbox();
    assert_eq!(recorded.len(), 6, "{recorded:#?}");
    assert!(mails(&batched.outbox_dir()).is_empty());

    // The next pass records the other four and sends all ten, once each.
    let report = batched.pass(&|| false).await;
    assert_eq!((report.queued, report.sent), (4, 10), "{report:?}");
    assert_eq!(batched.outbox(), whole.outbox());
    assert_eq!(mails(&batched.outbox_dir()), mails(&whole.outbox_dir()));

    // And a third records and sends nothing.
    let report = batched.pass(&|| false).await;
    assert_eq!((report.queued, report.sent), (0, 0), "{report:?}");
    assert_eq!(mails(&batched.outbox_dir()).len(), 10);
}

#[test]
fn deliverable_in_batches_reads_each_pending_message_once_in_order() {
    let s = Setup::new(3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Record without delivering: a pass stopped before delivery's first
    // message (the stop is asked once per batch to record, then per
    // message).
    let asked = AtomicUsize::new(0);
    rt.block_on(s.pass(&|| asked.fetch_add(1, Ordering::SeqCst) >= 4));
    let store = s.store.lock().unwrap();
    let at = now().fixed_offset();
    let all = store.deliverable(at).unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(store.deliverable_count(at).unwrap(), 10);
    for limit in [1, 3, 10, 11] {
        let mut read = Vec::new();
        let mut after = None;
        // Ten batches of one and an empty one at most.
        for _ in 0..=10 {
            let (batch, next) = store.deliverable_batch(at, after.as_ref(), limit).unwrap();
            if batch.is_empty() {
                assert_eq!(next, None);
                break;
            }
            assert!(batch.len() <= limit);
            read.extend(batch);
            after = next;
        }
        assert_eq!(read, all, "batches of {limit}");
    }
}
