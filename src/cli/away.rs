//! `arshjul away`: record an absence, list them, cancel one; and how
//! absences are printed by `away --list`, `status` and `history`.

use std::io::{self, Write};
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Value};

use super::output::clean;
use super::{finish_output, login_name, open_if_present, Failure};
use crate::calendar::local_now;
use crate::calendar::Calendar;
use crate::config::Config;
use crate::planner::{self, Absence};
use crate::store::{AbsenceFilter, AbsenceRecord, CancelOutcome, NewAbsence, Store};
use crate::wheel::Wheel;

/// What `arshjul away` was asked to do.
pub(super) enum Action {
    Record {
        person: String,
        from: NaiveDate,
        to: NaiveDate,
        deputy: Option<String>,
        note: Option<String>,
    },
    List {
        json: bool,
    },
    Cancel(i64),
}

pub(super) fn away(loaded: &Config, now: DateTime<Utc>, action: Action) -> super::CmdResult {
    let wheel = &loaded.wheel;
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    match action {
        Action::Record {
            person,
            from,
            to,
            deputy,
            note,
        } => {
            let deputy = checked_deputy(wheel, &person, deputy.as_deref(), from, to)?;
            let absence = NewAbsence {
                person: person.clone(),
                from,
                to,
                deputy: deputy.clone(),
                note: note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                recorded_at: local_now(wheel.organisation.timezone, now),
                recorded_by: login_name(),
            };
            let mut store = Store::open_with_busy_timeout(
                &loaded.settings.database,
                true,
                loaded.settings.busy_timeout(),
            )?;
            let id = store.record_absence(&absence)?;
            println!(
                "absence {id}: {person} away {from} to {to} (inclusive); deputy: {deputy} ({})",
                wheel.person(&deputy).map_or("", |p| p.name.as_str())
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::List { json } => {
            let absences = match open_if_present(&loaded.settings)? {
                Some(store) => store.absences(AbsenceFilter::ActiveFrom(today))?,
                None => Vec::new(),
            };
            let mut out = io::BufWriter::new(io::stdout().lock());
            let written = if json {
                let list: Vec<Value> = absences.iter().map(absence_json).collect();
                serde_json::to_writer(&mut out, &json!({ "absences": list }))
                    .map_err(io::Error::from)
                    .and_then(|_| writeln!(out))
            } else {
                list_table(&mut out, &absences)
            };
            finish_output(written.and_then(|_| out.flush()))
        }
        Action::Cancel(id) => {
            let mut store = Store::open_with_busy_timeout(
                &loaded.settings.database,
                true,
                loaded.settings.busy_timeout(),
            )?;
            match store.cancel_absence(
                id,
                local_now(wheel.organisation.timezone, now),
                &login_name(),
            )? {
                CancelOutcome::Cancelled(a) => {
                    println!(
                        "absence {id} cancelled: {} away {} to {}, deputy {}",
                        a.person, a.from, a.to, a.deputy
                    );
                    Ok(ExitCode::SUCCESS)
                }
                CancelOutcome::AlreadyCancelled(a) => {
                    println!(
                        "absence {id} was already cancelled {} by {}; nothing recorded",
                        a.cancelled_at
                            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_default(),
                        a.cancelled_by.unwrap_or_default()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                CancelOutcome::Unknown => Err(Failure::usage(format!(
                    "there is no absence {id} (`arshjul away --list` shows them)"
                ))),
            }
        }
    }
}

/// The deputy an absence will record, or why it is refused: the person
/// and the deputy must be people of the wheel and different, the dates in
/// order, and someone must stand in (`--deputy`, or `deputy` in the wheel).
fn checked_deputy(
    wheel: &Wheel,
    person: &str,
    deputy: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<String, Failure> {
    let unknown = |key: &str, role: &str| {
        let known: Vec<&str> = wheel.people.keys().map(String::as_str).collect();
        Failure::usage(format!(
            "unknown person \"{key}\"{role} (people: {})",
            known.join(", ")
        ))
    };
    let Some(who) = wheel.person(person) else {
        return Err(unknown(person, ""));
    };
    if to < from {
        return Err(Failure::usage(format!("--to {to} is before --from {from}")));
    }
    let deputy = match deputy.or(who.deputy.as_deref()) {
        Some(d) => d,
        None => {
            return Err(Failure::usage(format!(
                "\"{person}\" has no deputy: name one with --deputy, or set `deputy` under [people.{person}] in the wheel"
            )))
        }
    };
    if wheel.person(deputy).is_none() {
        return Err(unknown(deputy, " as deputy"));
    }
    if deputy == person {
        return Err(Failure::usage(format!(
            "\"{person}\" cannot be their own deputy"
        )));
    }
    Ok(deputy.to_string())
}

/// `away --list`; text from outside goes through [`clean`].
fn list_table(out: &mut impl Write, absences: &[AbsenceRecord]) -> io::Result<()> {
    if absences.is_empty() {
        return writeln!(out, "No current or future absences.");
    }
    // Keys are as long as the wheel makes them: size the columns to fit.
    let rows: Vec<_> = absences
        .iter()
        .map(|a| (clean(&a.person), clean(&a.deputy)))
        .collect();
    let person_w = rows
        .iter()
        .map(|r| r.0.chars().count())
        .fold(12, usize::max);
    let deputy_w = rows
        .iter()
        .map(|r| r.1.chars().count())
        .fold(12, usize::max);
    writeln!(
        out,
        "{:>4}  {:<person_w$}  {:<10}  {:<10}  {:<deputy_w$}  NOTE",
        "ID", "PERSON", "FROM", "TO", "DEPUTY"
    )?;
    for (a, (person, deputy)) in absences.iter().zip(&rows) {
        writeln!(
            out,
            "{:>4}  {:<person_w$}  {:<10}  {:<10}  {:<deputy_w$}  {}",
            a.id,
            person,
            a.from.to_string(),
            a.to.to_string(),
            deputy,
            clean(a.note.as_deref().unwrap_or(""))
        )?;
    }
    Ok(())
}

fn rfc3339(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

pub(super) fn absence_json(a: &AbsenceRecord) -> Value {
    json!({
        "id": a.id,
        "person": a.person,
        "from": a.from.to_string(),
        "to": a.to.to_string(),
        "deputy": a.deputy,
        "note": a.note,
        "recorded_at": rfc3339(&a.recorded_at),
        "recorded_by": a.recorded_by,
        "cancelled_at": a.cancelled_at.as_ref().map(rfc3339),
        "cancelled_by": a.cancelled_by,
    })
}

/// The absences covering `today`, with whom each person's messages go to
/// (the deputy, or the person themselves when the deputy is away too or
/// no longer in the wheel).
pub(super) fn current(
    wheel: &Wheel,
    absences: Vec<AbsenceRecord>,
    today: NaiveDate,
) -> Vec<(AbsenceRecord, String)> {
    let planner_view: Vec<Absence> = absences
        .iter()
        .map(|a| Absence {
            id: a.id,
            person: a.person.clone(),
            from: a.from,
            to: a.to,
            deputy: a.deputy.clone(),
        })
        .collect();
    let mut out: Vec<(AbsenceRecord, String)> = Vec::new();
    for a in absences {
        if a.from > today || a.to < today {
            continue;
        }
        // Of two absences of one person covering today, the later recorded
        // decides (as in the planner); show that one.
        if let Some(i) = out.iter().position(|(b, _)| b.person == a.person) {
            if out[i].0.id > a.id {
                continue;
            }
            out.remove(i);
        }
        let to = planner::standing_in(wheel, &planner_view, &a.person, today)
            .map_or_else(|| a.person.clone(), |s| s.deputy);
        out.push((a, to));
    }
    out
}

/// `status`: one line per person away today.
pub(super) fn status_lines(
    out: &mut impl Write,
    current: &[(AbsenceRecord, String)],
) -> io::Result<()> {
    if current.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    for (a, to) in current {
        // The planner hands the message back for one of two reasons: the
        // deputy is away today too (then they are listed here as well), or
        // the deputy is no longer a person of the wheel.
        let deputy_away = current.iter().any(|(b, _)| b.person == a.deputy);
        let routing = if *to == a.deputy {
            String::new()
        } else if deputy_away {
            format!("; the deputy is away too, so messages go to {}", clean(to))
        } else {
            format!(
                "; the deputy is no longer in the wheel, so messages go to {}",
                clean(to)
            )
        };
        writeln!(
            out,
            "away: {} until {} (deputy: {}{routing})",
            clean(&a.person),
            a.to,
            clean(&a.deputy)
        )?;
    }
    Ok(())
}

/// `status --json`: the `absences` field.
pub(super) fn status_json(current: &[(AbsenceRecord, String)]) -> Value {
    Value::Array(
        current
            .iter()
            .map(|(a, to)| {
                let mut v = absence_json(a);
                v["messages_to"] = Value::String(to.clone());
                v
            })
            .collect(),
    )
}

/// `history`: every absence ever recorded, cancelled ones marked. Text
/// from outside (the note, login names) goes through [`clean`], as in the
/// other tables: a note cannot forge a line or send escapes.
pub(super) fn history_table(out: &mut impl Write, absences: &[AbsenceRecord]) -> io::Result<()> {
    writeln!(out, "Absences ({})", absences.len())?;
    for a in absences {
        let note = a
            .note
            .as_deref()
            .map(|n| format!("  \"{}\"", clean(n)))
            .unwrap_or_default();
        let cancelled = match (&a.cancelled_at, &a.cancelled_by) {
            (Some(at), Some(by)) => {
                format!(
                    "  [cancelled {} by {}]",
                    at.format("%Y-%m-%d %H:%M"),
                    clean(by)
                )
            }
            _ => String::new(),
        };
        writeln!(
            out,
            "  {}  {:>4}  {} away {} to {}, deputy {}; recorded by {}{}{}",
            a.recorded_at.format("%Y-%m-%d %H:%M"),
            a.id,
            clean(&a.person),
            a.from,
            a.to,
            clean(&a.deputy),
            clean(&a.recorded_by),
            note,
            cancelled
        )?;
    }
    Ok(())
}
