//! `arshjul run` as systemd runs it: the notify protocol on a real unix
//! datagram socket, catch-up on start, reload with a broken and a grown
//! wheel, a clean stop, and a restart that sends nothing twice. The daemon
//! reads the wall clock, so the wheel is written relative to today.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;

/// A daemon child that is killed if the test fails before stopping it.
struct Daemon {
    child: Child,
    notify: UnixDatagram,
    port: u16,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A yearly task due in 10 days whose 30-day reminder day has passed.
fn task(id: &str) -> String {
    let due = Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive()
        + chrono::Duration::days(10);
    format!(
        "\n[[task]]\nid = \"{id}\"\ntitle = \"Opgave {id}\"\nowner = \"anna\"\nevery = \"year\"\ndue = \"{}\"\n",
        due.format("%m-%d")
    )
}

fn wheel(tasks: &[&str]) -> String {
    let mut w = String::from(
        r#"
[organisation]
name = "Testkommune"
send_time = "00:00"
holidays = "none"

[defaults]
remind = ["30d"]
repeat = "0d"

[people.anna]
name = "Anna"
email = "anna@example.dk"
"#,
    );
    for id in tasks {
        w.push_str(&task(id));
    }
    w
}

fn start(dir: &Path) -> Daemon {
    let socket = dir.join(format!(
        "notify-{}.sock",
        Utc::now().timestamp_nanos_opt().unwrap_or(0)
    ));
    let notify = UnixDatagram::bind(&socket).expect("bind the notify socket");
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let port = free_port();
    let log = dir.join("daemon.log");
    // systemd sets WATCHDOG_PID to the service's pid; `exec` keeps the
    // shell's pid, so `$$` is the daemon's.
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "WATCHDOG_PID=$$ exec \"$0\" run",
        env!("CARGO_BIN_EXE_arshjul"),
    ])
    .current_dir(dir)
    .env("NOTIFY_SOCKET", &socket)
    .env("WATCHDOG_USEC", "1000000")
    .env("ARSHJUL_LISTEN", format!("127.0.0.1:{port}"))
    .env("RUST_LOG", "info")
    .env("JOURNAL_STREAM", "1:1")
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(&log).expect("log file"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ARSHJUL_") && k != "ARSHJUL_LISTEN" {
            cmd.env_remove(k);
        }
    }
    let child = cmd.spawn().expect("spawn arshjul run");
    Daemon {
        child,
        notify,
        port,
        log,
    }
}

impl Daemon {
    /// Notify messages until one contains `want`, within `limit`.
    fn wait_for(&self, want: &str, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = msg.lines().any(|l| l == want);
                seen.push(msg);
                if done {
                    return seen;
                }
            }
        }
        panic!(
            "no {want} within {limit:?}; got {seen:?}\nlog:\n{}",
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn healthz(&self) -> u16 {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("read");
        reply
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args(["-s", sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -s {sig}");
    }

    /// SIGTERM, then the exit status within 5 s.
    fn stop(mut self, sig: &str) -> i32 {
        self.signal(sig);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "still running 5 s after {sig}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn emls(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("outbox"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
            .count()
        })
        .unwrap_or(0)
}

fn wait_emls(dir: &Path, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while emls(dir) < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} messages after {limit:?}",
            emls(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_daemon_under_the_notify_protocol_catches_up_reloads_and_stops_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::write(dir.join("schedule.toml"), wheel(&["first"])).expect("write wheel");

    // Ready once the database is open and the listener bound; the reminder
    // that is already due goes out at once; the watchdog is fed.
    let d = start(dir);
    d.wait_for("READY=1", Duration::from_secs(10));
    assert_eq!(d.healthz(), 200);
    wait_emls(dir, 1, Duration::from_secs(5));
    let seen = d.wait_for("WATCHDOG=1", Duration::from_secs(3));
    assert!(
        seen.iter().any(|m| m.starts_with("STATUS=1 tasks")),
        "{seen:?}"
    );
    d.wait_for("WATCHDOG=1", Duration::from_secs(3));

    // A broken wheel is refused with its place; the old one stays in force.
    std::fs::write(
        dir.join("schedule.toml"),
        wheel(&["first"]) + "\n[[task]]\nid = \"Bad Id\"\n",
    )
    .expect("write broken wheel");
    d.signal("HUP");
    d.wait_for("RELOADING=1", Duration::from_secs(3));
    d.wait_for("READY=1", Duration::from_secs(3));
    assert!(d.log().contains("schedule.toml:"), "{}", d.log());
    assert_eq!(d.healthz(), 200);

    // A new task whose reminder is due goes out after the reload.
    std::fs::write(dir.join("schedule.toml"), wheel(&["first", "second"]))
        .expect("write grown wheel");
    d.signal("HUP");
    d.wait_for("READY=1", Duration::from_secs(3));
    wait_emls(dir, 2, Duration::from_secs(5));

    // SIGTERM: STOPPING=1 and exit 0.
    let notify = d.notify.try_clone().expect("clone socket");
    assert_eq!(d.stop("TERM"), 0);
    let mut buf = [0u8; 4096];
    let mut stopping = false;
    while let Ok(n) = notify.recv(&mut buf) {
        stopping |= String::from_utf8_lossy(&buf[..n])
            .lines()
            .any(|l| l == "STOPPING=1");
    }
    assert!(stopping, "no STOPPING=1");

    // A restart right after: nothing is sent twice. SIGINT stops it too.
    let d = start(dir);
    d.wait_for("READY=1", Duration::from_secs(10));
    d.wait_for("WATCHDOG=1", Duration::from_secs(3));
    assert_eq!(emls(dir), 2);
    assert_eq!(d.stop("INT"), 0);
}
