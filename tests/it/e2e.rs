//! End to end: the shipped wheel ticked through 2027 by the real binary over
//! real SMTP equals `arshjul plan`; a reminder's link completes the task in
//! one click on the real router; headless Chromium presses the button.

use crate::support::smtp;

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::fixtures::date;
use crate::support::http;
use crate::support::mime;
use crate::support::world::MailWorld;

use smtp::Received;

// ---------------------------------------------------------------------------
// The world: the shipped wheel, a scratch directory, a real SMTP server.

/// The shipped `schedule.toml` in a scratch directory, with the database
/// (and so the secret beside it) there too, and a real SMTP server.
fn shipped_world() -> MailWorld {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("schedule.toml");
    let schedule = std::fs::read_to_string(&shipped).expect("read the shipped schedule.toml");
    let world = MailWorld::new(&schedule);
    let database = world.scratch.file("arshjul.db");
    let database = database
        .to_str()
        .expect("the scratch path is UTF-8")
        .to_string();
    world.with_env("ARSHJUL_DATABASE", &database)
}

// ---------------------------------------------------------------------------
// Reading messages back.

/// One received message, as far as the tests care.
#[derive(Debug, Clone)]
struct Mail {
    task: String,
    period: String,
    kind: String,
    to: Vec<String>,
    cc: Vec<String>,
    envelope: Vec<String>,
    references: String,
    raw: String,
    read: mime::Mail,
}

impl Mail {
    fn of(r: &Received) -> Mail {
        let read = mime::Mail::parse(&r.data);
        let one = |name: &str| read.header_opt(name).unwrap_or_default();
        Mail {
            task: one("X-Arshjul-Task"),
            period: one("X-Arshjul-Period"),
            kind: one("X-Arshjul-Kind"),
            to: read.to(),
            cc: read.cc(),
            envelope: r.rcpt.clone(),
            references: one("References"),
            raw: r.text(),
            read,
        }
    }

    /// The completion link in the text part, transfer encoding undone.
    fn link(&self) -> Option<String> {
        self.read.link()
    }
}

// ---------------------------------------------------------------------------
// Plain HTTP/1.1 over a real TCP connection.

/// Sends one request to `url` (an `http://host:port/path` URL) and returns
/// the status code and the body.
fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    let request = match method {
        "GET" => http::get(path),
        "POST" => http::post(path, body, ""),
        other => panic!("no {other} here"),
    };
    let reply = http::send(host, &request);
    (reply.status, reply.body)
}

// ---------------------------------------------------------------------------
// 1. A scripted year over SMTP equals the plan.

/// What one delivered message is: the day its tick ran, task, period, kind
/// and the one `To` address.
type Key = (String, String, String, String, String);

/// One task listed in a bundle, read from its plain-text part as its
/// reader sees it: the task (found by its title), the period, the kind
/// (from the line that says what is owed) and its link.
#[derive(Debug, Clone)]
struct Item {
    task: String,
    period: String,
    kind: String,
    /// The completion link (reminders and repeats).
    done: Option<String>,
    /// The personal overview link (escalations).
    overview: Option<String>,
}

/// The items of a Danish bundle's text part, in order, each task found
/// by its title in `wheel`.
fn bundle_items(mail: &Mail, wheel: &arshjul::wheel::Wheel) -> Vec<Item> {
    let text = mail.read.text();
    let mut items: Vec<Item> = Vec::new();
    for line in text.lines() {
        let next = format!("{}. ", items.len() + 1);
        if let Some(title) = line.strip_prefix(&next) {
            let task = wheel
                .tasks
                .iter()
                .find(|t| t.title == title)
                .unwrap_or_else(|| panic!("no task titled {title:?}:\n{text}"));
            items.push(Item {
                task: task.id.clone(),
                period: String::new(),
                kind: String::new(),
                done: None,
                overview: None,
            });
            continue;
        }
        let Some(item) = items.last_mut() else {
            continue;
        };
        let line = line.trim_start();
        if line.starts_with("Påmindelse: fristen ") {
            item.kind = "reminder".into();
        } else if line.starts_with("Overskredet: fristen var den ") {
            item.kind = "repeat".into();
        } else if line.starts_with("Eskalering: ") {
            item.kind = "escalation".into();
        } else if let Some(period) = line.strip_prefix("Periode:") {
            item.period = period.trim_start().to_string();
        } else if let Some(link) = line.strip_prefix("Markér opgaven som udført her: ") {
            item.done = Some(link.to_string());
        } else if let Some(link) =
            line.strip_prefix("Se oversigten over årshjulet (personligt link): ")
        {
            item.overview = Some(link.to_string());
        }
    }
    for item in &items {
        assert!(
            !item.kind.is_empty() && !item.period.is_empty(),
            "an item without kind or period: {item:?}\n{text}"
        );
    }
    items
}

