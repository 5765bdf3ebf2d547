//! One pass of the engine, shared by `arshjul tick` and the daemon: bring
//! the database up to date with the wheel (occurrences and the outbox, in
//! one transaction), then deliver what is pending, marking each message
//! sent only after the server accepted it. A crash between the two leaves
//! messages pending for the next pass: at-least-once delivery, with
//! duplicates only for a message in flight.

use std::process::ExitCode;
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, Utc};

use crate::calendar::Calendar;
use crate::cli::{local_now, Failure, Loaded};
use crate::mail::{Composer, DeliveryError, Transport};
use crate::planner::{self, Kind, Notification};
use crate::settings::Settings;
use crate::store::{
    AcceptedBurst, LinkAnswer, LinkRequest, NewMessage, Store, StoreError, UnbuiltMessage,
};
use crate::web::token::Secret;
use crate::wheel::{Days, Wheel};

/// First retry after a temporary failure; doubles per attempt.
const RETRY_FIRST_SECS: i64 = 5 * 60;
/// Retries never wait longer than this.
const RETRY_MAX_SECS: i64 = 6 * 60 * 60;

/// Asked between deliveries: should the pass stop early (shutdown)?
pub type Stop<'a> = dyn Fn() -> bool + Sync + 'a;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Messages newly put in the outbox.
    pub queued: usize,
    pub sent: usize,
    /// Temporary failures, kept for retry.
    pub deferred: usize,
    /// Permanent failures, given up.
    pub failed: usize,
    /// When something is next due, if nothing is completed meanwhile.
    pub next_at: Option<DateTime<Utc>>,
    /// Tasks overdue at the pass, from the history the pass read.
    pub overdue: usize,
}

/// Everything a pass needs besides the database and the clock.
pub struct Engine {
    pub settings: Settings,
    pub wheel: Wheel,
    composer: Composer,
    transport: Transport,
    secret: Secret,
}

