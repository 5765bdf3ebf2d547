//! Issue 13 attacked through the real binary: what `done --evidence`
//! must not read, names `evidence export` must keep apart, an export that
//! cannot finish, and the report of a chain broken behind arshjul's back.

use std::time::{Duration, Instant};

use crate::chain_evidence::{db, season, verify_ok};
use crate::support::{arshjul, Run, Scratch};

/// Runs `arshjul ARGS` in `s`, killing it (and failing) after 20 s.
fn run_within(s: &Scratch, args: &[&str]) -> Run {
    let mut child = arshjul(s.path())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run arshjul");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("arshjul {args:?} still runs after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Run(child.wait_with_output().unwrap())
}

fn done_with(s: &Scratch, files: &[&str]) -> Run {
    let mut args = vec!["done", "policy-review", "--now", "2027-02-25", "--evidence"];
    args.extend_from_slice(files);
    run_within(s, &args)
}

#[test]
fn done_evidence_refuses_a_fifo_a_directory_and_dev_zero_at_once() {
    let s = Scratch::new(crate::chain_evidence::WHEEL);
    let fifo = s.file("ventende");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    std::fs::create_dir(s.file("mappe")).unwrap();
    for what in [fifo.to_str().unwrap(), "mappe", "/dev/zero"] {
        let run = done_with(&s, &[what]).expect(2);
        assert!(
            run.stderr().contains("is not a file; nothing was recorded"),
            "{what}: {}",
            run.stderr()
        );
    }
    assert_eq!(
        s.run(&["history", "--json"]).expect(0).json()["completions"],
        serde_json::json!([])
    );
}

