//! Deputies and absence through the real binary: `arshjul away` records,
//! lists, cancels and refuses; scripted ticks over real SMTP while an owner
//! is away send her reminder and the escalation copy to her deputy; the
//! deputy's completion link credits the deputy; `status` and `history` show
//! the absence and to whom each message went.

use crate::support::fixtures::testkommune_wheel;
use crate::support::fixtures::{assert_contains, date};
use crate::support::http;
use crate::support::mime;
use crate::support::router;
use crate::support::smtp::Received;
use crate::support::world::MailWorld;

use chrono::{NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Copenhagen;

/// Anna owns the policy review, due Monday 12 July 2027: one reminder a
/// week before (Monday 5 July), escalation to the chief a week after
/// (Monday 19 July), weekly repeats. Bo is Anna's deputy in the wheel;
/// Carl has none.
const WHEEL: &str = testkommune_wheel!(
    r#"start = 2027-01-01

[people.anna]
name = "Anna Hansen"
email = "anna@kommune.example"
deputy = "bo"

[people.bo]
name = "Bo Berg"
email = "bo@kommune.example"

[people.carl]
name = "Carl Clausen"
email = "carl@kommune.example"

[people.chef]
name = "Chefen"
email = "chef@kommune.example"

[[task]]
id = "policy-review"
title = "Gennemgang af politikken"
owner = "anna"
every = "year"
due = "07-12"
remind = ["7d"]
repeat = "7d"
escalate = [ { after = "7d", to = "chef" } ]
"#
);

/// The wheel above in a [`MailWorld`], every run as the user `koordinator`;
/// `run`, `scratch` and `runtime` are the world's.
struct World(MailWorld);

impl std::ops::Deref for World {
    type Target = MailWorld;
    fn deref(&self) -> &MailWorld {
        &self.0
    }
}

impl World {
    fn new() -> World {
        World(MailWorld::new(WHEEL).with_env("USER", "koordinator"))
    }

    /// Ticks at 08:00 Copenhagen time on `day`; the messages it delivered.
    fn tick(&self, day: NaiveDate) -> Vec<Mail> {
        self.0.tick(day).iter().map(Mail::of).collect()
    }

    /// Ticks every day from `from` to `to`; the messages, by day.
    fn ticks(&self, from: NaiveDate, to: NaiveDate) -> Vec<(NaiveDate, Mail)> {
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            out.extend(self.tick(day).into_iter().map(|m| (day, m)));
            day = day.succ_opt().unwrap();
        }
        out
    }
}

/// One received message: headers, envelope and its decoded text and HTML.
#[derive(Debug, Clone)]
struct Mail {
    kind: String,
    to: Vec<String>,
    cc: Vec<String>,
    envelope: Vec<String>,
    text: String,
    html: String,
}

impl Mail {
    fn of(r: &Received) -> Mail {
        let read = mime::Mail::parse(&r.data);
        Mail {
            kind: read.header_opt("X-Arshjul-Kind").unwrap_or_default(),
            to: read.to(),
            cc: read.cc(),
            envelope: r.rcpt.clone(),
            text: read.text(),
            html: read.html(),
        }
    }

    /// The completion link in the text part.
    fn link(&self) -> String {
        let start = self.text.find("http").expect("a link in the text part");
        let end = self.text[start..]
            .find(char::is_whitespace)
            .map_or(self.text.len(), |n| start + n);
        self.text[start..end].to_string()
    }
}

const ANNA: &str = "anna@kommune.example";
const BO: &str = "bo@kommune.example";
const CHEF: &str = "chef@kommune.example";

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------

