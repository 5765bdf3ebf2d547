//! `GET /metrics` in the Prometheus text format, on its own listener
//! (`metrics_listen`, off by default). The daemon's loop counts what its
//! passes did into [`Metrics`]; the rest (tasks by state, the oldest
//! overdue, the outbox, completions) is read from the database, waiting
//! for it at most [`SCRAPE_WAIT`], and kept for [`SCRAPE_CACHE`] or until
//! the next pass or reload, so a flood of scrapes reads the database at
//! most once per [`SCRAPE_CACHE`] and never queues in front of completions
//! for the database. Only the reading holds the database; the counting is
//! done after. Encoded by `prometheus-client`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Days, TimeZone, Utc};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use super::{with_store_within, AppState};
use crate::planner::{self, State as TaskState};
use crate::store::{Store, StoreError};
use crate::wheel::Wheel;

/// The longest a scrape waits for the database (held by a pass, or by
/// another process's lock). Past it, the metrics read from the database
/// are left out and `arshjul_database_up` is 0.
pub const SCRAPE_WAIT: Duration = Duration::from_secs(2);

/// How long what a scrape read from the database serves later scrapes
/// (unless a pass or a reload ends first).
pub const SCRAPE_CACHE: Duration = Duration::from_secs(10);

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `transport` and `kind` of a message.
type MessageLabels = Vec<(&'static str, String)>;

/// How one message's delivery went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Deferred,
    Failed,
}

/// What the daemon's passes did since it started: counters and the last
/// pass. Cheap to share (`Arc`); every part is atomic.
#[derive(Debug, Default)]
pub struct Metrics {
    sent: Family<MessageLabels, Counter>,
    deferred: Family<MessageLabels, Counter>,
    failed: Family<MessageLabels, Counter>,
    unbuilt: Counter,
    passes: Family<Vec<(&'static str, &'static str)>, Counter>,
    reloads: Family<Vec<(&'static str, &'static str)>, Counter>,
    last_pass: Gauge<f64, AtomicU64>,
    last_pass_ok: Gauge<f64, AtomicU64>,
    last_pass_duration: Gauge<f64, AtomicU64>,
    /// Counts passes and reloads: what the database showed before one is
    /// not served after it.
    generation: AtomicU64,
    /// The last read from the database; the lock also lets one scrape at
    /// a time read it.
    cache: tokio::sync::Mutex<Option<Cached>>,
}

/// What a scrape read from the database, and when.
#[derive(Debug)]
struct Cached {
    at: Instant,
    generation: u64,
    db: Arc<FromDatabase>,
}

impl Cached {
    /// The reading, if it was taken at most [`SCRAPE_CACHE`] before `now`
    /// and no pass or reload ended since.
    fn fresh(&self, now: Instant, generation: u64) -> Option<Arc<FromDatabase>> {
        (self.generation == generation && now.saturating_duration_since(self.at) <= SCRAPE_CACHE)
            .then(|| self.db.clone())
    }
}

impl Metrics {
    /// One message delivered (or not) by `transport`.
    pub fn delivered(&self, transport: &str, kind: &str, how: Delivery) {
        let family = match how {
            Delivery::Sent => &self.sent,
            Delivery::Deferred => &self.deferred,
            Delivery::Failed => &self.failed,
        };
        family
            .get_or_create(&vec![
                ("transport", transport.to_string()),
                ("kind", kind.to_string()),
            ])
            .inc();
    }

    /// Messages a pass could not build (recorded failed, never handed to
    /// a transport).
    pub fn unbuilt(&self, n: u64) {
        self.unbuilt.inc_by(n);
    }

