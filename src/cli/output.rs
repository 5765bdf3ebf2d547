//! What the commands print: readable tables for people, and the JSON shapes
//! of docs/json.md for scripts. Writes to the writer it is given.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::{json, Value};

use crate::planner::{Absence, Kind, PlanEvent, State, StatusRow};
use crate::store::{
    Completion, CompletionRecord, Held, LinkRequestRecord, MessageState, NotificationRecord,
};
use crate::wheel::Wheel;

/// Text from outside (notes, names, addresses, server replies, user agents,
/// command-line arguments) made safe for a terminal line, as `ls` and
/// ripgrep quote file names: control characters are written as escapes
/// (`\n`, `\r`, `\t`, `\0`, `\e` for ESC, `\x7f`, `\u{9b}` for C1), and
/// so are the invisible characters that reorder a line (bidirectional
/// overrides and isolates) and the line and paragraph separators. Nothing
/// else changes, so ordinary text (Danish included) is borrowed as it is.
/// JSON output never goes through this: serde_json escapes exactly.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            '\x1b' => out.push_str("\\e"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

pub use crate::wheel::text::plural;

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

/// Writes `text` as a JSON string. Text without a quote, a backslash or a
/// control character (ids, periods, addresses: nearly always) is copied as
/// it is; anything else goes through serde_json, which escapes exactly.
fn put_json_str(buf: &mut Vec<u8>, text: &str) {
    // A fold without an early exit, so the compiler can check many bytes
    // at once.
    let plain = text
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        buf.reserve(text.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'"');
    } else {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, text);
    }
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
    absences: &[Absence],
) -> io::Result<()> {
    let email = |key: &str| -> String {
        wheel
            .person(key)
            .map_or(key.to_string(), |p| p.email.clone())
    };
    write!(out, "{{\"from\":\"{from}\",\"to\":\"{to}\",\"events\":[")?;
    let mut line = Vec::with_capacity(128);
    for (i, e) in events.iter().enumerate() {
        line.clear();
        if i > 0 {
            line.push(b',');
        }
        line.extend_from_slice(b"{\"task\":");
        put_json_str(&mut line, e.task);
        line.extend_from_slice(b",\"period\":");
        put_json_str(&mut line, &e.period);
        line.extend_from_slice(b",\"due\":\"");
        put_date(&mut line, e.due);
        line.extend_from_slice(b"\",\"kind\":\"");
        line.extend_from_slice(e.kind.as_str().as_bytes());
        line.extend_from_slice(b"\",\"date\":\"");
        put_date(&mut line, e.date);
        line.extend_from_slice(b"\",\"at\":\"");
        put_rfc3339(&mut line, &e.at);
        line.extend_from_slice(b"\",\"to\":[");
        let stand_ins = if absences.is_empty() {
            Vec::new()
        } else {
            crate::planner::plan_stand_ins(wheel, absences, e)
        };
        for (j, key) in e.to.iter().enumerate() {
            if j > 0 {
                line.push(b',');
            }
            match stand_ins.get(j) {
                Some(Some(s)) => put_json_str(&mut line, &email(&s.deputy)),
                _ => {
                    let email = wheel.person(key).map_or(key.as_str(), |p| p.email.as_str());
                    put_json_str(&mut line, email);
                }
            }
        }
        line.push(b']');
        if stand_ins.iter().any(Option::is_some) {
            line.extend_from_slice(b",\"away\":[");
            for (j, s) in stand_ins.iter().flatten().enumerate() {
                if j > 0 {
                    line.push(b',');
                }
                line.extend_from_slice(b"{\"person\":");
                put_json_str(&mut line, &email(&s.person));
                line.extend_from_slice(b",\"deputy\":");
                put_json_str(&mut line, &email(&s.deputy));
                line.extend_from_slice(b",\"until\":\"");
                put_date(&mut line, s.until);
                line.extend_from_slice(b"\"}");
            }
            line.push(b']');
        }
        if e.kind == Kind::Escalation {
            line.extend_from_slice(b",\"level\":");
            line.extend_from_slice(e.level.to_string().as_bytes());
        }
        line.push(b'}');
        out.write_all(&line)?;
    }
    writeln!(out, "]}}")
}

