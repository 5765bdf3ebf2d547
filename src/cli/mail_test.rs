//! `arshjul mail test --to ADDRESS`: one test message through the
//! configured transport, each step printed as it happens.

use std::process::ExitCode;

use super::{CmdResult, Failure};
use crate::config::Config;
use crate::mail::{test_message, Transport};

pub fn run(loaded: &Config, to: &str) -> CmdResult {
    let settings = &loaded.settings;
    println!("{}", crate::mail::describe(settings));
    let raw = test_message(&loaded.wheel, &settings.mail, to)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}")))?;
    // The transport may hold a socket registered with this runtime.
    let _inside = runtime.enter();
    let transport =
        Transport::from_settings(settings).map_err(|e| Failure::usage(e.to_string()))?;
    let step = |line: &str| println!("  ok: {line}");
    let rcpt = [to.trim().to_string()];
    match runtime.block_on(transport.send_traced(&settings.mail.from, &rcpt, &raw, &step)) {
        Ok(()) => {
            println!("test message to {} accepted", rcpt[0]);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("  FAILED: {}", e.reason());
            Err(Failure::runtime(format!(
                "mail test: the test message to {} was not accepted ({})",
                rcpt[0],
                if e.is_temporary() {
                    "temporary failure"
                } else {
                    "refused for good"
                }
            )))
        }
    }
}
