//! The transports: `file` (one `.eml` per message, written atomically and
//! named after the Message-ID) and `smtp` (one pooled lettre transport over
//! rustls), and how their failures map to temporary and permanent.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};

use super::{DeliveryError, MailError};
use crate::settings::{MailSettings, MailTransport, SmtpTls};

/// Where messages go.
pub struct Transport {
    inner: Inner,
}

enum Inner {
    File { dir: PathBuf },
    Smtp(Box<Smtp>),
}

struct Smtp {
    builder: AsyncSmtpTransportBuilder,
    /// The pooled transport, built on the first send (lettre's pool starts
    /// a task on the current Tokio runtime, so it cannot be built outside
    /// one) and dropped after a timeout: lettre would put the abandoned
    /// connection back into the pool mid-dialogue. A std Mutex, because it
    /// is never held across an `.await`.
    transport: Mutex<Option<AsyncSmtpTransport<Tokio1Executor>>>,
    /// The whole delivery, connection included, must end within this.
    timeout: Duration,
    /// `host:port`, for messages.
    server: String,
}

impl Transport {
    /// Builds the transport from settings. `password` is the content of the
    /// SMTP password file, read by the caller; it is never logged.
    pub fn new(settings: &MailSettings, password: Option<String>) -> Result<Transport, MailError> {
        let inner = match settings.transport {
            MailTransport::File => Inner::File {
                dir: settings.dir.clone(),
            },
            MailTransport::Smtp => smtp(settings, password)?,
        };
        Ok(Transport { inner })
    }

    /// Delivers one message: envelope `from`, recipients `rcpt`, bytes `raw`.
    /// `from` may be a bare address or `Name <address>`.
    pub async fn send(&self, from: &str, rcpt: &[String], raw: &[u8]) -> Result<(), DeliveryError> {
        let envelope = envelope(from, rcpt)?;
        match &self.inner {
            Inner::File { dir } => {
                let dir = dir.clone();
                let raw = raw.to_vec();
                tokio::task::spawn_blocking(move || write_eml(&dir, &raw))
                    .await
                    .map_err(|e| {
                        DeliveryError::Temporary(format!(
                            "writing the message was interrupted: {e}"
                        ))
                    })?
            }
            Inner::Smtp(smtp) => smtp.send(&envelope, raw).await,
        }
    }
}

impl Smtp {
    /// One delivery under the timeout, its failure mapped.
    async fn send(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), DeliveryError> {
        let transport = {
            let mut slot = self
                .transport
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            slot.get_or_insert_with(|| self.builder.clone().build())
                .clone()
        };
        let server = &self.server;
        match tokio::time::timeout(self.timeout, transport.send_raw(envelope, raw)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(DeliveryError::Permanent(format!(
                "SMTP server {server} refused the message: {e}"
            ))),
            Ok(Err(e)) => Err(DeliveryError::Temporary(format!(
                "SMTP server {server}: {e}"
            ))),
            Err(_) => {
                // The abandoned connection must not be reused: start afresh.
                self.transport
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                Err(DeliveryError::Temporary(format!(
                    "SMTP server {server} did not finish the delivery within {} s",
                    self.timeout.as_secs()
                )))
            }
        }
    }
}

fn smtp(settings: &MailSettings, password: Option<String>) -> Result<Inner, MailError> {
    let s = &settings.smtp;
    let host = s
        .host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            MailError::Setup(
                "setting `mail.transport` is \"smtp\" but `mail.smtp.host` is not set".into(),
            )
        })?;
    let builder = match s.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| {
        MailError::Setup(format!(
            "setting `mail.smtp.host`: cannot use {host:?} with TLS: {e}"
        ))
    })?;
    if s.timeout_secs == 0 {
        return Err(MailError::Setup(
            "setting `mail.smtp.timeout_secs` must be at least 1".into(),
        ));
    }
    let timeout = Duration::from_secs(s.timeout_secs);
    let mut builder = builder.port(s.port).timeout(Some(timeout));
    if let Some(user) = &s.username {
        let password = password.ok_or_else(|| {
            MailError::Setup(
                "setting `mail.smtp.username` is set but there is no SMTP password \
                 (set `mail.smtp.password_file` or provide the `smtp-password` credential)"
                    .into(),
            )
        })?;
        // A password file usually ends with a newline that is not part of it.
        let password = password.trim_end_matches(['\r', '\n']).to_string();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(Inner::Smtp(Box::new(Smtp {
        builder,
        transport: Mutex::new(None),
        timeout,
        server: format!("{host}:{}", s.port),
    })))
}

