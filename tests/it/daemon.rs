//! `arshjul run` as systemd runs it: the real binary in a scratch
//! directory, a unix datagram socket as NOTIFY_SOCKET, real signals, real
//! HTTP, and the file transport's outbox.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};

use crate::support;
use crate::support::fixtures::eml_count;
use crate::support::http;

/// How long any single expectation may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(8);

/// Today in the wheel's time zone.
fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Copenhagen)
        .date_naive()
}

/// A yearly task due `days` from today, reminded 30 days ahead, as a
/// `[[task]]` table. Skips 29 February, which a yearly `MM-DD` cannot name.
fn task(id: &str, days: u64) -> String {
    format!(
        "\n[[task]]\nid = \"{id}\"\ntitle = \"Opgave {id}\"\nowner = \"anna\"\n\
         every = \"year\"\ndue = \"{}\"\nremind = [\"30d\"]\n\
         reference = \"ISO/IEC 27001:2022 5.2\"\ndescription = \"Gør det.\"\n",
        due_of(days)
    )
}

/// The `MM-DD` of the day `days` from today, or of the day after when that
/// is 29 February, which a yearly `MM-DD` cannot name.
fn due_of(days: u64) -> String {
    let due = today() + Days::new(days);
    match due.format("%m-%d").to_string().as_str() {
        "02-29" => "03-01".to_string(),
        other => other.to_string(),
    }
}

/// A wheel whose day never closes and whose mail goes out at midnight, so
/// that a reminder day in the past means "send now".
fn wheel(tasks: &[String]) -> String {
    let start = today() - Days::new(60);
    format!(
        "[organisation]\nname = \"Testkommune\"\ntimezone = \"Europe/Copenhagen\"\n\
         language = \"da\"\nsend_time = \"00:00\"\nholidays = \"none\"\nstart = {start}\n\n\
         [people.anna]\nname = \"Anna Ærø\"\nemail = \"anna@example.dk\"\n{}",
        tasks.concat()
    )
}

/// A scratch directory holding the wheel, the database, the outbox, the
/// log and the notify socket.
struct Scratch {
    dir: tempfile::TempDir,
    notify: UnixDatagram,
    /// Every notify datagram received so far, one state per entry.
    states: Vec<String>,
}

