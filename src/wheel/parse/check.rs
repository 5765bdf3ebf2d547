//! Raw wheel → validated [`Wheel`]: every rule of docs/wheel.md that
//! TOML itself cannot express. Collects every problem instead of stopping at
//! the first, each placed at the value it is about.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use toml::Spanned;

use super::raw::{
    RawDefaults, RawDue, RawDueTable, RawOrganisation, RawOwner, RawStep, RawTask, RawTerms,
    RawWheel,
};
use super::values::{self, DateProblem, DurationProblem, Every, EveryProblem, MAX_DAYS};
use super::{LineIndex, Problem};
use crate::wheel::text::{self, TextProblem, MAX_ID_CHARS, MAX_NAME_CHARS, MAX_TITLE_CHARS};
use crate::wheel::{
    Anchor, ClosedDay, Days, EscalationStep, HolidayRule, Language, Organisation, Person,
    Recurrence, Task, Terms, Wheel,
};

/// Checks a raw wheel. On failure, every problem found, unsorted.
pub(super) fn check(raw: RawWheel, lines: &LineIndex<'_>) -> Result<Wheel, Vec<Problem>> {
    let mut checker = Checker {
        lines,
        problems: Vec::new(),
        people: BTreeMap::new(),
    };
    let coordinator = raw.organisation.coordinator.clone();
    let coordinator_key = coordinator.as_ref().map(|c| c.get_ref().clone());
    let digest_span = raw.organisation.digest.as_ref().map(|d| d.span());
    let mut organisation = checker.organisation(raw.organisation);
    let terms = raw.terms.map(|terms| checker.terms(terms));
    checker.people(raw.people);
    // The coordinator names a person, so it is checked once people are known.
    organisation.coordinator = coordinator.and_then(|c| {
        let key = c.get_ref();
        if checker.people.contains_key(key) {
            Some(key.clone())
        } else {
            checker.report(
                c.span(),
                format!("unknown person {key:?} as the organisation's coordinator"),
            );
            None
        }
    });
    if let (Some(span), None) = (digest_span, &coordinator_key) {
        checker.report(
            span,
            "the digest needs a coordinator to send it to (coordinator = \"KEY\" in [organisation])"
                .to_string(),
        );
    }
    let defaults = checker.defaults(raw.defaults);

    if raw.tasks.is_empty() {
        checker.problems.push(Problem {
            offset: None,
            message: "the wheel has no tasks (add a [[task]])".to_string(),
        });
    }
    let mut first_seen = HashMap::new();
    let mut tasks = Vec::new();
    for task in raw.tasks {
        if let Some(task) = checker.task(task, terms.as_ref(), &defaults, &mut first_seen) {
            tasks.push(task);
        }
    }

    if checker.problems.is_empty() {
        let terms = terms.and_then(|t| {
            Some(Terms {
                start: t.start?,
                years: t.years?,
            })
        });
        Ok(Wheel {
            organisation,
            terms,
            people: checker.people,
            tasks,
        })
    } else {
        Err(checker.problems)
    }
}

/// The built-in defaults used when `[defaults]` or a key in it is absent.
const BUILT_IN_REMIND: [Days; 3] = [Days(30), Days(7), Days(1)];
const BUILT_IN_REPEAT: Days = Days(7);

/// A `[terms]` table as far as it could be read; a missing part has
/// already been reported.
struct CheckedTerms {
    start: Option<NaiveDate>,
    years: Option<u32>,
}

/// Reminder, repeat and escalation settings, from `[defaults]` or a task.
#[derive(Debug, Clone)]
struct Policy {
    remind: Vec<Days>,
    repeat: Option<Days>,
    escalate: Vec<EscalationStep>,
}

/// Where reminder and escalation settings were written, for messages.
enum Place<'a> {
    Defaults,
    Task(&'a str),
}

