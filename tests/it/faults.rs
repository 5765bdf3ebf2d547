//! Fault tests: `tick` killed mid-delivery, SMTP outages and rejections, a
//! locked database, clock jumps and a disk that refuses writes.

use crate::support::fixtures::testkommune_wheel;
use crate::support::{self, smtp};

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fixtures::blocking;
use crate::support::mime::Mail;
use crate::support::{Run, Scratch};
use smtp::{Mode, SmtpServer};

/// A wheel of `n` yearly tasks due Monday 1 March 2027, each with one
/// reminder seven days before (Monday 22 February 2027, 08:00).
fn wheel(n: usize) -> String {
    let mut s = String::from(testkommune_wheel!(
        r#"holidays = "dk"
start = 2027-01-01

[defaults]
remind = ["7d"]
repeat = "7d"
escalate = [ { after = "7d", to = "bo" } ]

[people.anna]
name = "Anna"
email = "anna@example.dk"

[people.bo]
name = "Bo"
email = "bo@example.dk"
"#
    ));
    for i in 0..n {
        s.push_str(&format!(
            "\n[[task]]\nid = \"t-{i:03}\"\ntitle = \"Opgave-{i:03}\"\nowner = \"anna\"\nevery = \"year\"\ndue = \"03-01\"\n"
        ));
    }
    s
}

const REMIND_AT: &str = "2027-02-22T09:00:00+01:00";

/// The test SMTP server on `port`, with a delivery timeout of 1 s, and
/// one mail per message (`mail.bundle` off: these tests count messages;
/// `bundle_crash` kills a pass delivering a bundle).
fn smtp_env(port: u16) -> Vec<(String, String)> {
    let mut env = smtp::env(port);
    env.push(("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS".into(), "1".into()));
    let (k, v) = support::NO_BUNDLE;
    env.push((k.into(), v.into()));
    env
}

/// The binary as a command in the scratch directory, with a clean
/// environment plus `env`.
fn command(s: &Scratch, args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = support::arshjul(s.path());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(s: &Scratch, args: &[&str], env: &[(String, String)]) -> Run {
    Run(command(s, args, env).output().expect("run arshjul"))
}

fn history(s: &Scratch) -> Vec<serde_json::Value> {
    let v = s.run(&["history", "--json"]).expect(0).json();
    v["notifications"]
        .as_array()
        .expect("notifications")
        .clone()
}

fn integrity(s: &Scratch) -> String {
    let conn = rusqlite::Connection::open(s.file("arshjul.db")).expect("open db");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .expect("integrity_check")
}

/// The `Opgave-NNN` titles in each received message, counted.
fn received_titles(server: &SmtpServer) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for m in server.received() {
        let subject = Mail::parse(&m.data).header("Subject");
        let pos = subject
            .find("Opgave-")
            .expect("a task title in the subject");
        let title = subject[pos..pos + 10].to_string();
        for r in &m.rcpt {
            *seen.entry(format!("{title} {r}")).or_insert(0) += 1;
        }
    }
    seen
}