impl Scratch {
    fn new(schedule: &str) -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("schedule.toml"), schedule).expect("write schedule");
        let notify = UnixDatagram::bind(dir.path().join("notify.sock")).expect("bind notify");
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        Scratch {
            dir,
            notify,
            states: Vec::new(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_wheel(&self, schedule: &str) {
        std::fs::write(self.file("schedule.toml"), schedule).expect("write schedule");
    }

    /// Starts `arshjul run` with a clean environment plus `env`, on a port
    /// the system picks (`listen = "127.0.0.1:0"`), and returns once the
    /// daemon has logged the address it bound.
    fn start(&self, env: &[(&str, &str)]) -> Daemon {
        let logged = self.log().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.file("daemon.log"))
            .expect("open log");
        let mut cmd = support::arshjul(self.dir.path());
        cmd.arg("run")
            .env("RUST_LOG", "info")
            .env("ARSHJUL_LISTEN", "127.0.0.1:0")
            .env("NOTIFY_SOCKET", self.file("notify.sock"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start arshjul run");
        let addr = self.await_listening(logged, &mut child);
        Daemon { child, addr }
    }

    /// Polls the log written since byte `from` until the daemon says
    /// `listening on ADDR`, and returns ADDR.
    fn await_listening(&self, from: usize, child: &mut Child) -> SocketAddr {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let log = self.log();
            let line = log.get(from..).and_then(|new| {
                let at = new.find("listening on ")? + "listening on ".len();
                new[at..].split_whitespace().next().map(str::to_string)
            });
            if let Some(addr) = line {
                return addr
                    .parse()
                    .unwrap_or_else(|e| panic!("listening on {addr:?}: {e}\nlog:\n{log}"));
            }
            if let Some(exit) = child.try_wait().expect("wait") {
                panic!("arshjul run exited ({exit}) before listening\nlog:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "no \"listening on\" within {PATIENCE:?}\nlog:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads notify datagrams until one starts with `state` (`READY=1`,
    /// `STATUS=`, `STATUS=2 tasks`), counting
    /// only those that arrive after the first `skip` states.
    fn await_state(&mut self, state: &str, skip: usize) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self.states.iter().skip(skip).find(|s| s.starts_with(state));
            if let Some(found) = found {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {state} within {PATIENCE:?}; received {:?}\nlog:\n{}",
                self.states,
                self.log()
            );
            self.receive();
        }
    }

    /// Waits up to 100 ms for one datagram and records its states.
    fn receive(&mut self) {
        let mut buf = [0u8; 4096];
        if let Ok(n) = self.notify.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            self.states
                .extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
        }
    }

    /// Sends SIGHUP to `d` and waits for `RELOADING=1` and the `READY=1`
    /// after it: the reload is over, taken or refused. Returns the index of
    /// that `RELOADING=1` among the states.
    fn reload(&mut self, d: &Daemon) -> usize {
        let skip = self.states.len();
        d.signal("HUP");
        self.await_state("RELOADING=1", skip);
        let reloading = skip + position(&self.states[skip..], "RELOADING=1");
        self.await_state("READY=1", reloading);
        reloading
    }

    /// Waits for READY=1 and then for the STATUS= that follows the first
    /// pass: the daemon is serving and has done its catch-up.
    fn await_first_pass(&mut self) {
        let skip = self.states.len();
        self.await_state("READY=1", skip);
        let ready = skip + position(&self.states[skip..], "READY=1");
        self.await_state("STATUS=", ready);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.file("daemon.log")).unwrap_or_default()
    }

    fn outbox(&self) -> usize {
        eml_count(&self.file("outbox"))
    }

    /// Waits for passes (each ends with a `STATUS=` datagram, sent after
    /// its deliveries) that arrive after the first `skip` states until the
    /// outbox holds `n` messages or more, then asserts exactly `n`: a
    /// further message of the same pass would already be written.
    fn await_outbox(&mut self, n: usize, skip: usize) {
        let deadline = Instant::now() + PATIENCE;
        let mut skip = skip;
        loop {
            self.await_state("STATUS=", skip);
            if self.outbox() >= n || Instant::now() >= deadline {
                break;
            }
            skip = self.states.len();
        }
        assert_eq!(self.outbox(), n, "outbox\nlog:\n{}", self.log());
    }
}

fn position(states: &[String], state: &str) -> usize {
    states.iter().position(|s| s == state).unwrap_or(0)
}

/// The running daemon; killed if a test fails before stopping it.
struct Daemon {
    child: Child,
    /// The address the daemon logged it listens on.
    addr: SocketAddr,
}

impl Daemon {
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Sends `name` and waits for the exit, failing after `limit`.
    fn stop_with(&mut self, name: &str, limit: Duration) -> (ExitStatus, Duration) {
        let began = Instant::now();
        self.signal(name);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, began.elapsed());
            }
            assert!(
                began.elapsed() < limit,
                "still running {limit:?} after SIG{name}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET path`, returning the status code.
    fn get(&self, path: &str) -> u16 {
        http::send(self.addr, &http::get(path)).status
    }

    /// `POST path` with an empty form, returning the status code.
    fn post(&self, path: &str) -> u16 {
        http::send(self.addr, &http::post(path, "", "")).status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn tells_systemd_ready_status_watchdog_and_stopping() {
    let mut s = Scratch::new(&wheel(&[task("far", 200)]));
    // systemd sets WATCHDOG_PID too; sd_watchdog_enabled(3) reads an unset
    // one as "this process", which is what the daemon must do as well.
    let mut d = s.start(&[("WATCHDOG_USEC", "2000000")]);
    s.await_state("READY=1", 0);
    let status = s.await_state("STATUS=", 0);
    assert!(
        status.starts_with("STATUS=1 task, 0 overdue, next notification "),
        "{status}"
    );
    // WatchdogSec=2s means a ping at least every second: three pings in a
    // row, each within 1.8 s of the one before (systemd would kill the
    // service at 2 s; a daemon pinging at the full interval fails here).
    let mut last = Instant::now();
    for n in 1..=3 {
        let pings = |s: &Scratch| s.states.iter().filter(|m| *m == "WATCHDOG=1").count();
        let before = pings(&s);
        while pings(&s) == before {
            assert!(
                last.elapsed() < Duration::from_millis(1800),
                "no watchdog ping {n} within 1.8 s: {:?}",
                s.states
            );
            s.receive();
        }
        last = Instant::now();
    }

    let (exit, _) = d.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    s.await_state("STOPPING=1", 0);
}

/// A first pass longer than the watchdog interval (eight messages to a
/// slow mail server, about half a second each, under `WatchdogSec=2s`) is
/// not killed: the pass feeds the watchdog as it makes progress, never
/// leaving 1.8 s without a ping, where a daemon that pings only between
/// passes is silent for the whole pass.
#[test]
fn a_pass_longer_than_the_watchdog_interval_keeps_feeding_it() {
    use crate::support::smtp::{self, Mode, SmtpServer};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(SmtpServer::start());
    server.set_mode(Mode::Slow(Duration::from_millis(80)));
    let env = smtp::env(server.port());
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("WATCHDOG_USEC", "2000000"));
    // Eight mails, not one bundle.
    env.push(crate::support::NO_BUNDLE);
    let tasks: Vec<String> = (0..8).map(|n| task(&format!("t{n}"), 10)).collect();
    let mut s = Scratch::new(&wheel(&tasks));
    let mut d = s.start(&env);
    s.await_state("READY=1", 0);
    let began = Instant::now();
    let mut last = began;
    let mut seen = s.states.len();
    let mut longest = Duration::ZERO;
    // Until the first pass's status line: every ping's distance from the
    // one before (or from READY=1).
    while !s.states.iter().any(|m| m.starts_with("STATUS=")) {
        assert!(
            began.elapsed() < PATIENCE,
            "no STATUS= within {PATIENCE:?}\nlog:\n{}",
            s.log()
        );
        s.receive();
        for m in &s.states[seen..] {
            if m == "WATCHDOG=1" {
                longest = longest.max(last.elapsed());
                last = Instant::now();
            }
        }
        seen = s.states.len();
    }
    longest = longest.max(last.elapsed());
    let pass = began.elapsed();
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    assert_eq!(server.received().len(), 8, "log:\n{}", s.log());
    assert!(
        pass > Duration::from_millis(2500),
        "the first pass took only {pass:?}: too short to show anything"
    );
    assert!(
        longest < Duration::from_millis(1800),
        "{longest:?} without a watchdog ping during a {pass:?} pass: {:?}",
        s.states
    );
}

#[test]
fn no_watchdog_pings_for_another_process() {
    let mut s = Scratch::new(&wheel(&[task("far", 200)]));
    let mut d = s.start(&[("WATCHDOG_USEC", "2000000"), ("WATCHDOG_PID", "1")]);
    s.await_first_pass();
    // A daemon that pings does so right after each pass's STATUS=; the
    // socket keeps the order of datagrams, so once STOPPING=1 is here every
    // ping it would have sent is here too.
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    s.await_state("STOPPING=1", 0);
    assert!(
        !s.states.iter().any(|m| m == "WATCHDOG=1"),
        "{:?}",
        s.states
    );
}

#[test]
fn a_reminder_already_due_goes_out_at_once_and_only_once_across_a_restart() {
    let mut s = Scratch::new(&wheel(&[task("soon", 10)]));
    let mut d = s.start(&[]);
    s.await_first_pass();
    // The first pass has ended (its STATUS= is sent after its deliveries).
    assert_eq!(s.outbox(), 1, "log:\n{}", s.log());
    assert_eq!(d.get("/healthz"), 200);
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());

    let mut again = s.start(&[]);
    s.await_first_pass();
    assert_eq!(
        s.outbox(),
        1,
        "sent again after a restart\nlog:\n{}",
        s.log()
    );
    again.stop_with("TERM", Duration::from_secs(5));
}

#[test]
fn a_broken_wheel_on_sighup_is_logged_with_its_place_and_the_old_one_stays() {
    let mut s = Scratch::new(&wheel(&[task("far", 200)]));
    let mut d = s.start(&[]);
    s.await_first_pass();
    // The new task's due date names a 13th month.
    let bad = task("new", 100).replace(&format!("due = \"{}\"", due_of(100)), "due = \"13-45\"");
    let broken = wheel(&[task("far", 200), bad]);
    s.write_wheel(&broken);
    let line = broken
        .lines()
        .position(|l| l == "due = \"13-45\"")
        .expect("bad line")
        + 1;

    let reloading = s.reload(&d);

    assert_eq!(d.get("/healthz"), 200);
    let log = s.log();
    assert!(
        log.contains(&format!("schedule.toml:{line}:")),
        "no schedule.toml:{line}:COL in\n{log}"
    );
    assert!(log.contains("keeping the old wheel"), "{log}");
    // The old wheel still runs: the status after the reload counts one task.
    let status = s.await_state("STATUS=", reloading);
    assert!(status.starts_with("STATUS=1 task,"), "{status}");
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    assert_eq!(s.outbox(), 0);
}

#[test]
fn a_name_with_a_line_break_on_sighup_is_refused_and_the_daemon_lives_on() {
    // Once, this wheel passed the reload, and the next pass panicked inside
    // lettre: the daemon died and systemd's Restart= crash-looped it.
    let mut s = Scratch::new(&wheel(&[task("far", 200)]));
    let mut d = s.start(&[]);
    s.await_first_pass();
    let broken = wheel(&[task("far", 200), task("now", 10)])
        .replace("name = \"Anna Ærø\"", "name = \"\"\"Anna\nÆrø\"\"\"");
    s.write_wheel(&broken);

    s.reload(&d);

    assert_eq!(d.get("/healthz"), 200);
    let log = s.log();
    assert!(log.contains("the name contains a line break"), "{log}");
    assert!(log.contains("keeping the old wheel"), "{log}");
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    assert_eq!(s.outbox(), 0);
}

#[test]
fn a_task_added_on_sighup_gets_its_due_reminder() {
    let mut s = Scratch::new(&wheel(&[task("far", 200)]));
    let mut d = s.start(&[]);
    s.await_first_pass();
    assert_eq!(s.outbox(), 0);

    s.write_wheel(&wheel(&[task("far", 200), task("soon", 10)]));
    let skip = s.states.len();
    d.signal("HUP");
    s.await_state("READY=1", skip);
    // The pass after the reload plans the new task: its reminder, due
    // since its first reminder day, went out in that pass.
    let status = s.await_state("STATUS=2 tasks", skip);
    assert_eq!(s.outbox(), 1, "log:\n{}", s.log());
    assert!(
        status.starts_with("STATUS=2 tasks, 0 overdue, next notification "),
        "{status}"
    );
    d.stop_with("TERM", Duration::from_secs(5));
}

#[test]
fn sigint_also_stops_it_cleanly() {
    let mut s = Scratch::new(&wheel(&[task("far", 200)]));
    let mut d = s.start(&[]);
    s.await_first_pass();
    assert_eq!(d.get("/healthz"), 200);
    // Nothing is in flight, so the stop is at once, not after the grace.
    let (exit, _) = d.stop_with("INT", Duration::from_secs(3));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    s.await_state("STOPPING=1", 0);
}

#[test]
fn a_new_link_asked_for_on_an_expired_link_goes_out_at_once_not_at_the_next_wake_up() {
    let mut s = Scratch::new(&wheel(&[task("soon", 10)]));
    let mut d = s.start(&[]);
    s.await_first_pass();
    assert_eq!(s.outbox(), 1, "log:\n{}", s.log());

    // An expired link to the occurrence, signed with the daemon's secret.
    let secret = arshjul::link::Secret::load_or_create(&s.file("arshjul.secret"))
        .expect("the daemon created the secret");
    let due = today() + Days::new(10);
    let period = due.format("%Y").to_string();
    let link = arshjul::link::url(
        "http://x",
        &secret,
        "soon",
        &period,
        "anna",
        due,
        Utc::now() - chrono::Duration::days(1),
    );
    let path = link.strip_prefix("http://x").expect("the link's path");
    assert_eq!(d.get(path), 410);

    // Nothing else is due for weeks, so the loop sleeps its full minute;
    // the request wakes it and the new link is written within seconds.
    let asked = Instant::now();
    let skip = s.states.len();
    assert_eq!(d.post(&format!("{path}/new-link")), 202);
    s.await_outbox(2, skip);
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        s.log().contains("new link queued on request"),
        "{}",
        s.log()
    );
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
}

