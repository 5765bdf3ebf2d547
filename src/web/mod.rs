//! The completion-link web server (docs/http.md): `GET`/`POST
//! /done/{token}`, `/healthz`, security headers on every response, the
//! request body limit and the client address behind trusted proxies. GET
//! never changes anything (mail scanners fetch links); only a POST records.
//! Tokens are never logged. Reads the clock only through [`AppState::clock`],
//! which the daemon gives it. The listener with its limits and timers is
//! `web::listener`.
//!
//! A genuine link past its expiry still names its occurrence: if it is done,
//! who did it and when; if not, a page that offers `POST
//! /done/{token}/new-link`, which records a request for a fresh link (rate
//! limited) and wakes the engine, which sends it. This module never sends
//! mail and never waits on SMTP.

mod feed_cache;
mod health;
mod listener;
pub mod metrics;
mod overview;
pub mod pages;

pub use health::Health;
pub use listener::{serve, serve_router, serve_with, Limits};
pub use metrics::Metrics;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use axum::extract::{
    ConnectInfo, DefaultBodyLimit, Form, FromRequest, FromRequestParts, Multipart, Path, Request,
    State,
};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use tokio::sync::Notify;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::link::{self as token, Claims, Secret, TokenError, ViewerKind};
use crate::store::{
    self as db, Completion, CompletionExtras, CompletionOutcome, LinkLimits, LinkRequestOutcome,
    NewCompletion, NewEvidence, NewLinkRequest, Store, StoreError, Via,
};
use crate::wheel::{Language, Person, Task, Wheel};
use pages::{Done, Occurrence, Problem, NOTE_MAX_CHARS, PERFORMED_BY_MAX_CHARS};

/// Request bodies above this are refused with 413. A note of 2000
/// characters, each up to 4 bytes and percent-encoded, fits with room.
pub const BODY_LIMIT: usize = 32 * 1024;

/// The largest evidence file accepted unless the state says otherwise:
/// 20 MB, the default of the `evidence.max_bytes` setting.
pub const DEFAULT_EVIDENCE_MAX_BYTES: u64 = 20 * 1024 * 1024;

/// The body limit of a completion with evidence files
/// (`multipart/form-data` to `POST /done/{token}`): the most one
/// completion's files may hold together, and room for the form around them.
pub const UPLOAD_BODY_LIMIT: usize = db::MAX_TOTAL_BYTES as usize + 1024 * 1024;

/// Uploads are held in memory until their completion is recorded. All
/// uploads in progress together may reserve at most this much (by their
/// `Content-Length`, or [`UPLOAD_BODY_LIMIT`] without one); one that finds
/// too little left is answered 503 with `Retry-After` and records nothing.
/// One upload at the limit fits, so does a second small one, and the
/// daemon stays well under the unit's `MemoryMax=256M`.
pub const UPLOAD_BUDGET_BYTES: usize = 128 * 1024 * 1024;

/// The most parts a completion's `multipart/form-data` may have: the
/// files ([`db::MAX_FILES`]) and room for the fields. More is 413 and
/// records nothing (10,000 tiny parts are work, not evidence).
pub const MAX_FORM_PARTS: usize = db::MAX_FILES + 10;

/// Fresh links on request: at most one per recipient and occurrence within
/// this time, and at most [`LINK_REQUESTS_PER_HOUR`] in all per hour.
pub const LINK_REQUEST_INTERVAL: Duration = Duration::from_secs(60 * 60);
pub const LINK_REQUESTS_PER_HOUR: u32 = 20;

/// A user agent longer than this is cut before it is stored as evidence.
const USER_AGENT_MAX_CHARS: usize = 512;

const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Where the handlers read the time now.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything the handlers need. Cheap to clone: all shared parts are `Arc`s.
#[derive(Clone)]
pub struct AppState {
    /// A std mutex, not a tokio one: it is only ever held inside
    /// `spawn_blocking`, never across an `.await`.
    pub store: Arc<Mutex<Store>>,
    /// The current wheel; the daemon swaps the inner `Arc` on reload.
    pub wheel: Arc<RwLock<Arc<Wheel>>>,
    pub secret: Secret,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
    /// The time now; tests set it.
    pub clock: Clock,
    /// Woken when a request for a fresh link is recorded, so the daemon's
    /// loop answers it at once; `None` leaves it for the next pass.
    pub wake: Option<Arc<Notify>>,
    /// The longest a request waits for the store while the daemon's pass
    /// holds it (the `busy_timeout_ms` setting); then 503 with
    /// `Retry-After`. SQLite's own busy timeout bounds the wait for another
    /// process's lock after that.
    pub busy_timeout: Duration,
    /// The bare address of the `mail.reply_to` setting: the problem pages
    /// name it as the one to write to; `None`: they name the organisation.
    pub reply_to: Option<Arc<str>>,
    /// The largest evidence file accepted (`evidence.max_bytes`); a larger
    /// one is answered 413 and nothing is recorded.
    pub evidence_max_bytes: u64,
    /// How the daemon's passes went, for `/healthz`; `None` (a router
    /// without a daemon) checks the database alone.
    pub health: Option<Arc<Health>>,
    /// What completion links in a person's calendar feed need; `None`:
    /// feeds carry no completion links.
    pub feed_links: Option<FeedLinks>,
    /// What is left of the uploads' memory budget, in KiB
    /// ([`UPLOAD_BUDGET_BYTES`] unless changed).
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Calendar feeds built in the last minute; its lock makes feed
    /// builds take turns.
    feeds: Arc<tokio::sync::Mutex<feed_cache::FeedCache>>,
}

