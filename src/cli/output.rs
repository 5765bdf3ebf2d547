//! What the commands print: readable tables for people, and the JSON shapes
//! of CONTRACT section 5 for scripts. Writes to the writer it is given.

use std::io::{self, Write};

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::{json, Value};

use crate::planner::{Kind, PlanEvent, State, StatusRow};
use crate::store::{Completion, MessageState, NotificationRecord};
use crate::wheel::Wheel;

fn emails(wheel: &Wheel, keys: &[String]) -> Vec<String> {
    keys.iter()
        .map(|k| {
            wheel
                .person(k)
                .map(|p| p.email.clone())
                .unwrap_or_else(|| k.clone())
        })
        .collect()
}

fn rfc3339<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Writes `YYYY-MM-DD` digit by digit: `plan` writes millions of dates,
/// and chrono's `Display` goes through the formatting machinery each time.
fn put_date(buf: &mut Vec<u8>, d: NaiveDate) {
    use chrono::Datelike;
    let year = d.year();
    if !(0..=9999).contains(&year) {
        buf.extend_from_slice(d.to_string().as_bytes());
        return;
    }
    put_digits(buf, year as u32, 4);
    buf.push(b'-');
    put_digits(buf, d.month(), 2);
    buf.push(b'-');
    put_digits(buf, d.day(), 2);
}

fn put_digits(buf: &mut Vec<u8>, value: u32, width: u32) {
    for place in (0..width).rev() {
        buf.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
    }
}

/// RFC 3339 with the offset and whole seconds: `2027-03-01T08:00:00+01:00`.
fn put_rfc3339<Tz: chrono::TimeZone>(buf: &mut Vec<u8>, t: &DateTime<Tz>) {
    use chrono::{Offset, Timelike};
    let local = t.naive_local();
    let offset = t.offset().fix().local_minus_utc();
    put_date(buf, local.date());
    buf.push(b'T');
    for (i, part) in [local.hour(), local.minute(), local.second()]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            buf.push(b':');
        }
        put_digits(buf, part, 2);
    }
    buf.push(if offset < 0 { b'-' } else { b'+' });
    let abs = offset.unsigned_abs();
    put_digits(buf, abs / 3600, 2);
    buf.push(b':');
    put_digits(buf, abs % 3600 / 60, 2);
}

/// Streams `{"from", "to", "events": [...]}` event by event: ten years of
/// a large wheel is millions of events, never built as one JSON tree.
/// Dates and times are written as they are (they need no escaping); names
/// go through serde_json.
pub fn plan_json(
    out: &mut impl Write,
    wheel: &Wheel,
    from: NaiveDate,
    to: NaiveDate,
    events: &[PlanEvent],
) -> io::Result<()> {
    write!(out, "{{\"from\":\"{from}\",\"to\":\"{to}\",\"events\":[")?;
    let mut line = Vec::with_capacity(128);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"{\"task\":")?;
        serde_json::to_writer(&mut *out, &e.task)?;
        out.write_all(b",\"period\":")?;
        serde_json::to_writer(&mut *out, &*e.period)?;
        line.clear();
        line.extend_from_slice(b",\"due\":\"");
        put_date(&mut line, e.due);
        line.extend_from_slice(b"\",\"kind\":\"");
        line.extend_from_slice(e.kind.as_str().as_bytes());
        line.extend_from_slice(b"\",\"date\":\"");
        put_date(&mut line, e.date);
        line.extend_from_slice(b"\",\"at\":\"");
        put_rfc3339(&mut line, &e.at);
        line.extend_from_slice(b"\",\"to\":[");
        out.write_all(&line)?;
        for (j, key) in e.to.iter().enumerate() {
            if j > 0 {
                out.write_all(b",")?;
            }
            let email = wheel.person(key).map_or(key.as_str(), |p| p.email.as_str());
            serde_json::to_writer(&mut *out, email)?;
        }
        out.write_all(b"]")?;
        if e.kind == Kind::Escalation {
            write!(out, ",\"level\":{}", e.level)?;
        }
        out.write_all(b"}")?;
    }
    writeln!(out, "]}}")
}

