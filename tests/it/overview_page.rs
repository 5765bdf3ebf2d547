//! The overview page: `arshjul link overview`, `GET /overview/{token}` on
//! the real router (the wheel, the status table, the next 60 days; forged,
//! revoked and unknown tokens 404), the overview link in escalation mails
//! over real SMTP (only when every recipient may see it), and headless
//! Chromium at 390 and 1280 px (tests/browser/axe.mjs --overview).

use chrono::{DateTime, Utc};

use crate::support::fixtures::date;
use crate::support::fixtures::testkommune_wheel;
use crate::support::world::MailWorld;
use crate::support::{browser, mime, router, Scratch};

const SHIPPED: &str = include_str!("../../schedule.toml");

/// The shipped wheel with the policy review done on 5 March 2027 and the
/// link for the digitalisation chief printed.
fn shipped_with_link() -> (Scratch, String) {
    let s = Scratch::new(SHIPPED);
    s.run(&["--now", "2027-03-05", "tick"]).expect(0);
    s.run(&[
        "--now",
        "2027-03-05T10:00:00+01:00",
        "done",
        "policy-review",
        "--by",
        "digitalisering@ballerup.example",
    ])
    .expect(0);
    let url = s
        .run(&["link", "overview", "--for", "digitaliseringschef"])
        .expect(0)
        .stdout();
    (s, url)
}

#[test]
fn the_overview_shows_the_wheel_each_tasks_state_and_the_next_60_days() {
    let (s, url) = shipped_with_link();
    assert!(url.starts_with("http://127.0.0.1:8080/overview/"), "{url}");
    let now: DateTime<Utc> = "2027-05-10T10:00:00Z".parse().unwrap();
    let rt = router::runtime();
    let served = router::serve(&rt, s.path(), now);
    let reply = served.get_printed(&url);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let page = reply.body;
    assert!(
        page.starts_with("<!DOCTYPE html>\n<html lang=\"da\">"),
        "{page}"
    );
    assert!(page.contains("<h1>Årshjulet for Ballerup Kommune</h1>"));
    assert!(page.contains("Oversigt for Digitaliseringschefen pr. 10. maj 2027."));
    // The wheel, inline, with its title for screen readers; no script.
    assert!(page.contains("<svg"), "{page}");
    assert!(page.contains("id=\"wheel-title\""));
    assert!(!page.contains("<script"));
    // Every task of the wheel has a row.
    let wheel = arshjul::wheel::parse(SHIPPED, "schedule.toml").unwrap();
    for task in &wheel.tasks {
        let row = format!("<tr><th scope=\"row\">{}</th>", task.title);
        assert!(page.contains(&row), "{row} missing");
    }
    // The policy review: done by its owner (named, not the address); its
    // next occurrence upcoming.
    let review = page
        .split("<tr>")
        .find(|r| r.contains("Årlig gennemgang af informationssikkerhedspolitikken</th>"))
        .unwrap();
    assert!(
        review.contains("2027: 5. marts 2027 af Digitalisering og Forretningsudvikling"),
        "{review}"
    );
    assert!(review.contains("○\u{a0}Kommende"), "{review}");
    assert!(
        review.contains("<td data-label=\"Ansvarlig\">Digitalisering og Forretningsudvikling</td>")
    );
    // Something is overdue on 10 May (the first reminders went out in
    // March and nothing else was done), said in words.
    assert!(page.contains("⚠\u{a0}Overskredet med "), "{page}");
    // The next 60 days: 10 May to 9 July 2027.
    let next = &page[page.find("<h2 id=\"next\">De næste 60 dage</h2>").unwrap()..];
    let plan = s
        .run(&[
            "plan",
            "--from",
            "2027-05-10",
            "--to",
            "2027-07-09",
            "--json",
        ])
        .expect(0)
        .json();
    let due: Vec<&serde_json::Value> = plan["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "due")
        .collect();
    assert!(!due.is_empty());
    assert_eq!(
        next.matches("<tr><th scope=\"row\"").count(),
        due.len(),
        "{next}"
    );
    for e in due {
        let task = wheel.task(e["task"].as_str().unwrap()).unwrap();
        assert!(next.contains(&task.title), "{} missing", task.title);
    }
    assert!(!next.contains("5. marts 2027"));

    // English wheel: English texts.
    let en = SHIPPED.replace("language = \"da\"", "language = \"en\"");
    assert_ne!(en, SHIPPED);
    std::fs::write(s.file("schedule.toml"), en).unwrap();
    let served = router::serve(&rt, s.path(), now);
    let page = served.get_printed(&url).body;
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("<h2 id=\"next\">The next 60 days</h2>"));
    assert!(page.contains("○\u{a0}Upcoming"));
}

