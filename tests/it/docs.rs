//! The reference in `docs/` against the code: every setting, every
//! subcommand and flag, every argument's `--help` text, and every link
//! from the README. A setting or flag added without its documentation
//! fails here, naming what is missing and where it belongs.

use std::path::{Path, PathBuf};

use arshjul::cli::Args;
use arshjul::settings::Settings;
use clap::CommandFactory;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Dotted paths of the leaves of a JSON tree: `mail.smtp.port`, … (an
/// array or null is a leaf: it is one setting).
fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&path, inner, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

/// `mail.smtp.port` → `ARSHJUL_MAIL__SMTP__PORT`, as figment reads it.
fn env_name(key: &str) -> String {
    format!("ARSHJUL_{}", key.to_ascii_uppercase().replace('.', "__"))
}

fn setting_keys() -> Vec<String> {
    let tree = serde_json::to_value(Settings::default()).expect("settings serialise");
    let mut keys = Vec::new();
    leaves("", &tree, &mut keys);
    keys
}

/// Every key and its environment variable name, both in backticks, in
/// `docs/settings.md`.
fn undocumented_settings(doc: &str) -> Vec<String> {
    setting_keys()
        .into_iter()
        .flat_map(|key| {
            let env = env_name(&key);
            [format!("`{key}`"), format!("`{env}`")]
        })
        .filter(|needle| !doc.contains(needle.as_str()))
        .collect()
}

#[test]
fn every_setting_is_in_docs_settings_md_with_its_env_name() {
    let keys = setting_keys();
    // The walk itself must see the tree, or this test proves nothing.
    for known in [
        "schedule",
        "link_days",
        "mail.smtp.port",
        "mail.oauth.scope",
    ] {
        assert!(keys.iter().any(|k| k == known), "{known} not in {keys:?}");
    }
    let missing = undocumented_settings(&read("docs/settings.md"));
    assert!(
        missing.is_empty(),
        "docs/settings.md does not name {missing:?}"
    );
}

#[test]
fn a_setting_missing_from_the_text_is_found() {
    // The check above, on a copy of the page with one key taken out.
    let doc = read("docs/settings.md").replace("`mail.smtp.timeout_secs`", "`timeout`");
    assert_eq!(
        undocumented_settings(&doc),
        vec!["`mail.smtp.timeout_secs`".to_string()]
    );
}

/// The text of the section whose heading names `` `arshjul PATH` ``, up to
/// the next heading of the same level or above.
fn section<'d>(doc: &'d str, path: &str) -> Option<&'d str> {
    let needle = format!("`arshjul {path}`");
    let mut start = None;
    let mut level = 0;
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes > 0 {
            match start {
                None if line.contains(&needle) => {
                    start = Some(offset);
                    level = hashes;
                }
                Some(s) if hashes <= level => return Some(&doc[s..offset]),
                _ => {}
            }
        }
        offset += line.len();
    }
    start.map(|s| &doc[s..])
}

/// Every subcommand path (`check`, `mail`, `mail test`, …) with its
/// command, depth first.
fn subcommands(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let path = if prefix.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{prefix} {}", sub.get_name())
        };
        out.push((path.clone(), sub.clone()));
        subcommands(sub, &path, out);
    }
}

/// What a command's section must show of an argument: `--flag` for an
/// option, its value name (`TASK`) for a positional.
fn shown_as(arg: &clap::Arg) -> Option<String> {
    if matches!(arg.get_id().as_str(), "help" | "version") {
        return None;
    }
    if let Some(long) = arg.get_long() {
        return Some(format!("--{long}"));
    }
    let names = arg.get_value_names().unwrap_or_default();
    Some(match names.first() {
        Some(name) => name.to_string(),
        None => arg.get_id().as_str().to_ascii_uppercase(),
    })
}

fn command_doc_problems(doc: &str) -> Vec<String> {
    let top = Args::command();
    let mut problems = Vec::new();
    let global = doc
        .split("\n## Global options")
        .nth(1)
        .map(|rest| rest.split("\n## ").next().unwrap_or(""));
    for arg in top.get_arguments() {
        let Some(shown) = shown_as(arg) else { continue };
        if !global.is_some_and(|g| g.contains(&format!("`{shown}"))) {
            problems.push(format!(
                "global option {shown}: not under \"## Global options\""
            ));
        }
    }
    let mut subs = Vec::new();
    subcommands(&top, "", &mut subs);
    for (path, cmd) in &subs {
        let Some(text) = section(doc, path) else {
            problems.push(format!(
                "`arshjul {path}`: no section (a heading naming it)"
            ));
            continue;
        };
        for arg in cmd.get_arguments().filter(|a| !a.is_global_set()) {
            let Some(shown) = shown_as(arg) else { continue };
            if !text.contains(&shown) {
                problems.push(format!("`arshjul {path}`: {shown} not in its section"));
            }
        }
    }
    problems
}

