//! The planner: (wheel, history, now) → what has to happen. Pure: it never
//! reads the clock, a file or the database; the caller passes all three in.
//!
//! Two entry points share one expansion of events per occurrence:
//! [`plan_range`] (what would happen in a date range if nothing were
//! completed, for `arshjul plan`) and [`pass`] (what to send at `now`, given
//! what is done and what was already sent, for `arshjul tick` and the daemon).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use crate::calendar::Calendar;
use crate::recurrence::{self, Occurrence};
use crate::wheel::{Anchor, Recurrence, Task, Wheel};
use chrono_tz::Tz;

/// What kind of notification (or, for `plan`, event) this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The due date itself: shown by `plan`, never sent.
    Due,
    Reminder,
    Repeat,
    Escalation,
    /// A fresh completion link an owner asked for on the page of an expired
    /// link. Never planned: the engine sends it on request.
    Link,
    /// The weekly digest to the coordinator ([`digest_at`]); about the
    /// whole wheel, not one task.
    Digest,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Due => "due",
            Kind::Reminder => "reminder",
            Kind::Repeat => "repeat",
            Kind::Escalation => "escalation",
            Kind::Link => "link",
            Kind::Digest => "digest",
        }
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
    /// Absences not cancelled (at least those that reach today or later).
    pub absences: Vec<Absence>,
}

/// A person's recorded absence (`arshjul away`), as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    /// The store's id: of two absences covering one day, the later
    /// recorded (higher id) decides.
    pub id: i64,
    pub person: String,
    /// First and last local day away, inclusive.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Person key of the deputy.
    pub deputy: String,
}

/// Someone away, and who stands in for them on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The person away.
    pub person: String,
    /// Their deputy.
    pub deputy: String,
    /// The last day away: the end of the stretch of absences that runs
    /// through the deciding one.
    pub until: NaiveDate,
}

/// Who stands in for `person` on `day`: the deputy of the latest recorded
/// absence covering that day, if that deputy is in the wheel and not away
/// that day too. `None`: the person gets their messages themselves (not
/// away, or nobody present to stand in). One step only, so never a loop.
pub fn standing_in(
    wheel: &Wheel,
    absences: &[Absence],
    person: &str,
    day: NaiveDate,
) -> Option<Standing> {
    let away = |who: &str| {
        absences
            .iter()
            .filter(|a| a.person == who && a.from <= day && day <= a.to)
            .max_by_key(|a| a.id)
    };
    let absence = away(person)?;
    let deputy = absence.deputy.as_str();
    if deputy == person || wheel.person(deputy).is_none() || away(deputy).is_some() {
        return None;
    }
    Some(Standing {
        person: person.to_string(),
        deputy: deputy.to_string(),
        until: back_after(absences, person, absence.to),
    })
}

/// The last day of `person`'s stretch away that runs through `to`: the
/// deciding absence may be a shorter one inside a longer one, or be
/// followed at once by another, and the deputy is told when the person is
/// back, not when their own turn ends.
fn back_after(absences: &[Absence], person: &str, to: NaiveDate) -> NaiveDate {
    let mut until = to;
    loop {
        let next = until.succ_opt().unwrap_or(until);
        let further = absences
            .iter()
            .filter(|a| a.person == person && a.from <= next && a.to > until)
            .map(|a| a.to)
            .max();
        match further {
            Some(to) => until = to,
            None => return until,
        }
    }
}

/// Sends a notification to the deputies of the people it addresses who are
/// away on `day`: an absent addressee's message goes To their deputy with
/// the addressee in Cc; an absent person in Cc keeps their copy and their
/// deputy gets one too. The key is left as it is: the message is still the
/// addressee's, only delivered to whoever stands in. A deputy who owns the
/// task as well already gets its reminders and repeats, so the absent
/// owner's stay with the owner.
fn route(wheel: &Wheel, absences: &[Absence], day: NaiveDate, mut n: Notification) -> Notification {
    if absences.is_empty() {
        return n;
    }
    for person in &n.cc {
        if let Some(s) = standing_in(wheel, absences, person, day) {
            n.cc_deputies.push(s);
        }
    }
    if let Some(s) = deputy_for(wheel, absences, &n.task, n.kind, &n.to, day) {
        n.cc.insert(0, std::mem::replace(&mut n.to, s.deputy.clone()));
        n.on_behalf = Some(s);
    }
    for s in &n.cc_deputies {
        if s.deputy != n.to && !n.cc.contains(&s.deputy) {
            n.cc.push(s.deputy.clone());
        }
    }
    let to = n.to.clone();
    n.cc.retain(|c| *c != to);
    n
}

/// Who is sent `person`'s `kind` message of `task` on `day` in their
/// place: the deputy standing in ([`standing_in`]), unless that deputy owns
/// the task too and the message is not an escalation (they get their own
/// reminders and repeats of it, not a second copy on the owner's behalf).
/// The one rule for the pass and for `plan`.
pub fn deputy_for(
    wheel: &Wheel,
    absences: &[Absence],
    task: &str,
    kind: Kind,
    person: &str,
    day: NaiveDate,
) -> Option<Standing> {
    let co_owner = |deputy: &str| {
        kind != Kind::Escalation
            && wheel
                .task(task)
                .is_some_and(|t| t.owners.iter().any(|o| o == deputy))
    };
    standing_in(wheel, absences, person, day).filter(|s| !co_owner(&s.deputy))
}

