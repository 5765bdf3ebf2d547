//! What a task owner and the coordinator see: the shipped wheel's mails,
//! delivered over SMTP by the real binary, laid out by headless Chromium
//! in a phone-wide frame (390 px): a long Danish word in a list must
//! break, not push the mail sideways.

use std::path::Path;
use std::process::Command;

use crate::support::fixtures::date;
use crate::support::mime::Mail;
use crate::support::world::MailWorld;

/// The shipped wheel, with its digest-of-the-week to the head of digital
/// services (the shipped file names no coordinator).
fn shipped_with_digest() -> String {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schedule.toml"))
        .expect("the shipped wheel");
    let with = shipped.replacen(
        "start = 2027-01-01",
        "start = 2027-01-01\ncoordinator = \"digitaliseringschef\"\ndigest = \"monday\"",
        1,
    );
    assert_ne!(with, shipped, "the shipped wheel's start line moved");
    with
}

/// `scrollWidth/clientWidth` of `html` laid out in a 390 px wide frame by
/// headless Chromium; `None` (with a notice) when Chromium is missing
/// outside CI.
fn width_at_390(html: &str, dir: &Path) -> Option<String> {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        let message = "the mail layout check needs /usr/bin/chromium";
        if std::env::var_os("CI").is_some() {
            panic!("{message}");
        }
        eprintln!("\n!!! SKIPPED: {message}\n");
        return None;
    }
    let escaped = html
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let page = format!(
        "<!DOCTYPE html><html><body style=\"margin:0\">\
         <iframe id=\"f\" style=\"width:390px;height:4000px;border:0\" srcdoc=\"{escaped}\"></iframe>\
         <script>window.addEventListener(\"load\",()=>{{const d=document.getElementById(\"f\")\
         .contentDocument.documentElement;document.body.setAttribute(\"data-width\",\
         d.scrollWidth+\"/\"+d.clientWidth)}})</script></body></html>"
    );
    let file = dir.join("frame.html");
    std::fs::write(&file, page).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = dom.find("data-width=\"").unwrap_or_else(|| {
        panic!(
            "no width measured\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    }) + "data-width=\"".len();
    Some(dom[at..].split('"').next().unwrap().to_string())
}

/// The digest of Monday 15 March 2027 lists the policy review done on
/// 10 March in bold: "Årlig gennemgang af informationssikkerhedspolitikken",
/// whose last word is wider than a list item on a phone. It breaks, and
/// the mail is as wide as the screen.
#[test]
fn the_shipped_wheels_digest_fits_a_phone() {
    let world = MailWorld::new(&shipped_with_digest());
    world
        .run(&[
            "--now",
            "2027-03-10",
            "done",
            "policy-review",
            "--period",
            "2027",
            "--at",
            "2027-03-10",
            "--by",
            "digitalisering",
        ])
        .expect(0);
    let mails = world.tick(date(2027, 3, 15));
    let digest = mails
        .iter()
        .map(|r| Mail::parse(&r.data))
        .find(|m| m.header("Subject").contains("ugens overblik"))
        .expect("the digest of week 11");
    let html = digest.html();
    assert!(
        html.contains("<strong>Årlig gennemgang af informationssikkerhedspolitikken</strong>"),
        "{html}"
    );
    if let Some(width) = width_at_390(&html, world.scratch.path()) {
        assert_eq!(width, "390/390", "the digest scrolls sideways at 390 px");
    }
}
