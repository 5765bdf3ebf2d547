//! A small real SMTP server for tests, on 127.0.0.1 with a port of its own:
//! it records each envelope and the message bytes, and can be told to
//! refuse given recipients with a reply of our choosing, to accept the
//! connection and never answer, to answer slowly, to hang up after each
//! message, or to take a message and never confirm it. Like most servers it answers DATA only after the closing `.`
//! line, so a client with Nagle's algorithm on stalls on the server's
//! delayed ACK. [`refusing_port`]
//! gives a port where nothing listens. With [`SmtpServer::require_xoauth2`]
//! it offers `AUTH XOAUTH2` only, checks each bearer token with the given
//! function, answers `535 5.7.3` for a bad one (as Exchange Online does)
//! and refuses mail before a successful AUTH.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One message as the server accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The `MAIL FROM` address, without angle brackets.
    pub from: String,
    /// The accepted `RCPT TO` addresses, in order.
    pub rcpt: Vec<String>,
    /// The message as sent after `DATA`, dot-stuffing undone, CRLF kept.
    pub data: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8(self.data.clone()).expect("the message is UTF-8")
    }
}

/// How the server behaves on new connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A well-behaved server.
    #[default]
    Normal,
    /// Accepts the connection and never says a word.
    Silent,
    /// Waits this long before every reply.
    Slow(Duration),
    /// Closes the connection after accepting one message, without QUIT.
    HangUp,
    /// Refuses every session with a 554 greeting and closes.
    RefuseSession,
    /// Takes each message whole (it is in [`SmtpServer::received`]) and
    /// never answers the closing `.`: the client has the message in flight
    /// and cannot know the server has it.
    StallAfterData,
}

/// Decides whether `(user, token)` may log in.
type CheckFn = dyn Fn(&str, &str) -> bool + Send + Sync;

#[derive(Clone)]
pub struct TokenCheck(pub Arc<CheckFn>);

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCheck")
    }
}

/// One `AUTH XOAUTH2` attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAttempt {
    pub user: String,
    pub token: String,
    pub ok: bool,
}

#[derive(Debug, Default)]
struct State {
    received: Vec<Received>,
    xoauth2: Option<TokenCheck>,
    auths: Vec<AuthAttempt>,
    /// Refuse a token with a `334` error challenge first (as Gmail does).
    challenge: bool,
    /// What clients sent in answer to such a challenge.
    challenge_answers: Vec<String>,
    /// Recipient address → the whole reply line, e.g. `550 5.1.1 No such user`.
    rejects: HashMap<String, String>,
    mode: Mode,
    connections: usize,
}

/// A running test server; stops accepting when dropped.
pub struct SmtpServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let accept_state = Arc::clone(&state);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move {
                    // A client that goes away mid-dialogue is not our failure.
                    let _ = serve(stream, state).await;
                });
            }
        });
        SmtpServer {
            addr,
            state,
            accept,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers `RCPT TO:<rcpt>` with `reply` (a whole line: code and text).
    pub fn reject(&self, rcpt: &str, reply: &str) {
        self.lock()
            .rejects
            .insert(rcpt.to_string(), reply.to_string());
    }

    /// Takes `rcpt` again after [`SmtpServer::reject`]. (Rejecting with
    /// a 250 line does not: the recipient is then not recorded, and the
    /// message is refused at DATA with 503.)
    pub fn accept(&self, rcpt: &str) {
        self.lock().rejects.remove(rcpt);
    }

    /// How to behave on connections made from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
    }

    /// The messages accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Offers `AUTH XOAUTH2` and requires it before `MAIL`; `check`
    /// decides whether a (user, token) pair is good.
    pub fn require_xoauth2(&self, check: impl Fn(&str, &str) -> bool + Send + Sync + 'static) {
        self.lock().xoauth2 = Some(TokenCheck(Arc::new(check)));
    }

    /// From now on a refused token gets a `334` challenge holding an error
    /// JSON (RFC 7628 section 3.2.3) before the final `535`; the `535`
    /// comes only after the client's empty line.
    pub fn challenge_refused_tokens(&self) {
        self.lock().challenge = true;
    }

    /// What clients sent in answer to a `334` error challenge.
    pub fn challenge_answers(&self) -> Vec<String> {
        self.lock().challenge_answers.clone()
    }

    /// Every `AUTH XOAUTH2` attempt so far, oldest first.
    pub fn auths(&self) -> Vec<AuthAttempt> {
        self.lock().auths.clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("server state lock")
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A port on 127.0.0.1 where nothing listens: bound, then released.
pub async fn refusing_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    port
}

/// The binary's settings (as environment variables) for plain SMTP, no
/// TLS and no login, to the test server on 127.0.0.1:`port`. A test adds
/// what it needs besides (a delivery timeout, a login).
pub fn env(port: u16) -> Vec<(String, String)> {
    vec![
        ("ARSHJUL_MAIL__TRANSPORT".into(), "smtp".into()),
        ("ARSHJUL_MAIL__SMTP__HOST".into(), "127.0.0.1".into()),
        ("ARSHJUL_MAIL__SMTP__PORT".into(), port.to_string()),
        ("ARSHJUL_MAIL__SMTP__TLS".into(), "none".into()),
    ]
}

/// Sends one reply (one or more lines, CRLF-separated), after `delay`.
async fn reply(write: &mut OwnedWriteHalf, delay: Duration, text: &str) -> std::io::Result<()> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // One write: a separate write for the CRLF would wait on Nagle's
    // algorithm for the client's delayed ACK, 40 ms on every reply.
    write.write_all(format!("{text}\r\n").as_bytes()).await?;
    write.flush().await
}