pub fn plan_table(
    out: &mut impl Write,
    wheel: &Wheel,
    events: &[PlanEvent],
    absences: &[Absence],
) -> io::Result<()> {
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
        let mut to = emails(wheel, e.to);
        if !absences.is_empty() {
            for (shown, s) in to
                .iter_mut()
                .zip(crate::planner::plan_stand_ins(wheel, absences, e))
            {
                if let Some(s) = s {
                    let deputy = emails(wheel, std::slice::from_ref(&s.deputy)).remove(0);
                    *shown = format!("{deputy} (for {shown}, away until {})", s.until);
                }
            }
        }
        writeln!(
            out,
            "{:<10}  {:<5}  {:<12}  {:<task_w$}  {:<period_w$}  {:<10}  {}",
            e.date.to_string(),
            time,
            kind,
            e.task,
            e.period,
            e.due.to_string(),
            clean(&to.join(", "))
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

/// What `status` shows besides the task rows.
pub struct StatusLists<'a> {
    /// Messages refused for good.
    pub failed: &'a [NotificationRecord],
    /// Messages deferred by a temporary failure, with their next attempt.
    pub deferred: &'a [(NotificationRecord, Option<DateTime<FixedOffset>>)],
    /// Why the brake holds the engine, if it does.
    pub held: Option<&'a Held>,
    /// Current absences, as `away::status_json` gives them.
    pub absences: Value,
    /// The database read (the path as the settings give it).
    pub database: &'a str,
}

pub fn status_json(
    out: &mut impl Write,
    wheel: &Wheel,
    now: DateTime<FixedOffset>,
    rows: &[(StatusRow, Option<Completion>)],
    lists: &StatusLists<'_>,
) -> io::Result<()> {
    let tasks: Vec<Value> = rows
        .iter()
        .map(|(r, last)| {
            let task = wheel.task(&r.task);
            json!({
                "id": r.task,
                "title": task.map(|t| t.title.as_str()).unwrap_or(""),
                "category": task.and_then(|t| t.category.as_deref()),
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
    let failed: Vec<Value> = lists.failed.iter().map(notification_json).collect();
    let held = lists
        .held
        .map(|h| json!({"since": rfc3339(&h.since), "reason": h.reason}));
    let doc = json!({"now": rfc3339(&now), "database": lists.database, "held": held, "tasks": tasks,
                     "failed_notifications": failed,
                     "deferred_notifications": deferred_json(lists.deferred),
                     "absences": lists.absences});
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
            .map(|t| clean(&t.owners.join(", ")).into_owned())
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
            Some(c) => format!(
                "{} {} {}",
                clean(&c.period),
                c.at.format("%Y-%m-%d"),
                clean(&c.by)
            ),
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
        "level": n.level(),
        "to": n.to.first().cloned().unwrap_or_default(),
        "cc": n.cc,
        "sent_at": n.sent_at.as_ref().map(rfc3339),
        "state": state_str(n.state),
        "attempts": n.attempts,
        "error": n.last_error,
    })
}

/// The start of a row below the status table: when the message was made,
/// its task, period and kind, and to whom (each cleaned for the terminal).
fn notification_head(n: &NotificationRecord) -> String {
    format!(
        "{}  {} {} {} to {}",
        n.created_at.format("%Y-%m-%d %H:%M"),
        clean(&n.task),
        clean(&n.period),
        clean(&n.kind),
        clean(&n.to.join(", "))
    )
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
            "  {}: {}",
            notification_head(n),
            clean(n.last_error.as_deref().unwrap_or("refused"))
        )?;
    }
    Ok(())
}

/// The line `status` shows while the brake holds the engine.
pub fn held_line(h: &Held) -> String {
    format!(
        "held: {} (since {}); nothing is recorded or sent. `arshjul tick --dry-run` shows what would go, `arshjul tick --accept-burst` lets it through.\n",
        clean(&h.reason),
        h.since.format("%Y-%m-%d %H:%M")
    )
}

/// Messages deferred by a temporary failure, below the status table: when
/// each is retried, after how many attempts, and the server's reason.
pub fn deferred_table(
    out: &mut impl Write,
    deferred: &[(NotificationRecord, Option<DateTime<FixedOffset>>)],
) -> io::Result<()> {
    if deferred.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\nDeferred messages ({}), kept and retried:",
        deferred.len()
    )?;
    for (n, retry) in deferred {
        let retry = retry
            .map(|t| format!("retry {}", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_else(|| "retry on the next pass".to_string());
        writeln!(
            out,
            "  {}: {} after {}: {}",
            notification_head(n),
            retry,
            plural(u64::from(n.attempts), "attempt", "attempts"),
            clean(n.last_error.as_deref().unwrap_or("no reason given"))
        )?;
    }
    Ok(())
}

/// A deferred message in `status --json`: a notification and its retry.
pub fn deferred_json(deferred: &[(NotificationRecord, Option<DateTime<FixedOffset>>)]) -> Value {
    deferred
        .iter()
        .map(|(n, retry)| {
            let mut v = notification_json(n);
            v["retry_at"] = json!(retry.as_ref().map(rfc3339));
            v
        })
        .collect()
}

fn retraction_json(r: &crate::store::Retraction) -> Value {
    json!({
        "task": r.task,
        "period": r.period,
        "at": rfc3339(&r.at),
        "by": r.by,
        "reason": r.reason,
        "completion": {"at": rfc3339(&r.completion_at), "by": r.completion_by},
    })
}

/// `{"completions", "retractions", "notifications"}`: every completion
/// ever recorded (`retracted` tells whether it still counts), every
/// retraction, every notification; each newest first.
pub fn history_json(
    out: &mut impl Write,
    completions: &[CompletionRecord],
    notifications: &[NotificationRecord],
    link_requests: &[LinkRequestRecord],
    absences: Value,
) -> io::Result<()> {
    let mut retractions: Vec<&crate::store::Retraction> = completions
        .iter()
        .filter_map(|r| r.retraction.as_ref())
        .collect();
    retractions.sort_by_key(|r| std::cmp::Reverse(r.at));
    let retractions: Vec<Value> = retractions.into_iter().map(retraction_json).collect();
    let completions: Vec<Value> = completions
        .iter()
        .map(|r| {
            let c = &r.completion;
            json!({"task": c.task, "period": c.period, "at": rfc3339(&c.at), "by": c.by,
                   "performed_by": r.performed_by, "via": c.via, "note": c.note,
                   "retracted": r.retraction.is_some(), "evidence": r.evidence})
        })
        .collect();
    let notifications: Vec<Value> = notifications.iter().map(notification_json).collect();
    let link_requests: Vec<Value> = link_requests.iter().map(link_request_json).collect();
    serde_json::to_writer(
        &mut *out,
        &json!({
            "completions": completions,
            "retractions": retractions,
            "notifications": notifications,
            "link_requests": link_requests,
            "absences": absences,
        }),
    )?;
    writeln!(out)
}

/// Completions (a retracted one marked so, its retraction below it with
/// who, when and why), then notifications. Every field that came from
/// outside goes through [`clean`].
pub fn history_table(
    out: &mut impl Write,
    completions: &[CompletionRecord],
    notifications: &[NotificationRecord],
) -> io::Result<()> {
    writeln!(out, "Completions ({})", completions.len())?;
    for r in completions {
        let c = &r.completion;
        let note = c
            .note
            .as_deref()
            .map(|n| format!("  \"{}\"", clean(n)))
            .unwrap_or_default();
        let retracted = if r.retraction.is_some() {
            "  [retracted]"
        } else {
            ""
        };
        writeln!(
            out,
            "  {}  {:<24} {:<10} by {} via {}{}{}",
            c.at.format("%Y-%m-%d %H:%M"),
            clean(&c.task),
            clean(&c.period),
            clean(&c.by),
            clean(&c.via),
            note,
            retracted
        )?;
        if let Some(p) = &r.performed_by {
            writeln!(out, "      performed by {}", clean(p))?;
        }
        for f in &r.evidence {
            writeln!(
                out,
                "      evidence {} ({} bytes) sha256 {}",
                clean(&f.name),
                f.bytes,
                f.sha256
            )?;
        }
        if let Some(x) = &r.retraction {
            writeln!(
                out,
                "  {}  {:<24} {:<10} retracted by {}: \"{}\"",
                x.at.format("%Y-%m-%d %H:%M"),
                clean(&x.task),
                clean(&x.period),
                clean(&x.by),
                clean(&x.reason)
            )?;
        }
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
                state = format!(
                    "{state} after {}: {}",
                    plural(u64::from(n.attempts), "attempt", "attempts"),
                    clean(e)
                );
            }
        }
        let cc = if n.cc.is_empty() {
            String::new()
        } else {
            format!(" cc {}", n.cc.join(", "))
        };
        // An escalation says its step, as `plan` does: "escalation 2".
        let kind = if n.level() > 0 {
            format!("{} {}", n.kind, n.level())
        } else {
            n.kind.clone()
        };
        writeln!(
            out,
            "  {}  {:<12} {:<24} {:<10} to {}{}  [{}]",
            when,
            clean(&kind),
            clean(&n.task),
            clean(&n.period),
            clean(&n.to.join(", ")),
            clean(&cc),
            state
        )?;
    }
    Ok(())
}