/// For each addressee of a plan event, who really gets it on its day:
/// `(addressee, Some(standing))` when a deputy stands in, as the pass
/// routes it; `None` for the due date itself, which sends nothing.
pub fn plan_stand_ins(
    wheel: &Wheel,
    absences: &[Absence],
    e: &PlanEvent<'_>,
) -> Vec<Option<Standing>> {
    e.to.iter()
        .map(|person| {
            if absences.is_empty() || e.kind == Kind::Due {
                None
            } else {
                deputy_for(wheel, absences, e.task, e.kind, person, e.date)
            }
        })
        .collect()
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
    /// Person key addressed (To): the owner or escalation target, or their
    /// deputy while they are away (then `on_behalf` says for whom).
    pub to: String,
    /// Person keys copied (Cc): the owners, on escalations; an absent
    /// addressee; the deputies of absent owners copied.
    pub cc: Vec<String>,
    /// Set when `to` is a deputy: whom they stand in for, and until when.
    /// The key's recipient part stays that person's.
    pub on_behalf: Option<Standing>,
    /// People in Cc who are away, whose deputies are in Cc too.
    pub cc_deputies: Vec<Standing>,
}

impl Notification {
    /// The person the message is meant for (the key's recipient part):
    /// `to`, unless a deputy receives it on their behalf.
    pub fn addressee(&self) -> &str {
        self.on_behalf.as_ref().map_or(&self.to, |s| &s.person)
    }
}

/// The result of one pass at `now`.
#[derive(Debug, Clone, Default, PartialEq)]
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

/// One event of `arshjul plan`: what would happen if nothing were completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEvent<'w> {
    pub task: &'w str,
    /// Shared by the events of one occurrence.
    pub period: Arc<str>,
    pub due: NaiveDate,
    pub kind: Kind,
    /// Escalation level (1 = first step); 0 for other kinds.
    pub level: u32,
    pub date: NaiveDate,
    pub at: DateTime<Tz>,
    /// Person keys addressed (To): the owners, or the escalation target.
    pub to: &'w [String],
}

/// Where one task's oldest unfinished occurrence stands (docs/commands.md, `arshjul status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub task: String,
    pub period: String,
    pub due: NaiveDate,
    pub state: State,
    pub days_overdue: i64,
    pub escalation_level: u32,
    /// The next notification day for this occurrence, if any is left.
    pub next: Option<NaiveDate>,
    /// The day the occurrence opens: its first reminder day (moved off
    /// closed days), or its due date when that comes first.
    pub opens: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Upcoming,
    Open,
    Overdue,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Upcoming => "upcoming",
            State::Open => "open",
            State::Overdue => "overdue",
        }
    }
}

/// Closed days never run longer than this in a row (Christmas to New Year
/// with a weekend is about a week); bounds searches that must look past
/// days that moved.
const MOVE_SLACK_DAYS: i64 = 31;

/// How far ahead `status` looks for an occurrence that is not done.
const STATUS_HORIZON_DAYS: i64 = 366 * 50;

/// Ordering of events on the same day when picking "the latest one": an
/// escalation (which copies the owners) outranks a repeat, which outranks
/// a reminder.
fn priority(kind: Kind) -> u8 {
    match kind {
        Kind::Due | Kind::Link | Kind::Digest => 0,
        Kind::Reminder => 1,
        Kind::Repeat => 2,
        Kind::Escalation => 3,
    }
}

/// The day rules of one task on one wheel: where each reminder, repeat and
/// escalation of an occurrence falls.
struct TaskRules<'a, 'c> {
    task: &'a Task,
    cal: &'c Calendar,
}

/// A reminder of an occurrence: its lead time and the open day it falls on.
#[derive(Debug, Clone, Copy)]
struct Reminder {
    lead: u32,
    date: NaiveDate,
}

/// An escalation step of an occurrence.
#[derive(Debug, Clone, Copy)]
struct Escalation<'a> {
    level: u32,
    after: u32,
    date: NaiveDate,
    to: &'a str,
}

