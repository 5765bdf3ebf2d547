//! Log set-up, `RUST_LOG` to tune (default `info`). When stderr is the
//! journal (`JOURNAL_STREAM` names stderr's device and inode, as systemd
//! sets it for a service), events go to journald natively with their
//! fields as journal fields (`task` → `TASK`, `period` → `PERIOD`, `kind`
//! → `KIND`, `recipients` → `RECIPIENTS`), so `journalctl -u arshjul
//! TASK=policy-review` finds a task's lines. Otherwise plain lines on
//! stderr, with a timestamp and colour on a terminal.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let journal = std::env::var("JOURNAL_STREAM")
        .ok()
        .is_some_and(|v| stderr_is(&v));
    if journal {
        // No prefix: the fields are `TASK=`, not `F_TASK=`.
        if let Ok(layer) = tracing_journald::layer() {
            let layer = layer
                .with_field_prefix(None)
                .with_syslog_identifier("arshjul".to_string());
            // A second init (tests calling main twice) keeps the first.
            let _ = tracing_subscriber::registry()
                .with(filter())
                .with(layer)
                .try_init();
            return;
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = if std::env::var_os("JOURNAL_STREAM").is_some() {
        // Under systemd but not on the journal's socket (or it could not
        // be opened): plain lines, the journal or syslog adds the time.
        builder.without_time().with_ansi(false).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
    drop(result);
}

/// Whether stderr is the stream `JOURNAL_STREAM` names (`DEVICE:INODE`):
/// a child that inherited the variable but writes elsewhere is not.
fn stderr_is(journal_stream: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}
