//! The transports: `file` (one `.eml` per message, written atomically and
//! named after the Message-ID), `smtp` (lettre's SMTP client over rustls,
//! on a TCP connection we open ourselves with `TCP_NODELAY` and reuse;
//! AUTH by password or by OAuth 2.0 `XOAUTH2`), `graph` (Microsoft Graph,
//! see [`super::graph`]) and `sendmail` (see [`super::sendmail`]), and how
//! their failures map to temporary and permanent.
//!
//! Every transport can report its steps (connected, TLS, authenticated,
//! accepted) to a [`Trace`], which `arshjul mail test` prints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Address;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::graph::Graph;
use super::oauth::OAuth;
use super::sendmail::Sendmail;
use super::{DeliveryError, MailError};
use crate::settings::{MailSettings, MailTransport, Settings, SmtpAuth, SmtpTls};

/// Receives a line for each step of a delivery (`arshjul mail test`).
pub type Trace<'a> = &'a (dyn Fn(&str) + Sync);

/// The scope of Exchange Online's SMTP (and IMAP/POP) for app tokens.
pub const SMTP_SCOPE: &str = "https://outlook.office365.com/.default";

/// The secrets a transport may need, read from their files by
/// [`Secrets::read`]. Never logged.
#[derive(Default)]
pub struct Secrets {
    /// The SMTP password (`mail.smtp.auth = "password"`).
    pub smtp_password: Option<String>,
    /// The OAuth client secret (`xoauth2`, `graph`).
    pub oauth_client_secret: Option<String>,
}

impl Secrets {
    /// Reads the secrets the configured transport uses, from the files the
    /// settings name (or systemd's credentials). A file that is named but
    /// cannot be read is an error naming the file.
    pub fn read(settings: &Settings) -> Result<Secrets, MailError> {
        let read = |path: Option<PathBuf>, what: &str| -> Result<Option<String>, MailError> {
            let Some(path) = path else { return Ok(None) };
            let text = std::fs::read_to_string(&path).map_err(|e| {
                MailError::Setup(format!("{}: cannot read the {what}: {e}", path.display()))
            })?;
            // A secret file usually ends with a newline that is not part of
            // it; one saved by Notepad may start with a byte-order mark.
            let secret = text
                .strip_prefix('\u{feff}')
                .unwrap_or(&text)
                .trim_end_matches(['\r', '\n']);
            if secret.trim().is_empty() {
                return Err(MailError::Setup(format!(
                    "{}: the {what} file is empty",
                    path.display()
                )));
            }
            Ok(Some(secret.to_string()))
        };
        let mail = &settings.mail;
        let smtp_password = match (mail.transport, mail.smtp.auth) {
            (MailTransport::Smtp, SmtpAuth::Password) => {
                read(settings.smtp_password_path(), "SMTP password")?
            }
            _ => None,
        };
        let oauth_client_secret = match (mail.transport, mail.smtp.auth) {
            (MailTransport::Smtp, SmtpAuth::Xoauth2) | (MailTransport::Graph, _) => {
                read(settings.oauth_secret_path(), "OAuth client secret")?
            }
            _ => None,
        };
        Ok(Secrets {
            smtp_password,
            oauth_client_secret,
        })
    }
}

/// Where messages go.
pub struct Transport {
    inner: Inner,
}

enum Inner {
    File { dir: PathBuf },
    Smtp(Box<Smtp>),
    Graph(Box<Graph>),
    Sendmail(Sendmail),
}

/// The SMTP transport. It opens its connections itself rather than through
/// lettre's `AsyncSmtpTransport`, whose sockets keep Nagle's algorithm on:
/// lettre writes a message and its closing `.` line in two writes, so the
/// `.` waits for the server to acknowledge the message, and a server that
/// answers only after the `.` delays that ACK (40 ms on Linux), a stall on
/// every message (21 messages/s on loopback). With `TCP_NODELAY` each write
/// goes out at once.
struct Smtp {
    host: String,
    port: u16,
    /// `None`, `Required` (STARTTLS) or `Wrapper` (TLS from the start).
    tls: Tls,
    auth: Auth,
    /// The connection of the last delivery that succeeded, kept for the
    /// next one. A delivery takes it out, so a connection abandoned by a
    /// timeout or broken by an error is never put back. A std Mutex,
    /// because it is never held across an `.await`.
    idle: Mutex<Option<Idle>>,
    /// The whole delivery, connection included, must end within this.
    timeout: Duration,
    /// `host:port`, for messages.
    server: String,
}

