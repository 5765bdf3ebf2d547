//! The weekly digest to the coordinator: when it is due (pure, literal
//! dates: ISO week 53 and week 1 at the year end, a DST Monday, a holiday
//! Monday), the wheel's `coordinator` and `digest` keys, and the mail over
//! real SMTP: once a week, its lists, its overview link, `tick --dry-run`.

use arshjul::planner::{self, Kind};
use arshjul::wheel::{self, Wheel};
use chrono::{DateTime, Utc};

use crate::support::fixtures::date;
use crate::support::fixtures::testkommune_wheel;
use crate::support::mime;
use crate::support::world::MailWorld;

const WHEEL: &str = testkommune_wheel!(
    r#"start = 2027-01-01
coordinator = "koordinator"
digest = "monday"

[people.anna]
name = "Anna Hansen"
email = "anna@kommune.example"

[people.koordinator]
name = "Karen Koordinator"
email = "karen@kommune.example"

[[task]]
id = "review"
title = "Gennemgang af politikken"
owner = "anna"
every = "year"
due = "03-01"
remind = []
repeat = "0d"
escalate = []

[[task]]
id = "backup"
title = "Test af backup"
owner = "anna"
every = "quarter"
due = { month = 1, day = 20 }
remind = []
repeat = "0d"
escalate = []

[[task]]
id = "training"
title = "Awareness-træning"
owner = "anna"
every = "year"
due = "04-01"
remind = []
repeat = "0d"
escalate = []
"#
);

fn wheel_with(extra: &str) -> Wheel {
    let text = WHEEL.replace("digest = \"monday\"", extra);
    wheel::parse(&text, "schedule.toml").unwrap()
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    rfc3339.parse().unwrap()
}

/// (key, nominal day, sent day, local send instant) of the digest due at `now`.
fn due(w: &Wheel, now: &str) -> Option<(String, String, String, String)> {
    planner::digest_at(w, at(now)).map(|n| {
        assert_eq!(n.kind, Kind::Digest);
        assert_eq!(n.to, "koordinator");
        assert_eq!(n.key, format!("digest/{}", n.period));
        (
            n.key,
            n.due.to_string(),
            n.date.to_string(),
            n.at.to_rfc3339(),
        )
    })
}

fn slot(
    key: &str,
    nominal: &str,
    day: &str,
    instant: &str,
) -> Option<(String, String, String, String)> {
    Some((key.into(), nominal.into(), day.into(), instant.into()))
}

#[test]
fn the_digest_is_due_from_send_time_on_its_weekday_one_per_iso_week() {
    let w = wheel_with("digest = \"monday\"");
    // Monday 11 January 2027 (week 2), 08:00 in Copenhagen = 07:00 UTC:
    // a minute before, the latest due is week 1's.
    assert_eq!(
        due(&w, "2027-01-11T06:59:00Z"),
        slot(
            "digest/2027-W01",
            "2027-01-04",
            "2027-01-04",
            "2027-01-04T08:00:00+01:00"
        )
    );
    assert_eq!(
        due(&w, "2027-01-11T07:00:00Z"),
        slot(
            "digest/2027-W02",
            "2027-01-11",
            "2027-01-11",
            "2027-01-11T08:00:00+01:00"
        )
    );
    // Missed (the machine was off): still week 2's on Sunday.
    assert_eq!(
        due(&w, "2027-01-17T22:00:00Z").unwrap().0,
        "digest/2027-W02"
    );
    // Another weekday.
    let w = wheel_with("digest = \"wednesday\"");
    assert_eq!(
        due(&w, "2027-01-13T07:00:00Z"),
        slot(
            "digest/2027-W02",
            "2027-01-13",
            "2027-01-13",
            "2027-01-13T08:00:00+01:00"
        )
    );
}