/// The settings a person's calendar feed builds completion links from.
#[derive(Debug, Clone)]
pub struct FeedLinks {
    pub public_url: String,
    pub link_days: u32,
}

/// The longest `/healthz` waits for the store: it must answer at once,
/// whatever a pass or another process is doing.
const HEALTH_WAIT: Duration = Duration::from_millis(50);

/// `Retry-After` of a 503: the database was busy or did not answer.
const RETRY_AFTER_UNAVAILABLE_SECS: u32 = 5;

impl AppState {
    /// State whose handlers read the time from `clock` (the daemon gives
    /// the system clock; tests their own).
    pub fn new(
        store: Arc<Mutex<Store>>,
        wheel: Arc<RwLock<Arc<Wheel>>>,
        secret: Secret,
        trusted_proxies: Vec<IpAddr>,
        clock: Clock,
    ) -> AppState {
        AppState {
            store,
            wheel,
            secret,
            trusted_proxies,
            clock,
            wake: None,
            busy_timeout: db::DEFAULT_BUSY_TIMEOUT,
            reply_to: None,
            evidence_max_bytes: DEFAULT_EVIDENCE_MAX_BYTES,
            health: None,
            feed_links: None,
            uploads: Arc::new(tokio::sync::Semaphore::new(UPLOAD_BUDGET_BYTES / 1024)),
            feeds: Arc::default(),
        }
    }

    /// The same state, with `bytes` for all uploads in progress together
    /// instead of [`UPLOAD_BUDGET_BYTES`].
    pub fn with_upload_budget(self, bytes: usize) -> AppState {
        AppState {
            uploads: Arc::new(tokio::sync::Semaphore::new(bytes.div_ceil(1024))),
            ..self
        }
    }

    /// The same state, accepting evidence files of at most `max_bytes`.
    pub fn with_evidence_max_bytes(self, max_bytes: u64) -> AppState {
        AppState {
            evidence_max_bytes: max_bytes,
            ..self
        }
    }

    /// The same state, putting completion links (to `public_url`, valid
    /// `link_days` after each fetch) in persons' calendar feeds.
    pub fn with_feed_links(self, public_url: String, link_days: u32) -> AppState {
        AppState {
            feed_links: Some(FeedLinks {
                public_url,
                link_days,
            }),
            ..self
        }
    }

    /// The same state, waiting at most `busy_timeout` for the store.
    pub fn with_busy_timeout(self, busy_timeout: Duration) -> AppState {
        AppState {
            busy_timeout,
            ..self
        }
    }

    /// The same state, waking `wake` when a fresh link is requested.
    pub fn with_wake(self, wake: Arc<Notify>) -> AppState {
        AppState {
            wake: Some(wake),
            ..self
        }
    }

    /// The same state, `/healthz` also asking `health` how the last pass
    /// went.
    pub fn with_health(self, health: Arc<Health>) -> AppState {
        AppState {
            health: Some(health),
            ..self
        }
    }

    /// The same state, its problem pages naming `reply_to` (a bare
    /// address) as the one to write to.
    pub fn with_reply_to(self, reply_to: Option<&str>) -> AppState {
        AppState {
            reply_to: reply_to.map(Arc::from),
            ..self
        }
    }

    /// Who reads the pages, as the problem pages address them.
    fn reader(&self) -> Reader {
        Reader {
            wheel: self.wheel(),
            reply_to: self.reply_to.clone(),
        }
    }

    /// The same state with another clock.
    pub fn with_clock(self, clock: Clock) -> AppState {
        AppState { clock, ..self }
    }