impl<'a> TaskRules<'a, '_> {
    /// Reminders in date order; two leads that land on the same open day
    /// become one (the one closer to the due date).
    fn reminders(&self, due: NaiveDate) -> Vec<Reminder> {
        let mut out: Vec<Reminder> = self
            .task
            .remind
            .iter()
            .map(|lead| Reminder {
                lead: lead.0,
                date: self
                    .cal
                    .open_on_or_before(due - chrono::Duration::days(i64::from(lead.0))),
            })
            .collect();
        out.sort_by_key(|r| (r.date, std::cmp::Reverse(r.lead)));
        out.dedup_by_key(|r| r.date);
        out
    }

    fn escalations(&self, due: NaiveDate) -> Vec<Escalation<'a>> {
        self.task
            .escalate
            .iter()
            .enumerate()
            .map(|(i, step)| Escalation {
                level: i as u32 + 1,
                after: step.after.0,
                date: self
                    .cal
                    .open_on_or_after(due + chrono::Duration::days(i64::from(step.after.0))),
                to: step.to.as_str(),
            })
            .collect()
    }

    /// The open day of the `k`-th repeat (k >= 1), and its nominal offset.
    fn repeat(&self, due: NaiveDate, k: i64) -> Option<(u32, NaiveDate)> {
        let every = i64::from(self.task.repeat?.0);
        let offset = every.checked_mul(k)?;
        let nominal = due.checked_add_signed(chrono::Duration::days(offset))?;
        Some((
            u32::try_from(offset).ok()?,
            self.cal.open_on_or_after(nominal),
        ))
    }

    /// The latest repeat whose day is on or before `day`.
    fn latest_repeat(&self, due: NaiveDate, day: NaiveDate) -> Option<(u32, NaiveDate)> {
        let every = i64::from(self.task.repeat?.0);
        let mut k = (day - due).num_days() / every;
        while k >= 1 {
            let (offset, date) = self.repeat(due, k)?;
            if date <= day {
                return Some((offset, date));
            }
            k -= 1;
        }
        None
    }

    /// The first repeat whose day is after `day`.
    fn next_repeat(&self, due: NaiveDate, day: NaiveDate) -> Option<NaiveDate> {
        let every = i64::from(self.task.repeat?.0);
        let mut k = ((day - due).num_days() / every).max(0) + 1;
        loop {
            let (_, date) = self.repeat(due, k)?;
            if date > day {
                return Some(date);
            }
            k += 1;
        }
    }

    /// All events of one occurrence with their day in `from..=to`, if
    /// nothing is completed. Per day, the owners get at most one message
    /// (a repeat on an escalation day is left out: the escalation copies them).
    fn expand(
        &self,
        occ: &Occurrence,
        from: NaiveDate,
        to: NaiveDate,
        out: &mut Vec<PlanEvent<'a>>,
    ) {
        let due = occ.due;
        let owners: &'a [String] = &self.task.owners;
        let task: &'a str = &self.task.id;
        let period: Arc<str> = Arc::from(occ.period.as_str());
        let mut push = |kind: Kind, level: u32, date: NaiveDate, to_keys: &'a [String]| {
            if date >= from && date <= to {
                out.push(PlanEvent {
                    task,
                    period: period.clone(),
                    due,
                    kind,
                    level,
                    date,
                    at: self.cal.send_instant(date),
                    to: to_keys,
                });
            }
        };
        for r in self.reminders(due) {
            push(Kind::Reminder, 0, r.date, owners);
        }
        push(Kind::Due, 0, due, owners);
        let escalations = self.escalations(due);
        if let Some(every) = self.task.repeat.map(|d| i64::from(d.0)) {
            let first = ((from - due).num_days() - MOVE_SLACK_DAYS) / every;
            let mut k = first.max(1);
            let mut last_day = None;
            while let Some((_, date)) = self.repeat(due, k) {
                if date > to + chrono::Duration::days(MOVE_SLACK_DAYS) {
                    break;
                }
                let escalated = escalations.iter().any(|e| e.date == date);
                if last_day != Some(date) && !escalated {
                    push(Kind::Repeat, 0, date, owners);
                }
                last_day = Some(date);
                k += 1;
            }
        }
        for (e, step) in escalations.iter().zip(&self.task.escalate) {
            push(
                Kind::Escalation,
                e.level,
                e.date,
                std::slice::from_ref(&step.to),
            );
        }
    }
}

fn lower_bound(wheel: &Wheel, th: Option<&TaskHistory>, fallback: NaiveDate) -> NaiveDate {
    wheel
        .organisation
        .start
        .or_else(|| th.and_then(|h| h.first_seen))
        .unwrap_or(fallback)
}

/// The longest reminder lead of a task, in days.
fn max_lead(task: &Task) -> i64 {
    task.remind
        .iter()
        .map(|d| i64::from(d.0))
        .max()
        .unwrap_or(0)
}

/// The occurrences of `task` with a due date in `lb..=to` that can still be
/// pending. Fixed tasks follow the calendar. A task anchored on completion
/// has one occurrence at a time: the first calendar occurrence, or the last
/// completion plus one interval.
fn occurrences_of(
    wheel: &Wheel,
    task: &Task,
    th: Option<&TaskHistory>,
    lb: NaiveDate,
    to: NaiveDate,
) -> Vec<Occurrence> {
    let terms = wheel.terms.as_ref();
    let rule = &task.recurrence;
    match task.anchor {
        Anchor::Fixed => recurrence::occurrences(rule, terms, lb, to),
        Anchor::Completion => {
            let months = recurrence::interval_months(rule, terms);
            let first_fixed = || {
                let horizon = recurrence::add_months_clamped(lb, months.saturating_mul(2).max(24));
                recurrence::occurrences(rule, terms, lb, horizon)
                    .into_iter()
                    .next()
            };
            let next = match th.and_then(|h| h.last_done.as_ref()) {
                None => first_fixed(),
                Some(last) => {
                    let due = recurrence::add_months_clamped(last.on, months);
                    if due < lb {
                        first_fixed()
                    } else {
                        let done = th.map(|h| &h.done);
                        let mut period = recurrence::period_of(rule, terms, due);
                        let mut probe = due;
                        // An early completion can make the next due date fall in
                        // the period just completed: the new occurrence takes
                        // the next period key that is still free.
                        while period <= last.period || done.is_some_and(|d| d.contains(&period)) {
                            probe = recurrence::add_months_clamped(probe, months.max(1));
                            period = recurrence::period_of(rule, terms, probe);
                        }
                        Some(Occurrence { period, due })
                    }
                }
            };
            next.into_iter()
                .filter(|o| o.due >= lb && o.due <= to)
                .collect()
        }
    }
}

/// The last due date `pass` and `status` look at for `task` on `today`:
/// far enough ahead for the longest reminder lead and one whole interval.
fn view_end(wheel: &Wheel, task: &Task, today: NaiveDate) -> NaiveDate {
    let months = i64::from(recurrence::interval_months(
        &task.recurrence,
        wheel.terms.as_ref(),
    ));
    today + chrono::Duration::days(max_lead(task) + MOVE_SLACK_DAYS + months * 31)
}

