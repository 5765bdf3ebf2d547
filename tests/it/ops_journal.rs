//! The pass's log lines carry the fields journald turns into `TASK=`,
//! `PERIOD=`, `KIND=`, `RECIPIENTS=` (`src/logging.rs` sends them without a
//! prefix). Checked at the tracing level: a recording subscriber around a
//! real pass (`engine::run_once`, file transport, a real SQLite file).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// An event: its message and the names of its other fields.
type Event = (String, BTreeSet<String>);

/// Every event.
#[derive(Clone, Default)]
struct Recorded(Arc<Mutex<Vec<Event>>>);

struct Fields(String, BTreeSet<String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.1.insert(field.name().to_string());
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Recorded {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut f = Fields(String::new(), BTreeSet::new());
        event.record(&mut f);
        self.0.lock().unwrap().push((f.0, f.1));
    }
}

#[test]
fn a_sent_message_is_logged_with_task_period_kind_and_recipients() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wheel = "[organisation]\nname = \"Testkommune\"\ntimezone = \"Europe/Copenhagen\"\n\
                 language = \"da\"\nsend_time = \"08:00\"\nholidays = \"none\"\nstart = 2027-01-01\n\n\
                 [people.anna]\nname = \"Anna\"\nemail = \"anna@example.dk\"\n\
                 [people.bo]\nname = \"Bo\"\nemail = \"bo@example.dk\"\n\n\
                 [[task]]\nid = \"policy-review\"\ntitle = \"Gennemgå politikken\"\nowner = [\"anna\", \"bo\"]\n\
                 every = \"year\"\ndue = \"03-01\"\nremind = [\"30d\"]\n";
    std::fs::write(dir.path().join("schedule.toml"), wheel).expect("wheel");
    let settings = format!(
        "schedule = {:?}\ndatabase = {:?}\n[mail]\ntransport = \"file\"\ndir = {:?}\n",
        dir.path().join("schedule.toml"),
        dir.path().join("arshjul.db"),
        dir.path().join("outbox"),
    );
    std::fs::write(dir.path().join("arshjul.toml"), settings).expect("settings");
    let config = arshjul::config::Config::load(Some(&dir.path().join("arshjul.toml")), None)
        .expect("config");
    let recorded = Recorded::default();
    let subscriber = tracing_subscriber::registry().with(recorded.clone());
    let now = crate::support::fixtures::utc("2027-02-01T09:00:00+01:00");
    tracing::subscriber::with_default(subscriber, || {
        arshjul::engine::run_once(&config, now, None).expect("the pass");
    });
    let events = recorded.0.lock().unwrap().clone();
    let sent: Vec<_> = events.iter().filter(|(m, _)| m == "sent").collect();
    assert!(!sent.is_empty(), "no `sent` event in {events:?}");
    for (_, fields) in sent {
        for name in ["task", "period", "kind", "recipients"] {
            assert!(fields.contains(name), "`sent` lacks {name}: {fields:?}");
        }
    }
}