    fn wheel(&self) -> Arc<Wheel> {
        self.wheel
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Parses the `trusted_proxies` setting: one IP address per entry.
pub fn parse_trusted_proxies(entries: &[String]) -> Result<Vec<IpAddr>, NotAnIp> {
    entries
        .iter()
        .map(|e| {
            e.trim()
                .parse::<IpAddr>()
                .map(|ip| ip.to_canonical())
                .map_err(|_| NotAnIp(e.clone()))
        })
        .collect()
}

/// An entry of `trusted_proxies` that is not an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trusted_proxies: {0:?} is not an IP address")]
pub struct NotAnIp(pub String);

/// The routes, with security headers on every response (fallbacks included)
/// and the body limit.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/done/{token}",
            get(show)
                .post(complete)
                .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route(
            "/done/{token}/new-link",
            get(back_to_link).post(request_link),
        )
        .route("/calendar/{file}", get(calendar_feed))
        .route("/overview/{token}", get(overview_page))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .with_state(state)
}

/// The optional form of `POST /done/{token}`.
#[derive(Debug, Default, Deserialize)]
struct CompletionForm {
    #[serde(default)]
    note: Option<String>,
    /// "Udført af": who did the work.
    #[serde(default)]
    performed_by: Option<String>,
    /// Evidence files (only in `multipart/form-data`).
    #[serde(skip)]
    evidence: Vec<NewEvidence>,
}

/// Reads the form of `POST /done/{token}`: `multipart/form-data` (the
/// page's form, with evidence files) or `application/x-www-form-urlencoded`
/// (note and "Udført af" only, at most [`BODY_LIMIT`]). Every file is read
/// whole before anything is recorded: an upload cut off, or a file over
/// `max_bytes`, is a problem page and nothing is recorded.
async fn read_form(req: Request, max_bytes: u64) -> Result<CompletionForm, (StatusCode, Problem)> {
    let too_large = (
        StatusCode::PAYLOAD_TOO_LARGE,
        Problem::EvidenceTooLarge {
            max_mb: max_bytes.div_ceil(1024 * 1024),
        },
    );
    let bad = (StatusCode::BAD_REQUEST, Problem::BadForm);
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !multipart {
        // The route allows uploads; a plain form keeps the small limit.
        let req =
            req.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, BODY_LIMIT)));
        return match Form::<CompletionForm>::from_request(req, &()).await {
            Ok(Form(form)) => Ok(form),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err((r.status(), Problem::TooLarge))
            }
            Err(r) => Err((r.status(), Problem::BadForm)),
        };
    }
    let mut parts = Multipart::from_request(req, &()).await.map_err(|_| bad)?;
    let fail = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large
        } else {
            bad
        }
    };
    let mut form = CompletionForm::default();
    let mut total = 0u64;
    let mut count = 0usize;
    while let Some(mut field) = parts.next_field().await.map_err(fail)? {
        count += 1;
        if count > MAX_FORM_PARTS {
            return Err((
                StatusCode::PAYLOAD_TOO_LARGE,
                Problem::TooManyFiles { max: db::MAX_FILES },
            ));
        }
        match field.name() {
            Some("evidence") => {
                let name = field.file_name().unwrap_or("").to_string();
                // Grown by doubling but never past what may still come:
                // no capacity beyond the limits is ever taken.
                let mut content = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(fail)? {
                    let len = content.len() as u64 + chunk.len() as u64;
                    if len > max_bytes || total + len > db::MAX_TOTAL_BYTES {
                        return Err(too_large);
                    }
                    if content.capacity() < len as usize {
                        let want = (len as usize).max(content.capacity() * 2);
                        let cap = max_bytes.min(db::MAX_TOTAL_BYTES - total) as usize;
                        content.reserve_exact(want.min(cap) - content.len());
                    }
                    content.extend_from_slice(&chunk);
                }
                content.shrink_to_fit();
                // The file input sends an empty, nameless part when no
                // file is chosen.
                if name.is_empty() && content.is_empty() {
                    continue;
                }
                total += content.len() as u64;
                if form.evidence.len() == db::MAX_FILES {
                    return Err((
                        StatusCode::PAYLOAD_TOO_LARGE,
                        Problem::TooManyFiles { max: db::MAX_FILES },
                    ));
                }
                form.evidence.push(NewEvidence { name, content });
            }
            Some(which @ ("note" | "performed_by")) => {
                let is_note = which == "note";
                let text = field.text().await.map_err(fail)?;
                if is_note {
                    form.note = Some(text);
                } else {
                    form.performed_by = Some(text);
                }
            }
            // Anything else is ignored, as the plain form ignores it.
            _ => while field.chunk().await.map_err(fail)?.is_some() {},
        }
    }
    Ok(form)
}

