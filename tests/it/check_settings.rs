//! Settings and inputs refused up front (issue 11, items 11 and 12): `check`
//! says what it used and refuses settings that could not work, each error
//! worded like a wheel error; an empty database is never re-created.

use std::path::Path;

use crate::support::Scratch;

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

/// A scratch directory with the shipped wheel and `settings` as arshjul.toml.
fn with_settings(settings: &str) -> Scratch {
    let wheel = std::fs::read_to_string(repo("schedule.toml")).expect("shipped wheel");
    let s = Scratch::new(&wheel);
    std::fs::write(s.file("arshjul.toml"), settings).expect("settings");
    s
}

#[test]
fn check_says_which_settings_database_transport_and_public_url_it_used() {
    let s = with_settings(
        "public_url = \"https://arshjul.kommune.example\"\ndatabase = \"state/a.db\"\n",
    );
    let out = s.run(&["check"]).expect(0).stdout();
    assert!(out.contains("settings:   arshjul.toml\n"), "{out}");
    assert!(
        out.contains(
            "database:   state/a.db (not there yet; the first `tick` or `run` creates it)"
        ),
        "{out}"
    );
    assert!(out.contains("mail: file, into outbox"), "{out}");
    assert!(
        out.contains("public URL: https://arshjul.kommune.example "),
        "{out}"
    );
    assert!(!s.file("state/a.db").exists(), "check created the database");

    // Without a file: the built-in defaults; after a tick, the schema version.
    std::fs::remove_file(s.file("arshjul.toml")).expect("rm");
    s.run(&["tick", "--now", "2027-01-02"]).expect(0);
    let out = s.run(&["check"]).expect(0).stdout();
    assert!(
        out.contains("settings:   built-in defaults (no settings file)"),
        "{out}"
    );
    assert!(
        out.contains("database:   arshjul.db (schema version "),
        "{out}"
    );
}

#[test]
fn check_escapes_control_characters_in_the_paths_it_names() {
    let s = with_settings("");
    let out = s
        .run_env(
            &["check"],
            &[
                ("ARSHJUL_DATABASE", "a\nsettings:   forged.db"),
                ("ARSHJUL_MAIL__DIR", "out\x1b[31mbox"),
            ],
        )
        .expect(0)
        .stdout();
    assert!(
        out.contains("database:   a\\nsettings:   forged.db (not there yet;"),
        "{out}"
    );
    assert!(out.contains("mail: file, into out\\e[31mbox\n"), "{out}");
    assert!(!out.contains('\x1b'), "{out}");
    let settings_lines = out.lines().filter(|l| l.starts_with("settings:"));
    assert_eq!(settings_lines.count(), 1, "{out}");
}

#[test]
fn a_public_url_without_a_scheme_is_refused_at_its_place() {
    let s = with_settings("link_days = 30\npublic_url = \"arshjul.example\"\n");
    for command in ["check", "tick"] {
        let run = s.run(&[command]).expect(2);
        assert_eq!(
            run.stderr().lines().next().unwrap_or(""),
            "arshjul.toml:2:14: public_url: must be an absolute http or https URL \
             such as \"https://arshjul.kommune.dk\", not \"arshjul.example\"",
            "{command}"
        );
    }
    assert!(
        !s.file("arshjul.db").exists(),
        "tick did work before refusing"
    );
    assert!(!s.file("outbox").exists(), "tick did work before refusing");
}

#[test]
fn a_listen_address_run_cannot_bind_is_refused_by_check_and_run() {
    let s = with_settings("listen = \"localhost\"\n");
    for command in ["check", "run"] {
        let run = s.run(&["--now", "2027-03-20", command]).expect(2);
        assert_eq!(
            run.stderr().lines().next().unwrap_or(""),
            "arshjul.toml:1:10: listen: must be an address and a port, such as \
             \"127.0.0.1:8080\" or \"localhost:8080\", not \"localhost\"",
            "{command}"
        );
    }
    // Written with a port, a host name is what `run` binds.
    std::fs::write(s.file("arshjul.toml"), "listen = \"localhost:8080\"\n").expect("settings");
    s.run(&["check"]).expect(0);
}