/// The address inside `<…>` of a `MAIL FROM:` or `RCPT TO:` argument.
fn angle_address(arg: &str) -> String {
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_string(),
        _ => arg.trim().to_string(),
    }
}

/// `user=U\x01auth=Bearer T\x01\x01`, base64-encoded, as (U, T).
fn xoauth2_initial_response(b64: &str) -> (String, String) {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&decoded).into_owned();
    let mut user = String::new();
    let mut token = String::new();
    for part in text.split('\x01') {
        if let Some(u) = part.strip_prefix("user=") {
            user = u.to_string();
        } else if let Some(t) = part.strip_prefix("auth=Bearer ") {
            token = t.to_string();
        }
    }
    (user, token)
}

async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let mode = {
        let mut s = state.lock().expect("server state lock");
        s.connections += 1;
        s.mode
    };
    if mode == Mode::Silent {
        // Hold the connection open and never answer.
        let _keep = stream;
        std::future::pending::<()>().await;
        return Ok(());
    }
    let delay = match mode {
        Mode::Slow(d) => d,
        _ => Duration::ZERO,
    };
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);

    if mode == Mode::RefuseSession {
        reply(
            &mut write,
            delay,
            "554 5.3.2 arshjul-test is not taking mail",
        )
        .await?;
        return Ok(());
    }
    reply(&mut write, delay, "220 arshjul-test ESMTP ready").await?;
    let xoauth2 = state.lock().expect("server state lock").xoauth2.clone();
    let mut authenticated = xoauth2.is_none();
    let mut from: Option<String> = None;
    let mut rcpt: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            let auth = if xoauth2.is_some() {
                "\r\n250-AUTH XOAUTH2"
            } else {
                ""
            };
            reply(
                &mut write,
                delay,
                &format!("250-arshjul-test{auth}\r\n250-8BITMIME\r\n250 SMTPUTF8"),
            )
            .await?;
        } else if upper.starts_with("AUTH XOAUTH2 ") && xoauth2.is_some() {
            let check = xoauth2.as_ref().expect("checked");
            let (user, token) = xoauth2_initial_response(&command[13..]);
            let ok = (check.0)(&user, &token);
            state
                .lock()
                .expect("server state lock")
                .auths
                .push(AuthAttempt { user, token, ok });
            let challenge = state.lock().expect("server state lock").challenge;
            if ok {
                authenticated = true;
                reply(&mut write, delay, "235 2.7.0 Authentication successful").await?;
            } else if challenge {
                let json = base64::engine::general_purpose::STANDARD.encode(
                    r#"{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}"#,
                );
                reply(&mut write, delay, &format!("334 {json}")).await?;
                line.clear();
                if read.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(());
                }
                let answer = String::from_utf8_lossy(&line).to_string();
                state
                    .lock()
                    .expect("server state lock")
                    .challenge_answers
                    .push(answer.clone());
                if answer == "\r\n" {
                    reply(&mut write, delay, "535 5.7.3 Authentication unsuccessful").await?;
                } else {
                    reply(&mut write, delay, "501 5.5.2 Cannot decode response").await?;
                }
            } else {
                reply(&mut write, delay, "535 5.7.3 Authentication unsuccessful").await?;
            }
        } else if upper.starts_with("MAIL FROM:") && !authenticated {
            reply(&mut write, delay, "530 5.7.57 Client not authenticated").await?;
        } else if upper.starts_with("HELO") {
            reply(&mut write, delay, "250 arshjul-test").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(angle_address(&command[10..]));
            rcpt.clear();
            reply(&mut write, delay, "250 2.1.0 Ok").await?;
        } else if upper.starts_with("RCPT TO:") {
            let to = angle_address(&command[8..]);
            let rejected = state
                .lock()
                .expect("server state lock")
                .rejects
                .get(&to)
                .cloned();
            match rejected {
                Some(answer) => reply(&mut write, delay, &answer).await?,
                None => {
                    rcpt.push(to);
                    reply(&mut write, delay, "250 2.1.5 Ok").await?;
                }
            }
        } else if upper == "DATA" {
            if from.is_none() || rcpt.is_empty() {
                reply(&mut write, delay, "503 5.5.1 Need MAIL and RCPT first").await?;
                continue;
            }
            reply(&mut write, delay, "354 End data with <CR><LF>.<CR><LF>").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if read.read_until(b'\n', &mut line).await? == 0 {
                    return Ok(());
                }
                if line == b".\r\n" {
                    break;
                }
                let unstuffed = if line.starts_with(b"..") {
                    &line[1..]
                } else {
                    &line[..]
                };
                data.extend_from_slice(unstuffed);
            }
            let message = Received {
                from: from.take().unwrap_or_default(),
                rcpt: std::mem::take(&mut rcpt),
                data,
            };
            state
                .lock()
                .expect("server state lock")
                .received
                .push(message);
            if mode == Mode::StallAfterData {
                let _keep = write;
                std::future::pending::<()>().await;
                return Ok(());
            }
            reply(&mut write, delay, "250 2.0.0 Ok: queued").await?;
            if mode == Mode::HangUp {
                return Ok(());
            }
        } else if upper == "RSET" {
            from = None;
            rcpt.clear();
            reply(&mut write, delay, "250 2.0.0 Ok").await?;
        } else if upper == "NOOP" {
            reply(&mut write, delay, "250 2.0.0 Ok").await?;
        } else if upper == "QUIT" {
            reply(&mut write, delay, "221 2.0.0 Bye").await?;
            return Ok(());
        } else {
            reply(&mut write, delay, "502 5.5.2 Command not recognised").await?;
        }
    }
}
