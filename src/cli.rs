//! The command line: flags, the two-phase set-up (what the user typed, then
//! settings and wheel loaded from it), dispatch, output and exit codes.
//! Everything that touches the clock for a command does it here, once.

mod away;
mod output;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use clap::{ArgGroup, Parser, Subcommand};

use crate::calendar::{resolve_local, Calendar};
use crate::planner;
use crate::settings::Settings;
use crate::store::{AbsenceFilter, CompletionOutcome, NewCompletion, Store, Via};
use crate::wheel::{self, Wheel};

/// A compliance calendar (årshjul) that runs itself.
#[derive(Debug, Parser)]
#[command(name = "arshjul", version, about)]
pub struct Args {
    /// Settings file (also ARSHJUL_CONFIG).
    #[arg(long, global = true, env = "ARSHJUL_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// The wheel; overrides the setting `schedule`.
    #[arg(long, global = true, value_name = "PATH")]
    schedule: Option<PathBuf>,
    /// Use TIME instead of the wall clock: RFC 3339, or YYYY-MM-DD for that
    /// day at 12:00 local. Not accepted by `run`.
    #[arg(long, global = true, value_name = "TIME")]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and validate settings and schedule; print a short summary.
    Check,
    /// Every due date, reminder, repeat and escalation in a date range, as
    /// if nothing were completed. Reads no database.
    Plan {
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: NaiveDate,
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: NaiveDate,
        #[arg(long)]
        json: bool,
        /// Only this task's events.
        #[arg(long, value_name = "TASK")]
        task: Option<String>,
    },
    /// One pass: record what is due and send it, then exit.
    Tick,
    /// The daemon: scheduler and HTTP listener until SIGTERM or SIGINT.
    Run,
    /// One row per task: its oldest occurrence that is not done.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Record a completion by hand.
    Done {
        task: String,
        /// The period (e.g. 2027, 2026-2029, 2027-Q1); default: the current one.
        #[arg(long, value_name = "KEY")]
        period: Option<String>,
        /// Who did it (default: the login name).
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// When it was done (RFC 3339 or YYYY-MM-DD), to backfill history.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
    /// Completions and notifications, newest first; then absences.
    History {
        task: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Record that someone is away (their messages go To their deputy,
    /// with them in Cc), list absences, or cancel one.
    #[command(
        group(ArgGroup::new("action").required(true).args(["person", "list", "cancel"])),
        after_help = "Examples:\n  arshjul away anna --from 2027-07-01 --to 2027-07-23 --deputy bo --note Sommerferie\n  arshjul away --list\n  arshjul away --cancel 3"
    )]
    Away {
        /// The person away: a key of [people] in the wheel. Needs --from and --to.
        #[arg(value_name = "KEY", requires_all = ["from", "to"])]
        person: Option<String>,
        /// First day away (local date, inclusive).
        #[arg(long, value_name = "YYYY-MM-DD", requires = "person")]
        from: Option<NaiveDate>,
        /// Last day away (local date, inclusive).
        #[arg(long, value_name = "YYYY-MM-DD", requires = "person")]
        to: Option<NaiveDate>,
        /// Who stands in (a person key); default: the person's `deputy` in
        /// the wheel. Without either the absence is refused.
        #[arg(long, value_name = "OTHER", requires = "person")]
        deputy: Option<String>,
        /// Why, for the record.
        #[arg(long, value_name = "TEXT", requires = "person")]
        note: Option<String>,
        /// List current and future absences (not cancelled) instead.
        #[arg(long)]
        list: bool,
        /// With --list: print JSON.
        #[arg(long, requires = "list")]
        json: bool,
        /// Cancel absence ID (see --list); the record stays, marked cancelled.
        #[arg(long, value_name = "ID")]
        cancel: Option<i64>,
    },
}

/// A command's failure, already worded for the user, with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// Bad input: settings, wheel, flags, unknown task. Exit 2.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
        }
    }

    /// Something at run time failed (database, delivery). Exit 1.
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        Failure::runtime(e.to_string())
    }
}

type CmdResult = Result<ExitCode, Failure>;

/// Parses the command line and runs the command; errors are printed once,
/// here, and become the exit code.
pub fn main() -> ExitCode {
    let args = Args::parse();
    crate::logging::init();
    match dispatch(args) {
        Ok(code) => code,
        Err(f) => {
            // One line per problem, as written: a wheel error starts with
            // its `file:line:col`, so editors and scripts can jump to it.
            for line in f.message.lines() {
                eprintln!("{line}");
            }
            ExitCode::from(f.code)
        }
    }
}

