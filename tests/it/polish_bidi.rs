//! Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE and the like)
//! never reach what people read: `check` refuses them in every wheel text
//! and in the sender's name, at their `file:line:col` with exit 2, while
//! natural right-to-left text (Arabic, Hebrew) passes and is mailed as
//! written; a template that writes one into a subject is refused at start;
//! and the composer builds no subject that holds one.

use arshjul::calendar::Calendar;
use arshjul::mail::{BundleSeries, Composer};
use arshjul::planner::{self, History};
use arshjul::settings::Settings;
use arshjul::wheel::{parse, Language};

use crate::support::fixtures::{ballerup, date, utc};
use crate::support::mime::Mail;
use crate::support::world::MailWorld;
use crate::support::Scratch;

/// Every bidirectional control, with its Unicode name as `check` says it.
const CONTROLS: [(char, &str); 12] = [
    ('\u{061C}', "U+061C ARABIC LETTER MARK"),
    ('\u{200E}', "U+200E LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "U+200F RIGHT-TO-LEFT MARK"),
    ('\u{202A}', "U+202A LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "U+202B RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "U+202C POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "U+202D LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2066}', "U+2066 LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "U+2067 RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "U+2068 FIRST STRONG ISOLATE"),
    ('\u{2069}', "U+2069 POP DIRECTIONAL ISOLATE"),
];

fn is_bidi_control(c: char) -> bool {
    CONTROLS.iter().any(|(b, _)| *b == c)
}

/// A wheel whose texts people read are all in known places (line numbers
/// in the comments); `{x}` in a value is replaced by the text under test.
const WHEEL: &str = r#"[organisation]
name = "Testkommune{org}"
timezone = "Europe/Copenhagen"
language = "da"
start = 2027-01-01

[people.chef]
name = "Chefen{name}"
email = "chef@kommune.example"
greeting = "Kære chef{greeting}"

[[task]]
id = "policy-review"
title = "Godkendelse af budget{title}"
owner = "chef"
every = "year"
due = "03-01"
category = "Økonomi{category}"
reference = "Styrelsesloven § 40{reference}"
description = "Budgettet godkendes.{description}"
"#;

/// The wheel with `text` in the field `field` (`org`, `name`, …) and
/// every other field as written.
fn wheel_with(field: &str, text: &str) -> String {
    let mut source = WHEEL.replace(&format!("{{{field}}}"), text);
    for other in [
        "org",
        "name",
        "greeting",
        "title",
        "category",
        "reference",
        "description",
    ] {
        source = source.replace(&format!("{{{other}}}"), "");
    }
    source
}

#[test]
fn a_right_to_left_override_in_a_title_is_refused_at_its_line_and_column() {
    // Written as the character itself and as a TOML escape: the same text.
    for written in ["\u{202E}tegdub", "\\u202Etegdub"] {
        let s = Scratch::new(&wheel_with("title", written));
        let run = s.run(&["check"]).expect(2);
        assert_eq!(
            run.stderr().lines().next().unwrap_or(""),
            "schedule.toml:14:9: task \"policy-review\": the title contains \
             U+202E RIGHT-TO-LEFT OVERRIDE, which changes the order text is shown in; \
             right-to-left text (Arabic, Hebrew) needs no such character",
            "{written:?}"
        );
        assert!(
            s.run(&["tick", "--now", "2027-02-22T08:00:00+01:00"])
                .code()
                == 2
        );
        assert!(!s.file("outbox").exists(), "tick wrote mail");
    }
}

#[test]
fn a_right_to_left_isolate_in_a_persons_name_is_refused() {
    let s = Scratch::new(&wheel_with("name", "\u{2067}"));
    let run = s.run(&["check"]).expect(2);
    assert_eq!(
        run.stderr().lines().next().unwrap_or(""),
        "schedule.toml:8:8: person \"chef\": the name contains \
         U+2067 RIGHT-TO-LEFT ISOLATE, which changes the order text is shown in; \
         right-to-left text (Arabic, Hebrew) needs no such character"
    );
}

/// Each of the twelve controls in each text that people read is refused at
/// that text's place, naming the character.
#[test]
fn every_bidi_control_is_refused_in_every_text_people_read() {
    let places = [
        ("org", "schedule.toml:2:8: the organisation name contains"),
        (
            "name",
            "schedule.toml:8:8: person \"chef\": the name contains",
        ),
        (
            "greeting",
            "schedule.toml:10:12: person \"chef\": the greeting contains",
        ),
        (
            "title",
            "schedule.toml:14:9: task \"policy-review\": the title contains",
        ),
        (
            "category",
            "schedule.toml:18:12: task \"policy-review\": the category contains",
        ),
        (
            "reference",
            "schedule.toml:19:13: task \"policy-review\": the reference contains",
        ),
        (
            "description",
            "schedule.toml:20:15: task \"policy-review\": the description contains",
        ),
    ];
    for (field, start) in places {
        for (c, name) in CONTROLS {
            let source = wheel_with(field, &format!("x{c}y"));
            let errors = match parse(&source, "schedule.toml") {
                Ok(_) => panic!("{field} with {name} was accepted"),
                Err(errors) => errors.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
            };
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].starts_with(&format!("{start} {name}, which changes")),
                "{field}, {name}: {}",
                errors[0]
            );
        }
    }
}