#[test]
fn every_subcommand_and_flag_is_in_docs_commands_md() {
    let doc = read("docs/commands.md");
    let mut subs = Vec::new();
    subcommands(&Args::command(), "", &mut subs);
    for known in ["check", "plan", "away", "mail test"] {
        assert!(subs.iter().any(|(p, _)| p == known), "{known} not walked");
    }
    let problems = command_doc_problems(&doc);
    assert!(problems.is_empty(), "docs/commands.md: {problems:#?}");
}

#[test]
fn a_flag_missing_from_its_commands_section_is_found() {
    let doc = read("docs/commands.md").replace("--accept-burst", "--accept");
    let problems = command_doc_problems(&doc);
    assert_eq!(
        problems,
        vec!["`arshjul tick`: --accept-burst not in its section".to_string()]
    );
}

/// Every argument of every command, the global ones included.
fn all_arguments() -> Vec<(String, clap::Arg)> {
    let mut top = Args::command();
    top.build();
    let mut out: Vec<(String, clap::Arg)> = top
        .get_arguments()
        .map(|a| ("arshjul".to_string(), a.clone()))
        .collect();
    let mut subs = Vec::new();
    subcommands(&top, "", &mut subs);
    for (path, cmd) in subs {
        out.extend(cmd.get_arguments().map(|a| (path.clone(), a.clone())));
    }
    out
}

#[test]
fn every_argument_has_help_text() {
    let args = all_arguments();
    assert!(args
        .iter()
        .any(|(p, a)| p == "done" && a.get_id() == "task"));
    let bare: Vec<String> = args
        .iter()
        .filter(|(_, a)| {
            let help = a.get_help().or(a.get_long_help()).map(|h| h.to_string());
            help.is_none_or(|h| h.trim().is_empty())
        })
        .map(|(path, a)| format!("{path}: {}", a.get_id()))
        .collect();
    assert!(bare.is_empty(), "no --help text for {bare:?}");
}

/// Relative link targets in Markdown: `[text](target)`.
fn links(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_string());
        }
    }
    out
}

fn broken_links(dir: &Path, doc: &str) -> Vec<String> {
    links(doc)
        .into_iter()
        .filter(|l| !l.starts_with("http://") && !l.starts_with("https://"))
        .filter(|l| !l.starts_with('#') && !l.starts_with("mailto:"))
        .filter(|l| {
            let file = l.split('#').next().unwrap_or("");
            // There, and inside the repository.
            let target: PathBuf = dir.join(file);
            let inside = |t: PathBuf| t.starts_with(root().canonicalize().expect("root"));
            !target.canonicalize().is_ok_and(inside)
        })
        .collect()
}

#[test]
fn readme_links_into_docs_and_they_resolve() {
    let readme = read("README.md");
    let docs: Vec<String> = links(&readme)
        .into_iter()
        .filter(|l| l.starts_with("docs/"))
        .collect();
    for page in ["docs/README.md", "docs/commands.md", "docs/settings.md"] {
        assert!(
            docs.iter().any(|l| l == page),
            "README does not link {page}"
        );
    }
    let broken = broken_links(root(), &readme);
    assert!(broken.is_empty(), "README links to nothing at {broken:?}");
    for word in ["CONTRACT", "shared documents"] {
        assert!(!readme.contains(word), "README points outside: {word}");
    }
}

#[test]
fn links_between_the_docs_resolve() {
    let dir = root().join("docs");
    let mut pages = 0;
    for entry in std::fs::read_dir(&dir).expect("docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages += 1;
            let text = std::fs::read_to_string(&path).expect("page");
            let broken = broken_links(&dir, &text);
            assert!(broken.is_empty(), "{}: {broken:?}", path.display());
            assert!(!text.contains("CONTRACT"), "{}", path.display());
        }
    }
    assert!(pages >= 8, "only {pages} pages in docs/");
}

/// The repository documents itself: no comment in the code points at a
/// document outside it (the interface spec the project started from, or a
/// `../shared/` directory beside the checkout).
#[test]
fn the_code_points_at_no_document_outside_the_repository() {
    fn walk(dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if path
                .extension()
                .is_some_and(|e| e == "rs" || e == "html" || e == "txt" || e == "md")
            {
                let text = std::fs::read_to_string(&path).expect("source");
                for word in ["CONTRACT", "../shared/", "/work/shared"] {
                    if text.contains(word) {
                        found.push(format!("{}: {word}", path.display()));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    for dir in ["src", "templates", "xtask", "benches", "scripts"] {
        let path = root().join(dir);
        if path.is_dir() {
            walk(&path, &mut found);
        }
    }
    assert!(
        found.is_empty(),
        "pointers outside the repository: {found:?}"
    );
}