/// How an SMTP session logs in.
enum Auth {
    None,
    Password {
        user: String,
        credentials: Credentials,
    },
    /// `AUTH XOAUTH2` as `user` with a token from `oauth`.
    Xoauth2 {
        user: String,
        oauth: OAuth,
    },
}

/// A connection waiting for the next delivery.
struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

/// A connection idle longer than this is closed rather than reused (the
/// idle timeout lettre's pool used): the server or a firewall between may
/// have dropped it without a word.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// The longest a kept connection may take to answer the NOOP that checks it.
const NOOP_TIMEOUT: Duration = Duration::from_secs(5);

impl Transport {
    /// Builds the transport from settings. `password` is the content of the
    /// SMTP password file, read by the caller; it is never logged. For
    /// OAuth, use [`Transport::with_secrets`].
    pub fn new(settings: &MailSettings, password: Option<String>) -> Result<Transport, MailError> {
        Transport::with_secrets(
            settings,
            Secrets {
                smtp_password: password,
                oauth_client_secret: None,
            },
        )
    }

    /// Builds the transport from all settings, reading the secrets it needs
    /// from their files.
    pub fn from_settings(settings: &Settings) -> Result<Transport, MailError> {
        Transport::with_secrets(&settings.mail, Secrets::read(settings)?)
    }

    /// Builds the transport from settings and secrets already read.
    pub fn with_secrets(settings: &MailSettings, secrets: Secrets) -> Result<Transport, MailError> {
        let inner = match settings.transport {
            MailTransport::File => Inner::File {
                dir: settings.dir.clone(),
            },
            MailTransport::Smtp => smtp(settings, secrets)?,
            MailTransport::Graph => {
                Inner::Graph(Box::new(Graph::new(settings, secrets.oauth_client_secret)?))
            }
            MailTransport::Sendmail => Inner::Sendmail(Sendmail::new(settings)?),
        };
        Ok(Transport { inner })
    }

    /// Delivers one message: envelope `from`, recipients `rcpt`, bytes `raw`.
    /// `from` may be a bare address or `Name <address>`.
    pub async fn send(&self, from: &str, rcpt: &[String], raw: &[u8]) -> Result<(), DeliveryError> {
        self.send_traced(from, rcpt, raw, &|_| {}).await
    }

    /// [`Transport::send`], reporting each step to `trace`.
    pub async fn send_traced(
        &self,
        from: &str,
        rcpt: &[String],
        raw: &[u8],
        trace: Trace<'_>,
    ) -> Result<(), DeliveryError> {
        let envelope = envelope(from, rcpt)?;
        match &self.inner {
            Inner::File { dir } => {
                let dir = dir.clone();
                let owned = raw.to_vec();
                let written = dir.join(eml_name(raw));
                tokio::task::spawn_blocking(move || write_eml(&dir, &owned))
                    .await
                    .map_err(|e| {
                        DeliveryError::Temporary(format!(
                            "writing the message was interrupted: {e}"
                        ))
                    })??;
                trace(&format!("written to {}", written.display()));
                Ok(())
            }
            Inner::Smtp(smtp) => smtp.send(&envelope, raw, trace).await,
            Inner::Graph(graph) => graph.send(&envelope, raw, trace).await,
            Inner::Sendmail(sendmail) => sendmail.send(&envelope, raw, trace).await,
        }
    }
}