impl Place<'_> {
    /// The start of a message about this place: `task "x": `.
    fn prefix(&self) -> String {
        match self {
            Place::Defaults => "defaults: ".to_string(),
            Place::Task(id) => format!("task {id:?}: "),
        }
    }

    fn escalation(&self) -> String {
        match self {
            Place::Defaults => "the [defaults] escalation".to_string(),
            Place::Task(id) => format!("the escalation of task {id:?}"),
        }
    }
}

struct Checker<'a> {
    lines: &'a LineIndex<'a>,
    problems: Vec<Problem>,
    /// Every person read so far, valid or not, so that a person with a bad
    /// address is not also reported as unknown wherever it is used.
    people: BTreeMap<String, Person>,
}

impl Checker<'_> {
    fn report(&mut self, span: Range<usize>, message: String) {
        self.problems.push(Problem {
            offset: Some(span.start),
            message,
        });
    }

    /// Reports `text` at `span` unless it is one line of printable text of
    /// at most `max` characters: `{what} {problem}`.
    fn one_line(&mut self, span: Range<usize>, what: &str, text: &str, max: usize) -> bool {
        match text::one_line(text, max) {
            Ok(()) => true,
            Err(problem) => {
                self.report(span, format!("{what} {problem}"));
                false
            }
        }
    }

    /// An optional text setting: its default when absent, its parsed value,
    /// or a problem at its place (and the default, so checking goes on).
    fn setting<T>(
        &mut self,
        raw: &Option<Spanned<String>>,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
        problem: impl Fn(&str) -> String,
    ) -> T {
        let Some(text) = raw else { return default };
        match parse(text.get_ref()) {
            Some(value) => value,
            None => {
                self.report(text.span(), problem(text.get_ref()));
                default
            }
        }
    }

    fn organisation(&mut self, raw: RawOrganisation) -> Organisation {
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty() {
            self.report(
                raw.name.span(),
                "the organisation name is empty".to_string(),
            );
        } else {
            self.one_line(
                raw.name.span(),
                "the organisation name",
                &name,
                MAX_NAME_CHARS,
            );
        }

        let timezone = self.setting(
            &raw.timezone,
            chrono_tz::Europe::Copenhagen,
            |t| t.parse::<Tz>().ok(),
            |t| format!("unknown time zone {t:?}"),
        );
        let language = self.setting(
            &raw.language,
            Language::Da,
            |t| match t {
                "da" => Some(Language::Da),
                "en" => Some(Language::En),
                _ => None,
            },
            |t| format!("unknown language {t:?} (da, en)"),
        );
        let send_time = self.setting(
            &raw.send_time,
            NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
            values::send_time,
            |t| format!("bad send time {t:?} (use HH:MM)"),
        );
        let holidays = self.setting(
            &raw.holidays,
            HolidayRule::Dk,
            |t| match t {
                "dk" => Some(HolidayRule::Dk),
                "none" => Some(HolidayRule::None),
                _ => None,
            },
            |t| format!("unknown holiday rule {t:?} (dk, none)"),
        );

        let mut closed = Vec::new();
        for day in raw.closed.iter().flatten() {
            if let Some(day) = self.closed_day(day) {
                closed.push(day);
            }
        }

        let start = raw
            .start
            .as_ref()
            .and_then(|start| self.date_value(start, "organisation start"));

        let digest = raw.digest.as_ref().and_then(|d| {
            let weekday = values::weekday(d.get_ref());
            if weekday.is_none() {
                self.report(
                    d.span(),
                    format!(
                        "unknown digest day {:?} (monday, tuesday, wednesday, thursday, friday, saturday, sunday)",
                        d.get_ref()
                    ),
                );
            }
            weekday
        });

        Organisation {
            name,
            timezone,
            language,
            send_time,
            holidays,
            closed,
            start,
            coordinator: None,
            digest,
        }
    }

    /// One entry of `closed`: `"MM-DD"` every year or `"YYYY-MM-DD"` once.
    fn closed_day(&mut self, day: &Spanned<String>) -> Option<ClosedDay> {
        let text = day.get_ref();
        let result = if text.len() == 5 {
            values::month_day(text).map(|(month, day)| ClosedDay::Yearly { month, day })
        } else {
            values::date(text).map(ClosedDay::Date)
        };
        self.date_or_report(
            result,
            day.span(),
            "",
            "closed day",
            text,
            "MM-DD or YYYY-MM-DD",
        )
    }

    /// A date written as a TOML local date (`2026-01-01`) or a string.
    fn date_value(&mut self, value: &Spanned<toml::Value>, what: &str) -> Option<NaiveDate> {
        match value.get_ref() {
            toml::Value::String(text) => self.date_or_report(
                values::date(text),
                value.span(),
                &format!("{what}: "),
                "date",
                text,
                "YYYY-MM-DD",
            ),
            toml::Value::Datetime(datetime) => {
                let date = match (datetime.date, datetime.time, datetime.offset) {
                    (Some(date), None, None) => NaiveDate::from_ymd_opt(
                        i32::from(date.year),
                        u32::from(date.month),
                        u32::from(date.day),
                    ),
                    _ => None,
                };
                if date.is_none() {
                    self.report(
                        value.span(),
                        format!("{what}: {datetime} is not a plain date (use YYYY-MM-DD)"),
                    );
                }
                date
            }
            other => {
                let found = describe(other);
                self.report(
                    value.span(),
                    format!("{what}: expected a date (YYYY-MM-DD), found {found}"),
                );
                None
            }
        }
    }

    fn terms(&mut self, raw: RawTerms) -> CheckedTerms {
        let start = self.date_value(&raw.start, "terms start");
        let years = match u32::try_from(*raw.years.get_ref()) {
            Ok(years @ 1..=100) => Some(years),
            _ => {
                let found = raw.years.get_ref();
                self.report(
                    raw.years.span(),
                    format!("terms: years must be between 1 and 100, found {found}"),
                );
                None
            }
        };
        CheckedTerms { start, years }
    }

    fn people(&mut self, raw: BTreeMap<String, super::raw::RawPerson>) {
        // Deputies name other people, so they are checked once every key is known.
        let keys: Vec<String> = raw.keys().cloned().collect();
        for (key, person) in raw {
            let deputy = person.deputy.and_then(|d| {
                let name = d.get_ref();
                if *name == key {
                    self.report(
                        d.span(),
                        format!("person {key:?}: cannot be their own deputy"),
                    );
                    None
                } else if !keys.contains(name) {
                    self.report(
                        d.span(),
                        format!("unknown person {name:?} as deputy of person {key:?}"),
                    );
                    None
                } else {
                    Some(name.clone())
                }
            });
            let name = person.name.get_ref().trim().to_string();
            if let Err(problem) = text::one_line(&key, MAX_ID_CHARS) {
                // A table name has no place of its own; its first value is
                // next to it.
                self.report(
                    person.name.span(),
                    format!("person {key:?}: the key {problem}"),
                );
            }
            if name.is_empty() {
                self.report(person.name.span(), format!("person {key:?}: empty name"));
            } else {
                self.one_line(
                    person.name.span(),
                    &format!("person {key:?}: the name"),
                    &name,
                    MAX_NAME_CHARS,
                );
            }
            let email = person.email.get_ref().clone();
            if !values::is_email(&email) {
                self.report(
                    person.email.span(),
                    format!("person {key:?}: bad e-mail address {email:?}"),
                );
            } else if let Err(problem) = text::address(&email) {
                let shown = if email.chars().count() > 100 {
                    String::new()
                } else {
                    format!(" {email:?}")
                };
                self.report(
                    person.email.span(),
                    format!("person {key:?}: bad e-mail address{shown}: {problem}"),
                );
            }
            let greeting = person.greeting.map(|g| {
                let text = g
                    .get_ref()
                    .trim()
                    .trim_end_matches(',')
                    .trim_end()
                    .to_string();
                if !text.is_empty() {
                    self.one_line(
                        g.span(),
                        &format!("person {key:?}: the greeting"),
                        &text,
                        MAX_NAME_CHARS,
                    );
                }
                text
            });
            self.people.insert(
                key.clone(),
                Person {
                    key,
                    name,
                    email,
                    deputy,
                    greeting,
                },
            );
        }
    }

    fn defaults(&mut self, raw: RawDefaults) -> Policy {
        let built_in = Policy {
            remind: BUILT_IN_REMIND.to_vec(),
            repeat: Some(BUILT_IN_REPEAT),
            escalate: Vec::new(),
        };
        self.policy(
            &Place::Defaults,
            raw.remind,
            raw.repeat,
            raw.escalate,
            &built_in,
        )
    }

    /// Reminder, repeat and escalation settings: each key given replaces the
    /// fallback's value whole; each key absent keeps it.
    fn policy(
        &mut self,
        place: &Place<'_>,
        remind: Option<Vec<Spanned<String>>>,
        repeat: Option<Spanned<String>>,
        escalate: Option<Vec<RawStep>>,
        fallback: &Policy,
    ) -> Policy {
        let remind = match remind {
            Some(list) => self.reminders(place, &list),
            None => fallback.remind.clone(),
        };
        let repeat = match repeat {
            Some(text) => self.duration(place, &text).filter(|days| days.0 > 0),
            None => fallback.repeat,
        };
        let escalate = match escalate {
            Some(steps) => self.escalation(place, &steps),
            None => fallback.escalate.clone(),
        };
        Policy {
            remind,
            repeat,
            escalate,
        }
    }

    fn reminders(&mut self, place: &Place<'_>, list: &[Spanned<String>]) -> Vec<Days> {
        let mut remind = Vec::new();
        for text in list {
            let Some(days) = self.duration(place, text) else {
                continue;
            };
            if remind.contains(&days) {
                let prefix = place.prefix();
                self.report(
                    text.span(),
                    format!(
                        "{prefix}reminder {:?} is listed twice ({days})",
                        text.get_ref()
                    ),
                );
            } else {
                remind.push(days);
            }
        }
        remind
    }

    fn escalation(&mut self, place: &Place<'_>, steps: &[RawStep]) -> Vec<EscalationStep> {
        let prefix = place.prefix();
        let mut escalate: Vec<EscalationStep> = Vec::new();
        for step in steps {
            let to = step.to.get_ref();
            if !self.people.contains_key(to) {
                self.report(
                    step.to.span(),
                    format!("unknown person {to:?} in {}", place.escalation()),
                );
            }
            let Some(after) = self.duration(place, &step.after) else {
                continue;
            };
            let text = step.after.get_ref();
            if after.0 == 0 {
                self.report(
                    step.after.span(),
                    format!("{prefix}escalation after {text:?} must be at least \"1d\""),
                );
            } else if escalate.iter().any(|earlier| earlier.after == after) {
                self.report(
                    step.after.span(),
                    format!("{prefix}two escalation steps after {after}"),
                );
            } else {
                escalate.push(EscalationStep {
                    after,
                    to: to.clone(),
                });
            }
        }
        escalate.sort_by_key(|step| step.after);
        escalate
    }

    fn duration(&mut self, place: &Place<'_>, text: &Spanned<String>) -> Option<Days> {
        match values::duration(text.get_ref()) {
            Ok(days) => Some(days),
            Err(DurationProblem::Format) => {
                let prefix = place.prefix();
                self.report(
                    text.span(),
                    format!(
                        "{prefix}bad duration {:?} (use \"Nd\" or \"Nw\")",
                        text.get_ref()
                    ),
                );
                None
            }
            Err(DurationProblem::TooLong) => {
                let prefix = place.prefix();
                let message = format!(
                    "{prefix}duration {:?} is too long (at most {MAX_DAYS}d)",
                    text.get_ref()
                );
                self.report(text.span(), message);
                None
            }
        }
    }

    /// One `[[task]]`. `first_seen` maps ids to the offset where each was
    /// first defined. Returns `None` when the task is too broken to build.
    fn task(
        &mut self,
        raw: Spanned<RawTask>,
        terms: Option<&CheckedTerms>,
        defaults: &Policy,
        first_seen: &mut HashMap<String, usize>,
    ) -> Option<Task> {
        let header = raw.span();
        let raw = raw.into_inner();
        let Some(id_value) = &raw.id else {
            self.report(header, "missing key \"id\" in [[task]]".to_string());
            return None;
        };
        let id = id_value.get_ref().clone();
        let place = Place::Task(&id);
        let prefix = place.prefix();

        self.task_id(id_value, first_seen);
        self.missing_task_keys(&prefix, header, &raw);
        let title = raw.title.as_ref().map(|title| self.title(&prefix, title));
        let owners = raw.owner.as_ref().map(|owner| self.owners(&id, owner));
        let recurrence = match (&raw.every, &raw.due) {
            (Some(every), Some(due)) => self.recurrence(&id, every, due, raw.first.as_ref(), terms),
            _ => None,
        };

        let anchor = self.anchor(&prefix, raw.anchor.as_ref());

        let policy = self.policy(&place, raw.remind, raw.repeat, raw.escalate, defaults);

        Some(Task {
            id: id.clone(),
            title: title?,
            owners: owners?,
            recurrence: recurrence?,
            anchor,
            reference: self.reference(&prefix, raw.reference),
            description: self.description(&prefix, raw.description),
            remind: policy.remind,
            repeat: policy.repeat,
            escalate: policy.escalate,
            category: self.category(&prefix, raw.category),
        })
    }

    /// A task's `category`: like a title (one line, not too long); blank
    /// is as good as absent.
    fn category(&mut self, prefix: &str, raw: Option<Spanned<String>>) -> Option<String> {
        let raw = raw?;
        let text = raw.get_ref().trim().to_string();
        if text.is_empty() {
            return None;
        }
        self.one_line(
            raw.span(),
            &format!("{prefix}the category"),
            &text,
            MAX_TITLE_CHARS,
        );
        Some(text)
    }

    /// A task's `reference`: one line, any length (it is shown in the body).
    fn reference(&mut self, prefix: &str, raw: Option<Spanned<String>>) -> Option<String> {
        let raw = raw?;
        if let Err(problem) = text::one_line(raw.get_ref(), usize::MAX) {
            self.report(raw.span(), format!("{prefix}the reference {problem}"));
        }
        let text = raw.into_inner();
        (!text.trim().is_empty()).then_some(text)
    }

    /// A task's `description`: several lines allowed, no other control
    /// and no bidirectional control.
    fn description(&mut self, prefix: &str, raw: Option<Spanned<String>>) -> Option<String> {
        let raw = raw?;
        match text::multi_line(raw.get_ref()) {
            Ok(()) => {}
            Err(TextProblem::Control(c)) => {
                let c = text::describe_char(c);
                self.report(
                    raw.span(),
                    format!(
                        "{prefix}the description contains {c}; only line breaks and tabs may be there"
                    ),
                );
            }
            Err(problem) => {
                self.report(raw.span(), format!("{prefix}the description {problem}"));
            }
        }
        let text = raw.into_inner();
        (!text.trim().is_empty()).then_some(text)
    }

    fn owners(&mut self, id: &str, owner: &Spanned<RawOwner>) -> Vec<String> {
        let keys: Vec<(String, Range<usize>)> = match owner.get_ref() {
            RawOwner::One(key) => vec![(key.clone(), owner.span())],
            RawOwner::Many(keys) => {
                if keys.is_empty() {
                    self.report(
                        owner.span(),
                        format!("task {id:?}: the owner list is empty"),
                    );
                }
                keys.iter()
                    .map(|key| (key.get_ref().clone(), key.span()))
                    .collect()
            }
        };
        let mut owners = Vec::new();
        for (key, span) in keys {
            if !self.people.contains_key(&key) {
                self.report(span, format!("unknown person {key:?} in task {id:?}"));
            } else if owners.contains(&key) {
                self.report(span, format!("task {id:?}: owner {key:?} is listed twice"));
            } else {
                owners.push(key);
            }
        }
        owners
    }

    /// `every`, `due` and `first` together.
    /// A task id: its shape, its length, and that no task before has it.
    fn task_id(&mut self, id_value: &Spanned<String>, first_seen: &mut HashMap<String, usize>) {
        let id = id_value.get_ref();
        if !values::is_task_id(id) {
            self.report(
                id_value.span(),
                format!("bad task id {id:?} (use a-z, 0-9 and -)"),
            );
        } else if let Err(problem) = text::one_line(id, MAX_ID_CHARS) {
            self.report(id_value.span(), format!("the task id {problem}"));
        }
        if let Some(&first) = first_seen.get(id) {
            let line = self.lines.line_of(first);
            self.report(
                id_value.span(),
                format!("duplicate task id {id:?} (first defined at line {line})"),
            );
        } else {
            first_seen.insert(id.clone(), id_value.span().start);
        }
    }

    /// Every required key a task lacks, each reported at its `[[task]]`.
    fn missing_task_keys(&mut self, prefix: &str, header: Range<usize>, raw: &RawTask) {
        let missing = [
            ("title", raw.title.is_none()),
            ("owner", raw.owner.is_none()),
            ("every", raw.every.is_none()),
            ("due", raw.due.is_none()),
        ];
        for (key, absent) in missing {
            if absent {
                self.report(header.clone(), format!("{prefix}missing key {key:?}"));
            }
        }
    }

    /// A task's title, trimmed: not empty, one line, not too long.
    fn title(&mut self, prefix: &str, title: &Spanned<String>) -> String {
        let text = title.get_ref().trim().to_string();
        if text.is_empty() {
            self.report(title.span(), format!("{prefix}empty title"));
        } else {
            self.one_line(
                title.span(),
                &format!("{prefix}the title"),
                &text,
                MAX_TITLE_CHARS,
            );
        }
        text
    }

    /// `anchor`: fixed (the default) or completion.
    fn anchor(&mut self, prefix: &str, anchor: Option<&Spanned<String>>) -> Anchor {
        match anchor.map(|a| (a.get_ref().as_str(), a.span())) {
            None | Some(("fixed", _)) => Anchor::Fixed,
            Some(("completion", _)) => Anchor::Completion,
            Some((other, span)) => {
                self.report(
                    span,
                    format!("{prefix}unknown anchor {other:?} (fixed, completion)"),
                );
                Anchor::Fixed
            }
        }
    }

    /// `every` + `due` (+ `first`) → the task's recurrence, one kind each:
    /// the kind, the first year of `N years`, then the due date's shape.
    fn recurrence(
        &mut self,
        id: &str,
        every_value: &Spanned<String>,
        due: &Spanned<RawDue>,
        first: Option<&Spanned<i64>>,
        terms: Option<&CheckedTerms>,
    ) -> Option<Recurrence> {
        let prefix = format!("task {id:?}: ");
        let every = self.every(&prefix, every_value)?;
        let first = self.first_year(&prefix, every, every_value, first)?;
        match (every, due.get_ref()) {
            (Every::Years(every), RawDue::Text(text)) => {
                let (month, day) = self.month_day(&prefix, text, due.span())?;
                Some(Recurrence::Years {
                    every,
                    first,
                    month,
                    day,
                })
            }
            (
                Every::Term,
                RawDue::Table(RawDueTable {
                    year: Some(year),
                    date: Some(date),
                    month: None,
                    day: None,
                }),
            ) => self.term_due(&prefix, every_value, year, date, terms),
            (Every::Month, RawDue::Number(day)) => {
                let day = self.day_of_month(&prefix, *day, due.span())?;
                Some(Recurrence::Month { day })
            }
            (
                Every::Quarter,
                RawDue::Table(RawDueTable {
                    year: None,
                    date: None,
                    month: Some(month),
                    day: Some(day),
                }),
            ) => {
                let (month, day) = self.month_in_part(&prefix, "quarter", 3, month, day)?;
                Some(Recurrence::Quarter { month, day })
            }
            (
                Every::HalfYear,
                RawDue::Table(RawDueTable {
                    year: None,
                    date: None,
                    month: Some(month),
                    day: Some(day),
                }),
            ) => {
                let (month, day) = self.month_in_part(&prefix, "half-year", 6, month, day)?;
                Some(Recurrence::HalfYear { month, day })
            }
            (every, _) => {
                self.wrong_due_shape(&prefix, every, every_value.get_ref(), due);
                None
            }
        }
    }

    /// The recurrence kind `every` names.
    fn every(&mut self, prefix: &str, every_value: &Spanned<String>) -> Option<Every> {
        let every_text = every_value.get_ref();
        match values::every(every_text) {
            Ok(every) => Some(every),
            Err(EveryProblem::Unknown) => {
                let kinds = "year, N years, term, month, quarter, half-year";
                self.report(
                    every_value.span(),
                    format!("{prefix}unknown recurrence {every_text:?} ({kinds})"),
                );
                None
            }
            Err(EveryProblem::ZeroYears) => {
                self.report(
                    every_value.span(),
                    format!("{prefix}every = {every_text:?} must be at least 1 year"),
                );
                None
            }
        }
    }

    /// `first`, which `N years` (N ≥ 2) needs and only `year`/`N years`
    /// may have: `Some(None)` when absent and not needed, `None` when
    /// reported.
    fn first_year(
        &mut self,
        prefix: &str,
        every: Every,
        every_value: &Spanned<String>,
        first: Option<&Spanned<i64>>,
    ) -> Option<Option<i32>> {
        let every_text = every_value.get_ref();
        match (every, first) {
            (Every::Years(_), Some(first)) => match i32::try_from(*first.get_ref()) {
                Ok(year @ 1000..=9999) => Some(Some(year)),
                _ => {
                    let found = first.get_ref();
                    self.report(
                        first.span(),
                        format!("{prefix}bad first year {found} (use a year such as 2027)"),
                    );
                    None
                }
            },
            (Every::Years(n), None) if n >= 2 => {
                let message = format!(
                    "{prefix}every = {every_text:?} needs first = YEAR (the first year it is due)"
                );
                self.report(every_value.span(), message);
                None
            }
            (_, Some(first)) => {
                let message =
                    format!("{prefix}first only applies to every = \"year\" or \"N years\"");
                self.report(first.span(), message);
                None
            }
            (_, None) => Some(None),
        }
    }

    /// `due = { year = N, date = "MM-DD" }` of `every = "term"`: N within
    /// the `[terms]` length (which must exist), the date a real one.
    fn term_due(
        &mut self,
        prefix: &str,
        every_value: &Spanned<String>,
        year: &Spanned<toml::Value>,
        date: &Spanned<toml::Value>,
        terms: Option<&CheckedTerms>,
    ) -> Option<Recurrence> {
        let mut term_year = self.whole_number(prefix, "term year", year);
        match terms {
            None => {
                let message = format!("{prefix}every = \"term\" needs a [terms] table");
                self.report(every_value.span(), message);
            }
            Some(terms) => {
                if let (Some(n), Some(years)) = (term_year, terms.years) {
                    if !(1..=i64::from(years)).contains(&n) {
                        let message =
                            format!("{prefix}term year {n} is outside the {years}-year term");
                        self.report(year.span(), message);
                        term_year = None;
                    }
                }
            }
        }
        if let Some(n) = term_year.filter(|n| *n < 1) {
            self.report(
                year.span(),
                format!("{prefix}term year {n} must be 1 or more"),
            );
            term_year = None;
        }
        let (month, day) = match date.get_ref() {
            toml::Value::String(text) => self.month_day(prefix, text, date.span()),
            other => {
                let found = describe(other);
                self.report(
                    date.span(),
                    format!("{prefix}term date must be \"MM-DD\", found {found}"),
                );
                None
            }
        }?;
        let year = u32::try_from(term_year?).ok()?;
        Some(Recurrence::Term { year, month, day })
    }

    /// A `due` whose shape does not fit the kind: says which shape it needs
    /// and, when it can be named, what it found.
    fn wrong_due_shape(
        &mut self,
        prefix: &str,
        every: Every,
        every_text: &str,
        due: &Spanned<RawDue>,
    ) {
        let expected = match every {
            Every::Years(_) => "\"MM-DD\"",
            Every::Term => "{ year = N, date = \"MM-DD\" }",
            Every::Month => "DAY (a number 1-31)",
            Every::Quarter => "{ month = 1-3, day = 1-31 }",
            Every::HalfYear => "{ month = 1-6, day = 1-31 }",
        };
        let message = match describe_due(due.get_ref()) {
            Some(found) => {
                format!("{prefix}every = {every_text:?} needs due = {expected}, found {found}")
            }
            None => format!("{prefix}every = {every_text:?} needs due = {expected}"),
        };
        self.report(due.span(), message);
    }

    fn month_day(&mut self, prefix: &str, text: &str, span: Range<usize>) -> Option<(u32, u32)> {
        self.date_or_report(values::month_day(text), span, prefix, "date", text, "MM-DD")
    }

    /// The date `result` read from `text`, or `None` with its problem
    /// reported at `span`: "{prefix}bad {noun} \"text\" (use {format})"
    /// or "{prefix}impossible {noun} \"text\"".
    fn date_or_report<T>(
        &mut self,
        result: Result<T, DateProblem>,
        span: Range<usize>,
        prefix: &str,
        noun: &str,
        text: &str,
        format: &str,
    ) -> Option<T> {
        match result {
            Ok(date) => Some(date),
            Err(DateProblem::Format) => {
                self.report(span, format!("{prefix}bad {noun} {text:?} (use {format})"));
                None
            }
            Err(DateProblem::Impossible) => {
                self.report(span, format!("{prefix}impossible {noun} {text:?}"));
                None
            }
        }
    }

    fn whole_number(
        &mut self,
        prefix: &str,
        what: &str,
        value: &Spanned<toml::Value>,
    ) -> Option<i64> {
        match value.get_ref() {
            toml::Value::Integer(n) => Some(*n),
            other => {
                let found = describe(other);
                self.report(
                    value.span(),
                    format!("{prefix}{what} must be a whole number, found {found}"),
                );
                None
            }
        }
    }

    fn day_of_month(&mut self, prefix: &str, day: i64, span: Range<usize>) -> Option<u32> {
        match u32::try_from(day) {
            Ok(day @ 1..=31) => Some(day),
            _ => {
                self.report(span, format!("{prefix}day {day} is outside 1-31"));
                None
            }
        }
    }

    /// `{ month = M, day = D }` inside a quarter (`months` = 3) or half-year (6).
    fn month_in_part(
        &mut self,
        prefix: &str,
        part: &str,
        months: u32,
        month: &Spanned<toml::Value>,
        day: &Spanned<toml::Value>,
    ) -> Option<(u32, u32)> {
        let month_number = self.whole_number(prefix, &format!("{part} month"), month);
        let day_number = self.whole_number(prefix, "day", day);
        let month_number = month_number.and_then(|m| match u32::try_from(m) {
            Ok(m) if (1..=months).contains(&m) => Some(m),
            _ => {
                self.report(
                    month.span(),
                    format!("{prefix}{part} month {m} is outside 1-{months}"),
                );
                None
            }
        });
        let day_number = day_number.and_then(|d| self.day_of_month(prefix, d, day.span()));
        Some((month_number?, day_number?))
    }
}

/// A TOML value's kind, in words.
fn describe(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "a whole number",
        toml::Value::Float(_) => "a decimal number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// A `due` value's kind, in words, when it is not a table.
fn describe_due(due: &RawDue) -> Option<String> {
    match due {
        RawDue::Text(text) => Some(format!("the string {text:?}")),
        RawDue::Number(n) => Some(format!("the number {n}")),
        RawDue::Table(_) => None,
        RawDue::Other(kind) => Some((*kind).to_string()),
    }
}
