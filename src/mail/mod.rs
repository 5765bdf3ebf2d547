//! Mail: rendering notifications into RFC 5322 messages from `templates/`
//! (minijinja, strict) and delivering them through a transport (`file`:
//! one `.eml` per message; `smtp`: lettre over rustls). Knows nothing of
//! SQLite or of planning: it renders what it is given and reports whether
//! the server took it.

use crate::planner::Notification;
use crate::settings::MailSettings;
use crate::wheel::Wheel;

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
    pub message_id: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
}

/// Renders notifications with the templates.
pub struct Composer {
    _private: (),
}

impl Composer {
    /// Loads the built-in templates, overridden by `settings.templates` if
    /// set, and checks that every template renders (strict undefined).
    pub fn new(settings: &MailSettings) -> Result<Composer, MailError> {
        todo!("{settings:?}")
    }

    /// Renders one notification. `link` is the completion link for the
    /// addressed owner (reminders and repeats), `None` on escalations.
    /// `today` is the local date the message is written on (for "days
    /// left/overdue").
    pub fn compose(
        &self,
        wheel: &Wheel,
        n: &Notification,
        link: Option<&str>,
        today: chrono::NaiveDate,
    ) -> Result<Composed, MailError> {
        todo!("{} {n:?} {link:?} {today}", wheel.tasks.len())
    }
}

/// Where messages go.
pub struct Transport {
    _private: (),
}

impl Transport {
    /// Builds the transport from settings; reads the SMTP password file.
    pub fn new(settings: &MailSettings, password: Option<String>) -> Result<Transport, MailError> {
        todo!("{settings:?} {}", password.is_some())
    }

    /// Delivers one message: envelope `from`, recipients `rcpt`, bytes `raw`.
    pub async fn send(&self, from: &str, rcpt: &[String], raw: &[u8]) -> Result<(), DeliveryError> {
        todo!("{from} {rcpt:?} {}", raw.len())
    }
}
