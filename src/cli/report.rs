//! `arshjul report`: reads the store, builds the report (`crate::report`)
//! and writes it to stdout or, whole or not at all, to `--out`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};

use super::{open_if_present, Failure};
use crate::config::Config;
use crate::report::{self, Chain, ChainBreak, Evidence, Range};
use crate::store::{ReportData, Store, StoreError};

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// One self-contained HTML file (print it to PDF for the council case).
    Html,
    /// Markdown, the same content.
    Md,
    /// JSON (see docs/json.md).
    Json,
}

/// The range asked for: `--term KEY` or `--from D --to D`.
pub(super) enum Asked {
    Term(String),
    Days(NaiveDate, NaiveDate),
}

pub(super) fn run(
    loaded: &Config,
    now: DateTime<Utc>,
    asked: Asked,
    format: Format,
    out: Option<PathBuf>,
) -> super::CmdResult {
    let wheel = &loaded.wheel;
    let range = match asked {
        Asked::Term(key) => Range::term(wheel, &key).map_err(|e| Failure::usage(e.to_string()))?,
        Asked::Days(from, to) if to < from => {
            return Err(Failure::usage(format!("--to {to} is before --from {from}")))
        }
        Asked::Days(from, to) => Range {
            from,
            to,
            term: None,
        },
    };
    let bound = report::size_bound(wheel, &range);
    if bound > report::REPORT_MAX_OCCURRENCES {
        return Err(Failure::usage(format!(
            "{}: the report could hold up to {bound} occurrences; one report holds at most {}: \
             ask for a shorter range (a term, or a few years)",
            match &range.term {
                Some(key) => format!("--term {key}"),
                None => format!("--from {} --to {}", range.from, range.to),
            },
            report::REPORT_MAX_OCCURRENCES
        )));
    }
    let store = open_if_present(&loaded.settings)?;
    let (data, history, chain) = match &store {
        Some(s) => {
            let data = s.report_data()?;
            let history = crate::engine::history_at(s, wheel, now)?;
            let chain = chain_status(s)?;
            (data, history, chain)
        }
        None => (
            ReportData::default(),
            Default::default(),
            Chain {
                ok: true,
                rows: 0,
                head: String::new(),
                broken: None,
            },
        ),
    };
    let evidence = |completion: i64| match &store {
        Some(s) => Ok::<Vec<Evidence>, StoreError>(
            s.evidence_for_completion(completion)?
                .into_iter()
                .map(|e| Evidence {
                    name: e.name,
                    bytes: e.bytes,
                    sha256: e.sha256,
                })
                .collect(),
        ),
        None => Ok(Vec::new()),
    };
    let report = report::build(wheel, &data, &history, &range, now, chain, evidence)?;
    let mut text = Vec::new();
    let rendered = match format {
        Format::Html => report::html(&mut text, &report),
        Format::Md => report::markdown(&mut text, &report),
        Format::Json => report::json(&mut text, &report),
    };
    rendered.map_err(|e| Failure::runtime(format!("cannot render the report: {e}")))?;
    match &out {
        Some(path) => write_whole(path, &text)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?,
        None => {
            let written = std::io::stdout()
                .lock()
                .write_all(&text)
                .and_then(|()| std::io::stdout().lock().flush());
            super::finish_output(written)?;
        }
    }
    // Written first, then the failure: a broken chain is reported, not
    // hidden, and the exit code says so.
    match chain_failure(&report.chain) {
        Some(f) => Err(f),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Exit 1 and the first row that does not match, when the chain is broken.
fn chain_failure(chain: &Chain) -> Option<Failure> {
    if let Some(b) = &chain.broken {
        return Some(Failure::runtime(format!(
            "the audit log's hash chain is broken at row {}: {} {} {}: {} (the report says so at the top)",
            b.row,
            b.table,
            super::output::clean(&b.task),
            super::output::clean(&b.period),
            super::output::clean(&b.what)
        )));
    }
    (!chain.ok).then(|| {
        Failure::runtime("the audit log's hash chain is broken (the report says so at the top)")
    })
}

/// The chain's verification (`Store::verify_chain`, the same walk as
/// `arshjul verify`), as the report shows it.
fn chain_status(store: &Store) -> Result<Chain, StoreError> {
    let status = store.verify_chain()?;
    Ok(Chain {
        ok: status.ok,
        rows: status.rows,
        head: status.head,
        broken: status.broken.map(|b| ChainBreak {
            row: b.row,
            table: b.table,
            task: b.task,
            period: b.period,
            what: b.what,
        }),
    })
}

/// Writes `bytes` to `path` whole or not at all: into a new temporary file
/// beside it, flushed to disk, then renamed over `path` (which it replaces
/// if it exists). A failure removes the temporary file. A symbolic link is
/// followed (the file it names is replaced, the link stays); a device, pipe
/// or socket is refused, never replaced by a file (`--out /dev/null` run as
/// root would otherwise replace /dev/null).
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let resolved;
    let path = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            resolved = fs::canonicalize(path)?;
            resolved.as_path()
        }
        _ => path,
    };
    match fs::metadata(path) {
        Ok(m) if !m.is_file() && !m.is_dir() => {
            return Err(std::io::Error::other(
                "not a regular file (a device, pipe or socket); write the report to a file, \
                 or leave out --out for standard output",
            ))
        }
        _ => {}
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_chain_is_exit_1_naming_the_row() {
        let mut chain = Chain {
            ok: true,
            rows: 3,
            head: "ab".repeat(32),
            broken: None,
        };
        assert!(chain_failure(&chain).is_none());
        chain.ok = false;
        chain.broken = Some(ChainBreak {
            row: 2,
            table: "completions".into(),
            task: "policy-review".into(),
            period: "2027".into(),
            what: "done_by".into(),
        });
        let f = chain_failure(&chain).unwrap();
        assert_eq!(f.code, 1);
        assert_eq!(
            f.message,
            "the audit log's hash chain is broken at row 2: completions policy-review 2027: done_by (the report says so at the top)"
        );
        chain.broken = None;
        assert_eq!(chain_failure(&chain).unwrap().code, 1);
    }
}