#[test]
fn at_the_year_end_the_key_is_the_iso_week_53_or_week_1_of_the_next_year() {
    let w = wheel_with("digest = \"monday\"");
    // 2026 has 53 ISO weeks: Monday 28 December 2026 is 2026-W53, and the
    // digest of that week stands until Monday 4 January 2027 (2027-W01).
    assert_eq!(
        due(&w, "2026-12-28T07:00:00Z"),
        slot(
            "digest/2026-W53",
            "2026-12-28",
            "2026-12-28",
            "2026-12-28T08:00:00+01:00"
        )
    );
    assert_eq!(
        due(&w, "2027-01-01T12:00:00Z").unwrap().0,
        "digest/2026-W53"
    );
    assert_eq!(
        due(&w, "2027-01-04T07:00:00Z"),
        slot(
            "digest/2027-W01",
            "2027-01-04",
            "2027-01-04",
            "2027-01-04T08:00:00+01:00"
        )
    );
    // Monday 29 December 2025 is in 2026-W01.
    assert_eq!(
        due(&w, "2025-12-29T07:00:00Z"),
        slot(
            "digest/2026-W01",
            "2025-12-29",
            "2025-12-29",
            "2025-12-29T08:00:00+01:00"
        )
    );
}

#[test]
fn on_a_dst_monday_the_digest_goes_at_send_time_local() {
    let w = wheel_with("digest = \"monday\"");
    // Summer time ends on Sunday 31 October 2027: Monday 1 November at
    // 08:00 is 07:00 UTC (the Monday before, 06:00 UTC).
    assert_eq!(
        due(&w, "2027-11-01T06:59:00Z").unwrap().0,
        "digest/2027-W43"
    );
    assert_eq!(
        due(&w, "2027-11-01T07:00:00Z"),
        slot(
            "digest/2027-W44",
            "2027-11-01",
            "2027-11-01",
            "2027-11-01T08:00:00+01:00"
        )
    );
    // Summer time begins on Sunday 28 March 2026: Monday 30 March 2026 at
    // 08:00 is 06:00 UTC.
    assert_eq!(
        due(&w, "2026-03-30T05:59:00Z").unwrap().0,
        "digest/2026-W13"
    );
    assert_eq!(
        due(&w, "2026-03-30T06:00:00Z"),
        slot(
            "digest/2026-W14",
            "2026-03-30",
            "2026-03-30",
            "2026-03-30T08:00:00+02:00"
        )
    );
}

#[test]
fn a_holiday_monday_moves_the_digest_to_the_next_open_day() {
    let w = wheel_with("digest = \"monday\"");
    // Easter Monday 2027 is 29 March (Easter Sunday 28 March): the digest
    // of week 13 goes on Tuesday 30 March, keyed by its week.
    assert_eq!(arshjul::calendar::easter_sunday(2027), date(2027, 3, 28));
    assert_eq!(
        due(&w, "2027-03-29T10:00:00Z").unwrap().0,
        "digest/2027-W12"
    );
    assert_eq!(
        due(&w, "2027-03-30T06:00:00Z"),
        slot(
            "digest/2027-W13",
            "2027-03-29",
            "2027-03-30",
            "2027-03-30T08:00:00+02:00"
        )
    );
    // Whit Monday, 17 May 2027.
    assert_eq!(
        due(&w, "2027-05-18T06:00:00Z"),
        slot(
            "digest/2027-W20",
            "2027-05-17",
            "2027-05-18",
            "2027-05-18T08:00:00+02:00"
        )
    );
}

#[test]
fn without_a_digest_day_there_is_no_digest_and_bad_keys_are_named() {
    let w = wheel_with("");
    assert!(planner::digest_at(&w, at("2027-01-11T12:00:00Z")).is_none());
    for (bad, message) in [
        (
            "digest = \"mandag\"",
            "schedule.toml:9:10: unknown digest day \"mandag\" (monday, tuesday",
        ),
        (
            "digest = \"Monday\"",
            "schedule.toml:9:10: unknown digest day \"Monday\"",
        ),
    ] {
        let text = WHEEL.replace("digest = \"monday\"", bad);
        let e = wheel::parse(&text, "schedule.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains(message), "{e}");
    }
    let text = WHEEL.replace("coordinator = \"koordinator\"", "coordinator = \"nobody\"");
    let e = wheel::parse(&text, "schedule.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "schedule.toml:8:15: unknown person \"nobody\" as the organisation's coordinator"
        ),
        "{e}"
    );
    let text = WHEEL.replace("coordinator = \"koordinator\"\n", "");
    let e = wheel::parse(&text, "schedule.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("schedule.toml:8:10: the digest needs a coordinator"),
        "{e}"
    );
}

