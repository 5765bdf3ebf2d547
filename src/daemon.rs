//! The daemon, `arshjul run`: the scheduler loop and the HTTP listener in
//! one tokio process, signals, and the systemd notify protocol. The only
//! module that sleeps. It reads the wall clock afresh on every wake-up and
//! never sleeps longer than a minute, because tokio's timers are monotonic:
//! a suspended machine or a stepped clock must not delay mail.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch, Notify};

use crate::config::Config;
use crate::engine::{open_store, Engine, EngineError, Outcome, Report};
use crate::store::StoreError;
use crate::web;
use crate::wheel::text::plural;
use crate::wheel::Wheel;

/// The longest the loop sleeps: a wall-clock jump is noticed within this.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// `/healthz` is 503 when no pass has gone through for this many of the
/// loop's longest sleeps (3 minutes without a watchdog, or with
/// `WatchdogSec=120s`).
const HEALTH_PASSES: u32 = 3;

/// On SIGTERM or SIGINT, the message in flight and the open requests get
/// this long from the signal; then the daemon exits 0 (well within the
/// unit's `TimeoutStopSec=30s`). A message cut off stays pending and goes
/// out on the next start.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// When a stop was asked for; `None` while running.
type StopAt = watch::Receiver<Option<tokio::time::Instant>>;

/// Why the daemon could not start, worded for the user. The command line
/// picks the exit code: [`DaemonError::Setup`] is bad input (exit 2), the
/// rest are run-time failures (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Settings that cannot work (`trusted_proxies`).
    #[error("{0}")]
    Setup(String),
    /// The runtime, the listener's address, the signal handlers.
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What made the loop wake up.
enum Wake {
    Timer,
    Reload,
    Stop,
}

/// The paths the daemon was started with, to reload from on SIGHUP.
struct Origin {
    config: Option<std::path::PathBuf>,
    schedule: Option<std::path::PathBuf>,
}

/// `arshjul run`.
pub fn run(
    loaded: Config,
    config: Option<&std::path::Path>,
    schedule: Option<&std::path::Path>,
) -> Result<(), DaemonError> {
    // The loop runs on this thread (`block_on`); the listener and the
    // signal task on the runtime's own two workers. The pass's store and
    // rendering work is synchronous: while SQLite waits for another
    // process's lock, it holds this thread only, and `/healthz`, the
    // requests and SIGTERM are still answered.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Runtime(format!("cannot start the runtime: {e}")))?;
    let origin = Origin {
        config: config.map(Into::into),
        schedule: schedule.map(Into::into),
    };
    runtime.block_on(serve(loaded, origin))
}