#[test]
fn while_the_owner_is_away_her_deputy_gets_the_reminder_and_the_escalation_copy() {
    let world = World::new();
    let recorded = world
        .run(&[
            "--now",
            "2027-06-30",
            "away",
            "anna",
            "--from",
            "2027-07-01",
            "--to",
            "2027-07-23",
            "--note",
            "Sommerferie",
        ])
        .expect(0);
    assert_contains(
        recorded.stdout(),
        "absence 1: anna away 2027-07-01 to 2027-07-23",
    );

    let mails = world.ticks(date(2027, 7, 1), date(2027, 7, 23));
    let summary: Vec<String> = mails
        .iter()
        .map(|(d, m)| format!("{d} {} to {} cc {}", m.kind, m.to.join(","), m.cc.join(",")))
        .collect();
    assert_eq!(
        summary,
        vec![
            format!("2027-07-05 reminder to {BO} cc {ANNA}"),
            // Escalation on the day it always falls (due + 7 days): to the
            // chief, copying the owner and, as she is away, her deputy.
            format!("2027-07-19 escalation to {CHEF} cc {ANNA},{BO}"),
        ],
        "{summary:#?}"
    );

    let reminder = &mails[0].1;
    assert_eq!(reminder.envelope, strings(&[BO, ANNA]));
    let why = "Du får denne besked som stedfortræder for Anna Hansen, der er fraværende til og med 23. juli 2027.";
    assert_contains(&reminder.text, why);
    assert_contains(&reminder.html, &format!(">{why}</p>"));
    assert!(
        reminder.text.starts_with("Kære Bo Berg"),
        "{}",
        reminder.text
    );

    let escalation = &mails[1].1;
    assert_eq!(escalation.envelope, strings(&[CHEF, ANNA, BO]));
    let copy = "Anna Hansen er fraværende til og med 23. juli 2027, og stedfortræderen Bo Berg har også fået en kopi.";
    assert_contains(&escalation.text, copy);
    assert_contains(&escalation.html, copy);
    assert!(
        !escalation.text.contains("som stedfortræder for"),
        "{}",
        escalation.text
    );

    // history: to whom each went, and the absence.
    let history = world.run(&["history", "--json"]).expect(0).json();
    let sent: Vec<(String, String, serde_json::Value)> = history["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap().to_string(),
                n["to"].as_str().unwrap().to_string(),
                n["cc"].clone(),
            )
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            (
                "escalation".into(),
                CHEF.into(),
                serde_json::json!([ANNA, BO])
            ),
            ("reminder".into(), BO.into(), serde_json::json!([ANNA])),
        ],
        "{history}"
    );
    let absences = history["absences"].as_array().unwrap();
    assert_eq!(absences.len(), 1, "{history}");
    assert_eq!(absences[0]["person"], "anna");
    assert_eq!(absences[0]["deputy"], "bo");
    assert_eq!(absences[0]["from"], "2027-07-01");
    assert_eq!(absences[0]["to"], "2027-07-23");
    assert_eq!(absences[0]["note"], "Sommerferie");
    assert_eq!(absences[0]["recorded_by"], "koordinator");
    assert_eq!(absences[0]["cancelled_at"], serde_json::Value::Null);
    // The escalation's level, for the auditor: 1 here, 0 for a reminder.
    let levels: Vec<u64> = history["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["level"].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [1, 0], "{history}");
    let table = world.run(&["history"]).expect(0).stdout();
    assert_contains(
        &table,
        &format!(
            "  escalation 1 policy-review            2027       to {CHEF} cc {ANNA}, {BO}  [sent]"
        ),
    );
    assert_contains(
        &table,
        &format!("  reminder     policy-review            2027       to {BO} cc {ANNA}  [sent]"),
    );
    assert_contains(&table, "   1  anna away 2027-07-01 to 2027-07-23, deputy bo; recorded by koordinator  \"Sommerferie\"");

    // status: the absence while it lasts, not after.
    let status = world
        .run(&["--now", "2027-07-19", "status"])
        .expect(0)
        .stdout();
    assert_contains(&status, "away: anna until 2027-07-23 (deputy: bo)");
    let json = world
        .run(&["--now", "2027-07-19", "status", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["absences"][0]["person"], "anna", "{json}");
    assert_eq!(json["absences"][0]["messages_to"], "bo", "{json}");
    let after = world
        .run(&["--now", "2027-07-24", "status"])
        .expect(0)
        .stdout();
    assert!(!after.contains("away:"), "{after}");

    // Back on Monday 26 July: the repeat goes to Anna herself.
    let back = world.tick(date(2027, 7, 26));
    assert_eq!(back.len(), 1);
    assert_eq!(
        (back[0].kind.as_str(), back[0].to.clone()),
        ("repeat", strings(&[ANNA]))
    );
    assert!(back[0].cc.is_empty());
    assert!(!back[0].text.contains("stedfortræder"), "{}", back[0].text);
}

#[test]
fn the_deputys_completion_link_credits_the_deputy() {
    let world = World::new();
    world
        .run(&["away", "anna", "--from", "2027-07-01", "--to", "2027-07-23"])
        .expect(0);
    let mails = world.tick(date(2027, 7, 5));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, strings(&[BO]));
    let link = mails[0].link();

    // The real router on the binary's database and secret.
    let now = Copenhagen
        .with_ymd_and_hms(2027, 7, 6, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let served = router::serve(&world.runtime, world.scratch.path(), now);
    let addr = served.addr;

    let path = &link[link.find("/done/").expect("a completion link")..];
    let reply = http::send(addr, &http::post(path, "", ""));
    assert_eq!(reply.status, 200, "{}", reply.body);

    let history = world.run(&["history", "--json"]).expect(0).json();
    let completions = history["completions"].as_array().unwrap();
    assert_eq!(completions.len(), 1, "{history}");
    assert_eq!(completions[0]["by"], BO, "{history}");
    assert_eq!(completions[0]["via"], "link");
}

#[test]
fn an_absence_that_ended_the_day_before_the_reminder_does_not_reroute_it() {
    let world = World::new();
    world
        .run(&["away", "anna", "--from", "2027-06-28", "--to", "2027-07-04"])
        .expect(0);
    let mails = world.tick(date(2027, 7, 5));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, strings(&[ANNA]));
    assert!(mails[0].cc.is_empty(), "{:?}", mails[0].cc);
    assert_eq!(mails[0].envelope, strings(&[ANNA]));
    assert!(
        !mails[0].text.contains("stedfortræder"),
        "{}",
        mails[0].text
    );
}

