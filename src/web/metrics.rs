//! `GET /metrics` in the Prometheus text format, on its own listener
//! (`metrics_listen`, off by default). The daemon's loop counts what its
//! passes did into [`Metrics`]; the rest (tasks by state, the oldest
//! overdue, the outbox, completions) is read from the database at each
//! scrape, waiting for it at most [`SCRAPE_WAIT`]. Encoded by
//! `prometheus-client`.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

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
    }

    /// A SIGHUP reload was taken (`true`) or refused.
    pub fn reload(&self, taken: bool) {
        let result = if taken { "ok" } else { "refused" };
        self.reloads.get_or_create(&vec![("result", result)]).inc();
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
struct FromDatabase {
    tasks: Vec<(&'static str, i64)>,
    oldest_overdue_secs: i64,
    outbox_pending: i64,
    completions: Vec<(String, u64)>,
}

fn read(store: &Store, wheel: &Wheel, now: DateTime<Utc>) -> Result<FromDatabase, StoreError> {
    let history = store.history_at(wheel, now, |h| planner::periods_in_view(wheel, h, now))?;
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
    let (outbox_pending, completions) = store.metrics_counts()?;
    Ok(FromDatabase {
        tasks,
        oldest_overdue_secs,
        outbox_pending,
        completions,
    })
}

/// The metrics listener's routes: `GET /metrics`, and 404 for the rest.
pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((state, metrics))
}

async fn scrape(State((state, metrics)): State<(AppState, Arc<Metrics>)>) -> Response {
    let wheel = state.wheel();
    let now = (state.clock)();
    let db =
        match with_store_within(&state, SCRAPE_WAIT, move |store| read(store, &wheel, now)).await {
            Ok(db) => Some(db),
            Err(e) => {
                tracing::warn!("metrics: the database could not be read: {e}");
                None
            }
        };
    let mut body = String::new();
    if let Err(e) = encode(&mut body, &metrics.registry(db.as_ref())) {
        tracing::error!("metrics: cannot encode: {e}");
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body,
    )
        .into_response()
}
