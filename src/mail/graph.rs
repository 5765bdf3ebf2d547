//! The `graph` transport: Microsoft Graph's `sendMail` with the message in
//! MIME form (`POST /v1.0/users/{from}/sendMail`, the RFC 5322 message
//! base64-encoded, `Content-Type: text/plain`), authorised by an app token
//! from [`OAuth`]. Graph takes the recipients from the message's `To` and
//! `Cc` headers, which are the envelope's.
//!
//! Answers: 202 accepted; 401 → a new token, once; 429 and 503 → temporary,
//! no retry before the server's `Retry-After`; 408 and 5xx → temporary;
//! 403 → temporary (the app's permission or its RBAC scope is missing: a
//! setting to fix, not a fault of the message); 404 → temporary (the path
//! names only the sender, so Graph does not know the mailbox in
//! `mail.from`: again a setting, and every message would fail alike); any
//! other 4xx → permanent.

use std::time::Duration;

use base64::Engine;
use lettre::address::Envelope;
use reqwest::StatusCode;

use super::oauth::{http_error, read_body, require_https, retry_after, server_text, OAuth};
use super::transport::{token_line, Trace};
use super::{DeliveryError, MailError};
use crate::settings::MailSettings;

/// The scope of Microsoft Graph for app tokens.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

pub struct Graph {
    http: reqwest::Client,
    /// `{graph_url}` without a trailing `/`.
    base: String,
    oauth: OAuth,
    timeout: Duration,
}

/// The HTTP client for token endpoints and Graph: rustls, no redirects (a
/// bearer token is never sent anywhere but where it was meant to go), a
/// connection timeout; each request sets its own overall timeout.
pub fn http_client() -> Result<reqwest::Client, MailError> {
    reqwest::Client::builder()
        .user_agent(concat!("arshjul/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| MailError::Setup(format!("cannot set up the HTTP client: {e}")))
}

impl Graph {
    pub fn new(settings: &MailSettings, secret: Option<String>) -> Result<Graph, MailError> {
        let base = settings.graph_url.trim().trim_end_matches('/').to_string();
        require_https(&base, "mail.graph_url")?;
        if settings.smtp.timeout_secs == 0 {
            return Err(MailError::Setup(
                "setting `mail.smtp.timeout_secs` must be at least 1".into(),
            ));
        }
        let http = http_client()?;
        let oauth = OAuth::new(&settings.oauth, secret, GRAPH_SCOPE, http.clone())?;
        Ok(Graph {
            http,
            base,
            oauth,
            timeout: Duration::from_secs(settings.smtp.timeout_secs),
        })
    }

    /// `{graph_url}/v1.0/users/{from}/sendMail`.
    pub fn url(&self, from: &str) -> String {
        format!("{}/v1.0/users/{}/sendMail", self.base, path_segment(from))
    }

    /// One delivery, the token included, within `mail.smtp.timeout_secs`
    /// (as for SMTP): the daemon sends one message at a time, so a hung
    /// token endpoint must not hold the queue longer than that.
    pub async fn send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        trace: Trace<'_>,
    ) -> Result<(), DeliveryError> {
        match tokio::time::timeout(self.timeout, self.deliver(envelope, raw, trace)).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::Temporary(format!(
                "Microsoft Graph {}: did not finish the delivery within {} s",
                self.base,
                self.timeout.as_secs()
            ))),
        }
    }

    async fn deliver(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        trace: Trace<'_>,
    ) -> Result<(), DeliveryError> {
        let from = envelope
            .from()
            .map(|a| a.to_string())
            .ok_or_else(|| DeliveryError::Permanent("the message has no sender".into()))?;
        let url = self.url(&from);
        let body = base64::engine::general_purpose::STANDARD.encode(raw);
        let mut retried = false;
        loop {
            let token = self.oauth.token().await?;
            if token.fetched {
                trace(&token_line(&self.oauth, &token));
            }
            let response = self
                .http
                .post(&url)
                .timeout(self.timeout)
                .bearer_auth(&token.secret)
                .header(reqwest::header::CONTENT_TYPE, "text/plain")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| {
                    DeliveryError::Temporary(format!("Microsoft Graph {url}: {}", http_error(e)))
                })?;
            let status = response.status();
            trace(&format!("POST {url}: HTTP {status}"));
            if status.is_success() {
                let id = response
                    .headers()
                    .get("request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(|id| format!(" (request-id {})", server_text(id)))
                    .unwrap_or_default();
                trace(&format!("accepted: HTTP {status}{id}"));
                return Ok(());
            }
            if status == StatusCode::UNAUTHORIZED && !retried {
                // Revoked or expired early: once more with a new token.
                self.oauth.refused(&token.secret).await;
                trace("Graph refused the token; fetching a new one and trying once more");
                retried = true;
                continue;
            }
            let retry_after = retry_after(response.headers());
            let text = graph_error(response).await;
            let hint = if status == StatusCode::NOT_FOUND {
                " (is the address in `mail.from` a mailbox in Exchange Online?)"
            } else {
                ""
            };
            let reason = format!(
                "Microsoft Graph {url}: HTTP {}: {text}{hint}",
                status.as_u16()
            );
            return Err(classify(status, reason, retry_after));
        }
    }
}

