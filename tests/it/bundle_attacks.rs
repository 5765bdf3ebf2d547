//! One e-mail per person per day (`mail.bundle`) attacked as a careless
//! user and an adversary would: a day of 300 tasks, a part done or its
//! task removed between recording and delivery, a retraction, co-owners,
//! the English wheel with `Reply-To`, and local midnight on the days
//! summer time starts and ends.

use std::collections::BTreeSet;

use crate::bundle_mail::{done_links, to_chef, with_annas_escalations, TASKS, WHEEL};
use crate::support::fixtures::date;
use crate::support::http;
use crate::support::mime::Mail;
use crate::support::smtp::Received;
use crate::support::world::{eight_o_clock, MailWorld};

/// A custom Danish bundle template that the start-up check (a sample of
/// three tasks) accepts and that fails on a bundle of four or more.
fn bundle_template_failing_from_four_tasks(world: &MailWorld) {
    std::fs::create_dir_all(world.scratch.file("tpl/da")).unwrap();
    std::fs::write(
        world.scratch.file("tpl/da/bundle.txt"),
        "{% if items|length > 3 %}{{ no_such_value }}{% endif %}{{ count }}\n",
    )
    .unwrap();
    std::fs::write(
        world.scratch.file("arshjul.toml"),
        "[mail]\ntemplates = \"tpl\"\n",
    )
    .unwrap();
}