impl Engine {
    /// Builds templates, transport and the link secret from settings.
    pub fn new(loaded: Loaded) -> Result<Engine, Failure> {
        let Loaded { settings, wheel } = loaded;
        let composer = Composer::new(&settings.mail).map_err(|e| Failure::usage(e.to_string()))?;
        let transport =
            Transport::from_settings(&settings).map_err(|e| Failure::usage(e.to_string()))?;
        let secret = Secret::load_or_create(&settings.secret_path())
            .map_err(|e| Failure::runtime(e.to_string()))?;
        Ok(Engine {
            settings,
            wheel,
            composer,
            transport,
            secret,
        })
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Plans at `now` and records the result: occurrences and rendered
    /// messages, in one transaction. Returns a report with how many messages
    /// were new, when something is next due and how many tasks are overdue.
    pub fn record(&self, store: &Mutex<Store>, now: DateTime<Utc>) -> Result<Report, Failure> {
        let wheel = &self.wheel;
        let today = Calendar::new(&wheel.organisation).local_date(&now);
        let mut store = lock(store);
        store.sync_tasks(wheel, today)?;
        let history = store.history_at(wheel, now)?;
        let pass = planner::pass(wheel, &history, now);
        let mut messages = Vec::with_capacity(pass.send.len());
        let mut unbuilt = Vec::new();
        for n in &pass.send {
            // One message that cannot be built must not stop the others:
            // it is recorded failed, with its reason, for `status`.
            match guarded(|| self.render(n, today)) {
                Ok(m) => messages.push(m),
                Err(reason) => {
                    tracing::error!(task = %n.task, period = %n.period, kind = %n.kind.as_str(), "message not built, recorded as failed: {reason}");
                    unbuilt.push(self.unbuilt(n, reason));
                }
            }
        }
        let mut queued = store.record_pass_with_unbuilt(
            &pass.occurrences,
            &messages,
            &unbuilt,
            local_now(wheel, now),
        )?;
        let (link_queued, link_unbuilt) = self.answer_link_requests(&mut store, now, today)?;
        queued += link_queued;
        let overdue = planner::status(wheel, &history, now)
            .iter()
            .filter(|r| r.state == planner::State::Overdue)
            .count();
        Ok(Report {
            queued,
            failed: unbuilt.len() + link_unbuilt,
            next_at: pass.next_at,
            overdue,
            ..Report::default()
        })
    }

    /// Answers the requests for a fresh link made on expired links' pages:
    /// each becomes a `link` message to the person the token was issued to,
    /// at the address the wheel has for them now, put in the outbox in the
    /// same transaction that marks the request answered. Returns how many
    /// messages were queued and how many could not be built: such a request
    /// is answered with its message recorded failed, with the reason (for
    /// `status`, and never tried again); the rest of the pass goes on.
    fn answer_link_requests(
        &self,
        store: &mut Store,
        now: DateTime<Utc>,
        today: chrono::NaiveDate,
    ) -> Result<(usize, usize), Failure> {
        let (mut queued, mut unbuilt) = (0, 0);
        for r in store.open_link_requests()? {
            let answer = if self.wheel.task(&r.task).is_none()
                || self.wheel.person(&r.person).is_none()
            {
                LinkAnswer::Gone
            } else if store.completion(&r.task, &r.period)?.is_some() {
                LinkAnswer::Done
            } else {
                let n = self.link_notification(&r, now, today);
                match guarded(|| self.render(&n, today)) {
                    Ok(m) => LinkAnswer::Queued(Box::new(m)),
                    Err(reason) => {
                        tracing::error!(task = %r.task, period = %r.period, "new link not built, recorded as failed: {reason}");
                        LinkAnswer::Unbuilt(Box::new(self.unbuilt(&n, reason)))
                    }
                }
            };
            if store.answer_link_request(r.id, &answer, local_now(&self.wheel, now))? {
                match answer {
                    LinkAnswer::Queued(_) => {
                        tracing::info!(task = %r.task, period = %r.period, person = %r.person, "new link queued on request");
                        queued += 1;
                    }
                    LinkAnswer::Unbuilt(_) => unbuilt += 1,
                    LinkAnswer::Done | LinkAnswer::Gone => {}
                }
            }
        }
        Ok((queued, unbuilt))
    }

    /// The `link` notification answering request `r`: written today, to the
    /// token's person, its key and step naming the request.
    fn link_notification(
        &self,
        r: &LinkRequest,
        now: DateTime<Utc>,
        today: chrono::NaiveDate,
    ) -> Notification {
        let step = u32::try_from(r.id).unwrap_or(u32::MAX);
        Notification {
            key: format!(
                "{}/{}/{}/{}/{}",
                r.task,
                r.period,
                Kind::Link.as_str(),
                r.id,
                r.person
            ),
            task: r.task.clone(),
            period: r.period.clone(),
            due: r.due,
            kind: Kind::Link,
            step,
            date: today,
            at: now.with_timezone(&self.wheel.organisation.timezone),
            to: r.person.clone(),
            cc: Vec::new(),
            on_behalf: None,
            cc_deputies: Vec::new(),
        }
    }

    /// The outbox row for a notification whose message could not be built.
    fn unbuilt(&self, n: &Notification, reason: String) -> UnbuiltMessage {
        let email = |key: &String| {
            self.wheel
                .person(key)
                .map_or_else(|| key.clone(), |p| p.email.clone())
        };
        UnbuiltMessage {
            key: n.key.clone(),
            task: n.task.clone(),
            period: n.period.clone(),
            kind: n.kind.as_str().to_string(),
            step: n.step,
            to: vec![email(&n.to)],
            cc: n.cc.iter().map(email).collect(),
            reason: format!("not built: {reason}"),
            due_at: n.at.fixed_offset(),
        }
    }

    fn render(&self, n: &Notification, today: chrono::NaiveDate) -> Result<NewMessage, Failure> {
        let link = match n.kind {
            Kind::Reminder | Kind::Repeat | Kind::Link => Some(self.link(n, today)),
            _ => None,
        };
        let composed = self
            .composer
            .compose(&self.wheel, n, link.as_deref(), today)
            .map_err(|e| Failure::runtime(format!("cannot render {}: {e}", n.key)))?;
        Ok(NewMessage {
            key: n.key.clone(),
            task: n.task.clone(),
            period: n.period.clone(),
            kind: n.kind.as_str().to_string(),
            step: n.step,
            to: composed.to,
            cc: composed.cc,
            subject: composed.subject,
            message_id: composed.message_id,
            raw: composed.raw,
            due_at: n.at.fixed_offset(),
        })
    }

    /// The completion link for the owner a notification is addressed to,
    /// in a message written on the local day `today`. It stays valid
    /// `link_days` after the later of that day and the notification's own
    /// day, and never less than `link_days` after the occurrence's last
    /// escalation: a repeat sent months after the due date carries a link
    /// that works when it arrives, and an open occurrence, which keeps
    /// receiving repeats, always has a valid link in the owner's inbox.
    fn link(&self, n: &Notification, today: chrono::NaiveDate) -> String {
        let expires_day = link_expiry_day(&self.wheel, n, today, self.settings.link_days);
        let expires = crate::calendar::resolve_local(
            self.wheel.organisation.timezone,
            expires_day.and_hms_opt(23, 59, 59).unwrap_or_default(),
        )
        .with_timezone(&Utc);
        crate::web::link(
            &self.settings.public_url,
            &self.secret,
            &n.task,
            &n.period,
            &n.to,
            n.due,
            expires,
        )
    }

    /// Delivers every pending message whose attempt is due at `now`, until
    /// `stop` says so (checked between messages, so the one in flight is
    /// finished). The store is locked only between sends, never across one.
    /// Send times are `now` plus the time elapsed since, so a pass run with
    /// `--now` records consistent times.
    pub async fn deliver(
        &self,
        store: &Mutex<Store>,
        now: DateTime<Utc>,
        stop: &Stop<'_>,
    ) -> Result<Report, Failure> {
        let started = std::time::Instant::now();
        let local = local_now(&self.wheel, now);
        let pending = lock(store).deliverable(local)?;
        let mut report = Report::default();
        for m in pending {
            // Let signal handlers and the listener run between messages,
            // whatever the transport does.
            tokio::task::yield_now().await;
            if stop() {
                tracing::info!("stopping with messages still pending; the next pass sends them");
                break;
            }
            let rcpt: Vec<String> = m.to.iter().chain(m.cc.iter()).cloned().collect();
            match self
                .transport
                .send(&self.settings.mail.from, &rcpt, &m.raw)
                .await
            {
                Ok(()) => {
                    let elapsed = chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
                    lock(store).mark_sent(m.id, local + elapsed)?;
                    tracing::info!(task = %m.task, period = %m.period, kind = %m.kind, to = %m.to.join(","), "sent");
                    report.sent += 1;
                }
                Err(DeliveryError::Permanent(reason)) => {
                    lock(store).mark_failed(m.id, &reason, true, local)?;
                    tracing::error!(task = %m.task, period = %m.period, to = %rcpt.join(","), "delivery failed for good: {reason}");
                    report.failed += 1;
                }
                Err(e) => {
                    // The server's own wait if it named one (HTTP 429/503
                    // `Retry-After`), else the doubling back-off.
                    let wait = match &e {
                        DeliveryError::Throttled { retry_after, .. } => {
                            i64::try_from(retry_after.as_secs()).unwrap_or(RETRY_MAX_SECS)
                        }
                        _ => (RETRY_FIRST_SECS << m.attempts.min(12)).min(RETRY_MAX_SECS),
                    };
                    let reason = e.reason();
                    let retry = local + chrono::Duration::seconds(wait);
                    lock(store).mark_failed(m.id, reason, false, retry)?;
                    tracing::warn!(task = %m.task, period = %m.period, to = %rcpt.join(","), "delivery deferred until {}: {reason}", retry.format("%Y-%m-%d %H:%M"));
                    report.deferred += 1;
                }
            }
        }
        Ok(report)
    }
}

/// Why the brake holds a pass: the clock or the wheel would make one pass
/// flood the recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Brake {
    /// `now` is more than `max_clock_jump` after the last pass.
    ClockJump {
        last: DateTime<FixedOffset>,
        now: DateTime<FixedOffset>,
        limit: Days,
    },
    /// The pass would queue more than `mail.max_per_pass` messages.
    Burst { messages: usize, cap: u32 },
}