/// The (task, period) pairs `pass` and `status` will ask `history` about at
/// `now`, given each task's first appearance and last completion. The store
/// loads completions and sent keys for these alone, so the cost of a pass
/// does not grow with years of history.
pub fn periods_in_view(
    wheel: &Wheel,
    history: &History,
    now: DateTime<Utc>,
) -> Vec<(String, String)> {
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let mut out = Vec::new();
    for task in &wheel.tasks {
        let th = history.tasks.get(&task.id);
        let lb = lower_bound(wheel, th, today);
        for occ in occurrences_of(wheel, task, th, lb, view_end(wheel, task, today)) {
            out.push((task.id.clone(), occ.period));
        }
    }
    out
}

/// Every event whose day lies in `from..=to`, as if nothing were completed,
/// in time order. Without `organisation.start`, tasks are taken to appear on
/// `from`.
pub fn plan_range(wheel: &Wheel, from: NaiveDate, to: NaiveDate) -> Vec<PlanEvent<'_>> {
    let cal = Calendar::new(&wheel.organisation);
    // Sorted on a key of plain numbers: the instant, then the task's place
    // in the wheel, the due date, the kind and the level. Only the small
    // keys are sorted; the events are then put in that order in place.
    // Sized once from the bound (at most about twice the events, and never
    // more than a million up front): growing by doubling copied the events
    // and the keys over and over.
    let cap = plan_size_bound(wheel, from, to, None).min(1 << 20) as usize;
    let mut events = Vec::with_capacity(cap);
    let mut keys: Vec<(i64, usize, NaiveDate, u8, u32, usize)> = Vec::with_capacity(cap);
    for (index, task) in wheel.tasks.iter().enumerate() {
        let rules = TaskRules { task, cal: &cal };
        let lb = lower_bound(wheel, None, from);
        let last_due = to + chrono::Duration::days(max_lead(task) + MOVE_SLACK_DAYS);
        let first = events.len();
        for occ in occurrences_of(wheel, task, None, lb, last_due) {
            rules.expand(&occ, from, to, &mut events);
        }
        keys.extend(events[first..].iter().enumerate().map(|(i, e)| {
            (
                e.at.timestamp(),
                index,
                e.due,
                priority(e.kind),
                e.level,
                first + i,
            )
        }));
    }
    keys.sort_unstable();
    let mut order: Vec<usize> = keys.into_iter().map(|k| k.5).collect();
    drop_into_order(&mut events, &mut order);
    events
}

/// The most events `plan` lists in one run. Every occurrence repeats until
/// the range ends (as if nothing were completed), so the events grow with
/// the square of the range: a range that could reach more than this is
/// refused rather than filling memory (about 140 bytes an event).
pub const PLAN_MAX_EVENTS: u64 = 5_000_000;

/// An upper bound on the events `plan_range(wheel, from, to)` returns for
/// the tasks `only` picks (all when `None`), by arithmetic on the rules:
/// nothing is expanded, so it costs one step per task whatever the range.
pub fn plan_size_bound(wheel: &Wheel, from: NaiveDate, to: NaiveDate, only: Option<&str>) -> u64 {
    if to < from {
        return 0;
    }
    let lb = lower_bound(wheel, None, from);
    let days = |a: NaiveDate, b: NaiveDate| u64::try_from((b - a).num_days()).unwrap_or(0);
    let mut total: u64 = 0;
    for task in wheel
        .tasks
        .iter()
        .filter(|t| only.is_none_or(|id| t.id == id))
    {
        let occurrences = match task.anchor {
            Anchor::Completion => 1,
            Anchor::Fixed => {
                let last_due = to + chrono::Duration::days(max_lead(task) + MOVE_SLACK_DAYS);
                let months = days(lb, last_due) / 28 + 1;
                let every = u64::from(
                    recurrence::interval_months(&task.recurrence, wheel.terms.as_ref()).max(1),
                );
                // A term's due date may lie years into the term: one more.
                months / every + 3
            }
        };
        let repeats = match task.repeat {
            Some(every) if every.0 > 0 => days(from.max(lb), to) / u64::from(every.0) + 2,
            _ => 0,
        };
        let per_occurrence = (task.remind.len() + 1 + task.escalate.len()) as u64 + repeats;
        total = total.saturating_add(occurrences.saturating_mul(per_occurrence));
    }
    total
}

/// The day each escalation step of `task`'s occurrence due on `due` is
/// sent, in the chain's order (the open day on or after `due` + `after`),
/// as `pass` sends them: so a reminder can say when escalation comes.
pub fn escalation_days(wheel: &Wheel, task: &Task, due: NaiveDate) -> Vec<NaiveDate> {
    let cal = Calendar::new(&wheel.organisation);
    let rules = TaskRules { task, cal: &cal };
    rules.escalations(due).iter().map(|e| e.date).collect()
}

/// The tasks that recur at least every `years` years yet have no due date
/// from `from` to `to` (inclusive): a rule that, as written, does not fire
/// (`every = "3 years"` with `first = 9000`, a `start` far ahead). Tasks
/// whose cycle is longer than `years` are never listed: their silence is
/// their rule.
pub fn silent_tasks(wheel: &Wheel, from: NaiveDate, to: NaiveDate, years: u32) -> Vec<&Task> {
    let cycle_years = |task: &Task| match task.recurrence {
        Recurrence::Years { every, .. } => every,
        Recurrence::Term { .. } => wheel.terms.as_ref().map_or(u32::MAX, |t| t.years),
        Recurrence::Month { .. } | Recurrence::Quarter { .. } | Recurrence::HalfYear { .. } => 1,
    };
    if to < from {
        return Vec::new();
    }
    let lb = lower_bound(wheel, None, from);
    wheel
        .tasks
        .iter()
        .filter(|task| cycle_years(task) <= years)
        .filter(|task| {
            let lb = match task.anchor {
                Anchor::Fixed => lb.max(from),
                Anchor::Completion => lb,
            };
            // A yearly (or shorter) cycle starting a year or more before
            // `to` is due in that year: no need to expand it.
            if cycle_years(task) == 1 && lb.max(from) + chrono::Duration::days(366) <= to {
                return false;
            }
            !occurrences_of(wheel, task, None, lb, to)
                .into_iter()
                .any(|occ| occ.due >= from)
        })
        .collect()
}