#[test]
fn a_sender_that_cannot_be_a_header_is_refused() {
    let s = with_settings("[mail]\nfrom = \"Årshjulet\\n <arshjul@kommune.example>\"\n");
    let run = s.run(&["check"]).expect(2);
    assert_eq!(
        run.stderr().lines().next().unwrap_or(""),
        "arshjul.toml:2:8: mail.from: cannot be the sender \
         \"Årshjulet\\n <arshjul@kommune.example>\": it contains a line break (U+000A)"
    );
}

#[test]
fn a_reply_address_that_is_not_an_address_is_refused() {
    let s = with_settings("[mail]\nreply_to = \"koordinator at kommune\"\n");
    let run = s.run(&["check"]).expect(2);
    let first = run.stderr().lines().next().unwrap_or("").to_string();
    assert!(
        first.starts_with(
            "arshjul.toml:2:12: mail.reply_to: cannot be the reply address \"koordinator at kommune\": "
        ),
        "{first}"
    );
    let s =
        with_settings("[mail]\nreply_to = \"Årshjulskoordinator <koordinator@kommune.example>\"\n");
    s.run(&["check"]).expect(0);
    // From the environment, named as the variable.
    let run = s
        .run_env(&["check"], &[("ARSHJUL_MAIL__REPLY_TO", "nobody")])
        .expect(2);
    assert!(
        run.stderr().starts_with(
            "ARSHJUL_MAIL__REPLY_TO: mail.reply_to: cannot be the reply address \"nobody\": "
        ),
        "{}",
        run.stderr()
    );
}

#[test]
fn settings_errors_read_like_wheel_errors() {
    let cases = [
        (
            "[mail.smtp]\nport = \"abc\"\n",
            "arshjul.toml:2:8: mail.smtp.port: must be a whole number from 1 to 65535, not \"abc\"",
        ),
        (
            "[mail.smtp]\nport = 70000\n",
            "arshjul.toml:2:8: mail.smtp.port: must be a whole number from 1 to 65535, not 70000",
        ),
        (
            "[mail]\ntransport = \"pigeon\"\n",
            "arshjul.toml:2:13: mail.transport: must be \"file\", \"smtp\", \"graph\" or \"sendmail\", not \"pigeon\"",
        ),
        (
            "[mail]\ntransport = \"smtp\"\n",
            "arshjul.toml:2:13: mail.smtp.host: must be set when mail.transport is \"smtp\"",
        ),
        (
            "link_days = -3\n",
            "arshjul.toml:1:13: link_days: must be a whole number of days (0 or more), not -3",
        ),
        (
            "lisen = \"127.0.0.1:8080\"\n",
            "arshjul.toml:1:9: lisen: is not a setting arshjul knows (known here: schedule, \
             database, listen, public_url, secret_file, link_days, trusted_proxies, max_clock_jump, \
             busy_timeout_ms, max_connections_per_peer, metrics_listen, mail, evidence)",
        ),
        (
            "max_connections_per_peer = 0\n",
            "arshjul.toml:1:28: max_connections_per_peer: 0 would refuse every connection; it must be at least 1",
        ),
        (
            "max_connections_per_peer = \"many\"\n",
            "arshjul.toml:1:28: max_connections_per_peer: must be a whole number of connections, not \"many\"",
        ),
        (
            "busy_timeout_ms = 3600001\n",
            "arshjul.toml:1:19: busy_timeout_ms: must be at most 3600000 (one hour), not 3600001",
        ),
        (
            "busy_timeout_ms = \"5s\"\n",
            "arshjul.toml:1:19: busy_timeout_ms: must be a whole number of milliseconds, not \"5s\"",
        ),
        (
            "listen = [\n",
            "arshjul.toml:1:12: invalid array, expected ]",
        ),
        (
            "metrics_listen = \"9187\"\n",
            "arshjul.toml:1:18: metrics_listen: must be an address and a port, such as \"127.0.0.1:8080\" or \"localhost:8080\", not \"9187\"",
        ),
    ];
    for (settings, expected) in cases {
        let s = with_settings(settings);
        let run = s.run(&["check"]).expect(2);
        assert_eq!(run.stderr().trim_end(), expected, "{settings}");
        assert!(!run.stderr().contains('`'), "{}", run.stderr());
    }
}