#[test]
fn cancelling_an_absence_restores_the_routing_and_keeps_the_record() {
    let world = World::new();
    world
        .run(&[
            "--now",
            "2027-06-30",
            "away",
            "anna",
            "--from",
            "2027-07-01",
            "--to",
            "2027-07-23",
            "--deputy",
            "carl",
        ])
        .expect(0);
    let list = world
        .run(&["--now", "2027-06-30", "away", "--list", "--json"])
        .expect(0)
        .json();
    assert_eq!(list["absences"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["absences"][0]["id"], 1);
    assert_eq!(
        list["absences"][0]["deputy"], "carl",
        "--deputy wins over the wheel's"
    );
    let table = world
        .run(&["--now", "2027-06-30", "away", "--list"])
        .expect(0)
        .stdout();
    assert_contains(&table, "   1  anna          2027-07-01  2027-07-23  carl");

    // While it stands, the reminder goes to Carl.
    let mails = world.tick(date(2027, 7, 5));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, strings(&["carl@kommune.example"]));
    assert_eq!(mails[0].cc, strings(&[ANNA]));

    let cancelled = world
        .run(&["--now", "2027-07-06", "away", "--cancel", "1"])
        .expect(0);
    assert_contains(cancelled.stdout(), "absence 1 cancelled");
    let again = world.run(&["away", "--cancel", "1"]).expect(0);
    assert_contains(again.stdout(), "already cancelled");

    // Cancelled: the escalation of 19 July copies Anna alone, not Carl.
    let mails = world.tick(date(2027, 7, 19));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].kind, "escalation");
    assert_eq!(mails[0].to, strings(&[CHEF]));
    assert_eq!(mails[0].cc, strings(&[ANNA]));

    let list = world
        .run(&["--now", "2027-07-06", "away", "--list"])
        .expect(0)
        .stdout();
    assert_contains(&list, "No current or future absences.");
    let history = world.run(&["history", "--json"]).expect(0).json();
    assert_eq!(
        history["absences"][0]["cancelled_by"], "koordinator",
        "{history}"
    );
    assert!(
        history["absences"][0]["cancelled_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2027-07-06T12:00:00")),
        "{history}"
    );
}