#[test]
fn the_coordinator_gets_one_digest_a_week_with_the_lists_and_a_working_overview_link() {
    let world = MailWorld::new(WHEEL);
    // Nothing is due before the first Monday the wheel knows of: a tick on
    // Friday 26 February records the tasks.
    world.tick(date(2027, 2, 26));
    // Done on Wednesday 3 March (week 9): listed in week 10's digest.
    world
        .run(&[
            "--now",
            "2027-03-03T10:00:00+01:00",
            "done",
            "backup",
            "--period",
            "2027-Q1",
            "--by",
            "anna@kommune.example",
        ])
        .expect(0);
    // Monday 8 March 2027, before the tick: the dry run shows the digest.
    let dry = world
        .run(&["tick", "--dry-run", "--now", "2027-03-08T08:00:00+01:00"])
        .expect(0)
        .stdout();
    assert!(
        dry.contains("digest") && dry.contains("2027-W10") && dry.contains("karen@kommune.example"),
        "{dry}"
    );
    let sent = world.tick(date(2027, 3, 8));
    let digests: Vec<mime::Mail> = sent
        .iter()
        .map(|r| mime::Mail::parse(&r.data))
        .filter(|m| m.header("X-Arshjul-Kind") == "digest")
        .collect();
    assert_eq!(digests.len(), 1, "{sent:?}");
    let d = &digests[0];
    assert_eq!(d.to(), vec!["karen@kommune.example".to_string()]);
    assert_eq!(
        d.header("Subject"),
        "Årshjulet for Testkommune: ugens overblik, uge 10"
    );
    let text = d.text();
    // Overdue: the review (due 1 March, 7 days); due in 30 days: the
    // training (1 April); done last week: the backup.
    assert!(
        text.contains("Overskredne opgaver (1):\n- Gennemgang af politikken (2027), frist 1. marts 2027, overskredet med 7 dage. Ansvarlig: Anna Hansen"),
        "{text}"
    );
    assert!(
        text.contains("Frist inden for de næste 30 dage (1):\n- 1. april 2027: Awareness-træning (2027). Ansvarlig: Anna Hansen"),
        "{text}"
    );
    assert!(
        text.contains(
            "Udført i sidste uge (1):\n- Test af backup (2027-Q1), 3. marts 2027 af Anna Hansen"
        ),
        "{text}"
    );
    let html = d.html();
    assert!(html.contains("<html lang=\"da\">"), "{html}");
    assert!(html.contains("Se oversigten over årshjulet</a>"), "{html}");
    // Its own thread per week.
    let id = d.header("Message-ID");
    assert!(id.contains("2027-W10"), "{id}");
    // The overview link opens the coordinator's overview.
    let url = text
        .lines()
        .find(|l| l.contains("/overview/"))
        .unwrap()
        .trim()
        .to_string();
    let served = world.serve(date(2027, 3, 8));
    let path = &url[url.find("/overview/").unwrap()..];
    let reply = served.get(path);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("Oversigt for Karen Koordinator"));

    // Sent: the dry run (and so the brake) no longer counts it.
    let dry = world
        .run(&["tick", "--dry-run", "--now", "2027-03-09T08:00:00+01:00"])
        .expect(0)
        .stdout();
    assert!(!dry.contains("digest"), "{dry}");
    // Once a week: later passes that week send no other digest.
    for day in [8, 9, 12, 14] {
        let again = world.tick(date(2027, 3, day));
        assert!(
            again
                .iter()
                .all(|r| mime::Mail::parse(&r.data).header("X-Arshjul-Kind") != "digest"),
            "a second digest on {day} March"
        );
    }
    // The next Monday, the next week's.
    let next = world.tick(date(2027, 3, 15));
    let kinds: Vec<String> = next
        .iter()
        .map(|r| mime::Mail::parse(&r.data).header("Subject"))
        .collect();
    assert!(
        kinds.contains(&"Årshjulet for Testkommune: ugens overblik, uge 11".to_string()),
        "{kinds:?}"
    );
}