/// A tiny xorshift generator so the kill times are random but repeatable.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn kill9(child: &mut Child) {
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_loses_nothing_and_repeats_at_most_the_message_in_flight() {
    let s = std::sync::Arc::new(Scratch::new(&wheel(200)));
    let server = SmtpServer::start().await;
    server.set_mode(Mode::Slow(Duration::from_millis(1)));
    let env = smtp_env(server.port());
    let mut rng = XorShift(0x5eed_2027_0222);
    let mut kills = 0;
    for _ in 0..5 {
        let wait = Duration::from_millis(50 + rng.next() % 751);
        let mut child = command(&s, &["tick", "--now", REMIND_AT], &env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tick");
        tokio::time::sleep(wait).await;
        if child.try_wait().expect("poll").is_none() {
            kill9(&mut child);
            kills += 1;
        }
    }
    assert!(kills >= 3, "the tick should be killed mid-delivery");
    let mut finished = false;
    for _ in 0..5 {
        let (s2, env2) = (s.clone(), env.clone());
        let r = blocking(move || run(&s2, &["tick", "--now", REMIND_AT], &env2)).await;
        if r.code() == 0 {
            finished = true;
            break;
        }
    }
    assert!(finished, "a tick to completion exits 0");

    let seen = received_titles(&server);
    for i in 0..200 {
        let key = format!("Opgave-{i:03} anna@example.dk");
        assert!(seen.contains_key(&key), "never received: {key}");
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates after {kills} kills"
    );
    let notes = history(&s);
    assert_eq!(notes.len(), 200);
    assert!(notes.iter().all(|n| n["state"] == "sent"), "{notes:?}");
    assert_eq!(integrity(&s), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_then_silent_then_back_delivers_each_message_once() {
    let s = std::sync::Arc::new(Scratch::new(&wheel(3)));
    // Down: nothing listens.
    let port = smtp::refusing_port().await;
    let r = run(&s, &["tick", "--now", REMIND_AT], &smtp_env(port));
    assert_eq!(r.code(), 1, "{}", r.stderr());
    let notes = history(&s);
    assert_eq!(notes.len(), 3);
    for n in &notes {
        assert_eq!(n["state"], "pending", "{n}");
        assert_eq!(n["attempts"], 1, "{n}");
        assert!(n["error"].as_str().is_some_and(|e| !e.is_empty()), "{n}");
    }

    // Silent: accepts and never answers; the 1 s timeout bounds the tick.
    let silent = SmtpServer::start().await;
    silent.set_mode(Mode::Silent);
    let env = smtp_env(silent.port());
    let started = Instant::now();
    let s2 = s.clone();
    let r = blocking(move || run(&s2, &["tick", "--now", "2027-02-22T09:06:00+01:00"], &env)).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(history(&s).iter().all(|n| n["state"] == "pending"));

    // Back: a normal server, past every back-off.
    let good = SmtpServer::start().await;
    let env = smtp_env(good.port());
    let s2 = s.clone();
    let e2 = env.clone();
    blocking(move || run(&s2, &["tick", "--now", "2027-02-22T15:00:00+01:00"], &e2))
        .await
        .expect(0);
    let seen = received_titles(&good);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
    assert!(history(&s).iter().all(|n| n["state"] == "sent"));
    let s2 = s.clone();
    blocking(move || run(&s2, &["tick", "--now", "2027-02-22T16:00:00+01:00"], &env))
        .await
        .expect(0);
    assert_eq!(good.received().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_for_one_recipient_fails_that_message_only_and_it_is_not_retried() {
    let text = wheel(3).replace(
        "[[task]]\nid = \"t-001\"\ntitle = \"Opgave-001\"\nowner = \"anna\"",
        "[[task]]\nid = \"t-001\"\ntitle = \"Opgave-001\"\nowner = \"bo\"",
    );
    let s = std::sync::Arc::new(Scratch::new(&text));
    let server = SmtpServer::start().await;
    server.reject("bo@example.dk", "550 5.1.1 No such user");
    let env = smtp_env(server.port());
    let (s2, e2) = (s.clone(), env.clone());
    let r = blocking(move || run(&s2, &["tick", "--now", REMIND_AT], &e2)).await;
    assert_eq!(r.code(), 1, "{}", r.stderr());
    let notes = history(&s);
    assert_eq!(notes.len(), 3);
    for n in &notes {
        let want = if n["task"] == "t-001" {
            "failed"
        } else {
            "sent"
        };
        assert_eq!(n["state"], want, "{n}");
    }
    let before = server.connections();
    let s2 = s.clone();
    blocking(move || run(&s2, &["tick", "--now", "2027-02-23T09:00:00+01:00"], &env))
        .await
        .expect(0);
    assert_eq!(server.received().len(), 2);
    assert_eq!(
        server.connections(),
        before,
        "the failed message was retried"
    );
}

#[test]
fn a_locked_database_is_a_clear_error_and_leaves_no_partial_state() {
    let s = Scratch::new(&wheel(3));
    s.run(&["tick", "--now", "2027-01-20T09:00:00+01:00"])
        .expect(0);
    let holder = rusqlite::Connection::open(s.file("arshjul.db")).expect("open db");
    holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    // `busy_timeout_ms` is honoured: the tick gives up after 300 ms, not
    // after the default 5 s.
    let began = Instant::now();
    let r = s.run_env(
        &["tick", "--now", REMIND_AT],
        &[("ARSHJUL_BUSY_TIMEOUT_MS", "300")],
    );
    let took = began.elapsed();
    assert_eq!(r.code(), 1, "{}", r.stderr());
    assert!(
        r.stderr()
            .contains("the database is locked by another process; gave up after 1 s"),
        "{}",
        r.stderr()
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(2500),
        "gave up after {took:?}"
    );
    holder.execute_batch("ROLLBACK").expect("unlock");
    drop(holder);
    assert!(history(&s).is_empty(), "partial state after a locked tick");
    s.run(&["tick", "--now", REMIND_AT]).expect(0);
    assert_eq!(history(&s).len(), 3);
}

#[test]
fn a_clock_jump_forward_sends_no_burst_and_a_jump_back_sends_nothing() {
    let s = Scratch::new(&wheel(3));
    s.run(&["tick", "--now", REMIND_AT]).expect(0);
    assert_eq!(history(&s).len(), 3);
    // A week later in one jump.
    s.run(&["tick", "--now", "2027-03-01T09:00:00+01:00"])
        .expect(0);
    let notes = history(&s);
    let mut per: HashMap<String, usize> = HashMap::new();
    for n in &notes {
        *per.entry(format!("{} {} {}", n["task"], n["period"], n["to"]))
            .or_insert(0) += 1;
    }
    assert!(per.values().all(|&n| n <= 2), "a burst: {per:?}");
    let after_jump = notes.len();
    // The clock goes back a day.
    s.run(&["tick", "--now", "2027-02-28T09:00:00+01:00"])
        .expect(0);
    assert_eq!(history(&s).len(), after_jump);
}

#[test]
fn a_disk_that_refuses_writes_is_a_clear_error_and_the_database_survives() {
    let s = Scratch::new(&wheel(200));
    s.run(&["tick", "--now", "2027-01-20T09:00:00+01:00"])
        .expect(0);
    let size = std::fs::metadata(s.file("arshjul.db")).expect("db").len();
    let blocks = size / 1024 + 1;
    let script = format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" tick --now {REMIND_AT}");
    let mut cmd = Command::new("bash");
    support::scrub(&mut cmd)
        .args(["-c", &script, env!("CARGO_BIN_EXE_arshjul")])
        .current_dir(s.path());
    let r = Run(cmd.output().expect("bash"));
    assert_ne!(r.code(), 0, "{}", r.stderr());
    assert_ne!(r.code(), 101, "panicked: {}", r.stderr());
    assert!(r.stderr().contains("arshjul.db"), "{}", r.stderr());
    assert_eq!(integrity(&s), "ok");
    s.run(&["tick", "--now", REMIND_AT]).expect(0);
    let notes = history(&s);
    assert_eq!(notes.len(), 200);
    assert!(notes.iter().all(|n| n["state"] == "sent"));
}

#[test]
fn a_database_under_a_regular_file_is_a_clear_error_naming_it() {
    let s = Scratch::new(&wheel(1));
    std::fs::write(s.file("plain"), "not a directory").expect("write");
    let r = s.run_env(
        &["tick", "--now", REMIND_AT],
        &[("ARSHJUL_DATABASE", "plain/sub/arshjul.db")],
    );
    assert_ne!(r.code(), 0);
    assert_ne!(r.code(), 101, "panicked: {}", r.stderr());
    assert!(r.stderr().contains("plain/sub"), "{}", r.stderr());
}
