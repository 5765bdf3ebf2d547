//! `done --evidence` (reading the files), `verify` and `evidence export`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use super::{output, CmdResult, Failure};
use crate::config::Config;
use crate::store::{sanitise_name, NewEvidence, Store, MAX_FILES, MAX_TOTAL_BYTES};

/// Reads every file given to `done --evidence`, refusing (exit 2, naming
/// it) one that is missing, unreadable, not a regular file or larger than
/// `max_bytes`, all of them together over 100 MB, and more than
/// [`MAX_FILES`] files.
pub(super) fn read_files(
    paths: &[std::path::PathBuf],
    max_bytes: u64,
) -> Result<Vec<NewEvidence>, Failure> {
    if paths.len() > MAX_FILES {
        return Err(Failure::usage(format!(
            "{} evidence files were given; a completion may have at most {MAX_FILES}; nothing was recorded",
            paths.len()
        )));
    }
    let mut out = Vec::new();
    let mut total = 0u64;
    for path in paths {
        let shown = output::clean(&path.display().to_string()).to_string();
        let refuse = |why: String| Failure::usage(format!("{shown}: {why}; nothing was recorded"));
        // Looked at before it is opened: opening a FIFO waits for a
        // writer, for ever.
        let meta = std::fs::metadata(path)
            .map_err(|e| refuse(format!("cannot read the evidence file: {e}")))?;
        if !meta.is_file() {
            return Err(refuse("is not a file".to_string()));
        }
        let file = std::fs::File::open(path)
            .map_err(|e| refuse(format!("cannot read the evidence file: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| refuse(format!("cannot read the evidence file: {e}")))?;
        if !meta.is_file() {
            return Err(refuse("is not a file".to_string()));
        }
        let mut content = Vec::new();
        // Read at most one byte more than allowed: a file that grows while
        // it is read is caught too.
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut content)
            .map_err(|e| refuse(format!("cannot read the evidence file: {e}")))?;
        let size = content.len() as u64;
        if size > max_bytes {
            return Err(refuse(format!(
                "the evidence file is larger than evidence.max_bytes ({max_bytes} bytes)"
            )));
        }
        total += size;
        if total > MAX_TOTAL_BYTES {
            return Err(Failure::usage(format!(
                "the evidence files hold more than {MAX_TOTAL_BYTES} bytes (100 MB) together; nothing was recorded"
            )));
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(NewEvidence { name, content });
    }
    Ok(out)
}

fn open(loaded: &Config) -> Result<Store, Failure> {
    Ok(Store::open_with_busy_timeout(
        &loaded.settings.database,
        false,
        loaded.settings.busy_timeout(),
    )?)
}

/// `arshjul verify`.
pub(super) fn verify(loaded: &Config) -> CmdResult {
    let store = open(loaded)?;
    let status = store.verify_chain()?;
    let line = match &status.broken {
        None => format!("ok: {} rows, head {}", status.rows, status.head),
        Some(b) => format!(
            "broken at row {}: {} {} {}: {}",
            b.row,
            b.table,
            output::clean(&b.task),
            output::clean(&b.period),
            output::clean(&b.what)
        ),
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(Failure::runtime(format!("cannot write output: {e}"))),
    }
    Ok(if status.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `arshjul evidence export DIR`.
pub(super) fn export(loaded: &Config, dir: &Path) -> CmdResult {
    let shown = output::clean(&dir.display().to_string()).to_string();
    let existed = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Failure::usage(format!(
                    "{shown}: is not empty; evidence export writes only to a new or empty directory"
                )));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(Failure::usage(format!("{shown}: is not a directory")));
        }
        Err(e) => return Err(Failure::runtime(format!("{shown}: {e}"))),
    };
    let store = open(loaded)?;
    let files = store.all_evidence()?;
    // DIR is made here unless it was there (empty); below it, every
    // directory is made here: one that appears meanwhile (a symbolic link
    // out of DIR, say) is an error, never followed.
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && existed => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Failure::runtime(format!(
                "{shown}: appeared after the export began; nothing was exported"
            )));
        }
        Err(e) => return Err(Failure::runtime(format!("{shown}: {e}"))),
    }
    // Whole or not at all: on a failure (a full disk, a directory that
    // appeared meanwhile) what was written is removed again.
    let mut written: Vec<(std::path::PathBuf, bool)> = Vec::new();
    let result = write_export(&store, &files, dir, &shown, &mut written);
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            for (path, is_dir) in written.iter().rev() {
                let _ = if *is_dir {
                    std::fs::remove_dir(path)
                } else {
                    std::fs::remove_file(path)
                };
            }
            if !existed {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(Failure::runtime(format!(
                "{}; nothing was exported",
                e.message
            )));
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "exported {} ({bytes} bytes) to {shown}, with SHA256SUMS",
        match files.len() {
            1 => "1 evidence file".to_string(),
            n => format!("{n} evidence files"),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a new file; an existing one is never overwritten, and one that
/// could not be written whole (a full disk) is removed again.
fn write_new(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let written = file.write_all(content).and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    written
}

/// `name` with `(n)` before its extension: `rapport (2).pdf`.
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{name} ({n})"),
    }
}