/// Reserves the memory an upload (a `multipart/form-data` body) may take:
/// its `Content-Length`, or the whole body limit without one, in KiB. A
/// plain form reserves nothing. `Err`: too little is left now.
fn reserve_upload(
    state: &AppState,
    req: &Request,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ()> {
    let headers = req.headers();
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if !multipart {
        return Ok(None);
    }
    let bytes = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(UPLOAD_BODY_LIMIT)
        .min(UPLOAD_BODY_LIMIT);
    let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    state
        .uploads
        .clone()
        .try_acquire_many_owned(kib)
        .map(Some)
        .map_err(|_| ())
}

/// A genuine token (its signature verified) whose task and recipient are in
/// the wheel, expired or not.
struct Link {
    wheel: Arc<Wheel>,
    reply_to: Option<Arc<str>>,
    claims: Claims,
    /// Past its expiry: it can show the occurrence and ask for a fresh
    /// link, but never record a completion.
    expired: bool,
}

impl Link {
    fn task(&self) -> Option<&Task> {
        self.wheel.task(&self.claims.task)
    }

    fn person(&self) -> Option<&Person> {
        self.wheel.person(&self.claims.person)
    }

    fn occurrence(&self) -> Option<Occurrence<'_>> {
        Some(Occurrence {
            organisation: &self.wheel.organisation.name,
            title: &self.task()?.title,
            period: &self.claims.period,
            due: self.claims.due,
            owner: &self.person()?.name,
        })
    }

    fn language(&self) -> Language {
        self.wheel.organisation.language
    }

    fn reader(&self) -> Reader {
        Reader {
            wheel: Arc::clone(&self.wheel),
            reply_to: self.reply_to.clone(),
        }
    }

    /// The page for a completion already on record.
    fn done_page(&self, c: &Completion, fresh: bool) -> Response {
        let Some(o) = self.occurrence() else {
            return problem(&self.reader(), Problem::NotFound);
        };
        let by = match self
            .wheel
            .people
            .values()
            .find(|p| p.email.eq_ignore_ascii_case(&c.by))
        {
            Some(p) => p.name.clone(),
            // Anyone holding an old link may see this page: no full address.
            None if self.expired => mask_address(&c.by),
            None => c.by.clone(),
        };
        let done = Done {
            by: &by,
            at: c.at.with_timezone(&self.wheel.organisation.timezone),
            note: c.note.as_deref(),
        };
        let html = match fresh {
            true => pages::recorded(self.language(), &o, &done),
            false => pages::already_done(self.language(), &o, &done),
        };
        (StatusCode::OK, Html(html)).into_response()
    }
}

/// Whom a page speaks to: the wheel's language, and whom the problem
/// pages send the reader to.
struct Reader {
    wheel: Arc<Wheel>,
    reply_to: Option<Arc<str>>,
}

impl Reader {
    fn language(&self) -> Language {
        self.wheel.organisation.language
    }

    fn contact(&self) -> pages::Contact<'_> {
        match &self.reply_to {
            Some(address) => pages::Contact::Address(address),
            None => pages::Contact::Organisation(&self.wheel.organisation.name),
        }
    }
}

/// An e-mail address with its local part cut to its first character
/// (`a…@kommune.dk`); anything else as it is.
fn mask_address(by: &str) -> String {
    match by.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => by.to_string(),
    }
}

/// Verifies the token's signature and finds its task and recipient in the
/// current wheel, or says which page to answer with (404). An expired token
/// is a [`Link`] with `expired` set.
fn open_link(state: &AppState, token: &str) -> Result<Link, (Reader, Problem)> {
    let reader = state.reader();
    let wheel = Arc::clone(&reader.wheel);
    let (claims, expired) = match token::verify(&state.secret, token, (state.clock)()) {
        Ok(claims) => (claims, false),
        Err(TokenError::Invalid) => return Err((reader, Problem::NotFound)),
        Err(TokenError::Expired(claims)) => (claims, true),
    };
    let link = Link {
        wheel,
        reply_to: state.reply_to.clone(),
        claims,
        expired,
    };
    // A task or recipient no longer in the wheel cannot be shown or credited.
    if link.task().is_none() || link.person().is_none() {
        return Err((reader, Problem::NotFound));
    }
    Ok(link)
}

/// `GET /done/{token}` (and HEAD): who
/// already did it; else the form, or for an expired link the page that
/// offers a fresh one. Changes nothing.
async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match open_link(&state, &token) {
        Ok(link) => link,
        Err((reader, p)) => return problem(&reader, p),
    };
    let (task, period) = (link.claims.task.clone(), link.claims.period.clone());
    let found = with_store(&state, move |store| store.completion(&task, &period)).await;
    match found {
        Ok(Some(c)) => link.done_page(&c, false),
        Ok(None) => match link.occurrence() {
            Some(o) if link.expired => expired_page(link.language(), &o, &token),
            Some(o) => (StatusCode::OK, Html(pages::confirm(link.language(), &o))).into_response(),
            None => problem(&link.reader(), Problem::NotFound),
        },
        Err(e) => {
            tracing::error!(task = %link.claims.task, period = %link.claims.period, "cannot read the completion: {e}");
            problem(&link.reader(), Problem::Unavailable)
        }
    }
}

