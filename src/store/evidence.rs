//! Evidence files kept with a completion: content-addressed by SHA-256 and
//! stored once (`evidence_blobs`), named per completion (`evidence`), and
//! written in the completion's own transaction.

use std::io::Write;

use rusqlite::blob::ZeroBlob;
use rusqlite::{params, Connection, MAIN_DB};

use super::chain::sha256_hex;
use super::Fault;

/// The most a completion's evidence files may hold together: 100 MB.
pub const MAX_TOTAL_BYTES: u64 = 100 * 1024 * 1024;

/// The longest name kept, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// The most evidence files one completion may have.
pub const MAX_FILES: usize = 100;

/// Names Windows reserves for devices, whatever the extension: a file
/// exported as one of them cannot be opened there.
const WINDOWS_RESERVED: [&str; 22] = [
    "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Characters that turn the direction of text: a name like
/// `faktura\u{202E}fdp.exe` would show as `fakturaexe.pdf`.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A file to keep with a completion: its name as given (sanitised when
/// stored, see [`sanitise_name`]) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvidence {
    pub name: String,
    pub content: Vec<u8>,
}

/// An evidence file as recorded: its stored name, size and SHA-256 (64
/// lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EvidenceFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One evidence file with the completion it belongs to, for `evidence
/// export`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvidence {
    pub completion: i64,
    pub task: String,
    pub period: String,
    pub file: EvidenceFile,
}

/// A readable file name that is safe as one path component: the last
/// component of what was given (after `/` or `\`), control characters and
/// separators, bidirectional controls and the characters Windows forbids
/// in names replaced by `_`, leading dots and spaces removed, `..`
/// nowhere, at most [`MAX_NAME_CHARS`] characters (the extension kept), a
/// name Windows reserves (`CON`, `nul.txt`, …) prefixed with `_`, and
/// `evidence` when nothing is left.
pub fn sanitise_name(given: &str) -> String {
    let last = given
        .rsplit(['/', '\\'])
        .find(|p| !p.trim().is_empty())
        .unwrap_or("");
    let mut name: String = last
        .chars()
        .map(|c| {
            if c.is_control()
                || is_bidi_control(c)
                || matches!(
                    c,
                    '/' | '\\' | ':' | '<' | '>' | '"' | '|' | '?' | '*' | '\u{2028}' | '\u{2029}'
                )
            {
                '_'
            } else {
                c
            }
        })
        .collect();
    while name.contains("..") {
        name = name.replace("..", ".");
    }
    let name = name.trim_start_matches(['.', ' ']).trim_end().to_string();
    let name = cap(&name, MAX_NAME_CHARS);
    let name = name.trim_end_matches(['.', ' ']).to_string();
    if name.is_empty() {
        return "evidence".to_string();
    }
    let stem = name.split('.').next().unwrap_or("").trim_end();
    if WINDOWS_RESERVED.contains(&stem.to_ascii_lowercase().as_str()) {
        return cap(&format!("_{name}"), MAX_NAME_CHARS);
    }
    name
}

/// `name` cut to `max` characters, keeping a short extension.
fn cap(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let ext = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().count() <= 10 => format!(".{ext}"),
        _ => String::new(),
    };
    let keep = max - ext.chars().count();
    name.chars().take(keep).collect::<String>() + &ext
}

/// `name` made distinct from every name in `taken`: `rapport.pdf`,
/// `rapport (2).pdf`, `rapport (3).pdf`, …
pub fn distinct_name(name: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == name) {
        return name.to_string();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    (2..)
        .map(|n| format!("{stem} ({n}){ext}"))
        .find(|candidate| !taken.iter().any(|t| t == candidate))
        .unwrap_or_default()
}

/// Stores `files` for completion `id`: each blob once, each name
/// sanitised and made distinct within the completion. Inside the
/// completion's transaction.
pub(super) fn insert(conn: &Connection, id: i64, files: &[NewEvidence]) -> Result<(), Fault> {
    if files.len() > MAX_FILES {
        return Err(Fault::Refused(format!(
            "{} evidence files were given; a completion may have at most {MAX_FILES}",
            files.len()
        )));
    }
    let total: u64 = files.iter().map(|f| f.content.len() as u64).sum();
    if total > MAX_TOTAL_BYTES {
        return Err(Fault::Refused(format!(
            "the evidence files hold {total} bytes together; a completion may have at most {MAX_TOTAL_BYTES}"
        )));
    }
    let mut names: Vec<String> = Vec::new();
    let mut blob = conn.prepare_cached(
        "INSERT INTO evidence_blobs (sha256, bytes, content) VALUES (?1, ?2, ?3)
         ON CONFLICT (sha256) DO NOTHING",
    )?;
    let mut row = conn.prepare_cached(
        "INSERT INTO evidence (completion, name, sha256, bytes) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for f in files {
        let sha = sha256_hex(&f.content);
        let bytes = i64::try_from(f.content.len()).unwrap_or(i64::MAX);
        let name = distinct_name(&sanitise_name(&f.name), &names);
        // The bytes go straight into the database's pages: binding them
        // would copy them twice (the bound value and the row's record),
        // three times a file's size in memory in all.
        let zeros = ZeroBlob(
            i32::try_from(f.content.len())
                .map_err(|_| Fault::Refused(format!("the evidence file {name:?} is too large")))?,
        );
        if blob.execute(params![sha, bytes, zeros])? == 1 {
            let rowid = conn.last_insert_rowid();
            let mut content = conn.blob_open(MAIN_DB, "evidence_blobs", "content", rowid, false)?;
            content
                .write_all(&f.content)
                .map_err(|e| Fault::Io(format!("cannot write the evidence file {name:?}: {e}")))?;
        }
        row.execute(params![id, name, sha, bytes])?;
        names.push(name);
    }
    Ok(())
}