#[test]
fn the_digest_reads_in_english_says_none_for_empty_lists_and_escapes_the_wheels_text() {
    use arshjul::mail::{Composer, Digest, DigestLine};
    let text = WHEEL
        .replace("language = \"da\"", "language = \"en\"")
        .replace("Gennemgang af politikken", "Review <b>&</b> approve");
    let w = wheel::parse(&text, "schedule.toml").unwrap();
    let n = planner::digest_at(&w, at("2027-03-08T07:00:00Z")).unwrap();
    let mut settings = arshjul::settings::Settings::default().mail;
    settings.from = "arshjul@kommune.example".into();
    let composer = Composer::new(&settings).unwrap();
    let digest = Digest {
        overdue: vec![DigestLine {
            title: w.task("review").unwrap().title.clone(),
            period: "2027".into(),
            due: date(2027, 3, 1),
            owner: "Anna Hansen".into(),
            days: 1,
        }],
        upcoming: Vec::new(),
        done: Vec::new(),
        today: date(2027, 3, 8),
    };
    let url = "https://arshjul.example/overview/abc";
    let composed = composer.compose_digest(&w, &n, &digest, Some(url)).unwrap();
    let mail = mime::Mail::parse(&composed.raw);
    assert_eq!(
        mail.header("Subject"),
        "The compliance calendar of Testkommune: this week's overview, week 10"
    );
    let text = mail.text();
    // Signed as the other English mails are.
    assert!(
        text.contains("Kind regards,\nThe compliance calendar of Testkommune"),
        "{text}"
    );
    assert!(
        text.contains("Overdue tasks (1):\n- Review <b>&</b> approve (2027), due 1 March 2027, 1 day overdue. Owner: Anna Hansen"),
        "{text}"
    );
    assert!(
        text.contains("Due in the next 30 days (0):\n- None."),
        "{text}"
    );
    assert!(text.contains("Done last week (0):\n- None."), "{text}");
    assert!(text.starts_with("Dear Karen Koordinator,"), "{text}");
    let html = mail.html();
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(
        html.contains("Review &lt;b&gt;&amp;&lt;/b&gt; approve"),
        "{html}"
    );
    assert!(!html.contains("<b>&"), "{html}");
    assert!(html.contains(&format!("<a href=\"{url}\"")), "{html}");
    // Without a link (a template override may leave it out): no button.
    let composed = composer.compose_digest(&w, &n, &digest, None).unwrap();
    assert!(!mime::Mail::parse(&composed.raw)
        .html()
        .contains("/overview/"));
}

#[test]
fn a_retracted_completion_is_not_in_the_digests_done_last_week() {
    let world = MailWorld::new(WHEEL);
    world.tick(date(2027, 2, 26));
    // Week 9: the backup is done on Wednesday, then retracted on Thursday
    // (recorded by mistake); the training is done early on Friday.
    let done = |task: &str, period: &str, now: &str| {
        world
            .run(&[
                "--now",
                now,
                "done",
                task,
                "--period",
                period,
                "--by",
                "anna@kommune.example",
            ])
            .expect(0);
    };
    done("backup", "2027-Q1", "2027-03-03T10:00:00+01:00");
    world
        .run(&[
            "--now",
            "2027-03-04T10:00:00+01:00",
            "undo",
            "backup",
            "--period",
            "2027-Q1",
            "--reason",
            "meldt udført ved en fejl",
            "--by",
            "karen@kommune.example",
        ])
        .expect(0);
    done("training", "2027", "2027-03-05T10:00:00+01:00");
    let sent = world.tick(date(2027, 3, 8));
    let digest = sent
        .iter()
        .map(|r| mime::Mail::parse(&r.data))
        .find(|m| m.header("X-Arshjul-Kind") == "digest")
        .expect("a digest");
    let text = digest.text();
    assert!(
        text.contains(
            "Udført i sidste uge (1):\n- Awareness-træning (2027), 5. marts 2027 af Anna Hansen"
        ),
        "{text}"
    );
    assert!(
        !text.contains("Test af backup (2027-Q1), 3. marts"),
        "{text}"
    );
}