impl Smtp {
    /// One delivery under the timeout, its failure mapped.
    async fn send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
        trace: Trace<'_>,
    ) -> Result<(), DeliveryError> {
        let idle = self.idle().take();
        let delivery = async {
            let mut connection = self.reuse_or_connect(idle, trace).await?;
            let response = connection
                .send(envelope, raw)
                .await
                .map_err(|e| self.refused(e))?;
            let answer: Vec<&str> = response.message().collect();
            trace(&format!(
                "accepted: {} {}",
                response.code(),
                super::oauth::server_text(&answer.join(" "))
            ));
            Ok(connection)
        };
        match tokio::time::timeout(self.timeout, delivery).await {
            Ok(Ok(connection)) => {
                if !connection.has_broken() {
                    *self.idle() = Some(Idle {
                        connection,
                        since: Instant::now(),
                    });
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            // The abandoned connection went with the delivery's future.
            Err(_) => Err(DeliveryError::Temporary(format!(
                "SMTP server {} did not finish the delivery within {} s",
                self.server,
                self.timeout.as_secs()
            ))),
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Option<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The idle connection if it is recent and answers NOOP, else a new one.
    async fn reuse_or_connect(
        &self,
        idle: Option<Idle>,
        trace: Trace<'_>,
    ) -> Result<AsyncSmtpConnection, DeliveryError> {
        if let Some(Idle {
            mut connection,
            since,
        }) = idle
        {
            // A connection dropped silently on the way would let NOOP wait
            // out the whole delivery timeout: a fresh one is cheaper.
            let check = self.timeout.min(NOOP_TIMEOUT);
            if since.elapsed() < MAX_IDLE
                && tokio::time::timeout(check, connection.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(connection);
            }
        }
        match self.connect(trace).await {
            // A token the server refuses (535) may have been revoked or
            // expired early: once more, with a token fetched anew.
            Err(Refused::Token(token, _)) => {
                if let Auth::Xoauth2 { oauth, .. } = &self.auth {
                    oauth.refused(&token).await;
                }
                trace("the server refused the token; fetching a new one and trying once more");
                self.connect(trace).await.map_err(Refused::into_error)
            }
            other => other.map_err(Refused::into_error),
        }
    }

    /// A new connection: TCP with `TCP_NODELAY`, TLS as configured, EHLO,
    /// AUTH if configured. Every failure here is temporary, even a 5xx: a
    /// server that refuses the session (a wrong password, a greeting of
    /// 554) says nothing about the message, which must wait for the
    /// setting to be fixed rather than fail for good.
    async fn connect(&self, trace: Trace<'_>) -> Result<AsyncSmtpConnection, Refused> {
        let unreachable = |e: std::io::Error| {
            DeliveryError::Temporary(format!("SMTP server {}: cannot connect: {e}", self.server))
        };
        // The token first: without one there is no point in connecting.
        let token = match &self.auth {
            Auth::Xoauth2 { oauth, .. } => {
                let token = oauth.token().await?;
                if token.fetched {
                    trace(&token_line(oauth, &token));
                }
                Some(token.secret)
            }
            _ => None,
        };
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(unreachable)?;
        tcp.set_nodelay(true).map_err(unreachable)?;
        trace(&format!("connected to {}", self.server));
        let hello = ClientId::default();
        let mut connection = match &self.tls {
            Tls::Wrapper(tls) => {
                let stream = ImplicitTls::handshake(tcp, tls.clone())
                    .await
                    .map_err(|e| self.no_session(e))?;
                trace("TLS from the start, certificate verified");
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await,
        }
        .map_err(|e| self.no_session(e))?;
        match &self.tls {
            Tls::Required(tls) => {
                connection
                    .starttls(tls.clone(), &hello)
                    .await
                    .map_err(|e| self.no_session(e))?;
                trace("STARTTLS, certificate verified");
            }
            Tls::None => trace("no TLS (mail.smtp.tls = \"none\")"),
            _ => {}
        }
        match (&self.auth, token) {
            (Auth::Password { user, credentials }, _) => {
                connection
                    .auth(DEFAULT_MECHANISMS, credentials)
                    .await
                    .map_err(|e| self.no_session(e))?;
                trace(&format!("authenticated as {user} (password)"));
            }
            (Auth::Xoauth2 { user, .. }, Some(token)) => {
                match xoauth2(&mut connection, user, &token).await {
                    Ok(()) => trace(&format!("authenticated as {user} (XOAUTH2)")),
                    Err(Xoauth2Error::Refused(answer)) => {
                        let _ = connection.quit().await;
                        return Err(Refused::Token(token, answer));
                    }
                    Err(Xoauth2Error::Other(e)) => return Err(self.no_session(e).into()),
                }
            }
            _ => {}
        }
        Ok(connection)
    }

    /// A failure to open a session: always temporary.
    fn no_session(&self, e: lettre::transport::smtp::Error) -> DeliveryError {
        DeliveryError::Temporary(format!(
            "SMTP server {}: cannot open a session: {e}",
            self.server
        ))
    }

    /// A failure of the SMTP dialogue: permanent for a 5xx, else temporary.
    fn refused(&self, e: lettre::transport::smtp::Error) -> DeliveryError {
        let server = &self.server;
        if e.is_permanent() {
            DeliveryError::Permanent(format!("SMTP server {server} refused the message: {e}"))
        } else {
            DeliveryError::Temporary(format!("SMTP server {server}: {e}"))
        }
    }
}

enum Xoauth2Error {
    /// The server refused the token: its answer, on one line.
    Refused(String),
    Other(lettre::transport::smtp::Error),
}

/// `AUTH XOAUTH2` with the token as the initial response. A server that
/// refuses the token may first send a `334` challenge holding an error
/// JSON (RFC 7628 section 3.2.3; Gmail does, e.g. `{"status":"401",
/// "schemes":"bearer"}`); the client must then send an empty line and read
/// the final answer (`535`). lettre's `auth` cannot: it tries to answer the
/// challenge, fails with "This mechanism does not expect a challenge" and
/// leaves the server waiting, so the exchange is done here.
async fn xoauth2(
    connection: &mut AsyncSmtpConnection,
    user: &str,
    token: &str,
) -> Result<(), Xoauth2Error> {
    use base64::Engine;
    use lettre::transport::smtp::commands::Auth as AuthCommand;
    let credentials = Credentials::new(user.to_string(), token.to_string());
    if !connection
        .server_info()
        .supports_auth_mechanism(Mechanism::Xoauth2)
    {
        // lettre's own words: "No compatible authentication mechanism".
        return match connection.auth(&[Mechanism::Xoauth2], &credentials).await {
            Ok(_) => Ok(()),
            Err(e) => Err(Xoauth2Error::Other(e)),
        };
    }
    let command =
        AuthCommand::new(Mechanism::Xoauth2, credentials, None).map_err(Xoauth2Error::Other)?;
    let (answer, challenge) = match connection.command(command).await {
        Ok(response) if response.has_code(334) => {
            let challenge = response
                .first_word()
                .and_then(|w| base64::engine::general_purpose::STANDARD.decode(w).ok())
                .map(|b| super::oauth::server_text(&String::from_utf8_lossy(&b)))
                .filter(|c| !c.is_empty());
            // The empty response that ends the exchange.
            (connection.command("\r\n").await, challenge)
        }
        other => (other, None),
    };
    let refused = |words: &str| {
        let mut answer = format!("535 {words}");
        if let Some(challenge) = &challenge {
            answer.push_str(&format!(" (challenge: {challenge})"));
        }
        Xoauth2Error::Refused(super::oauth::server_text(&answer))
    };
    match answer {
        Ok(response) if response.has_code(235) => Ok(()),
        // A server that answers the empty line with yet another challenge
        // or anything else positive has not let us in.
        Ok(response) => Err(refused(&response.message().collect::<Vec<_>>().join(" "))),
        Err(e) if e.status().is_some_and(|c| c.to_string() == "535") => {
            // lettre words it "permanent error (535): 5.7.3 …"; for a
            // session it is not permanent, so only the server's own words
            // are kept.
            let text = e.to_string();
            let words = text.split_once("): ").map_or(text.as_str(), |(_, w)| w);
            Err(refused(words))
        }
        Err(e) => Err(Xoauth2Error::Other(e)),
    }
}

/// Why a new SMTP session could not be had.
enum Refused {
    /// The server answered 535 to this token (the token, the answer). The
    /// answer matters: Exchange Online says `5.7.139 … SmtpClientAuthentication
    /// is disabled for the Tenant` or `5.7.3 Authentication unsuccessful`.
    Token(String, String),
    Other(DeliveryError),
}

impl From<DeliveryError> for Refused {
    fn from(e: DeliveryError) -> Refused {
        Refused::Other(e)
    }
}

impl Refused {
    fn into_error(self) -> DeliveryError {
        match self {
            Refused::Token(_, answer) => DeliveryError::Temporary(format!(
                "the SMTP server refused the OAuth token ({answer}): check that the app has \
                 SMTP.SendAsApp and may send as the mailbox, and that SMTP AUTH is enabled \
                 for the mailbox"
            )),
            Refused::Other(e) => e,
        }
    }
}

/// "token fetched from URL (valid N min)", never the token.
pub(super) fn token_line(oauth: &OAuth, token: &super::oauth::Token) -> String {
    format!(
        "OAuth token fetched from {} for client {} (expires in {} min)",
        oauth.token_url(),
        oauth.client_id(),
        token.expires_in.as_secs() / 60
    )
}

/// A TLS stream that is already encrypted when lettre reads the greeting
/// (`tls = "tls"`, port 465). lettre's own TLS layer does the handshake,
/// with the same certificate checks as STARTTLS; this adapter hands the
/// result back to [`AsyncSmtpConnection::connect_with_transport`], which
/// wants a Tokio stream. lettre 0.11 offers no other way to combine
/// implicit TLS with a socket opened by the caller.
#[allow(deprecated)] // lettre 0.11 keeps `AsyncNetworkStream` public, deprecated.
#[derive(Debug)]
struct ImplicitTls(lettre::transport::smtp::client::AsyncNetworkStream);

#[allow(deprecated)]
impl ImplicitTls {
    async fn handshake(
        tcp: TcpStream,
        tls: TlsParameters,
    ) -> Result<ImplicitTls, lettre::transport::smtp::Error> {
        let mut stream =
            lettre::transport::smtp::client::AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(tls).await?;
        Ok(ImplicitTls(stream))
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = ready!(futures_io::AsyncRead::poll_read(
            Pin::new(&mut self.0),
            cx,
            buf.initialize_unfilled()
        ))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ImplicitTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

fn smtp(settings: &MailSettings, secrets: Secrets) -> Result<Inner, MailError> {
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
    let tls_parameters = || {
        TlsParameters::new(host.to_string()).map_err(|e| {
            MailError::Setup(format!(
                "setting `mail.smtp.host`: cannot use {host:?} with TLS: {e}"
            ))
        })
    };
    let tls = match s.tls {
        SmtpTls::Starttls => Tls::Required(tls_parameters()?),
        SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        SmtpTls::None => Tls::None,
    };
    if s.timeout_secs == 0 {
        return Err(MailError::Setup(
            "setting `mail.smtp.timeout_secs` must be at least 1".into(),
        ));
    }
    let auth = match (s.auth, &s.username) {
        (SmtpAuth::Password, Some(user)) => {
            let password = secrets.smtp_password.ok_or_else(|| {
                MailError::Setup(
                    "setting `mail.smtp.username` is set but there is no SMTP password \
                     (set `mail.smtp.password_file` or provide the `smtp-password` credential)"
                        .into(),
                )
            })?;
            // A password file usually ends with a newline that is not part of it.
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            Auth::Password {
                user: user.clone(),
                credentials: Credentials::new(user.clone(), password),
            }
        }
        (SmtpAuth::Password, None) => Auth::None,
        (SmtpAuth::Xoauth2, _) => {
            let oauth = OAuth::new(
                &settings.oauth,
                secrets.oauth_client_secret,
                SMTP_SCOPE,
                super::graph::http_client()?,
            )?;
            Auth::Xoauth2 {
                user: smtp_user(settings)?,
                oauth,
            }
        }
    };
    Ok(Inner::Smtp(Box::new(Smtp {
        host: host.to_string(),
        port: s.port,
        tls,
        auth,
        idle: Mutex::new(None),
        timeout: Duration::from_secs(s.timeout_secs),
        server: format!("{host}:{}", s.port),
    })))
}

/// Whom XOAUTH2 logs in as: `mail.smtp.username`, else the sender's address.
pub(super) fn smtp_user(settings: &MailSettings) -> Result<String, MailError> {
    if let Some(user) = settings
        .smtp
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        return Ok(user.to_string());
    }
    bare_address(&settings.from)
        .map(|a| a.to_string())
        .map_err(|e| MailError::Setup(format!("setting `mail.from`: {e}")))
}

/// The address in `Name <address>` or a bare address.
pub(super) fn bare_address(s: &str) -> Result<Address, String> {
    let s = s.trim();
    s.parse::<Address>()
        .or_else(|_| s.parse::<Mailbox>().map(|m| m.email))
        .map_err(|e| format!("{s:?} is not an e-mail address: {e}"))
}

/// The SMTP envelope; an address that cannot be used is permanent.
fn envelope(from: &str, rcpt: &[String]) -> Result<Envelope, DeliveryError> {
    let address = |s: &str| bare_address(s).map_err(DeliveryError::Permanent);
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

/// Writes `raw` to `dir/<name>.eml` atomically and never over another
/// file: a temporary file created with `O_EXCL` in the same directory,
/// fsync, a hard link to the final name (which fails, rather than
/// replaces, when the name exists), removal of the temporary name, fsync of
/// the directory. The name comes from the Message-ID, so a message sent
/// again after a crash finds its own earlier file: the same bytes count as
/// delivered; different bytes under the same name are refused for good
/// (the message shows as failed in `status`) and the file is left alone.
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
        ".{}.{}.{}.tmp",
        name.chars().take(64).collect::<String>(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(raw)?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(fail("write", &temp, e));
    }
    let linked = std::fs::hard_link(&temp, &target);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return match std::fs::read(&target) {
                Ok(existing) if existing == raw => Ok(()),
                Ok(_) => Err(DeliveryError::Permanent(format!(
                    "mail directory {}: {} already exists with other content; not overwritten",
                    dir.display(),
                    name
                ))),
                Err(e) => Err(fail("read the existing", &target, e)),
            };
        }
        Err(e) => return Err(fail("link the message to", &target, e)),
    }
    // The link is durable once the directory is synced; a failure here
    // (some file systems refuse to open directories) loses nothing written.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The longest file name stem taken from a Message-ID as it is.
const MAX_PLAIN_STEM: usize = 200;

/// The file name for a message, injective in its Message-ID: the id
/// without angle brackets plus `.eml` when it consists only of
/// `[A-Za-z0-9.@+=-]`, does not start with a dot or a hyphen (the
/// digest's id starts `-digest.`: a file name starting with `-` reads as
/// an option to `cat`, `rm` and the like) and is at most 200
/// characters; otherwise a readable prefix (other characters made `_`),
/// `_` and the SHA-256 of the id in hex. Plain names never contain `_`,
/// so the two forms never meet. A message without a Message-ID is named
/// after the SHA-256 of its bytes.
pub(crate) fn eml_name(raw: &[u8]) -> String {
    let stem = match header_value(raw, "message-id") {
        Some(id) => {
            let id = id.trim().trim_start_matches('<').trim_end_matches('>');
            let plain = |c: char| c.is_ascii_alphanumeric() || ".@+=-".contains(c);
            if !id.is_empty()
                && !id.starts_with(['.', '-'])
                && id.len() <= MAX_PLAIN_STEM
                && id.chars().all(plain)
            {
                id.to_string()
            } else {
                let prefix: String = id
                    .chars()
                    .take(100)
                    .map(|c| if plain(c) { c } else { '_' })
                    .collect();
                // A leading dot would hide the file, a leading hyphen
                // make it an option: keep names visible and plain.
                let prefix = prefix.trim_start_matches(['.', '-']);
                format!("{prefix}_{}", hex(&Sha256::digest(id.as_bytes())))
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
    fn eml_name_never_starts_with_a_hyphen() {
        // The weekly digest's Message-ID starts "-digest." (its task part
        // is the digest's "@digest", made readable).
        let raw = b"Message-ID: <-digest.2027-W11.digest.0.koordinator.ab12@kommune.dk>\r\n\r\n";
        let name = eml_name(raw);
        assert!(
            name.starts_with("digest.2027-W11.digest.0.koordinator.ab12@kommune.dk_"),
            "{name}"
        );
        assert!(name.ends_with(".eml"), "{name}");
    }

    #[test]
    fn eml_name_cannot_leave_the_directory() {
        let raw = b"Message-ID: <../../etc/passwd>\r\n\r\n";
        let name = eml_name(raw);
        assert!(name.starts_with("_.._etc_passwd_"), "{name}");
        assert!(!name.contains('/'), "{name}");
    }

    #[test]
    fn eml_names_differ_where_message_ids_differ() {
        let name = |id: &str| eml_name(format!("Message-ID: <{id}>\r\n\r\n").as_bytes());
        // Each pair used to give one name.
        let pairs = [
            ("a.b@x", "a_b@x"),
            ("a/b@x", "a_b@x"),
            ("a b@x", "a_b@x"),
            (&"x".repeat(250), &format!("{}y", "x".repeat(249))),
        ];
        for (a, b) in pairs {
            assert_ne!(name(a), name(b), "{a} / {b}");
            assert!(name(a).len() <= 255 && name(b).len() <= 255);
        }
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