/// The first `n` due dates in `from..=to`, in the order `plan_range` gives
/// its `Due` events (send instant, then the task's place in the wheel), as
/// `plan_range(wheel, from, to)` filtered to `Due` and cut to `n` would give
/// them. Computed from due dates alone: no reminder, repeat or escalation
/// is expanded, and at most `n` occurrences per task are kept, so the cost
/// grows with the number of tasks, not with their repeats (`check`).
pub fn next_due(wheel: &Wheel, from: NaiveDate, to: NaiveDate, n: usize) -> Vec<PlanEvent<'_>> {
    let cal = Calendar::new(&wheel.organisation);
    let mut events = Vec::new();
    let mut keys: Vec<(i64, usize, NaiveDate, usize)> = Vec::new();
    if n == 0 || to < from {
        return events;
    }
    for (index, task) in wheel.tasks.iter().enumerate() {
        let lb = lower_bound(wheel, None, from);
        // A fixed task's due dates before `from` are never shown: start at
        // `from`. A task anchored on completion needs its own lower bound
        // (its one occurrence is the first at or after it).
        let lb = match task.anchor {
            Anchor::Fixed => lb.max(from),
            Anchor::Completion => lb,
        };
        let dues = occurrences_of(wheel, task, None, lb, to)
            .into_iter()
            .filter(|occ| occ.due >= from)
            .take(n);
        for occ in dues {
            let at = cal.send_instant(occ.due);
            keys.push((at.timestamp(), index, occ.due, events.len()));
            events.push(PlanEvent {
                task: &task.id,
                period: Arc::from(occ.period.as_str()),
                due: occ.due,
                kind: Kind::Due,
                level: 0,
                date: occ.due,
                at,
                to: &task.owners,
            });
        }
    }
    keys.sort_unstable();
    keys.truncate(n);
    let mut slots: Vec<Option<PlanEvent<'_>>> = events.into_iter().map(Some).collect();
    keys.into_iter().filter_map(|k| slots[k.3].take()).collect()
}

/// Rearranges `items` so that position `p` holds what was at `order[p]`,
/// following each cycle of the permutation with swaps (no second copy of
/// millions of events). `order` is used up.
fn drop_into_order<T>(items: &mut [T], order: &mut [usize]) {
    for start in 0..order.len() {
        let mut p = start;
        while order[p] != p {
            let src = order[p];
            order[p] = p;
            if src == start {
                break;
            }
            items.swap(p, src);
            p = src;
        }
    }
}

/// The last local day whose send time has come at `now`.
fn last_send_day(cal: &Calendar, now: DateTime<Utc>) -> NaiveDate {
    let today = cal.local_date(&now);
    if cal.send_instant(today).with_timezone(&Utc) <= now {
        today
    } else {
        today.pred_opt().unwrap_or(today)
    }
}

fn key(task: &str, period: &str, kind: Kind, step: u32, person: &str) -> String {
    format!("{task}/{period}/{}/{step}/{person}", kind.as_str())
}

/// One pass at `now`: every notification that is due and not yet sent,
/// following the catch-up rule (docs/wheel.md, "Day rules"): per occurrence, each
/// recipient is addressed at most once, with the latest message they should
/// have had; nothing already in the outbox is sent again. Per occurrence:
/// is it in play (`next_day_of`, `has_opened`), what its owners get
/// (`owners_latest`), what each escalation target gets
/// (`escalation_targets`); then absences reroute.
pub fn pass(wheel: &Wheel, history: &History, now: DateTime<Utc>) -> Pass {
    let cal = Calendar::new(&wheel.organisation);
    let today = cal.local_date(&now);
    let last = last_send_day(&cal, now);
    let mut occurrences = Vec::new();
    let mut send = Vec::new();
    let mut next_day: Option<NaiveDate> = None;
    for task in &wheel.tasks {
        let th = history.tasks.get(&task.id);
        let rules = TaskRules { task, cal: &cal };
        let lb = lower_bound(wheel, th, today);
        for occ in occurrences_of(wheel, task, th, lb, view_end(wheel, task, today)) {
            if th.is_some_and(|h| h.done.contains(&occ.period)) {
                continue;
            }
            let due = occ.due;
            let reminders = rules.reminders(due);
            let escalations = rules.escalations(due);
            if let Some(d) = next_day_of(&rules, &reminders, &escalations, due, last) {
                next_day = Some(next_day.map_or(d, |n| n.min(d)));
            }
            if !has_opened(&reminders, due, last) {
                continue;
            }
            occurrences.push((task.id.clone(), occ.period.clone(), due));
            let sent = |k: &str| th.is_some_and(|h| h.sent.contains(k));
            let make = Messages {
                task,
                period: &occ.period,
                due,
                cal: &cal,
            };
            if let Some((date, kind, step)) =
                owners_latest(&rules, &reminders, &escalations, due, last)
            {
                for owner in &task.owners {
                    let n = make.notification(kind, step, step, date, owner, Vec::new());
                    if !sent(&n.key) {
                        send.push(n);
                    }
                }
            }
            for e in escalation_targets(&escalations, last) {
                let n = make.notification(
                    Kind::Escalation,
                    e.level,
                    e.after,
                    e.date,
                    e.to,
                    task.owners.clone(),
                );
                if !sent(&n.key) {
                    send.push(n);
                }
            }
        }
    }
    let mut send: Vec<Notification> = send
        .into_iter()
        .map(|n| route(wheel, &history.absences, today, n))
        .collect();
    send.sort_by(|a, b| {
        (a.at, &a.task, &a.period, &a.key).cmp(&(b.at, &b.task, &b.period, &b.key))
    });
    Pass {
        occurrences,
        send,
        next_at: next_day.map(|d| cal.send_instant(d).with_timezone(&Utc)),
    }
}