pub fn plan_table(out: &mut impl Write, wheel: &Wheel, events: &[PlanEvent]) -> io::Result<()> {
    if events.is_empty() {
        return writeln!(out, "Nothing happens in this range.");
    }
    let task_w = events
        .iter()
        .map(|e| e.task.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let period_w = events
        .iter()
        .map(|e| e.period.len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:<10}  {:<5}  {:<12}  {:<task_w$}  {:<period_w$}  {:<10}  TO",
        "DATE", "TIME", "KIND", "TASK", "PERIOD", "DUE"
    )?;
    for e in events {
        let kind = match e.kind {
            Kind::Escalation => format!("escalation {}", e.level),
            k => k.as_str().to_string(),
        };
        let time = if e.kind == Kind::Due {
            String::new()
        } else {
            e.at.format("%H:%M").to_string()
        };
        writeln!(
            out,
            "{:<10}  {:<5}  {:<12}  {:<task_w$}  {:<period_w$}  {:<10}  {}",
            e.date.to_string(),
            time,
            kind,
            e.task,
            e.period,
            e.due.to_string(),
            emails(wheel, e.to).join(", ")
        )?;
    }
    Ok(())
}

/// Sort key for status rows: most overdue first, then open, then upcoming,
/// each by due date.
pub fn urgency(row: &StatusRow) -> (u8, i64, NaiveDate, String) {
    let rank = match row.state {
        State::Overdue => 0,
        State::Open => 1,
        State::Upcoming => 2,
    };
    (rank, -row.days_overdue, row.due, row.task.clone())
}

fn last_done_json(c: &Option<Completion>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({"period": c.period, "at": rfc3339(&c.at), "by": c.by, "via": c.via}),
    }
}

pub fn status_json(
    out: &mut impl Write,
    wheel: &Wheel,
    now: DateTime<FixedOffset>,
    rows: &[(StatusRow, Option<Completion>)],
    failed: &[NotificationRecord],
    absences: Value,
) -> io::Result<()> {
    let tasks: Vec<Value> = rows
        .iter()
        .map(|(r, last)| {
            let task = wheel.task(&r.task);
            json!({
                "id": r.task,
                "title": task.map(|t| t.title.as_str()).unwrap_or(""),
                "owner": task.map(|t| t.owners.clone()).unwrap_or_default(),
                "period": r.period,
                "due": r.due.to_string(),
                "state": r.state.as_str(),
                "days_overdue": r.days_overdue,
                "escalation_level": r.escalation_level,
                "last_done": last_done_json(last),
            })
        })
        .collect();
    let failed: Vec<Value> = failed.iter().map(notification_json).collect();
    let doc = json!({"now": rfc3339(&now), "tasks": tasks, "failed_notifications": failed, "absences": absences});
    serde_json::to_writer(&mut *out, &doc)?;
    writeln!(out)
}