/// The evidence files of completion `id`, in the order they were given.
pub(super) fn for_completion(conn: &Connection, id: i64) -> Result<Vec<EvidenceFile>, Fault> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, bytes, sha256 FROM evidence WHERE completion = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![id], |r| {
        Ok(EvidenceFile {
            name: r.get(0)?,
            bytes: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            sha256: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The evidence files of every completion (of `task`, when given), by
/// completion id, each list in the order given.
pub(super) fn by_completion(
    conn: &Connection,
    task: Option<&str>,
) -> Result<std::collections::HashMap<i64, Vec<EvidenceFile>>, Fault> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.completion, e.name, e.bytes, e.sha256
         FROM evidence e JOIN completions c ON c.id = e.completion
         WHERE ?1 IS NULL OR c.task = ?1
         ORDER BY e.id",
    )?;
    let mut rows = stmt.query(params![task])?;
    let mut out: std::collections::HashMap<i64, Vec<EvidenceFile>> = Default::default();
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?).or_default().push(EvidenceFile {
            name: r.get(1)?,
            bytes: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            sha256: r.get(3)?,
        });
    }
    Ok(out)
}

/// Every evidence file, by task, period and the order they were recorded.
pub(super) fn all(conn: &Connection) -> Result<Vec<StoredEvidence>, Fault> {
    let mut stmt = conn.prepare(
        "SELECT e.completion, c.task, c.period, e.name, e.bytes, e.sha256
         FROM evidence e JOIN completions c ON c.id = e.completion
         ORDER BY c.task, c.period, e.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(StoredEvidence {
            completion: r.get(0)?,
            task: r.get(1)?,
            period: r.get(2)?,
            file: EvidenceFile {
                name: r.get(3)?,
                bytes: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                sha256: r.get(5)?,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The bytes of the evidence file with this SHA-256.
pub(super) fn content(conn: &Connection, sha256: &str) -> Result<Vec<u8>, Fault> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT content FROM evidence_blobs WHERE sha256 = ?1",
        params![sha256],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| Fault::Missing(format!("there is no evidence file with SHA-256 {sha256}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_readable_path_component() {
        assert_eq!(
            sanitise_name("Risikovurdering 2027.pdf"),
            "Risikovurdering 2027.pdf"
        );
        assert_eq!(sanitise_name("/home/anna/rapport.pdf"), "rapport.pdf");
        assert_eq!(sanitise_name("C:\\Users\\bo\\referat.docx"), "referat.docx");
        assert_eq!(sanitise_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitise_name(".."), "evidence");
        assert_eq!(sanitise_name(".bashrc"), "bashrc");
        assert_eq!(sanitise_name("a..b.txt"), "a.b.txt");
        assert_eq!(
            sanitise_name("linje\nto\u{1b}[31m.txt"),
            "linje_to_[31m.txt"
        );
        assert_eq!(sanitise_name(""), "evidence");
        assert_eq!(sanitise_name("dir/"), "dir");
        assert_eq!(
            sanitise_name("Årshjul – ændringer.xlsx"),
            "Årshjul – ændringer.xlsx"
        );
        let long = format!("{}.pdf", "x".repeat(300));
        let capped = sanitise_name(&long);
        assert_eq!(capped.chars().count(), MAX_NAME_CHARS);
        assert!(capped.ends_with("x.pdf"));
        let huge = "y".repeat(10_000);
        assert_eq!(sanitise_name(&huge), "y".repeat(MAX_NAME_CHARS));
    }

    #[test]
    fn nul_bidi_controls_and_windows_names_are_made_harmless() {
        assert_eq!(sanitise_name("a\0b.txt"), "a_b.txt");
        assert_eq!(sanitise_name("faktura\u{202E}fdp.exe"), "faktura_fdp.exe");
        assert_eq!(sanitise_name("\u{2067}x\u{2069}.pdf"), "_x_.pdf");
        assert_eq!(sanitise_name("\u{200F}.txt"), "_.txt");
        assert_eq!(sanitise_name("CON"), "_CON");
        assert_eq!(sanitise_name("nul.txt"), "_nul.txt");
        assert_eq!(sanitise_name("Com1.tar.gz"), "_Com1.tar.gz");
        assert_eq!(sanitise_name("console.txt"), "console.txt");
        assert_eq!(sanitise_name("hvad?<>|*\".txt"), "hvad______.txt");
    }

    #[test]
    fn a_second_file_of_the_same_name_is_numbered() {
        let taken = vec!["rapport.pdf".to_string(), "rapport (2).pdf".to_string()];
        assert_eq!(distinct_name("rapport.pdf", &taken), "rapport (3).pdf");
        assert_eq!(distinct_name("noter", &["noter".to_string()]), "noter (2)");
        assert_eq!(distinct_name("ny.pdf", &taken), "ny.pdf");
    }
}
