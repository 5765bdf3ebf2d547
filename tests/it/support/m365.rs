//! A stand-in for Microsoft 365 on 127.0.0.1, plain HTTP: an OAuth 2.0
//! token endpoint (client-credentials grant, as Entra ID answers it) and
//! Graph's `POST /v1.0/users/{from}/sendMail` for MIME messages. It issues
//! random tokens with a lifetime of our choosing, can revoke them, be
//! "down" or refuse the client, and Graph can be told what to answer next
//! (429 with `Retry-After`, 401, 403…). [`M365::valid`] tells the test SMTP
//! server whether a bearer token is good.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use tokio::task::JoinHandle;

/// The tenant in the token URL.
pub const TENANT: &str = "ballerup.example";
pub const CLIENT_ID: &str = "0f1e2d3c-client";
pub const CLIENT_SECRET: &str = "Qx8~s3cr3t-never-logged";

/// How the token endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenMode {
    #[default]
    Normal,
    /// 503 with an Entra-style JSON error.
    Down,
    /// 401 `invalid_client`, as Entra answers a wrong secret.
    BadSecret,
}

/// One token issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub scope: String,
    pub expires: Instant,
    pub revoked: bool,
}

/// One `sendMail` request Graph accepted (or refused).
#[derive(Debug, Clone)]
pub struct GraphPost {
    /// The `{from}` of the path, percent-decoded.
    pub user: String,
    pub content_type: String,
    pub bearer: String,
    /// The body, base64-decoded: the MIME message.
    pub mime: Vec<u8>,
    pub status: u16,
}

/// A special answer for the next `sendMail`.
#[derive(Debug, Clone)]
pub struct GraphAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A raw token answer: status, body, headers.
type TokenAnswer = (u16, String, Vec<(String, String)>);

#[derive(Debug, Default)]
struct Inner {
    token_mode: TokenMode,
    /// Lifetime of new tokens, in seconds.
    lifetime: u64,
    issued: Vec<Issued>,
    /// Every form posted to the token endpoint.
    requests: Vec<HashMap<String, String>>,
    graph_next: VecDeque<GraphAnswer>,
    /// Raw answers (status, body, headers) for the next token requests.
    token_next: VecDeque<TokenAnswer>,
    posts: Vec<GraphPost>,
    counter: u64,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().expect("m365 state lock")
    }
}

pub struct M365 {
    pub addr: SocketAddr,
    state: Shared,
    task: JoinHandle<()>,
}

impl M365 {
    pub async fn start() -> M365 {
        let state = Shared(Arc::new(Mutex::new(Inner {
            lifetime: 3600,
            ..Inner::default()
        })));
        let app = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/users/{user}/sendMail", post(send_mail))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        M365 { addr, state, task }
    }

    pub fn token_url(&self) -> String {
        format!("http://{}/{TENANT}/oauth2/v2.0/token", self.addr)
    }

    pub fn graph_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_token_mode(&self, mode: TokenMode) {
        self.state.lock().token_mode = mode;
    }

    /// The lifetime (`expires_in`) of tokens issued from now on.
    pub fn set_lifetime(&self, seconds: u64) {
        self.state.lock().lifetime = seconds;
    }

    /// The next token request gets this status and (JSON) body as it is:
    /// garbage, a token with an absurd lifetime, a huge body…
    pub fn token_answer_next(&self, status: u16, body: &str) {
        self.state
            .lock()
            .token_next
            .push_back((status, body.to_string(), Vec::new()));
    }