async fn serve(loaded: Config, origin: Origin) -> Result<(), DaemonError> {
    let mut engine = Engine::new(loaded)?;
    let store = Arc::new(Mutex::new(open_store(&engine.settings)?));
    let listen = engine.settings.listen.clone();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| DaemonError::Runtime(format!("cannot listen on {listen}: {e}")))?;
    // The address actually bound: with port 0 (`listen = "127.0.0.1:0"`)
    // the system picks a free port, and this line is how to learn it.
    let bound = listener
        .local_addr()
        .map_or_else(|_| listen.clone(), |a| a.to_string());
    let wheel = Arc::new(RwLock::new(Arc::new(engine.wheel.clone())));
    let proxies = web::parse_trusted_proxies(&engine.settings.trusted_proxies)
        .map_err(|e| DaemonError::Setup(e.to_string()))?;
    // The listener wakes the loop when someone asks for a fresh link, so
    // the pass that sends it runs at once; the listener never waits on it.
    let link_requested = Arc::new(Notify::new());
    // The problem pages name the reply address (checked with the settings).
    let reply_to = (engine.settings.mail.reply_to.as_deref())
        .and_then(|r| crate::wheel::text::mailbox(r).ok())
        .map(|m| m.email.to_string());
    let watchdog = watchdog_interval();
    // Healthy while the last pass went through within three wake-ups.
    let health = Arc::new(web::Health::new(
        HEALTH_PASSES * sleep_for(watchdog, None),
        std::time::Instant::now(),
    ));
    let state = web::AppState::new(
        store.clone(),
        wheel.clone(),
        engine.secret().clone(),
        proxies,
        Arc::new(Utc::now),
    )
    .with_wake(link_requested.clone())
    .with_health(health.clone())
    .with_busy_timeout(engine.settings.busy_timeout())
    .with_reply_to(reply_to.as_deref())
    .with_evidence_max_bytes(engine.settings.evidence.max_bytes)
    .with_feed_links(
        engine.settings.public_url.clone(),
        engine.settings.link_days,
    );
    // Set by the signal task the moment SIGTERM or SIGINT arrives, so the
    // listener stops accepting at once, whatever the loop is doing.
    let stop_tx = Arc::new(watch::channel(None).0);
    let mut http_stop = stop_tx.subscribe();
    let limits = web::Limits {
        max_connections_per_peer: engine.settings.max_connections_per_peer as usize,
        ..web::Limits::default()
    };
    let http = tokio::spawn(web::serve_with(
        listener,
        state.clone(),
        limits,
        async move {
            // Resolves when a stop is asked for (or the sender is gone).
            let _ = http_stop.wait_for(Option::is_some).await;
        },
    ));
    let metrics = Arc::new(web::Metrics::default());
    let metrics_http = match engine.settings.metrics_listen.clone() {
        Some(at) => Some(serve_metrics(&at, state.clone(), metrics.clone(), &stop_tx).await?),
        None => None,
    };
    tracing::info!(database = %engine.settings.database.display(), "arshjul started, listening on {bound}");
    notify(&[sd_notify::NotifyState::Ready]);

    let stopping = Arc::new(AtomicBool::new(false));
    let mut signals = watch_signals(stopping.clone(), stop_tx.clone())?;
    // The pass asks `stop` between its batches and before each message, so
    // a pass that makes progress feeds the watchdog as it goes (at most
    // every quarter interval): a long first pass on a big wheel is not
    // killed by systemd, and a pass that hangs stops feeding it.
    let started = std::time::Instant::now();
    let fed_ms = AtomicU64::new(0);
    let stop = || {
        if let Some(w) = watchdog {
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let every = u64::try_from((w / 4).as_millis()).unwrap_or(u64::MAX);
            if ms.saturating_sub(fed_ms.load(Ordering::Relaxed)) >= every {
                fed_ms.store(ms, Ordering::Relaxed);
                notify(&[sd_notify::NotifyState::Watchdog]);
            }
        }
        stopping.load(Ordering::SeqCst)
    };

    loop {
        let now = Utc::now();
        let began = std::time::Instant::now();
        let pass = engine.guarded_pass(&store, now, &stop, None);
        let Some(outcome) = within_stop_grace(pass, stop_tx.subscribe()).await else {
            tracing::warn!(
                "stopping: the message in flight did not finish within {} s of the stop; it stays pending and goes out on the next start",
                STOP_GRACE.as_secs()
            );
            break;
        };
        count_pass(&metrics, &outcome, &engine.settings, began.elapsed());
        let (report, line) = after_pass(outcome, &engine.wheel, &health);
        let next_at = report.as_ref().and_then(|r| r.next_at);
        notify(&[sd_notify::NotifyState::Status(&line)]);
        if watchdog.is_some() {
            notify(&[sd_notify::NotifyState::Watchdog]);
        }
        let sleep = sleep_for(watchdog, next_at);
        let wake = if stop() {
            Wake::Stop
        } else {
            tokio::select! {
                _ = tokio::time::sleep(sleep) => Wake::Timer,
                _ = link_requested.notified() => Wake::Timer,
                signal = signals.recv() => signal.unwrap_or(Wake::Stop),
            }
        };
        match wake {
            Wake::Timer => {}
            Wake::Stop => break,
            Wake::Reload => {
                notify(&[sd_notify::NotifyState::Reloading]);
                metrics.reload(reload(&mut engine, &wheel, &origin));
                notify(&[sd_notify::NotifyState::Ready]);
            }
        }
    }

    tracing::info!("stopping");
    notify(&[sd_notify::NotifyState::Stopping]);
    close_listener(&stop_tx, http).await;
    if let Some(task) = metrics_http {
        task.abort();
    }
    Ok(())
}