impl std::fmt::Display for Brake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Brake::ClockJump { last, now, limit } => {
                let step = *now - *last;
                let days = step.num_days();
                let hours = step.num_hours() - days * 24;
                let unit =
                    |n: i64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
                let step = match hours {
                    0 => unit(days, "day"),
                    h => format!("{} and {}", unit(days, "day"), unit(h, "hour")),
                };
                write!(
                    f,
                    "the clock jumped: now ({}) is {step} after the last pass ({}), more than max_clock_jump {limit}",
                    now.format("%Y-%m-%d %H:%M"),
                    last.format("%Y-%m-%d %H:%M"),
                )
            }
            Brake::Burst { messages, cap } => write!(
                f,
                "one pass would queue {messages} messages, more than mail.max_per_pass {cap}"
            ),
        }
    }
}

/// What a pass at `now` would do, found without writing anything.
#[derive(Debug, Default)]
pub struct Preview {
    /// Messages the pass would newly queue, oldest first. Empty when the
    /// clock jumped and planning was skipped.
    pub send: Vec<Notification>,
    /// Why the brake would hold the pass, if it would.
    pub brake: Option<Brake>,
}

/// Whether the step from the last pass to `now` is a clock jump. A clock
/// that went back is not (the last pass then stays where it was).
fn clock_jump(
    last: Option<DateTime<FixedOffset>>,
    now: DateTime<FixedOffset>,
    limit: Days,
) -> Option<Brake> {
    let last = last?;
    (now - last > chrono::Duration::days(i64::from(limit.0))).then_some(Brake::ClockJump {
        last,
        now,
        limit,
    })
}