/// Settings and wheel, loaded from what the user typed.
pub struct Loaded {
    pub settings: Settings,
    pub wheel: Wheel,
}

/// Loads settings (defaults < file < environment) and the wheel.
pub fn load(config: Option<&Path>, schedule: Option<&Path>) -> Result<Loaded, Failure> {
    let file = Settings::locate(config);
    let mut settings = Settings::load(file.as_deref()).map_err(Failure::usage)?;
    if let Some(s) = schedule {
        settings.schedule = s.to_path_buf();
    }
    let wheel = wheel::parse_file(&settings.schedule).map_err(|e| Failure::usage(e.to_string()))?;
    Ok(Loaded { settings, wheel })
}

fn dispatch(args: Args) -> CmdResult {
    let loaded = load(args.config.as_deref(), args.schedule.as_deref())?;
    if matches!(args.command, Command::Run) {
        if args.now.is_some() {
            return Err(Failure::usage(
                "--now is for previews and tests; `run` always uses the wall clock",
            ));
        }
        return crate::daemon::run(loaded, args.config.as_deref(), args.schedule.as_deref());
    }
    let now = match &args.now {
        Some(text) => parse_time(text, &loaded.wheel).map_err(Failure::usage)?,
        None => Utc::now(),
    };
    match args.command {
        Command::Check => check(&loaded, now),
        Command::Plan {
            from,
            to,
            json,
            task,
        } => plan(&loaded.wheel, from, to, json, task.as_deref()),
        Command::Tick => crate::tick::run_once(&loaded, now),
        Command::Run => unreachable!("handled above"),
        Command::Status { json } => status(&loaded, now, json),
        Command::Done {
            task,
            period,
            by,
            note,
            at,
        } => done(&loaded, now, &task, period, by, note, at),
        Command::History { task, json } => history(&loaded, task.as_deref(), json),
        Command::Away {
            person,
            from,
            to,
            deputy,
            note,
            list,
            json,
            cancel,
        } => {
            let action = match (person, from, to, cancel) {
                (Some(person), Some(from), Some(to), _) => away::Action::Record {
                    person,
                    from,
                    to,
                    deputy,
                    note,
                },
                (_, _, _, Some(id)) => away::Action::Cancel(id),
                _ if list => away::Action::List { json },
                // clap's group and `requires` leave no other case.
                _ => return Err(Failure::usage("name a person, --list or --cancel ID")),
            };
            away::away(&loaded, now, action)
        }
    }
}

/// `--now`/`--at`: RFC 3339, or `YYYY-MM-DD` meaning 12:00 local that day.
pub fn parse_time(text: &str, wheel: &Wheel) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let noon = day.and_hms_opt(12, 0, 0).unwrap_or_default();
        return Ok(resolve_local(wheel.organisation.timezone, noon).with_timezone(&Utc));
    }
    Err(format!(
        "bad time \"{text}\" (use RFC 3339, e.g. 2027-03-01T08:00:00+01:00, or YYYY-MM-DD)"
    ))
}

/// `now` in the wheel's time zone, as stored in the database.
pub fn local_now(wheel: &Wheel, now: DateTime<Utc>) -> DateTime<FixedOffset> {
    now.with_timezone(&wheel.organisation.timezone)
        .fixed_offset()
}