#[test]
fn more_than_a_hundred_evidence_files_from_the_shell_are_refused() {
    let s = Scratch::new(crate::chain_evidence::WHEEL);
    let names: Vec<String> = (0..101).map(|i| format!("f{i}.txt")).collect();
    for n in &names {
        std::fs::write(s.file(n), n).unwrap();
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let run = done_with(&s, &refs).expect(2);
    assert!(
        run.stderr()
            .contains("101 evidence files were given; a completion may have at most 100"),
        "{}",
        run.stderr()
    );
    done_with(&s, &refs[..100]).expect(0);
    let history = s.run(&["history", "--json"]).expect(0).json();
    assert_eq!(
        history["completions"][0]["evidence"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
}

#[test]
fn export_keeps_names_that_differ_only_in_case_apart_and_windows_names_harmless() {
    let s = Scratch::new(crate::chain_evidence::WHEEL);
    std::fs::write(s.file("a.txt"), b"lille").unwrap();
    std::fs::write(s.file("A.txt"), b"STOR").unwrap();
    std::fs::write(s.file("CON"), b"enhed").unwrap();
    std::fs::write(s.file("tom.txt"), b"").unwrap();
    done_with(&s, &["a.txt", "A.txt", "CON", "tom.txt", "tom.txt"]).expect(0);
    let names: Vec<String> = s.run(&["history", "--json"]).expect(0).json()["completions"][0]
        ["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["a.txt", "A.txt", "_CON", "tom.txt", "tom (2).txt"]);
    let run = s.run(&["evidence", "export", "ud"]).expect(0);
    assert!(
        run.stdout().starts_with("exported 5 evidence files ("),
        "{}",
        run.stdout()
    );
    let dir = s.file("ud/policy-review/2027");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(
        found,
        ["A (2).txt", "_CON", "a.txt", "tom (2).txt", "tom.txt"]
    );
    assert_eq!(std::fs::read(dir.join("A (2).txt")).unwrap(), b"STOR");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(s.file("ud"))
        .output()
        .expect("sha256sum");
    assert!(check.status.success(), "{check:?}");
}

/// A small tmpfs at `dir`, or `None` (with a notice) where mounting is not
/// allowed.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("\n!!! SKIPPED: a full disk needs a tmpfs, and mount is not allowed here\n");
        }
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_export_onto_a_full_disk_fails_and_leaves_nothing_behind() {
    let s = Scratch::new(crate::chain_evidence::WHEEL);
    let small = vec![b's'; 4 * 1024];
    let big: Vec<u8> = (0..400 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(s.file("lille.bin"), &small).unwrap();
    std::fs::write(s.file("stor.bin"), &big).unwrap();
    done_with(&s, &["lille.bin", "stor.bin"]).expect(0);
    let Some(_disk) = Tmpfs::mount(&s.file("disk"), "128k") else {
        return;
    };
    let run = s.run(&["evidence", "export", "disk/ud"]).expect(1);
    assert!(
        run.stderr().contains("stor.bin: No space left on device")
            && run.stderr().contains("nothing was exported"),
        "{}",
        run.stderr()
    );
    assert!(
        !s.file("disk/ud").exists(),
        "{:?}",
        std::fs::read_dir(s.file("disk"))
            .unwrap()
            .collect::<Vec<_>>()
    );
    // An empty DIR that was there stays, empty.
    std::fs::create_dir(s.file("disk/tom")).unwrap();
    s.run(&["evidence", "export", "disk/tom"]).expect(1);
    assert_eq!(std::fs::read_dir(s.file("disk/tom")).unwrap().count(), 0);
}

#[test]
fn a_broken_chain_is_said_at_the_top_of_the_report_and_report_exits_1() {
    let s = season();
    let (rows, _) = verify_ok(&s);
    let report = |format: &str, code: i32| {
        s.run(&crate::support::fixtures::year_2027_report(
            "2027-12-31",
            format,
        ))
        .expect(code)
    };
    let fine = report("json", 0).json();
    assert_eq!(fine["chain"]["ok"], true, "{fine}");
    db(&s)
        .execute_batch(
            "DROP TRIGGER completions_never_change;
             UPDATE completions SET done_by = 'mallory' WHERE task = 'policy-review';",
        )
        .unwrap();
    let json = report("json", 1).json();
    assert_eq!(json["chain"]["ok"], false, "{json}");
    assert_eq!(json["chain"]["rows"], rows, "{json}");
    let html = report("html", 1).stdout();
    let warning = html
        .find("<div class=\"warning\" role=\"alert\"><p>Advarsel: revisionsloggens kæde er brudt.")
        .unwrap_or_else(|| panic!("no warning in\n{html}"));
    let first_table = html.find("<table").unwrap_or(html.len());
    assert!(
        warning < first_table,
        "the warning is not at the top:\n{html}"
    );
    let md = report("md", 1).stdout();
    assert!(
        md.contains("> **Advarsel: revisionsloggens kæde er brudt."),
        "{md}"
    );
    // The warning prints too: A4, no overflow, a quiet console.
    if !crate::support::browser::ready("the broken chain report's PDF") {
        return;
    }
    let file = s.file("brudt.html");
    std::fs::write(&file, &html).unwrap();
    let pdf = s.file("brudt.pdf");
    let (stdout, stderr) = crate::support::browser::node(
        "report.mjs",
        &[&file.to_string_lossy(), &pdf.to_string_lossy()],
    );
    assert!(stdout.starts_with("ok "), "{stdout}{stderr}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
}

/// `evidence export DIR` run while the database is held, so that it
/// waits after it looked at DIR; `meanwhile` changes the file system
/// then, and the database is let go.
fn export_while_held(s: &Scratch, dir: &str, meanwhile: impl FnOnce()) -> Run {
    let holder = db(s);
    holder
        .execute_batch(
            "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; SELECT count(*) FROM chain;",
        )
        .unwrap();
    let child = arshjul(s.path())
        .args(["evidence", "export", dir])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run arshjul");
    std::thread::sleep(Duration::from_millis(700));
    meanwhile();
    holder
        .execute_batch("COMMIT; PRAGMA locking_mode = NORMAL; SELECT 1;")
        .unwrap();
    drop(holder);
    Run(child.wait_with_output().unwrap())
}

#[test]
fn an_export_directory_that_appears_meanwhile_with_a_link_out_is_never_followed() {
    let s = season();
    // DIR missing when `evidence export` looked, and it appears meanwhile
    // with TASK a link elsewhere.
    let run = export_while_held(&s, "ud", || {
        std::fs::create_dir(s.file("ud")).unwrap();
        std::fs::create_dir(s.file("andetsteds")).unwrap();
        std::os::unix::fs::symlink(s.file("andetsteds"), s.file("ud/policy-review")).unwrap();
    });
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stderr()
            .contains("ud: appeared after the export began; nothing was exported"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        std::fs::read_dir(s.file("andetsteds")).unwrap().count(),
        0,
        "the export followed the link out of DIR"
    );
    // DIR there and empty; the link appears in it meanwhile.
    std::fs::create_dir(s.file("tom")).unwrap();
    let run = export_while_held(&s, "tom", || {
        std::os::unix::fs::symlink(s.file("andetsteds"), s.file("tom/policy-review")).unwrap();
    });
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stderr().contains("File exists") && run.stderr().contains("nothing was exported"),
        "{}",
        run.stderr()
    );
    assert_eq!(std::fs::read_dir(s.file("andetsteds")).unwrap().count(), 0);
}

#[test]
fn export_of_one_file_says_one_file() {
    let s = Scratch::new(crate::chain_evidence::WHEEL);
    std::fs::write(s.file("referat.txt"), b"referat").unwrap();
    done_with(&s, &["referat.txt"]).expect(0);
    let run = s.run(&["evidence", "export", "ud"]).expect(0);
    assert!(
        run.stdout()
            .starts_with("exported 1 evidence file (7 bytes) to "),
        "{}",
        run.stdout()
    );
}
