//! One e-mail per person per day (`mail.bundle`), through the real binary
//! over real SMTP and the real router: four reminders to one person on one
//! day go as one mail with four links, each completing its own task; with
//! `mail.bundle = false` four mails; a bundle recorded but not delivered is
//! sent once by the next pass, never its parts on their own.

use crate::support::fixtures::date;
use crate::support::fixtures::testkommune_wheel;
use crate::support::http;
use crate::support::mime;
use crate::support::smtp::{self, Received};
use crate::support::world::{eight_o_clock, MailWorld};

/// Chefen owns four tasks due Monday 19 July 2027, each reminded a week
/// before: Monday 12 July owes her four reminders.
pub(crate) const WHEEL: &str = testkommune_wheel!(
    r#"start = 2027-01-01

[people.chef]
name = "Centerchef Borgerservice"
email = "chef@kommune.example"

[people.anna]
name = "Anna Hansen"
email = "anna@kommune.example"

[[task]]
id = "a-policy"
title = "Gennemgang af informationssikkerhedspolitikken"
owner = "chef"
every = "year"
due = "07-19"
remind = ["7d"]

[[task]]
id = "b-risk"
title = "Risikovurdering"
owner = "chef"
every = "year"
due = "07-19"
remind = ["7d"]

[[task]]
id = "c-access"
title = "Gennemgang af adgangsrettigheder"
owner = "chef"
every = "year"
due = "07-19"
remind = ["7d"]

[[task]]
id = "d-backup"
title = "Test af genetablering fra backup"
owner = "chef"
every = "year"
due = "07-19"
remind = ["7d"]

[[task]]
id = "e-other"
title = "Anden opgave"
owner = "anna"
every = "year"
due = "07-19"
remind = ["7d"]
"#
);

/// [`WHEEL`] with two tasks of Anna's, `f-drill` and `g-audit`, due Monday
/// 5 July 2027 and escalated to chef a week later: on Monday 12 July chef
/// gets her four reminders and the two escalations, Anna copied.
pub(crate) fn with_annas_escalations() -> String {
    let mut wheel = WHEEL.to_string();
    for id in ["f-drill", "g-audit"] {
        wheel.push_str(&format!(
            "\n[[task]]\nid = \"{id}\"\ntitle = \"Opgave {id}\"\nowner = \"anna\"\n\
             every = \"year\"\ndue = \"07-05\"\n\
             escalate = [ {{ after = \"7d\", to = \"chef\" }} ]\n"
        ));
    }
    wheel
}

pub(crate) const TASKS: [&str; 4] = ["a-policy", "b-risk", "c-access", "d-backup"];

/// Every `http…/done/…` link in a text, in order.
pub(crate) fn done_links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http") && w.contains("/done/"))
        .map(str::to_string)
        .collect()
}

pub(crate) fn to_chef(received: &[Received]) -> Vec<mime::Mail> {
    received
        .iter()
        .map(|r| mime::Mail::parse(&r.data))
        .filter(|m| m.to().iter().any(|t| t.contains("chef@kommune.example")))
        .collect()
}

