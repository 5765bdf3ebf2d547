//! ARCHITECTURE.md, checked: every file under `src/` is read (comments and
//! string literals blanked out), and the test fails, naming file and line,
//! when the pure core names an edge, I/O or the clock, or when a module
//! imports one that the layer table below does not allow. The same table
//! is in ARCHITECTURE.md ("Layers"); change both together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, top to bottom:
/// `cli → daemon → engine → {store, mail, link, web} → planner →
/// {recurrence, calendar} → wheel`, with `settings`, `config` and `logging`
/// beside them as edges. Each module may name only the modules listed.
const ALLOWED: &[(&str, &[&str])] = &[
    ("wheel", &[]),
    ("dial", &[]),
    ("calendar", &["wheel"]),
    ("recurrence", &["wheel"]),
    ("planner", &["calendar", "recurrence", "wheel"]),
    ("settings", &["wheel"]),
    ("config", &["settings", "wheel"]),
    ("logging", &[]),
    ("view", &[]),
    ("store", &["planner", "recurrence", "calendar", "wheel"]),
    (
        "mail",
        &[
            "view",
            "planner",
            "recurrence",
            "calendar",
            "settings",
            "wheel",
        ],
    ),
    ("link", &["planner", "recurrence", "calendar", "wheel"]),
    (
        "report",
        &["store", "planner", "recurrence", "calendar", "wheel"],
    ),
    (
        "picture",
        &["dial", "planner", "recurrence", "calendar", "wheel"],
    ),
    (
        "feed",
        &["link", "planner", "recurrence", "calendar", "wheel"],
    ),
    (
        "web",
        &[
            "view",
            "store",
            "link",
            "feed",
            "picture",
            "dial",
            "planner",
            "recurrence",
            "calendar",
            "wheel",
        ],
    ),
    (
        "engine",
        &[
            "store",
            "mail",
            "link",
            "planner",
            "recurrence",
            "calendar",
            "settings",
            "config",
            "wheel",
        ],
    ),
    (
        "daemon",
        &[
            "engine",
            "store",
            "mail",
            "link",
            "web",
            "feed",
            "picture",
            "dial",
            "planner",
            "recurrence",
            "calendar",
            "settings",
            "config",
            "logging",
            "wheel",
        ],
    ),
    (
        "cli",
        &[
            "daemon",
            "engine",
            "report",
            "store",
            "mail",
            "link",
            "web",
            "feed",
            "picture",
            "dial",
            "planner",
            "recurrence",
            "calendar",
            "settings",
            "config",
            "logging",
            "wheel",
        ],
    ),
];

/// The pure core: no I/O, no clock, no edge module.
const CORE: &[&str] = &["wheel", "dial", "calendar", "recurrence", "planner"];

/// What the core must never name (besides the edge modules themselves).
const CORE_FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "tokio",
    "rusqlite",
    "lettre",
    "reqwest",
    "axum",
    "hyper",
    "Utc::now",
    "Local::now",
    "SystemTime::now",
];

/// Edge rules beyond the layers, as (module, what it must not name, the
/// one file of the module allowed to): `web` reads the time only through
/// the clock the daemon gives it, and waits only in its listener; the
/// store uses the planner's types but never its functions (it reads, the
/// engine plans); the
/// modules below `cli` print nothing (`cli` alone prints and picks exit
/// codes); `report` builds and renders from what it is given (no files,
/// no clock).
const EDGE_FORBIDDEN: &[(&str, &str, Option<&str>)] = &[
    ("web", "Utc::now", None),
    ("web", "Local::now", None),
    ("web", "SystemTime::now", None),
    ("web", "sleep", Some("src/web/listener.rs")),
    ("web", "sleep_until", Some("src/web/listener.rs")),
    ("store", "periods_in_view", None),
    ("store", "plan_range", None),
    ("store", "planner::pass", None),
    ("store", "planner::status", None),
    ("engine", "println!", None),
    ("engine", "eprintln!", None),
    ("engine", "ExitCode", None),
    ("daemon", "println!", None),
    ("daemon", "eprintln!", None),
    ("store", "println!", None),
    ("mail", "println!", None),
    ("link", "println!", None),
    ("config", "println!", None),
    ("report", "println!", None),
    ("report", "eprintln!", None),
    ("report", "std::fs", None),
    ("report", "Utc::now", None),
];