/// Arabic and Hebrew, as written without any control, pass `check` and
/// reach the reminder's subject and body as written.
#[test]
fn natural_right_to_left_text_is_accepted_and_mailed_as_written() {
    let arabic = "مراجعة سياسة أمن المعلومات";
    let hebrew = "בדיקת גיבוי";
    let source = wheel_with("title", &format!(" – {arabic}"))
        .replace("Chefen", &format!("Chefen {hebrew}"))
        .replace("due = \"03-01\"", "due = \"03-01\"\nremind = [\"7d\"]");
    let world = MailWorld::new(&source).with_env("ARSHJUL_MAIL__BUNDLE", "false");
    world.run(&["check"]).expect(0);
    let received = world.tick(date(2027, 2, 22));
    assert_eq!(received.len(), 1);
    let mail = Mail::parse(&received[0].data);
    let subject = mail.header_opt("Subject").unwrap_or_default();
    assert_eq!(
        subject,
        format!("Påmindelse: Godkendelse af budget – {arabic} – frist 1. marts 2027")
    );
    assert!(!subject.chars().any(is_bidi_control), "{subject:?}");
    assert!(mail.text().contains(arabic), "{}", mail.text());
    assert!(mail.html().contains(arabic));
    assert!(
        mail.header_opt("To").unwrap_or_default().contains(hebrew),
        "{:?}",
        mail.header_opt("To")
    );
}

/// The sender's name and the completion links' start reach every mail:
/// the same rule.
#[test]
fn a_bidi_control_in_the_senders_name_or_the_public_url_is_refused() {
    let s = Scratch::new(&wheel_with("title", ""));
    let cases = [
        (
            "[mail]\nfrom = \"Årshjulet \u{202E}lkn <arshjul@kommune.example>\"\n",
            '\u{202E}',
            "arshjul.toml:2:8: mail.from: cannot be the sender ",
            "it contains U+202E RIGHT-TO-LEFT OVERRIDE, which changes the order text is \
             shown in; right-to-left text (Arabic, Hebrew) needs no such character",
        ),
        (
            "public_url = \"https://arshjul.kommune.example/\u{2066}x\"\n",
            '\u{2066}',
            "arshjul.toml:1:14: public_url: must be a URL without",
            "(it contains U+2066 LEFT-TO-RIGHT ISOLATE)",
        ),
    ];
    for (settings, control, starts, ends) in cases {
        std::fs::write(s.file("arshjul.toml"), settings).unwrap();
        let run = s.run(&["check"]).expect(2);
        let first = run.stderr().lines().next().unwrap_or("").to_string();
        assert!(first.starts_with(starts), "{settings:?}: {first}");
        assert!(first.ends_with(ends), "{settings:?}: {first}");
        assert!(
            !first.contains(control),
            "{settings:?}: the value is shown escaped: {first}"
        );
    }
}

/// A subject template that writes an override itself is refused when the
/// templates are loaded (`check`, exit 2), naming the file and the
/// character, rather than failing every message it would write.
#[test]
fn a_subject_template_holding_an_override_is_refused_at_start() {
    let s = Scratch::new(&wheel_with("title", ""));
    let dir = s.file("templates");
    std::fs::create_dir_all(dir.join("da")).unwrap();
    std::fs::write(
        dir.join("da/bundle.subject.txt"),
        "\u{202E}{{ count }} opgaver\n",
    )
    .unwrap();
    let run = s
        .run_env(
            &["check"],
            &[("ARSHJUL_MAIL__TEMPLATES", dir.to_str().unwrap())],
        )
        .expect(2);
    let err = run.stderr();
    assert!(
        err.contains("da/bundle.subject.txt: the subject contains U+202E RIGHT-TO-LEFT OVERRIDE"),
        "{err}"
    );
}

/// The composer checks what it builds, whatever it was given: a wheel
/// built in code with an override in the title or the organisation's
/// name (never accepted by `check`) gives an error for that message, not
/// a subject with the override in it.
#[test]
fn no_subject_is_built_with_a_bidi_control_in_it() {
    let composer = Composer::new(&Settings::default().mail).expect("built-in templates");
    let now = utc("2027-02-22T08:00:00+01:00");
    let link = "https://arshjul.example/done/token";
    for (c, name) in CONTROLS {
        // A title is in every single message's subject.
        let mut wheel = ballerup(Language::Da);
        wheel.tasks[0].title.push(c);
        let pass = planner::pass(&wheel, &History::default(), now);
        let today = Calendar::new(&wheel.organisation).local_date(&now);
        assert!(!pass.send.is_empty(), "nothing to compose");
        for n in &pass.send {
            match composer.compose(&wheel, n, Some(link), today) {
                Ok(m) => panic!("a title with {name}: built {:?}", m.subject),
                Err(e) => assert!(e.to_string().contains(name), "{e}"),
            }
        }
        // The organisation's name is in a bundle's subject.
        let mut wheel = ballerup(Language::Da);
        wheel.organisation.name.push(c);
        let n = &pass.send[0];
        let parts = [(n, Some(link)), (n, Some(link))];
        match composer.compose_bundle(&wheel, "bundle/t", &parts, BundleSeries::one(2), today) {
            Ok(m) => panic!("an organisation with {name}: built {:?}", m.subject),
            Err(e) => assert!(e.to_string().contains(name), "{e}"),
        }
    }
}
