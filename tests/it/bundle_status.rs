//! A bundle's parts in `status`, `history`, the term report and `verify`
//! (`mail.bundle`): a deferred, refused or sent bundle shows under each of
//! its tasks as a single message would, never under its first task only.

use crate::bundle_mail::{to_chef, with_annas_escalations, TASKS, WHEEL};
use crate::support::fixtures::{date, year_2027_report};
use crate::support::world::{eight_o_clock, MailWorld};

/// The tasks of `list` (a JSON array of notifications) sent to chef, sorted.
fn chef_tasks(list: &serde_json::Value, kind: &str) -> Vec<String> {
    let mut tasks: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter(|n| n["to"].to_string().contains("chef@"))
        .map(|n| {
            assert_eq!(n["kind"], kind, "{n}");
            n["task"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    tasks.sort();
    tasks
}

#[test]
fn a_deferred_bundle_shows_each_of_its_tasks_in_status_and_history() {
    let world = MailWorld::new(WHEEL);
    let at = eight_o_clock(date(2027, 7, 12)).to_rfc3339();
    // Nothing listens: the bundle (and Anna's reminder) are deferred.
    let tick = world.run_unreachable(&["tick", "--now", &at]);
    assert_eq!(tick.code(), 1, "{}", tick.stderr());
    assert!(
        tick.stderr().contains("2 new, 0 sent, 2 deferred"),
        "{}",
        tick.stderr()
    );

    let status = world.run(&["status", "--now", &at]).expect(0).stdout();
    assert!(
        status.contains("\nDeferred messages (5), kept and retried:\n"),
        "{status}"
    );
    for task in TASKS {
        assert!(
            status.contains(&format!(
                "  2027-07-12 08:00  {task} 2027 reminder to chef@kommune.example: retry "
            )),
            "{task} not shown deferred:\n{status}"
        );
    }
    let v = world
        .run(&["status", "--json", "--now", &at])
        .expect(0)
        .json();
    let deferred = &v["deferred_notifications"];
    assert_eq!(chef_tasks(deferred, "reminder"), TASKS, "{v}");
    for d in deferred.as_array().unwrap() {
        assert_eq!(d["attempts"], 1, "{d}");
        assert!(d["retry_at"].as_str().is_some(), "{d}");
    }
    let history = world.run(&["history", "--json"]).expect(0).json();
    let notes = &history["notifications"];
    assert_eq!(chef_tasks(notes, "reminder"), TASKS, "{history}");
    for n in notes.as_array().unwrap() {
        assert_eq!(n["state"], "pending", "{n}");
    }
}

#[test]
fn a_bundle_refused_for_good_shows_each_task_undeliverable_is_not_planned_again_and_verifies() {
    let world = MailWorld::new(WHEEL);
    world
        .smtp
        .reject("chef@kommune.example", "550 5.1.1 No such user here");
    let day = date(2027, 7, 12);
    let at = eight_o_clock(day).to_rfc3339();
    let tick = world.run(&["tick", "--now", &at]);
    assert_eq!(tick.code(), 1, "{}", tick.stderr());
    assert!(
        tick.stderr()
            .contains("2 new, 1 sent, 0 deferred, 1 failed"),
        "{}",
        tick.stderr()
    );
    let status = world.run(&["status", "--now", &at]).expect(0).stdout();
    assert!(
        status.contains("\nUndeliverable messages (4):\n"),
        "{status}"
    );
    for task in TASKS {
        let line = status
            .lines()
            .find(|l| l.contains(&format!("{task} 2027 reminder to chef@kommune.example")))
            .unwrap_or_else(|| panic!("{task} not shown undeliverable:\n{status}"));
        assert!(line.contains("No such user here"), "{line}");
    }
    let v = world
        .run(&["status", "--json", "--now", &at])
        .expect(0)
        .json();
    assert_eq!(
        chef_tasks(&v["failed_notifications"], "reminder"),
        TASKS,
        "{v}"
    );
    // Given up, like a single message: no part is planned again that day,
    // on its own or in a new bundle, even with the address fixed.
    world.smtp.accept("chef@kommune.example");
    let later = world.tick_with(day, &[]);
    assert!(to_chef(&later).is_empty(), "{} more mails", later.len());
    world.run(&["verify"]).expect(0);
}

#[test]
fn the_term_report_counts_a_sent_bundle_as_each_tasks_message() {
    // Two of Anna's tasks escalate to chef on 12 July: one bundle carrying
    // two escalations, beside chef's bundle of four reminders.
    let wheel = with_annas_escalations();
    let world = MailWorld::new(&wheel);
    let day = date(2027, 7, 12);
    assert_eq!(to_chef(&world.tick(day)).len(), 2, "two bundles to chef");
    let now = (eight_o_clock(day) + chrono::Duration::hours(1)).to_rfc3339();
    let report = world.run(&year_2027_report(&now, "json")).expect(0).json();
    assert_eq!(report["summary"]["escalations"], 2, "{report}");
    let tasks = report["tasks"].as_array().expect("tasks");
    let messages = |id: &str| -> Vec<(String, u64)> {
        let task = tasks
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no {id}: {report}"));
        task["occurrences"][0]["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| {
                (
                    m["kind"].as_str().unwrap_or_default().to_string(),
                    m["level"].as_u64().unwrap_or(99),
                )
            })
            .collect()
    };
    for id in TASKS {
        assert_eq!(messages(id), [("reminder".to_string(), 0)], "{id}");
    }
    for id in ["f-drill", "g-audit"] {
        assert_eq!(messages(id), [("escalation".to_string(), 1)], "{id}");
        let task = tasks.iter().find(|t| t["id"] == id).unwrap();
        assert_eq!(task["occurrences"][0]["escalation_level"], 1, "{id}");
    }
    world.run(&["verify"]).expect(0);
}

/// The tasks a sent bundle carried are evidence: moving a part to another
/// task behind arshjul's back, or removing one, breaks the chain.
#[test]
fn verify_sees_a_bundles_parts_changed_or_removed_behind_its_back() {
    let world = MailWorld::new(WHEEL);
    let day = date(2027, 7, 12);
    assert_eq!(to_chef(&world.tick(day)).len(), 1);
    world.run(&["verify"]).expect(0);
    let db = || rusqlite::Connection::open(world.scratch.file("arshjul.db")).expect("open");
    let out = db()
        .execute(
            "UPDATE bundle_parts SET task = 'e-other' WHERE task = 'b-risk'",
            [],
        )
        .expect("update");
    assert_eq!(out, 1);
    let run = world.run(&["verify"]).expect(1);
    assert!(run.stdout().contains("part.task"), "{}", run.stdout());
    db().execute(
        "UPDATE bundle_parts SET task = 'b-risk' WHERE task = 'e-other'",
        [],
    )
    .expect("put back");
    world.run(&["verify"]).expect(0);
    db().execute("DELETE FROM bundle_parts WHERE task = 'd-backup'", [])
        .expect("delete");
    world.run(&["verify"]).expect(1);
}

/// The log (the journal's `TASK`, `PERIOD`, `KIND` fields) names each
/// task a bundle carried, so `journalctl TASK=b-risk` shows its reminder
/// sent in a bundle, not only the bundle's first task.
#[test]
fn the_log_names_each_task_a_bundle_carried() {
    let world = MailWorld::new(WHEEL).with_env("RUST_LOG", "info");
    let at = eight_o_clock(date(2027, 7, 12)).to_rfc3339();
    let run = world.run(&["tick", "--now", &at]).expect(0);
    let err = run.stderr();
    for task in TASKS {
        assert!(
            err.lines().any(|l| l.contains("sent in a bundle")
                && l.contains(&format!("task={task} period=2027 kind=reminder"))),
            "no line for {task}:\n{err}"
        );
    }
}

/// A bundle the server puts off (451) goes whole when it is tried again,
/// once: no part alone, no second bundle; history then shows each task
/// sent, nothing stays deferred, and the chain verifies. The pass after
/// plans none of the parts again.
#[test]
fn a_bundle_put_off_then_taken_goes_once_whole_and_verifies() {
    let world = MailWorld::new(WHEEL);
    world
        .smtp
        .reject("chef@kommune.example", "451 4.3.0 Try again later");
    let day = date(2027, 7, 12);
    let at = eight_o_clock(day);
    let first = world.run(&["tick", "--now", &at.to_rfc3339()]);
    assert_eq!(first.code(), 1, "{}", first.stderr());
    assert!(
        first.stderr().contains("2 new, 1 sent, 1 deferred"),
        "{}",
        first.stderr()
    );
    assert!(to_chef(&world.smtp.received()).is_empty());
    world.run(&["verify"]).expect(0);

    world.smtp.accept("chef@kommune.example");
    let before = world.smtp.received().len();
    let retry = (at + chrono::Duration::minutes(6)).to_rfc3339();
    let second = world.run(&["tick", "--now", &retry]).expect(0);
    assert!(
        second.stderr().contains("0 new, 1 sent, 0 deferred"),
        "{}",
        second.stderr()
    );
    let mails = to_chef(&world.smtp.received()[before..]);
    assert_eq!(mails.len(), 1, "the bundle once");
    assert_eq!(
        crate::bundle_mail::done_links(&mails[0].text()).len(),
        TASKS.len()
    );
    let history = world.run(&["history", "--json"]).expect(0).json();
    let notes = &history["notifications"];
    assert_eq!(chef_tasks(notes, "reminder"), TASKS, "{history}");
    for n in notes.as_array().unwrap() {
        assert_eq!(n["state"], "sent", "{n}");
    }
    let status = world
        .run(&["status", "--json", "--now", &retry])
        .expect(0)
        .json();
    assert_eq!(
        status["deferred_notifications"],
        serde_json::json!([]),
        "{status}"
    );
    world.run(&["verify"]).expect(0);

    // Later the same day and the day after: nothing planned again.
    let later = (at + chrono::Duration::hours(3)).to_rfc3339();
    let before = world.smtp.received().len();
    world.run(&["tick", "--now", &later]).expect(0);
    world.tick(date(2027, 7, 13));
    assert!(to_chef(&world.smtp.received()[before..]).is_empty());
    world.run(&["verify"]).expect(0);
}
