//! The installed service: commands that find its files without flags
//! (`ARSHJUL_SYSTEM_ROOT` stands in for `/`), and the Debian package.

use std::path::Path;
use std::process::Command;

use crate::support::Scratch;

/// Whether the tests run as root (`id -u`).
fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A system root holding `etc/arshjul/arshjul.toml` and the shipped wheel
/// as `etc/arshjul/schedule.toml`, as the package installs them.
fn system_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let etc = root.path().join("etc/arshjul");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(
        etc.join("arshjul.toml"),
        "public_url = \"https://arshjul.example.dk\"\n",
    )
    .expect("settings");
    let wheel = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedule.toml");
    std::fs::copy(wheel, etc.join("schedule.toml")).expect("wheel");
    root
}

#[test]
fn root_without_flags_reads_the_system_settings_wheel_and_state_directory_and_status_says_which_database(
) {
    let root = system_root();
    let r = root.path().to_str().expect("utf-8 path");
    // A working directory with no settings file and no wheel of its own.
    let s = Scratch::new("");
    std::fs::remove_file(s.file("schedule.toml")).expect("no local wheel");
    let env = [("ARSHJUL_SYSTEM_ROOT", r)];
    let db = root.path().join("var/lib/arshjul/arshjul.db");
    let now = "2027-02-01T09:00:00+01:00";
    if !as_root() {
        // Anyone else keeps the built-in defaults: ./schedule.toml.
        let run = s.run_env(&["status", "--now", now], &env).expect(2);
        assert!(run.stderr().contains("schedule.toml"), "{}", run.stderr());
        eprintln!("not root: only the unprivileged side of the decision was run");
        return;
    }
    let v = s
        .run_env(&["status", "--json", "--now", now], &env)
        .expect(0)
        .json();
    assert_eq!(v["database"], db.to_str().unwrap());
    assert!(v["tasks"].as_array().is_some_and(|t| !t.is_empty()), "{v}");
    let run = s.run_env(&["status", "--now", now], &env).expect(0);
    assert!(
        run.stdout().ends_with(&format!(
            "\nDatabase: {} (not there yet: nothing recorded)\n",
            db.display()
        )),
        "{}",
        run.stdout()
    );
    // A pass writes where the service does: the state directory (which
    // systemd creates when the service first starts).
    std::fs::create_dir_all(root.path().join("var/lib/arshjul")).expect("state directory");
    s.run_env(&["tick", "--now", now], &env).expect(0);
    assert!(db.is_file(), "no database at {}", db.display());
    assert!(root.path().join("var/lib/arshjul/outbox").is_dir());
    assert!(!s.file("arshjul.db").exists());
    let run = s.run_env(&["status", "--now", now], &env).expect(0);
    assert!(
        run.stdout()
            .ends_with(&format!("\nDatabase: {}\n", db.display())),
        "{}",
        run.stdout()
    );
    let check = s.run_env(&["check", "--now", now], &env).expect(0).stdout();
    assert!(
        check.contains(&format!("settings:   {}/etc/arshjul/arshjul.toml", r)),
        "{check}"
    );

    // A settings file in the working directory: the quickstart's
    // defaults, relative to it, for root too.
    std::fs::write(s.file("arshjul.toml"), "").expect("local settings");
    let run = s
        .run_env(&["status", "--json", "--now", now], &env)
        .expect(2);
    assert!(run.stderr().contains("schedule.toml"), "{}", run.stderr());
    std::fs::copy(
        root.path().join("etc/arshjul/schedule.toml"),
        s.file("schedule.toml"),
    )
    .expect("local wheel");
    let v = s
        .run_env(&["status", "--json", "--now", now], &env)
        .expect(0)
        .json();
    assert_eq!(v["database"], "arshjul.db");
}

/// The newest `target/debian/arshjul_VERSION*.deb`, built by `.ci/run`
/// (`cargo deb`); `None` when there is none.
fn built_deb() -> Option<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let prefix = format!("arshjul_{}", env!("CARGO_PKG_VERSION"));
    std::fs::read_dir(target.join("debian"))
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(&prefix) && name.ends_with(".deb")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