fn check(loaded: &Loaded, now: DateTime<Utc>) -> CmdResult {
    let wheel = &loaded.wheel;
    let org = &wheel.organisation;
    println!(
        "{}: {} tasks, {} people ({}, {}) — {} is valid",
        org.name,
        wheel.tasks.len(),
        wheel.people.len(),
        org.timezone,
        org.language.code(),
        loaded.settings.schedule.display()
    );
    let cal = Calendar::new(org);
    let today = cal.local_date(&now);
    let mut dues: Vec<_> =
        planner::plan_range(wheel, today, today + chrono::Duration::days(366 * 5))
            .into_iter()
            .filter(|e| e.kind == planner::Kind::Due)
            .collect();
    dues.truncate(5);
    if dues.is_empty() {
        println!("Nothing falls due in the next five years.");
    } else {
        println!("Next due:");
        for e in dues {
            let title = wheel.task(e.task).map(|t| t.title.as_str()).unwrap_or("");
            println!("  {}  {:<24} {:<10} {}", e.due, e.task, e.period, title);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn plan(
    wheel: &Wheel,
    from: NaiveDate,
    to: NaiveDate,
    json: bool,
    task: Option<&str>,
) -> CmdResult {
    if let Some(id) = task {
        known_task(wheel, id)?;
    }
    if to < from {
        return Err(Failure::usage(format!("--to {to} is before --from {from}")));
    }
    let mut events = planner::plan_range(wheel, from, to);
    if let Some(id) = task {
        events.retain(|e| e.task == id);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if json {
        output::plan_json(&mut out, wheel, from, to, &events)
    } else {
        output::plan_table(&mut out, wheel, &events)
    };
    finish_output(written.and_then(|_| std::io::Write::flush(&mut out)))
}

/// A closed pipe (`arshjul plan | head`) is not an error worth a message.
fn finish_output(r: std::io::Result<()>) -> CmdResult {
    match r {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(Failure::runtime(format!("cannot write output: {e}"))),
    }
}

/// Opens the database for reading; `None` when it does not exist yet.
fn open_if_present(settings: &Settings) -> Result<Option<Store>, Failure> {
    if !settings.database.exists() {
        eprintln!(
            "arshjul: no database at {} yet (`arshjul tick` or the daemon creates it); showing the wheel without history",
            settings.database.display()
        );
        return Ok(None);
    }
    Ok(Some(Store::open(&settings.database, false)?))
}

fn status(loaded: &Loaded, now: DateTime<Utc>, json: bool) -> CmdResult {
    let wheel = &loaded.wheel;
    let store = open_if_present(&loaded.settings)?;
    let (history, mut latest) = match &store {
        Some(s) => s.history_and_latest_at(wheel, now)?,
        None => Default::default(),
    };
    let mut rows: Vec<_> = planner::status(wheel, &history, now)
        .into_iter()
        .map(|row| {
            let last = latest.remove(&row.task);
            (row, last)
        })
        .collect();
    rows.sort_by_key(|(row, _)| output::urgency(row));
    let failed = match &store {
        Some(s) => s.failed_notifications()?,
        None => Vec::new(),
    };
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let away_now = match &store {
        Some(s) => away::current(wheel, s.absences(AbsenceFilter::ActiveFrom(today))?, today),
        None => Vec::new(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if json {
        let absences = away::status_json(&away_now);
        output::status_json(
            &mut out,
            wheel,
            local_now(wheel, now),
            &rows,
            &failed,
            absences,
        )
    } else {
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        output::status_table(&mut out, wheel, &rows, colour)
            .and_then(|_| away::status_lines(&mut out, &away_now))
            .and_then(|_| output::failed_table(&mut out, &failed))
    };
    finish_output(written.and_then(|_| std::io::Write::flush(&mut out)))
}

#[allow(clippy::too_many_arguments)]
fn done(
    loaded: &Loaded,
    now: DateTime<Utc>,
    task_id: &str,
    period: Option<String>,
    by: Option<String>,
    note: Option<String>,
    at: Option<String>,
) -> CmdResult {
    let wheel = &loaded.wheel;
    let task = known_task(wheel, task_id)?;
    let at = match &at {
        Some(text) => parse_time(text, wheel).map_err(Failure::usage)?,
        None => now,
    };
    if at > now {
        return Err(Failure::usage(format!(
            "--at {} is in the future",
            local_now(wheel, at)
        )));
    }
    let mut store = Store::open(&loaded.settings.database, true)?;
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    store.sync_tasks(wheel, today)?;
    let period = match period {
        Some(p) => {
            if !is_period_of(task, wheel, &p) {
                return Err(Failure::usage(format!(
                    "task \"{task_id}\" has no period \"{p}\""
                )));
            }
            p
        }
        None => {
            let history = store.history_at(wheel, now)?;
            let row = planner::status(wheel, &history, now)
                .into_iter()
                .find(|r| r.task == task_id);
            match row {
                Some(r) => r.period,
                None => {
                    return Err(Failure::usage(format!(
                        "task \"{task_id}\" has no open period; name one with --period"
                    )))
                }
            }
        }
    };
    let by = by.unwrap_or_else(login_name);
    let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let completion = NewCompletion {
        task: task.id.clone(),
        period: period.clone(),
        at: local_now(wheel, at),
        by,
        via: Via::Cli,
        note,
        client_addr: None,
        user_agent: None,
        recorded_at: local_now(wheel, now),
    };
    match store.record_completion(&completion)? {
        CompletionOutcome::Recorded => {
            println!(
                "{} {}: done {} by {}",
                task.id,
                period,
                completion.at.format("%Y-%m-%d %H:%M"),
                completion.by
            );
        }
        CompletionOutcome::AlreadyDone(c) => {
            println!(
                "{} {}: already done {} by {} (via {}); nothing recorded",
                c.task,
                c.period,
                c.at.format("%Y-%m-%d %H:%M"),
                c.by,
                c.via
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The task named on the command line, or an error listing the known ones.
fn known_task<'w>(wheel: &'w Wheel, id: &str) -> Result<&'w wheel::Task, Failure> {
    wheel.task(id).ok_or_else(|| {
        let known: Vec<&str> = wheel.tasks.iter().map(|t| t.id.as_str()).collect();
        Failure::usage(format!(
            "unknown task \"{id}\" (tasks: {})",
            known.join(", ")
        ))
    })
}

/// The person at the keyboard, for `done --by`'s default.
fn login_name() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "cli".to_string())
}

fn history(loaded: &Loaded, task: Option<&str>, json: bool) -> CmdResult {
    let Some(store) = open_if_present(&loaded.settings)? else {
        let mut out = std::io::stdout().lock();
        let written = if json {
            output::history_json(&mut out, &[], &[], serde_json::json!([]))
        } else {
            Ok(())
        };
        return finish_output(written);
    };
    let completions = store.completions(task)?;
    let notifications = store.notifications(task)?;
    let mut absences = store.absences(AbsenceFilter::All)?;
    if let Some(id) = task {
        // A task's history shows the absences of the people it addresses.
        let people: Vec<&String> = loaded
            .wheel
            .task(id)
            .map(|t| {
                t.owners
                    .iter()
                    .chain(t.escalate.iter().map(|e| &e.to))
                    .collect()
            })
            .unwrap_or_default();
        absences.retain(|a| people.contains(&&a.person));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if json {
        let list = absences.iter().map(away::absence_json).collect();
        output::history_json(&mut out, &completions, &notifications, list)
    } else {
        output::history_table(&mut out, &completions, &notifications)
            .and_then(|_| away::history_table(&mut out, &absences))
    };
    finish_output(written.and_then(|_| std::io::Write::flush(&mut out)))
}

/// Whether `key` names a period of `task`: it has the shape of the task's
/// kind, and for tasks on the calendar it is one of their occurrences.
fn is_period_of(task: &wheel::Task, wheel: &Wheel, key: &str) -> bool {
    use crate::recurrence::{occurrences, period_of};
    let Some(start) = period_start(key) else {
        return false;
    };
    let terms = wheel.terms.as_ref();
    if period_of(&task.recurrence, terms, start) != key {
        return false;
    }
    match task.anchor {
        wheel::Anchor::Completion => true,
        wheel::Anchor::Fixed => {
            let end = start + chrono::Duration::days(366 * 8);
            occurrences(&task.recurrence, terms, start, end)
                .iter()
                .any(|o| o.period == key)
        }
    }
}

/// The first day of the period a key names, whatever its kind:
/// `2027`, `2026-2029`, `2027-03`, `2027-Q1`, `2027-H1`.
fn period_start(key: &str) -> Option<NaiveDate> {
    let (year, rest) = match key.split_once('-') {
        Some((y, r)) => (y, Some(r)),
        None => (key, None),
    };
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = year.parse().ok()?;
    let month = match rest {
        None => 1,
        Some(r) if r.len() == 4 => {
            r.parse::<i32>().ok()?;
            1
        }
        Some(r) if r.len() == 2 && r.starts_with('Q') => {
            3 * r[1..].parse::<u32>().ok().filter(|q| (1..=4).contains(q))? - 2
        }
        Some(r) if r.len() == 2 && r.starts_with('H') => {
            6 * r[1..].parse::<u32>().ok().filter(|h| (1..=2).contains(h))? - 5
        }
        Some(r) if r.len() == 2 => r.parse::<u32>().ok().filter(|m| (1..=12).contains(m))?,
        Some(_) => return None,
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}