#[test]
fn the_digest_goes_to_the_coordinator_while_away_not_to_the_deputy() {
    let world = MailWorld::new(WHEEL);
    world.tick(date(2027, 2, 26));
    world
        .run(&[
            "--now",
            "2027-03-01T10:00:00+01:00",
            "away",
            "koordinator",
            "--from",
            "2027-03-01",
            "--to",
            "2027-03-19",
            "--deputy",
            "anna",
        ])
        .expect(0);
    let sent = world.tick(date(2027, 3, 8));
    let digests: Vec<mime::Mail> = sent
        .iter()
        .map(|r| mime::Mail::parse(&r.data))
        .filter(|m| m.header("X-Arshjul-Kind") == "digest")
        .collect();
    assert_eq!(digests.len(), 1, "{sent:?}");
    assert_eq!(digests[0].to(), vec!["karen@kommune.example".to_string()]);
    assert!(digests[0].cc().is_empty(), "{:?}", digests[0].cc());
}

#[test]
fn a_digest_of_hundreds_of_lines_shows_the_first_fifty_of_each_list_and_counts_the_rest() {
    use arshjul::mail::{Composer, Digest, DigestLine};
    // 300 tasks overdue for months: 1,500 overdue lines made a 387 kB mail,
    // which mail clients clip (Gmail beyond 102 kB).
    let w = wheel::parse(WHEEL, "schedule.toml").unwrap();
    let n = planner::digest_at(&w, at("2027-03-08T07:00:00Z")).unwrap();
    let mut settings = arshjul::settings::Settings::default().mail;
    settings.from = "arshjul@kommune.example".into();
    let composer = Composer::new(&settings).unwrap();
    let line = |i: usize| DigestLine {
        title: format!("Opgave nummer {i} med en lang titel om informationssikkerhed"),
        period: "2027".into(),
        due: date(2027, 3, 1),
        owner: "Anna Hansen".into(),
        days: 7,
    };
    let digest = Digest {
        overdue: (1..=1500).map(line).collect(),
        upcoming: (1..=50).map(line).collect(),
        done: Vec::new(),
        today: date(2027, 3, 8),
    };
    let url = "https://arshjul.example/overview/abc";
    let composed = composer.compose_digest(&w, &n, &digest, Some(url)).unwrap();
    assert!(composed.raw.len() < 80_000, "{} bytes", composed.raw.len());
    let mail = mime::Mail::parse(&composed.raw);
    let text = mail.text();
    assert!(text.contains("Overskredne opgaver (1500):\n"), "{text}");
    assert!(text.contains("Opgave nummer 50 med"), "{text}");
    assert!(!text.contains("Opgave nummer 51 med"), "{text}");
    assert!(
        text.contains("- … og 1450 flere (se dem alle i oversigten).\n\nFrist inden for"),
        "{text}"
    );
    // Exactly fifty: all shown, no "more" line.
    assert!(
        text.contains("Frist inden for de næste 30 dage (50):\n"),
        "{text}"
    );
    assert_eq!(text.matches("flere (se dem alle").count(), 1, "{text}");
    let html = mail.html();
    assert!(
        html.contains(
            "<li style=\"margin:0 0 4px 0;overflow-wrap:anywhere;word-break:break-word\">… og 1450 flere (se dem alle i oversigten).</li>"
        ),
        "{html}"
    );
    assert!(!html.contains("Opgave nummer 51 med"));
}