    /// A pass ended at `at` after `took`: `"ok"`, `"held"` or `"failed"`.
    pub fn pass(&self, result: &'static str, at: DateTime<Utc>, took: Duration) {
        self.passes.get_or_create(&vec![("result", result)]).inc();
        let at = at.timestamp_millis() as f64 / 1000.0;
        self.last_pass.set(at);
        if result == "ok" {
            self.last_pass_ok.set(at);
        }
        self.last_pass_duration.set(took.as_secs_f64());
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// A SIGHUP reload was taken (`true`) or refused.
    pub fn reload(&self, taken: bool) {
        let result = if taken { "ok" } else { "refused" };
        self.reloads.get_or_create(&vec![("result", result)]).inc();
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Every metric, the database's included, in one registry.
    fn registry(&self, db: Option<&FromDatabase>) -> Registry {
        let mut r = Registry::default();
        r.register(
            "arshjul_build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register(
            "arshjul_messages_sent",
            "Messages the transport accepted, by transport and kind",
            self.sent.clone(),
        );
        r.register(
            "arshjul_messages_deferred",
            "Delivery attempts that failed for now and will be retried, by transport and kind",
            self.deferred.clone(),
        );
        r.register(
            "arshjul_messages_failed",
            "Messages refused for good by the transport, by transport and kind",
            self.failed.clone(),
        );
        r.register(
            "arshjul_messages_unbuilt",
            "Messages that could not be built and were recorded failed",
            self.unbuilt.clone(),
        );
        r.register(
            "arshjul_passes",
            "Passes since the start, by result (ok, held, failed)",
            self.passes.clone(),
        );
        r.register(
            "arshjul_reloads",
            "SIGHUP reloads since the start, by result (ok, refused)",
            self.reloads.clone(),
        );
        r.register(
            "arshjul_last_pass_timestamp_seconds",
            "When the last pass ended (Unix time), whatever its result",
            self.last_pass.clone(),
        );
        r.register(
            "arshjul_last_successful_pass_timestamp_seconds",
            "When the last pass that went through ended (Unix time)",
            self.last_pass_ok.clone(),
        );
        r.register(
            "arshjul_last_pass_duration_seconds",
            "How long the last pass took",
            self.last_pass_duration.clone(),
        );
        let up: Gauge = Gauge::default();
        up.set(i64::from(db.is_some()));
        r.register(
            "arshjul_database_up",
            "1 when this scrape could read the database within 2 s, else 0 (and the metrics below are missing)",
            up,
        );
        if let Some(db) = db {
            let tasks = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
            for (state, n) in &db.tasks {
                tasks.get_or_create(&vec![("state", *state)]).set(*n);
            }
            r.register(
                "arshjul_tasks",
                "Tasks by the state of their oldest open occurrence (upcoming, open, overdue)",
                tasks,
            );
            let oldest: Gauge = Gauge::default();
            oldest.set(db.oldest_overdue_secs);
            r.register(
                "arshjul_oldest_overdue_seconds",
                "How long the longest overdue task has been overdue (since the day after its due date began), 0 when none is",
                oldest,
            );
            let pending: Gauge = Gauge::default();
            pending.set(db.outbox_pending);
            r.register(
                "arshjul_outbox_pending",
                "Messages in the outbox not yet sent or given up",
                pending,
            );
            let completions = Family::<Vec<(&'static str, String)>, Counter>::default();
            for (via, n) in &db.completions {
                completions
                    .get_or_create(&vec![("channel", via.clone())])
                    .inc_by(*n);
            }
            r.register(
                "arshjul_completions",
                "Completions recorded, by channel (link, cli); retracted ones included",
                completions,
            );
        }
        r
    }
}

/// What a scrape reads from the database.
#[derive(Debug)]
struct FromDatabase {
    tasks: Vec<(&'static str, i64)>,
    oldest_overdue_secs: i64,
    outbox_pending: i64,
    completions: Vec<(String, u64)>,
}

/// What [`count`] needs from the database: read while holding it.
struct Read {
    history: planner::History,
    outbox_pending: i64,
    completions: Vec<(String, u64)>,
}

fn read(store: &Store, wheel: &Wheel, now: DateTime<Utc>) -> Result<Read, StoreError> {
    let history = store.history_at(wheel, now, |h| planner::periods_in_view(wheel, h, now))?;
    let (outbox_pending, completions) = store.metrics_counts()?;
    Ok(Read {
        history,
        outbox_pending,
        completions,
    })
}

/// The gauges from what was read, without the database.
fn count(read: Read, wheel: &Wheel, now: DateTime<Utc>) -> FromDatabase {
    let Read {
        history,
        outbox_pending,
        completions,
    } = read;
    let rows = planner::status(wheel, &history, now);
    let tasks = [TaskState::Upcoming, TaskState::Open, TaskState::Overdue]
        .into_iter()
        .map(|s| {
            (
                s.as_str(),
                rows.iter().filter(|r| r.state == s).count() as i64,
            )
        })
        .collect();
    let tz = wheel.organisation.timezone;
    let oldest_overdue_secs = rows
        .iter()
        .filter(|r| r.state == TaskState::Overdue)
        .filter_map(|r| {
            let since = r.due.checked_add_days(Days::new(1))?.and_hms_opt(0, 0, 0)?;
            let since = tz.from_local_datetime(&since).earliest()?;
            Some((now - since.with_timezone(&Utc)).num_seconds().max(0))
        })
        .max()
        .unwrap_or(0);
    FromDatabase {
        tasks,
        oldest_overdue_secs,
        outbox_pending,
        completions,
    }
}

/// The metrics listener's routes: `GET /metrics`, and 404 for the rest.
pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((state, metrics))
}

/// The database's part of a scrape: the cached one while fresh, else read
/// anew (one scrape at a time; the others wait for its result). `None`
/// when the database could not be read within [`SCRAPE_WAIT`].
async fn from_database(state: &AppState, metrics: &Metrics) -> Option<Arc<FromDatabase>> {
    let mut cache = metrics.cache.lock().await;
    let generation = metrics.generation.load(Ordering::SeqCst);
    if let Some(db) = cache
        .as_ref()
        .and_then(|c| c.fresh(Instant::now(), generation))
    {
        return Some(db);
    }
    let wheel = state.wheel();
    let now = (state.clock)();
    let read = {
        let wheel = wheel.clone();
        with_store_within(state, SCRAPE_WAIT, move |store| read(store, &wheel, now)).await
    };
    let read = match read {
        Ok(read) => read,
        Err(e) => {
            tracing::warn!("metrics: the database could not be read: {e}");
            return None;
        }
    };
    let db = tokio::task::spawn_blocking(move || count(read, &wheel, now))
        .await
        .map_err(|e| tracing::error!("metrics: counting stopped: {e}"))
        .ok()?;
    let db = Arc::new(db);
    *cache = Some(Cached {
        at: Instant::now(),
        generation,
        db: db.clone(),
    });
    Some(db)
}

async fn scrape(State((state, metrics)): State<(AppState, Arc<Metrics>)>) -> Response {
    let db = from_database(&state, &metrics).await;
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &metrics.registry(db.as_deref())) {
        tracing::error!("metrics: cannot encode: {e}");
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cached(at: Instant, generation: u64) -> Cached {
        Cached {
            at,
            generation,
            db: Arc::new(FromDatabase {
                tasks: vec![("overdue", 3)],
                oldest_overdue_secs: 0,
                outbox_pending: 0,
                completions: vec![],
            }),
        }
    }

    #[test]
    fn a_reading_serves_for_ten_seconds_until_a_pass_or_reload() {
        let t0 = Instant::now();
        let c = cached(t0, 4);
        assert!(c.fresh(t0, 4).is_some());
        assert!(c.fresh(t0 + SCRAPE_CACHE, 4).is_some());
        assert!(c
            .fresh(t0 + SCRAPE_CACHE + Duration::from_millis(1), 4)
            .is_none());
        // A pass or reload ended since: read again.
        assert!(c.fresh(t0 + Duration::from_secs(1), 5).is_none());
    }

    #[tokio::test]
    async fn scrapes_read_the_database_once_per_pass_or_reload_or_ten_seconds() {
        use std::sync::{Mutex, RwLock};
        let dir = tempfile::tempdir().unwrap();
        let wheel =
            crate::wheel::parse(include_str!("../../schedule.toml"), "schedule.toml").unwrap();
        let store = Store::open(&dir.path().join("arshjul.db"), true).unwrap();
        let secret = crate::link::Secret::load_or_create(&dir.path().join("secret")).unwrap();
        let now: DateTime<Utc> = "2027-03-10T10:00:00Z".parse().unwrap();
        let state = AppState::new(
            Arc::new(Mutex::new(store)),
            Arc::new(RwLock::new(Arc::new(wheel))),
            secret,
            Vec::new(),
            Arc::new(move || now),
        );
        let metrics = Metrics::default();
        let first = from_database(&state, &metrics).await.expect("read");
        assert_eq!(first.tasks.iter().map(|(_, n)| n).sum::<i64>(), 10);
        let again = from_database(&state, &metrics).await.expect("read");
        assert!(Arc::ptr_eq(&first, &again), "the second scrape read anew");
        metrics.pass("ok", now, Duration::from_millis(5));
        let after_pass = from_database(&state, &metrics).await.expect("read");
        assert!(!Arc::ptr_eq(&first, &after_pass), "a pass ended: read anew");
        metrics.reload(false);
        let after_reload = from_database(&state, &metrics).await.expect("read");
        assert!(
            !Arc::ptr_eq(&after_pass, &after_reload),
            "a reload: read anew"
        );
    }
}
