//! Calendar feeds: `arshjul calendar`, `arshjul link calendar` and `GET
//! /calendar/{token}.ics`, read back with a real iCalendar parser (`ical`).

use std::collections::{BTreeMap, BTreeSet};

use arshjul::wheel::{Anchor, Wheel};
use chrono::{DateTime, Utc};

use crate::support::{router, Scratch};

const SHIPPED: &str = include_str!("../../schedule.toml");
const NOW: &str = "2027-05-10";

fn shipped() -> Wheel {
    arshjul::wheel::parse(SHIPPED, "schedule.toml").unwrap()
}

/// A property's parameters: (name, values).
type Params = Vec<(String, Vec<String>)>;
/// An event's properties by name: (value as written, unfolded; parameters).
type Event = BTreeMap<String, (String, Params)>;

/// Each event of the one calendar in `ics`.
fn events(ics: &str) -> Vec<Event> {
    let mut parser = ical::IcalParser::new(std::io::BufReader::new(ics.as_bytes()));
    let calendar = parser
        .next()
        .expect("one calendar")
        .unwrap_or_else(|e| panic!("not iCalendar ({e}):\n{ics}"));
    assert!(parser.next().is_none(), "one calendar only");
    calendar
        .events
        .into_iter()
        .map(|e| {
            e.properties
                .into_iter()
                .map(|p| {
                    (
                        p.name,
                        (p.value.unwrap_or_default(), p.params.unwrap_or_default()),
                    )
                })
                .collect()
        })
        .collect()
}

fn uids(ics: &str) -> BTreeSet<String> {
    events(ics)
        .into_iter()
        .map(|e| e["UID"].0.clone())
        .collect()
}