/// The SMTP envelope; an address that cannot be used is permanent.
fn envelope(from: &str, rcpt: &[String]) -> Result<Envelope, DeliveryError> {
    let address = |s: &str| -> Result<Address, DeliveryError> {
        let s = s.trim();
        s.parse::<Address>()
            .or_else(|_| s.parse::<Mailbox>().map(|m| m.email))
            .map_err(|e| DeliveryError::Permanent(format!("{s:?} is not an e-mail address: {e}")))
    };
    let from = address(from)?;
    let to = rcpt
        .iter()
        .map(|r| address(r))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to)
        .map_err(|e| DeliveryError::Permanent(format!("cannot address the message: {e}")))
}

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `raw` to `dir/<name>.eml` atomically: a temporary file in the
/// same directory, fsync, rename, fsync of the directory. The name comes
/// from the Message-ID, so sending the same message again overwrites it.
fn write_eml(dir: &Path, raw: &[u8]) -> Result<(), DeliveryError> {
    let fail = |what: &str, path: &Path, e: std::io::Error| {
        DeliveryError::Temporary(format!(
            "mail directory {}: cannot {what} {}: {e}",
            dir.display(),
            path.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("create", dir, e))?;
    let name = eml_name(raw);
    let target = dir.join(&name);
    let temp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(raw)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(fail("write", &temp, e));
    }
    if let Err(e) = std::fs::rename(&temp, &target) {
        let _ = std::fs::remove_file(&temp);
        return Err(fail("rename the message to", &target, e));
    }
    // The rename is durable once the directory is synced; a failure here
    // (some file systems refuse to open directories) loses nothing written.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The file name for a message: its Message-ID without angle brackets,
/// with every character outside `[A-Za-z0-9._@+=-]` replaced by `_`, plus
/// `.eml`. A message without a Message-ID is named after its SHA-256.
pub(crate) fn eml_name(raw: &[u8]) -> String {
    let stem = match header_value(raw, "message-id") {
        Some(id) => {
            let id = id.trim().trim_start_matches('<').trim_end_matches('>');
            let safe: String = id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._@+=-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            // A leading dot would hide the file; keep names visible.
            let safe = safe.trim_start_matches('.').to_string();
            if safe.is_empty() {
                hex(&Sha256::digest(raw))
            } else {
                safe.chars().take(200).collect()
            }
        }
        None => hex(&Sha256::digest(raw)),
    };
    format!("{stem}.eml")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The unfolded value of the first header called `name` (lower case), from
/// the header section of `raw`.
fn header_value(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut found: Option<String> = None;
    for line in head.split("\r\n") {
        if let Some(value) = found.as_mut() {
            if line.starts_with([' ', '\t']) {
                value.push_str(line);
                continue;
            }
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            if key.trim().eq_ignore_ascii_case(name) {
                found = Some(value.to_string());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eml_name_follows_the_message_id() {
        let raw =
            b"From: a@b.dk\r\nMessage-ID: <budget.2027.reminder.0.anne@kommune.dk>\r\n\r\nbody";
        assert_eq!(eml_name(raw), "budget.2027.reminder.0.anne@kommune.dk.eml");
    }

    #[test]
    fn eml_name_cannot_leave_the_directory() {
        let raw = b"Message-ID: <../../etc/passwd>\r\n\r\n";
        assert_eq!(eml_name(raw), "_.._etc_passwd.eml");
    }

    #[test]
    fn eml_name_without_message_id_is_the_content_hash() {
        let name = eml_name(b"Subject: x\r\n\r\nbody");
        assert_eq!(name.len(), 64 + 4);
        assert!(name.ends_with(".eml"));
    }

    #[test]
    fn folded_headers_are_unfolded() {
        let raw = b"Subject: x\r\nMessage-ID:\r\n <a.b@c.dk>\r\nTo: y\r\n\r\n";
        assert_eq!(
            header_value(raw, "message-id").as_deref(),
            Some(" <a.b@c.dk>")
        );
    }
}