/// `POST /done/{token}`: records the completion once.
async fn complete(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: Client,
    req: Request,
) -> Response {
    let link = match open_link(&state, &token) {
        Ok(link) => link,
        Err((reader, p)) => return problem(&reader, p),
    };
    if link.expired {
        // Never records: who did it, or the page that offers a fresh link.
        return show(State(state), Path(token)).await;
    }
    // An upload reserves its share of the memory budget until its
    // completion is recorded (or refused); none left is 503, nothing read.
    let _reserved = match reserve_upload(&state, &req) {
        Ok(permit) => permit,
        Err(()) => {
            tracing::warn!(task = %link.claims.task, period = %link.claims.period, "upload refused: the uploads in progress hold the memory budget; nothing recorded");
            return problem(&link.reader(), Problem::Busy);
        }
    };
    let form = match read_form(req, state.evidence_max_bytes).await {
        Ok(form) => form,
        Err((status, p)) => {
            tracing::info!(task = %link.claims.task, period = %link.claims.period, "completion form refused: {p:?}; nothing recorded");
            return problem_with(status, &link.reader(), p);
        }
    };
    let note = form
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if let Some(n) = &note {
        let chars = n.chars().count();
        if chars > NOTE_MAX_CHARS {
            return problem(&link.reader(), Problem::NoteTooLong { chars });
        }
    }
    let performed_by = form
        .performed_by
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if let Some(p) = &performed_by {
        let chars = p.chars().count();
        if chars > PERFORMED_BY_MAX_CHARS {
            return problem(&link.reader(), Problem::PerformedByTooLong { chars });
        }
    }
    let extras = CompletionExtras {
        performed_by,
        evidence: form.evidence,
    };
    let Some(person) = link.person() else {
        return problem(&link.reader(), Problem::NotFound);
    };
    let now = (state.clock)();
    let at: DateTime<FixedOffset> = now
        .with_timezone(&link.wheel.organisation.timezone)
        .fixed_offset();
    let completion = NewCompletion {
        task: link.claims.task.clone(),
        period: link.claims.period.clone(),
        at,
        by: person.email.clone(),
        via: Via::Link,
        note,
        client_addr: client.addr.map(|a| a.to_string()),
        user_agent: client.user_agent,
        recorded_at: at,
    };
    let outcome = with_store(&state, move |store| {
        let outcome = store.record_completion_with(&completion, &extras)?;
        Ok((completion, outcome))
    })
    .await;
    match outcome {
        Ok((c, CompletionOutcome::Recorded)) => {
            tracing::info!(task = %c.task, period = %c.period, by = %c.by, "completion recorded");
            let recorded = Completion {
                task: c.task,
                period: c.period,
                at: c.at,
                by: c.by,
                via: "link".into(),
                note: c.note,
            };
            link.done_page(&recorded, true)
        }
        Ok((_, CompletionOutcome::AlreadyDone(existing))) => link.done_page(&existing, false),
        Err(e) => {
            tracing::error!(task = %link.claims.task, period = %link.claims.period, "cannot record the completion: {e}");
            problem(&link.reader(), Problem::Unavailable)
        }
    }
}

/// The page of an expired link to an open occurrence: 410, naming it, with
/// the button that asks for a fresh link.
fn expired_page(lang: Language, o: &Occurrence<'_>, token: &str) -> Response {
    // Relative to `/done/{token}`, so it works behind a path prefix too.
    let action = format!("{token}/new-link");
    (StatusCode::GONE, Html(pages::expired(lang, o, &action))).into_response()
}

/// `GET /done/{token}/new-link` (a reload, a bookmark): back to the link's
/// own page, relative so that it works behind a path prefix too.
async fn back_to_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    match HeaderValue::from_str(&format!("../{token}")) {
        Ok(location) if token.bytes().all(url_safe) => {
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        _ => problem(&state.reader(), Problem::NotFound),
    }
}

