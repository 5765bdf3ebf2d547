//! One pass of the engine, shared by `arshjul tick` and the daemon: plan
//! once, let the brake decide on that plan, bring the database up to date
//! with the wheel (occurrences and the outbox, [`PASS_BATCH`] messages per
//! transaction), then deliver what is pending, read from the outbox a
//! batch at a time, marking each message sent only after the server
//! accepted it. A crash between batches or before delivery leaves messages
//! pending for the next pass, which plans only what is not recorded yet:
//! at-least-once delivery, with duplicates only for a message in flight.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, Utc};

use crate::calendar::local_now;
use crate::calendar::Calendar;
use crate::config::Config;
use crate::link::Secret;
use crate::mail::{BundleSeries, Composer, DeliveryError, Transport, BUNDLE_MAX_PARTS};
use crate::planner::{self, Kind, Notification};
use crate::settings::Settings;
use crate::store::{
    AcceptedBurst, BundlePart, Completion, LinkAnswer, LinkRequest, NewBundle, NewMessage,
    OutboxMessage, PassLock, Store, StoreError, UnbuiltMessage,
};
use crate::wheel::{Days, Wheel};

/// First retry after a temporary failure; doubles per attempt.
const RETRY_FIRST_SECS: i64 = 5 * 60;
/// Retries never wait longer than this.
const RETRY_MAX_SECS: i64 = 6 * 60 * 60;

/// Why a pass could not run, worded for the user. The command line picks
/// the exit code: [`EngineError::Setup`] is bad input (exit 2), the rest
/// are run-time failures (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Settings that cannot work (templates, transport, `max_clock_jump`).
    #[error("{0}")]
    Setup(String),
    /// The link secret, the runtime, a message that cannot be rendered.
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
    /// Each delivery attempt: the message's kind and `"sent"`,
    /// `"deferred"` or `"failed"` (for the daemon's metrics).
    pub deliveries: Vec<(String, &'static str)>,
    /// The brake would have held this pass and `--accept-burst` let it
    /// through (an accepted burst was recorded).
    pub burst_accepted: bool,
}

/// Everything a pass needs besides the database and the clock.
pub struct Engine {
    pub settings: Settings,
    pub wheel: Wheel,
    composer: Composer,
    transport: Transport,
    secret: Secret,
    batch: usize,
}

/// Messages rendered and recorded per transaction, and pending messages
/// read per delivery batch ([`Engine::set_batch`] changes it): about 1 MB
/// of rendered mail at a time.
pub const PASS_BATCH: usize = 500;

