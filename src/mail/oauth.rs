//! OAuth 2.0 access tokens by the client-credentials grant (RFC 6749
//! section 4.4), as Microsoft Entra ID issues them for Exchange Online SMTP
//! (`XOAUTH2`) and Microsoft Graph. A token is cached and fetched again
//! shortly before it expires, or at once when the server refused it.
//!
//! The client secret and the tokens never reach a log line or an error
//! message: errors quote the token endpoint's `error` and
//! `error_description`, trimmed and stripped of control characters.

use std::time::{Duration, Instant};

use super::{DeliveryError, MailError};
use crate::settings::OAuthSettings;

/// A token is renewed this long before it expires (or halfway through its
/// life, if that is sooner), so it never expires in the middle of a session.
const RENEW_EARLY: Duration = Duration::from_secs(5 * 60);

/// The longest a request to the token endpoint may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest lifetime a token is trusted for, whatever the endpoint says
/// (Entra's tokens last 60 to 90 minutes). An absurd `expires_in` (up to
/// `u64::MAX` seconds) would otherwise overflow `Instant` and panic.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The most of an HTTP answer's body that is read (a token answer is about
/// 2 KB, an error a few hundred bytes): a broken or hostile endpoint
/// streaming gigabytes must not fill the daemon's memory.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// After a failed fetch the endpoint is not asked again for this long (or
/// for as long as its `Retry-After` asks): a pass with many messages would
/// otherwise ask once per message. Shorter than the first retry of a
/// deferred message (5 min), so the next attempt asks afresh.
pub const HOLD_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The most of a server's error text that is kept.
const MAX_ERROR_CHARS: usize = 300;

/// A client of one token endpoint, with its cached token.
pub struct OAuth {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    /// Never logged, never in an error message, never in `Debug`.
    client_secret: String,
    scope: String,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// The last fetch failed: its error, and when the endpoint may be
    /// asked again.
    failed: Option<(DeliveryError, Instant)>,
}

struct Cached {
    token: String,
    /// When to fetch a new one.
    renew_at: Instant,
}

/// An access token for one use.
pub struct Token {
    /// The bearer token; never log it.
    pub secret: String,
    /// Whether this call fetched it (`false`: from the cache).
    pub fetched: bool,
    /// How long the endpoint said it is valid (for a token just fetched).
    pub expires_in: Duration,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// The client from settings; `default_scope` depends on the transport.
    /// `secret` is the content of the client-secret file.
    pub fn new(
        settings: &OAuthSettings,
        secret: Option<String>,
        default_scope: &str,
        http: reqwest::Client,
    ) -> Result<OAuth, MailError> {
        let client_id = nonempty(&settings.client_id).ok_or_else(|| {
            MailError::Setup("OAuth is in use but `mail.oauth.client_id` is not set".into())
        })?;
        let token_url = token_url(settings)?;
        let client_secret = secret
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                MailError::Setup(
                    "OAuth is in use but there is no client secret (set \
                     `mail.oauth.client_secret_file` or provide the `oauth-client-secret` \
                     credential)"
                        .into(),
                )
            })?;
        let scope = nonempty(&settings.scope).unwrap_or_else(|| default_scope.to_string());
        Ok(OAuth {
            http,
            token_url,
            client_id,
            client_secret,
            scope,
            state: tokio::sync::Mutex::new(State::default()),
        })
    }

    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A valid token: the cached one, or a new one if it is due for
    /// renewal. A failure is temporary: the message waits, nothing is lost.
    /// After a failure the endpoint is not asked again before its
    /// `Retry-After` or [`HOLD_AFTER_FAILURE`]: until then every call gets
    /// the same error (a throttled one with the wait that is left).
    pub async fn token(&self) -> Result<Token, DeliveryError> {
        let mut state = self.state.lock().await;
        let State { cached, failed } = &mut *state;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.renew_at {
                return Ok(Token {
                    secret: c.token.clone(),
                    fetched: false,
                    expires_in: c.renew_at.saturating_duration_since(Instant::now()),
                });
            }
        }
        if let Some((error, until)) = failed.as_ref() {
            let now = Instant::now();
            if now < *until {
                return Err(match error {
                    DeliveryError::Throttled { reason, .. } => DeliveryError::Throttled {
                        reason: reason.clone(),
                        retry_after: until.duration_since(now).max(Duration::from_secs(1)),
                    },
                    other => other.clone(),
                });
            }
        }
        let (token, lifetime) = match self.fetch().await {
            Ok(fetched) => {
                *failed = None;
                fetched
            }
            Err(e) => {
                let hold = match &e {
                    DeliveryError::Throttled { retry_after, .. } => *retry_after,
                    _ => HOLD_AFTER_FAILURE,
                };
                *failed = Some((e.clone(), Instant::now() + hold));
                return Err(e);
            }
        };
        let early = RENEW_EARLY.min(lifetime / 2);
        *cached = Some(Cached {
            token: token.clone(),
            renew_at: Instant::now() + lifetime - early,
        });
        Ok(Token {
            secret: token,
            fetched: true,
            expires_in: lifetime,
        })
    }

    /// Forgets the cached token if it is still `refused` (the server said
    /// it is not valid), so that the next [`OAuth::token`] fetches one.
    pub async fn refused(&self, refused: &str) {
        let cached = &mut self.state.lock().await.cached;
        if cached.as_ref().is_some_and(|c| c.token == refused) {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<(String, Duration), DeliveryError> {
        let url = &self.token_url;
        let failed =
            |what: String| DeliveryError::Temporary(format!("OAuth token endpoint {url}: {what}"));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("scope", self.scope.as_str()),
        ];
        let response = self
            .http
            .post(url)
            .timeout(TOKEN_TIMEOUT)
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| failed(http_error(e)))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let body = read_body(response).await.map_err(failed)?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        if !status.is_success() {
            let code = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(|e| e.as_str());
            let mut reason = format!(
                "OAuth token endpoint {url}: HTTP {}: {}",
                status.as_u16(),
                oauth_error(json.as_ref(), &body)
            );
            if let Some(fix) = operator_fix(status.as_u16(), code) {
                reason = format!("{reason} — To fix: {fix}");
            }
            return Err(match wait {
                Some(retry_after) if status.as_u16() == 429 || status.is_server_error() => {
                    DeliveryError::Throttled {
                        reason,
                        retry_after,
                    }
                }
                _ => DeliveryError::Temporary(reason),
            });
        }
        let Some(json) = json else {
            return Err(failed("the answer is not JSON".into()));
        };
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| failed("the answer has no `access_token`".into()))?;
        // Entra sends a number; some servers send it as a string.
        let expires_in = match json.get("expires_in") {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        // Without a lifetime, assume an hour, Entra's usual.
        .unwrap_or(3600);
        if expires_in == 0 {
            return Err(failed("the token it issued has already expired".into()));
        }
        Ok((
            token.to_string(),
            Duration::from_secs(expires_in).min(MAX_LIFETIME),
        ))
    }
}