    /// The next token request gets this status, these headers (e.g.
    /// `Retry-After`) and this (JSON) body.
    pub fn token_answer_next_with(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.state.lock().token_next.push_back((
            status,
            body.to_string(),
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    }

    /// The next token request is answered `307 Temporary Redirect` to
    /// `location` (a client following it would post the secret there).
    pub fn token_redirect_next(&self, location: &str) {
        self.state.lock().token_next.push_back((
            307,
            String::new(),
            vec![("location".to_string(), location.to_string())],
        ));
    }

    /// Revokes every token issued so far (as an admin revoking consent).
    pub fn revoke_all(&self) {
        for t in &mut self.state.lock().issued {
            t.revoked = true;
        }
    }

    /// Whether `token` was issued here, for `scope`, and is neither expired
    /// nor revoked.
    pub fn valid(&self, token: &str, scope: &str) -> bool {
        let now = Instant::now();
        self.state
            .lock()
            .issued
            .iter()
            .any(|t| t.token == token && t.scope == scope && !t.revoked && now < t.expires)
    }

    /// Every form posted to the token endpoint, oldest first.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.state.lock().requests.clone()
    }

    pub fn issued(&self) -> Vec<Issued> {
        self.state.lock().issued.clone()
    }

    /// The next `sendMail` gets this answer instead of 202.
    pub fn graph_answer_next(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.state.lock().graph_next.push_back(GraphAnswer {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string(),
        });
    }

    pub fn graph_posts(&self) -> Vec<GraphPost> {
        self.state.lock().posts.clone()
    }

    /// The messages Graph accepted, oldest first.
    pub fn graph_accepted(&self) -> Vec<GraphPost> {
        self.graph_posts()
            .into_iter()
            .filter(|p| p.status == 202)
            .collect()
    }
}

impl Drop for M365 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

async fn token(
    State(state): State<Shared>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock();
    s.requests.push(form.clone());
    if let Some((status, body, headers)) = s.token_next.pop_front() {
        let mut response = json(StatusCode::from_u16(status).expect("status"), body);
        for (name, value) in headers {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                axum::http::HeaderValue::from_str(&value).expect("header value"),
            );
        }
        return response;
    }
    match s.token_mode {
        TokenMode::Down => {
            return json(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred. Please try again.\r\nTrace ID: 7e1c\r\nCorrelation ID: 99"}"#.into(),
            )
        }
        TokenMode::BadSecret => {
            return json(
                StatusCode::UNAUTHORIZED,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 1\r\nCorrelation ID: 2"}"#.into(),
            )
        }
        TokenMode::Normal => {}
    }
    let good = tenant == TENANT
        && form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if !good {
        return json(
            StatusCode::BAD_REQUEST,
            r#"{"error":"invalid_request","error_description":"AADSTS900144: bad request"}"#.into(),
        );
    }
    s.counter += 1;
    let token = format!("eyJ0eXAi.token-{}-{}", s.counter, std::process::id());
    let lifetime = s.lifetime;
    s.issued.push(Issued {
        token: token.clone(),
        scope: form.get("scope").cloned().unwrap_or_default(),
        expires: Instant::now() + Duration::from_secs(lifetime),
        revoked: false,
    });
    json(
        StatusCode::OK,
        format!(
            r#"{{"token_type":"Bearer","expires_in":{lifetime},"ext_expires_in":{lifetime},"access_token":"{token}"}}"#
        ),
    )
}

async fn send_mail(
    State(state): State<Shared>,
    Path(user): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let bearer = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or("")
        .to_string();
    let mime = base64::engine::general_purpose::STANDARD
        .decode(body.as_ref())
        .unwrap_or_default();
    let now = Instant::now();
    let mut s = state.lock();
    let valid = s.issued.iter().any(|t| {
        t.token == bearer
            && t.scope == "https://graph.microsoft.com/.default"
            && !t.revoked
            && now < t.expires
    });
    let (status, extra, text) = if !valid {
        (
            401,
            Vec::new(),
            r#"{"error":{"code":"InvalidAuthenticationToken","message":"Access token has expired or is not yet valid."}}"#.to_string(),
        )
    } else if let Some(a) = s.graph_next.pop_front() {
        (a.status, a.headers, a.body)
    } else if header("content-type") != "text/plain" || mime.is_empty() {
        (
            400,
            Vec::new(),
            r#"{"error":{"code":"ErrorMimeContentInvalidBase64String","message":"Invalid base64 string for MIME content."}}"#.to_string(),
        )
    } else {
        (202, Vec::new(), String::new())
    };
    s.posts.push(GraphPost {
        user,
        content_type: header("content-type"),
        bearer,
        mime,
        status,
    });
    let mut response = (
        StatusCode::from_u16(status).expect("status"),
        [("content-type", "application/json")],
        text,
    )
        .into_response();
    for (k, v) in extra {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            axum::http::HeaderValue::from_str(&v).expect("header value"),
        );
    }
    if status == 202 {
        response.headers_mut().insert(
            "request-id",
            axum::http::HeaderValue::from_static("4b2f-test"),
        );
    }
    response
}