/// `queued`, `done`, `gone` once a pass answered it; `open` before.
fn link_request_state(r: &LinkRequestRecord) -> &str {
    r.outcome.as_deref().unwrap_or("open")
}

fn link_request_json(r: &LinkRequestRecord) -> Value {
    let message = r.message_state.map(|state| {
        json!({
            "to": r.to.as_ref().and_then(|to| to.first().cloned()).unwrap_or_default(),
            "state": state_str(state),
            "sent_at": r.sent_at.as_ref().map(rfc3339),
        })
    });
    json!({
        "task": r.task,
        "period": r.period,
        "person": r.person,
        "requested_at": rfc3339(&r.requested_at),
        "client_addr": r.client_addr,
        "user_agent": r.user_agent,
        "state": link_request_state(r),
        "answered_at": r.handled_at.as_ref().map(rfc3339),
        "message": message,
    })
}

/// Requests for a fresh link made on expired links' pages: when, for
/// whom, from which client address, and what was sent. Nothing when there
/// are none.
pub fn link_requests_table(out: &mut impl Write, requests: &[LinkRequestRecord]) -> io::Result<()> {
    if requests.is_empty() {
        return Ok(());
    }
    writeln!(out, "Link requests ({})", requests.len())?;
    for r in requests {
        let answer = match (r.outcome.as_deref(), r.message_state) {
            (None, _) => "waiting for the next pass".to_string(),
            (Some("done"), _) => "nothing sent: already done".to_string(),
            (Some("gone"), _) => "nothing sent: task or person no longer in the wheel".to_string(),
            (_, state) => {
                let to = r.to.as_deref().unwrap_or_default().join(", ");
                match (state, &r.sent_at) {
                    (Some(MessageState::Sent), Some(at)) => {
                        format!("new link sent to {to} {}", at.format("%Y-%m-%d %H:%M"))
                    }
                    (Some(MessageState::Failed), _) => format!("new link to {to} failed"),
                    _ => format!("new link to {to} pending"),
                }
            }
        };
        writeln!(
            out,
            "  {}  {:<24} {:<10} for {} from {}  [{}]",
            r.requested_at.format("%Y-%m-%d %H:%M"),
            r.task,
            r.period,
            r.person,
            r.client_addr.as_deref().unwrap_or("unknown address"),
            answer
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `plan_json` as it was before the per-event buffer and the plain-text
    /// fast path (serde_json for every name, a write per piece): the new
    /// writer must print the same bytes.
    fn plan_json_reference(
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

    #[test]
    fn json_strings_are_written_as_serde_json_writes_them() {
        for text in [
            "",
            "task-1",
            "2027-Q1",
            "direktør@eksempel.dk",
            "a\"b",
            "back\\slash",
            "line\nbreak\t\r\0\x1b\x1f",
            "del\x7f and \u{2028} and \u{202e}",
            "\u{1f600} ÆØÅ",
        ] {
            let mut buf = Vec::new();
            put_json_str(&mut buf, text);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                serde_json::to_string(text).unwrap()
            );
        }
    }

    #[test]
    fn plan_json_prints_the_same_bytes_as_before() {
        let odd = r#"
[organisation]
name = "Kommune"
start = 2026-01-01
timezone = "Europe/Copenhagen"

[defaults]
remind = ["14d", "1d"]
repeat = "3d"
escalate = [ { after = "2d", to = "chef" }, { after = "9d", to = "direktor" } ]

[people.chef]
name = "Chef"
email = "chef@example.dk"

[people.direktor]
name = "Direktør"
email = "direktør@eksempel.dk"

[people.ejer]
name = "Ejer"
email = "ejer@example.dk"

[[task]]
id = "moms"
title = "Moms"
owner = "ejer"
every = "quarter"
due = { month = 2, day = 31 }

[[task]]
id = "aarsrapport"
title = "Årsrapport"
owner = ["ejer", "chef"]
every = "year"
due = "03-31"
"#;
        let shipped =
            crate::wheel::parse(include_str!("../../schedule.toml"), "schedule.toml").unwrap();
        let odd = match crate::wheel::parse(odd, "odd.toml") {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let mut compared = 0;
        for w in [&shipped, &odd] {
            for (from, to) in [
                ("2026-01-01", "2027-12-31"),
                ("2027-03-01", "2027-03-01"),
                ("2030-06-15", "2031-02-01"),
                ("2040-01-01", "2039-01-01"),
            ] {
                let (from, to) = (d(from), d(to));
                let events = crate::planner::plan_range(w, from, to);
                compared += events.len();
                let new = text(|out| plan_json(out, w, from, to, &events, &[]));
                let old = text(|out| plan_json_reference(out, w, from, to, &events));
                assert_eq!(new, old);
            }
        }
        // Reminders, repeats, escalations (with a level) and escaped names
        // all took part.
        assert!(compared > 1000, "{compared}");
        let events = crate::planner::plan_range(&odd, d("2026-01-01"), d("2027-12-31"));
        let json = text(|out| plan_json(out, &odd, d("2026-01-01"), d("2027-12-31"), &events, &[]));
        assert!(json.contains(r#""to":["chef@example.dk"],"level":1}"#));
        assert!(json.contains(r#""to":["direktør@eksempel.dk"],"level":2}"#));
        assert!(json.contains(r#""kind":"repeat""#) && json.contains(r#""kind":"reminder""#));
    }

    #[test]
    fn control_characters_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(clean("Anna Ærø, «ok» — 5 €"), Cow::Borrowed(_)));
        assert_eq!(clean("a\nb\r\tc\0"), "a\\nb\\r\\tc\\0");
        assert_eq!(clean("\x1b]0;pwned\x07\x1b[2J"), "\\e]0;pwned\\x07\\e[2J");
        assert_eq!(clean("x\x7fy"), "x\\x7fy");
        assert_eq!(clean("\u{9b}31m\u{85}"), "\\u{9b}31m\\u{85}");
        assert_eq!(
            clean("abc\u{202e}fed\u{2066}\u{2028}"),
            "abc\\u{202e}fed\\u{2066}\\u{2028}"
        );
    }

    fn record(state: MessageState, attempts: u32, error: Option<&str>) -> NotificationRecord {
        let t = |s| DateTime::parse_from_rfc3339(s).unwrap();
        NotificationRecord {
            task: "policy-review".into(),
            period: "2027".into(),
            kind: "reminder".into(),
            step: 0,
            to: vec!["anna@example.dk".into(), "bo\n@example.dk".into()],
            cc: vec![],
            state,
            attempts,
            last_error: error.map(str::to_string),
            created_at: t("2027-01-29T08:00:00+01:00"),
            sent_at: None,
        }
    }

    fn text(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn undeliverable_and_deferred_rows_name_the_message_the_same_way() {
        let failed = [
            record(MessageState::Failed, 1, Some("550 no such user\x1b[2J")),
            record(MessageState::Failed, 3, None),
        ];
        assert_eq!(
            text(|out| failed_table(out, &failed)),
            "\nUndeliverable messages (2):\n\
             \x20 2027-01-29 08:00  policy-review 2027 reminder to anna@example.dk, bo\\n@example.dk: 550 no such user\\e[2J\n\
             \x20 2027-01-29 08:00  policy-review 2027 reminder to anna@example.dk, bo\\n@example.dk: refused\n"
        );
        let retry = DateTime::parse_from_rfc3339("2027-01-29T09:00:00+01:00").unwrap();
        let deferred = [
            (
                record(MessageState::Pending, 1, Some("421 busy")),
                Some(retry),
            ),
            (record(MessageState::Pending, 2, None), None),
        ];
        assert_eq!(
            text(|out| deferred_table(out, &deferred)),
            "\nDeferred messages (2), kept and retried:\n\
             \x20 2027-01-29 08:00  policy-review 2027 reminder to anna@example.dk, bo\\n@example.dk: retry 2027-01-29 09:00 after 1 attempt: 421 busy\n\
             \x20 2027-01-29 08:00  policy-review 2027 reminder to anna@example.dk, bo\\n@example.dk: retry on the next pass after 2 attempts: no reason given\n"
        );
        assert_eq!(text(|out| failed_table(out, &[])), "");
        assert_eq!(text(|out| deferred_table(out, &[])), "");
    }

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(plural(0, "task", "tasks"), "0 tasks");
        assert_eq!(plural(1, "task", "tasks"), "1 task");
        assert_eq!(plural(2, "attempt", "attempts"), "2 attempts");
    }
}