/// The first day after `last` on which an occurrence has something to
/// send: a reminder, an escalation or the next repeat.
fn next_day_of(
    rules: &TaskRules<'_, '_>,
    reminders: &[Reminder],
    escalations: &[Escalation<'_>],
    due: NaiveDate,
    last: NaiveDate,
) -> Option<NaiveDate> {
    reminders
        .iter()
        .map(|r| r.date)
        .chain(escalations.iter().map(|e| e.date))
        .chain(rules.next_repeat(due, last.max(due)))
        .filter(|d| *d > last)
        .min()
}

/// Whether an occurrence is in play by `last`: its first reminder (or its
/// due date, if earlier or without reminders) has come.
fn has_opened(reminders: &[Reminder], due: NaiveDate, last: NaiveDate) -> bool {
    let first_day = reminders.first().map(|r| r.date).unwrap_or(due).min(due);
    first_day <= last
}

/// What the owners get by `last`: the latest of their reminders, repeats
/// and the escalations that copy them; `None` when that latest is an
/// escalation (the copy is their message) or nothing has come.
fn owners_latest(
    rules: &TaskRules<'_, '_>,
    reminders: &[Reminder],
    escalations: &[Escalation<'_>],
    due: NaiveDate,
    last: NaiveDate,
) -> Option<(NaiveDate, Kind, u32)> {
    let mut latest: Option<(NaiveDate, Kind, u32)> = None;
    let mut offer = |date: NaiveDate, kind: Kind, step: u32| {
        if date <= last && latest.is_none_or(|(d, k, _)| (date, priority(kind)) > (d, priority(k)))
        {
            latest = Some((date, kind, step));
        }
    };
    for r in reminders {
        offer(r.date, Kind::Reminder, r.lead);
    }
    if let Some((offset, date)) = rules.latest_repeat(due, last) {
        offer(date, Kind::Repeat, offset);
    }
    for e in escalations {
        offer(e.date, Kind::Escalation, e.level);
    }
    latest.filter(|(_, k, _)| *k != Kind::Escalation)
}

/// Each escalation target's latest step that has come by `last`.
fn escalation_targets<'e, 'a>(
    escalations: &'e [Escalation<'a>],
    last: NaiveDate,
) -> Vec<&'e Escalation<'a>> {
    let mut targets: Vec<&Escalation> = escalations.iter().filter(|e| e.date <= last).collect();
    targets.sort_by_key(|e| (e.to, std::cmp::Reverse((e.date, e.level))));
    targets.dedup_by_key(|e| e.to);
    targets
}

/// Builds the notifications of one occurrence.
struct Messages<'a> {
    task: &'a Task,
    period: &'a str,
    due: NaiveDate,
    cal: &'a Calendar,
}

impl Messages<'_> {
    fn notification(
        &self,
        kind: Kind,
        step: u32,
        key_step: u32,
        date: NaiveDate,
        to: &str,
        cc: Vec<String>,
    ) -> Notification {
        Notification {
            key: key(&self.task.id, self.period, kind, key_step, to),
            task: self.task.id.clone(),
            period: self.period.to_string(),
            due: self.due,
            kind,
            step,
            date,
            at: self.cal.send_instant(date),
            to: to.to_string(),
            cc,
            on_behalf: None,
            cc_deputies: Vec::new(),
        }
    }
}

/// One row per task for its oldest occurrence that is not done.
pub fn status(wheel: &Wheel, history: &History, now: DateTime<Utc>) -> Vec<StatusRow> {
    let cal = Calendar::new(&wheel.organisation);
    let today = cal.local_date(&now);
    let last = last_send_day(&cal, now);
    let mut rows = Vec::new();
    for task in &wheel.tasks {
        let th = history.tasks.get(&task.id);
        let rules = TaskRules { task, cal: &cal };
        let lb = lower_bound(wheel, th, today);
        let not_done = |o: &Occurrence| !th.is_some_and(|h| h.done.contains(&o.period));
        let end = view_end(wheel, task, today);
        // Past the view, periods can only be done ahead of time, which the
        // history in view does not tell: the first one there counts as open.
        let pending = occurrences_of(wheel, task, th, lb, end)
            .into_iter()
            .find(not_done)
            .or_else(|| {
                let far = today + chrono::Duration::days(STATUS_HORIZON_DAYS);
                occurrences_of(wheel, task, th, end.succ_opt()?, far)
                    .into_iter()
                    .find(not_done)
            });
        let Some(occ) = pending else { continue };
        let reminders = rules.reminders(occ.due);
        let escalations = rules.escalations(occ.due);
        let first_day = reminders
            .first()
            .map(|r| r.date)
            .unwrap_or(occ.due)
            .min(occ.due);
        let state = if today > occ.due {
            State::Overdue
        } else if first_day <= today {
            State::Open
        } else {
            State::Upcoming
        };
        let next = reminders
            .iter()
            .map(|r| r.date)
            .chain(escalations.iter().map(|e| e.date))
            .chain(rules.next_repeat(occ.due, last.max(occ.due)))
            .filter(|d| *d > last)
            .min();
        rows.push(StatusRow {
            task: task.id.clone(),
            period: occ.period,
            due: occ.due,
            state,
            days_overdue: (today - occ.due).num_days().max(0),
            escalation_level: escalations.iter().filter(|e| e.date <= last).count() as u32,
            next,
            opens: first_day,
        });
    }
    rows
}