/// A tick at `now` (RFC 3339) delivering to the world's server; the mails
/// it delivered.
fn tick_at(world: &MailWorld, now: &str) -> Vec<Received> {
    let before = world.smtp.received().len();
    let run = world.run(&["tick", "--now", now]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    world.smtp.received()[before..].to_vec()
}

fn parse(received: &[Received]) -> Vec<Mail> {
    received.iter().map(|r| Mail::parse(&r.data)).collect()
}

/// The link's task and period, as the link's token says.
fn claims(world: &MailWorld, link: &str) -> (String, String) {
    let secret = arshjul::link::Secret::load_or_create(&world.scratch.file("arshjul.secret"))
        .expect("secret");
    let token = link.rsplit('/').next().unwrap_or_default();
    let at = chrono::DateTime::parse_from_rfc3339("2027-02-22T09:00:00+01:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let c = arshjul::link::verify(&secret, token, at).unwrap_or_else(|e| panic!("{link}: {e:?}"));
    (c.task, c.period)
}

/// POSTs `link` to the real router serving the world at `day`; the status.
fn click(world: &MailWorld, day: chrono::NaiveDate, link: &str) -> (u16, String) {
    let served = world.serve(day);
    let url = served.local(link);
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let reply = http::send(host, &http::post(path, "note=", ""));
    (reply.status, reply.body)
}

/// 300 tasks of one person due the same day: a mail of 700 kB that mail
/// clients clip (Gmail at 102 kB) would hide most of them. They go in 12
/// bundles of 25, each under 102 kB, numbered »(1 af 12)« … in the
/// subject and 1–300 across the mails, on one thread; every task's link is
/// in exactly one of them and names its own task.
#[test]
fn a_day_of_300_tasks_goes_in_twelve_bundles_that_mail_clients_show_whole() {
    let mut wheel = String::from(
        "[organisation]\nname = \"Testkommune\"\ntimezone = \"Europe/Copenhagen\"\n\
         language = \"da\"\nsend_time = \"08:00\"\nholidays = \"none\"\nstart = 2027-01-01\n\n\
         [people.anna]\nname = \"Anna\"\nemail = \"anna@example.dk\"\n",
    );
    for i in 0..300 {
        wheel.push_str(&format!(
            "\n[[task]]\nid = \"t-{i:03}\"\n\
             title = \"Gennemgang af informationssikkerhedspolitikken nummer {i:03}\"\n\
             owner = \"anna\"\nevery = \"year\"\ndue = \"03-01\"\nremind = [\"7d\"]\n\
             reference = \"ISO/IEC 27001:2022 5.2\"\n"
        ));
    }
    let world = MailWorld::new(&wheel);
    let received = world.tick(date(2027, 2, 22));
    assert_eq!(received.len(), 12, "twelve bundles");
    let mut links = BTreeSet::new();
    let mut numbers = Vec::new();
    let mut threads = BTreeSet::new();
    for (i, r) in received.iter().enumerate() {
        assert!(r.data.len() < 102 * 1024, "{} bytes", r.data.len());
        let mail = Mail::parse(&r.data);
        assert_eq!(
            mail.header_opt("Subject").as_deref(),
            Some(
                format!(
                    "25 opgaver i årshjulet for Testkommune kræver din opmærksomhed ({} af 12)",
                    i + 1
                )
                .as_str()
            )
        );
        threads.insert(mail.header_opt("In-Reply-To").unwrap_or_default());
        let text = mail.text();
        assert!(
            text.contains(&format!(
                "Du har 300 opgaver i årshjulet for Testkommune, der kræver din opmærksomhed i dag. \
                 Det er for mange til én besked, så de er fordelt på 12 beskeder. \
                 Dette er nr. {} med opgave {}–{}.",
                i + 1,
                i * 25 + 1,
                i * 25 + 25
            )),
            "{text}"
        );
        for line in text.lines() {
            if let Some((n, _)) = line.split_once(". Gennemgang") {
                numbers.push(n.parse::<usize>().expect("a number"));
            }
        }
        let mine = done_links(&text);
        assert_eq!(mine.len(), 25);
        for link in mine {
            let (task, period) = claims(&world, &link);
            assert_eq!(period, "2027");
            assert!(text.contains(&format!("nummer {}", &task[2..])), "{task}");
            assert!(links.insert(task), "a task in two bundles");
        }
    }
    assert_eq!(links.len(), 300);
    assert_eq!(numbers, (1..=300).collect::<Vec<_>>());
    assert_eq!(threads.len(), 1, "one thread for the day: {threads:?}");
    // History: 300 reminders sent, each as a part.
    let history = world.run(&["history", "--json"]).expect(0).json();
    assert_eq!(history["notifications"].as_array().unwrap().len(), 300);
}

/// A part's task is marked done (`arshjul done`) after its bundle was
/// recorded but before it was delivered. A single message in that case is
/// sent as recorded (`a_single_message_done_before_delivery_is_sent_as_recorded`
/// below); the bundle likewise, once, with all four links, and the done
/// task's link then says it is already recorded and records nothing more.
/// When every part is done, the bundle is sent as recorded, like a single
/// message.
#[test]
fn a_part_done_between_record_and_delivery_is_sent_as_recorded_and_its_link_records_nothing_more() {
    let world = MailWorld::new(WHEEL);
    let at = eight_o_clock(date(2027, 7, 12));
    let now = at.to_rfc3339();
    let first = world.run_unreachable(&["tick", "--now", &now]);
    assert_eq!(first.code(), 1, "{}", first.stderr());
    let later = (at + chrono::Duration::minutes(2)).to_rfc3339();
    world
        .run(&["--now", &later, "done", "b-risk", "--period", "2027"])
        .expect(0);

    let retry = (at + chrono::Duration::minutes(10)).to_rfc3339();
    let chef = to_chef(&tick_at(&world, &retry));
    assert_eq!(chef.len(), 1, "the bundle once");
    let links = done_links(&chef[0].text());
    assert_eq!(links.len(), 4);
    let risk = links
        .iter()
        .find(|l| claims(&world, l).0 == "b-risk")
        .expect("b-risk's link");
    let (status, page) = click(&world, date(2027, 7, 12), risk);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Allerede registreret"), "{page}");
    let history = world.run(&["history", "--json"]).expect(0).json();
    let done: Vec<&serde_json::Value> = history["completions"].as_array().unwrap().iter().collect();
    assert_eq!(done.len(), 1, "{history}");
    assert_eq!(done[0]["via"], "cli");
    // No second mail for anyone later that day.
    let again = (at + chrono::Duration::minutes(30)).to_rfc3339();
    assert!(to_chef(&tick_at(&world, &again)).is_empty());
}

/// The case the bundle follows: a single reminder done between record and
/// delivery is sent as recorded.
#[test]
fn a_single_message_done_before_delivery_is_sent_as_recorded() {
    let world = MailWorld::new(WHEEL);
    let at = eight_o_clock(date(2027, 7, 12));
    world.run_unreachable(&["tick", "--now", &at.to_rfc3339()]);
    let later = (at + chrono::Duration::minutes(2)).to_rfc3339();
    world
        .run(&["--now", &later, "done", "e-other", "--period", "2027"])
        .expect(0);
    let retry = (at + chrono::Duration::minutes(10)).to_rfc3339();
    let anna: Vec<Mail> = parse(&tick_at(&world, &retry))
        .into_iter()
        .filter(|m| m.to().iter().any(|t| t.contains("anna@")))
        .collect();
    assert_eq!(anna.len(), 1);
    assert_eq!(
        anna[0].header_opt("X-Arshjul-Task").as_deref(),
        Some("e-other")
    );
}

/// Every part done before delivery: the bundle goes as recorded (like a
/// single message), once, and no pass plans anything more for the tasks.
#[test]
fn a_bundle_whose_every_part_is_done_before_delivery_is_sent_once_as_recorded() {
    let world = MailWorld::new(WHEEL);
    let at = eight_o_clock(date(2027, 7, 12));
    world.run_unreachable(&["tick", "--now", &at.to_rfc3339()]);
    let later = (at + chrono::Duration::minutes(2)).to_rfc3339();
    for task in TASKS {
        world
            .run(&["--now", &later, "done", task, "--period", "2027"])
            .expect(0);
    }
    let retry = (at + chrono::Duration::minutes(10)).to_rfc3339();
    let chef = to_chef(&tick_at(&world, &retry));
    assert_eq!(chef.len(), 1);
    assert_eq!(done_links(&chef[0].text()).len(), 4);
    // The week after (repeats would be due for open tasks): nothing.
    let week = eight_o_clock(date(2027, 7, 26)).to_rfc3339();
    assert!(to_chef(&tick_at(&world, &week)).is_empty());
}

/// A task removed from the wheel (or renamed: a new id) after its bundle
/// was recorded: the bundle goes once as recorded, its parts stay in
/// `history` under the old id, and the renamed task is a new task.
#[test]
fn a_task_removed_from_the_wheel_between_record_and_delivery_leaves_the_bundle_whole() {
    let world = MailWorld::new(WHEEL);
    let at = eight_o_clock(date(2027, 7, 12));
    world.run_unreachable(&["tick", "--now", &at.to_rfc3339()]);
    let wheel = WHEEL.replace("id = \"c-access\"", "id = \"c-access-2\"");
    std::fs::write(world.scratch.file("schedule.toml"), &wheel).unwrap();
    let retry = (at + chrono::Duration::minutes(10)).to_rfc3339();
    let mails = to_chef(&tick_at(&world, &retry));
    // The recorded bundle with four tasks, and the renamed task, new to
    // the wheel, its own reminder.
    assert_eq!(mails.len(), 2, "{mails:?}");
    let bundle = mails
        .iter()
        .find(|m| m.header_opt("X-Arshjul-Kind").as_deref() == Some("bundle"))
        .expect("the bundle");
    assert_eq!(done_links(&bundle.text()).len(), 4);
    let single = mails
        .iter()
        .find(|m| m.header_opt("X-Arshjul-Kind").as_deref() == Some("reminder"))
        .expect("the renamed task's reminder");
    assert_eq!(
        single.header_opt("X-Arshjul-Task").as_deref(),
        Some("c-access-2")
    );
    let history = world.run(&["history", "--json"]).expect(0).json();
    let tasks: BTreeSet<&str> = history["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["to"].to_string().contains("chef@"))
        .map(|n| n["task"].as_str().unwrap())
        .collect();
    assert_eq!(
        tasks,
        BTreeSet::from(["a-policy", "b-risk", "c-access", "c-access-2", "d-backup"])
    );
    world.run(&["verify"]).expect(0);
}

/// A completion retracted (`arshjul undo`) after the bundle went: the
/// reminder it carried is not sent again (it was sent); the task's repeat
/// a week after the due date is, as for a single message.
#[test]
fn a_retraction_after_the_bundle_does_not_resend_its_part_and_the_repeat_follows() {
    let wheel = WHEEL.replace(
        "[people.chef]",
        "[defaults]\nrepeat = \"7d\"\n\n[people.chef]",
    );
    let world = MailWorld::new(&wheel);
    let day = date(2027, 7, 12);
    assert_eq!(to_chef(&world.tick(day)).len(), 1);
    let at = eight_o_clock(day);
    let t1 = (at + chrono::Duration::minutes(5)).to_rfc3339();
    let t2 = (at + chrono::Duration::minutes(6)).to_rfc3339();
    world
        .run(&["--now", &t1, "done", "b-risk", "--period", "2027"])
        .expect(0);
    world
        .run(&[
            "--now", &t2, "undo", "b-risk", "--period", "2027", "--reason", "fejl",
        ])
        .expect(0);
    let t3 = (at + chrono::Duration::minutes(30)).to_rfc3339();
    assert!(to_chef(&tick_at(&world, &t3)).is_empty(), "nothing resent");
    // 26 July: the four tasks are a week overdue; their repeats are one
    // bundle, b-risk among them.
    let repeats = to_chef(&world.tick(date(2027, 7, 26)));
    assert_eq!(repeats.len(), 1);
    let links = done_links(&repeats[0].text());
    assert_eq!(links.len(), 4);
    assert!(repeats[0].text().contains("Risikovurdering"));
}

/// Two co-owners of a task: each gets the task in their own bundle with a
/// link of their own; either link records it, by its holder.
#[test]
fn co_owners_each_get_the_task_in_their_own_bundle_with_their_own_link() {
    let wheel = format!(
        "{WHEEL}\n[[task]]\nid = \"f-shared\"\ntitle = \"Fælles opgave\"\n\
         owner = [\"chef\", \"anna\"]\nevery = \"year\"\ndue = \"07-19\"\nremind = [\"7d\"]\n"
    );
    let world = MailWorld::new(&wheel);
    let day = date(2027, 7, 12);
    let mails = parse(&world.tick(day));
    assert_eq!(mails.len(), 2, "one bundle each");
    let mut shared_links = Vec::new();
    for m in &mails {
        assert_eq!(m.header_opt("X-Arshjul-Kind").as_deref(), Some("bundle"));
        let text = m.text();
        assert!(text.contains("Fælles opgave"), "{text}");
        let link = done_links(&text)
            .into_iter()
            .find(|l| claims(&world, l).0 == "f-shared")
            .expect("the shared task's link");
        shared_links.push((m.to()[0].clone(), link));
    }
    assert_ne!(shared_links[0].1, shared_links[1].1, "a link each");
    let anna = shared_links
        .iter()
        .find(|(to, _)| to.contains("anna@"))
        .expect("anna's");
    let (status, page) = click(&world, day, &anna.1);
    assert_eq!(status, 200, "{page}");
    let history = world.run(&["history", "--json"]).expect(0).json();
    let done = &history["completions"][0];
    assert_eq!(done["task"], "f-shared", "{history}");
    assert_eq!(done["by"], "anna@kommune.example", "{history}");
}

/// The English wheel's bundle reads in English, and `mail.reply_to` is
/// its `Reply-To`, as on a single message.
#[test]
fn an_english_wheel_bundle_reads_in_english_and_carries_reply_to() {
    let wheel = WHEEL.replace("language = \"da\"", "language = \"en\"");
    let world = MailWorld::new(&wheel).with_env(
        "ARSHJUL_MAIL__REPLY_TO",
        "Koordinator <koordinator@kommune.example>",
    );
    let mails = parse(&world.tick(date(2027, 7, 12)));
    assert_eq!(mails.len(), 2);
    for m in &mails {
        assert!(
            m.header_opt("Reply-To")
                .is_some_and(|r| r.contains("koordinator@kommune.example")),
            "{:?}",
            m.header_opt("Reply-To")
        );
    }
    let chef = to_chef(&world.smtp.received());
    let mail = &chef[0];
    assert_eq!(
        mail.header_opt("Subject").as_deref(),
        Some("4 tasks in the compliance calendar of Testkommune need your attention")
    );
    let text = mail.text();
    assert!(
        text.contains("You have 4 tasks in the compliance calendar of Testkommune"),
        "{text}"
    );
    assert_eq!(text.matches("   Reminder: due ").count(), 4, "{text}");
    // Signed as every English mail is, with a comma after the regards.
    assert!(
        text.trim_end()
            .ends_with("\n\nKind regards,\nThe compliance calendar of Testkommune"),
        "{text}"
    );
    assert!(
        mail.html()
            .contains("Kind regards,<br>The compliance calendar of Testkommune"),
        "the HTML part's signature"
    );
    assert!(
        !text.contains("opgave"),
        "Danish in the English mail:\n{text}"
    );
}

/// Mail at 00:30 on the first Monday after summer time starts (29 March
/// 2027) and after it ends (1 November 2027), when Copenhagen is a day
/// ahead of UTC (22:30 or 23:30 UTC the evening before): the bundle's day,
/// in its key, Message-ID and thread, is the Copenhagen date, and a pass
/// at 23:30 local the evening before sends nothing.
#[test]
fn the_bundle_day_is_the_copenhagen_day_after_both_dst_changes() {
    for (due, remind_day, utc_evening, utc_after_midnight) in [
        // Reminders 7 days before Monday 5 April: Monday 29 March.
        (
            "04-05",
            "2027-03-29",
            "2027-03-28T21:30:00Z", // 23:30 CEST on Sunday the 28th
            "2027-03-28T22:30:00Z", // 00:30 CEST on Monday the 29th
        ),
        // Reminders 7 days before Monday 8 November: Monday 1 November.
        (
            "11-08",
            "2027-11-01",
            "2027-10-31T22:30:00Z", // 23:30 CET on Sunday the 31st
            "2027-10-31T23:30:00Z", // 00:30 CET on Monday the 1st
        ),
    ] {
        let wheel = WHEEL
            .replace(
                "send_time = \"08:00\"",
                "send_time = \"00:30\"\nholidays = \"none\"",
            )
            .replace("due = \"07-19\"", &format!("due = \"{due}\""));
        let world = MailWorld::new(&wheel);
        assert!(
            tick_at(&world, utc_evening).is_empty(),
            "nothing the evening before {remind_day}"
        );
        let chef = to_chef(&tick_at(&world, utc_after_midnight));
        assert_eq!(chef.len(), 1, "{remind_day}");
        let m = &chef[0];
        let id = m.header_opt("Message-ID").unwrap_or_default();
        assert!(
            id.starts_with(&format!("<bundle.{remind_day}.chef.")),
            "{id}"
        );
        let thread = m.header_opt("In-Reply-To").unwrap_or_default();
        assert!(
            thread.starts_with(&format!("<day.{remind_day}.chef.")),
            "{thread}"
        );
        let conn = rusqlite::Connection::open(world.scratch.file("arshjul.db")).unwrap();
        let key: String = conn
            .query_row("SELECT key FROM outbox WHERE kind = 'bundle'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(
            key.starts_with(&format!("bundle/{remind_day}/chef/")),
            "{key}"
        );
    }
}

/// After downtime, one pass owes chef a reminder planned for Monday (four
/// tasks) and one planned for Tuesday (a fifth): they leave the same day,
/// so they are one mail, not one per planned day.
#[test]
fn a_pass_after_downtime_sends_the_days_it_missed_as_one_mail() {
    let wheel = format!(
        "{WHEEL}\n[[task]]\nid = \"f-later\"\ntitle = \"Opgave dagen efter\"\n\
         owner = \"chef\"\nevery = \"year\"\ndue = \"07-20\"\nremind = [\"7d\"]\n"
    );
    let world = MailWorld::new(&wheel);
    assert!(world.tick(date(2027, 7, 1)).is_empty());
    // Down on Monday 12 July; back on Tuesday 13 July.
    let chef = to_chef(&world.tick(date(2027, 7, 13)));
    assert_eq!(chef.len(), 1, "one mail");
    assert_eq!(done_links(&chef[0].text()).len(), 5);
    assert_eq!(
        chef[0].header_opt("Subject").as_deref(),
        Some("5 opgaver i årshjulet for Testkommune kræver din opmærksomhed")
    );
}

/// Anna is `To` on her own reminder and `Cc` on the escalations of her two
/// overdue tasks to chef the same day: different recipients, so she gets
/// her reminder on its own and is copied on chef's escalation bundle,
/// which is a mail apart from chef's own reminders; nothing lists a task
/// twice.
#[test]
fn to_on_one_message_and_cc_on_another_are_different_mails() {
    let wheel = with_annas_escalations();
    let world = MailWorld::new(&wheel);
    let received = world.tick(date(2027, 7, 12));
    assert_eq!(received.len(), 3, "chef's two bundles and Anna's reminder");
    let anna: Vec<Mail> = received
        .iter()
        .filter(|r| r.rcpt.iter().any(|a| a == "anna@kommune.example"))
        .map(|r| Mail::parse(&r.data))
        .collect();
    assert_eq!(anna.len(), 2);
    let own = anna
        .iter()
        .find(|m| m.to().iter().any(|t| t.contains("anna@")))
        .expect("her reminder");
    assert_eq!(
        own.header_opt("X-Arshjul-Kind").as_deref(),
        Some("reminder")
    );
    let copied = anna
        .iter()
        .find(|m| m.cc().iter().any(|t| t.contains("anna@")))
        .expect("the escalations");
    assert_eq!(
        copied.header_opt("X-Arshjul-Kind").as_deref(),
        Some("bundle")
    );
    assert!(copied.to().iter().any(|t| t.contains("chef@")));
    let text = copied.text();
    assert!(text.contains("Opgave f-drill") && text.contains("Opgave g-audit"));
    assert!(
        !text.contains("Risikovurdering"),
        "chef's own reminders apart"
    );
}

/// A custom bundle template that fails on real data only (the start-up
/// check renders a sample of three tasks; this fails from four): the
/// bundle is not built, and its four reminders go one by one, none lost,
/// none failed; the next pass plans nothing more.
#[test]
fn a_bundle_that_cannot_be_built_sends_its_parts_one_by_one() {
    let world = MailWorld::new(WHEEL);
    bundle_template_failing_from_four_tasks(&world);
    let day = date(2027, 7, 12);
    let chef = to_chef(&world.tick(day));
    assert_eq!(chef.len(), 4, "the four reminders on their own");
    let mut tasks: Vec<String> = chef
        .iter()
        .map(|m| {
            assert_eq!(m.header_opt("X-Arshjul-Kind").as_deref(), Some("reminder"));
            m.header_opt("X-Arshjul-Task").unwrap_or_default()
        })
        .collect();
    tasks.sort();
    assert_eq!(tasks, TASKS);
    let status = world
        .run(&[
            "status",
            "--json",
            "--now",
            &eight_o_clock(day).to_rfc3339(),
        ])
        .expect(0)
        .json();
    assert_eq!(status["failed_notifications"], serde_json::json!([]));
    assert!(world.tick_with(day, &[]).is_empty());
}

/// The brake counted chef's four reminders as one mail; a bundle that
/// cannot be built would send them as four. With `mail.max_per_pass` 2
/// (chef's bundle and Anna's reminder: the pass is let through) they would
/// be five mails: so the four are recorded failed, with the reason, and
/// none goes; Anna's reminder goes. Before, the four went one by one past
/// the brake (a day of 300 tasks: 300 mails where the brake allowed 12).
#[test]
fn a_bundle_that_cannot_be_built_does_not_send_its_parts_past_the_brake() {
    let world = MailWorld::new(WHEEL).with_env("ARSHJUL_MAIL__MAX_PER_PASS", "2");
    bundle_template_failing_from_four_tasks(&world);
    let day = date(2027, 7, 12);
    let at = eight_o_clock(day).to_rfc3339();
    let run = world.run(&["tick", "--now", &at]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let received = world.smtp.received();
    assert!(
        to_chef(&received).is_empty(),
        "{} mails to chef",
        to_chef(&received).len()
    );
    assert_eq!(received.len(), 1, "Anna's reminder alone");
    let status = world
        .run(&["status", "--json", "--now", &at])
        .expect(0)
        .json();
    let failed = status["failed_notifications"].as_array().unwrap();
    assert_eq!(failed.len(), 4, "{status}");
    for f in failed {
        assert!(
            f.to_string().contains("mail.max_per_pass 2"),
            "the reason names the brake: {f}"
        );
    }
}
