//! Shared test helpers: run the real binary in a scratch directory.

#![allow(dead_code)]

pub mod browser;
pub mod fixtures;
pub mod http;
pub mod large;
pub mod m365;
pub mod mime;
pub mod router;
pub mod smtp;
pub mod world;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch directory with a wheel and settings, where the binary runs.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new(schedule: &str) -> Scratch {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("schedule.toml"), schedule).expect("write schedule");
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `arshjul ARGS` in the scratch directory with a clean
    /// environment (no stray ARSHJUL_ variables from the caller).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = arshjul(self.path());
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run(cmd.output().expect("run arshjul"))
    }
}

/// Variables of the caller's environment that would change what the binary
/// does: its settings, and what systemd hands a service (state and
/// credentials directories, the notify socket, the watchdog, socket
/// activation, the journal).
fn scrubbed(key: &str) -> bool {
    key.starts_with("ARSHJUL_")
        || key.starts_with("WATCHDOG_")
        || key.starts_with("LISTEN_")
        || matches!(
            key,
            "STATE_DIRECTORY"
                | "CREDENTIALS_DIRECTORY"
                | "NOTIFY_SOCKET"
                | "JOURNAL_STREAM"
                | "RUST_LOG"
                | "NO_COLOR"
        )
}

/// Cleans `cmd`'s environment: every variable [`scrubbed`] names removed,
/// then `NO_COLOR=1` and `RUST_LOG=warn` set (a caller may set others
/// after), and the system paths moved to a root that does not exist, so
/// that on a machine with arshjul installed a test run as root never reads
/// `/etc/arshjul/arshjul.toml` or writes `/var/lib/arshjul`. `mail.bundle`
/// keeps the shipped default (on); a test that counts one mail per
/// message turns it off with [`NO_BUNDLE`].
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(scrubbed) {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .env("ARSHJUL_SYSTEM_ROOT", "/nonexistent/arshjul-test-root")
}

/// The setting a test that counts one mail per message runs with: one
/// e-mail per person per day (`mail.bundle`, on by default) turned off.
pub const NO_BUNDLE: (&str, &str) = ("ARSHJUL_MAIL__BUNDLE", "false");

/// The real binary as a command in `dir`, its environment [`scrub`]bed.
pub fn arshjul(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arshjul"));
    cmd.current_dir(dir);
    scrub(&mut cmd);
    cmd
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
    /// Asserts the exit code, showing both streams when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout()))
    }
}