/// The shipped wheel ticked at 08:00 on every day of 2027 with the shipped
/// settings (`mail.bundle` on): every message `arshjul plan` lists arrives
/// exactly once, as a mail of its own or as one task of a bundle (counted
/// part by part), and nothing else arrives; a bundle's every completion
/// link names its own task and period; `centerchef-borgerservice` gets one
/// mail on 27 December 2027 listing four tasks, whose four links complete
/// the four tasks.
#[test]
fn a_year_of_daily_ticks_over_smtp_delivers_exactly_the_plan() {
    let world = shipped_world();
    let wheel = arshjul::config::read_wheel(&world.scratch.file("schedule.toml"))
        .expect("the shipped wheel parses");

    // Every plan event except `due` is one message per address in `to`.
    let plan = world
        .run(&[
            "plan",
            "--from",
            "2027-01-01",
            "--to",
            "2027-12-31",
            "--json",
        ])
        .expect(0)
        .json();
    let mut expected: BTreeMap<Key, usize> = BTreeMap::new();
    let mut owners_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in plan["events"].as_array().expect("plan events") {
        let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        if s("kind") == "due" {
            continue;
        }
        for to in e["to"].as_array().expect("to is a list") {
            let key = (
                s("date"),
                s("task"),
                s("period"),
                s("kind"),
                to.as_str().unwrap_or_default().to_string(),
            );
            *expected.entry(key).or_default() += 1;
        }
    }
    for task in &wheel.tasks {
        let mut emails: Vec<String> = task
            .owners
            .iter()
            .map(|o| wheel.person(o).expect("owner is a person").email.clone())
            .collect();
        emails.sort();
        owners_of.insert(task.id.clone(), emails);
    }
    assert!(
        expected.len() > 300,
        "the shipped wheel plans a busy year, got {} messages",
        expected.len()
    );
    let secret = arshjul::link::Secret::load_or_create(&world.scratch.file("arshjul.secret"))
        .expect("the secret");

    // A tick at 08:00 local time on every day of 2027.
    let mut got: BTreeMap<Key, usize> = BTreeMap::new();
    let mut singles: Vec<(String, Mail)> = Vec::new();
    let mut bundles: Vec<(String, Mail, Vec<Item>)> = Vec::new();
    let mut day = date(2027, 1, 1);
    while day <= date(2027, 12, 31) {
        for r in world.tick(day) {
            let mail = Mail::of(&r);
            assert_eq!(
                mail.to.len(),
                1,
                "one To address per message:\n{}",
                mail.raw
            );
            let mut cc = mail.cc.clone();
            cc.sort();
            // The envelope reaches exactly To and Cc.
            let mut envelope = mail.envelope.clone();
            envelope.sort();
            let mut header_rcpt = [mail.to.clone(), mail.cc.clone()].concat();
            header_rcpt.sort();
            assert_eq!(envelope, header_rcpt, "envelope of\n{}", mail.raw);

            let items = if mail.kind == "bundle" {
                let items = bundle_items(&mail, &wheel);
                assert!(items.len() >= 2, "a bundle of one:\n{}", mail.raw);
                // A bundle threads on its addressee's thread of the day.
                assert!(
                    mail.references.starts_with(&format!("<day.{day}.")),
                    "{}",
                    mail.raw
                );
                items
            } else {
                vec![Item {
                    task: mail.task.clone(),
                    period: mail.period.clone(),
                    kind: mail.kind.clone(),
                    done: mail.link(),
                    overview: None,
                }]
            };
            for item in &items {
                let key = (
                    day.to_string(),
                    item.task.clone(),
                    item.period.clone(),
                    item.kind.clone(),
                    mail.to[0].clone(),
                );
                *got.entry(key).or_default() += 1;
                // Escalations copy the owners; nothing else copies anyone
                // (a bundle joins only messages to the same To and Cc).
                if item.kind == "escalation" {
                    assert_eq!(cc, owners_of[&item.task], "Cc of\n{}", mail.raw);
                    assert!(item.done.is_none(), "{item:?}");
                } else {
                    assert!(cc.is_empty(), "unexpected Cc on\n{}", mail.raw);
                    // The completion link names its own task and period.
                    let link = item
                        .done
                        .as_deref()
                        .unwrap_or_else(|| panic!("no link for {item:?}:\n{}", mail.raw));
                    let token = link.rsplit('/').next().unwrap_or_default();
                    let at = crate::support::world::eight_o_clock(day).with_timezone(&chrono::Utc);
                    let claims = arshjul::link::verify(&secret, token, at)
                        .unwrap_or_else(|e| panic!("{link}: {e:?}"));
                    assert_eq!(
                        (claims.task.as_str(), claims.period.as_str()),
                        (item.task.as_str(), item.period.as_str()),
                        "{link}"
                    );
                }
            }
            if mail.kind == "bundle" {
                bundles.push((day.to_string(), mail, items));
            } else {
                singles.push((day.to_string(), mail));
            }
        }
        day = day.succ_opt().unwrap();
    }

    let missing: Vec<_> = expected
        .iter()
        .filter(|(k, n)| got.get(*k) != Some(n))
        .collect();
    let extra: Vec<_> = got
        .iter()
        .filter(|(k, n)| expected.get(*k) != Some(n))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "planned but not delivered once: {missing:#?}\ndelivered but not planned: {extra:#?}"
    );
    assert!(!bundles.is_empty(), "the shipped wheel makes bundles");

    // Every single message of one occurrence shares one thread;
    // occurrences differ.
    let mut threads: BTreeMap<(String, String), String> = BTreeMap::new();
    for (_, m) in &singles {
        assert!(!m.references.is_empty(), "no References on\n{}", m.raw);
        let thread = threads
            .entry((m.task.clone(), m.period.clone()))
            .or_insert_with(|| m.references.clone());
        assert_eq!(
            *thread, m.references,
            "{} {} left its thread",
            m.task, m.period
        );
    }
    let mut distinct: Vec<&String> = threads.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        threads.len(),
        "two occurrences share a thread"
    );

    // Centerchefen for Borgerservice: one mail on 27 December listing four
    // tasks, and nothing else that day.
    let chef = "centerchef-borgerservice@ballerup.example";
    let that_day: Vec<&(String, Mail, Vec<Item>)> = bundles
        .iter()
        .filter(|(d, m, _)| d == "2027-12-27" && m.to[0] == chef)
        .collect();
    assert_eq!(that_day.len(), 1, "one bundle to {chef} on 27 December");
    assert!(
        !singles
            .iter()
            .any(|(d, m)| d == "2027-12-27" && m.to[0] == chef),
        "a single mail to {chef} beside the bundle"
    );
    let (_, mail, items) = that_day[0];
    assert_eq!(items.len(), 4, "{}", mail.raw);
    assert_eq!(
        mail.read.header_opt("Subject").as_deref(),
        Some("4 opgaver i årshjulet for Ballerup Kommune kræver din opmærksomhed")
    );

    // Each of its four links completes its own task, and only that one.
    let served = world.serve(date(2027, 12, 31));
    for item in items {
        let link = item.done.as_deref().expect("a completion link");
        let (status, page) = http("POST", &served.local(link), "note=");
        assert_eq!(status, 200, "{page}");
    }
    drop(served);
    let history = world.run(&["history", "--json"]).expect(0).json();
    let mut done: Vec<(String, String)> = history["completions"]
        .as_array()
        .expect("completions")
        .iter()
        .map(|c| {
            (
                c["task"].as_str().unwrap_or_default().to_string(),
                c["period"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    done.sort();
    let mut want: Vec<(String, String)> = items
        .iter()
        .map(|i| (i.task.clone(), i.period.clone()))
        .collect();
    want.sort();
    assert_eq!(done, want, "{history}");
}

// ---------------------------------------------------------------------------
// 2. From an e-mail to done in one click.

/// The reminder for the yearly policy review (period 2027, due 1 March,
/// owned by Digitalisering), delivered by a tick on 29 January 2027.
fn policy_review_reminder(world: &MailWorld) -> (Mail, String) {
    let delivered: Vec<Mail> = world.tick(date(2027, 1, 29)).iter().map(Mail::of).collect();
    let mail = delivered
        .into_iter()
        .find(|m| m.task == "policy-review")
        .expect("29 January brings the policy review reminder");
    assert_eq!(mail.kind, "reminder");
    assert_eq!(mail.period, "2027");
    assert_eq!(mail.to, vec!["digitalisering@ballerup.example".to_string()]);
    let link = mail
        .link()
        .unwrap_or_else(|| panic!("no completion link in the text part:\n{}", mail.raw));
    (mail, link)
}

/// History holds exactly one completion: the policy review of 2027, via
/// the link, by its owner.
fn assert_one_completion_by_link(world: &MailWorld) {
    let history = world.run(&["history", "--json"]).expect(0).json();
    let completions = history["completions"].as_array().expect("completions");
    assert_eq!(completions.len(), 1, "{history}");
    assert_eq!(completions[0]["task"], "policy-review");
    assert_eq!(completions[0]["period"], "2027");
    assert_eq!(completions[0]["via"], "link");
    assert_eq!(completions[0]["by"], "digitalisering@ballerup.example");
}

#[test]
fn the_link_in_a_reminder_records_the_completion_in_one_click_and_stops_the_mail() {
    let world = shipped_world();
    let (_, link) = policy_review_reminder(&world);
    assert!(link.starts_with("http://127.0.0.1:8080/done/"), "{link}");

    let served = world.serve(date(2027, 1, 29));
    let url = served.local(&link);

    // Opening the link records nothing.
    let (status, page) = http("GET", &url, "");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<form method=\"post\" enctype=\"multipart/form-data\">"),
        "{page}"
    );
    let history = world.run(&["history", "--json"]).expect(0).json();
    assert_eq!(history["completions"], serde_json::json!([]), "{history}");

    // Pressing the button records it, via the link, by the owner.
    let (status, page) = http("POST", &url, "note=");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Registreret som udført"), "{page}");
    assert_one_completion_by_link(&world);
    drop(served);

    // No reminder, repeat or escalation for that occurrence follows, well
    // past the due date and the escalation days.
    let mut day = date(2027, 1, 30);
    while day <= date(2027, 4, 30) {
        for m in world.tick(day).iter().map(Mail::of) {
            assert!(
                !(m.task == "policy-review" && m.period == "2027"),
                "{day}: mail for a done occurrence:\n{}",
                m.raw
            );
        }
        day = day.succ_opt().unwrap();
    }

    let status = world
        .run(&["status", "--json", "--now", "2027-04-30"])
        .expect(0)
        .json();
    let row = status["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["id"] == "policy-review")
        .unwrap_or_else(|| panic!("no policy-review row: {status}"))
        .clone();
    assert_eq!(row["period"], "2028", "{row}");
    assert_eq!(row["due"], "2028-03-01", "{row}");
    assert_eq!(row["last_done"]["period"], "2027", "{row}");
    assert_eq!(row["last_done"]["via"], "link", "{row}");
}

// ---------------------------------------------------------------------------
// 3. A browser presses the button.

#[test]
fn headless_chromium_opens_the_link_presses_the_button_and_sees_the_confirmation() {
    if !crate::support::browser::ready("the browser test") {
        return;
    }
    let world = shipped_world();
    let (_, link) = policy_review_reminder(&world);
    let served = world.serve(date(2027, 1, 29));
    let url = served.local(&link);

    let (stdout, stderr) = crate::support::browser::node("click.mjs", &[&url]);
    assert_eq!(stdout.trim(), "Registreret som udført", "{stderr}");

    assert_one_completion_by_link(&world);
}

/// axe-core finds no serious or critical violation on the form, an error
/// page, the page that records a completion and the one a second visit
/// shows, at 390 px and 1280 px; none of them scrolls sideways or logs a
/// console error (tests/browser/axe.mjs).
#[test]
fn axe_finds_no_serious_violation_and_no_page_overflows_at_390_and_1280_px() {
    if !crate::support::browser::ready("the browser test") {
        return;
    }
    let world = shipped_world();
    let (_, link) = policy_review_reminder(&world);
    let served = world.serve(date(2027, 1, 29));
    let confirm = served.local(&link);
    let error = served.local("http://x/done/forged");

    let (stdout, _) = crate::support::browser::node("axe.mjs", &[&confirm, &error]);
    for page in [
        "the confirm page",
        "the error page",
        "the already-registered page",
    ] {
        for width in [390, 1280] {
            let line = format!("checked {page} at {width} px");
            assert!(stdout.contains(&line), "{line:?} missing in:\n{stdout}");
        }
    }
    assert!(
        stdout.contains("checked the done page at 390 px"),
        "{stdout}"
    );
    assert_one_completion_by_link(&world);
}

// ---------------------------------------------------------------------------
// 4. A repeat long after the last escalation carries a link that works.

#[test]
fn a_repeat_sent_long_after_the_last_escalation_carries_a_link_valid_link_days_from_its_day() {
    let world = shipped_world();
    // Monday 6 September 2027: policy-review 2027 (due 1 March, last
    // escalation 15 March) is still open; its repeat goes out today. Under
    // the old rule its link expired on 29 June 2027, before it was sent.
    // The first pass catches up, so the repeat may come in a bundle with
    // the owner's other messages of the day: found on its own or as a
    // bundle's item.
    let wheel = arshjul::config::read_wheel(&world.scratch.file("schedule.toml"))
        .expect("the shipped wheel parses");
    let link = world
        .tick(date(2027, 9, 6))
        .iter()
        .map(Mail::of)
        .flat_map(|m| match m.kind.as_str() {
            "bundle" => bundle_items(&m, &wheel),
            _ => vec![Item {
                task: m.task.clone(),
                period: m.period.clone(),
                kind: m.kind.clone(),
                done: m.link(),
                overview: None,
            }],
        })
        .find(|i| i.task == "policy-review" && i.period == "2027" && i.kind == "repeat")
        .expect("6 September 2027 brings a policy-review 2027 repeat")
        .done
        .expect("a completion link in the repeat");

    // link_days = 90: valid through 5 December 2027 (6 September + 90).
    let served = world.serve(date(2027, 12, 4));
    let (status, page) = http("GET", &served.local(&link), "");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<form method=\"post\" enctype=\"multipart/form-data\">"),
        "{page}"
    );
    assert!(page.contains("Markér som udført"), "{page}");
    drop(served);

    let served = world.serve(date(2027, 12, 5));
    assert_eq!(http("GET", &served.local(&link), "").0, 200);
    drop(served);

    let served = world.serve(date(2027, 12, 6));
    assert_eq!(http("GET", &served.local(&link), "").0, 410);
}

