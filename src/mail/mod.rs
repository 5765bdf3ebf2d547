//! Mail: rendering notifications into RFC 5322 messages from `templates/`
//! (minijinja, strict) and delivering them through a transport (`file`:
//! one `.eml` per message; `smtp`: lettre over rustls). Knows nothing of
//! SQLite or of planning: it renders what it is given and reports whether
//! the server took it.
//!
//! - [`compose`]: templates, the render context and the message headers.
//! - [`transport`]: the transports (`file`, `smtp`, `graph`, `sendmail`)
//!   and their error mapping.
//! - [`oauth`]: OAuth 2.0 client-credentials tokens for `XOAUTH2` and Graph.
//! - [`graph`]: Microsoft Graph `sendMail`.
//! - [`sendmail`]: a local sendmail command.
//! - [`probe`]: `arshjul mail test` and the line `check` prints.

mod compose;
mod graph;
mod oauth;
mod probe;
mod sendmail;
mod transport;

pub use compose::{BundleSeries, Composer, Digest, DigestDone, DigestLine, BUNDLE_MAX_PARTS};
pub use probe::{describe, test_message};
pub use transport::{Secrets, Trace, Transport};

/// A failure to render or to set up mail, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A template that cannot be loaded or rendered.
    #[error("{0}")]
    Template(String),
    /// One notification's message cannot be built: its idempotency key
    /// and why (a person or task not in the wheel, a header value lettre
    /// cannot carry).
    #[error("{key}: {problem}")]
    Message { key: String, problem: String },
    /// Settings or secrets the transport cannot work with.
    #[error("{0}")]
    Setup(String),
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// 4xx, connection refused, timeout: keep the message, retry later.
    #[error("temporary: {0}")]
    Temporary(String),
    /// 5xx for the recipient, or an address the server refuses: give up.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The server asked to be left alone for `retry_after` (HTTP 429 or 503
    /// with `Retry-After`): keep the message, retry no sooner than that.
    #[error("temporary: {reason} (retry after {} s)", retry_after.as_secs())]
    Throttled {
        reason: String,
        retry_after: std::time::Duration,
    },
}

impl DeliveryError {
    /// What went wrong, in words, without the kind.
    pub fn reason(&self) -> &str {
        match self {
            DeliveryError::Temporary(r) | DeliveryError::Permanent(r) => r,
            DeliveryError::Throttled { reason, .. } => reason,
        }
    }

    /// Whether trying again can help.
    pub fn is_temporary(&self) -> bool {
        !matches!(self, DeliveryError::Permanent(_))
    }
}

/// A rendered message, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// The `Message-ID` header value, angle brackets included.
    pub message_id: String,
    /// The e-mail address of the `To` person.
    pub to: Vec<String>,
    /// The e-mail addresses of the `Cc` persons (the owners, on escalations).
    pub cc: Vec<String>,
    /// The subject as rendered, before header encoding.
    pub subject: String,
    /// The whole message as it goes on the wire (`Message::formatted`).
    pub raw: Vec<u8>,
}