#[test]
fn absences_that_cannot_be_honoured_are_refused_and_nothing_is_recorded() {
    let world = World::new();
    let refused = |args: &[&str], says: &str| {
        let run = world.run(args).expect(2);
        assert!(run.stderr().contains(says), "{args:?}: {}", run.stderr());
    };
    refused(
        &["away", "carl", "--from", "2027-07-01", "--to", "2027-07-02"],
        "\"carl\" has no deputy: name one with --deputy, or set `deputy` under [people.carl] in the wheel",
    );
    refused(
        &[
            "away",
            "ghost",
            "--from",
            "2027-07-01",
            "--to",
            "2027-07-02",
        ],
        "unknown person \"ghost\" (people: anna, bo, carl, chef)",
    );
    refused(
        &[
            "away",
            "anna",
            "--from",
            "2027-07-01",
            "--to",
            "2027-07-02",
            "--deputy",
            "ghost",
        ],
        "unknown person \"ghost\" as deputy",
    );
    refused(
        &[
            "away",
            "anna",
            "--from",
            "2027-07-01",
            "--to",
            "2027-07-02",
            "--deputy",
            "anna",
        ],
        "\"anna\" cannot be their own deputy",
    );
    refused(
        &["away", "anna", "--from", "2027-07-02", "--to", "2027-07-01"],
        "--to 2027-07-01 is before --from 2027-07-02",
    );
    refused(&["away", "anna", "--from", "2027-07-01"], "--to");
    refused(&["away", "anna", "--list"], "cannot be used with");
    refused(&["away", "--list", "--cancel", "1"], "cannot be used with");
    refused(&["away"], "<KEY|--list|--cancel <ID>>");
    refused(&["away", "--cancel", "7"], "there is no absence 7");

    let history = world.run(&["history", "--json"]).expect(0).json();
    assert_eq!(history["absences"], serde_json::json!([]), "{history}");
}

#[test]
fn a_note_cannot_forge_a_line_of_the_record_or_reach_the_terminal_raw() {
    // `history` and `away --list` print one line per absence: a line break
    // in a note used to add a line that looked like another record, and an
    // escape sequence reached the terminal as it was. They are shown
    // escaped, as in every other table; JSON keeps the note exact.
    let world = World::new();
    let forged = "Sommerferie\n  2027-07-01 09:00     9 bo away 2027-07-01 to 2027-12-31";
    let note = format!("{forged}\u{1b}[2J");
    world
        .run(&[
            "away",
            "anna",
            "--from",
            "2027-07-01",
            "--to",
            "2027-07-02",
            "--note",
            &note,
        ])
        .expect(0);
    let history = world.run(&["history"]).expect(0).stdout();
    assert!(!history.contains('\u{1b}'), "{history}");
    let lines: Vec<&str> = history
        .lines()
        .filter(|l| l.contains(" away 2027-07-01"))
        .collect();
    assert_eq!(lines.len(), 1, "{history}");
    assert!(
        lines[0].ends_with(
            "\"Sommerferie\\n  2027-07-01 09:00     9 bo away 2027-07-01 to 2027-12-31\\e[2J\""
        ),
        "{history}"
    );
    let list = world.run(&["away", "--list"]).expect(0).stdout();
    assert_eq!(list.lines().count(), 2, "a header and one row: {list}");
    assert!(
        list.contains("Sommerferie\\n") && list.contains("\\e[2J"),
        "{list}"
    );
    let json = world.run(&["away", "--list", "--json"]).expect(0).json();
    assert_eq!(json["absences"][0]["note"], note.as_str());
}

