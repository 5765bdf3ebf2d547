//! `arshjul tick` and `arshjul tick --dry-run`: the engine does the pass,
//! this prints what it did and picks the exit code.

use std::io::Write;
use std::process::ExitCode;

use chrono::{DateTime, Utc};

use super::output::plural;
use super::{CmdResult, Failure};
use crate::calendar::local_now;
use crate::config::Config;
use crate::engine::{self, Outcome};
use crate::planner::Kind;

/// `arshjul tick`: one pass under the brake; `accepted_by` lets a held
/// pass through (`--accept-burst`). Exit 1 when the pass was held or a
/// message was deferred or failed, each explained on stderr. With
/// `--accept-burst` and nothing held, the engine records no accepted burst,
/// and stderr says so.
pub(super) fn run_once(
    config: &Config,
    now: DateTime<Utc>,
    accepted_by: Option<&str>,
) -> CmdResult {
    let done = engine::run_once(config, now, accepted_by)?;
    if accepted_by.is_some() && matches!(&done.outcome, Outcome::Passed(r) if !r.burst_accepted) {
        eprintln!(
            "arshjul: tick: nothing was held; --accept-burst had nothing to let through \
             (no accepted burst recorded)"
        );
    }
    let report = match done.outcome {
        Outcome::Passed(report) => report,
        Outcome::Held(brake) => {
            return Err(Failure::runtime(format!(
                "arshjul: tick: held: {brake}; nothing was recorded or sent\n\
                 arshjul: `arshjul tick --dry-run` shows what would go, \
                 `arshjul tick --accept-burst` lets it through"
            )))
        }
    };
    let zone = config.wheel.organisation.timezone;
    let next = report
        .next_at
        .map(|t| format!("; next at {}", local_now(zone, t).format("%Y-%m-%d %H:%M")))
        .unwrap_or_default();
    eprintln!(
        "arshjul: tick: {} new, {} sent, {} deferred, {} failed{next}",
        report.queued, report.sent, report.deferred, report.failed
    );
    // Exit 1 must explain itself: what deferred and failed mean, and where
    // to read the reasons.
    if report.deferred > 0 {
        let retry = done
            .next_retry
            .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_default();
        let count = plural(report.deferred as u64, "message was", "messages were");
        let are = if report.deferred == 1 {
            "it is"
        } else {
            "they are"
        };
        eprintln!(
            "arshjul: tick: {count} deferred: the mail server failed for now (a temporary failure); \
             {are} kept and retried{retry} (by the daemon, or the next `arshjul tick`); \
             `arshjul status` shows the reason"
        );
    }
    if report.failed > 0 {
        eprintln!(
            "arshjul: tick: {} refused for good by the mail server and will not be retried; \
             `arshjul status` lists {}",
            plural(report.failed as u64, "message was", "messages were"),
            if report.failed == 1 { "it" } else { "them" }
        );
    }
    if report.deferred + report.failed > 0 {
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// `arshjul tick --dry-run`: what a pass would record and send now, one
/// line per message, how many mails they leave as (with `mail.bundle`, a
/// person's messages of a day are one mail), and whether the brake would
/// hold it. Records nothing.
pub(super) fn dry_run(config: &Config, now: DateTime<Utc>) -> CmdResult {
    let wheel = &config.wheel;
    let engine::DryRun {
        preview,
        pending,
        links,
    } = engine::dry_run(config, now)?;
    let local = local_now(wheel.organisation.timezone, now);
    let email = |key: &str| {
        wheel
            .people
            .get(key)
            .map(|p| p.email.clone())
            .unwrap_or_else(|| key.to_string())
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = (|| -> std::io::Result<()> {
        for n in &preview.send {
            let cc: Vec<String> = n.cc.iter().map(|k| email(k)).collect();
            let cc = if cc.is_empty() {
                String::new()
            } else {
                format!(" cc {}", cc.join(", "))
            };
            writeln!(
                out,
                "{}  {:<10}  {:<24}  {:<10}  {}{cc}",
                n.at.format("%Y-%m-%d %H:%M"),
                n.kind.as_str(),
                n.task,
                n.period,
                email(&n.to)
            )?;
        }
        for r in &links {
            writeln!(
                out,
                "{}  {:<10}  {:<24}  {:<10}  {}",
                local.format("%Y-%m-%d %H:%M"),
                Kind::Link.as_str(),
                r.task,
                r.period,
                email(&r.person)
            )?;
        }
        // Each link request is a mail of its own; with `mail.bundle` a
        // person's messages of a day are one mail.
        let count = preview.send.len() + links.len();
        let mails = preview.mails + links.len();
        let messages = if count == 1 { "message" } else { "messages" };
        if mails == count {
            write!(out, "{count} {messages} would be recorded and sent now")?;
        } else {
            let in_mails = plural(mails as u64, "mail", "mails");
            write!(
                out,
                "{count} {messages} in {in_mails} would be recorded and sent now"
            )?;
        }
        match pending {
            0 => writeln!(out, ".")?,
            1 => writeln!(out, ", and 1 message already pending.")?,
            p => writeln!(out, ", and {p} messages already pending.")?,
        }
        match &preview.brake {
            Some(brake) => writeln!(
                out,
                "The brake would hold this pass: {brake}. `arshjul tick --accept-burst` lets it through."
            )?,
            None => writeln!(out, "The brake would let this pass through.")?,
        }
        out.flush()
    })();
    match written {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::runtime(format!("cannot write output: {e}"))),
    }
}
