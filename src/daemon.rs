//! The daemon: `arshjul run`. Placeholder until the daemon lands.

use std::process::ExitCode;

use crate::cli::Loaded;

pub fn run(_loaded: Loaded) -> Result<ExitCode, String> {
    Err("`arshjul run` is not built yet".into())
}