#[test]
fn status_says_why_the_owner_gets_her_messages_when_her_deputy_left_the_wheel() {
    let world = World::new();
    world
        .run(&["away", "anna", "--from", "2027-07-01", "--to", "2027-07-23"])
        .expect(0);
    // Bo leaves: gone from [people], and Anna's `deputy` key with him.
    let without_bo = WHEEL.replace("deputy = \"bo\"\n", "").replace(
        "[people.bo]\nname = \"Bo Berg\"\nemail = \"bo@kommune.example\"\n",
        "",
    );
    assert!(!without_bo.contains("bo@"));
    std::fs::write(world.scratch.file("schedule.toml"), without_bo).unwrap();
    let status = world
        .run(&["status", "--now", "2027-07-05T09:00:00+02:00"])
        .expect(0)
        .stdout();
    assert_contains(&status, "away: anna until 2027-07-23 (deputy: bo; the deputy is no longer in the wheel, so messages go to anna)");
    // The deputy away as well is said as before.
    std::fs::write(world.scratch.file("schedule.toml"), WHEEL).unwrap();
    world
        .run(&[
            "away",
            "bo",
            "--from",
            "2027-07-05",
            "--to",
            "2027-07-05",
            "--deputy",
            "carl",
        ])
        .expect(0);
    let status = world
        .run(&["status", "--now", "2027-07-05T09:00:00+02:00"])
        .expect(0)
        .stdout();
    assert_contains(
        &status,
        "(deputy: bo; the deputy is away too, so messages go to anna)",
    );
}

#[test]
fn absences_are_audit_evidence_the_database_refuses_to_change_or_delete_them() {
    let world = World::new();
    world
        .run(&["away", "anna", "--from", "2027-07-01", "--to", "2027-07-23"])
        .expect(0);
    world.run(&["away", "--cancel", "1"]).expect(0);
    let conn = rusqlite::Connection::open(world.scratch.file("arshjul.db")).unwrap();
    for sql in [
        "DELETE FROM absences",
        "UPDATE absences SET to_date = '2027-07-30'",
        "UPDATE absences SET cancelled_at = NULL, cancelled_by = NULL",
        "UPDATE absences SET cancelled_by = 'someone else'",
    ] {
        let err = conn.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("audit evidence"), "{sql}: {err}");
    }
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM absences", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

/// The deputy lines in English, from the composer itself: plain and HTML
/// parts of the reminder, the repeat and both escalation cases.
#[test]
fn the_english_templates_say_why_the_deputy_gets_the_message() {
    use arshjul::mail::Composer;
    use arshjul::planner::{self, Absence, History};

    let wheel = arshjul::wheel::parse(
        &WHEEL.replace("language = \"da\"", "language = \"en\""),
        "w",
    )
    .unwrap();
    let composer = Composer::new(&arshjul::settings::Settings::default().mail).unwrap();
    let history = |person: &str, deputy: &str| History {
        absences: vec![Absence {
            id: 1,
            person: person.into(),
            from: date(2027, 7, 1),
            to: date(2027, 7, 23),
            deputy: deputy.into(),
        }],
        ..History::default()
    };
    let compose = |h: &History, day: NaiveDate, kind: &str| {
        let now = Copenhagen
            .from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let pass = planner::pass(&wheel, h, now);
        let n = pass
            .send
            .iter()
            .find(|n| n.kind.as_str() == kind)
            .unwrap_or_else(|| panic!("no {kind} in {:?}", pass.send));
        let composed = composer
            .compose(&wheel, n, Some("https://x.example/done/t"), day)
            .unwrap();
        let read = mime::Mail::parse(&composed.raw);
        (read.text(), read.html())
    };

    let why = "You receive this message as the deputy of Anna Hansen, who is away up to and including 23 July 2027.";
    let (text, html) = compose(&history("anna", "bo"), date(2027, 7, 5), "reminder");
    assert_contains(&text, why);
    assert_contains(&html, &format!(">{why}</p>"));

    // The repeat (26 July, Anna still away in this history) is not "yours".
    let mut late = history("anna", "bo");
    late.absences[0].to = date(2027, 7, 30);
    let (text, html) = compose(&late, date(2027, 7, 26), "repeat");
    assert_contains(&text, "A task in the compliance calendar");
    assert!(!text.contains("One of your tasks"), "{text}");
    assert_contains(&html, "away up to and including 30 July 2027");

    // The escalation to an absent chief goes to the deputy, who is told why.
    let (text, html) = compose(&history("chef", "carl"), date(2027, 7, 19), "escalation");
    let chief = "You receive this message as the deputy of Chefen, who is step 1 of the task's escalation chain and away up to and including 23 July 2027.";
    assert_contains(&text, chief);
    assert_contains(&html, chief);

    // The escalation copying an absent owner names her deputy.
    let (text, html) = compose(&history("anna", "bo"), date(2027, 7, 19), "escalation");
    let copy = "Anna Hansen is away up to and including 23 July 2027; their deputy Bo Berg has a copy as well.";
    assert_contains(&text, copy);
    assert_contains(&html, copy);
}