/// The task field of a digest's outbox row: not a task id the wheel can
/// have (ids are `a-z`, `0-9` and `-`), so it never meets a real task.
pub const DIGEST_TASK: &str = "@digest";

/// The weekly digest due at `now`, if the wheel has one (`[organisation]
/// digest` and `coordinator`): the latest digest whose send instant has
/// come. Its day is the wheel's `digest` weekday of an ISO week, moved to
/// the next open day when closed (a holiday Monday: Tuesday; like
/// escalations), sent at `send_time` on that day. Its key names the ISO
/// week of the weekday, `digest/2027-W02`, so each week's digest is one
/// outbox row however often a pass asks; a digest missed (the machine was
/// off) goes out late, until the next week's is due. Pure.
pub fn digest_at(wheel: &Wheel, now: DateTime<Utc>) -> Option<Notification> {
    use chrono::Datelike;
    let org = &wheel.organisation;
    let weekday = org.digest?;
    let to = org.coordinator.clone()?;
    let cal = Calendar::new(org);
    let today = cal.local_date(&now);
    let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
    // This week's, or an earlier one moved past a run of closed days.
    (0..=(MOVE_SLACK_DAYS / 7 + 1))
        .find_map(|back| {
            let nominal = monday - chrono::Duration::weeks(back)
                + chrono::Duration::days(i64::from(weekday.num_days_from_monday()));
            let date = cal.open_on_or_after(nominal);
            let at = cal.send_instant(date);
            (at.with_timezone(&Utc) <= now).then_some((nominal, date, at))
        })
        .map(|(nominal, date, at)| {
            let week = nominal.iso_week();
            let period = format!("{}-W{:02}", week.year(), week.week());
            Notification {
                key: format!("digest/{period}"),
                task: DIGEST_TASK.to_string(),
                period,
                due: nominal,
                kind: Kind::Digest,
                step: 0,
                date,
                at,
                to,
                cc: Vec::new(),
                on_behalf: None,
                cc_deputies: Vec::new(),
            }
        })
}

/// Whether `person` may be given the overview link (a capability to read
/// the whole organisation's status): the coordinator, and anyone named in
/// an escalation chain (a task's `escalate` or `[defaults]`, as the tasks
/// carry them).
pub fn may_see_overview(wheel: &Wheel, person: &str) -> bool {
    wheel.organisation.coordinator.as_deref() == Some(person)
        || wheel
            .tasks
            .iter()
            .any(|t| t.escalate.iter().any(|s| s.to == person))
}

/// Whose overview link a notification carries: an escalation's addressee
/// (`to`, who may be a deputy), when every recipient of the message (To
/// and each Cc) may see the overview, since the one message goes to all
/// of them; `None` for other kinds, or when an owner or deputy in Cc may
/// not.
pub fn overview_reader<'n>(wheel: &Wheel, n: &'n Notification) -> Option<&'n str> {
    (n.kind == Kind::Escalation
        && may_see_overview(wheel, &n.to)
        && n.cc.iter().all(|c| may_see_overview(wheel, c)))
    .then_some(n.to.as_str())
}

/// Where one occurrence stands, for the pictures and feeds that show every
/// occurrence of a range (not only each task's oldest, as [`status`] does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MarkState {
    /// A completion stands for it.
    Done,
    /// Not done and its due date has passed.
    Overdue,
    /// Not done, its first reminder day has come, its due date not passed.
    Open,
    /// Not done and not open yet.
    Upcoming,
}

impl MarkState {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkState::Done => "done",
            MarkState::Overdue => "overdue",
            MarkState::Open => "open",
            MarkState::Upcoming => "upcoming",
        }
    }
}

/// One occurrence in a range, with its state at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The task's id.
    pub task: String,
    pub period: String,
    pub due: NaiveDate,
    pub state: MarkState,
}

/// The occurrences of each task due in `from..=to`, in task order then due
/// order. Fixed tasks: every calendar occurrence from the task's lower
/// bound on (`organisation.start`, else its first appearance in the
/// database, else `today`: as for `status`, nothing is due before arshjul
/// knew the task). A task anchored on completion: its current occurrence
/// only, as `status` sees it (its past due dates are not kept).
fn occurrences_between<'w>(
    wheel: &'w Wheel,
    history: &History,
    today: NaiveDate,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(&'w Task, Occurrence)> {
    let mut out = Vec::new();
    for task in &wheel.tasks {
        let th = history.tasks.get(&task.id);
        let lb = lower_bound(wheel, th, today);
        let occs = match task.anchor {
            Anchor::Fixed => occurrences_of(wheel, task, th, lb.max(from), to),
            Anchor::Completion => {
                // The occurrence last completed comes first: it is done,
                // and the wheel, the feeds and the overview show it as
                // such (dropping it would make calendar clients delete
                // its event). Its due date is not kept once it is done
                // (the next one counts from the completion), so it sits on
                // the day the work was done.
                let done = th
                    .and_then(|h| h.last_done.as_ref())
                    .filter(|d| d.on >= from && d.on <= to)
                    .map(|d| Occurrence {
                        period: d.period.clone(),
                        due: d.on,
                    });
                let far = to.max(lb) + chrono::Duration::days(STATUS_HORIZON_DAYS);
                done.into_iter()
                    .chain(
                        occurrences_of(wheel, task, th, lb, far)
                            .into_iter()
                            .filter(|o| o.due >= from && o.due <= to),
                    )
                    .collect()
            }
        };
        out.extend(occs.into_iter().map(|o| (task, o)));
    }
    out
}