/// What a pass at `now` would record and send, and whether the brake would
/// hold it, from the database as it is (`None`: no database yet). Records
/// nothing: tasks the database has not seen are planned as a pass would
/// first record them (first seen today). With `plan_on_jump` false, a
/// clock jump returns at once, without planning what a wrong clock would
/// send.
pub fn preview(
    wheel: &Wheel,
    settings: &Settings,
    store: Option<&Store>,
    now: DateTime<Utc>,
    plan_on_jump: bool,
) -> Result<Preview, Failure> {
    let limit = settings.max_clock_jump().map_err(Failure::usage)?;
    let local = local_now(wheel, now);
    let state = match store {
        Some(s) => s.engine_state()?,
        None => Default::default(),
    };
    let jump = clock_jump(state.last_pass, local, limit);
    if jump.is_some() && !plan_on_jump {
        return Ok(Preview {
            brake: jump,
            ..Preview::default()
        });
    }
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let mut history = match store {
        Some(s) => s.history_at(wheel, now)?,
        None => Default::default(),
    };
    for task in &wheel.tasks {
        let h = history.tasks.entry(task.id.clone()).or_default();
        h.first_seen.get_or_insert(today);
    }
    let pass = planner::pass(wheel, &history, now);
    let cap = settings.mail.max_per_pass;
    let burst = (pass.send.len() > cap as usize).then_some(Brake::Burst {
        messages: pass.send.len(),
        cap,
    });
    Ok(Preview {
        send: pass.send,
        brake: jump.or(burst),
    })
}

/// What a pass under the brake did.
#[derive(Debug)]
pub enum Outcome {
    Passed(Report),
    /// Nothing was recorded or sent.
    Held(Brake),
}

impl Engine {
    /// A pass under the brake. When the clock jumped more than
    /// `max_clock_jump` past the last pass, or the pass would queue more
    /// than `mail.max_per_pass` messages, nothing is recorded or sent (not
    /// even messages already pending: the clock is in doubt, and a send
    /// time it gave would be false evidence); the hold is recorded for
    /// `status`. `accepted_by` lets such a pass through and records who
    /// did. A pass that goes through moves the last pass to `now` (never
    /// back) and ends the hold.
    pub async fn guarded_pass(
        &self,
        store: &Mutex<Store>,
        now: DateTime<Utc>,
        stop: &Stop<'_>,
        accepted_by: Option<&str>,
    ) -> Result<Outcome, Failure> {
        let local = local_now(&self.wheel, now);
        let brake = {
            let store = lock(store);
            preview(&self.wheel, &self.settings, Some(&store), now, false)?.brake
        };
        if let (Some(brake), None) = (&brake, accepted_by) {
            lock(store).record_hold(local, &brake.to_string())?;
            return Ok(Outcome::Held(brake.clone()));
        }
        let recorded = self.record(store, now)?;
        lock(store).record_pass_time(local)?;
        if let (Some(brake), Some(by)) = (&brake, accepted_by) {
            lock(store).record_accepted_burst(&AcceptedBurst {
                at: local,
                by: by.to_string(),
                reason: brake.to_string(),
                queued: u32::try_from(recorded.queued).unwrap_or(u32::MAX),
            })?;
            tracing::warn!(by, queued = recorded.queued, "burst accepted: {brake}");
        }
        let delivered = self.deliver(store, now, stop).await?;
        Ok(Outcome::Passed(Report {
            queued: recorded.queued,
            next_at: recorded.next_at,
            overdue: recorded.overdue,
            failed: recorded.failed + delivered.failed,
            ..delivered
        }))
    }
}

