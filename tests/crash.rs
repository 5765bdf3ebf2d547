//! `kill -9` in the middle of delivery loses nothing: the next pass
//! delivers the rest, and only a message in flight may arrive twice.

#[path = "support/smtp.rs"]
mod smtp;
mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use smtp::{Mode, SmtpServer};
use support::Scratch;

/// Tasks whose 7-day reminder is due on 22 February 2027 at 08:00.
const TASKS: usize = 120;
const NOW: &str = "2027-02-22T09:00:00+01:00";

fn wheel() -> String {
    let mut w = String::from(
        r#"
[organisation]
name = "Crash"
start = 2027-01-01

[defaults]
remind = ["7d"]
repeat = "0d"

[people.anna]
name = "Anna"
email = "anna@example.dk"
"#,
    );
    for i in 0..TASKS {
        w.push_str(&format!(
            "\n[[task]]\nid = \"task-{i}\"\ntitle = \"Task {i}\"\nowner = \"anna\"\nevery = \"year\"\ndue = \"03-01\"\n"
        ));
    }
    w
}

fn env(port: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ARSHJUL_MAIL__TRANSPORT", "smtp".into()),
        ("ARSHJUL_MAIL__SMTP__HOST", "127.0.0.1".into()),
        ("ARSHJUL_MAIL__SMTP__PORT", port.into()),
        ("ARSHJUL_MAIL__SMTP__TLS", "none".into()),
        ("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS", "5".into()),
    ]
}

/// The X-Arshjul-Task header of a received message.
fn task_of(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("X-Arshjul-Task: "))
        .map(str::to_string)
        .unwrap_or_default()
}

#[test]
fn sigkill_during_delivery_loses_nothing_and_duplicates_only_what_was_in_flight() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(SmtpServer::start());
    // 2 ms before every reply, about 10 ms a message: a pass over 120
    // messages takes more than a second, so the
    // kills land in the middle of delivery.
    server.set_mode(Mode::Slow(Duration::from_millis(2)));
    let port = server.port().to_string();
    let scratch = Scratch::new(&wheel());
    let env = env(&port);

    // Kill the pass at different points, each after some messages went out.
    let mut kills = 0;
    for round in 0..4 {
        let before = server.received().len();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_arshjul"));
        cmd.args(["tick", "--now", NOW])
            .current_dir(scratch.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn tick");
        // Wait until this pass has delivered a few messages (or finished).
        let target = before + 10 + round * 7;
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.received().len() < target && Instant::now() < deadline {
            if child.try_wait().expect("try_wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if child.try_wait().expect("try_wait").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        child.wait().expect("reap");
    }
    assert!(
        kills >= 2,
        "the passes ended before they could be killed ({kills} kills)"
    );

    // Then passes run to the end: everything is delivered.
    server.set_mode(Mode::Normal);
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    scratch.run_env(&["tick", "--now", NOW], &envs).expect(0);
    scratch.run_env(&["tick", "--now", NOW], &envs).expect(0);

    let mut per_task: HashMap<String, usize> = HashMap::new();
    for m in server.received() {
        *per_task.entry(task_of(&m.text())).or_default() += 1;
    }
    for i in 0..TASKS {
        let n = per_task.get(&format!("task-{i}")).copied().unwrap_or(0);
        assert!(n >= 1, "task-{i} was never delivered");
    }
    let duplicates: usize = per_task.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= kills,
        "{duplicates} duplicates after {kills} kills: only the message in flight may repeat"
    );

    // The outbox agrees: every message is marked sent, none pending.
    let h = scratch
        .run_env(&["history", "--json"], &envs)
        .expect(0)
        .json();
    let states: Vec<&str> = h["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .filter_map(|n| n["state"].as_str())
        .collect();
    assert_eq!(states.len(), TASKS);
    assert!(states.iter().all(|s| *s == "sent"), "{states:?}");

    // And the file is sound.
    let conn = rusqlite::Connection::open(scratch.file("arshjul.db")).expect("open");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
}