#[test]
fn four_reminders_to_one_person_on_one_day_go_as_one_mail_whose_links_complete_each_task() {
    let world = MailWorld::new(WHEEL).with_env("ARSHJUL_MAIL__BUNDLE", "true");
    let day = date(2027, 7, 12);
    let received = world.tick(day);
    // Anna's single reminder stays a message of its own, as today.
    assert_eq!(
        received.len(),
        2,
        "one bundle to chef, one reminder to anna"
    );
    let chef = to_chef(&received);
    assert_eq!(chef.len(), 1, "one mail to chef, not four");
    let mail = &chef[0];
    assert_eq!(mail.header_opt("X-Arshjul-Kind").as_deref(), Some("bundle"));
    assert_eq!(
        mail.header_opt("Subject").as_deref(),
        Some("4 opgaver i årshjulet for Testkommune kræver din opmærksomhed")
    );
    let thread = mail.header_opt("In-Reply-To").unwrap_or_default();
    assert!(thread.starts_with("<day.2027-07-12.chef."), "{thread}");
    let text = mail.text();
    assert!(
        text.contains("Du har 4 opgaver i årshjulet for Testkommune"),
        "{text}"
    );
    let links = done_links(&text);
    assert_eq!(links.len(), 4, "{text}");
    let html = mail.html();
    for link in &links {
        assert!(
            html.contains(&link.replace('&', "&amp;")),
            "{link} not in the HTML part"
        );
    }

    // Each link completes its own task, and only that one.
    let served = world.serve(day);
    for link in &links {
        let url = served.local(link);
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let reply = http::send(host, &http::post(path, "note=", ""));
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    drop(served);
    let history = world.run(&["history", "--json"]).expect(0).json();
    let mut done: Vec<String> = history["completions"]
        .as_array()
        .expect("completions")
        .iter()
        .map(|c| c["task"].as_str().unwrap().to_string())
        .collect();
    done.sort();
    assert_eq!(done, TASKS.to_vec(), "{history}");
    // History shows each task's message: the bundle's parts, sent.
    let notes = history["notifications"].as_array().expect("notifications");
    let mut noted: Vec<String> = notes
        .iter()
        .filter(|n| n["to"].as_str().unwrap_or_default().contains("chef@"))
        .map(|n| {
            assert_eq!(n["kind"], "reminder", "{n}");
            assert_eq!(n["state"], "sent", "{n}");
            n["task"].as_str().unwrap().to_string()
        })
        .collect();
    noted.sort();
    assert_eq!(noted, TASKS.to_vec(), "{history}");

    // A second pass that day plans none of the parts again.
    let again = world.tick_with(day, &[]);
    assert!(again.is_empty(), "{} more mails", again.len());
}

#[test]
fn with_bundle_off_four_reminders_are_four_mails() {
    let world = MailWorld::new(WHEEL).with_env("ARSHJUL_MAIL__BUNDLE", "false");
    let received = world.tick(date(2027, 7, 12));
    let chef = to_chef(&received);
    assert_eq!(chef.len(), 4);
    for m in &chef {
        assert_eq!(m.header_opt("X-Arshjul-Kind").as_deref(), Some("reminder"));
        assert_eq!(done_links(&m.text()).len(), 1);
    }
}

#[test]
fn a_bundle_recorded_but_not_delivered_is_sent_once_by_the_next_pass_never_its_parts_as_well() {
    let world = MailWorld::new(WHEEL).with_env("ARSHJUL_MAIL__BUNDLE", "true");
    // The first pass records the bundle, then cannot reach the server.
    let at = eight_o_clock(date(2027, 7, 12));
    let first = world.run_unreachable(&["tick", "--now", &at.to_rfc3339()]);
    assert!(first.code() == 0 || first.code() == 1, "{}", first.stderr());
    assert!(world.smtp.received().is_empty());

    // Later passes that day, with the server back and bundling turned
    // off meanwhile (so a pass that planned the parts again would send
    // them one by one): the bundle once, no part on its own.
    let mut back = smtp::env(world.smtp.port());
    back.push(("ARSHJUL_MAIL__BUNDLE".into(), "false".into()));
    let back: Vec<(&str, &str)> = back.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut mails = Vec::new();
    for minutes in [10, 30, 60] {
        let later = (at + chrono::Duration::minutes(minutes)).to_rfc3339();
        let run = world.scratch.run_env(&["tick", "--now", &later], &back);
        assert_eq!(run.code(), 0, "{}", run.stderr());
    }
    mails.extend(to_chef(&world.smtp.received()));
    assert_eq!(mails.len(), 1, "the bundle once");
    assert_eq!(
        mails[0].header_opt("X-Arshjul-Kind").as_deref(),
        Some("bundle")
    );
    assert_eq!(done_links(&mails[0].text()).len(), 4);
}

#[test]
fn escalations_to_the_same_to_and_cc_are_a_bundle_of_their_own_without_completion_links() {
    // Two of Anna's tasks were due a week before; their escalations reach
    // chef, with Anna copied, the same day as chef's four reminders: a
    // different recipient set, so a second bundle.
    let wheel = with_annas_escalations();
    let world = MailWorld::new(&wheel).with_env("ARSHJUL_MAIL__BUNDLE", "true");
    let chef = to_chef(&world.tick(date(2027, 7, 12)));
    assert_eq!(
        chef.len(),
        2,
        "the reminders' bundle and the escalations' bundle"
    );
    let escalations: Vec<&mime::Mail> = chef
        .iter()
        .filter(|m| m.cc().iter().any(|c| c.contains("anna@")))
        .collect();
    assert_eq!(escalations.len(), 1);
    let mail = escalations[0];
    let text = mail.text();
    assert_eq!(mail.header_opt("X-Arshjul-Kind").as_deref(), Some("bundle"));
    assert_eq!(
        mail.header_opt("Subject").as_deref(),
        Some("2 opgaver i årshjulet for Testkommune kræver din opmærksomhed"),
        "{text}"
    );
    assert_eq!(
        text.matches("Eskalering: Anna Hansen har ikke meldt opgaven udført")
            .count(),
        2,
        "{text}"
    );
    assert!(
        done_links(&text).is_empty(),
        "no completion link to the manager: {text}"
    );
}

/// One listed task as a part of a bundle shows it: its heading, the line
/// that says what it is (»Påmindelse: …«), and its facts as (label, value).
#[derive(Debug, PartialEq, Eq)]
struct Shown {
    heading: String,
    kind: String,
    facts: Vec<(String, String)>,
}

/// The tasks of a bundle's text part, in order: a line `N. title`, the
/// kind line, then `Label: value` lines up to the link.
fn shown_in_text(text: &str) -> Vec<Shown> {
    let mut items: Vec<Shown> = Vec::new();
    for line in text.lines() {
        let next = format!("{}. ", items.len() + 1);
        if line.starts_with(&next) {
            items.push(Shown {
                heading: line.to_string(),
                kind: String::new(),
                facts: Vec::new(),
            });
            continue;
        }
        let Some(item) = items.last_mut() else {
            continue;
        };
        let Some(indented) = line.strip_prefix("   ") else {
            continue;
        };
        if item.kind.is_empty() {
            item.kind = indented.to_string();
        } else if let Some((label, value)) = indented.split_once(": ") {
            if !value.starts_with("http") {
                item.facts
                    .push((label.to_string(), value.trim_start().to_string()));
            }
        }
    }
    items
}

fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text between the first `>` after `open` and the next `close`.
fn inner<'a>(html: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = html.find(open)?;
    let rest = &html[start..];
    let rest = &rest[rest.find('>')? + 1..];
    Some(&rest[..rest.find(close)?])
}