/// The last day (local, valid through its end) of a completion link in a
/// message about `n` written on `today`: `link_days` after the later of the
/// message's day and the occurrence's last escalation step.
pub fn link_expiry_day(
    wheel: &Wheel,
    n: &Notification,
    today: chrono::NaiveDate,
    link_days: u32,
) -> chrono::NaiveDate {
    let days = chrono::Duration::days(i64::from(link_days));
    let last_step = wheel
        .task(&n.task)
        .and_then(|t| t.escalate.last().map(|e| i64::from(e.after.0)))
        .unwrap_or(0);
    let plus = |day: chrono::NaiveDate, d: chrono::Duration| {
        day.checked_add_signed(d).unwrap_or(chrono::NaiveDate::MAX)
    };
    let after_escalation = plus(plus(n.due, chrono::Duration::days(last_step)), days);
    let after_message = plus(n.date.max(today), days);
    after_escalation.max(after_message)
}

/// Runs `build`, turning an error or a panic into the reason it failed, so
/// that the last line of defence holds even where validation missed a case.
fn guarded(build: impl FnOnce() -> Result<NewMessage, Failure>) -> Result<NewMessage, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(failure)) => Err(failure.message),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no reason given".to_string());
            Err(format!("building the message panicked: {what}"))
        }
    }
}