/// The token endpoint: `mail.oauth.token_url`, else Entra's for the tenant.
/// Plain `http` only for the loopback interface (tests, a local proxy).
pub fn token_url(settings: &OAuthSettings) -> Result<String, MailError> {
    let url = match (nonempty(&settings.token_url), nonempty(&settings.tenant)) {
        (Some(url), _) => url,
        (None, Some(tenant)) => {
            format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
        }
        (None, None) => {
            return Err(MailError::Setup(
                "OAuth is in use but neither `mail.oauth.tenant` nor `mail.oauth.token_url` \
                 is set"
                    .into(),
            ))
        }
    };
    require_https(&url, "mail.oauth.token_url")?;
    Ok(url)
}

/// Accepts `https://…`, and `http://…` only on a loopback host.
pub fn require_https(url: &str, setting: &str) -> Result<(), MailError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| MailError::Setup(format!("setting `{setting}`: {url:?} is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        _ => Err(MailError::Setup(format!(
            "setting `{setting}`: {url:?} must use https (plain http only on 127.0.0.1, ::1 \
             or localhost)"
        ))),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A `Retry-After` is honoured up to this (the longest retry wait).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(6 * 60 * 60);

/// The wait a `Retry-After` header asks for: seconds, or an HTTP date
/// measured against the response's own `Date` (so arshjul's clock plays no
/// part). At least 1 s, at most 6 h.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let seconds = match value.parse::<u64>() {
        Ok(s) => s,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
            let now = chrono::DateTime::parse_from_rfc2822(date.trim()).ok()?;
            u64::try_from((at - now).num_seconds()).unwrap_or(0)
        }
    };
    Some(Duration::from_secs(seconds.max(1)).min(MAX_RETRY_AFTER))
}

