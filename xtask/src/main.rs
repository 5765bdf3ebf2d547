//! Project tasks, run as `cargo xtask TASK [DIR]` (the alias is in
//! `.cargo/config.toml`):
//!
//! - `man [DIR]`: the man pages, `arshjul.1` and one per subcommand
//!   (`arshjul-plan.1`, `arshjul-mail-test.1`, …), from the clap definition.
//! - `completions [DIR]`: shell completions for bash, elvish, fish,
//!   PowerShell and zsh.
//!
//! DIR defaults to `target/man` and `target/completions` in the workspace.
//! Both are generated from `arshjul::cli::Args`, so they never drift from
//! `--help`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let dir = args.next().map(PathBuf::from);
    if let Some(extra) = args.next() {
        eprintln!("xtask: unexpected argument {extra:?}\n{USAGE}");
        return ExitCode::from(2);
    }
    let result = match task.as_deref() {
        Some("man") => man(&dir.unwrap_or_else(|| target().join("man"))),
        Some("completions") => completions(&dir.unwrap_or_else(|| target().join("completions"))),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("xtask: unknown task {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(written) => {
            for path in written {
                println!("{}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask man [DIR]          man pages (default DIR: target/man)
       cargo xtask completions [DIR]  shell completions (default DIR: target/completions)";

/// The workspace's `target/` (this crate lives in `xtask/`).
fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("target")
}

fn create(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// `arshjul.1` and a page per subcommand, named as `man` expects them.
fn man(dir: &Path) -> Result<Vec<PathBuf>, String> {
    create(dir)?;
    let cmd = arshjul::cli::Args::command();
    clap_mangen::generate_to(cmd, dir)
        .map_err(|e| format!("cannot write the man pages to {}: {e}", dir.display()))?;
    let mut written: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    written.sort();
    Ok(written)
}

/// One completion script per shell clap_complete knows.
fn completions(dir: &Path) -> Result<Vec<PathBuf>, String> {
    create(dir)?;
    let mut cmd = arshjul::cli::Args::command();
    Shell::value_variants()
        .iter()
        .map(|shell| {
            clap_complete::generate_to(*shell, &mut cmd, "arshjul", dir)
                .map_err(|e| format!("cannot write the {shell} completions: {e}"))
        })
        .collect()
}