/// The due dates (task, YYYY-MM-DD) `plan` lists in the feed's window for
/// the fixed tasks `keep` accepts.
fn planned(s: &Scratch, wheel: &Wheel, keep: impl Fn(&str) -> bool) -> BTreeSet<(String, String)> {
    let plan = s
        .run(&[
            "plan",
            "--from",
            "2026-05-10",
            "--to",
            "2029-05-10",
            "--json",
        ])
        .expect(0)
        .json();
    plan["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "due")
        .map(|e| {
            (
                e["task"].as_str().unwrap().to_string(),
                e["due"].as_str().unwrap().replace('-', ""),
            )
        })
        .filter(|(t, _)| keep(t) && wheel.task(t).unwrap().anchor == Anchor::Fixed)
        .collect()
}

fn task_and_day(ics: &str) -> BTreeSet<(String, String)> {
    events(ics)
        .into_iter()
        .map(|e| {
            let uid = &e["UID"].0;
            (
                uid.split('/').next().unwrap().to_string(),
                e["DTSTART"].0.clone(),
            )
        })
        .collect()
}

#[test]
fn each_persons_feed_has_exactly_their_occurrences_in_the_window() {
    let s = Scratch::new(SHIPPED);
    let wheel = shipped();
    for key in wheel.people.keys() {
        let ics = s
            .run(&["--now", NOW, "calendar", "--person", key])
            .expect(0)
            .stdout();
        let owned = |t: &str| wheel.task(t).unwrap().owners.contains(key);
        let got = task_and_day(&ics);
        let fixed: BTreeSet<_> = got
            .iter()
            .filter(|(t, _)| wheel.task(t).unwrap().anchor == Anchor::Fixed)
            .cloned()
            .collect();
        assert_eq!(fixed, planned(&s, &wheel, owned), "{key}");
        // A task anchored on completion: its one current occurrence.
        for task in wheel
            .tasks
            .iter()
            .filter(|t| t.anchor == Anchor::Completion)
        {
            let n = got.iter().filter(|(t, _)| *t == task.id).count();
            assert_eq!(n, usize::from(owned(&task.id)), "{key}: {}", task.id);
        }
    }
    // The organisation's feed: every task's.
    let ics = s.run(&["--now", NOW, "calendar"]).expect(0).stdout();
    let got = task_and_day(&ics);
    let fixed: BTreeSet<_> = got
        .iter()
        .filter(|(t, _)| wheel.task(t).unwrap().anchor == Anchor::Fixed)
        .cloned()
        .collect();
    assert_eq!(fixed, planned(&s, &wheel, |_| true));
    assert!(got.contains(&("contingency-plan-review".into(), "20270501".into())));
}

#[test]
fn a_feed_is_well_formed_icalendar_with_all_day_events_and_the_right_texts() {
    let s = Scratch::new(SHIPPED);
    let ics = s
        .run(&["--now", NOW, "calendar", "--person", "digitalisering"])
        .expect(0)
        .stdout();
    // CRLF everywhere, no line over 75 octets.
    assert!(ics.ends_with("END:VCALENDAR\r\n"));
    for line in ics.split("\r\n") {
        assert!(!line.contains('\n'), "a bare LF: {line:?}");
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    assert!(ics.contains("\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n"));
    assert!(ics.contains("\r\nX-PUBLISHED-TTL:PT1H\r\n"));
    let unfolded = ics.replace("\r\n ", "");
    assert!(unfolded.contains(
        "\r\nX-WR-CALNAME:Årshjul — Digitalisering og Forretningsudvikling — Ballerup Kommune\r\n"
    ));
    let events = events(&ics);
    let review = events
        .iter()
        .find(|e| e["UID"].0 == "policy-review/2027@Ballerup%20Kommune")
        .expect("policy-review 2027");
    assert_eq!(review["DTSTART"].0, "20270301");
    assert_eq!(review["DTEND"].0, "20270302");
    assert_eq!(
        review["DTSTART"].1,
        vec![("VALUE".to_string(), vec!["DATE".to_string()])]
    );
    // Overdue on 10 May: said so, with a completion link.
    assert_eq!(
        review["SUMMARY"].0,
        "! Årlig gennemgang af informationssikkerhedspolitikken (overskredet)"
    );
    let desc = &review["DESCRIPTION"].0;
    assert!(
        desc.contains(
            "Status: overskredet\\nFrist: 1. marts 2027\\nPeriode: 2027\\nAnsvarlig: Digitalisering og Forretningsudvikling\\n"
        ),
        "{desc}"
    );
    // The mails' words: "Henvisning", "Markér opgaven som udført" (no
    // English "Reference" in a Danish feed).
    assert!(
        desc.contains("\\nHenvisning: ISO/IEC 27001:2022 5.2\\, A.5.1\\n"),
        "{desc}"
    );
    assert!(
        desc.contains("Markér opgaven som udført: http://127.0.0.1:8080/done/"),
        "{desc}"
    );
    // Commas and semicolons in the description are escaped.
    assert!(desc.contains("\\,"), "{desc}");
    // Upcoming occurrences carry no link.
    let next = events
        .iter()
        .find(|e| e["UID"].0 == "policy-review/2028@Ballerup%20Kommune")
        .expect("policy-review 2028");
    assert_eq!(
        next["SUMMARY"].0,
        "Årlig gennemgang af informationssikkerhedspolitikken"
    );
    assert!(!next["DESCRIPTION"].0.contains("/done/"));
    // An hour later the same day: the same events, links included (only
    // the time stamp differs), so an hourly fetch changes nothing.
    let later = s
        .run(&[
            "--now",
            "2027-05-10T13:00:00+02:00",
            "calendar",
            "--person",
            "digitalisering",
        ])
        .expect(0)
        .stdout();
    let strip = |ics: &str| {
        ics.replace("\r\n ", "")
            .lines()
            .filter(|l| !l.starts_with("DTSTAMP:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&ics), strip(&later));
    // The organisation's feed carries no completion link at all.
    let org = s.run(&["--now", NOW, "calendar"]).expect(0).stdout();
    assert!(!org.contains("/done/"));
    assert!(org.contains("overskredet"));
}

#[test]
fn a_done_occurrence_is_marked_done() {
    let s = Scratch::new(SHIPPED);
    s.run(&["--now", "2027-03-05", "tick"]).expect(0);
    s.run(&[
        "--now",
        "2027-03-05",
        "done",
        "policy-review",
        "--by",
        "Anna",
    ])
    .expect(0);
    let out = s.file("feed.ics");
    s.run(&[
        "--now",
        NOW,
        "calendar",
        "--person",
        "digitalisering",
        "--out",
        out.to_str().unwrap(),
    ])
    .expect(0);
    let ics = std::fs::read_to_string(out).unwrap();
    let review = events(&ics)
        .into_iter()
        .find(|e| e["UID"].0 == "policy-review/2027@Ballerup%20Kommune")
        .unwrap();
    assert_eq!(
        review["SUMMARY"].0,
        "✓ Årlig gennemgang af informationssikkerhedspolitikken (udført)"
    );
    assert!(!review["DESCRIPTION"].0.contains("/done/"));
}

#[test]
fn an_unknown_person_is_bad_input() {
    let s = Scratch::new(SHIPPED);
    let run = s.run(&["calendar", "--person", "nobody"]).expect(2);
    assert!(
        run.stderr().contains("--person \"nobody\""),
        "{}",
        run.stderr()
    );
    let run = s.run(&["link", "calendar", "--for", "nobody"]).expect(2);
    assert!(
        run.stderr().contains("--for \"nobody\""),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_route_serves_the_feed_stably_and_a_forged_or_revoked_token_is_404() {
    let s = Scratch::new(SHIPPED);
    s.run(&["--now", "2027-03-05", "tick"]).expect(0);
    let url = s
        .run(&["link", "calendar", "--for", "digitalisering"])
        .expect(0)
        .stdout();
    assert!(
        url.starts_with("http://127.0.0.1:8080/calendar/") && url.trim_end().ends_with(".ics"),
        "{url}"
    );
    let org = s.run(&["link", "calendar"]).expect(0).stdout();
    assert_ne!(url, org);
    let now: DateTime<Utc> = "2027-05-10T10:00:00Z".parse().unwrap();
    let rt = router::runtime();
    let served = router::serve(&rt, s.path(), now);
    let path = router::path_of(&url);

    let first = served.get(&path);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    let second = served.get(&path);
    assert_eq!(uids(&first.body), uids(&second.body));
    assert!(uids(&first.body).contains("policy-review/2027@Ballerup%20Kommune"));
    // The person's feed over HTTP has the links, to the configured public URL.
    // (Unfolded: a line of the feed is folded at 75 octets, wherever the
    // link falls.)
    assert!(first
        .body
        .replace("\r\n ", "")
        .contains("https://arshjul.example/done/"));
    // The CLI's feed and the route's have the same events.
    let cli = s
        .run(&[
            "--now",
            "2027-05-10T10:00:00Z",
            "calendar",
            "--person",
            "digitalisering",
        ])
        .expect(0)
        .stdout();
    assert_eq!(uids(&cli), uids(&first.body));
    let org_reply = served.get_printed(&org);
    assert_eq!(org_reply.status, 200);
    assert!(!org_reply.body.contains("/done/"));
    assert!(uids(&org_reply.body).len() > uids(&first.body).len());

    // Forged, truncated, without .ics, or a completion token: 404.
    let token = path
        .trim_start_matches("/calendar/")
        .trim_end_matches(".ics");
    let mut forged: Vec<char> = token.chars().collect();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    for bad in [
        format!("/calendar/{forged}.ics"),
        format!("/calendar/{}.ics", &token[..token.len() - 4]),
        format!("/calendar/{token}"),
        "/calendar/x.ics".to_string(),
    ] {
        let reply = served.get(&bad);
        assert_eq!(reply.status, 404, "{bad}");
    }

    // Revoked: the old URL stops working, the new one works.
    let fresh = s
        .run(&["link", "calendar", "--for", "digitalisering", "--revoke"])
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
    // Printing it again gives a URL that works too (same version).
    let again = s
        .run(&["link", "calendar", "--for", "digitalisering"])
        .expect(0)
        .stdout();
    assert_eq!(served.get_printed(&again).status, 200);
    // The organisation's feed was not revoked.
    assert_eq!(served.get_printed(&org).status, 200);
}

#[test]
fn a_person_who_owns_nothing_gets_an_empty_feed_and_one_removed_from_the_wheel_a_404() {
    let extra =
        "\n[people.ekstra]\nname = \"Ekstra Person\"\nemail = \"ekstra@ballerup.example\"\n";
    let schedule = SHIPPED.replacen("\n[[task]]", &format!("{extra}\n[[task]]"), 1);
    assert_ne!(schedule, SHIPPED);
    let s = Scratch::new(&schedule);
    s.run(&["--now", "2027-03-05", "tick"]).expect(0);
    // Owns nothing: a valid calendar without events, from the CLI and the route.
    let cli = s
        .run(&["--now", NOW, "calendar", "--person", "ekstra"])
        .expect(0)
        .stdout();
    assert!(events(&cli).is_empty(), "{cli}");
    assert!(cli.contains("X-WR-CALNAME:Årshjul — Ekstra Person — Ballerup Kommune\r\n"));
    let url = s
        .run(&["link", "calendar", "--for", "ekstra"])
        .expect(0)
        .stdout();
    let org = s.run(&["link", "calendar"]).expect(0).stdout();
    let now: DateTime<Utc> = "2027-05-10T10:00:00Z".parse().unwrap();
    let rt = router::runtime();
    {
        let served = router::serve(&rt, s.path(), now);
        let reply = served.get_printed(&url);
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(events(&reply.body).is_empty(), "{}", reply.body);
    }
    // Taken out of the wheel: their URL is 404; the organisation's works.
    std::fs::write(s.file("schedule.toml"), SHIPPED).unwrap();
    let served = router::serve(&rt, s.path(), now);
    assert_eq!(served.get_printed(&url).status, 404);
    assert_eq!(served.get_printed(&org).status, 200);
}

#[test]
fn a_done_occurrence_of_a_task_anchored_on_completion_stays_in_the_feed_marked_done() {
    // The contingency-plan review (first due 1 May 2027, next due a year
    // after each completion) done on 20 April: its 2027 event used to
    // vanish from the feed, so calendar clients deleted it.
    let s = Scratch::new(SHIPPED);
    s.run(&["--now", "2027-04-20", "tick"]).expect(0);
    s.run(&[
        "--now",
        "2027-04-20",
        "done",
        "contingency-plan-review",
        "--by",
        "Anna",
    ])
    .expect(0);
    let ics = s.run(&["--now", NOW, "calendar"]).expect(0).stdout();
    let of_task: Vec<(String, String, String)> = events(&ics)
        .into_iter()
        .filter(|e| e["UID"].0.starts_with("contingency-plan-review/"))
        .map(|e| {
            (
                e["UID"].0.clone(),
                e["DTSTART"].0.clone(),
                e["SUMMARY"].0.clone(),
            )
        })
        .collect();
    assert_eq!(of_task.len(), 2, "{of_task:?}");
    assert_eq!(
        of_task[0].0,
        "contingency-plan-review/2027@Ballerup%20Kommune"
    );
    assert_eq!(of_task[0].1, "20270420");
    assert!(
        of_task[0].2.starts_with("✓ ") && of_task[0].2.ends_with("(udført)"),
        "{of_task:?}"
    );
    assert_eq!(
        of_task[1].0,
        "contingency-plan-review/2028@Ballerup%20Kommune"
    );
    assert_eq!(of_task[1].1, "20280420");
    // The wheel of 2027 draws it too, done.
    let svg = s
        .run(&["--now", NOW, "wheel", "--year", "2027"])
        .expect(0)
        .stdout();
    let desc = svg
        .lines()
        .find(|l| l.contains("Årlig gennemgang af it-beredskabsplanen med it-driftsleverandøren ("))
        .unwrap_or_else(|| panic!("the review is not in the description:\n{svg}"));
    assert!(desc.contains("20. april 2027 udført"), "{desc}");
    assert!(!desc.contains("ingen frister i året"), "{desc}");
}
