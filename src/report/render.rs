//! The report's three forms. JSON is the model as it is (exact). HTML and
//! Markdown show one view of it ([`View`]: every value as display text, in
//! the wheel's language, control characters made visible); the HTML comes
//! from a minijinja template with HTML escaping on, the Markdown escapes
//! each cell.

use std::io::{self, Write};

use serde::Serialize;

use super::{labels, Labels, OccurrenceReport, Report, State};
use crate::wheel::Language;

/// The HTML template: one self-contained file, CSS inline.
const TEMPLATE: &str = include_str!("../../templates/report.html");

/// The report as JSON (pretty-printed, a final newline).
pub fn json(out: &mut impl Write, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

/// The report as one HTML document.
pub fn html(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let view = View::of(report);
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // The name ends in `.html`: minijinja escapes every value for HTML.
    env.add_template("report.html", TEMPLATE)
        .and_then(|()| env.get_template("report.html"))
        .and_then(|t| t.render(&view))
        .map_err(|e| io::Error::other(format!("the report template: {e}")))
        .and_then(|text| out.write_all(text.as_bytes()))
}

/// The report as Markdown: the same content, one table per task.
pub fn markdown(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let v = View::of(report);
    let t = v.t;
    if v.broken {
        writeln!(out, "> **{}**", md(t.chain_broken_top))?;
        writeln!(out, "> {}\n", md(&v.break_line))?;
    }
    writeln!(out, "# {}\n", md(t.title))?;
    writeln!(out, "**{}**  ", md(&v.organisation))?;
    writeln!(out, "{}  ", md(&v.range_line))?;
    writeln!(out, "{}: {}\n", md(t.generated), md(&v.generated))?;
    writeln!(out, "## {}\n", md(t.summary))?;
    writeln!(out, "| | |\n|---|---:|")?;
    for row in &v.summary_rows {
        writeln!(out, "| {} | {} |", md(row.label), md(&row.value))?;
    }
    writeln!(out, "\n{}\n", md(t.on_time_share_note))?;
    writeln!(out, "## {}\n", md(t.tasks))?;
    for task in &v.tasks {
        writeln!(out, "### {}\n", md(&task.title))?;
        let mut meta = md(&task.id);
        if !task.owners.is_empty() {
            meta.push_str(&format!(
                " · {}: {}",
                md(task.owners_label),
                md(&task.owners)
            ));
        }
        if let Some(r) = &task.reference {
            meta.push_str(&format!(" · {}: {}", md(t.reference), md(r)));
        }
        writeln!(out, "{meta}\n")?;
        if task.rows.is_empty() {
            writeln!(out, "{}\n", md(t.none_in_range))?;
            continue;
        }
        let heads = [
            t.col_period,
            t.col_due,
            t.col_state,
            t.col_done_at,
            t.col_by,
            t.col_via,
            t.col_days_late,
            t.col_escalation,
            t.col_messages,
            t.note,
            t.evidence,
        ];
        writeln!(
            out,
            "| {} |",
            heads.iter().map(|h| md(h)).collect::<Vec<_>>().join(" | ")
        )?;
        writeln!(out, "|---|---|---|---|---|---|---:|---|---|---|---|")?;
        for r in &task.rows {
            let mut note = r.note.clone();
            for line in &r.retracted {
                if !note.is_empty() {
                    note.push('\n');
                }
                note.push_str(&format!("{}: {line}", t.retracted));
            }
            let evidence: Vec<String> = r
                .evidence
                .iter()
                .map(|e| format!("{} ({} {}) SHA-256 {}", e.name, e.bytes, t.bytes, e.sha256))
                .collect();
            // Markdown has no detail line: the step and whom it reached.
            let escalation = if r.escalated_to.is_empty() {
                r.escalation.clone()
            } else {
                format!("{}: {}", r.escalation, r.escalated_to)
            };
            let cells = [
                &r.period,
                &r.due,
                &r.state,
                &r.done_at,
                &r.by,
                &r.via,
                &r.days_late,
                &escalation,
                &r.messages,
                &note,
                &evidence.join("\n"),
            ];
            writeln!(
                out,
                "| {} |",
                cells.iter().map(|c| md(c)).collect::<Vec<_>>().join(" | ")
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "## {}\n", md(t.chain))?;
    if v.broken {
        writeln!(out, "**{}** {}\n", md(t.chain_broken), md(&v.break_line))?;
    } else {
        writeln!(out, "{}\n", md(t.chain_ok))?;
    }
    writeln!(out, "- {}: {}", md(t.chain_rows), v.chain_rows)?;
    writeln!(
        out,
        "- {}: `{}`\n",
        md(t.chain_head),
        v.chain_head.replace('`', "")
    )?;
    writeln!(out, "{}", md(t.chain_check))
}

/// Text for one Markdown table cell or line: characters Markdown would
/// read as formatting are escaped, `<`, `>` and `&` become entities (no
/// text can open an HTML tag), and a line break becomes `<br>`.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '|' | '*' | '_' | '`' | '[' | ']' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => {}
            '\n' => out.push_str("<br>"),
            _ => out.push(c),
        }
    }
    out
}