/// The (task, period) pairs [`marks`] asks `history` about for
/// `from..=to`: the view to load from the store before calling it.
pub fn periods_between(
    wheel: &Wheel,
    history: &History,
    now: DateTime<Utc>,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<(String, String)> {
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    occurrences_between(wheel, history, today, from, to)
        .into_iter()
        .map(|(task, o)| (task.id.clone(), o.period))
        .collect()
}

/// Every occurrence due in `from..=to` with its state at `now`, decided as
/// [`status`] decides it: done if a completion stands for its period, else
/// overdue after its due date, open from its first reminder day, upcoming
/// before. `history` must hold the periods of [`periods_between`]. A task
/// anchored on completion also has its last completed occurrence, done, on
/// the day it was done (its due date counts from there on).
pub fn marks(
    wheel: &Wheel,
    history: &History,
    now: DateTime<Utc>,
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Mark> {
    let cal = Calendar::new(&wheel.organisation);
    let today = cal.local_date(&now);
    occurrences_between(wheel, history, today, from, to)
        .into_iter()
        .map(|(task, o)| {
            let done = history.tasks.get(&task.id).is_some_and(|h| {
                h.done.contains(&o.period)
                    || h.last_done.as_ref().is_some_and(|d| d.period == o.period)
            });
            let state = if done {
                MarkState::Done
            } else if today > o.due {
                MarkState::Overdue
            } else if opens_on(wheel, task, o.due) <= today {
                MarkState::Open
            } else {
                MarkState::Upcoming
            };
            Mark {
                task: task.id.clone(),
                period: o.period,
                due: o.due,
                state,
            }
        })
        .collect()
}

/// The day an occurrence of `task` due on `due` opens: its first reminder
/// day, moved off closed days as the reminders are, or the due date itself
/// when no reminder comes before it.
pub fn opens_on(wheel: &Wheel, task: &Task, due: NaiveDate) -> NaiveDate {
    let cal = Calendar::new(&wheel.organisation);
    let rules = TaskRules { task, cal: &cal };
    rules
        .reminders(due)
        .first()
        .map(|r| r.date)
        .unwrap_or(due)
        .min(due)
}

/// The occurrence of `task` whose period key is `period`, which starts on
/// `start`. On the calendar, its due date is looked for in the eight years
/// from `start`; a task anchored on completion has only its current
/// occurrence (given `history`, at `today`), so only that can be named.
pub fn occurrence_named(
    wheel: &Wheel,
    history: &History,
    task: &Task,
    period: &str,
    start: NaiveDate,
    today: NaiveDate,
) -> Option<Occurrence> {
    let terms = wheel.terms.as_ref();
    match task.anchor {
        Anchor::Fixed => {
            let end = start + chrono::Duration::days(366 * 8);
            recurrence::occurrences(&task.recurrence, terms, start, end)
                .into_iter()
                .find(|o| o.period == period)
        }
        Anchor::Completion => {
            let th = history.tasks.get(&task.id);
            let lb = lower_bound(wheel, th, today);
            let far = today + chrono::Duration::days(STATUS_HORIZON_DAYS);
            occurrences_of(wheel, task, th, lb, far)
                .into_iter()
                .find(|o| o.period == period)
        }
    }
}

/// The first period of `task` on a wheel with `organisation.start`: the
/// one the start falls in. Every earlier period ended before the wheel
/// began, so the wheel never asks for it (its due date may still fall
/// before the start: a term's approval due in September 2026 on a wheel
/// starting 2027 is this term's, and can be recorded). `None` without a
/// start.
pub fn first_period(wheel: &Wheel, task: &Task) -> Option<String> {
    let start = wheel.organisation.start?;
    Some(recurrence::Period::of(&task.recurrence, wheel.terms.as_ref(), start).to_string())
}

/// What `arshjul done TASK` without `--period` means at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoneTarget {
    /// The oldest occurrence not done has opened (its first reminder day
    /// has come): open or overdue. This one is meant.
    Open { period: String, due: NaiveDate },
    /// Nothing is open: the next occurrence opens on `opens`. Recording
    /// it needs an explicit period.
    NotYet {
        period: String,
        due: NaiveDate,
        opens: NaiveDate,
    },
    /// The task has no occurrence left that is not done.
    Nothing,
}

/// The occurrence `done TASK` completes at `now` when no period is named:
/// the oldest one that is not done, provided it has opened.
pub fn done_target(wheel: &Wheel, history: &History, now: DateTime<Utc>, task: &str) -> DoneTarget {
    let row = status(wheel, history, now)
        .into_iter()
        .find(|r| r.task == task);
    match row {
        None => DoneTarget::Nothing,
        Some(r) if r.state == State::Upcoming => DoneTarget::NotYet {
            period: r.period,
            due: r.due,
            opens: r.opens,
        },
        Some(r) => DoneTarget::Open {
            period: r.period,
            due: r.due,
        },
    }
}
