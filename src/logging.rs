//! Log set-up: tracing-subscriber to stderr, `RUST_LOG` to tune (default
//! `info`). Under journald (`JOURNAL_STREAM` set) lines carry no timestamp
//! or colour, since the journal adds its own.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let result = if journald {
        builder.without_time().with_ansi(false).try_init()
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
    // A second init (tests calling main twice) keeps the first subscriber.
    drop(result);
}