fn dpkg_deb(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .output()
        .expect("run dpkg-deb");
    assert!(
        out.status.success(),
        "dpkg-deb {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_debian_package_holds_binary_unit_conffiles_docs_man_pages_and_completions() {
    let Some(deb) = built_deb() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no target/debian/arshjul_{}*.deb: .ci/run builds it with `cargo deb` before the tests",
            env!("CARGO_PKG_VERSION")
        );
        eprintln!(
            "SKIPPED: no target/debian/arshjul_*.deb (build it as .ci/run does: cargo xtask man; cargo xtask completions; cargo deb --no-build --profile dev)"
        );
        return;
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let field = |name: &str| {
        dpkg_deb(&[&os("-f"), deb.as_os_str(), &os(name)])
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "arshjul");
    let version = field("Version");
    assert!(
        version.starts_with(&format!("{}-", env!("CARGO_PKG_VERSION"))),
        "Version: {version}"
    );

    // The files, unpacked into a scratch root.
    let root = tempfile::tempdir().expect("tempdir");
    dpkg_deb(&[&os("-x"), deb.as_os_str(), root.path().as_os_str()]);
    let has = |p: &str| root.path().join(p).is_file();
    let unit = [
        "lib/systemd/system/arshjul.service",
        "usr/lib/systemd/system/arshjul.service",
    ]
    .into_iter()
    .find(|p| has(p))
    .unwrap_or_else(|| panic!("no unit in {}", list(root.path())));
    for file in [
        "usr/bin/arshjul",
        "etc/arshjul/arshjul.toml",
        "etc/arshjul/schedule.toml",
        "usr/share/doc/arshjul/README.md",
        "usr/share/doc/arshjul/docs/operations.md",
        "usr/share/doc/arshjul/docs/settings.md",
        "usr/share/doc/arshjul/copyright",
        "usr/share/bash-completion/completions/arshjul",
        "usr/share/zsh/vendor-completions/_arshjul",
        "usr/share/fish/vendor_completions.d/arshjul.fish",
    ] {
        assert!(
            has(file),
            "{file} missing; the package holds:\n{}",
            list(root.path())
        );
    }
    for page in ["arshjul", "arshjul-status", "arshjul-run"] {
        assert!(
            has(&format!("usr/share/man/man1/{page}.1.gz"))
                || has(&format!("usr/share/man/man1/{page}.1")),
            "man page {page} missing:\n{}",
            list(root.path())
        );
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let same = |packaged: &str, source: &str| {
        assert_eq!(
            std::fs::read(root.path().join(packaged)).expect("packaged"),
            std::fs::read(repo.join(source)).expect("source"),
            "{packaged} is not {source}"
        );
    };
    same("etc/arshjul/schedule.toml", "schedule.toml");
    same("etc/arshjul/arshjul.toml", "systemd/arshjul.toml.example");
    same(unit, "systemd/arshjul.service");

    // The unit runs the packaged binary and documents itself with a file
    // the package installs.
    let unit_text = std::fs::read_to_string(root.path().join(unit)).expect("unit");
    let value = |key: &str| {
        unit_text
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no {key} in the unit"))
            .to_string()
    };
    let exec = value("ExecStart=");
    let binary = exec.split_whitespace().next().expect("a command");
    assert!(
        has(binary.trim_start_matches('/')),
        "ExecStart={exec}: not in the package"
    );
    let doc = value("Documentation=");
    let doc = doc.strip_prefix("file:///").expect("a file:// URL");
    assert!(has(doc), "Documentation=file:///{doc}: not in the package");
    assert!(
        root.path()
            .join("usr/bin/arshjul")
            .metadata()
            .is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode() & 0o111 != 0
            }),
        "usr/bin/arshjul is not executable"
    );

    // Both files in /etc are conffiles, so an upgrade keeps the
    // operator's edits.
    let control = tempfile::tempdir().expect("tempdir");
    dpkg_deb(&[&os("-e"), deb.as_os_str(), control.path().as_os_str()]);
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).expect("conffiles");
    let mut conffiles: Vec<&str> = conffiles.lines().filter(|l| !l.is_empty()).collect();
    conffiles.sort_unstable();
    assert_eq!(
        conffiles,
        ["/etc/arshjul/arshjul.toml", "/etc/arshjul/schedule.toml"]
    );
    // Installed, not enabled and not started: the operator edits the two
    // files first, then `systemctl enable --now arshjul`.
    // An upgrade restarts it only if it runs, and re-enables it only if
    // it was enabled; removing the package stops it.
    let script = |name: &str| std::fs::read_to_string(control.path().join(name)).expect(name);
    let postinst = script("postinst");
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");
    assert!(!postinst.contains("systemctl enable"), "{postinst}");
    let lines: Vec<&str> = postinst.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains("deb-systemd-helper enable") {
            assert!(
                lines[i.saturating_sub(3)..i]
                    .iter()
                    .any(|l| l.contains("was-enabled")),
                "enabled unconditionally:\n{postinst}"
            );
        }
    }
    assert!(postinst.contains("daemon-reload"), "{postinst}");
    assert!(
        postinst.contains("try-restart arshjul.service"),
        "{postinst}"
    );
    assert!(script("prerm").contains("stop arshjul.service"));
    // Debian's changelog, at the package's version.
    assert!(has("usr/share/doc/arshjul/changelog.Debian.gz"));
    let changelog = std::fs::read_to_string(repo.join("debian/changelog")).expect("changelog");
    assert!(
        changelog.starts_with(&format!("arshjul ({version}) ")),
        "debian/changelog does not start at {version}"
    );

    // The packaged binary runs.
    let version = Command::new(root.path().join("usr/bin/arshjul"))
        .arg("--version")
        .output()
        .expect("run the packaged binary");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("arshjul {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Every file under `root`, one a line, for a failure message.
fn list(root: &Path) -> String {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out.join("\n")
}