/// An HTTP answer's body, at most [`MAX_BODY_BYTES`]; a longer one is an
/// error, read no further.
pub async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http_error)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!(
                "the answer is larger than {} KiB; not read further",
                MAX_BODY_BYTES / 1024
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What an operator must change when the token endpoint refuses the client
/// itself (RFC 6749 section 5.2; Entra answers a wrong or expired secret
/// `401 invalid_client`, an app unknown in the tenant `400
/// unauthorized_client`, an unknown tenant `400 invalid_request`, a wrong
/// scope `400 invalid_scope`). Asking again will not help until then; the
/// failure stays temporary so that fixing the setting and reloading
/// resumes delivery without losing a message.
fn operator_fix(status: u16, code: Option<&str>) -> Option<&'static str> {
    Some(match (code, status) {
        (Some("invalid_client"), _) | (None, 401) => {
            "the client ID or secret is wrong, or the secret has expired: check \
             `mail.oauth.client_id` and the client secret (make a new one in the app \
             registration in Entra ID if it expired), then reload arshjul"
        }
        (Some("unauthorized_client"), _) => {
            "the app is not known in this tenant or may not use the client-credentials \
             grant: check `mail.oauth.client_id` and `mail.oauth.tenant`, then reload arshjul"
        }
        (Some("invalid_scope"), _) => {
            "the scope is not valid: check `mail.oauth.scope` (leave it unset for the \
             transport's own), then reload arshjul"
        }
        (Some("invalid_request"), _) | (None, 400 | 404) => {
            "the endpoint does not know the tenant or the request: check \
             `mail.oauth.tenant` and `mail.oauth.token_url`, then reload arshjul"
        }
        (Some("unsupported_grant_type" | "invalid_grant"), _) => {
            "the endpoint does not issue client-credentials tokens: check \
             `mail.oauth.token_url`, then reload arshjul"
        }
        _ => return None,
    })
}

/// The endpoint's error, from its JSON `error` and `error_description`, or
/// the start of its body.
fn oauth_error(json: Option<&serde_json::Value>, body: &[u8]) -> String {
    let field = |name: &str| {
        json.and_then(|j| j.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let text = match (field("error"), field("error_description")) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e,
        (None, Some(d)) => d,
        (None, None) => String::from_utf8_lossy(body).into_owned(),
    };
    let text = server_text(&text);
    if text.is_empty() {
        "(no explanation)".into()
    } else {
        text
    }
}

/// A server's text made fit for one log line: control characters become
/// spaces, runs of white space one space, at most 300 characters.
pub fn server_text(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = clean.split_whitespace().collect();
    let one_line = words.join(" ");
    if one_line.chars().count() > MAX_ERROR_CHARS {
        let mut short: String = one_line.chars().take(MAX_ERROR_CHARS).collect();
        short.push('…');
        short
    } else {
        one_line
    }
}

/// A transport-level HTTP failure in words, without the URL's query.
pub fn http_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        format!("no answer in time ({text})")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, DATE, RETRY_AFTER};

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_seconds() {
        let h = headers(&[(RETRY_AFTER, "2")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        let h = headers(&[(RETRY_AFTER, "0")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1)));
        let h = headers(&[(RETRY_AFTER, "999999")]);
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn retry_after_as_a_date_counts_from_the_servers_date() {
        let h = headers(&[
            (RETRY_AFTER, "Mon, 30 Nov 2026 10:02:00 GMT"),
            (DATE, "Mon, 30 Nov 2026 10:00:30 GMT"),
        ]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(90)));
        // Without the server's Date there is nothing to measure against.
        let h = headers(&[(RETRY_AFTER, "Mon, 30 Nov 2026 10:02:00 GMT")]);
        assert_eq!(retry_after(&h), None);
        assert_eq!(retry_after(&headers(&[(RETRY_AFTER, "soon")])), None);
    }

    fn settings() -> OAuthSettings {
        OAuthSettings {
            tenant: Some("ballerup.dk".into()),
            token_url: None,
            client_id: Some("c1".into()),
            client_secret_file: None,
            scope: None,
        }
    }

    #[test]
    fn the_default_token_url_is_entras_for_the_tenant() {
        assert_eq!(
            token_url(&settings()).unwrap(),
            "https://login.microsoftonline.com/ballerup.dk/oauth2/v2.0/token"
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:8080/token",
            "http://localhost/token",
            "http://[::1]:9/t",
        ] {
            assert!(require_https(ok, "x").is_ok(), "{ok}");
        }
        for bad in [
            "http://login.example/token",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(require_https(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn server_text_is_one_trimmed_line() {
        let entra = "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\n\x1b[31mCorrelation ID: 2";
        assert_eq!(
            server_text(entra),
            "AADSTS7000215: Invalid client secret provided. Trace ID: 1 [31mCorrelation ID: 2"
        );
        assert_eq!(server_text(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let oauth = OAuth::new(
            &settings(),
            Some("s3cr3t-value\n".into()),
            "scope",
            reqwest::Client::new(),
        )
        .unwrap();
        assert!(!format!("{oauth:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_missing_secret_or_client_is_a_setup_error() {
        let err = OAuth::new(&settings(), None, "s", reqwest::Client::new()).unwrap_err();
        assert!(err.to_string().contains("client_secret_file"), "{err}");
        let mut s = settings();
        s.client_id = None;
        let err = OAuth::new(&s, Some("x".into()), "s", reqwest::Client::new()).unwrap_err();
        assert!(err.to_string().contains("client_id"), "{err}");
    }
}