#[test]
fn a_forged_revoked_or_foreign_overview_token_is_the_404_page() {
    let (s, url) = shipped_with_link();
    let now: DateTime<Utc> = "2027-05-10T10:00:00Z".parse().unwrap();
    let rt = router::runtime();
    let served = router::serve(&rt, s.path(), now);
    let path = router::path_of(&url);
    assert_eq!(served.get(&path).status, 200);

    let token = path.trim_start_matches("/overview/");
    let mut forged: Vec<char> = token.chars().collect();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    // A calendar token (same key, other kind) opens no overview.
    let calendar = s
        .run(&["link", "calendar", "--for", "digitaliseringschef"])
        .expect(0)
        .stdout();
    let calendar = calendar
        .trim()
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches(".ics")
        .to_string();
    for bad in [
        format!("/overview/{forged}"),
        format!("/overview/{}", &token[..token.len() - 4]),
        format!("/overview/{calendar}"),
        "/overview/x".to_string(),
    ] {
        let reply = served.get(&bad);
        assert_eq!(reply.status, 404, "{bad}");
        assert!(reply.body.contains("<h1>"), "{}", reply.body);
    }

    // Revoked: the old link is 404, the new one works; another person's
    // link is untouched.
    let other = s
        .run(&["link", "overview", "--for", "kommunaldirektoer"])
        .expect(0)
        .stdout();
    let fresh = s
        .run(&[
            "link",
            "overview",
            "--for",
            "digitaliseringschef",
            "--revoke",
        ])
        .expect(0);
    assert!(
        fresh.stderr().contains("no longer work"),
        "{}",
        fresh.stderr()
    );
    let fresh = fresh.stdout();
    assert_ne!(fresh, url);
    assert_eq!(served.get(&path).status, 404);
    assert_eq!(served.get_printed(&fresh).status, 200);
    assert_eq!(served.get_printed(&other).status, 200);

    // A person taken out of the wheel: their link is 404.
    let without = SHIPPED.replace(
        "[people.kommunaldirektoer]",
        "[people.kommunaldirektoer-ny]",
    );
    let without = without.replace(
        "to = \"kommunaldirektoer\"",
        "to = \"kommunaldirektoer-ny\"",
    );
    std::fs::write(s.file("schedule.toml"), without).unwrap();
    let served = router::serve(&rt, s.path(), now);
    assert_eq!(served.get_printed(&other).status, 404);
}

#[test]
fn link_overview_needs_a_known_person() {
    let s = Scratch::new(SHIPPED);
    let run = s.run(&["link", "overview", "--for", "nobody"]).expect(2);
    assert!(
        run.stderr().contains("--for \"nobody\""),
        "{}",
        run.stderr()
    );
    s.run(&["link", "overview"]).expect(2);
}

/// Anna owns the review and escalates to the chief; the chief owns the
/// budget and escalates to the director. The chief and the director are
/// in escalation chains, Anna is not.
const CHAIN: &str = testkommune_wheel!(
    r#"start = 2027-01-01

[people.anna]
name = "Anna Hansen"
email = "anna@kommune.example"

[people.chef]
name = "Chefen"
email = "chef@kommune.example"
greeting = ""

[people.direktor]
name = "Direktøren"
email = "direktor@kommune.example"
greeting = ""

[[task]]
id = "review"
title = "Gennemgang af politikken"
owner = "anna"
every = "year"
due = "07-12"
remind = []
repeat = "0d"
escalate = [ { after = "7d", to = "chef" } ]

[[task]]
id = "budget"
title = "Budget for informationssikkerhed"
owner = "chef"
every = "year"
due = "07-12"
remind = []
repeat = "0d"
escalate = [ { after = "7d", to = "direktor" } ]
"#
);