/// Binds `metrics_listen` and serves `GET /metrics` there until the stop.
async fn serve_metrics(
    at: &str,
    state: web::AppState,
    metrics: Arc<web::Metrics>,
    stop_tx: &watch::Sender<Option<tokio::time::Instant>>,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, DaemonError> {
    let listener = tokio::net::TcpListener::bind(at).await.map_err(|e| {
        DaemonError::Runtime(format!("cannot listen on {at} (metrics_listen): {e}"))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| DaemonError::Runtime(format!("metrics_listen {at}: {e}")))?;
    if !bound.ip().is_loopback() {
        tracing::warn!(
            "metrics_listen {bound} is not a loopback address: /metrics tells anyone who can reach it how many tasks are overdue; firewall it"
        );
    }
    tracing::info!("serving metrics on {bound}");
    let mut stop = stop_tx.subscribe();
    Ok(tokio::spawn(web::serve_router(
        listener,
        web::metrics::router(state, metrics),
        web::Limits::default(),
        async move {
            let _ = stop.wait_for(Option::is_some).await;
        },
    )))
}

/// Counts a pass's deliveries and result into the metrics.
fn count_pass(
    metrics: &web::Metrics,
    outcome: &Result<Outcome, EngineError>,
    settings: &crate::settings::Settings,
    took: Duration,
) {
    use crate::settings::MailTransport;
    let transport = match settings.mail.transport {
        MailTransport::File => "file",
        MailTransport::Smtp => "smtp",
        MailTransport::Graph => "graph",
        MailTransport::Sendmail => "sendmail",
    };
    let result = match outcome {
        Ok(Outcome::Passed(report)) => {
            for (kind, how) in &report.deliveries {
                let how = match *how {
                    "sent" => web::metrics::Delivery::Sent,
                    "deferred" => web::metrics::Delivery::Deferred,
                    _ => web::metrics::Delivery::Failed,
                };
                metrics.delivered(transport, kind, how);
            }
            let delivery_failures = report
                .deliveries
                .iter()
                .filter(|(_, how)| *how == "failed")
                .count();
            metrics.unbuilt(report.failed.saturating_sub(delivery_failures) as u64);
            "ok"
        }
        Ok(Outcome::Held(_)) => "held",
        Err(_) => "failed",
    };
    metrics.pass(result, Utc::now(), took);
}

/// Logs a pass's outcome and words the systemd status line for it; the
/// report, when the pass went through.
fn after_pass(
    outcome: Result<Outcome, EngineError>,
    wheel: &Wheel,
    health: &web::Health,
) -> (Option<Report>, String) {
    let now = std::time::Instant::now();
    match outcome {
        Ok(Outcome::Passed(report)) => {
            health.passed(now);
            log_report(&report);
            let line = status_line(wheel, Some(&report));
            (Some(report), line)
        }
        Ok(Outcome::Held(brake)) => {
            tracing::error!(
                "pass held, nothing recorded or sent: {brake}; `arshjul tick --dry-run` shows what would go, `arshjul tick --accept-burst` lets it through"
            );
            health.failed(now, &format!("was held by the brake: {brake}"));
            (None, format!("held: {brake}"))
        }
        Err(e) => {
            tracing::error!("pass failed: {e}");
            health.failed(now, &format!("failed: {e}"));
            (None, status_line(wheel, None))
        }
    }
}

/// How long the loop sleeps: until the next notification, at most a
/// minute, and at most half the watchdog interval.
fn sleep_for(watchdog: Option<Duration>, next_at: Option<chrono::DateTime<Utc>>) -> Duration {
    let mut sleep = MAX_SLEEP;
    if let Some(w) = watchdog {
        sleep = sleep.min(w / 2);
    }
    if let Some(at) = next_at {
        let until = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        sleep = sleep.min(until);
    }
    sleep
}

/// Closes the listener (the stop starts now if the signal task did not
/// see one) and waits for its open requests, at most `STOP_GRACE` after
/// the stop.
async fn close_listener(
    stop_tx: &watch::Sender<Option<tokio::time::Instant>>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
) {
    // A stop the signal task did not see (its channel closed) starts now.
    stop_tx.send_if_modified(|at| {
        at.get_or_insert_with(tokio::time::Instant::now);
        true
    });
    let deadline = stop_tx
        .borrow()
        .map_or_else(tokio::time::Instant::now, |at| at + STOP_GRACE);
    match tokio::time::timeout_at(deadline, http).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!("listener: {e}"),
        Ok(Err(e)) => tracing::warn!("listener task: {e}"),
        Err(_) => tracing::warn!(
            "requests still open {} s after the stop; stopping anyway",
            STOP_GRACE.as_secs()
        ),
    }
}

/// Runs `pass` to its end, unless a stop is asked for and the pass is
/// still running `STOP_GRACE` after it: then `None`, and the pass (with
/// the delivery in flight, which is never marked sent) is dropped.
async fn within_stop_grace<F: std::future::Future>(
    pass: F,
    mut stop_at: StopAt,
) -> Option<F::Output> {
    let grace_over = async move {
        match stop_at.wait_for(Option::is_some).await {
            Ok(at) => {
                let at = at.unwrap_or_else(tokio::time::Instant::now);
                tokio::time::sleep_until(at + STOP_GRACE).await;
            }
            // No sender: nobody can ask for a stop.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        biased;
        out = pass => Some(out),
        () = grace_over => None,
    }
}

/// Turns SIGHUP, SIGTERM and SIGINT into wake-ups of the loop. A stop
/// also sets `stopping`, which a pass checks between deliveries, and
/// `stop_at`, which closes the listener at once and starts the grace of
/// the message in flight.
fn watch_signals(
    stopping: Arc<AtomicBool>,
    stop_at: Arc<watch::Sender<Option<tokio::time::Instant>>>,
) -> Result<mpsc::UnboundedReceiver<Wake>, DaemonError> {
    let watch = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| DaemonError::Runtime(format!("cannot watch {name}: {e}")))
    };
    let mut hup = watch(SignalKind::hangup(), "SIGHUP")?;
    let mut term = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut int = watch(SignalKind::interrupt(), "SIGINT")?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let wake = tokio::select! {
                _ = hup.recv() => Wake::Reload,
                _ = term.recv() => Wake::Stop,
                _ = int.recv() => Wake::Stop,
            };
            if matches!(wake, Wake::Stop) {
                stopping.store(true, Ordering::SeqCst);
                // The first signal starts the grace; a second one does not
                // extend it.
                stop_at.send_if_modified(|at| {
                    let first = at.is_none();
                    at.get_or_insert_with(tokio::time::Instant::now);
                    first
                });
            }
            if tx.send(wake).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Re-reads settings and wheel. A broken wheel or settings file is logged
/// with its place and the old one stays in force. Whether it was taken.
fn reload(engine: &mut Engine, wheel: &RwLock<Arc<Wheel>>, origin: &Origin) -> bool {
    match Config::load(origin.config.as_deref(), origin.schedule.as_deref()) {
        Ok(loaded) => {
            if loaded.settings.listen != engine.settings.listen
                || loaded.settings.database != engine.settings.database
                || loaded.settings.metrics_listen != engine.settings.metrics_listen
            {
                tracing::warn!(
                    "`listen`, `metrics_listen` and `database` changes take effect on restart, not reload"
                );
            }
            let tasks = loaded.wheel.tasks.len();
            let new_wheel = loaded.wheel.clone();
            match Engine::new(loaded) {
                Ok(mut fresh) => {
                    // Keep the listener's and database's settings of this process.
                    fresh.settings.listen = engine.settings.listen.clone();
                    fresh.settings.database = engine.settings.database.clone();
                    fresh.settings.metrics_listen = engine.settings.metrics_listen.clone();
                    *engine = fresh;
                    *wheel.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new_wheel);
                    tracing::info!(tasks, "reloaded");
                    true
                }
                Err(e) => {
                    tracing::error!("reload refused, keeping the old settings: {e}");
                    false
                }
            }
        }
        Err(e) => {
            for line in e.to_string().lines() {
                tracing::error!("reload refused, keeping the old wheel: {line}");
            }
            false
        }
    }
}

