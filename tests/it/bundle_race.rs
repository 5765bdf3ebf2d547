//! Two passes at once against one database file (`arshjul tick` while the
//! daemon passes, or two ticks from cron and a person): each plans from
//! the history as it reads it, then records. One that planned a moment
//! earlier sees a message on its own; the other, a moment later, puts the
//! same message in a bundle with a message that fell due meanwhile.
//! Whichever records first, every message is sent exactly once: in the
//! bundle, or on its own and its companion by a later pass.

use std::process::{Child, Stdio};
use std::time::Duration;

use crate::support::fixtures::testkommune_wheel;
use crate::support::smtp::{self, Mode};
use crate::support::world::MailWorld;

/// Chefen's reminder for `a-policy` fell due on Monday 12 July 2027 and
/// was missed (no pass that day); the one for `b-risk` falls due on
/// Tuesday 13 July at 08:00. A pass at 07:59:59 owes `a-policy` alone, a
/// pass at 08:00:01 both, as one mail.
const WHEEL: &str = testkommune_wheel!(
    r#"start = 2027-01-01

[people.chef]
name = "Centerchef Borgerservice"
email = "chef@kommune.example"

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
due = "07-20"
remind = ["7d"]
"#
);

fn spawn_tick(world: &MailWorld, now: &str) -> Child {
    let mut cmd = crate::support::arshjul(world.scratch.path());
    for (k, v) in smtp::env(world.smtp.port()) {
        cmd.env(k, v);
    }
    cmd.args(["tick", "--now", now])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn arshjul tick")
}

/// How many times each task's reminder went out: on its own or as a part
/// of a sent bundle.
fn sent_per_task(world: &MailWorld) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(world.scratch.file("arshjul.db")).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT task, SUM(n) FROM (
                 SELECT task, 1 AS n FROM outbox
                 WHERE state = 'sent' AND kind = 'reminder'
                 UNION ALL
                 SELECT p.task, 1 FROM bundle_parts p JOIN outbox o ON o.id = p.bundle
                 WHERE o.state = 'sent')
             GROUP BY task ORDER BY task",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The two passes start while a third connection holds the database's
/// write lock, so that without the pass lock both plan from the same
/// history, record in whichever order SQLite lets them, and deliver at
/// once. Before passes took the pass lock ([`arshjul::store::PassLock`]),
/// both delivered the same pending mail (three mails for two rows, nearly
/// every round); before the outbox looked at bundle parts, the order
/// "bundle first" also recorded `a-policy` on its own beside its bundle.
#[test]
fn two_passes_at_once_send_each_message_once_whichever_records_first() {
    for round in 0..4 {
        let world = MailWorld::new(WHEEL);
        // A pass the day before: the tasks are known, nothing is due.
        let first = world.run(&["tick", "--now", "2027-07-11T08:00:00+02:00"]);
        assert_eq!(first.code(), 0, "{}", first.stderr());

        // A server that takes its time (20 ms before each reply): a pass
        // delivering while the other reads the pending messages.
        world.smtp.set_mode(Mode::Slow(Duration::from_millis(20)));
        let lock = rusqlite::Connection::open(world.scratch.file("arshjul.db")).unwrap();
        lock.execute_batch("BEGIN IMMEDIATE").unwrap();
        let early = spawn_tick(&world, "2027-07-13T07:59:59+02:00");
        let late = spawn_tick(&world, "2027-07-13T08:00:01+02:00");
        // Both plan (reading is not blocked) and wait for the lock.
        std::thread::sleep(Duration::from_millis(400));
        lock.execute_batch("ROLLBACK").unwrap();
        for child in [early, late] {
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // A later pass sends what a refused bundle left.
        let last = world.run(&["tick", "--now", "2027-07-13T08:05:00+02:00"]);
        assert_eq!(last.code(), 0, "{}", last.stderr());

        assert_eq!(
            sent_per_task(&world),
            vec![("a-policy".to_string(), 1), ("b-risk".to_string(), 1)],
            "round {round}: each reminder once"
        );
        let received = world.smtp.received();
        let sent_rows: i64 = {
            let conn = rusqlite::Connection::open(world.scratch.file("arshjul.db")).unwrap();
            conn.query_row(
                "SELECT COUNT(*) FROM outbox WHERE state = 'sent'",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(received.len() as i64, sent_rows, "round {round}");
        let verify = world.run(&["verify"]);
        assert_eq!(verify.code(), 0, "round {round}: {}", verify.stdout());
    }
}
