//! The planner: (wheel, history, now) → what has to happen. Pure: it never
//! reads the clock, a file or the database; the caller passes all three in.
//!
//! Two entry points share one expansion of events per occurrence:
//! [`plan_range`] (what would happen in a date range if nothing were
//! completed, for `arshjul plan`) and [`pass`] (what to send at `now`, given
//! what is done and what was already sent, for `arshjul tick` and the daemon).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

/// What kind of notification (or, for `plan`, event) this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The due date itself: shown by `plan`, never sent.
    Due,
    Reminder,
    Repeat,
    Escalation,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Due => "due",
            Kind::Reminder => "reminder",
            Kind::Repeat => "repeat",
            Kind::Escalation => "escalation",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "due" => Kind::Due,
            "reminder" => Kind::Reminder,
            "repeat" => Kind::Repeat,
            "escalation" => Kind::Escalation,
            _ => return None,
        })
    }
}

/// One completion as the planner needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub period: String,
    /// When the work was done (the completion's `at`), as a local date.
    pub on: NaiveDate,
}

/// What the database knows about one task, as far as planning needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskHistory {
    /// The day the task first appeared in the database.
    pub first_seen: Option<NaiveDate>,
    /// Periods completed (all of them, or at least every period that is not
    /// older than `settled_before`).
    pub done: HashSet<String>,
    /// The most recent completion by date (drives rolling tasks).
    pub last_done: Option<Done>,
    /// Idempotency keys of notifications already in the outbox, any state.
    pub sent: HashSet<String>,
}

/// Everything the planner needs from the store, keyed by task id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    pub tasks: HashMap<String, TaskHistory>,
}

/// One notification that is due: the planner's unit of work for `tick`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Stable idempotency key: `task/period/kind/step/recipient`.
    pub key: String,
    pub task: String,
    pub period: String,
    pub due: NaiveDate,
    pub kind: Kind,
    /// Reminder: index in `remind` (0 = earliest); repeat: n (1 = first);
    /// escalation: level (1 = first step).
    pub step: u32,
    /// The day it belongs to (after moving off closed days).
    pub date: NaiveDate,
    pub at: DateTime<Tz>,
    /// Person key addressed (To).
    pub to: String,
    /// Person keys copied (Cc): the owners, on escalations.
    pub cc: Vec<String>,
}

/// The result of one pass at `now`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pass {
    /// Occurrences that exist at `now` (first reminder day reached), so the
    /// store can record them: (task, period, due).
    pub occurrences: Vec<(String, String, NaiveDate)>,
    /// Notifications to send now, oldest first.
    pub send: Vec<Notification>,
    /// The next instant after `now` at which a notification becomes due,
    /// if nothing is completed meanwhile.
    pub next_at: Option<DateTime<Utc>>,
}