impl Engine {
    /// Builds templates, transport and the link secret from settings.
    pub fn new(loaded: Config) -> Result<Engine, EngineError> {
        let Config { settings, wheel } = loaded;
        let composer =
            Composer::new(&settings.mail).map_err(|e| EngineError::Setup(e.to_string()))?;
        let transport =
            Transport::from_settings(&settings).map_err(|e| EngineError::Setup(e.to_string()))?;
        let secret = Secret::load_or_create(&settings.secret_path())
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        Ok(Engine {
            settings,
            wheel,
            composer,
            transport,
            secret,
            batch: PASS_BATCH,
        })
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// How many messages the pass renders and records per transaction, and
    /// how many pending messages delivery reads from the outbox at a time.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Sets [`Engine::batch`] (at least 1). A smaller batch changes only
    /// how many transactions a pass takes, never what it records or sends.
    pub fn set_batch(&mut self, batch: usize) {
        self.batch = batch.max(1);
    }

    /// Records what `plan` planned at `now`: the occurrences, then the
    /// rendered messages, [`Engine::batch`] at a time, each batch in one
    /// transaction, so that memory holds one batch of rendered messages
    /// and never the whole pass. The store is locked per batch. A message's
    /// key is recorded once whatever happens: a pass stopped (or killed)
    /// between batches leaves the batches before it recorded, and the next
    /// pass plans only what is not in the outbox yet. Returns `None` when
    /// `stop` said so between batches. `accepted`: the pass was let
    /// through over `mail.max_per_pass` (`--accept-burst`).
    fn record(
        &self,
        store: &Mutex<Store>,
        now: DateTime<Utc>,
        plan: Plan,
        stop: &Stop<'_>,
        accepted: bool,
    ) -> Result<Option<Report>, EngineError> {
        let wheel = &self.wheel;
        let today = Calendar::new(&wheel.organisation).local_date(&now);
        let local = local_now(wheel.organisation.timezone, now);
        let plan = match plan.pass {
            Some(_) => plan,
            None => self::plan(wheel, &self.settings, Some(&lock(store)), now, true)?,
        };
        let Plan {
            history,
            pass,
            digest,
            mails: planned,
            ..
        } = plan;
        let pass = pass.unwrap_or_default();
        // The mails the brake let through; a bundle that cannot be built
        // sends its parts one by one only while they stay within
        // `mail.max_per_pass` (or the pass was accepted as a burst).
        let cap = self.settings.mail.max_per_pass as usize;
        let mut spare = if accepted {
            usize::MAX
        } else {
            cap.saturating_sub(planned)
        };
        lock(store).sync_tasks(wheel, today)?;
        for occurrences in pass.occurrences.chunks(self.batch) {
            lock(store).record_pass(occurrences, &[], local)?;
        }
        let (mut queued, mut failed) = (0, 0);
        let units = if self.settings.mail.bundle {
            bundle_units(pass.send)
        } else {
            pass.send
                .into_iter()
                .map(|n| Unit::Single(Box::new(n)))
                .collect()
        };
        for batch in units.chunks(self.batch) {
            if stop() {
                tracing::info!(
                    queued,
                    "stopping between batches; the next pass records the rest"
                );
                return Ok(None);
            }
            // Escalations carry their addressee's overview link, made with
            // the viewer's current version.
            let overviews = {
                let s = lock(store);
                batch
                    .iter()
                    .map(|u| {
                        u.parts()
                            .iter()
                            .map(|n| self.overview_link(&s, n))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?
            };
            let mut messages = Vec::with_capacity(batch.len());
            let mut unbuilt = Vec::new();
            let mut bundles = Vec::new();
            let mut singles = Vec::new();
            for (unit, overviews) in batch.iter().zip(&overviews) {
                match unit {
                    Unit::Single(n) => singles.push((&**n, overviews[0].clone())),
                    Unit::Bundle(parts, series) => {
                        match self.render_bundle(parts, overviews, *series, today) {
                            Ok(b) => bundles.push(b),
                            Err(reason) if parts.len() - 1 <= spare => {
                                // A bundle that cannot be built must not lose
                                // its parts: they go on their own, so the one
                                // that cannot be built is recorded failed and
                                // the others are sent.
                                spare -= parts.len() - 1;
                                tracing::warn!(person = %parts[0].to, parts = parts.len(), "bundle not built, its messages go one by one: {reason}");
                                singles.extend(parts.iter().zip(overviews.iter().cloned()));
                            }
                            Err(reason) => {
                                // On their own they would be more mails
                                // than the brake let through: recorded
                                // failed, with the reason, for `status`.
                                let why = format!(
                                    "its bundle could not be built ({reason}), and its {} messages on their own would be more than mail.max_per_pass {cap}",
                                    parts.len()
                                );
                                tracing::error!(person = %parts[0].to, parts = parts.len(), "bundle not built, its messages recorded as failed: {why}");
                                unbuilt.extend(parts.iter().map(|n| self.unbuilt(n, why.clone())));
                            }
                        }
                    }
                }
            }
            for (n, overview) in singles {
                // One message that cannot be built must not stop the others:
                // it is recorded failed, with its reason, for `status`.
                match guarded(|| self.render_with(n, today, overview.as_deref())) {
                    Ok(m) => messages.push(m),
                    Err(reason) => {
                        tracing::error!(task = %n.task, period = %n.period, kind = %n.kind.as_str(), "message not built, recorded as failed: {reason}");
                        unbuilt.push(self.unbuilt(n, reason));
                    }
                }
            }
            failed += unbuilt.len();
            queued += lock(store).record_pass_with_unbuilt(&[], &messages, &unbuilt, local)?;
            if !bundles.is_empty() {
                queued += lock(store).record_bundles(&bundles, local)?;
            }
        }
        // The weekly digest: one more message, built from the store (the
        // completions of the week before) after the pass's batches.
        if let Some(n) = digest {
            let mut s = lock(store);
            let (mut messages, mut unbuilt) = (Vec::new(), Vec::new());
            match guarded(|| self.render_digest(&s, &n, now, today)) {
                Ok(m) => messages.push(m),
                Err(reason) => {
                    tracing::error!(kind = "digest", period = %n.period, "digest not built, recorded as failed: {reason}");
                    unbuilt.push(self.unbuilt(&n, reason));
                }
            }
            failed += unbuilt.len();
            queued += s.record_pass_with_unbuilt(&[], &messages, &unbuilt, local)?;
        }
        let (link_queued, link_unbuilt) =
            self.answer_link_requests(&mut lock(store), now, today)?;
        queued += link_queued;
        let overdue = planner::status(wheel, &history, now)
            .iter()
            .filter(|r| r.state == planner::State::Overdue)
            .count();
        Ok(Some(Report {
            queued,
            failed: failed + link_unbuilt,
            next_at: pass.next_at,
            overdue,
            ..Report::default()
        }))
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
    ) -> Result<(usize, usize), EngineError> {
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
                        tracing::error!(task = %r.task, period = %r.period, kind = "link", "new link not built, recorded as failed: {reason}");
                        LinkAnswer::Unbuilt(Box::new(self.unbuilt(&n, reason)))
                    }
                }
            };
            if store.answer_link_request(
                r.id,
                &answer,
                local_now(self.wheel.organisation.timezone, now),
            )? {
                match answer {
                    LinkAnswer::Queued(_) => {
                        tracing::info!(task = %r.task, period = %r.period, kind = "link", person = %r.person, "new link queued on request");
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

    /// The weekly digest `n` for the coordinator: overdue now, due in the
    /// next 30 days, done in the ISO week before the digest's, with the
    /// coordinator's overview link.
    fn render_digest(
        &self,
        store: &Store,
        n: &Notification,
        now: DateTime<Utc>,
        today: chrono::NaiveDate,
    ) -> Result<NewMessage, EngineError> {
        let digest = digest_content(store, &self.wheel, n, now, today)?;
        let overview = self.overview_url(store, &n.to)?;
        let composed = self
            .composer
            .compose_digest(&self.wheel, n, &digest, Some(&overview))
            .map_err(|e| EngineError::Runtime(format!("cannot render {}: {e}", n.key)))?;
        Ok(new_message(n, composed))
    }

    /// The overview link an escalation carries (see
    /// [`planner::overview_reader`]), made with the addressee's current
    /// overview version; `None` for other messages.
    fn overview_link(
        &self,
        store: &Store,
        n: &Notification,
    ) -> Result<Option<String>, EngineError> {
        let Some(person) = planner::overview_reader(&self.wheel, n) else {
            return Ok(None);
        };
        self.overview_url(store, person).map(Some)
    }

    /// `person`'s overview link, made with their current overview version
    /// (a revoked one is never handed out again) and bound to their
    /// mailbox in the wheel now.
    fn overview_url(&self, store: &Store, person: &str) -> Result<String, EngineError> {
        use crate::link::{Viewer, ViewerClaims, ViewerKind};
        let viewer = Viewer::Person(person.to_string());
        let version = store.viewer_version(ViewerKind::Overview.as_str(), &viewer.as_key())?;
        let claims = ViewerClaims::current(&self.wheel, ViewerKind::Overview, viewer, version)
            .ok_or_else(|| {
                EngineError::Runtime(format!(
                    "no person {person} in the wheel for an overview link"
                ))
            })?;
        Ok(crate::link::viewer_url(
            &self.settings.public_url,
            &self.secret,
            &claims,
        ))
    }

    fn render(
        &self,
        n: &Notification,
        today: chrono::NaiveDate,
    ) -> Result<NewMessage, EngineError> {
        self.render_with(n, today, None)
    }

    /// [`Engine::render`], an escalation carrying `overview` (the
    /// addressee's overview link) when given.
    fn render_with(
        &self,
        n: &Notification,
        today: chrono::NaiveDate,
        overview: Option<&str>,
    ) -> Result<NewMessage, EngineError> {
        let link = match n.kind {
            Kind::Reminder | Kind::Repeat | Kind::Link => Some(self.link(n, today)),
            Kind::Escalation => overview.map(str::to_string),
            _ => None,
        };
        let composed = self
            .composer
            .compose(&self.wheel, n, link.as_deref(), today)
            .map_err(|e| EngineError::Runtime(format!("cannot render {}: {e}", n.key)))?;
        Ok(new_message(n, composed))
    }

    /// The bundle of `parts` (see [`bundle_units`]), each with its link:
    /// the completion link, or on an escalation the overview link in
    /// `overviews`. Its key names the day it is sent (`today`, the local
    /// day of the pass), the addressee and the SHA-256 of the part keys.
    fn render_bundle(
        &self,
        parts: &[Notification],
        overviews: &[Option<String>],
        series: BundleSeries,
        today: chrono::NaiveDate,
    ) -> Result<NewBundle, String> {
        let first = parts.first().ok_or("a bundle without parts")?;
        let mut keys: Vec<&str> = parts.iter().map(|n| n.key.as_str()).collect();
        keys.sort_unstable();
        let hash = crate::store::sha256_hex(keys.join("\n").as_bytes());
        let key = format!("bundle/{today}/{}/{}", first.to, &hash[..32]);
        let links: Vec<Option<String>> = parts
            .iter()
            .zip(overviews)
            .map(|(n, overview)| match n.kind {
                Kind::Escalation => overview.clone(),
                _ => Some(self.link(n, today)),
            })
            .collect();
        let with_links: Vec<(&Notification, Option<&str>)> = parts
            .iter()
            .zip(&links)
            .map(|(n, l)| (n, l.as_deref()))
            .collect();
        let composed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.composer
                .compose_bundle(&self.wheel, &key, &with_links, series, today)
        }))
        .map_err(|_| "building the bundle panicked".to_string())?
        .map_err(|e| e.to_string())?;
        let due_at = parts
            .iter()
            .map(|n| n.at.fixed_offset())
            .min()
            .unwrap_or(first.at.fixed_offset());
        Ok(NewBundle {
            message: NewMessage {
                key,
                task: first.task.clone(),
                period: first.period.clone(),
                kind: "bundle".to_string(),
                step: 0,
                to: composed.to,
                cc: composed.cc,
                subject: composed.subject,
                message_id: composed.message_id,
                raw: composed.raw,
                due_at,
            },
            parts: parts
                .iter()
                .map(|n| BundlePart {
                    key: n.key.clone(),
                    task: n.task.clone(),
                    period: n.period.clone(),
                    kind: n.kind.as_str().to_string(),
                    step: n.step,
                })
                .collect(),
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
        crate::link::for_notification(
            &self.settings.public_url,
            &self.secret,
            &self.wheel,
            n,
            today,
            self.settings.link_days,
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
    ) -> Result<Report, EngineError> {
        let started = std::time::Instant::now();
        let local = local_now(self.wheel.organisation.timezone, now);
        let mut report = Report::default();
        // Pending messages are read `batch` at a time in delivery order
        // (due time, then id), each read starting after the last message of
        // the one before: memory holds one batch of raw messages, and a
        // message deferred in this pass is not read again.
        let mut after = None;
        loop {
            let (pending, next) =
                lock(store).deliverable_batch(local, after.as_ref(), self.batch)?;
            if pending.is_empty() {
                break;
            }
            after = next;
            if self
                .deliver_batch(store, pending, local, started, stop, &mut report)
                .await?
            {
                break;
            }
        }
        Ok(report)
    }

    /// Delivers `pending` in order; true when `stop` ended the pass.
    async fn deliver_batch(
        &self,
        store: &Mutex<Store>,
        pending: Vec<OutboxMessage>,
        local: DateTime<FixedOffset>,
        started: std::time::Instant,
        stop: &Stop<'_>,
        report: &mut Report,
    ) -> Result<bool, EngineError> {
        for m in pending {
            // Let signal handlers and the listener run between messages,
            // whatever the transport does.
            tokio::task::yield_now().await;
            if stop() {
                tracing::info!("stopping with messages still pending; the next pass sends them");
                return Ok(true);
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
                    tracing::info!(task = %m.task, period = %m.period, kind = %m.kind, recipients = rcpt.len(), to = %m.to.join(","), "sent");
                    self.log_parts(store, &m, "sent")?;
                    report.sent += 1;
                    report.deliveries.push((m.kind.clone(), "sent"));
                }
                Err(DeliveryError::Permanent(reason)) => {
                    lock(store).mark_failed(m.id, &reason, true, local)?;
                    tracing::error!(task = %m.task, period = %m.period, kind = %m.kind, recipients = rcpt.len(), to = %rcpt.join(","), "delivery failed for good: {reason}");
                    self.log_parts(store, &m, "failed for good")?;
                    report.failed += 1;
                    report.deliveries.push((m.kind.clone(), "failed"));
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
                    tracing::warn!(task = %m.task, period = %m.period, kind = %m.kind, recipients = rcpt.len(), to = %rcpt.join(","), "delivery deferred until {}: {reason}", retry.format("%Y-%m-%d %H:%M"));
                    self.log_parts(store, &m, "deferred")?;
                    report.deferred += 1;
                    report.deliveries.push((m.kind.clone(), "deferred"));
                }
            }
        }
        Ok(false)
    }
}

impl Engine {
    /// For a bundle, one log line per part with the part's own task,
    /// period and kind (journal fields `TASK`, `PERIOD`, `KIND`), so that
    /// the journal of one task shows its message also when it went in a
    /// bundle. `what` is `sent`, `deferred` or `failed for good`.
    fn log_parts(
        &self,
        store: &Mutex<Store>,
        m: &OutboxMessage,
        what: &str,
    ) -> Result<(), EngineError> {
        if m.kind != "bundle" {
            return Ok(());
        }
        for p in lock(store).bundle_parts(m.id)? {
            tracing::info!(task = %p.task, period = %p.period, kind = %p.kind, bundle = m.id, to = %m.to.join(","), "{what} in a bundle");
        }
        Ok(())
    }
}

/// What the pass records as one outbox row: a message on its own, or a
/// bundle of several (`mail.bundle`).
#[derive(Debug)]
enum Unit {
    Single(Box<Notification>),
    /// A bundle's parts, and where it stands among the recipient set's
    /// bundles of the day.
    Bundle(Vec<Notification>, BundleSeries),
}

impl Unit {
    fn parts(&self) -> &[Notification] {
        match self {
            Unit::Single(n) => std::slice::from_ref(&**n),
            Unit::Bundle(parts, _) => parts,
        }
    }
}

/// How many bundles a group of `n` bundled notifications goes in: one,
/// or more when `n` is over [`BUNDLE_MAX_PARTS`].
fn bundles_for(n: usize) -> usize {
    n.div_ceil(BUNDLE_MAX_PARTS)
}

/// Whether `n` may go in a bundle: a reminder, repeat or escalation not
/// sent by a deputy (a deputy's message says whom they stand in for).
fn bundleable(n: &Notification) -> bool {
    matches!(n.kind, Kind::Reminder | Kind::Repeat | Kind::Escalation) && n.on_behalf.is_none()
}

/// The bundle `n` belongs to: its To and its Cc. A pass sends on one
/// local day (the Copenhagen day of `now`, whatever the UTC date), so a
/// pass's bundles are that day's, also for messages a pass after
/// downtime sends late (planned for a day before): one mail, not one per
/// planned day.
type Group = (String, Vec<String>);

fn group(n: &Notification) -> Group {
    (n.to.clone(), n.cc.clone())
}

/// How many bundleable notifications each group has.
fn group_sizes(send: &[Notification]) -> HashMap<Group, usize> {
    let mut sizes: HashMap<Group, usize> = HashMap::new();
    for n in send.iter().filter(|n| bundleable(n)) {
        *sizes.entry(group(n)).or_default() += 1;
    }
    sizes
}

/// How many mails `send` leaves as: one per notification, or with
/// `bundle` one per bundle ([`bundle_units`]) and one per message on its
/// own. What the brake counts.
pub fn mail_count(send: &[Notification], bundle: bool) -> usize {
    if !bundle {
        return send.len();
    }
    let sizes = group_sizes(send);
    let bundled: usize = sizes.values().filter(|&&n| n >= 2).sum();
    let bundles: usize = sizes
        .values()
        .filter(|&&n| n >= 2)
        .map(|&n| bundles_for(n))
        .sum();
    send.len() - bundled + bundles
}

/// Groups the pass's notifications for `mail.bundle`: reminders, repeats
/// and escalations to the same To and Cc (sent the same local day: the
/// pass's), two or more, become one bundle, in the order of their first part; everything
/// else stays on its own, in order. A deputy's message (`on_behalf`) stays
/// on its own: it says whom the deputy stands in for. A group of more than
/// [`BUNDLE_MAX_PARTS`] goes in as few bundles as keep each within it, of
/// about equal size (30 tasks: two of 15, never 25 and a bundle of 5),
/// each listing its place in the series.
fn bundle_units(send: Vec<Notification>) -> Vec<Unit> {
    let sizes = group_sizes(&send);
    let mut units: Vec<Unit> = Vec::with_capacity(send.len());
    let mut at: HashMap<Group, usize> = HashMap::new();
    for n in send {
        let g = group(&n);
        if !bundleable(&n) || sizes.get(&g).copied().unwrap_or(0) < 2 {
            units.push(Unit::Single(Box::new(n)));
            continue;
        }
        match at.get(&g) {
            Some(&i) => {
                if let Unit::Bundle(parts, _) = &mut units[i] {
                    parts.push(n);
                }
            }
            None => {
                at.insert(g, units.len());
                units.push(Unit::Bundle(vec![n], BundleSeries::one(0)));
            }
        }
    }
    // Split the groups over the limit, in place, keeping the order.
    let mut out = Vec::with_capacity(units.len());
    for unit in units {
        let Unit::Bundle(parts, _) = unit else {
            out.push(unit);
            continue;
        };
        let total = parts.len();
        let of = bundles_for(total);
        let mut rest = parts.into_iter();
        let mut offset = 0;
        for number in 1..=of {
            // The first `total % of` bundles take one more.
            let size = total / of + usize::from(number <= total % of);
            let chunk: Vec<Notification> = rest.by_ref().take(size).collect();
            out.push(Unit::Bundle(
                chunk,
                BundleSeries {
                    number,
                    of,
                    total,
                    offset,
                },
            ));
            offset += size;
        }
    }
    out
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
    /// The pass would send more than `mail.max_per_pass` mails: `mails`
    /// mails carrying `messages` messages (fewer mails than messages when
    /// `mail.bundle` joins a person's messages of a day).
    Burst {
        messages: usize,
        mails: usize,
        cap: u32,
    },
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
            Brake::Burst {
                messages,
                mails,
                cap,
            } if mails == messages => write!(
                f,
                "one pass would queue {messages} messages, more than mail.max_per_pass {cap}"
            ),
            Brake::Burst {
                messages,
                mails,
                cap,
            } => write!(
                f,
                "one pass would send {mails} mails ({messages} messages), more than mail.max_per_pass {cap}"
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
    /// How many mails `send` leaves as ([`mail_count`]).
    pub mails: usize,
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
) -> Result<Preview, EngineError> {
    let plan = plan(wheel, settings, store, now, plan_on_jump)?;
    let mut send = plan.pass.map(|p| p.send).unwrap_or_default();
    send.extend(plan.digest);
    Ok(Preview {
        send,
        mails: plan.mails,
        brake: plan.brake,
    })
}

/// A pass planned once, before anything is recorded: the history it was
/// planned from, the pass (`None` when a clock jump skipped planning) and
/// the brake's verdict on it. The pass holds notifications, not rendered
/// messages; the engine renders and records them in batches.
#[derive(Debug, Default)]
struct Plan {
    history: planner::History,
    pass: Option<planner::Pass>,
    /// The weekly digest due at `now`, if its week is not in the outbox.
    digest: Option<Notification>,
    /// The mails `pass` and `digest` leave as ([`mail_count`]): what the
    /// brake counts, and what a pass let through may send.
    mails: usize,
    brake: Option<Brake>,
}

/// Plans the pass at `now` from the database as it is, without writing
/// (see [`preview`]), and decides the brake from the plan's count.
fn plan(
    wheel: &Wheel,
    settings: &Settings,
    store: Option<&Store>,
    now: DateTime<Utc>,
    plan_on_jump: bool,
) -> Result<Plan, EngineError> {
    let limit = settings.max_clock_jump().map_err(EngineError::Setup)?;
    let local = local_now(wheel.organisation.timezone, now);
    let state = match store {
        Some(s) => s.engine_state()?,
        None => Default::default(),
    };
    let jump = clock_jump(state.last_pass, local, limit);
    if jump.is_some() && !plan_on_jump {
        return Ok(Plan {
            brake: jump,
            ..Plan::default()
        });
    }
    let today = Calendar::new(&wheel.organisation).local_date(&now);
    let mut history = match store {
        Some(s) => history_at(s, wheel, now)?,
        None => Default::default(),
    };
    for task in &wheel.tasks {
        let h = history.tasks.entry(task.id.clone()).or_default();
        h.first_seen.get_or_insert(today);
    }
    let pass = planner::pass(wheel, &history, now);
    // The weekly digest, which the pass adds after its batches.
    let digest = match store {
        Some(s) => digest_due(s, wheel, now)?,
        None => planner::digest_at(wheel, now),
    };
    // The brake counts mails, what recipients get: with `mail.bundle`, a
    // person's messages of a day are one mail.
    let messages = pass.send.len() + usize::from(digest.is_some());
    let mails = mail_count(&pass.send, settings.mail.bundle) + usize::from(digest.is_some());
    let cap = settings.mail.max_per_pass;
    let burst = (mails > cap as usize).then_some(Brake::Burst {
        messages,
        mails,
        cap,
    });
    Ok(Plan {
        history,
        pass: Some(pass),
        digest,
        mails,
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
    ) -> Result<Outcome, EngineError> {
        let local = local_now(self.wheel.organisation.timezone, now);
        // One pass at a time on the database (`tick` while the daemon
        // passes): two would both deliver the same pending message.
        let Some(_pass) = self.wait_for_pass_lock(stop).await? else {
            return Ok(Outcome::Passed(Report::default()));
        };
        // Planned once: the brake decides on this plan, and the same plan
        // is what gets recorded.
        let plan = {
            let store = lock(store);
            plan(
                &self.wheel,
                &self.settings,
                Some(&store),
                now,
                accepted_by.is_some(),
            )?
        };
        let brake = plan.brake.clone();
        if let (Some(brake), None) = (&brake, accepted_by) {
            lock(store).record_hold(local, &brake.to_string())?;
            return Ok(Outcome::Held(brake.clone()));
        }
        let Some(recorded) = self.record(store, now, plan, stop, accepted_by.is_some())? else {
            return Ok(Outcome::Passed(Report::default()));
        };
        lock(store).record_pass_time(local)?;
        let burst_accepted = brake.is_some() && accepted_by.is_some();
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
            burst_accepted,
            ..delivered
        }))
    }
}

impl Engine {
    /// The database's pass lock ([`PassLock`]), once no other process's
    /// pass holds it; `None` when `stop` came first. Checked every 100 ms.
    async fn wait_for_pass_lock(&self, stop: &Stop<'_>) -> Result<Option<PassLock>, EngineError> {
        let mut told = false;
        loop {
            if let Some(held) = PassLock::try_acquire(&self.settings.database)? {
                return Ok(Some(held));
            }
            if stop() {
                return Ok(None);
            }
            if !told {
                tracing::info!("another pass on this database is running (the daemon or a tick); waiting for it to end");
                told = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Runs `build`, turning an error or a panic into the reason it failed, so
/// that the last line of defence holds even where validation missed a case.
fn guarded(build: impl FnOnce() -> Result<NewMessage, EngineError>) -> Result<NewMessage, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(failure)) => Err(failure.to_string()),
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

/// What `arshjul tick` did: the pass under the brake and, when something
/// was deferred, when the next attempt is due.
#[derive(Debug)]
pub struct OnePass {
    pub outcome: Outcome,
    /// The earliest retry of a deferred message, local time.
    pub next_retry: Option<DateTime<FixedOffset>>,
}

/// `arshjul tick`: one pass under the brake, on a runtime of its own;
/// `accepted_by` lets a held pass through (`--accept-burst`).
pub fn run_once(
    config: &Config,
    now: DateTime<Utc>,
    accepted_by: Option<&str>,
) -> Result<OnePass, EngineError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::Runtime(format!("cannot start the runtime: {e}")))?;
    // The engine may hold an idle SMTP connection, a socket registered with
    // this runtime, so the engine is dropped inside the runtime: locals drop
    // in reverse order, so the engine goes before this guard and the runtime.
    let _inside = runtime.enter();
    let engine = Engine::new(config.clone())?;
    let store = Mutex::new(open_store(&engine.settings)?);
    let outcome = runtime.block_on(engine.guarded_pass(&store, now, &|| false, accepted_by))?;
    let deferred = matches!(&outcome, Outcome::Passed(r) if r.deferred > 0);
    let next_retry = if deferred {
        lock(&store).next_retry().ok().flatten()
    } else {
        None
    };
    Ok(OnePass {
        outcome,
        next_retry,
    })
}

/// What `arshjul tick --dry-run` shows: the preview of a pass at `now` and
/// how many messages are already pending.
#[derive(Debug)]
pub struct DryRun {
    pub preview: Preview,
    pub pending: usize,
    /// Requests for a fresh link the pass would answer with a message.
    pub links: Vec<LinkRequest>,
}

/// `arshjul tick --dry-run`: what a pass would record and send now, and
/// whether the brake would hold it. Opens the database only if it exists,
/// builds no transport and no link secret, and records nothing.
pub fn dry_run(config: &Config, now: DateTime<Utc>) -> Result<DryRun, EngineError> {
    let wheel = &config.wheel;
    let store = if config.settings.database.exists() {
        Some(Store::open_with_busy_timeout(
            &config.settings.database,
            false,
            config.settings.busy_timeout(),
        )?)
    } else {
        None
    };
    let preview = preview(wheel, &config.settings, store.as_ref(), now, true)?;
    let pending = match &store {
        Some(s) => s.deliverable_count(local_now(wheel.organisation.timezone, now))?,
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
    Ok(DryRun {
        preview,
        pending,
        links,
    })
}

/// The outbox row of the notification `n`, composed as `composed`.
fn new_message(n: &Notification, composed: crate::mail::Composed) -> NewMessage {
    NewMessage {
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
    }
}

/// The weekly digest due at `now` ([`planner::digest_at`]) unless its
/// week's row is in the outbox already (`None` without a store: then
/// nothing was sent).
fn digest_due(
    store: &Store,
    wheel: &Wheel,
    now: DateTime<Utc>,
) -> Result<Option<Notification>, StoreError> {
    match planner::digest_at(wheel, now) {
        Some(n) if !store.has_message(&n.key)? => Ok(Some(n)),
        _ => Ok(None),
    }
}

/// What the digest `n` lists, read from the store at `now`.
fn digest_content(
    store: &Store,
    wheel: &Wheel,
    n: &Notification,
    now: DateTime<Utc>,
    today: chrono::NaiveDate,
) -> Result<crate::mail::Digest, StoreError> {
    use crate::mail::{DigestDone, DigestLine};
    let owners = |task: &crate::wheel::Task| {
        task.owners
            .iter()
            .map(|k| wheel.person(k).map_or(k.as_str(), |p| p.name.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let to = today + chrono::Duration::days(30);
    // Overdue: every occurrence not done whose due date has passed, from
    // the organisation's start (or a year back) on.
    let from = wheel
        .organisation
        .start
        .unwrap_or(today - chrono::Duration::days(366))
        .max(today - chrono::Duration::days(366 * 5));
    let history = store.history_at(wheel, now, |h| {
        planner::periods_between(wheel, h, now, from, to)
    })?;
    let marks = planner::marks(wheel, &history, now, from, to);
    let line = |m: &planner::Mark| {
        let task = wheel.task(&m.task)?;
        Some(DigestLine {
            title: task.title.clone(),
            period: m.period.clone(),
            due: m.due,
            owner: owners(task),
            days: (today - m.due).num_days().max(0),
        })
    };
    let overdue = marks
        .iter()
        .filter(|m| m.state == planner::MarkState::Overdue)
        .filter_map(line)
        .collect();
    let upcoming = marks
        .iter()
        .filter(|m| m.due >= today && m.state != planner::MarkState::Done)
        .filter_map(line)
        .collect();
    // Done last week: the ISO week before the digest's (Monday to Sunday).
    use chrono::Datelike;
    let monday = n.due - chrono::Duration::days(i64::from(n.due.weekday().num_days_from_monday()));
    let (first, last) = (
        monday - chrono::Duration::days(7),
        monday - chrono::Duration::days(1),
    );
    let tz = wheel.organisation.timezone;
    // Completions that still count (a retracted one was not done), read
    // from a day before the week on (no offset is wider than a day).
    let since = (first - chrono::Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .map_or(now, |t| t.and_utc());
    let mut done: Vec<DigestDone> = store
        .standing_completions_since(since)?
        .into_iter()
        .filter_map(|c| {
            let on = c.at.with_timezone(&tz).date_naive();
            let task = wheel.task(&c.task)?;
            (on >= first && on <= last).then(|| DigestDone {
                title: task.title.clone(),
                period: c.period.clone(),
                on,
                by: wheel
                    .people
                    .values()
                    .find(|p| p.email.eq_ignore_ascii_case(&c.by) || p.key == c.by)
                    .map_or_else(|| c.by.clone(), |p| p.name.clone()),
            })
        })
        .collect();
    done.sort_by(|a, b| a.on.cmp(&b.on).then_with(|| a.title.cmp(&b.title)));
    Ok(crate::mail::Digest {
        overdue,
        upcoming,
        done,
        today,
    })
}

/// What the planner needs at `now`, read from the store for the periods
/// the planner has in view ([`planner::periods_in_view`]).
pub fn history_at(
    store: &Store,
    wheel: &Wheel,
    now: DateTime<Utc>,
) -> Result<planner::History, StoreError> {
    store.history_at(wheel, now, |h| planner::periods_in_view(wheel, h, now))
}

/// [`history_at`] and each task's latest completion in full (for `status`).
pub fn history_and_latest_at(
    store: &Store,
    wheel: &Wheel,
    now: DateTime<Utc>,
) -> Result<(planner::History, HashMap<String, Completion>), StoreError> {
    store.history_and_latest_at(wheel, now, |h| planner::periods_in_view(wheel, h, now))
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

    /// `n` reminders to Anna on 22 February 2027.
    fn reminders(n: usize) -> Vec<Notification> {
        let day = chrono::NaiveDate::from_ymd_opt(2027, 2, 22).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2027-02-22T08:00:00+01:00").unwrap();
        (0..n)
            .map(|i| Notification {
                key: format!("t-{i:03}/2027/reminder/0/anna"),
                task: format!("t-{i:03}"),
                period: "2027".into(),
                due: chrono::NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
                kind: Kind::Reminder,
                step: 0,
                date: day,
                at: at.with_timezone(&chrono_tz::Europe::Copenhagen),
                to: "anna".into(),
                cc: Vec::new(),
                on_behalf: None,
                cc_deputies: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn a_day_over_the_limit_goes_in_bundles_of_about_equal_size_in_order() {
        for (n, sizes) in [
            (1, vec![]),
            (2, vec![2]),
            (25, vec![25]),
            (26, vec![13, 13]),
            (30, vec![15, 15]),
            (51, vec![17, 17, 17]),
            (52, vec![18, 17, 17]),
            (300, vec![25; 12]),
        ] {
            let units = bundle_units(reminders(n));
            let got: Vec<usize> = units
                .iter()
                .filter_map(|u| match u {
                    Unit::Bundle(parts, _) => Some(parts.len()),
                    Unit::Single(_) => None,
                })
                .collect();
            assert_eq!(got, sizes, "{n} reminders");
            assert_eq!(mail_count(&reminders(n), true), units.len(), "{n}");
            assert_eq!(mail_count(&reminders(n), false), n);
            // Every part once, in the order planned; the series numbered.
            let keys: Vec<&str> = units
                .iter()
                .flat_map(|u| u.parts())
                .map(|p| p.key.as_str())
                .collect();
            let want = reminders(n);
            let want: Vec<&str> = want.iter().map(|p| p.key.as_str()).collect();
            assert_eq!(keys, want);
            let mut offset = 0;
            for (i, u) in units.iter().enumerate() {
                if let Unit::Bundle(parts, series) = u {
                    assert_eq!(
                        *series,
                        BundleSeries {
                            number: i + 1,
                            of: sizes.len(),
                            total: n,
                            offset
                        }
                    );
                    offset += parts.len();
                }
            }
        }
    }
    #[test]
    fn a_panicking_build_becomes_a_reason() {
        let reason = guarded(|| panic!("header too long")).unwrap_err();
        assert_eq!(reason, "building the message panicked: header too long");
        let reason = guarded(|| panic!("{} bytes", 999)).unwrap_err();
        assert_eq!(reason, "building the message panicked: 999 bytes");
        let reason =
            guarded(|| Err(EngineError::Runtime("cannot render x: bad".into()))).unwrap_err();
        assert_eq!(reason, "cannot render x: bad");
    }
}