/// lettre's address types parse text and do no I/O; `wheel::text` checks
/// addresses with them so that `check` accepts exactly what the message
/// builder can use (see ARCHITECTURE.md). Nothing else of lettre.
const CORE_PURE_EXCEPTIONS: &[&str] = &[
    "lettre::Address",
    "lettre::message::Mailbox",
    "lettre::address::AddressError",
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top module a file belongs to (`src/cli/away.rs` → `cli`); `None`
/// for the crate root (`lib.rs`, `main.rs`).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then(|| name.to_string())
}

/// `source` with comments, string literals and character literals replaced
/// by spaces, line breaks kept, so that prose never trips the checks and
/// line numbers stay true.
fn code_only(source: &str) -> String {
    let s: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(s[i]));
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && !s
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
            && {
                let start = if c == 'b' { i + 2 } else { i + 1 };
                let hashes = s[start..].iter().take_while(|h| **h == '#').count();
                s.get(start + hashes) == Some(&'"')
            }
        {
            // Raw string: r"…", r#"…"#, br#"…"#.
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = s[start..].iter().take_while(|h| **h == '#').count();
            let body = start + hashes + 1;
            let mut j = body;
            loop {
                if j >= s.len() {
                    break;
                }
                if s[j] == '"'
                    && s[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|h| **h == '#')
                        .count()
                        == hashes
                {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            for &ch in &s[i..j.min(s.len())] {
                out.push(blank(ch));
            }
            i = j;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < s.len() && s[i] != '"' {
                if s[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < s.len() {
                    out.push(blank(s[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1f600}', '"'), or a
            // lifetime, which is kept.
            let close = if next == Some('\\') {
                s[i + 2..]
                    .iter()
                    .position(|x| *x == '\'')
                    .map(|p| i + 2 + p)
            } else if s.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    for _ in i..=end {
                        out.push(' ');
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Every `crate::NAME` in `line`, with NAME the module it names.
fn crate_paths(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = &line[..line.len() - rest.len() + at];
        let whole_word = !before
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if whole_word && !name.is_empty() {
            found.push(name);
        } else if whole_word && rest.starts_with('{') {
            // `use crate::{a, b::C}`: each item up to its `::` or `,`.
            let group = rest[1..].split('}').next().unwrap_or("");
            for item in group.split(',') {
                let name = item.trim().split("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    found.push(name.to_string());
                }
            }
        }
    }
    found
}

/// Whether `needle` occurs in `line` as a path (not inside a longer name).
fn names(line: &str, needle: &str) -> bool {
    line.match_indices(needle).any(|(at, _)| {
        let before = line[..at].chars().last();
        let after = line[at + needle.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Every breach of the layer table and of the core's purity in the files
/// of `root`, as `file:line: problem`.
fn breaches(root: &Path) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(root, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for path in files {
        let relative = path.strip_prefix(root).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        let shown = Path::new("src").join(relative).display().to_string();
        let Some(may) = allowed.get(module.as_str()) else {
            problems.push(format!(
                "{shown}: module `{module}` is not in the layer table of tests/it/architecture.rs (and ARCHITECTURE.md)"
            ));
            continue;
        };
        let source = std::fs::read_to_string(&path).unwrap();
        for (n, line) in code_only(&source).lines().enumerate() {
            let at = format!("{shown}:{}", n + 1);
            for name in crate_paths(line) {
                if name != module
                    && allowed.contains_key(name.as_str())
                    && !may.contains(&name.as_str())
                {
                    problems.push(format!(
                        "{at}: `{module}` imports `crate::{name}`, against the layers (it may use: {})",
                        if may.is_empty() { "nothing".to_string() } else { may.join(", ") }
                    ));
                }
            }
            for (m, needle, except) in EDGE_FORBIDDEN {
                let needle_word = needle.trim_end_matches('!');
                if *m == module
                    && except != &Some(shown.as_str())
                    && names(line, needle_word)
                    && (!needle.ends_with('!') || line.contains(needle))
                {
                    problems.push(format!(
                        "{at}: `{module}` names `{needle}`, which ARCHITECTURE.md keeps out of it"
                    ));
                }
            }
            if CORE.contains(&module.as_str()) {
                let line = CORE_PURE_EXCEPTIONS
                    .iter()
                    .fold(line.to_string(), |l, pure| l.replace(pure, ""));
                for needle in CORE_FORBIDDEN {
                    if names(&line, needle) {
                        problems.push(format!(
                            "{at}: the core module `{module}` names `{needle}`: the core does no I/O and never reads the clock"
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn the_source_keeps_the_layers_of_architecture_md() {
    let problems = breaches(&src_dir());
    assert!(
        problems.is_empty(),
        "{} breach(es) of the architecture:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_module_of_lib_rs_is_in_the_layer_table_and_in_architecture_md() {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let architecture =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let code = code_only(&lib);
    let modules: Vec<&str> = code
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';')
        })
        .collect();
    assert!(!modules.is_empty());
    for module in modules {
        assert!(
            ALLOWED.iter().any(|(m, _)| *m == module),
            "src/lib.rs: `{module}` is missing from the layer table"
        );
        assert!(
            architecture.contains(&format!("| `{module}` |")),
            "ARCHITECTURE.md: `{module}` has no row in the code map"
        );
        assert!(
            lib.contains(&format!("//! - [`{module}`]"))
                || lib.contains(&format!("//! - `{module}`")),
            "src/lib.rs: `{module}` is missing from `//! # Layout`"
        );
    }
}

#[test]
fn the_layer_table_of_architecture_md_is_the_one_this_test_enforces() {
    let architecture =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .unwrap();
    let section = architecture
        .split("\n## Layers\n")
        .nth(1)
        .expect("ARCHITECTURE.md has a section `## Layers`");
    let mut documented: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in section
        .lines()
        .skip_while(|l| !l.starts_with("| module |"))
        .skip(2)
    {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let names = |cell: &str| -> Vec<String> {
            cell.split(',')
                .map(|n| n.trim().trim_matches('`').to_string())
                .filter(|n| !n.is_empty() && n != "—")
                .collect()
        };
        let module = names(cells[1]).pop().unwrap();
        let mut may = names(cells[2]);
        may.sort();
        documented.insert(module, may);
    }
    let enforced: BTreeMap<String, Vec<String>> = ALLOWED
        .iter()
        .map(|(m, may)| {
            let mut may: Vec<String> = may.iter().map(|s| s.to_string()).collect();
            may.sort();
            (m.to_string(), may)
        })
        .collect();
    assert_eq!(
        documented, enforced,
        "ARCHITECTURE.md's layer table differs from ALLOWED"
    );
}

/// The checker itself: comments and strings are ignored, a wrong import
/// and an impure core are found with file and line.
#[test]
fn the_checker_finds_a_wrong_import_and_an_impure_core_but_not_prose() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("store")).unwrap();
    std::fs::write(
        root.join("planner.rs"),
        "//! Never calls crate::store or Utc::now.\n\
         const WHY: &str = \"crate::web and std::fs in a string\";\n\
         const RAW: &str = r#\"tokio \"crate::cli\"\"#;\n\
         fn f<'a>(x: &'a str) -> char { let _ = '\"'; 'x' }\n\
         use crate::store::Store;\n\
         fn g() { let _ = chrono::Utc::now(); }\n\
         use lettre::Address; use lettre::SmtpTransport;\n",
    )
    .unwrap();
    std::fs::write(
        root.join("store").join("mod.rs"),
        "use crate::{wheel::Wheel, engine::Engine};\n/* crate::cli */\n",
    )
    .unwrap();
    std::fs::write(root.join("lib.rs"), "use crate::cli;\n").unwrap();
    std::fs::create_dir(root.join("web")).unwrap();
    std::fs::write(
        root.join("web").join("mod.rs"),
        "fn f() { let _ = chrono::Utc::now(); }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("web").join("listener.rs"),
        "async fn f() { tokio::time::sleep(D).await; }\n",
    )
    .unwrap();
    std::fs::write(
        root.join("engine.rs"),
        "fn f() { eprintln!(\"x\"); }\n// println!\n",
    )
    .unwrap();
    let problems = breaches(root);
    let places: Vec<&str> = problems
        .iter()
        .map(|p| p.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        places,
        [
            "src/engine.rs:1",
            "src/planner.rs:5",
            "src/planner.rs:6",
            "src/planner.rs:7",
            "src/store/mod.rs:1",
            "src/web/mod.rs:1"
        ],
        "{problems:#?}"
    );
    assert!(problems[0].contains("`engine` names `eprintln!`"));
    assert!(problems[1].contains("`planner` imports `crate::store`"));
    assert!(problems[2].contains("names `Utc::now`"));
    assert!(problems[3].contains("names `lettre`"));
    assert!(problems[4].contains("`store` imports `crate::engine`"));
    assert!(problems[5].contains("`web` names `Utc::now`"));
}