fn log_report(r: &Report) {
    if r.queued + r.sent + r.deferred + r.failed > 0 {
        tracing::info!(
            queued = r.queued,
            sent = r.sent,
            deferred = r.deferred,
            failed = r.failed,
            "pass"
        );
    }
}

/// "12 tasks, 1 overdue, next notification 2027-02-15 08:00", from the
/// pass just made (no second read of the database).
fn status_line(wheel: &Wheel, report: Option<&Report>) -> String {
    let Some(report) = report else {
        return format!(
            "{}, the last pass failed (see the log)",
            plural(wheel.tasks.len() as u64, "task", "tasks")
        );
    };
    let next = report
        .next_at
        .map(|t| {
            format!(
                ", next notification {}",
                t.with_timezone(&wheel.organisation.timezone)
                    .format("%Y-%m-%d %H:%M")
            )
        })
        .unwrap_or_default();
    format!(
        "{}, {} overdue{next}",
        plural(wheel.tasks.len() as u64, "task", "tasks"),
        report.overdue
    )
}

/// Half of this is how often the loop pings systemd's watchdog. Read as
/// sd_watchdog_enabled(3) does: `WATCHDOG_USEC` set and positive, and
/// `WATCHDOG_PID` either unset or this process (sd-notify 0.4's
/// `watchdog_enabled` wrongly demands that `WATCHDOG_PID` be set).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    match std::env::var("WATCHDOG_PID") {
        Ok(pid) if pid.trim().parse::<u32>().ok() != Some(std::process::id()) => None,
        _ => Some(Duration::from_micros(usec)),
    }
}

/// Tells systemd (when `NOTIFY_SOCKET` is set); otherwise does nothing.
fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::debug!("sd_notify: {e}");
    }
}
