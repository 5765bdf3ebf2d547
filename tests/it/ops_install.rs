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