/// `POST /done/{token}/new-link`: records a request for a fresh link to the
/// person the token was issued to, rate limited, and wakes the engine,
/// which sends it to the address the wheel has for that person. The body
/// is ignored: nothing in the request can choose the recipient.
async fn request_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: Client,
) -> Response {
    let link = match open_link(&state, &token) {
        Ok(link) => link,
        Err((reader, p)) => return problem(&reader, p),
    };
    let lang = link.language();
    let at: DateTime<FixedOffset> = (state.clock)()
        .with_timezone(&link.wheel.organisation.timezone)
        .fixed_offset();
    let request = NewLinkRequest {
        task: link.claims.task.clone(),
        period: link.claims.period.clone(),
        due: link.claims.due,
        person: link.claims.person.clone(),
        at,
        client_addr: client.addr.map(|a| a.to_string()),
        user_agent: client.user_agent,
    };
    let limits = LinkLimits {
        per_recipient: chrono::Duration::from_std(LINK_REQUEST_INTERVAL)
            .unwrap_or(chrono::Duration::hours(1)),
        total: LINK_REQUESTS_PER_HOUR,
        window: chrono::Duration::hours(1),
    };
    let outcome = with_store(&state, move |store| store.request_link(&request, limits)).await;
    let Some(o) = link.occurrence() else {
        return problem(&link.reader(), Problem::NotFound);
    };
    let refused = |retry_after_secs: i64, html: String| {
        let mut response = (StatusCode::TOO_MANY_REQUESTS, Html(html)).into_response();
        if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    };
    match outcome {
        Ok(LinkRequestOutcome::Recorded(_)) => {
            tracing::info!(task = %link.claims.task, period = %link.claims.period, person = %link.claims.person, "new link requested");
            if let Some(wake) = &state.wake {
                wake.notify_one();
            }
            (StatusCode::ACCEPTED, Html(pages::link_requested(lang, &o))).into_response()
        }
        Ok(LinkRequestOutcome::Recent { retry_after_secs }) => refused(
            retry_after_secs,
            pages::link_recent(lang, &o, minutes(retry_after_secs)),
        ),
        Ok(LinkRequestOutcome::Busy { retry_after_secs }) => {
            tracing::warn!(
                "a request for a new link was refused: {LINK_REQUESTS_PER_HOUR} in the last hour"
            );
            refused(
                retry_after_secs,
                pages::link_busy(lang, &o, minutes(retry_after_secs)),
            )
        }
        Ok(LinkRequestOutcome::AlreadyDone(c)) => link.done_page(&c, false),
        Err(e) => {
            tracing::error!(task = %link.claims.task, period = %link.claims.period, "cannot record a request for a new link: {e}");
            problem(&link.reader(), Problem::Unavailable)
        }
    }
}

/// Whole minutes to wait, rounded up, at least one.
fn minutes(secs: i64) -> i64 {
    (secs.max(1) + 59) / 60
}

/// `GET /healthz`: 200 `ok` when the daemon's last pass went through
/// recently (see [`Health`]) and the database takes a write lock, else 503
/// with the reason as one line of text. It waits at most [`HEALTH_WAIT`]
/// for the store and the lock: while a pass holds the store or another
/// process holds the write lock, the answer is 503 `database busy` with
/// `Retry-After: 1`, never a hang.
async fn healthz(State(state): State<AppState>) -> Response {
    let unhealthy = |retry: HeaderValue, reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, retry)],
            format!("{reason}\n"),
        )
            .into_response()
    };
    match with_store_within(&state, HEALTH_WAIT, |store| store.probe_write()).await {
        Ok(()) => {}
        Err(StoreError::Busy { .. } | StoreError::Locked { .. }) => {
            return unhealthy(HeaderValue::from_static("1"), "database busy".into());
        }
        Err(e) => {
            tracing::warn!("health check failed: {e}");
            return unhealthy(
                HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS),
                "database unavailable".into(),
            );
        }
    }
    let passes = state
        .health
        .as_ref()
        .map_or(Ok(()), |h| h.check(std::time::Instant::now()));
    match passes {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(reason) => unhealthy(HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS), reason),
    }
}

/// `GET /calendar/{token}.ics`: a viewer's calendar feed, built from the
/// store on each request (in `spawn_blocking`, like all store work). A
/// token that is forged, not a calendar token, revoked (its version is not
/// the store's), for a person no longer in the wheel or whose key now has
/// another mailbox: 404, as a bad completion link.
async fn calendar_feed(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let wheel = state.wheel();
    let claims = file
        .strip_suffix(".ics")
        .and_then(|token| token::verify_viewer(&state.secret, token))
        .filter(|c| c.kind == ViewerKind::Calendar)
        .filter(|c| c.holds(&wheel));
    let Some(claims) = claims else {
        return problem(&state.reader(), Problem::NotFound);
    };
    // One feed build at a time; a feed built in the last minute for this
    // token version and wheel is served again. The turn is waited for at
    // most `busy_timeout_ms`, like the database.
    let Ok(mut feeds) = tokio::time::timeout(state.busy_timeout, state.feeds.lock()).await else {
        return problem(&state.reader(), Problem::Unavailable);
    };
    let version = {
        let claims = claims.clone();
        with_store(&state, move |store| {
            store.viewer_version(claims.kind.as_str(), &claims.viewer.as_key())
        })
        .await
    };
    let viewer = claims.viewer.as_key();
    let built = match version {
        Ok(current) if current != claims.version => Ok(None),
        Ok(_) => match feeds.get(&viewer, claims.version, &wheel, std::time::Instant::now()) {
            Some(body) => Ok(Some(body)),
            None => build_feed(&state, wheel.clone(), claims.clone()).await,
        },
        Err(e) => Err(e),
    };
    if let Ok(Some(body)) = &built {
        feeds.put(
            viewer,
            claims.version,
            wheel,
            body.clone(),
            std::time::Instant::now(),
        );
    }
    drop(feeds);
    match built {
        Ok(Some(body)) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/calendar; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("inline; filename=\"arshjul.ics\""),
                ),
            ],
            body.to_string(),
        )
            .into_response(),
        Ok(None) => problem(&state.reader(), Problem::NotFound),
        Err(e) => {
            tracing::error!("cannot build a calendar feed: {e}");
            problem(&state.reader(), Problem::Unavailable)
        }
    }
}