/// Writes every file of `files` below `dir` and the `SHA256SUMS` file,
/// naming in `written` every file and directory it made, in order.
/// Returns the bytes written.
fn write_export(
    store: &Store,
    files: &[crate::store::StoredEvidence],
    dir: &Path,
    shown: &str,
    written: &mut Vec<(std::path::PathBuf, bool)>,
) -> Result<u64, Failure> {
    let mut made: std::collections::HashSet<std::path::PathBuf> = Default::default();
    let mut sums = String::new();
    // Names taken in each TASK/PERIOD directory: a period completed twice
    // (the first retracted) may have two files of one name.
    let mut taken: std::collections::HashMap<(String, String), Vec<String>> = Default::default();
    let mut bytes = 0u64;
    for f in files {
        let task = sanitise_name(&f.task);
        let period = sanitise_name(&f.period);
        let names = taken.entry((task.clone(), period.clone())).or_default();
        // Distinct regardless of case: `a.txt` and `A.txt` are one file on
        // some file systems.
        let folded: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        let wanted = sanitise_name(&f.file.name);
        let mut name = wanted.clone();
        let mut n = 2;
        while folded.contains(&name.to_lowercase()) {
            name = numbered(&wanted, n);
            n += 1;
        }
        names.push(name.clone());
        let content = store.evidence_content(&f.file.sha256)?;
        let actual = crate::store::sha256_hex(&content);
        if actual != f.file.sha256 {
            return Err(Failure::runtime(format!(
                "{}/{}/{}: the stored file no longer matches its SHA-256; run `arshjul verify`",
                output::clean(&task),
                output::clean(&period),
                output::clean(&name)
            )));
        }
        let folder = dir.join(&task).join(&period);
        let path = folder.join(&name);
        let fail = |e: std::io::Error| {
            Failure::runtime(format!(
                "{}: {e}",
                output::clean(&path.display().to_string())
            ))
        };
        for d in [dir.join(&task), folder.clone()] {
            if made.insert(d.clone()) {
                std::fs::create_dir(&d).map_err(|e| {
                    Failure::runtime(format!("{}: {e}", output::clean(&d.display().to_string())))
                })?;
                written.push((d, true));
            }
        }
        write_new(&path, &content).map_err(fail)?;
        written.push((path.clone(), false));
        sums.push_str(&format!("{actual}  {task}/{period}/{name}\n"));
        bytes += content.len() as u64;
    }
    let sums_path = dir.join("SHA256SUMS");
    write_new(&sums_path, sums.as_bytes())
        .map_err(|e| Failure::runtime(format!("{shown}/SHA256SUMS: {e}")))?;
    written.push((sums_path, false));
    Ok(bytes)
}