/// The store mutex is never held across an `.await`, so a panic while
/// holding it is the only way to poison it; the data is still consistent
/// (SQLite transactions), so carry on.
pub fn lock(store: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// `arshjul tick`: one pass under the brake; `accepted_by` lets a held
/// pass through (`--accept-burst`).
pub fn run_once(
    loaded: &Loaded,
    now: DateTime<Utc>,
    accepted_by: Option<&str>,
) -> Result<ExitCode, Failure> {
    let loaded = Loaded {
        settings: loaded.settings.clone(),
        wheel: loaded.wheel.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("cannot start the runtime: {e}")))?;
    // The engine may hold an idle SMTP connection, a socket registered with
    // this runtime, so the engine is dropped inside the runtime: locals drop
    // in reverse order, so the engine goes before this guard and the runtime.
    let _inside = runtime.enter();
    let engine = Engine::new(loaded)?;
    let store = Mutex::new(open_store(&engine.settings)?);
    let outcome = runtime.block_on(engine.guarded_pass(&store, now, &|| false, accepted_by))?;
    let report = match outcome {
        Outcome::Passed(report) => report,
        Outcome::Held(brake) => {
            return Err(Failure::runtime(format!(
                "arshjul: tick: held: {brake}; nothing was recorded or sent\n\
                 arshjul: `arshjul tick --dry-run` shows what would go, \
                 `arshjul tick --accept-burst` lets it through"
            )))
        }
    };
    let next = report
        .next_at
        .map(|t| {
            format!(
                "; next at {}",
                local_now(&engine.wheel, t).format("%Y-%m-%d %H:%M")
            )
        })
        .unwrap_or_default();
    eprintln!(
        "arshjul: tick: {} new, {} sent, {} deferred, {} failed{next}",
        report.queued, report.sent, report.deferred, report.failed
    );
    // Exit 1 must explain itself: what deferred and failed mean, and where
    // to read the reasons.
    if report.deferred > 0 {
        let retry = lock(&store)
            .next_retry()
            .ok()
            .flatten()
            .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M")))
            .unwrap_or_default();
        let count =
            crate::cli::output::plural(report.deferred as u64, "message was", "messages were");
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
            crate::cli::output::plural(report.failed as u64, "message was", "messages were"),
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
/// line per message, and whether the brake would hold it. Opens the
/// database only if it exists, builds no transport and no link secret, and
/// records nothing.
pub fn dry_run(loaded: &Loaded, now: DateTime<Utc>) -> Result<ExitCode, Failure> {
    use std::io::Write;
    let wheel = &loaded.wheel;
    let store = if loaded.settings.database.exists() {
        Some(Store::open_with_busy_timeout(
            &loaded.settings.database,
            false,
            loaded.settings.busy_timeout(),
        )?)
    } else {
        None
    };
    let preview = preview(wheel, &loaded.settings, store.as_ref(), now, true)?;
    let pending = match &store {
        Some(s) => s.deliverable(local_now(wheel, now))?.len(),
        None => 0,
    };
    // Requests for a fresh link the pass would answer with a message: those
    // whose task and person are still in the wheel and whose period is not
    // done (the others are answered with nothing sent).
    let mut links = Vec::new();
    if let Some(s) = &store {
        for r in s.open_link_requests()? {
            if wheel.task(&r.task).is_some()
                && wheel.person(&r.person).is_some()
                && s.completion(&r.task, &r.period)?.is_none()
            {
                links.push(r);
            }
        }
    }
    let local = local_now(wheel, now);
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
        let count = preview.send.len() + links.len();
        let messages = if count == 1 { "message" } else { "messages" };
        write!(out, "{count} {messages} would be recorded and sent now")?;
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

pub fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    if let Some(dir) = settings
        .database
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            reason: format!("cannot create the database directory: {e}"),
        })?;
    }
    Store::open_with_busy_timeout(&settings.database, true, settings.busy_timeout())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A notification about the shipped wheel's policy-review 2027 (due
    /// 1 March, last escalation 30 days after) for a message on `day`.
    fn policy_review(kind: Kind, day: NaiveDate) -> Notification {
        Notification {
            key: format!("policy-review/2027/{}/1/digitalisering", kind.as_str()),
            task: "policy-review".into(),
            period: "2027".into(),
            due: date(2027, 3, 1),
            kind,
            step: 1,
            date: day,
            at: chrono_tz::Europe::Copenhagen
                .from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap())
                .unwrap(),
            to: "digitalisering".into(),
            cc: Vec::new(),
            on_behalf: None,
            cc_deputies: Vec::new(),
        }
    }

    fn shipped() -> Wheel {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schedule.toml");
        crate::wheel::parse_file(&path).unwrap()
    }

    #[test]
    fn a_link_lasts_link_days_after_its_message_and_never_less_than_after_the_last_escalation() {
        let wheel = shipped();
        // The 29 January reminder: 90 days after the last escalation (31
        // March) is later than 90 days after the message.
        let n = policy_review(Kind::Reminder, date(2027, 1, 29));
        assert_eq!(
            link_expiry_day(&wheel, &n, date(2027, 1, 29), 90),
            date(2027, 6, 29)
        );
        // A repeat on 6 September: 90 days after its own day.
        let n = policy_review(Kind::Repeat, date(2027, 9, 6));
        assert_eq!(
            link_expiry_day(&wheel, &n, date(2027, 9, 6), 90),
            date(2027, 12, 5)
        );
        // Written late (a catch-up pass days after the repeat's day): from
        // the day it is written.
        assert_eq!(
            link_expiry_day(&wheel, &n, date(2027, 9, 9), 90),
            date(2027, 12, 8)
        );
        // A fresh link asked for on 5 July 2027.
        let n = policy_review(Kind::Link, date(2027, 7, 5));
        assert_eq!(
            link_expiry_day(&wheel, &n, date(2027, 7, 5), 90),
            date(2027, 10, 3)
        );
        // No date arithmetic can overflow into a panic.
        let n = policy_review(Kind::Repeat, NaiveDate::MAX);
        assert_eq!(
            link_expiry_day(&wheel, &n, NaiveDate::MAX, u32::MAX),
            NaiveDate::MAX
        );
    }

    #[test]
    fn a_panicking_build_becomes_a_reason() {
        let reason = guarded(|| panic!("header too long")).unwrap_err();
        assert_eq!(reason, "building the message panicked: header too long");
        let reason = guarded(|| panic!("{} bytes", 999)).unwrap_err();
        assert_eq!(reason, "building the message panicked: 999 bytes");
        let reason = guarded(|| Err(Failure::runtime("cannot render x: bad"))).unwrap_err();
        assert_eq!(reason, "cannot render x: bad");
    }
}