/// A control character (other than a line break or tab) or one that
/// reorders a line (U+202E and the like) as visible text, `\u{1b}`: it can
/// neither act in a terminal, break the document nor make a title or note
/// read as something else. A line break is a line break however written:
/// a note from the completion page's form has `\r\n`, which is `\n` here.
fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.replace("\r\n", "\n").replace('\r', "\n").chars() {
        let reorders = matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && c != '\n' && c != '\t') || reorders {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The report as display text.
#[derive(Debug, Serialize)]
struct View {
    lang: &'static str,
    t: &'static Labels,
    organisation: String,
    range_key: String,
    range_line: String,
    generated: String,
    summary_rows: Vec<SummaryRow>,
    broken: bool,
    break_line: String,
    tasks: Vec<TaskView>,
    chain_rows: u64,
    chain_head: String,
}

#[derive(Debug, Serialize)]
struct SummaryRow {
    label: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct TaskView {
    id: String,
    title: String,
    owners: String,
    /// `Ansvarlig` for one owner, `Ansvarlige` for several.
    owners_label: &'static str,
    reference: Option<String>,
    rows: Vec<RowView>,
}

#[derive(Debug, Serialize)]
struct RowView {
    period: String,
    due: String,
    state: String,
    state_class: &'static str,
    done_at: String,
    by: String,
    via: String,
    days_late: String,
    late: bool,
    escalation: String,
    /// Everyone the escalations went to, as sent; empty when none was.
    escalated_to: String,
    messages: String,
    note: String,
    evidence: Vec<EvidenceView>,
    retracted: Vec<String>,
}

#[derive(Debug, Serialize)]
struct EvidenceView {
    name: String,
    bytes: u64,
    sha256: String,
}

impl View {
    fn of(report: &Report) -> View {
        let language = if report.language == "en" {
            Language::En
        } else {
            Language::Da
        };
        let t = labels(language);
        let s = &report.summary;
        let count = |n: u64| n.to_string();
        let share = match s.on_time_share {
            Some(x) => {
                let pct = format!("{:.1}", x * 100.0);
                match language {
                    Language::Da => format!("{} %", pct.replace('.', ",")),
                    Language::En => format!("{pct}%"),
                }
            }
            None => t.not_applicable.to_string(),
        };
        let summary_rows = vec![
            SummaryRow {
                label: t.due,
                value: count(s.due),
            },
            SummaryRow {
                label: t.done_on_time,
                value: count(s.done_on_time),
            },
            SummaryRow {
                label: t.done_late,
                value: count(s.done_late),
            },
            SummaryRow {
                label: t.overdue,
                value: count(s.overdue),
            },
            SummaryRow {
                label: t.open,
                value: count(s.open),
            },
            SummaryRow {
                label: t.upcoming,
                value: count(s.upcoming),
            },
            SummaryRow {
                label: t.on_time_share,
                value: share,
            },
            SummaryRow {
                label: t.escalations,
                value: count(s.escalations),
            },
        ];
        let dates = format!(
            "{} – {}",
            language.long_date(report.from),
            language.long_date(report.to)
        );
        let (range_key, range_line) = match &report.term {
            Some(key) => (key.clone(), format!("{} {key}: {dates}", t.term)),
            None => (
                format!("{} – {}", report.from, report.to),
                format!("{}: {dates}", t.period),
            ),
        };
        let break_line = report
            .chain
            .broken
            .as_ref()
            .map(|b| {
                visible(&format!(
                    "{} {}: {} {} {}: {}",
                    t.row, b.row, b.table, b.task, b.period, b.what
                ))
            })
            .unwrap_or_default();
        View {
            lang: report.language,
            t,
            organisation: visible(&report.organisation),
            range_key,
            range_line,
            generated: format!(
                "{} {} {}",
                language.long_date(report.generated_at.date_naive()),
                t.at,
                report.generated_at.format("%H:%M")
            ),
            summary_rows,
            broken: !report.chain.ok,
            break_line,
            tasks: report
                .tasks
                .iter()
                .map(|task| TaskView {
                    id: visible(&task.id),
                    title: visible(&task.title),
                    owners: visible(&task.owners.join(", ")),
                    owners_label: if task.owners.len() > 1 {
                        t.owners_many
                    } else {
                        t.owners
                    },
                    reference: task.reference.as_deref().map(visible),
                    rows: task.occurrences.iter().map(|o| row(t, o)).collect(),
                })
                .collect(),
            chain_rows: report.chain.rows,
            chain_head: if report.chain.head.is_empty() {
                t.not_applicable.to_string()
            } else {
                visible(&report.chain.head)
            },
        }
    }
}

fn row(t: &Labels, o: &OccurrenceReport) -> RowView {
    let dash = || t.not_applicable.to_string();
    let (state, state_class) = match o.state {
        State::Done => (t.state_done, "done"),
        State::Open => (t.state_open, "open"),
        State::Overdue => (t.state_overdue, "overdue"),
        State::Upcoming => (t.state_upcoming, "upcoming"),
    };
    let by = match &o.by {
        Some(b) => match &b.person {
            Some(p) => format!("{} ({} {})", visible(p), t.mailbox, visible(&b.mailbox)),
            None => visible(&b.mailbox),
        },
        None => dash(),
    };
    let via = match o.via.as_deref() {
        Some("link") => t.via_link.to_string(),
        Some("cli") => t.via_cli.to_string(),
        Some(other) => visible(other),
        None => dash(),
    };
    // "3: påmindelse 1, frist 1, eskalering 1", kinds in a fixed order.
    let kinds = [
        ("reminder", t.kind_reminder),
        ("due", t.kind_due),
        ("repeat", t.kind_repeat),
        ("escalation", t.kind_escalation),
        ("link", t.kind_link),
    ];
    let parts: Vec<String> = kinds
        .iter()
        .filter_map(|(kind, label)| {
            let n = o.messages.iter().filter(|m| m.kind == *kind).count();
            (n > 0).then(|| format!("{label} {n}"))
        })
        .collect();
    let messages = if o.messages.is_empty() {
        "0".to_string()
    } else {
        format!("{}: {}", o.messages.len(), parts.join(", "))
    };
    RowView {
        period: visible(&o.period),
        due: o.due.to_string(),
        state: state.to_string(),
        state_class,
        done_at: o
            .done_at
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(dash),
        by,
        via,
        days_late: o.days_late.map(|d| d.to_string()).unwrap_or_else(dash),
        late: o.days_late.is_some_and(|d| d > 0),
        escalation: o.escalation_level.to_string(),
        escalated_to: escalated_to(o),
        messages,
        note: o.note.as_deref().map(visible).unwrap_or_default(),
        evidence: o
            .evidence
            .iter()
            .map(|e| EvidenceView {
                name: visible(&e.name),
                bytes: e.bytes,
                sha256: visible(&e.sha256),
            })
            .collect(),
        retracted: o
            .retracted
            .iter()
            .map(|r| {
                visible(&format!(
                    "{} {} · {} {} {}: {}",
                    r.done_at.format("%Y-%m-%d %H:%M"),
                    r.by,
                    t.retracted_by,
                    r.retracted_by,
                    r.retracted_at.format("%Y-%m-%d %H:%M"),
                    r.reason
                ))
            })
            .collect(),
    }
}

/// Everyone the escalations of `o` went to (To, as sent: a deputy when the
/// step's person was away), in order, each once; so the report says who
/// was escalated to, not only how far. Empty when none was sent.
fn escalated_to(o: &OccurrenceReport) -> String {
    let mut to: Vec<&str> = Vec::new();
    for m in o.messages.iter().filter(|m| m.level > 0) {
        for address in &m.to {
            if !to.contains(&address.as_str()) {
                to.push(address);
            }
        }
    }
    visible(&to.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_escape_pipes_breaks_and_tags() {
        assert_eq!(
            md("a|b\nc<script>&*x*"),
            "a\\|b<br>c&lt;script&gt;&amp;\\*x\\*"
        );
    }

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(visible("a\u{1b}[31mb\nc"), "a\\u{1b}[31mb\nc");
        assert_eq!(visible("fil\u{202e}fdp.exe"), "fil\\u{202e}fdp.exe");
    }

    #[test]
    fn a_note_from_the_web_form_keeps_its_lines_without_a_visible_cr() {
        // Browsers send a textarea's lines as CRLF; the web stores them so.
        assert_eq!(
            visible("Første linje\r\nAnden linje"),
            "Første linje\nAnden linje"
        );
        assert_eq!(visible("a\rb"), "a\nb");
        assert_eq!(
            md("Første linje\r\nAnden linje"),
            "Første linje<br>Anden linje"
        );
    }
}