/// The shipped wheel's keys are longer than twelve characters
/// (`digitalisering`, `it-forsyningen`): `away --list` sizes its columns to
/// them, so the dates stand under FROM and TO.
#[test]
fn away_list_columns_fit_long_person_keys() {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schedule.toml"))
        .expect("the shipped wheel");
    let scratch = crate::support::Scratch::new(&shipped);
    scratch
        .run(&[
            "away",
            "digitalisering",
            "--from",
            "2027-07-05",
            "--to",
            "2027-07-23",
            "--deputy",
            "it-forsyningen",
            "--note",
            "Sommerferie",
        ])
        .expect(0);
    let table = scratch
        .run(&["--now", "2027-07-01", "away", "--list"])
        .expect(0)
        .stdout();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines,
        [
            "  ID  PERSON          FROM        TO          DEPUTY          NOTE",
            "   1  digitalisering  2027-07-05  2027-07-23  it-forsyningen  Sommerferie",
        ],
        "{table}"
    );
}

#[test]
fn plan_shows_the_deputy_who_will_really_be_sent_a_reminder_while_the_owner_is_away() {
    let world = World::new();
    // Anna is away over her reminder day (Monday 5 July) only.
    world
        .run(&["away", "anna", "--from", "2027-07-01", "--to", "2027-07-09"])
        .expect(0);
    let plan = world
        .run(&["plan", "--from", "2027-07-01", "--to", "2027-07-26"])
        .expect(0);
    let stdout = plan.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    let reminder = lines
        .iter()
        .find(|l| l.starts_with("2027-07-05"))
        .expect("the reminder");
    assert!(
        reminder.ends_with(&format!("{BO} (for {ANNA}, away until 2027-07-09)")),
        "{reminder}"
    );
    // Back by the due date and the repeat: Anna's own; the escalation the
    // chief's.
    for (day, to) in [
        ("2027-07-12", ANNA),
        ("2027-07-19", CHEF),
        ("2027-07-26", ANNA),
    ] {
        let line = lines.iter().find(|l| l.starts_with(day)).expect(day);
        assert!(line.ends_with(&format!("  {to}")), "{line}");
    }
    let json = world
        .run(&[
            "plan",
            "--json",
            "--from",
            "2027-07-05",
            "--to",
            "2027-07-12",
        ])
        .expect(0)
        .json();
    let events = json["events"].as_array().expect("events");
    assert_eq!(events[0]["kind"], "reminder");
    assert_eq!(events[0]["to"], serde_json::json!([BO]));
    assert_eq!(
        events[0]["away"],
        serde_json::json!([{"person": ANNA, "deputy": BO, "until": "2027-07-09"}])
    );
    assert_eq!(events[1]["kind"], "due");
    assert_eq!(events[1]["to"], serde_json::json!([ANNA]));
    assert!(events[1].get("away").is_none(), "{}", events[1]);
    // And the pass sends it so.
    let mails = world.tick(date(2027, 7, 5));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, strings(&[BO]));
}