/// The same from the HTML part: each `<h2>`, the paragraph after it and
/// the rows of its facts table.
fn shown_in_html(html: &str) -> Vec<Shown> {
    html.split("<h2")
        .skip(1)
        .map(|item| {
            let item = &item[..item.find("<h2").unwrap_or(item.len())];
            let heading = unescape(&item[item.find('>').unwrap() + 1..item.find("</h2>").unwrap()]);
            let kind = unescape(inner(item, "<p", "</p>").unwrap_or_default());
            let facts = item
                .split("<tr><th")
                .skip(1)
                .map(|row| {
                    let label = inner(&format!("<th{row}"), "<th", "</th>")
                        .unwrap()
                        .to_string();
                    let value = inner(row, "<td", "</td>").unwrap().to_string();
                    (unescape(&label), unescape(&value))
                })
                .collect();
            Shown {
                heading,
                kind,
                facts,
            }
        })
        .collect()
}

/// Chef's day: four reminders, a repeat of an overdue task (with a
/// reference) and, copied to Anna, two escalations of hers. In both
/// bundles the plain-text part lists what the HTML part lists, reference
/// (»Henvisning«) included; every task says its kind the same way
/// (»Påmindelse: …«, »Overskredet: …«, »Eskalering: …«); the subject
/// names the organisation; the escalations' bundle, which has no
/// completion link, does not ask to mark tasks done one link at a time.
#[test]
fn each_task_in_a_bundle_says_its_kind_and_both_parts_say_the_same() {
    let mut wheel = WHEEL.replacen(
        "remind = [\"7d\"]",
        "remind = [\"7d\"]\nreference = \"ISO/IEC 27001:2022 A.5.1\"",
        1,
    );
    wheel.push_str(
        "\n[[task]]\nid = \"h-overdue\"\ntitle = \"Logning & overvågning\"\n\
         owner = \"chef\"\nevery = \"year\"\ndue = \"07-05\"\nremind = []\nrepeat = \"7d\"\n\
         reference = \"ISO/IEC 27001:2022 A.5.15, A.5.18\"\n",
    );
    for id in ["f-drill", "g-audit"] {
        wheel.push_str(&format!(
            "\n[[task]]\nid = \"{id}\"\ntitle = \"Opgave {id}\"\nowner = \"anna\"\n\
             every = \"year\"\ndue = \"07-05\"\nreference = \"Bekendtgørelse § {id}\"\n\
             escalate = [ {{ after = \"7d\", to = \"chef\" }} ]\n"
        ));
    }
    let world = MailWorld::new(&wheel);
    let chef = to_chef(&world.tick(date(2027, 7, 12)));
    assert_eq!(chef.len(), 2, "reminders and repeat; escalations");
    for mail in &chef {
        let text = mail.text();
        let escalations = !mail.cc().is_empty();
        let count = if escalations { 2 } else { 5 };
        assert_eq!(
            mail.header_opt("Subject").as_deref(),
            Some(
                format!("{count} opgaver i årshjulet for Testkommune kræver din opmærksomhed")
                    .as_str()
            )
        );
        let in_text = shown_in_text(&text);
        assert_eq!(in_text.len(), count, "{text}");
        assert_eq!(in_text, shown_in_html(&mail.html()), "{text}");
        for item in &in_text {
            let (label, _) = item.kind.split_once(": ").unwrap_or_default();
            let expected = if escalations {
                "Eskalering"
            } else if item.heading.contains("Logning") {
                "Overskredet"
            } else {
                "Påmindelse"
            };
            assert_eq!(label, expected, "{item:?}");
            let labels: Vec<&str> = item.facts.iter().map(|(l, _)| l.as_str()).collect();
            let with_reference = escalations
                || item.heading.contains("informationssikkerhedspolitikken")
                || item.heading.contains("Logning");
            let want: &[&str] = if with_reference {
                &["Periode", "Henvisning"]
            } else {
                &["Periode"]
            };
            assert_eq!(labels, want, "{item:?}");
        }
        let asks = text.contains("Hver opgave har sit eget link");
        assert_eq!(asks, !escalations, "{text}");
        assert!(
            text.trim_end()
                .ends_with("\n\nMed venlig hilsen\nÅrshjulet for Testkommune"),
            "{text}"
        );
    }
    let reminders = chef.iter().find(|m| m.cc().is_empty()).unwrap().text();
    assert!(
        reminders.contains(
            ". Logning & overvågning\n   \
             Overskredet: fristen var den 5. juli 2027, for 7 dage siden.\n   \
             Periode:    2027\n   \
             Henvisning: ISO/IEC 27001:2022 A.5.15, A.5.18\n"
        ),
        "{reminders}"
    );
}