/// Maps a refusal to temporary or permanent (see the module's comment).
fn classify(status: StatusCode, reason: String, retry_after: Option<Duration>) -> DeliveryError {
    let code = status.as_u16();
    let temporary = matches!(code, 401 | 403 | 404 | 408 | 429) || !status.is_client_error();
    match (temporary, retry_after) {
        (false, _) => DeliveryError::Permanent(reason),
        (true, Some(retry_after)) => DeliveryError::Throttled {
            reason,
            retry_after,
        },
        (true, None) => DeliveryError::Temporary(reason),
    }
}

/// Graph's `{"error": {"code", "message"}}`, or the start of the body.
async fn graph_error(response: reqwest::Response) -> String {
    let body = match read_body(response).await {
        Ok(b) => b,
        Err(e) => return format!("(the answer could not be read: {e})"),
    };
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let error = json.as_ref().and_then(|j| j.get("error"));
    let field = |name: &str| {
        error
            .and_then(|e| e.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let text = match (field("code"), field("message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => String::from_utf8_lossy(&body).into_owned(),
    };
    let text = server_text(&text);
    if text.is_empty() {
        "(no explanation)".into()
    } else {
        text
    }
}

/// Percent-encodes one path segment; `@` may stay (RFC 3986 `pchar`).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@!$&'()*+,;=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_temporary_and_permanent() {
        let kind = |code: u16, after: Option<u64>| {
            let e = classify(
                StatusCode::from_u16(code).unwrap(),
                "r".into(),
                after.map(Duration::from_secs),
            );
            match e {
                DeliveryError::Permanent(_) => "permanent",
                DeliveryError::Temporary(_) => "temporary",
                DeliveryError::Throttled { .. } => "throttled",
            }
        };
        assert_eq!(kind(400, None), "permanent");
        assert_eq!(kind(404, None), "temporary");
        assert_eq!(kind(422, Some(5)), "permanent");
        assert_eq!(kind(413, None), "permanent");
        assert_eq!(kind(401, None), "temporary");
        assert_eq!(kind(403, None), "temporary");
        assert_eq!(kind(408, None), "temporary");
        assert_eq!(kind(429, Some(2)), "throttled");
        assert_eq!(kind(503, Some(2)), "throttled");
        assert_eq!(kind(503, None), "temporary");
        assert_eq!(kind(500, None), "temporary");
    }

    #[test]
    fn the_sender_is_one_path_segment() {
        assert_eq!(path_segment("arshjul@ballerup.dk"), "arshjul@ballerup.dk");
        assert_eq!(path_segment("a/b?c#d@x.dk"), "a%2Fb%3Fc%23d@x.dk");
    }
}
