//! Bundles in the store (`mail.bundle`): a bundle is one outbox row, its
//! parts' keys count as in the outbox for the planner, recording is
//! idempotent, and a part is never recorded twice.

use std::collections::{BTreeMap, HashSet};

use arshjul::store::{BundlePart, MessageState, NewBundle, NewMessage, Store};
use arshjul::wheel::{Anchor, Days, Language, Recurrence, Task, Wheel};
use chrono::{DateTime, FixedOffset};

use crate::support::fixtures::organisation;

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn wheel(ids: &[&str]) -> Wheel {
    Wheel {
        organisation: organisation("Ballerup Kommune", Language::Da, None),
        terms: None,
        people: BTreeMap::new(),
        tasks: ids
            .iter()
            .map(|id| Task {
                id: id.to_string(),
                title: id.to_string(),
                owners: vec!["centerchef".to_string()],
                recurrence: Recurrence::Years {
                    every: 1,
                    first: None,
                    month: 12,
                    day: 20,
                },
                anchor: Anchor::Fixed,
                reference: None,
                description: None,
                category: None,
                remind: vec![Days(7)],
                repeat: Some(Days(7)),
                escalate: vec![],
            })
            .collect(),
    }
}

fn part(task: &str) -> BundlePart {
    BundlePart {
        key: format!("{task}/2027/repeat/1/centerchef"),
        task: task.to_string(),
        period: "2027".to_string(),
        kind: "repeat".to_string(),
        step: 1,
    }
}

fn message(key: &str, task: &str) -> NewMessage {
    NewMessage {
        key: key.to_string(),
        task: task.to_string(),
        period: "2027".to_string(),
        kind: "bundle".to_string(),
        step: 0,
        to: vec!["chef@example.dk".to_string()],
        cc: vec![],
        subject: "Du har 4 opgaver i årshjulet i dag".to_string(),
        message_id: format!("<{key}@arshjul>"),
        raw: b"Subject: x\r\n\r\nx\r\n".to_vec(),
        due_at: t("2027-12-27T08:00:00+01:00"),
    }
}

const TASKS: [&str; 4] = ["a", "b", "c", "d"];

fn bundle(key: &str) -> NewBundle {
    NewBundle {
        message: message(key, "a"),
        parts: TASKS.iter().map(|id| part(id)).collect(),
    }
}

#[test]
fn a_bundle_is_one_pending_row_and_its_parts_count_as_in_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arshjul.db");
    let mut store = Store::open(&path, true).unwrap();
    let w = wheel(&TASKS);
    let now = t("2027-12-27T08:00:05+01:00");
    let key = "bundle/2027-12-27/centerchef/abc";
    assert_eq!(store.record_bundles(&[bundle(key)], now).unwrap(), 1);
    // Recorded again (a pass after a crash): nothing new.
    assert_eq!(store.record_bundles(&[bundle(key)], now).unwrap(), 0);

    let pending = store.deliverable(now).unwrap();
    assert_eq!(pending.len(), 1, "one mail, not four");
    assert_eq!(pending[0].kind, "bundle");
    assert_eq!(pending[0].state, MessageState::Pending);
    let parts = store.bundle_parts(pending[0].id).unwrap();
    assert_eq!(parts, TASKS.iter().map(|id| part(id)).collect::<Vec<_>>());

    // Both ways the planner learns what is in the outbox see every part.
    let full = store.history(&w).unwrap();
    let in_view = store
        .history_in_view(&w, |_| {
            TASKS
                .iter()
                .map(|id| (id.to_string(), "2027".to_string()))
                .collect()
        })
        .unwrap();
    for id in TASKS {
        let want: HashSet<String> = [part(id).key].into();
        // The full history also has the bundle's own key under its first
        // task; the planner looks only for the part keys.
        assert!(full.tasks[id].sent.is_superset(&want), "history of {id}");
        assert_eq!(in_view.tasks[id].sent, want, "history in view of {id}");
        assert!(store.has_message(&part(id).key).unwrap());
    }
}

#[test]
fn a_bundle_with_a_part_already_recorded_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("arshjul.db"), true).unwrap();
    let now = t("2027-12-27T08:00:05+01:00");
    // Part `c` went out on its own before.
    let mut single = message(&part("c").key, "c");
    single.kind = "repeat".to_string();
    assert_eq!(store.record_pass(&[], &[single], now).unwrap(), 1);
    assert_eq!(
        store
            .record_bundles(&[bundle("bundle/2027-12-27/centerchef/x")], now)
            .unwrap(),
        0
    );
    let pending = store.deliverable(now).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, "repeat");
    // And a part in one bundle is not recorded in a second.
    let mut other = bundle("bundle/2027-12-27/centerchef/y");
    other.parts.retain(|p| p.task != "c");
    assert_eq!(store.record_bundles(&[other], now).unwrap(), 1);
    let mut third = bundle("bundle/2027-12-27/centerchef/z");
    third.parts.retain(|p| p.task == "a");
    assert_eq!(store.record_bundles(&[third], now).unwrap(), 0);
}

/// The other order, which two passes at once make (`tick` and the daemon,
/// one planning a moment before the other records): a bundle carrying `c`
/// is recorded first, then the other pass records `c` on its own, or as
/// failed to build. The outbox's UNIQUE key does not see a bundle's part,
/// so without the check `c` went twice (in the bundle and alone), or
/// showed as failed although its bundle went.
#[test]
fn a_message_a_bundle_already_carries_is_not_recorded_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("arshjul.db"), true).unwrap();
    let now = t("2027-12-27T08:00:05+01:00");
    assert_eq!(
        store
            .record_bundles(&[bundle("bundle/2027-12-27/centerchef/x")], now)
            .unwrap(),
        1
    );
    let mut single = message(&part("c").key, "c");
    single.kind = "repeat".to_string();
    assert_eq!(store.record_pass(&[], &[single], now).unwrap(), 0);
    let unbuilt = arshjul::store::UnbuiltMessage {
        key: part("d").key,
        task: "d".to_string(),
        period: "2027".to_string(),
        kind: "repeat".to_string(),
        step: 1,
        to: vec!["chef@example.dk".to_string()],
        cc: vec![],
        reason: "template error".to_string(),
        due_at: now,
    };
    assert_eq!(
        store
            .record_pass_with_unbuilt(&[], &[], &[unbuilt], now)
            .unwrap(),
        0
    );
    let pending = store.deliverable(now).unwrap();
    assert_eq!(pending.len(), 1, "the bundle alone");
    assert_eq!(pending[0].kind, "bundle");
    assert!(store.failed_notifications().unwrap().is_empty());
}