/// A reminder sent after its due date (a pass after downtime, with no
/// repeat to take its place) says the date has passed, in both
/// languages and both parts, not »om -2 dage«.
#[test]
fn a_late_reminder_in_a_bundle_says_the_due_date_has_passed() {
    use arshjul::mail::{BundleSeries, Composer};
    use arshjul::planner::{self, History};
    use arshjul::settings::Settings;
    use arshjul::wheel::Language;

    use crate::support::fixtures::{ballerup, utc};

    let composer = Composer::new(&Settings::default().mail).expect("built-in templates");
    for (language, said) in [
        (
            Language::Da,
            "Påmindelse: fristen var den 1. marts 2027, for 2 dage siden.",
        ),
        (
            Language::En,
            "Reminder: it was due 1 March 2027 (2 days ago).",
        ),
    ] {
        let wheel = ballerup(language);
        let pass = planner::pass(
            &wheel,
            &History::default(),
            utc("2027-02-22T08:00:00+01:00"),
        );
        let n = pass
            .send
            .iter()
            .find(|n| n.kind == planner::Kind::Reminder && n.period == "2027")
            .expect("the 7-day reminder of 2027");
        let link = Some("https://arshjul.example/done/token");
        let bundle = composer
            .compose_bundle(
                &wheel,
                "bundle/t",
                &[(n, link), (n, link)],
                BundleSeries::one(2),
                date(2027, 3, 3),
            )
            .expect("a bundle");
        let mail = mime::Mail::parse(&bundle.raw);
        assert_eq!(mail.text().matches(said).count(), 2, "{}", mail.text());
        assert_eq!(mail.html().matches(said).count(), 2, "{}", mail.html());
    }
}