#[test]
fn an_escalation_carries_a_working_overview_link_only_when_every_recipient_may_see_it() {
    let world = MailWorld::new(CHAIN);
    let mails: Vec<mime::Mail> = world
        .tick(date(2027, 7, 19))
        .iter()
        .map(|r| mime::Mail::parse(&r.data))
        .collect();
    assert_eq!(mails.len(), 2);
    let of = |task: &str| {
        mails
            .iter()
            .find(|m| m.header("X-Arshjul-Task") == task)
            .unwrap()
    };
    // To the director, copying the chief: both in chains, so the link.
    let budget = of("budget");
    assert_eq!(budget.header("X-Arshjul-Kind"), "escalation");
    let text = budget.text();
    let html = budget.html();
    let url = text
        .lines()
        .find(|l| l.contains("/overview/"))
        .unwrap_or_else(|| panic!("no overview link in:\n{text}"))
        .trim()
        .to_string();
    assert!(
        text.contains("Oversigten over hele årshjulet viser alle opgaver"),
        "{text}"
    );
    assert!(html.contains(&format!("<a href=\"{url}\"")), "{html}");
    assert!(html.contains("Se oversigten over årshjulet</a>"), "{html}");
    // To the chief, copying Anna (an owner in no chain): no link, since
    // the one message reaches her too.
    let review = of("review");
    assert!(!review.text().contains("/overview/"), "{}", review.text());
    assert!(!review.html().contains("/overview/"));

    // The link opens the director's overview.
    let served = world.serve(date(2027, 7, 20));
    let reply = served.get_printed(&url);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.contains("Oversigt for Direktøren"),
        "{}",
        reply.body
    );
    // Revoked, it stops working.
    world
        .run(&["link", "overview", "--for", "direktor", "--revoke"])
        .expect(0);
    assert_eq!(served.get_printed(&url).status, 404);
}

/// axe-core finds no serious or critical violation on the overview at 390
/// and 1280 px, it does not scroll sideways and logs no console error.
#[test]
fn the_overview_has_no_overflow_no_console_error_and_no_serious_axe_violation() {
    if !browser::ready("the overview browser test") {
        return;
    }
    let (s, url) = shipped_with_link();
    let now: DateTime<Utc> = "2027-05-10T10:00:00Z".parse().unwrap();
    let rt = router::runtime();
    let served = router::serve(&rt, s.path(), now);
    let url = format!("http://{}{}", served.addr, router::path_of(&url));
    let (stdout, _) = browser::node("axe.mjs", &["--overview", &url]);
    for width in [390, 1280] {
        let line = format!("checked the overview at {width} px");
        assert!(stdout.contains(&line), "{line:?} missing in:\n{stdout}");
    }
}

#[test]
fn the_english_escalation_carries_the_overview_button_and_the_rule_is_the_planners() {
    use arshjul::mail::Composer;
    use arshjul::planner::{self, History, Kind};
    let text = CHAIN.replace("language = \"da\"", "language = \"en\"");
    let w = arshjul::wheel::parse(&text, "schedule.toml").unwrap();
    let now: DateTime<Utc> = "2027-07-19T06:00:00Z".parse().unwrap();
    let send = planner::pass(&w, &History::default(), now).send;
    let of = |task: &str| {
        send.iter()
            .find(|n| n.task == task && n.kind == Kind::Escalation)
            .unwrap()
    };
    // The director's copy goes to the chief: both in chains.
    assert_eq!(planner::overview_reader(&w, of("budget")), Some("direktor"));
    // The chief's copies Anna, who is in none.
    assert_eq!(planner::overview_reader(&w, of("review")), None);
    // With Anna as the coordinator, she may: the chief gets the link.
    let with = text.replace(
        "start = 2027-01-01",
        "start = 2027-01-01\ncoordinator = \"anna\"",
    );
    let w2 = arshjul::wheel::parse(&with, "schedule.toml").unwrap();
    assert_eq!(planner::overview_reader(&w2, of("review")), Some("chef"));

    let mut settings = arshjul::settings::Settings::default().mail;
    settings.from = "arshjul@kommune.example".into();
    let composer = Composer::new(&settings).unwrap();
    let url = "https://arshjul.example/overview/abc";
    let n = of("budget");
    let composed = composer.compose(&w, n, Some(url), n.date).unwrap();
    let mail = mime::Mail::parse(&composed.raw);
    let text = mail.text();
    assert!(
        text.contains(&format!(
            "The overview of the whole wheel shows every task, who has it and how it stands (the link is personal, so do not pass it on):\n{url}"
        )),
        "{text}"
    );
    let html = mail.html();
    assert!(html.contains("See the overview of the wheel</a>"), "{html}");
    assert!(!html.contains("/done/"), "{html}");
    let composed = composer.compose(&w, n, None, n.date).unwrap();
    assert!(!mime::Mail::parse(&composed.raw)
        .text()
        .contains("overview of the whole wheel"));
}
