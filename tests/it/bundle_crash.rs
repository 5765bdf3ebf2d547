//! A real crash of `arshjul run` delivering a bundle (`mail.bundle`): the
//! daemon is SIGKILLed after the bundle is recorded but before the server
//! has it, and again while the bundle is in flight (the server has taken
//! the message and never confirms it). Restarted, it delivers the bundle:
//! at most twice in all, never a part on its own as well, nothing lost.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};

use crate::support::mime::Mail;
use crate::support::smtp::{self, Mode, SmtpServer};
use crate::support::{self, Scratch};

const PATIENCE: Duration = Duration::from_secs(10);

fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive()
}

/// Four yearly tasks of Anna's due in five days (reminded 30 days ahead),
/// with mail at midnight on a day that never closes: the daemon's first
/// pass owes Anna four reminders, one bundle.
fn wheel() -> String {
    let mut s = format!(
        "[organisation]\nname = \"Testkommune\"\ntimezone = \"Europe/Copenhagen\"\n\
         language = \"da\"\nsend_time = \"00:00\"\nholidays = \"none\"\nstart = {}\n\n\
         [people.anna]\nname = \"Anna Ærø\"\nemail = \"anna@example.dk\"\n",
        today() - Days::new(60)
    );
    let mut due = today() + Days::new(5);
    if due.format("%m-%d").to_string() == "02-29" {
        due = due + Days::new(1);
    }
    for id in ["t-a", "t-b", "t-c", "t-d"] {
        s.push_str(&format!(
            "\n[[task]]\nid = \"{id}\"\ntitle = \"Opgave {id}\"\nowner = \"anna\"\n\
             every = \"year\"\ndue = \"{}\"\nremind = [\"30d\"]\n",
            due.format("%m-%d")
        ));
    }
    s
}

/// `arshjul run` in `dir`, delivering to the test server on `port` (a
/// delivery may wait 60 s, longer than any test here), with `more`
/// settings; its log goes to `daemon.log`.
fn start(dir: &Path, port: u16, more: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .expect("open log");
    let mut cmd = support::arshjul(dir);
    cmd.arg("run")
        .env("RUST_LOG", "info")
        .env("ARSHJUL_LISTEN", "127.0.0.1:0")
        .env("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS", "60")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log"))
        .stderr(log);
    for (k, v) in smtp::env(port) {
        cmd.env(k, v);
    }
    for (k, v) in more {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start arshjul run")
}

fn kill9(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

fn log(s: &Scratch) -> String {
    std::fs::read_to_string(s.file("daemon.log")).unwrap_or_default()
}

/// Waits until `ready` holds, failing with the daemon's log after PATIENCE.
fn wait_for(s: &Scratch, what: &str, mut ready: impl FnMut() -> bool) {
    let began = Instant::now();
    while !ready() {
        assert!(
            began.elapsed() < PATIENCE,
            "{what}: not within {PATIENCE:?}\nlog:\n{}",
            log(s)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The outbox rows as (kind, state), read behind the daemon's back.
fn outbox(s: &Scratch) -> Vec<(String, String)> {
    let Ok(conn) = rusqlite::Connection::open_with_flags(
        s.file("arshjul.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return Vec::new();
    };
    let Ok(mut stmt) = conn.prepare("SELECT kind, state FROM outbox ORDER BY id") else {
        return Vec::new();
    };
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// The kinds of the mails `server` took, in order, and the completion
/// links of each bundle.
fn taken(server: &SmtpServer) -> Vec<(String, usize)> {
    server
        .received()
        .iter()
        .map(|r| {
            let mail = Mail::parse(&r.data);
            let links = mail
                .text()
                .split_whitespace()
                .filter(|w| w.starts_with("http") && w.contains("/done/"))
                .count();
            (mail.header_opt("X-Arshjul-Kind").unwrap_or_default(), links)
        })
        .collect()
}

/// Restarts the daemon with bundling off (one that planned the parts again
/// would send them one by one), waits until the bundle is sent, gives a
/// later pass a moment to send anything more (the loop wakes at least
/// every minute; the first pass's tail), and kills it.
fn restart_unbundled_until_sent(s: &Scratch, server: &SmtpServer) {
    let mut daemon = start(
        s.path(),
        server.port(),
        &[("ARSHJUL_MAIL__BUNDLE", "false")],
    );
    wait_for(s, "the bundle sent", || {
        outbox(s) == [("bundle".to_string(), "sent".to_string())]
    });
    std::thread::sleep(Duration::from_millis(300));
    kill9(&mut daemon);
}

/// After the restart: the four tasks show their reminder sent (as parts of
/// the one bundle), and the chain verifies.
fn assert_settled(s: &Scratch) {
    let history = s.run(&["history", "--json"]).expect(0).json();
    let notes = history["notifications"].as_array().expect("notifications");
    let mut tasks: Vec<&str> = notes
        .iter()
        .map(|n| {
            assert_eq!(n["kind"], "reminder", "{n}");
            assert_eq!(n["state"], "sent", "{n}");
            n["task"].as_str().unwrap_or_default()
        })
        .collect();
    tasks.sort_unstable();
    assert_eq!(tasks, ["t-a", "t-b", "t-c", "t-d"], "{history}");
    assert_eq!(outbox(s), [("bundle".into(), "sent".into())]);
    s.run(&["verify"]).expect(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_after_the_bundle_is_recorded_then_a_restart_sends_it_once() {
    let s = Scratch::new(&wheel());
    let server = SmtpServer::start().await;
    // The server accepts the connection and never greets: the pass has
    // recorded the bundle and waits to deliver it.
    server.set_mode(Mode::Silent);
    let mut daemon = start(s.path(), server.port(), &[]);
    wait_for(&s, "the bundle recorded, pending", || {
        outbox(&s) == [("bundle".to_string(), "pending".to_string())]
    });
    kill9(&mut daemon);
    assert!(server.received().is_empty());

    // Restarted with bundling off: a daemon that planned the parts again
    // would send them one by one.
    server.set_mode(Mode::Normal);
    restart_unbundled_until_sent(&s, &server);
    assert_eq!(taken(&server), [("bundle".to_string(), 4)]);
    assert_settled(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_the_bundle_is_in_flight_then_a_restart_sends_it_at_most_twice() {
    let s = Scratch::new(&wheel());
    let server = SmtpServer::start().await;
    // The server takes the whole bundle and never confirms it.
    server.set_mode(Mode::StallAfterData);
    let mut daemon = start(s.path(), server.port(), &[]);
    wait_for(&s, "the bundle in flight", || server.received().len() == 1);
    kill9(&mut daemon);
    // Not marked sent: the daemon never heard back.
    assert_eq!(outbox(&s), [("bundle".into(), "pending".into())]);

    server.set_mode(Mode::Normal);
    restart_unbundled_until_sent(&s, &server);
    // The bundle twice (the copy in flight, then the resend), each whole
    // with its four links; no reminder on its own.
    assert_eq!(
        taken(&server),
        [("bundle".to_string(), 4), ("bundle".to_string(), 4)]
    );
    let received = server.received();
    assert_eq!(received[0].data, received[1].data, "the same bytes twice");
    assert_settled(&s);
}