/// `GET /overview/{token}`: the organisation's wheel, status and next 60
/// days for the person the token was made for. A token that is forged,
/// not an overview token, revoked (its version is not the store's), for
/// a person no longer in the wheel or whose key now has another mailbox:
/// the 404 page.
async fn overview_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let wheel = state.wheel();
    let claims = token::verify_viewer(&state.secret, &token);
    let Some((claims, name)) = claims.and_then(|c| {
        let name = overview::viewer_of(&wheel, &c)?.name.clone();
        Some((c, name))
    }) else {
        return problem(&state.reader(), Problem::NotFound);
    };
    let now = (state.clock)();
    let lang = wheel.organisation.language;
    // Read under the store, then plan and draw without it (as the feeds
    // do), so a large wheel does not hold up passes and completions.
    let read = {
        let wheel = wheel.clone();
        with_store(&state, move |store| {
            let current = store.viewer_version(claims.kind.as_str(), &claims.viewer.as_key())?;
            if current != claims.version {
                return Ok(None);
            }
            overview::read(store, &wheel, now).map(Some)
        })
        .await
    };
    let built = match read {
        Ok(Some(read)) => {
            tokio::task::spawn_blocking(move || Some(overview::build(&wheel, &name, now, read)))
                .await
                .map_err(|e| StoreError::Sqlite(format!("building the overview stopped: {e}")))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    match built {
        Ok(Some(page)) => (StatusCode::OK, Html(pages::overview(lang, &page))).into_response(),
        Ok(None) => problem(&state.reader(), Problem::NotFound),
        Err(e) => {
            tracing::error!("cannot build the overview: {e}");
            problem(&state.reader(), Problem::Unavailable)
        }
    }
}

/// Builds `claims`'s feed: reads the occurrences from the database, then
/// (no longer holding it, so passes and completions go on) works out
/// their states and writes the iCalendar text.
async fn build_feed(
    state: &AppState,
    wheel: Arc<Wheel>,
    claims: crate::link::ViewerClaims,
) -> Result<Option<Arc<str>>, StoreError> {
    let now = (state.clock)();
    let today = crate::calendar::Calendar::new(&wheel.organisation).local_date(&now);
    let from = today
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(chrono::NaiveDate::MIN);
    let to = today
        .checked_add_months(chrono::Months::new(24))
        .unwrap_or(chrono::NaiveDate::MAX);
    let history = {
        let wheel = wheel.clone();
        with_store(state, move |store| {
            store.history_at(&wheel, now, |h| {
                crate::planner::periods_between(&wheel, h, now, from, to)
            })
        })
        .await?
    };
    let secret = state.secret.clone();
    let links = state.feed_links.clone();
    tokio::task::spawn_blocking(move || {
        let marks = crate::planner::marks(&wheel, &history, now, from, to);
        let links = links.as_ref().map(|l| crate::feed::Links {
            public_url: &l.public_url,
            secret: &secret,
            link_days: l.link_days,
        });
        let ics = crate::feed::ics(&wheel, &marks, &claims.viewer, links.as_ref(), now);
        Some(Arc::from(ics))
    })
    .await
    .map_err(|e| StoreError::Sqlite(format!("building the feed stopped: {e}")))
}

/// Any other path: the 404 page. The path is not logged (it may be a token).
async fn not_found(State(state): State<AppState>) -> Response {
    problem(&state.reader(), Problem::NotFound)
}

/// Runs `work` on the store in a blocking thread, so the lock is never
/// held across an `.await` and the async threads never wait on SQLite.
/// Waits its turn for the store at most the busy timeout, then
/// [`StoreError::Busy`].
async fn with_store<T, F>(state: &AppState, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
{
    with_store_within(state, state.busy_timeout, work).await
}

/// [`with_store`], waiting at most `wait` in all: for the store (held by
/// a pass or another request), then for another process's lock on the
/// database (SQLite's busy timeout, set to what is left of `wait` for this
/// work and put back after).
async fn with_store_within<T, F>(state: &AppState, wait: Duration, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut guard = db::lock_within(&store, wait)?;
        let own = guard.busy_timeout();
        let left = wait.saturating_sub(started.elapsed()).min(own);
        guard.set_busy_timeout(left.max(Duration::from_millis(1)))?;
        let done = work(&mut guard);
        if let Err(e) = guard.set_busy_timeout(own) {
            tracing::warn!("cannot restore the database's busy timeout: {e}");
        }
        done
    })
    .await
    .unwrap_or_else(|e| {
        Err(StoreError::Sqlite(format!(
            "the database task stopped: {e}"
        )))
    })
}