pub fn status_table(
    out: &mut impl Write,
    wheel: &Wheel,
    rows: &[(StatusRow, Option<Completion>)],
    colour: bool,
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "No tasks.");
    }
    let id_w = rows
        .iter()
        .map(|(r, _)| r.task.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let period_w = rows
        .iter()
        .map(|(r, _)| r.period.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let owners_of = |task: &str| {
        wheel
            .task(task)
            .map(|t| t.owners.join(", "))
            .unwrap_or_default()
    };
    let owner_w = rows
        .iter()
        .map(|(r, _)| owners_of(&r.task).chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(
        out,
        "{:<8}  {:<id_w$}  {:<period_w$}  {:<10}  {:>7}  {:>3}  {:<owner_w$}  LAST DONE",
        "STATE", "TASK", "PERIOD", "DUE", "OVERDUE", "ESC", "OWNER"
    )?;
    for (r, last) in rows {
        let owners = owners_of(&r.task);
        let overdue = if r.days_overdue > 0 {
            format!("{}d", r.days_overdue)
        } else {
            "-".into()
        };
        let esc = if r.escalation_level > 0 {
            r.escalation_level.to_string()
        } else {
            "-".into()
        };
        let last = match last {
            Some(c) => format!("{} {} {}", c.period, c.at.format("%Y-%m-%d"), c.by),
            None => "never".into(),
        };
        let line = format!(
            "{:<8}  {:<id_w$}  {:<period_w$}  {:<10}  {:>7}  {:>3}  {:<owner_w$}  {}",
            r.state.as_str(),
            r.task,
            r.period,
            r.due.to_string(),
            overdue,
            esc,
            owners,
            last
        );
        let (start, end) = match (colour, r.state) {
            (true, State::Overdue) => ("\x1b[1;31m", "\x1b[0m"),
            (true, State::Open) => ("\x1b[33m", "\x1b[0m"),
            _ => ("", ""),
        };
        writeln!(out, "{start}{line}{end}")?;
    }
    Ok(())
}

fn state_str(s: MessageState) -> &'static str {
    match s {
        MessageState::Pending => "pending",
        MessageState::Sent => "sent",
        MessageState::Failed => "failed",
    }
}

fn notification_json(n: &NotificationRecord) -> Value {
    json!({
        "task": n.task,
        "period": n.period,
        "kind": n.kind,
        "to": n.to.first().cloned().unwrap_or_default(),
        "cc": n.cc,
        "sent_at": n.sent_at.as_ref().map(rfc3339),
        "state": state_str(n.state),
        "attempts": n.attempts,
        "error": n.last_error,
    })
}

/// Messages given up on, below the status table: someone must fix an
/// address or tell the person another way.
pub fn failed_table(out: &mut impl Write, failed: &[NotificationRecord]) -> io::Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nUndeliverable messages ({}):", failed.len())?;
    for n in failed {
        writeln!(
            out,
            "  {}  {} {} {} to {}: {}",
            n.created_at.format("%Y-%m-%d %H:%M"),
            n.task,
            n.period,
            n.kind,
            n.to.join(", "),
            n.last_error.as_deref().unwrap_or("refused")
        )?;
    }
    Ok(())
}

pub fn history_json(
    out: &mut impl Write,
    completions: &[Completion],
    notifications: &[NotificationRecord],
    absences: Value,
) -> io::Result<()> {
    let completions: Vec<Value> = completions
        .iter()
        .map(|c| json!({"task": c.task, "period": c.period, "at": rfc3339(&c.at), "by": c.by, "via": c.via, "note": c.note}))
        .collect();
    let notifications: Vec<Value> = notifications.iter().map(notification_json).collect();
    serde_json::to_writer(
        &mut *out,
        &json!({"completions": completions, "notifications": notifications, "absences": absences}),
    )?;
    writeln!(out)
}

pub fn history_table(
    out: &mut impl Write,
    completions: &[Completion],
    notifications: &[NotificationRecord],
) -> io::Result<()> {
    writeln!(out, "Completions ({})", completions.len())?;
    for c in completions {
        let note = c
            .note
            .as_deref()
            .map(|n| format!("  \"{n}\""))
            .unwrap_or_default();
        writeln!(
            out,
            "  {}  {:<24} {:<10} by {} via {}{}",
            c.at.format("%Y-%m-%d %H:%M"),
            c.task,
            c.period,
            c.by,
            c.via,
            note
        )?;
    }
    writeln!(out, "Notifications ({})", notifications.len())?;
    for n in notifications {
        let when = n
            .sent_at
            .as_ref()
            .unwrap_or(&n.created_at)
            .format("%Y-%m-%d %H:%M");
        let mut state = state_str(n.state).to_string();
        if let Some(e) = &n.last_error {
            if n.state != MessageState::Sent {
                state = format!("{state} after {} attempts: {e}", n.attempts);
            }
        }
        let cc = if n.cc.is_empty() {
            String::new()
        } else {
            format!(" cc {}", n.cc.join(", "))
        };
        writeln!(
            out,
            "  {}  {:<10} {:<24} {:<10} to {}{}  [{}]",
            when,
            n.kind,
            n.task,
            n.period,
            n.to.join(", "),
            cc,
            state
        )?;
    }
    Ok(())
}
