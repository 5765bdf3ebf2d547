//! One pass of the engine, shared by `arshjul tick` and the daemon: bring
//! the database up to date with the wheel (occurrences and the outbox, in
//! one transaction), then deliver what is pending, marking each message
//! sent only after the server accepted it. A crash between the two leaves
//! messages pending for the next pass: at-least-once delivery, with
//! duplicates only for a message in flight.

use std::process::ExitCode;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::calendar::Calendar;
use crate::cli::{local_now, Failure, Loaded};
use crate::mail::{Composer, DeliveryError, Transport};
use crate::planner::{self, Kind, Notification};
use crate::settings::Settings;
use crate::store::{NewMessage, Store, StoreError, UnbuiltMessage};
use crate::web::token::Secret;
use crate::wheel::Wheel;

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
        let password = match settings.smtp_password_path() {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map(|p| p.trim_end_matches(['\r', '\n']).to_string())
                    .map_err(|e| {
                        Failure::usage(format!(
                            "{}: cannot read the SMTP password: {e}",
                            path.display()
                        ))
                    })?,
            ),
            None => None,
        };
        let transport =
            Transport::new(&settings.mail, password).map_err(|e| Failure::usage(e.to_string()))?;
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
        let queued = store.record_pass_with_unbuilt(
            &pass.occurrences,
            &messages,
            &unbuilt,
            local_now(wheel, now),
        )?;
        let overdue = planner::status(wheel, &history, now)
            .iter()
            .filter(|r| r.state == planner::State::Overdue)
            .count();
        Ok(Report {
            queued,
            failed: unbuilt.len(),
            next_at: pass.next_at,
            overdue,
            ..Report::default()
        })
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
            Kind::Reminder | Kind::Repeat => Some(self.link(n)),
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

    /// The completion link for the owner a notification is addressed to.
    /// It stays valid `link_days` after the occurrence's last escalation.
    fn link(&self, n: &Notification) -> String {
        let last_step = self
            .wheel
            .task(&n.task)
            .and_then(|t| t.escalate.last().map(|e| i64::from(e.after.0)))
            .unwrap_or(0);
        let expires_day =
            n.due + chrono::Duration::days(last_step + i64::from(self.settings.link_days));
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
                Err(DeliveryError::Temporary(reason)) => {
                    let wait = (RETRY_FIRST_SECS << m.attempts.min(12)).min(RETRY_MAX_SECS);
                    let retry = local + chrono::Duration::seconds(wait);
                    lock(store).mark_failed(m.id, &reason, false, retry)?;
                    tracing::warn!(task = %m.task, period = %m.period, to = %rcpt.join(","), "delivery deferred until {}: {reason}", retry.format("%Y-%m-%d %H:%M"));
                    report.deferred += 1;
                }
            }
        }
        Ok(report)
    }

    /// A whole pass: record, then deliver.
    pub async fn pass(
        &self,
        store: &Mutex<Store>,
        now: DateTime<Utc>,
        stop: &Stop<'_>,
    ) -> Result<Report, Failure> {
        let recorded = self.record(store, now)?;
        let delivered = self.deliver(store, now, stop).await?;
        Ok(Report {
            queued: recorded.queued,
            next_at: recorded.next_at,
            overdue: recorded.overdue,
            failed: recorded.failed + delivered.failed,
            ..delivered
        })
    }
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

/// `arshjul tick`.
pub fn run_once(loaded: &Loaded, now: DateTime<Utc>) -> Result<ExitCode, Failure> {
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
    let report = runtime.block_on(engine.pass(&store, now, &|| false))?;
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
    if report.deferred + report.failed > 0 {
        Ok(ExitCode::from(1))
    } else {
        Ok(ExitCode::SUCCESS)
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
    Store::open(&settings.database, true)
}

#[cfg(test)]
mod tests {
    use super::*;

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