fn problem(reader: &Reader, p: Problem) -> Response {
    let status = match p {
        Problem::NotFound => StatusCode::NOT_FOUND,
        Problem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Problem::NoteTooLong { .. } | Problem::PerformedByTooLong { .. } | Problem::BadForm => {
            StatusCode::BAD_REQUEST
        }
        Problem::EvidenceTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Problem::TooManyFiles { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Problem::Unavailable | Problem::Busy => StatusCode::SERVICE_UNAVAILABLE,
    };
    problem_with(status, reader, p)
}

/// A problem page; a 503 says when to try again (`Retry-After`).
fn problem_with(status: StatusCode, reader: &Reader, p: Problem) -> Response {
    let html = pages::problem(reader.language(), p, reader.contact());
    let mut response = (status, Html(html)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER_UNAVAILABLE_SECS),
        );
    }
    response
}

/// Who sent the request: the address to record, and the user agent.
struct Client {
    addr: Option<IpAddr>,
    user_agent: Option<String>,
}

impl FromRequestParts<AppState> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Client, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        let forwarded: Vec<&str> = parts
            .headers
            .get_all(HeaderName::from_static("x-forwarded-for"))
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let addr = peer.map(|p| client_addr(p, &forwarded, &state.trusted_proxies));
        let user_agent = parts.headers.get(header::USER_AGENT).map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(USER_AGENT_MAX_CHARS)
                .collect()
        });
        Ok(Client { addr, user_agent })
    }
}

/// The client's address: the peer, unless the peer is a trusted proxy; then
/// the right-most address in `X-Forwarded-For` that is not a trusted proxy
/// (the one the first trusted proxy saw). Left of that, anyone can write
/// anything. A list that cannot be read is ignored and the peer kept.
pub fn client_addr(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut hops = Vec::new();
    for entry in forwarded_for.iter().flat_map(|h| h.split(',')) {
        match parse_hop(entry.trim()) {
            Some(ip) => hops.push(ip),
            None => return peer,
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !trusted.contains(&hop) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = [ip("10.0.0.1")];
        assert_eq!(
            client_addr(ip("203.0.113.9"), &["198.51.100.7"], &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_untrusted_forwarded_address_is_the_client() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        let check = |forwarded: &[&str], expected: &str| {
            assert_eq!(
                client_addr(ip("10.0.0.1"), forwarded, &trusted),
                ip(expected),
                "{forwarded:?}"
            );
        };
        check(&["198.51.100.7"], "198.51.100.7");
        // The client forged the left-most entry; the proxy appended the real one.
        check(&["6.6.6.6, 198.51.100.7"], "198.51.100.7");
        check(&["6.6.6.6, 198.51.100.7, 10.0.0.2"], "198.51.100.7");
        check(&["6.6.6.6", "198.51.100.7"], "198.51.100.7");
        check(&["198.51.100.7:4711"], "198.51.100.7");
        check(&["[2001:db8::7]:443"], "2001:db8::7");
        // Only trusted hops: the left-most is as far as anyone knows.
        check(&["10.0.0.2"], "10.0.0.2");
        // Nothing forwarded, or something unreadable: the peer.
        check(&[], "10.0.0.1");
        check(&["unknown, 198.51.100.7"], "10.0.0.1");
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_a_trusted_ipv4_proxy() {
        let trusted = [ip("127.0.0.1")];
        assert_eq!(
            client_addr(ip("::ffff:127.0.0.1"), &["198.51.100.7"], &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn trusted_proxies_are_parsed_and_a_bad_one_is_named() {
        let list = vec!["127.0.0.1".to_string(), " ::1 ".to_string()];
        assert_eq!(
            parse_trusted_proxies(&list),
            Ok(vec![ip("127.0.0.1"), ip("::1")])
        );
        let bad = vec!["10.0.0.0/8".to_string()];
        assert_eq!(
            parse_trusted_proxies(&bad),
            Err(NotAnIp("10.0.0.0/8".into()))
        );
        assert_eq!(
            parse_trusted_proxies(&bad).unwrap_err().to_string(),
            "trusted_proxies: \"10.0.0.0/8\" is not an IP address"
        );
    }
}
