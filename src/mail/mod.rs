//! Mail: rendering notifications into RFC 5322 messages from `templates/`
//! (minijinja, strict) and delivering them through a transport (`file`:
//! one `.eml` per message; `smtp`: lettre over rustls). Knows nothing of
//! SQLite or of planning: it renders what it is given and reports whether
//! the server took it.
//!
//! - [`compose`]: templates, the render context and the message headers.
//! - [`transport`]: the `file` and `smtp` transports and their error mapping.

mod compose;
mod transport;

pub use compose::Composer;
pub use transport::Transport;

/// A failure to render or to set up mail, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Template(String),
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