#[test]
fn a_clock_jump_holds_the_daemon_and_its_status_line_says_why() {
    let mut s = Scratch::new(&wheel(&[task("soon", 10)]));
    // The last pass was 40 days ago (nothing was due then); the reminder
    // fell due 20 days ago.
    let then = format!("{}T12:00:00Z", today() - Days::new(40));
    let out = support::arshjul(s.dir.path())
        .args(["tick", "--now", &then])
        .output()
        .expect("run tick");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut d = s.start(&[]);
    s.await_state("READY=1", 0);
    let status = s.await_state("STATUS=", 0);
    assert!(
        status.starts_with("STATUS=held: the clock jumped: now ("),
        "{status}"
    );
    assert!(status.contains("more than max_clock_jump 35d"), "{status}");
    // The held pass has ended (its STATUS= is sent after it).
    assert_eq!(s.outbox(), 0, "a held daemon sends nothing");
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    let log = s.log();
    assert_eq!(
        log.matches("pass held").count(),
        1,
        "one error per wake-up:\n{log}"
    );
}

#[test]
fn sigterm_during_a_stalled_delivery_exits_0_within_the_grace_and_the_message_goes_on_the_next_start(
) {
    use crate::support::smtp::{self, Mode, SmtpServer};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(SmtpServer::start());
    server.set_mode(Mode::Silent);
    // The test SMTP server, with the default delivery timeout of 30 s.
    let env = smtp::env(server.port());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let mut s = Scratch::new(&wheel(&[task("soon", 10)]));
    let mut d = s.start(&env);
    s.await_state("READY=1", 0);
    // The delivery is in flight once the server has the connection.
    let deadline = Instant::now() + PATIENCE;
    while server.connections() == 0 {
        assert!(
            Instant::now() < deadline,
            "no SMTP connection\nlog:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The listener answers while the delivery waits on the server.
    assert_eq!(d.get("/healthz"), 200);
    let began = Instant::now();
    d.signal("TERM");
    // The listener stops accepting at once, while the delivery still waits.
    while TcpStream::connect(d.addr).is_ok() {
        assert!(
            began.elapsed() < Duration::from_secs(1),
            "still accepting 1 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let exit = loop {
        if let Some(status) = d.child.try_wait().expect("wait") {
            break status;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = began.elapsed();
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    // The message in flight had its 10 s, and no more.
    assert!(took > Duration::from_secs(9), "{took:?}\nlog:\n{}", s.log());
    assert!(
        took < Duration::from_secs(12),
        "{took:?}\nlog:\n{}",
        s.log()
    );
    s.await_state("STOPPING=1", 0);

    let history = |s: &Scratch| {
        let out = support::arshjul(s.dir.path())
            .args(["history", "--json"])
            .output()
            .expect("history");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        v["notifications"].as_array().cloned().unwrap_or_default()
    };
    let notes = history(&s);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["state"], "pending", "{notes:?}");
    assert!(server.received().is_empty());

    // The server answers again: the next start sends it.
    server.set_mode(Mode::Normal);
    let skip = s.states.len();
    let mut again = s.start(&env);
    s.await_state("READY=1", skip);
    let deadline = Instant::now() + PATIENCE;
    while server.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "not sent on start\nlog:\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (exit, _) = again.stop_with("TERM", Duration::from_secs(5));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    assert_eq!(server.received().len(), 1);
    assert_eq!(history(&s)[0]["state"], "sent");
    drop(runtime);
}

/// `GET /healthz` on a fresh connection: the status, the `Retry-After`
/// header, and how long the answer took from the connect.
fn timed_health(addr: SocketAddr) -> (u16, Option<String>, Duration) {
    let began = Instant::now();
    let reply = http::send(addr, &http::get("/healthz"));
    let took = began.elapsed();
    let retry = reply.header("retry-after").map(str::to_string);
    (reply.status, retry, took)
}

fn completions(db: &rusqlite::Connection) -> i64 {
    db.query_row("SELECT count(*) FROM completions", [], |r| r.get(0))
        .expect("count completions")
}

#[test]
fn while_another_process_holds_the_write_lock_the_listener_and_sigterm_still_answer() {
    let mut s = Scratch::new(&wheel(&[task("soon", 10)]));
    let mut d = s.start(&[("ARSHJUL_BUSY_TIMEOUT_MS", "3000")]);
    s.await_first_pass();
    let secret = arshjul::link::Secret::load_or_create(&s.file("arshjul.secret"))
        .expect("the daemon created the secret");
    let due = today() + Days::new(10);
    let link = arshjul::link::url(
        "http://x",
        &secret,
        "soon",
        &due.format("%Y").to_string(),
        "anna",
        due,
        Utc::now() + chrono::Duration::days(30),
    );
    let path = link
        .strip_prefix("http://x")
        .expect("the link's path")
        .to_string();

    let holder = rusqlite::Connection::open(s.file("arshjul.db")).expect("open db");
    holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    // A reload starts a pass at once; its first write waits (up to 3 s)
    // for the lock, holding the daemon's store.
    s.reload(&d);
    let mut busy = 0;
    for _ in 0..10 {
        let (status, retry, took) = timed_health(d.addr);
        assert!(
            took < Duration::from_millis(100),
            "/healthz took {took:?} while the database was locked\nlog:\n{}",
            s.log()
        );
        match status {
            200 => {}
            503 => {
                assert_eq!(retry.as_deref(), Some("1"));
                busy += 1;
            }
            other => panic!("/healthz answered {other}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(busy > 0, "no /healthz saw the pass waiting on the lock");

    // A completion waits its turn, at most the busy timeout, then 503
    // with Retry-After; nothing is recorded.
    let began = Instant::now();
    let reply = http::send(d.addr, &http::post(&path, "note=", ""));
    let took = began.elapsed();
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(4500),
        "the POST gave up after {took:?}"
    );
    // One that arrives while the lock is held and finds it released
    // within the busy timeout is recorded, once.
    let addr = d.addr;
    let post_path = path.clone();
    let post = std::thread::spawn(move || http::send(addr, &http::post(&post_path, "note=", "")));
    std::thread::sleep(Duration::from_millis(500));
    holder.execute_batch("ROLLBACK").expect("unlock");
    let reply = post.join().expect("the POST");
    assert_eq!(reply.status, 200, "{}\nlog:\n{}", reply.body, s.log());
    assert_eq!(completions(&holder), 1);

    // SIGTERM while a pass waits on the lock: the listener closes at
    // once, and the daemon exits 0 once the pass gives up.
    holder.execute_batch("BEGIN EXCLUSIVE").expect("lock again");
    s.reload(&d);
    let waiting = Instant::now();
    while timed_health(d.addr).0 != 503 {
        assert!(
            waiting.elapsed() < Duration::from_secs(1),
            "the pass was not waiting on the lock"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Instant::now();
    d.signal("TERM");
    while TcpStream::connect(d.addr).is_ok() {
        assert!(
            signalled.elapsed() < Duration::from_millis(100),
            "the listener still accepts {:?} after SIGTERM\nlog:\n{}",
            signalled.elapsed(),
            s.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (exit, _) = d.stop_with("TERM", Duration::from_secs(6));
    assert_eq!(exit.code(), Some(0), "log:\n{}", s.log());
    holder.execute_batch("ROLLBACK").expect("unlock");
    assert_eq!(completions(&holder), 1);
}

/// `GET /healthz`: the status and the body's one line.
fn health(addr: SocketAddr) -> (u16, String) {
    let reply = http::send(addr, &http::get("/healthz"));
    (reply.status, reply.body.trim_end().to_string())
}

#[test]
fn healthz_is_503_while_the_write_lock_is_held_and_after_a_failed_pass_and_200_after_a_good_one() {
    let mut s = Scratch::new(&wheel(&[task("soon", 10)]));
    let d = s.start(&[("ARSHJUL_BUSY_TIMEOUT_MS", "300")]);
    s.await_first_pass();
    assert_eq!(health(d.addr), (200, "ok".to_string()), "log:\n{}", s.log());

    // Another process holds the write lock past the busy timeout: the
    // write probe cannot take it.
    let holder = rusqlite::Connection::open(s.file("arshjul.db")).expect("open db");
    holder.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    assert_eq!(health(d.addr), (503, "database busy".to_string()));
    // A pass now fails on the lock (a store error) ...
    let reloading = s.reload(&d);
    let line = s.await_state("STATUS=", reloading);
    assert!(
        line.contains("the last pass failed"),
        "{line}\nlog:\n{}",
        s.log()
    );
    // ... and once the lock is gone, /healthz still says so: the database
    // is writable again, but the last pass did not go through.
    holder.execute_batch("ROLLBACK").expect("unlock");
    let (status, reason) = health(d.addr);
    assert_eq!(status, 503, "{reason}");
    assert!(
        reason.starts_with("the last pass, ")
            && reason.contains(" s ago, failed: ")
            && reason.contains("locked"),
        "{reason}"
    );
    // A good pass makes it healthy again.
    let reloading = s.reload(&d);
    let line = s.await_state("STATUS=", reloading);
    assert!(!line.contains("failed"), "{line}\nlog:\n{}", s.log());
    assert_eq!(health(d.addr), (200, "ok".to_string()), "log:\n{}", s.log());
}

/// `GET /metrics` from the metrics listener, parsed by a Prometheus text
/// parser.
fn scrape(addr: SocketAddr) -> prometheus_parse::Scrape {
    let reply = http::send(addr, &http::get("/metrics"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let lines = reply.body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("the Prometheus text format")
}

/// The value of `name` with exactly these labels; `None` when absent.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    use prometheus_parse::Value;
    let found = scrape.samples.iter().find(|s| {
        s.metric == name
            && s.labels.len() == labels.len()
            && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
    })?;
    match found.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
        _ => None,
    }
}

/// The address logged in `serving metrics on ADDR`.
fn metrics_addr(log: &str) -> SocketAddr {
    let at = log.find("serving metrics on ").expect("the metrics line") + 19;
    log[at..]
        .split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no metrics address in\n{log}"))
}

#[test]
fn metrics_count_what_passes_send_defer_and_fail_by_transport_and_kind() {
    use crate::support::smtp::{self, SmtpServer};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime.block_on(SmtpServer::start());
    server.reject("bo@example.dk", "451 4.3.0 try again later");
    server.reject("carl@example.dk", "550 5.1.1 no such user");
    let mut env = smtp::env(server.port());
    env.push(("ARSHJUL_METRICS_LISTEN".into(), "127.0.0.1:0".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let people = "\n[people.bo]\nname = \"Bo\"\nemail = \"bo@example.dk\"\n\
                  [people.carl]\nname = \"Carl\"\nemail = \"carl@example.dk\"\n"
        .to_string();
    let owned = |id: &str, who: &str| {
        task(id, 10).replace("owner = \"anna\"", &format!("owner = \"{who}\""))
    };
    let mut s = Scratch::new(&wheel(&[
        people.clone(),
        owned("sent", "anna"),
        owned("deferred", "bo"),
        owned("failed", "carl"),
    ]));
    let d = s.start(&env);
    s.await_first_pass();
    let at = metrics_addr(&s.log());
    let m = scrape(at);
    let reminder = [("transport", "smtp"), ("kind", "reminder")];
    assert_eq!(
        sample(&m, "arshjul_messages_sent_total", &reminder),
        Some(1.0),
        "log:\n{}",
        s.log()
    );
    assert_eq!(
        sample(&m, "arshjul_messages_deferred_total", &reminder),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "arshjul_messages_failed_total", &reminder),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "arshjul_passes_total", &[("result", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "arshjul_outbox_pending", &[]),
        Some(1.0),
        "the deferred one"
    );
    assert_eq!(sample(&m, "arshjul_tasks", &[("state", "open")]), Some(3.0));
    assert_eq!(
        sample(&m, "arshjul_tasks", &[("state", "overdue")]),
        Some(0.0)
    );
    assert_eq!(sample(&m, "arshjul_oldest_overdue_seconds", &[]), Some(0.0));
    assert_eq!(sample(&m, "arshjul_database_up", &[]), Some(1.0));
    assert_eq!(
        sample(
            &m,
            "arshjul_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    let last =
        sample(&m, "arshjul_last_successful_pass_timestamp_seconds", &[]).expect("last pass");
    assert!(
        (last - Utc::now().timestamp() as f64).abs() < 60.0,
        "{last}"
    );
    assert!(sample(&m, "arshjul_last_pass_duration_seconds", &[]).is_some());
    assert_eq!(
        sample(&m, "arshjul_reloads_total", &[("result", "ok")]),
        None
    );

    // A task added on SIGHUP: the reload and its pass's message counted.
    s.write_wheel(&wheel(&[
        people.clone(),
        owned("sent", "anna"),
        owned("deferred", "bo"),
        owned("failed", "carl"),
        owned("more", "anna"),
    ]));
    let reloading = s.reload(&d);
    s.await_state("STATUS=", reloading);
    let m = scrape(at);
    assert_eq!(
        sample(&m, "arshjul_messages_sent_total", &reminder),
        Some(2.0),
        "log:\n{}",
        s.log()
    );
    assert_eq!(
        sample(&m, "arshjul_messages_failed_total", &reminder),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "arshjul_reloads_total", &[("result", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "arshjul_passes_total", &[("result", "ok")]),
        Some(2.0)
    );
    assert_eq!(sample(&m, "arshjul_tasks", &[("state", "open")]), Some(4.0));

    // A broken wheel is refused, and counted so.
    s.write_wheel("[organisation\n");
    s.reload(&d);
    let m = scrape(at);
    assert_eq!(
        sample(&m, "arshjul_reloads_total", &[("result", "refused")]),
        Some(1.0)
    );
    // The completion-link listener does not serve /metrics.
    assert_eq!(d.get("/metrics"), 404);
    drop(runtime);
}

/// `arshjul link calendar [ARGS…]` on the scratch directory: the URL's path.
fn calendar_path(s: &Scratch, args: &[&str]) -> String {
    let out = support::arshjul(s.dir.path())
        .args(["link", "calendar"])
        .args(args)
        .output()
        .expect("run link calendar");
    assert!(out.status.success(), "{out:?}");
    let url = String::from_utf8(out.stdout).expect("UTF-8");
    url[url.find("/calendar/").expect("a calendar URL")..]
        .trim()
        .to_string()
}

#[test]
fn a_feed_fetched_again_within_the_minute_is_the_one_built_but_a_revoked_token_is_404_at_once() {
    let mut s = Scratch::new(&wheel(&[task("a", 10)]));
    let d = s.start(&[]);
    s.await_first_pass();
    let path = calendar_path(&s, &["--for", "anna"]);
    let first = http::send(d.addr, &http::get(&path));
    assert_eq!(first.status, 200, "{}", first.body);
    // DTSTAMP is the fetch's second: a feed built anew would differ.
    std::thread::sleep(Duration::from_millis(1100));
    let second = http::send(d.addr, &http::get(&path));
    assert_eq!(second.status, 200);
    assert_eq!(first.body, second.body, "built again");
    // Revoking (another process) beats the kept feed.
    let fresh = calendar_path(&s, &["--for", "anna", "--revoke"]);
    assert_eq!(d.get(&path), 404);
    let fresh = http::send(d.addr, &http::get(&fresh));
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert!(fresh.body.contains("BEGIN:VEVENT"), "{}", fresh.body);
}

#[test]
fn a_flood_of_scrapes_and_feed_fetches_leaves_the_database_to_healthz_on_a_large_wheel() {
    // 1,000 tasks, none opening yet: the first pass sends nothing.
    let tasks: Vec<String> = (0..1000)
        .map(|i| task(&format!("t{i}"), 40 + i % 300))
        .collect();
    let mut s = Scratch::new(&wheel(&tasks));
    let d = s.start(&[("ARSHJUL_METRICS_LISTEN", "127.0.0.1:0")]);
    s.await_first_pass();
    let metrics = metrics_addr(&s.log());
    let org = calendar_path(&s, &[]);
    let person = calendar_path(&s, &["--for", "anna"]);
    // The first of each reads the database (and may hold it a while).
    assert_eq!(d.get(&org), 200);
    assert_eq!(d.get(&person), 200);
    assert_eq!(
        sample(&scrape(metrics), "arshjul_database_up", &[]),
        Some(1.0)
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..4)
        .map(|i| {
            let (stop, addr) = (stop.clone(), d.addr);
            let path = if i % 2 == 0 {
                org.clone()
            } else {
                person.clone()
            };
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    assert_eq!(http::send(addr, &http::get(&path)).status, 200);
                    assert_eq!(http::send(metrics, &http::get("/metrics")).status, 200);
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        answers.push(health(d.addr));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in flood {
        t.join().expect("the flood");
    }
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
}
