//! Headless Chromium through `tests/browser/` (Node and playwright-core).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `tests/browser/`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Whether Chromium, Node, playwright-core and axe-core are here. Under CI
/// their absence fails the test; on a developer machine it is a loud
/// notice (straight to stderr: the harness captures `eprintln!`, and the
/// notice must be seen even when the test passes).
pub fn ready(what: &str) -> bool {
    let browser_dir = dir();
    let mut missing = Vec::new();
    if !Path::new("/usr/bin/chromium").exists() {
        missing.push("/usr/bin/chromium (apt-get install -y chromium)");
    }
    if !browser_dir.join("node_modules/playwright-core").is_dir()
        || !browser_dir.join("node_modules/axe-core").is_dir()
    {
        missing.push("tests/browser/node_modules (cd tests/browser && npm ci)");
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node (apt-get install -y nodejs)");
    }
    if missing.is_empty() {
        return true;
    }
    let message = format!("{what} needs: {}", missing.join("; "));
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    let notice =
        format!("\n!!! SKIPPED {what}: {message}\n!!! (under CI, with CI set, this fails)\n\n");
    let _ = std::io::stderr().write_all(notice.as_bytes());
    false
}

/// Runs `node tests/browser/SCRIPT ARGS…` in `tests/browser/` and returns
/// its stdout and stderr; fails the test, quoting both, unless it exits 0.
pub fn node(script: &str, args: &[&str]) -> (String, String) {
    let run = Command::new("node")
        .arg(dir().join(script))
        .args(args)
        .current_dir(dir())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(
        run.status.success(),
        "{script} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}