// ---------------------------------------------------------------------------
// 5. An expired link asks for a fresh one; the next tick mails it.

#[test]
fn an_expired_link_asks_for_a_new_one_that_the_next_tick_mails_and_history_shows() {
    let world = shipped_world();
    // The 29 January reminder's link expires at the end of 29 June 2027
    // (90 days after the last escalation step, 31 March).
    let (_, link) = policy_review_reminder(&world);

    let served = world.serve(date(2027, 7, 5));
    let url = served.local(&link);
    let (status, page) = http("GET", &url, "");
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("Ballerup Kommune"), "{page}");
    assert!(page.contains("Send mig et nyt link"), "{page}");
    let (status, page) = http("POST", &format!("{url}/new-link"), "");
    assert_eq!(status, 202, "{page}");
    let (status, _) = http("POST", &format!("{url}/new-link"), "");
    assert_eq!(status, 429);
    drop(served);

    let table = world.run(&["history", "policy-review"]).expect(0).stdout();
    assert!(
        table.contains("Link requests (1)\n  2027-07-05 08:00  policy-review            2027       for digitalisering from 127.0.0.1  [waiting for the next pass]"),
        "{table}"
    );

    // The world jumps from January to July: let that pass through the brake.
    let links: Vec<Mail> = world
        .tick_with(date(2027, 7, 5), &["--accept-burst"])
        .iter()
        .map(Mail::of)
        .filter(|m| m.kind == "link")
        .collect();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(
        links[0].to,
        vec!["digitalisering@ballerup.example".to_string()]
    );
    assert_eq!(
        links[0].envelope,
        vec!["digitalisering@ballerup.example".to_string()]
    );
    assert_eq!(
        (links[0].task.as_str(), links[0].period.as_str()),
        ("policy-review", "2027")
    );
    let fresh = links[0]
        .link()
        .unwrap_or_else(|| panic!("no link in the text part:\n{}", links[0].raw));
    assert_ne!(fresh, link);

    let served = world.serve(date(2027, 7, 5));
    let (status, page) = http("GET", &served.local(&fresh), "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Markér som udført"), "{page}");
    drop(served);

    let history = world.run(&["history", "--json"]).expect(0).json();
    let requests = history["link_requests"].as_array().expect("link_requests");
    assert_eq!(requests.len(), 1, "{history}");
    assert_eq!(requests[0]["person"], "digitalisering");
    assert_eq!(requests[0]["client_addr"], "127.0.0.1");
    assert_eq!(requests[0]["user_agent"], "Testbrowser/1.0");
    assert_eq!(requests[0]["state"], "queued");
    assert_eq!(
        requests[0]["message"]["to"],
        "digitalisering@ballerup.example"
    );
    assert_eq!(requests[0]["message"]["state"], "sent");
    let table = world.run(&["history", "policy-review"]).expect(0).stdout();
    assert!(
        table.contains("[new link sent to digitalisering@ballerup.example 2027-07-05 08:00]"),
        "{table}"
    );

    // The next day's tick sends no second one.
    assert!(world
        .tick(date(2027, 7, 6))
        .iter()
        .map(Mail::of)
        .all(|m| m.kind != "link"));
}