#[test]
fn a_bad_environment_variable_is_named() {
    let s = Scratch::new(&std::fs::read_to_string(repo("schedule.toml")).expect("wheel"));
    let run = s
        .run_env(&["check"], &[("ARSHJUL_MAIL__SMTP__PORT", "abc")])
        .expect(2);
    assert_eq!(
        run.stderr().trim_end(),
        "ARSHJUL_MAIL__SMTP__PORT: mail.smtp.port: must be a whole number from 1 to 65535, not \"abc\""
    );
    let run = s
        .run_env(&["check"], &[("ARSHJUL_PUBLIC_URL", "arshjul.example")])
        .expect(2);
    assert!(
        run.stderr()
            .starts_with("ARSHJUL_PUBLIC_URL: public_url: must be an absolute http or https URL"),
        "{}",
        run.stderr()
    );
}

#[test]
fn an_empty_database_file_is_refused_everywhere_and_left_untouched() {
    let s = Scratch::new(&std::fs::read_to_string(repo("schedule.toml")).expect("wheel"));
    std::fs::write(s.file("arshjul.db"), b"").expect("empty db");
    for (command, code) in [
        ("check", 2),
        ("tick", 2),
        ("run", 2),
        ("status", 1),
        ("history", 1),
    ] {
        // `--now` keeps `run` from starting should the refusal be missing.
        let run = s.run(&["--now", "2027-03-20", command]).expect(code);
        let first = run.stderr().lines().next().unwrap_or("").to_string();
        assert!(
            first.starts_with("arshjul.db: the database file is empty (0 bytes)"),
            "{command}: {first}"
        );
        assert!(first.contains("delete the file"), "{command}: {first}");
    }
    assert_eq!(std::fs::read(s.file("arshjul.db")).expect("db"), b"");
    assert!(!s.file("outbox").exists(), "messages were sent");
}

/// `check` refuses what `tick` and `run` would refuse: a delivery timeout of
/// 0 passed `check` and then stopped every `tick` (each transport refuses it).
#[test]
fn check_refuses_a_delivery_timeout_of_zero_like_tick() {
    let s = with_settings("[mail]\ntransport = \"sendmail\"\n[mail.smtp]\ntimeout_secs = 0\n");
    for args in [&["check"][..], &["tick", "--now", "2027-02-01"][..]] {
        let err = s.run(args).expect(2).stderr();
        assert!(
            err.contains(
                "arshjul.toml:4:16: mail.smtp.timeout_secs: 0 would give every delivery no time"
            ),
            "{args:?}: {err}"
        );
    }
}

/// A `mail.templates` override that `tick` and `run` refuse (a syntax
/// error, a directory that is not there) is refused by `check` too, with
/// the same words; it used to pass `check`.
#[test]
fn check_refuses_the_templates_tick_would_refuse() {
    let s = with_settings("[mail]\ntemplates = \"tpl\"\n");
    std::fs::create_dir_all(s.file("tpl/da")).expect("mkdir");
    std::fs::write(s.file("tpl/da/reminder.txt"), "Hej {{ recipient.name\n").expect("template");
    for args in [&["check"][..], &["tick", "--now", "2027-02-01"][..]] {
        let err = s.run(args).expect(2).stderr();
        assert!(
            err.contains("tpl/da/reminder.txt:1: syntax error"),
            "{args:?}: {err}"
        );
    }
    std::fs::remove_dir_all(s.file("tpl")).expect("rm");
    for args in [&["check"][..], &["tick", "--now", "2027-02-01"][..]] {
        let err = s.run(args).expect(2).stderr();
        assert!(err.contains("tpl is not a directory"), "{args:?}: {err}");
    }
}
