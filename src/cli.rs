//! The command line: flags, the two-phase set-up (what the user typed, then
//! settings and wheel loaded from it), dispatch, output and exit codes.
//! Everything that touches the clock for a command does it here, once.

mod away;
mod evidence;
mod feeds;
mod mail_test;
pub(crate) mod output;
mod report;
mod tick;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{ArgGroup, Parser, Subcommand};

use crate::calendar::{local_now, resolve_local, Calendar};
use crate::config::Config;
use crate::planner;
use crate::settings::Settings;
use crate::store::{
    AbsenceFilter, CompletionExtras, CompletionOutcome, NewCompletion, NewRetraction,
    RetractionOutcome, Store, Via,
};
use crate::wheel::{self, Wheel};

/// `println!` for a command's output: a reader that went away (`arshjul
/// check | head -1`) ends the output quietly instead of panicking; any other
/// write error is a run-time failure. Only in functions returning
/// [`CmdResult`].
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        match writeln!(std::io::stdout().lock(), $($arg)*) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(ExitCode::SUCCESS)
            }
            Err(e) => return Err(Failure::runtime(format!("cannot write output: {e}"))),
        }
    }};
}

/// A compliance calendar (årshjul) that runs itself.
#[derive(Debug, Parser)]
#[command(name = "arshjul", version, about)]
pub struct Args {
    /// Settings file (also ARSHJUL_CONFIG). Default: ./arshjul.toml if
    /// present, else /etc/arshjul/arshjul.toml if present, else built-in
    /// defaults. With /etc/arshjul/arshjul.toml, root and the user arshjul
    /// get the installed service's wheel and database by default.
    #[arg(
        long,
        global = true,
        env = "ARSHJUL_CONFIG",
        value_name = "PATH",
        help_heading = "Global options"
    )]
    config: Option<PathBuf>,
    /// The wheel; overrides the setting `schedule`.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        help_heading = "Global options"
    )]
    schedule: Option<PathBuf>,
    /// Use TIME instead of the wall clock: RFC 3339, or YYYY-MM-DD (a
    /// four-digit year) for that day at 12:00 local. Not accepted by `run`.
    #[arg(
        long,
        global = true,
        value_name = "TIME",
        help_heading = "Global options"
    )]
    now: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate settings, schedule, mail templates and database (never creating it); print
    /// which settings file, database, transport and public URL are used, and
    /// what falls due next.
    Check,
    /// Every due date, reminder, repeat and escalation in a date range, as
    /// if nothing were completed. From the database it reads only the
    /// absences (`arshjul away`): a message a deputy will be sent in the
    /// owner's place shows the deputy, for whom. A range that could
    /// list more than 5,000,000 events is refused (exit 2): ask for a
    /// shorter one, or one task with --task.
    Plan {
        /// First day of the range (inclusive), YYYY-MM-DD with a four-digit
        /// year.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = day_arg)]
        from: NaiveDate,
        /// Last day of the range (inclusive), YYYY-MM-DD with a four-digit
        /// year.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = day_arg)]
        to: NaiveDate,
        /// Print JSON: {"from", "to", "events": [...]}, in time order.
        #[arg(long)]
        json: bool,
        /// Only this task's events (its id, as in the wheel).
        #[arg(long, value_name = "TASK")]
        task: Option<String>,
    },
    /// One pass: record what is due and send it, then exit.
    ///
    /// The brake holds the pass (nothing recorded or sent, exit 1) when the clock is
    /// more than `max_clock_jump` past the last pass or the pass would
    /// send more than `mail.max_per_pass` mails (with `mail.bundle`, a
    /// person's messages of a day are one mail).
    Tick {
        /// Show what a pass would record and send now, one line per
        /// message, how many mails they make (`mail.bundle`), and whether
        /// the brake would hold it; record and send nothing.
        #[arg(long, conflicts_with = "accept_burst")]
        dry_run: bool,
        /// Let through a pass the brake holds; recorded, with the login
        /// name as who accepted it. When nothing is held, the pass runs as
        /// a plain tick, nothing is recorded, and stderr says so.
        #[arg(long)]
        accept_burst: bool,
    },
    /// The daemon: scheduler and HTTP listener until SIGTERM or SIGINT.
    Run,
    /// One row per task: its oldest occurrence that is not done; last,
    /// the database read.
    Status {
        /// Print JSON: {"now", "database", "held", "tasks",
        /// "failed_notifications", "deferred_notifications", "absences"}.
        #[arg(long)]
        json: bool,
    },
    /// Record a completion by hand.
    ///
    /// Without --period: the task's oldest occurrence that is open or
    /// overdue (its first reminder day has come). When none is, nothing is
    /// recorded and the next occurrence is named (exit 2); record it ahead
    /// of time with --period.
    Done {
        /// The task's id, as in the wheel.
        task: String,
        /// The period (e.g. 2027, 2026-2029, 2027-Q1). Default: the oldest
        /// occurrence that is open or overdue. A period not open yet is
        /// recorded, and said to be early; one that ended before
        /// organisation.start is refused (exit 2).
        #[arg(long, value_name = "KEY")]
        period: Option<String>,
        /// Who did it (default, and when blank: the login name).
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
        /// A note kept with the completion.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// When it was done (RFC 3339 or YYYY-MM-DD), to backfill history.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The person who did the work ("Udført af"), when not the one
        /// recording it (--by, the login name). Kept beside it.
        #[arg(long, value_name = "NAME")]
        performed_by: Option<String>,
        /// Files kept with the completion as evidence (repeat the flag or
        /// list several): at most 100, each at most `evidence.max_bytes`
        /// (20 MB by default) and 100 MB together. Stored in the database
        /// by their SHA-256 under their names made safe; a file that is
        /// missing, unreadable, not a regular file (a directory, FIFO or
        /// device) or too large is refused (exit 2) and nothing is
        /// recorded.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        evidence: Vec<PathBuf>,
    },
    /// Retract a completion recorded by mistake: the period is open again.
    ///
    /// Nothing is deleted: a retraction naming the completion is appended,
    /// with who, when and why, and `history` shows both.
    Undo {
        /// The task's id, as in the wheel.
        task: String,
        /// The period whose completion is retracted (e.g. 2027).
        #[arg(long, value_name = "KEY")]
        period: String,
        /// Why (required, kept as evidence).
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Who retracts it (default: the login name).
        #[arg(long, value_name = "WHO")]
        by: Option<String>,
    },
    /// Completions (and their retractions), notifications and requests for
    /// a fresh link, newest first; then absences.
    History {
        /// Only this task's (its id; also a task gone from the wheel).
        task: Option<String>,
        /// Print JSON: {"completions", "retractions", "notifications",
        /// "link_requests", "absences"}.
        #[arg(long)]
        json: bool,
    },
    /// Check the audit log: walk the hash chain over completions,
    /// retractions and messages sent or given up, and re-hash every
    /// evidence file.
    ///
    /// Prints `ok: N rows, head HASH` (exit 0), or `broken at row N: TABLE
    /// TASK PERIOD: what differs` for the first row that does not match
    /// (exit 1). Note the head: the same database must give the same head
    /// later.
    Verify,
    /// Evidence files kept with completions.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Record that someone is away (their messages go To their deputy,
    /// with them in Cc), list absences, or cancel one.
    #[command(
        group(ArgGroup::new("action").required(true).args(["person", "list", "cancel"])),
        after_help = "Examples:\n  arshjul away anna --from 2027-07-01 --to 2027-07-23 --deputy bo --note Sommerferie\n  arshjul away --list\n  arshjul away --cancel 3"
    )]
    Away {
        /// The person away: a key of `[people]` in the wheel. Needs --from and --to.
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
    /// The term report for the council: every occurrence due in the range,
    /// its state, who did it and when, the messages sent, the summary
    /// figures and the audit log's chain.
    ///
    /// Exit 1 when the chain is broken (the report is still written and
    /// says so at the top).
    #[command(
        group(ArgGroup::new("range").required(true).args(["term", "from"])),
        after_help = "Examples:\n  arshjul report --term 2026-2029 --out byraad-2026-2029.html\n  arshjul report --from 2027-01-01 --to 2027-12-31 --format json"
    )]
    Report {
        /// An election term, as its period key (e.g. 2026-2029): its first
        /// day to the day before the next term begins (the wheel's `[terms]`).
        #[arg(long, value_name = "KEY", conflicts_with_all = ["from", "to"])]
        term: Option<String>,
        /// First day of the range (inclusive), YYYY-MM-DD. Needs --to. A
        /// range that could hold more than 100,000 occurrences is refused
        /// (exit 2).
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = day_arg, requires = "to")]
        from: Option<NaiveDate>,
        /// Last day of the range (inclusive), YYYY-MM-DD. Needs --from.
        #[arg(long, value_name = "YYYY-MM-DD", value_parser = day_arg, requires = "from")]
        to: Option<NaiveDate>,
        /// html (one self-contained file), md (Markdown) or json.
        #[arg(long, value_enum, default_value = "html")]
        format: report::Format,
        /// Write the report to PATH instead of stdout: whole or not at all
        /// (a temporary file beside it, renamed over it); an existing file
        /// is replaced, a symbolic link is followed, and a device, pipe or
        /// socket is refused (exit 1).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// The årshjul as a picture: an SVG of one year's wheel, each task's
    /// occurrences as marks at their due dates with their state (done,
    /// overdue, open, upcoming) and a numbered legend; a wheel of more
    /// than 60 tasks (or with more marks than a ring holds) as one mark per
    /// ring and month with its count and most pressing state, at most five
    /// rings. Reads the database if there is one.
    Wheel {
        /// The year to draw (default: this year, in the wheel's time zone).
        #[arg(long, value_name = "YEAR", value_parser = clap::value_parser!(i32).range(1..=9999))]
        year: Option<i32>,
        /// Write the SVG to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// An iCalendar feed (.ics) of the occurrences due from one year
    /// before to two years after today: all-day events on the due dates,
    /// with their state. What `GET /calendar/{token}.ics` serves.
    Calendar {
        /// Only the tasks this person owns (a key of `[people]`); their open
        /// and overdue occurrences carry a completion link. Default: the
        /// whole organisation, without completion links.
        #[arg(long, value_name = "KEY")]
        person: Option<String>,
        /// Write the feed to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Links to give people: a calendar feed's URL, a person's overview
    /// page.
    Link {
        #[command(subcommand)]
        command: LinkCommand,
    },
    /// Mail set-up: try the configured transport.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
}

#[derive(Debug, Subcommand)]
enum EvidenceCommand {
    /// Write every evidence file as DIR/TASK/PERIOD/NAME, with
    /// DIR/SHA256SUMS (check with `cd DIR && sha256sum -c SHA256SUMS`).
    /// DIR must not exist or be empty; nothing is overwritten, nothing
    /// already below DIR is followed, names differing only in case are
    /// kept apart, and an export that fails (a full disk) removes what it
    /// wrote.
    Export {
        /// The directory to write to (made if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LinkCommand {
    /// Print the URL of a calendar feed to subscribe to
    /// (`{public_url}/calendar/{token}.ics`). It never expires; --revoke
    /// makes every URL printed before for the same feed stop working.
    Calendar {
        /// The person's feed (a key of `[people]`): the tasks they own, with
        /// completion links. Default: the organisation's feed.
        #[arg(long = "for", value_name = "KEY")]
        person: Option<String>,
        /// Revoke the feed's URLs printed before (they answer 404 from
        /// now on), then print a new one. Recorded with the login name.
        #[arg(long)]
        revoke: bool,
    },
    /// Print a person's link to the overview page
    /// (`{public_url}/overview/{token}`): the whole organisation's wheel,
    /// status and next 60 days. Anyone holding it can read all of that, so
    /// give it only to the coordinator and managers. It never expires;
    /// --revoke makes every overview link made before for the person stop
    /// working (the ones in escalation mails and digests too).
    Overview {
        /// Whose link (a key of `[people]`).
        #[arg(long = "for", value_name = "KEY")]
        person: String,
        /// Revoke the person's overview links made before (they answer 404
        /// from now on), then print a new one. Recorded with the login name.
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Send one test message through the configured transport (smtp,
    /// graph, sendmail or file), printing each step: OAuth token fetched,
    /// connected, TLS, authenticated, accepted with the server's answer, or
    /// the step that failed and why. Exit 0 if the server accepted it, 1 if
    /// not, 2 if the settings cannot work.
    Test {
        /// The address to send the test message to.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
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

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Failure {
        Failure::usage(e.to_string())
    }
}

impl From<crate::engine::EngineError> for Failure {
    fn from(e: crate::engine::EngineError) -> Failure {
        match e {
            crate::engine::EngineError::Setup(_) => Failure::usage(e.to_string()),
            _ => Failure::runtime(e.to_string()),
        }
    }
}

impl From<crate::daemon::DaemonError> for Failure {
    fn from(e: crate::daemon::DaemonError) -> Failure {
        use crate::daemon::DaemonError;
        match e {
            DaemonError::Setup(_) => Failure::usage(e.to_string()),
            DaemonError::Engine(e) => e.into(),
            _ => Failure::runtime(e.to_string()),
        }
    }
}

impl From<NotATime> for Failure {
    fn from(e: NotATime) -> Failure {
        Failure::usage(e.to_string())
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        match e {
            // Evidence over a limit: the input, not the store, is at fault.
            crate::store::StoreError::Refused(_) => Failure::usage(e.to_string()),
            _ => Failure::runtime(e.to_string()),
        }
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

fn dispatch(args: Args) -> CmdResult {
    let loaded = Config::load(args.config.as_deref(), args.schedule.as_deref())?;
    if matches!(args.command, Command::Run | Command::Tick { .. }) {
        // Before any work: a database that is empty or not arshjul's is
        // refused here, with the same words `check` uses.
        database(&loaded.settings)?;
    }
    if matches!(args.command, Command::Run) {
        if args.now.is_some() {
            return Err(Failure::usage(
                "--now is for previews and tests; `run` always uses the wall clock",
            ));
        }
        crate::daemon::run(loaded, args.config.as_deref(), args.schedule.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = match &args.now {
        Some(text) => parse_time("--now", text, &loaded.wheel)?,
        None => Utc::now(),
    };
    match args.command {
        Command::Check => check(&loaded, Settings::locate(args.config.as_deref()), now),
        Command::Plan {
            from,
            to,
            json,
            task,
        } => plan(&loaded, from, to, json, task.as_deref()),
        Command::Tick { dry_run: true, .. } => tick::dry_run(&loaded, now),
        Command::Tick { accept_burst, .. } => {
            let by = accept_burst.then(login_name);
            tick::run_once(&loaded, now, by.as_deref())
        }
        Command::Run => unreachable!("handled above"),
        Command::Status { json } => status(&loaded, now, json),
        Command::Done {
            task,
            period,
            by,
            note,
            at,
            performed_by,
            evidence,
        } => done(
            &loaded,
            now,
            &task,
            Given {
                period,
                by,
                note,
                at,
                performed_by,
                evidence,
            },
        ),
        Command::Verify => evidence::verify(&loaded),
        Command::Evidence {
            command: EvidenceCommand::Export { dir },
        } => evidence::export(&loaded, &dir),
        Command::Undo {
            task,
            period,
            reason,
            by,
        } => undo(&loaded, now, &task, &period, &reason, by),
        Command::History { task, json } => history(&loaded, task.as_deref(), json),
        Command::Wheel { year, out } => feeds::wheel(&loaded, now, year, out.as_deref()),
        Command::Calendar { person, out } => {
            feeds::calendar(&loaded, now, person.as_deref(), out.as_deref())
        }
        Command::Link {
            command: LinkCommand::Calendar { person, revoke },
        } => feeds::link_calendar(&loaded, now, person.as_deref(), revoke),
        Command::Link {
            command: LinkCommand::Overview { person, revoke },
        } => feeds::link_overview(&loaded, now, &person, revoke),
        Command::Mail {
            command: MailCommand::Test { to },
        } => mail_test::run(&loaded, &to),
        Command::Report {
            term,
            from,
            to,
            format,
            out,
        } => {
            let asked = match (term, from, to) {
                (Some(key), _, _) => report::Asked::Term(key),
                (None, Some(from), Some(to)) => report::Asked::Days(from, to),
                // clap's group and `requires` leave no other case.
                _ => return Err(Failure::usage("name --term KEY or --from D --to D")),
            };
            report::run(&loaded, now, asked, format, out)
        }
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

/// `--now`/`--at` (named by `flag` in the error): RFC 3339, or
/// `YYYY-MM-DD` meaning 12:00 local that day. The year has four digits:
/// `27-01-01` is refused, not read as the year 27.
pub fn parse_time(flag: &str, text: &str, wheel: &Wheel) -> Result<DateTime<Utc>, NotATime> {
    if text
        .get(..4)
        .is_some_and(|y| y.bytes().all(|b| b.is_ascii_digit()))
    {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Some(day) = parse_day(text) {
        let noon = day.and_hms_opt(12, 0, 0).unwrap_or_default();
        return Ok(resolve_local(wheel.organisation.timezone, noon).with_timezone(&Utc));
    }
    Err(NotATime {
        flag: flag.to_string(),
        text: text.to_string(),
    })
}

/// A `--now` or `--at` value that is not a time; shown with the flag and
/// the value as typed (escaped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{flag} {}: not a time; expected YYYY-MM-DD (e.g. 2027-03-01) or RFC 3339 (e.g. 2027-03-01T08:00:00+01:00)",
    output::clean(&quote(.text))
)]
pub struct NotATime {
    pub flag: String,
    pub text: String,
}

/// A day written exactly `YYYY-MM-DD`: four-digit year, two-digit month
/// and day, a real date.
pub fn parse_day(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// clap's parser for `--from`/`--to`; clap names the flag in its error and
/// exits 2.
fn day_arg(text: &str) -> Result<NaiveDate, String> {
    parse_day(text).ok_or_else(|| {
        "expected a date as YYYY-MM-DD with a four-digit year, e.g. 2027-01-01".to_string()
    })
}

/// `"text"`, for naming a value in a message.
fn quote(text: &str) -> String {
    format!("\"{text}\"")
}

/// The database as `check`, `tick` and `run` find it before any work: the
/// schema version of an arshjul database, `None` when there is none yet.
/// A file that is empty, not arshjul's or too new is bad input (exit 2).
fn database(settings: &Settings) -> Result<Option<i64>, Failure> {
    use crate::store::StoreError;
    Store::inspect(&settings.database).map_err(|e| match e {
        StoreError::Empty { .. } | StoreError::Corrupt { .. } | StoreError::TooNew { .. } => {
            Failure::usage(e.to_string())
        }
        other => Failure::runtime(other.to_string()),
    })
}

fn check(loaded: &Config, settings_file: Option<PathBuf>, now: DateTime<Utc>) -> CmdResult {
    let wheel = &loaded.wheel;
    let org = &wheel.organisation;
    let settings = &loaded.settings;
    let version = database(settings)?;
    // The templates as `tick` and `run` build them (mail.templates
    // overrides included), so a template they would refuse fails here too.
    crate::mail::Composer::new(&settings.mail).map_err(|e| Failure::usage(e.to_string()))?;
    say!(
        "{}: {}, {} ({}, {}) — {} is valid",
        output::clean(&org.name),
        output::plural(wheel.tasks.len() as u64, "task", "tasks"),
        output::plural(wheel.people.len() as u64, "person", "people"),
        org.timezone,
        org.language.code(),
        output::clean(&settings.schedule.display().to_string())
    );
    // Paths come from settings and the environment: escaped like table text,
    // so a line break in one cannot forge a line of this report.
    say!(
        "settings:   {}",
        output::clean(&Settings::origin(settings_file.as_deref()))
    );
    let database = settings.database.display().to_string();
    match version {
        Some(v) => say!(
            "database:   {} (schema version {v})",
            output::clean(&database)
        ),
        None => say!(
            "database:   {} (not there yet; the first `tick` or `run` creates it)",
            output::clean(&database)
        ),
    }
    say!("{}", output::clean(&crate::mail::describe(settings)));
    say!(
        "public URL: {} (completion links start with it)",
        settings.public_url
    );
    say!("listen:     {}", settings.listen);
    if let Some(metrics) = &settings.metrics_listen {
        say!("metrics:    {metrics} (GET /metrics)");
    }
    let cal = Calendar::new(org);
    let today = cal.local_date(&now);
    // From due dates alone: nothing of reminders, repeats or history.
    let horizon = today + chrono::Duration::days(366 * 5);
    let dues = planner::next_due(wheel, today, horizon, 5);
    if dues.is_empty() {
        say!("Nothing falls due in the next five years.");
    } else {
        say!("Next due:");
        for e in dues {
            let title = wheel.task(e.task).map(|t| t.title.as_str()).unwrap_or("");
            say!(
                "  {}  {:<24} {:<10} {}",
                e.due,
                e.task,
                e.period,
                output::clean(title)
            );
        }
    }
    // A rule that recurs within five years but is not due in them does not
    // fire as written: say so (a typo in `first` or `start`, most likely).
    let silent = planner::silent_tasks(wheel, today, horizon, 5);
    if !silent.is_empty() {
        say!("Never due in the next five years, though their rule recurs within five (is `first` or `start` right?):");
        // A wheel with thousands of them (a wrong `start`) gets a short
        // list: the first ones make the point.
        for task in silent.iter().take(SILENT_SHOWN) {
            say!("  {}", task.id);
        }
        if silent.len() > SILENT_SHOWN {
            say!("  … and {} more", silent.len() - SILENT_SHOWN);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How many never-due tasks `check` names before it counts the rest.
const SILENT_SHOWN: usize = 20;

fn plan(
    loaded: &Config,
    from: NaiveDate,
    to: NaiveDate,
    json: bool,
    task: Option<&str>,
) -> CmdResult {
    let wheel = &loaded.wheel;
    if let Some(id) = task {
        known_task(wheel, id)?;
    }
    if to < from {
        return Err(Failure::usage(format!("--to {to} is before --from {from}")));
    }
    let bound = planner::plan_size_bound(wheel, from, to, task);
    if bound > planner::PLAN_MAX_EVENTS {
        return Err(Failure::usage(format!(
            "--from {from} --to {to} could list up to {} events (every occurrence repeats until \
             the range ends, as if nothing were completed); one run lists at most {}: ask for a \
             shorter range, or one task with --task",
            bound,
            planner::PLAN_MAX_EVENTS
        )));
    }
    let mut events = planner::plan_range(wheel, from, to);
    if let Some(id) = task {
        events.retain(|e| e.task == id);
    }
    // Absences recorded with `arshjul away` reroute as in a pass: the plan
    // shows who will really be sent each message. Without a database
    // there are none (and nothing to say about it).
    let absences = plan_absences(&loaded.settings, from)?;
    // Large writes: ten years of a big wheel is megabytes of JSON.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = if json {
        output::plan_json(&mut out, wheel, from, to, &events, &absences)
    } else {
        output::plan_table(&mut out, wheel, &events, &absences)
    };
    finish_output(written.and_then(|_| std::io::Write::flush(&mut out)))
}

/// The absences not cancelled that last until `from` or later, as the
/// planner routes by; none when there is no database yet.
fn plan_absences(settings: &Settings, from: NaiveDate) -> Result<Vec<planner::Absence>, Failure> {
    if !settings.database.exists() {
        return Ok(Vec::new());
    }
    let store = Store::open_with_busy_timeout(&settings.database, false, settings.busy_timeout())?;
    Ok(store.planner_absences(from)?)
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
    Ok(Some(Store::open_with_busy_timeout(
        &settings.database,
        false,
        settings.busy_timeout(),
    )?))
}

fn status(loaded: &Config, now: DateTime<Utc>, json: bool) -> CmdResult {
    let wheel = &loaded.wheel;
    let store = open_if_present(&loaded.settings)?;
    let (history, mut latest) = match &store {
        Some(s) => crate::engine::history_and_latest_at(s, wheel, now)?,
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
    let deferred = match &store {
        Some(s) => s.deferred_notifications()?,
        None => Vec::new(),
    };
    let held = match &store {
        Some(s) => s.engine_state()?.held,
        None => None,
    };
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let away_now = match &store {
        Some(s) => away::current(wheel, s.absences(AbsenceFilter::ActiveFrom(today))?, today),
        None => Vec::new(),
    };
    let database = DatabaseRead {
        path: loaded.settings.database.display().to_string(),
        present: store.is_some(),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let (Some(h), false) = (&held, json) {
        let line = output::held_line(h);
        finish_output(std::io::Write::write_all(&mut out, line.as_bytes()))?;
    }
    let written = if json {
        output::status_json(
            &mut out,
            wheel,
            local_now(wheel.organisation.timezone, now),
            &rows,
            &output::StatusLists {
                failed: &failed,
                deferred: &deferred,
                held: held.as_ref(),
                absences: away::status_json(&away_now),
                database: &database.path,
            },
        )
    } else {
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        output::status_table(&mut out, wheel, &rows, colour)
            .and_then(|_| away::status_lines(&mut out, &away_now))
            .and_then(|_| output::failed_table(&mut out, &failed))
            .and_then(|_| output::deferred_table(&mut out, &deferred))
            .and_then(|_| std::io::Write::write_all(&mut out, database.line().as_bytes()))
    };
    finish_output(written.and_then(|_| std::io::Write::flush(&mut out)))
}

/// The database `status` read, for its last line: on a server, which
/// file the answer came from.
struct DatabaseRead {
    path: String,
    present: bool,
}

impl DatabaseRead {
    fn line(&self) -> String {
        let path = output::clean(&self.path);
        if self.present {
            format!("\nDatabase: {path}\n")
        } else {
            format!("\nDatabase: {path} (not there yet: nothing recorded)\n")
        }
    }
}

/// What `done` was given besides the task.
struct Given {
    period: Option<String>,
    by: Option<String>,
    note: Option<String>,
    at: Option<String>,
    performed_by: Option<String>,
    evidence: Vec<PathBuf>,
}

fn done(loaded: &Config, now: DateTime<Utc>, task_id: &str, given: Given) -> CmdResult {
    let Given {
        period,
        by,
        note,
        at,
        performed_by,
        evidence,
    } = given;
    let wheel = &loaded.wheel;
    let task = known_task(wheel, task_id)?;
    let at = match &at {
        Some(text) => parse_time("--at", text, wheel)?,
        None => now,
    };
    if at > now {
        return Err(Failure::usage(format!(
            "--at {} is in the future",
            local_now(wheel.organisation.timezone, at)
        )));
    }
    // Every file is read before anything is recorded: one that cannot be
    // read is refused with its name, and nothing is recorded.
    let evidence = evidence::read_files(&evidence, loaded.settings.evidence.max_bytes)?;
    let performed_by = performed_by
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let mut store = Store::open_with_busy_timeout(
        &loaded.settings.database,
        true,
        loaded.settings.busy_timeout(),
    )?;
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    store.sync_tasks(wheel, today)?;
    let history = crate::engine::history_at(&store, wheel, now)?;
    // An explicit period that has not opened yet is recorded, and said to
    // be early: (its due date) when so.
    let (period, early) = match period {
        Some(p) => named_period(wheel, &history, task, &p, today)?,
        None => (open_period(wheel, &history, now, task_id)?, None),
    };
    // As for `undo`: a blank --by (`--by "$USER"` with USER unset) is the
    // login name, never a completion attributed to no one.
    let by = by
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(login_name);
    let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    let completion = NewCompletion {
        task: task.id.clone(),
        period: period.clone(),
        at: local_now(wheel.organisation.timezone, at),
        by,
        via: Via::Cli,
        note,
        client_addr: None,
        user_agent: None,
        recorded_at: local_now(wheel.organisation.timezone, now),
    };
    let extras = CompletionExtras {
        performed_by,
        evidence,
    };
    let outcome = store.record_completion_with(&completion, &extras)?;
    print_done(&outcome, &completion, early)?;
    if matches!(outcome, CompletionOutcome::Recorded) {
        if let Some(p) = &extras.performed_by {
            say!("  performed by {}", output::clean(p));
        }
        if let Some(record) = store
            .completion_records(Some(&completion.task))?
            .into_iter()
            .find(|r| r.completion.period == completion.period && r.retraction.is_none())
        {
            for f in &record.evidence {
                say!(
                    "  evidence {} ({} bytes, sha256 {})",
                    output::clean(&f.name),
                    f.bytes,
                    f.sha256
                );
            }
        }
    } else if !extras.evidence.is_empty() {
        say!("  the evidence files were not recorded either");
    }
    Ok(ExitCode::SUCCESS)
}

/// `done --period KEY`: the period if the task has it, and, when it has
/// not opened yet, how to say it is early ("which is not due until …").
fn named_period(
    wheel: &Wheel,
    history: &planner::History,
    task: &wheel::Task,
    p: &str,
    today: NaiveDate,
) -> Result<(String, Option<String>), Failure> {
    let Some(start) = period_start_of(task, wheel, p) else {
        return Err(Failure::usage(format!(
            "task \"{}\" has no period {}",
            task.id,
            output::clean(&quote(p))
        )));
    };
    // A period that ended before the wheel's start is one the wheel never
    // had: a completion of it would be evidence of work it never asked for.
    if let (Some(wheel_start), Some(first)) =
        (wheel.organisation.start, planner::first_period(wheel, task))
    {
        if period_start_of(task, wheel, &first).is_some_and(|f| start < f) {
            return Err(Failure::usage(format!(
                "task \"{}\" has no period {}: the wheel starts {wheel_start} \
                 (organisation.start), and the task's first period is {first}",
                task.id,
                output::clean(&quote(p))
            )));
        }
    }
    let early = match planner::occurrence_named(wheel, history, task, p, start, today) {
        Some(o) if planner::opens_on(wheel, task, o.due) > today => {
            Some(format!("which is not due until {}", o.due))
        }
        Some(_) => None,
        // A rolling task's later periods have no due date yet.
        None if start > today => Some("which has not begun".to_string()),
        None => None,
    };
    Ok((p.to_string(), early))
}

/// `done` without `--period`: the oldest open period, or why there is none.
fn open_period(
    wheel: &Wheel,
    history: &planner::History,
    now: DateTime<Utc>,
    task_id: &str,
) -> Result<String, Failure> {
    match planner::done_target(wheel, history, now, task_id) {
        planner::DoneTarget::Open { period, .. } => Ok(period),
        planner::DoneTarget::NotYet { period, due, opens } => Err(Failure::usage(format!(
            "{task_id}: nothing is open to record; the next occurrence, {period}, \
             is due {due} and opens {opens} (its first reminder day).\n\
             To record it ahead of time: arshjul done {task_id} --period {period}"
        ))),
        planner::DoneTarget::Nothing => Err(Failure::usage(format!(
            "task \"{task_id}\" has no open period; name one with --period"
        ))),
    }
}

/// What `done` recorded, or the completion that was already there.
fn print_done(
    outcome: &CompletionOutcome,
    completion: &NewCompletion,
    early: Option<String>,
) -> CmdResult {
    match outcome {
        CompletionOutcome::Recorded => {
            let early = early
                .map(|which| format!(" — recorded for {}, {which}", completion.period))
                .unwrap_or_default();
            say!(
                "{} {}: done {} by {}{early}",
                completion.task,
                completion.period,
                completion.at.format("%Y-%m-%d %H:%M"),
                output::clean(&completion.by)
            );
        }
        CompletionOutcome::AlreadyDone(c) => {
            say!(
                "{} {}: already done {} by {} (via {}); nothing recorded",
                c.task,
                c.period,
                c.at.format("%Y-%m-%d %H:%M"),
                output::clean(&c.by),
                output::clean(&c.via)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `arshjul undo`: appends a retraction of the period's completion.
fn undo(
    loaded: &Config,
    now: DateTime<Utc>,
    task_id: &str,
    period: &str,
    reason: &str,
    by: Option<String>,
) -> CmdResult {
    let wheel = &loaded.wheel;
    let task = known_task(wheel, task_id)?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Failure::usage(
            "--reason is empty; say why the completion is retracted (it is kept as evidence)",
        ));
    }
    let by = by
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(login_name);
    if !loaded.settings.database.exists() {
        return Err(Failure::usage(format!(
            "{} {}: not done; nothing to undo",
            task.id,
            output::clean(period)
        )));
    }
    let mut store = Store::open_with_busy_timeout(
        &loaded.settings.database,
        false,
        loaded.settings.busy_timeout(),
    )?;
    let retraction = NewRetraction {
        task: task.id.clone(),
        period: period.to_string(),
        at: local_now(wheel.organisation.timezone, now),
        by,
        reason: reason.to_string(),
    };
    match store.record_retraction(&retraction)? {
        RetractionOutcome::Retracted(c) => {
            say!(
                "{} {}: the completion of {} by {} is retracted by {}; the period is open again",
                c.task,
                output::clean(&c.period),
                c.at.format("%Y-%m-%d %H:%M"),
                output::clean(&c.by),
                output::clean(&retraction.by)
            );
            Ok(ExitCode::SUCCESS)
        }
        RetractionOutcome::NotDone => Err(Failure::usage(format!(
            "{} {}: not done; nothing to undo",
            task.id,
            output::clean(period)
        ))),
    }
}

/// The task named on the command line, or an error listing the known ones.
fn known_task<'w>(wheel: &'w Wheel, id: &str) -> Result<&'w wheel::Task, Failure> {
    wheel.task(id).ok_or_else(|| unknown_task(wheel, id))
}

fn unknown_task(wheel: &Wheel, id: &str) -> Failure {
    let known: Vec<&str> = wheel.tasks.iter().map(|t| t.id.as_str()).collect();
    Failure::usage(format!(
        "unknown task {} (tasks: {})",
        output::clean(&quote(id)),
        known.join(", ")
    ))
}

/// The person at the keyboard, for `done --by`'s default and for who
/// accepted a burst.
pub(crate) fn login_name() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "cli".to_string())
}

fn history(loaded: &Config, task: Option<&str>, json: bool) -> CmdResult {
    if let Some(id) = task {
        if !loaded.settings.database.exists() {
            known_task(&loaded.wheel, id)?;
        }
    }
    let Some(store) = open_if_present(&loaded.settings)? else {
        let mut out = std::io::stdout().lock();
        let written = if json {
            output::history_json(&mut out, &[], &[], &[], serde_json::json!([]))
        } else {
            Ok(())
        };
        return finish_output(written);
    };
    let completions = store.completion_records(task)?;
    let notifications = store.notifications(task)?;
    // A task gone from the wheel keeps its history; a name that is neither
    // in the wheel nor in the database is a typo.
    if let Some(id) = task {
        if loaded.wheel.task(id).is_none() && completions.is_empty() && notifications.is_empty() {
            return Err(unknown_task(&loaded.wheel, id));
        }
    }
    let requests = store.link_requests(task)?;
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
        output::history_json(&mut out, &completions, &notifications, &requests, list)
    } else {
        output::history_table(&mut out, &completions, &notifications)
            .and_then(|()| output::link_requests_table(&mut out, &requests))
            .and_then(|()| away::history_table(&mut out, &absences))
    };
    let bursts = match (task, json) {
        (None, false) => store.accepted_bursts()?,
        _ => Vec::new(),
    };
    let written = written.and_then(|_| accepted_bursts_table(&mut out, &bursts));
    finish_output(written.and_then(|_| std::io::Write::flush(&mut out)))
}

/// The bursts let through with `tick --accept-burst`, below the history
/// of all tasks (nothing when there were none).
fn accepted_bursts_table(
    out: &mut impl std::io::Write,
    bursts: &[crate::store::AcceptedBurst],
) -> std::io::Result<()> {
    if bursts.is_empty() {
        return Ok(());
    }
    writeln!(out, "Accepted bursts ({})", bursts.len())?;
    for b in bursts {
        // The login name comes from the environment: escaped as every
        // table escapes input (`\e`, `\n`), so nothing reaches the terminal.
        writeln!(
            out,
            "  {}  by {}: {} new; held because {}",
            b.at.format("%Y-%m-%d %H:%M"),
            output::clean(&b.by),
            b.queued,
            output::clean(&b.reason)
        )?;
    }
    Ok(())
}

/// The first day of the period `key` names, when it names a period of
/// `task`: it has the shape of the task's kind, and for tasks on the
/// calendar it is one of their occurrences.
fn period_start_of(task: &wheel::Task, wheel: &Wheel, key: &str) -> Option<NaiveDate> {
    use crate::recurrence::{occurrences, Period};
    let terms = wheel.terms.as_ref();
    let start = Period::parse(key)?.start(terms)?;
    if Period::of(&task.recurrence, terms, start).to_string() != key {
        return None;
    }
    let of_task = match task.anchor {
        wheel::Anchor::Completion => true,
        wheel::Anchor::Fixed => {
            let end = start + chrono::Duration::days(366 * 8);
            occurrences(&task.recurrence, terms, start, end)
                .iter()
                .any(|o| o.period == key)
        }
    };
    of_task.then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_that_is_not_one_is_named_with_its_flag_and_escaped() {
        let wheel = wheel::parse(include_str!("../schedule.toml"), "schedule.toml").unwrap();
        let err = parse_time("--at", "27-01-01\n", &wheel).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--at \"27-01-01\\n\": not a time; expected YYYY-MM-DD (e.g. 2027-03-01) or RFC 3339 (e.g. 2027-03-01T08:00:00+01:00)"
        );
        assert_eq!(
            parse_time("--now", "2027-03-01", &wheel)
                .unwrap()
                .to_rfc3339(),
            "2027-03-01T11:00:00+00:00"
        );
    }

    #[test]
    fn a_day_is_exactly_yyyy_mm_dd() {
        assert_eq!(parse_day("2027-01-01"), NaiveDate::from_ymd_opt(2027, 1, 1));
        assert_eq!(
            parse_day("2028-02-29"),
            NaiveDate::from_ymd_opt(2028, 2, 29)
        );
        for bad in [
            "27-01-01",
            "0027-1-01",
            "2027-1-1",
            "2027-02-29",
            "+2027-01-01",
            "20270-01-01",
            "2027-01-01 ",
            "２０２７-01-01",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
