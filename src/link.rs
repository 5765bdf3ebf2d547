//! Signed completion tokens and the secret that signs them: the token
//! carries its own claims (task, period, recipient, due date, expiry) and an
//! HMAC-SHA256 over them, so the server keeps no token table. Pure except
//! for [`Secret::load_or_create`], which reads or creates the secret file.
//! Also builds the links the messages carry ([`url`], [`for_notification`])
//! and decides how long they stay valid ([`expiry_day`]).
//!
//! # Token format
//!
//! URL-safe base64 without padding of `payload ‖ mac`, where `mac` is the
//! 32-byte HMAC-SHA256 of `payload` under the secret, and `payload` is:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version, `1` |
//! | varint + UTF-8 | task id |
//! | varint + UTF-8 | period key |
//! | varint + UTF-8 | recipient person key |
//! | 4, big-endian `i32` | due date, days since 0001-01-01 (CE day 1) |
//! | 8, big-endian `i64` | expiry, unix seconds; the last second it is valid |
//!
//! Varints are unsigned LEB128 (7 bits a byte, low bits first) in their
//! shortest form. A token whose MAC does not match, or whose payload does not
//! decode exactly, is [`TokenError::Invalid`]; the MAC is checked before
//! anything else, so a forged token is never reported as expired.
//!
//! # Secret file format
//!
//! Either exactly 32 raw bytes (`openssl rand 32 > secret`), or 64 hex
//! digits optionally followed by white space (`openssl rand -hex 32 > secret`).
//! A secret created by arshjul is written as 64 lower-case hex digits and a
//! newline, with mode 0600.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::planner::Notification;
use crate::wheel::Wheel;

type HmacSha256 = Hmac<Sha256>;

/// Length of the secret and of the MAC, in bytes.
const KEY_LEN: usize = 32;
const MAC_LEN: usize = 32;
/// The payload format this code writes and reads.
const VERSION: u8 = 1;
/// No field of a real token comes near this; longer is refused unread.
const MAX_FIELD_LEN: u64 = 4096;

/// The link-signing key: 32 secret bytes.
#[derive(Clone)]
pub struct Secret([u8; KEY_LEN]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why the secret could not be had, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: cannot read the link secret: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "{path}: the link secret must be 32 raw bytes or 64 hex digits; the file has {found} bytes"
    )]
    Size { path: String, found: usize },
    #[error("{path}: the link secret must be 32 raw bytes or 64 hex digits; the file has 64 characters that are not all hex digits")]
    NotHex { path: String },
    #[error("{path}: cannot create the link secret: {reason}")]
    Create { path: String, reason: String },
    #[error("cannot get random bytes for a new link secret: {0}")]
    Random(String),
}

/// Lets callers that report errors as strings use `?`/`map_err` directly.
impl From<SecretError> for String {
    fn from(e: SecretError) -> String {
        e.to_string()
    }
}

impl Secret {
    /// A secret from known bytes (tests, or a key kept elsewhere).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Secret {
        Secret(bytes)
    }

    /// A fresh random secret from the operating system.
    pub fn generate() -> Result<Secret, SecretError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(Secret(bytes))
    }

    /// Reads the secret at `path` (see the module docs for the format), or,
    /// when the file does not exist, creates it with a random secret and
    /// mode 0600. The directory must exist. An existing file is never
    /// overwritten, so links already sent stay valid.
    pub fn load_or_create(path: &Path) -> Result<Secret, SecretError> {
        if let Some(secret) = read_secret(path)? {
            return Ok(secret);
        }
        let secret = Secret::generate()?;
        match secret.write_new(path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new link secret");
                Ok(secret)
            }
            // Another process created it first: theirs is the one in use.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                read_secret(path)?.ok_or_else(|| SecretError::Read {
                    path: path.display().to_string(),
                    reason: "it vanished while it was being created".into(),
                })
            }
            Err(e) => Err(SecretError::Create {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Writes the secret as hex to a file that must not exist yet.
    fn write_new(&self, path: &Path) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        let mut text = hex(&self.0);
        text.push('\n');
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            // A half-written secret would be refused at the next start; leave none.
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(())
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.0)
            .expect("HMAC-SHA256 accepts a key of any length")
    }
}

/// The secret at `path`, or `None` when there is no such file.
fn read_secret(path: &Path) -> Result<Option<Secret>, SecretError> {
    let shown = || path.display().to_string();
    let mut bytes = Vec::new();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(SecretError::Read {
                path: shown(),
                reason: e.to_string(),
            })
        }
    };
    // Read one byte more than the longest valid file allows, plus slack for
    // trailing white space, so a huge file is not read whole.
    file.take(4096)
        .read_to_end(&mut bytes)
        .map_err(|e| SecretError::Read {
            path: shown(),
            reason: e.to_string(),
        })?;
    warn_if_readable_by_others(path);
    if bytes.len() == KEY_LEN {
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&bytes);
        return Ok(Some(Secret(key)));
    }
    let trimmed = bytes.trim_ascii_end();
    if trimmed.len() != 2 * KEY_LEN {
        return Err(SecretError::Size {
            path: shown(),
            found: bytes.len(),
        });
    }
    let mut key = [0u8; KEY_LEN];
    for (slot, pair) in key.iter_mut().zip(trimmed.chunks_exact(2)) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(hi), Some(lo)) => *slot = hi << 4 | lo,
            _ => return Err(SecretError::NotHex { path: shown() }),
        }
    }
    Ok(Some(Secret(key)))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the link secret is readable by other users; chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// What a token says: which occurrence, for whom, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub task: String,
    pub period: String,
    /// The person key of the recipient the link was sent to.
    pub person: String,
    pub due: NaiveDate,
    /// Unix seconds; the token is valid up to and including this second.
    pub expires: i64,
}

impl Claims {
    /// The expiry as an instant (`None` only for a value chrono cannot hold).
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.expires, 0)
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64, a MAC that does not match, or a payload that does not
    /// decode: forged, altered or truncated. Answered with 404.
    #[error("the link is not valid")]
    Invalid,
    /// Genuine but past its expiry. Answered with 410.
    #[error("the link has expired")]
    Expired(Claims),
}

/// Signs `claims` into a token for a URL path segment.
pub fn sign(secret: &Secret, claims: &Claims) -> String {
    let mut buf = Vec::with_capacity(64 + MAC_LEN);
    buf.push(VERSION);
    for field in [&claims.task, &claims.period, &claims.person] {
        put_varint(&mut buf, field.len() as u64);
        buf.extend_from_slice(field.as_bytes());
    }
    buf.extend_from_slice(&claims.due.num_days_from_ce().to_be_bytes());
    buf.extend_from_slice(&claims.expires.to_be_bytes());
    let mut mac = secret.mac();
    mac.update(&buf);
    buf.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(buf)
}

/// Checks a token: its MAC first (in constant time), then its payload,
/// then its expiry against `now`.
pub fn verify(secret: &Secret, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
    // The shortest payload is 1 + 3 + 4 + 8 bytes; refuse absurd lengths unread.
    if token.len() > 4 * 1024 {
        return Err(TokenError::Invalid);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Invalid)?;
    if bytes.len() <= MAC_LEN {
        return Err(TokenError::Invalid);
    }
    let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
    let mut mac = secret.mac();
    mac.update(payload);
    mac.verify_slice(tag).map_err(|_| TokenError::Invalid)?;
    let claims = decode_payload(payload).ok_or(TokenError::Invalid)?;
    if now.timestamp() > claims.expires {
        return Err(TokenError::Expired(claims));
    }
    Ok(claims)
}

fn decode_payload(payload: &[u8]) -> Option<Claims> {
    let mut r = Reader(payload);
    if r.take(1)? != [VERSION] {
        return None;
    }
    let task = r.string()?;
    let period = r.string()?;
    let person = r.string()?;
    let due_days = i32::from_be_bytes(r.take(4)?.try_into().ok()?);
    let expires = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
    if !r.0.is_empty() {
        return None;
    }
    let due = NaiveDate::from_num_days_from_ce_opt(due_days)?;
    Some(Claims {
        task,
        period,
        person,
        due,
        expires,
    })
}

fn put_varint(buf: &mut Vec<u8>, mut n: u64) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            buf.push(low);
            return;
        }
        buf.push(low | 0x80);
    }
}

/// A cursor over the payload; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    /// An unsigned LEB128 varint in its shortest form, at most `MAX_FIELD_LEN`.
    fn varint(&mut self) -> Option<u64> {
        let mut n: u64 = 0;
        for shift in (0..).step_by(7).take(3) {
            let byte = self.take(1)?[0];
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                // A trailing zero byte after the first is not the shortest form.
                if byte == 0 && shift > 0 {
                    return None;
                }
                return (n <= MAX_FIELD_LEN).then_some(n);
            }
        }
        None
    }

    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.varint()?).ok()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).ok()
    }
}

/// The payload format of a viewer token (see [`ViewerClaims`]); a
/// completion token starts with [`VERSION`], so neither decodes as the other.
/// Format `2` (before a person's token was bound to their mailbox) is
/// refused: such links are re-issued (`arshjul link …`, and every
/// escalation mail and digest carries a fresh one).
const VIEWER_VERSION: u8 = 3;

/// The length of a [`MailboxTag`] in bytes.
const MAILBOX_TAG_LEN: usize = 16;

/// Which mailbox a person's viewer token was made for: the first 16 bytes
/// of SHA-256 over `arshjul-mailbox-v1`, a zero byte and the address
/// normalised ([`normalise_mailbox`]). The token carries the tag, not the
/// address, and its MAC covers the tag: a link is honoured only while the
/// person key it names still has the mailbox it was issued for, so a key
/// removed and later given to someone else does not reopen the old
/// holder's links.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MailboxTag([u8; MAILBOX_TAG_LEN]);

impl MailboxTag {
    /// The tag of `email` (as the wheel writes it; normalised here).
    pub fn of(email: &str) -> MailboxTag {
        use sha2::Digest as _;
        let mut h = Sha256::new();
        h.update(b"arshjul-mailbox-v1\0");
        h.update(normalise_mailbox(email).as_bytes());
        let digest = h.finalize();
        let mut tag = [0; MAILBOX_TAG_LEN];
        tag.copy_from_slice(&digest[..MAILBOX_TAG_LEN]);
        MailboxTag(tag)
    }
}

impl fmt::Debug for MailboxTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxTag({})", hex(&self.0))
    }
}

/// An address as a viewer token binds it: trimmed and lower-cased whole
/// (domains are case-insensitive; the local part is in every mail system
/// arshjul meets, Exchange and Google included), so that rewriting
/// `Anna@Kommune.dk` as `anna@kommune.dk` in the wheel keeps the links.
pub fn normalise_mailbox(email: &str) -> String {
    email.trim().to_lowercase()
}

/// What a viewer token lets its holder see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewerKind {
    /// An iCalendar feed (`GET /calendar/{token}.ics`).
    Calendar,
    /// The overview page (`GET /overview/{token}`): the whole
    /// organisation's status, for one person (a manager in an escalation
    /// chain, or the coordinator).
    Overview,
}

impl ViewerKind {
    fn byte(self) -> u8 {
        match self {
            ViewerKind::Calendar => 1,
            ViewerKind::Overview => 2,
        }
    }

    fn from_byte(b: u8) -> Option<ViewerKind> {
        match b {
            1 => Some(ViewerKind::Calendar),
            2 => Some(ViewerKind::Overview),
            _ => None,
        }
    }

    /// The kind as the store keeps it.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewerKind::Calendar => "calendar",
            ViewerKind::Overview => "overview",
        }
    }
}

/// Whose view a viewer token opens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Viewer {
    /// The whole organisation.
    Organisation,
    /// One person of the wheel, by key.
    Person(String),
}

impl Viewer {
    /// The viewer as the store keeps it: `organisation`, or `person:KEY`.
    pub fn as_key(&self) -> String {
        match self {
            Viewer::Organisation => "organisation".to_string(),
            Viewer::Person(key) => format!("person:{key}"),
        }
    }
}

/// A viewer capability: which view, for whom (a person bound to the
/// mailbox they had when it was made), and the viewer's version when it
/// was made. It never expires (calendar clients poll for years); it is
/// revoked by raising the version the store keeps for (kind, viewer),
/// after which tokens with the old version are refused, and it lapses
/// while the person's key has another mailbox in the wheel ([`Self::holds`]).
///
/// Token: URL-safe base64 without padding of `payload ‖ mac` (HMAC-SHA256
/// under the link secret, as completion tokens), `payload` =
/// `3` (format) ‖ kind (1 calendar, 2 overview) ‖ `0` (organisation) or
/// `1` ‖ varint + UTF-8 person key ‖ 16-byte [`MailboxTag`] ‖ version
/// (4 bytes, big-endian).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerClaims {
    pub kind: ViewerKind,
    pub viewer: Viewer,
    /// The person's mailbox when the token was made; `None` for the
    /// organisation. A person's claims without one sign a tag no address
    /// has, so the token is never honoured.
    pub mailbox: Option<MailboxTag>,
    pub version: u32,
}

impl ViewerClaims {
    /// Claims of `kind` for `viewer` as the wheel has them now: a person's
    /// bound to their current mailbox. `None` for a person key the wheel
    /// does not have.
    pub fn current(
        wheel: &Wheel,
        kind: ViewerKind,
        viewer: Viewer,
        version: u32,
    ) -> Option<ViewerClaims> {
        let mailbox = match &viewer {
            Viewer::Organisation => None,
            Viewer::Person(key) => Some(MailboxTag::of(&wheel.person(key)?.email)),
        };
        Some(ViewerClaims {
            kind,
            viewer,
            mailbox,
            version,
        })
    }

    /// Whether the wheel still has the viewer these claims were made for:
    /// always for the organisation; for a person, while their key is in
    /// the wheel with the mailbox the token was bound to. (The version is
    /// the store's to check.)
    pub fn holds(&self, wheel: &Wheel) -> bool {
        match (&self.viewer, &self.mailbox) {
            (Viewer::Organisation, None) => true,
            (Viewer::Person(key), Some(tag)) => wheel
                .person(key)
                .is_some_and(|p| MailboxTag::of(&p.email) == *tag),
            _ => false,
        }
    }
}

/// Signs viewer claims into a token for a URL path segment.
pub fn sign_viewer(secret: &Secret, claims: &ViewerClaims) -> String {
    let mut buf = Vec::with_capacity(64 + MAC_LEN);
    buf.push(VIEWER_VERSION);
    buf.push(claims.kind.byte());
    match &claims.viewer {
        Viewer::Organisation => buf.push(0),
        Viewer::Person(key) => {
            buf.push(1);
            put_varint(&mut buf, key.len() as u64);
            buf.extend_from_slice(key.as_bytes());
            let tag = claims.mailbox.map_or([0; MAILBOX_TAG_LEN], |t| t.0);
            buf.extend_from_slice(&tag);
        }
    }
    buf.extend_from_slice(&claims.version.to_be_bytes());
    let mut mac = secret.mac();
    mac.update(&buf);
    buf.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(buf)
}

/// Checks a viewer token's MAC (in constant time) and decodes it. `None`
/// for anything forged, altered, truncated, of an older format or not a
/// viewer token; the caller then checks the claims against the wheel
/// ([`ViewerClaims::holds`]) and the version against the store's.
pub fn verify_viewer(secret: &Secret, token: &str) -> Option<ViewerClaims> {
    if token.len() > 4 * 1024 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    if bytes.len() <= MAC_LEN {
        return None;
    }
    let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
    let mut mac = secret.mac();
    mac.update(payload);
    mac.verify_slice(tag).ok()?;
    let mut r = Reader(payload);
    if r.take(1)? != [VIEWER_VERSION] {
        return None;
    }
    let kind = ViewerKind::from_byte(r.take(1)?[0])?;
    let (viewer, mailbox) = match r.take(1)?[0] {
        0 => (Viewer::Organisation, None),
        1 => {
            let key = r.string()?;
            let tag: [u8; MAILBOX_TAG_LEN] = r.take(MAILBOX_TAG_LEN)?.try_into().ok()?;
            (Viewer::Person(key), Some(MailboxTag(tag)))
        }
        _ => return None,
    };
    let version = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
    if !r.0.is_empty() {
        return None;
    }
    Some(ViewerClaims {
        kind,
        viewer,
        mailbox,
        version,
    })
}

/// The URL of the view `claims` open: `{public_url}/calendar/{token}.ics`
/// for a calendar feed, `{public_url}/overview/{token}` for the overview
/// page (a capability to read the whole organisation's status, revoked by
/// raising the person's overview version: `arshjul link overview --revoke`).
pub fn viewer_url(public_url: &str, secret: &Secret, claims: &ViewerClaims) -> String {
    let base = public_url.trim_end_matches('/');
    let token = sign_viewer(secret, claims);
    match claims.kind {
        ViewerKind::Calendar => format!("{base}/calendar/{token}.ics"),
        ViewerKind::Overview => format!("{base}/overview/{token}"),
    }
}

/// The completion link `{public_url}/done/{token}` for the mail side.
pub fn url(
    public_url: &str,
    secret: &Secret,
    task: &str,
    period: &str,
    person: &str,
    due: NaiveDate,
    expires: DateTime<Utc>,
) -> String {
    let claims = Claims {
        task: task.to_string(),
        period: period.to_string(),
        person: person.to_string(),
        due,
        expires: expires.timestamp(),
    };
    format!(
        "{}/done/{}",
        public_url.trim_end_matches('/'),
        sign(secret, &claims)
    )
}

/// The completion link for the person a notification is addressed to, in a
/// message written on the local day `today`. It stays valid `link_days`
/// after the later of that day and the notification's own day, and never
/// less than `link_days` after the occurrence's last escalation: a repeat
/// sent months after the due date carries a link that works when it
/// arrives, and an open occurrence, which keeps receiving repeats, always
/// has a valid link in the owner's inbox.
pub fn for_notification(
    public_url: &str,
    secret: &Secret,
    wheel: &Wheel,
    n: &Notification,
    today: NaiveDate,
    link_days: u32,
) -> String {
    let expires_day = expiry_day(wheel, n, today, link_days);
    let expires = crate::calendar::resolve_local(
        wheel.organisation.timezone,
        expires_day.and_hms_opt(23, 59, 59).unwrap_or_default(),
    )
    .with_timezone(&Utc);
    url(
        public_url, secret, &n.task, &n.period, &n.to, n.due, expires,
    )
}

/// The last day (local, valid through its end) of a completion link in a
/// message about `n` written on `today`: `link_days` after the later of the
/// message's day and the occurrence's last escalation step.
pub fn expiry_day(
    wheel: &Wheel,
    n: &Notification,
    today: chrono::NaiveDate,
    link_days: u32,
) -> chrono::NaiveDate {
    let days = chrono::Duration::days(i64::from(link_days));
    let last_step = wheel
        .task(&n.task)
        .and_then(|t| t.escalate.last().map(|e| i64::from(e.after.0)))
        .unwrap_or(0);
    let plus = |day: chrono::NaiveDate, d: chrono::Duration| {
        day.checked_add_signed(d).unwrap_or(chrono::NaiveDate::MAX)
    };
    let after_escalation = plus(plus(n.due, chrono::Duration::days(last_step)), days);
    let after_message = plus(n.date.max(today), days);
    after_escalation.max(after_message)
}

#[cfg(test)]
mod viewer_tests {
    use super::*;

    #[test]
    fn a_viewer_token_round_trips_and_refuses_tampering_and_completion_tokens() {
        let secret = Secret::from_bytes([7; 32]);
        for (viewer, mailbox) in [
            (Viewer::Organisation, None),
            (
                Viewer::Person("anna".into()),
                Some(MailboxTag::of("anna@kommune.dk")),
            ),
        ] {
            let claims = ViewerClaims {
                kind: ViewerKind::Calendar,
                viewer,
                mailbox,
                version: 3,
            };
            let token = sign_viewer(&secret, &claims);
            assert_eq!(verify_viewer(&secret, &token), Some(claims));
            let other = Secret::from_bytes([8; 32]);
            assert_eq!(verify_viewer(&other, &token), None);
            let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
            bytes[1] ^= 3;
            assert_eq!(
                verify_viewer(&secret, &URL_SAFE_NO_PAD.encode(&bytes)),
                None
            );
        }
        // A completion token is not a viewer token, and the other way round.
        let done = sign(
            &secret,
            &Claims {
                task: "t".into(),
                period: "2027".into(),
                person: "anna".into(),
                due: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
                expires: i64::MAX,
            },
        );
        assert_eq!(verify_viewer(&secret, &done), None);
        let viewer = sign_viewer(
            &secret,
            &ViewerClaims {
                kind: ViewerKind::Overview,
                viewer: Viewer::Organisation,
                mailbox: None,
                version: 0,
            },
        );
        assert_eq!(
            verify(&secret, &viewer, DateTime::from_timestamp(0, 0).unwrap()),
            Err(TokenError::Invalid)
        );
        assert_eq!(verify_viewer(&secret, "not a token"), None);
    }

    /// A format-2 token (before the mailbox binding), signed with the
    /// right secret, as `sign_viewer` wrote it then.
    fn format_two(secret: &Secret, key: &str) -> String {
        let mut buf = vec![2, ViewerKind::Overview.byte(), 1];
        put_varint(&mut buf, key.len() as u64);
        buf.extend_from_slice(key.as_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes());
        let mut mac = secret.mac();
        mac.update(&buf);
        buf.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(buf)
    }

    #[test]
    fn a_token_of_the_format_before_the_mailbox_binding_is_refused() {
        let secret = Secret::from_bytes([7; 32]);
        assert_eq!(verify_viewer(&secret, &format_two(&secret, "anna")), None);
    }

    #[test]
    fn a_mailbox_is_normalised_before_it_is_bound() {
        assert_eq!(
            normalise_mailbox("  Anna.Berg@Kommune.DK\n"),
            "anna.berg@kommune.dk"
        );
        assert_eq!(
            MailboxTag::of("Anna@Kommune.dk"),
            MailboxTag::of(" anna@kommune.dk ")
        );
        assert_ne!(
            MailboxTag::of("anna@kommune.dk"),
            MailboxTag::of("anna@region.dk")
        );
        assert_ne!(MailboxTag::of("anna@kommune.dk").0, [0; MAILBOX_TAG_LEN]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::Kind;
    use chrono::TimeZone;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A notification about the shipped wheel's policy-review 2027 (due
    /// 1 March, last escalation 30 days after) for a message on `day`.
    fn policy_review(kind: Kind, day: NaiveDate) -> Notification {
        Notification {
            key: format!("policy-review/2027/{}/1/digitalisering", kind.as_str()),
            task: "policy-review".into(),
            period: "2027".into(),
            due: date(2027, 3, 1),
            kind,
            step: 1,
            date: day,
            at: chrono_tz::Europe::Copenhagen
                .from_local_datetime(&day.and_hms_opt(8, 0, 0).unwrap())
                .unwrap(),
            to: "digitalisering".into(),
            cc: Vec::new(),
            on_behalf: None,
            cc_deputies: Vec::new(),
        }
    }

    fn shipped() -> Wheel {
        crate::wheel::parse(include_str!("../schedule.toml"), "schedule.toml").unwrap()
    }

    #[test]
    fn a_link_lasts_link_days_after_its_message_and_never_less_than_after_the_last_escalation() {
        let wheel = shipped();
        // The 29 January reminder: 90 days after the last escalation (31
        // March) is later than 90 days after the message.
        let n = policy_review(Kind::Reminder, date(2027, 1, 29));
        assert_eq!(
            expiry_day(&wheel, &n, date(2027, 1, 29), 90),
            date(2027, 6, 29)
        );
        // A repeat on 6 September: 90 days after its own day.
        let n = policy_review(Kind::Repeat, date(2027, 9, 6));
        assert_eq!(
            expiry_day(&wheel, &n, date(2027, 9, 6), 90),
            date(2027, 12, 5)
        );
        // Written late (a catch-up pass days after the repeat's day): from
        // the day it is written.
        assert_eq!(
            expiry_day(&wheel, &n, date(2027, 9, 9), 90),
            date(2027, 12, 8)
        );
        // A fresh link asked for on 5 July 2027.
        let n = policy_review(Kind::Link, date(2027, 7, 5));
        assert_eq!(
            expiry_day(&wheel, &n, date(2027, 7, 5), 90),
            date(2027, 10, 3)
        );
        // No date arithmetic can overflow into a panic.
        let n = policy_review(Kind::Repeat, NaiveDate::MAX);
        assert_eq!(
            expiry_day(&wheel, &n, NaiveDate::MAX, u32::MAX),
            NaiveDate::MAX
        );
    }

    #[test]
    fn a_link_carries_a_token_that_verifies_and_ignores_a_trailing_slash() {
        let secret = Secret::from_bytes([1; 32]);
        let due = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        let expires = DateTime::parse_from_rfc3339("2027-06-30T23:59:59+02:00")
            .unwrap()
            .with_timezone(&Utc);
        let url = url(
            "https://arshjul.example.dk/",
            &secret,
            "policy-review",
            "2027",
            "anna",
            due,
            expires,
        );
        let token = url
            .strip_prefix("https://arshjul.example.dk/done/")
            .unwrap();
        let now = DateTime::parse_from_rfc3339("2027-02-01T08:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        let claims = verify(&secret, token, now).unwrap();
        assert_eq!(
            claims,
            Claims {
                task: "policy-review".into(),
                period: "2027".into(),
                person: "anna".into(),
                due,
                expires: expires.timestamp()
            }
        );
    }
    use proptest::prelude::*;

    fn secret() -> Secret {
        Secret::from_bytes([7u8; 32])
    }

    fn claims() -> Claims {
        Claims {
            task: "policy-review".into(),
            period: "2027".into(),
            person: "digitaliseringschef".into(),
            due: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            // 2027-06-30T21:59:59Z: 23:59:59 in Copenhagen, summer time.
            expires: 1_814_392_799,
        }
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let token = sign(&secret(), &claims());
        assert_eq!(
            verify(&secret(), &token, at("2027-02-01T08:00:00+01:00")),
            Ok(claims())
        );
    }

    #[test]
    fn a_token_is_url_safe_and_short_enough_for_an_e_mail_line() {
        let token = sign(&secret(), &claims());
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
        assert!(token.len() < 120, "{} characters: {token}", token.len());
    }

    #[test]
    fn fields_with_non_ascii_and_long_text_round_trip() {
        let c = Claims {
            task: "årlig-gennemgang".into(),
            period: "2026-2029".into(),
            person: "ø".repeat(300),
            due: NaiveDate::from_ymd_opt(2029, 2, 28).unwrap(),
            expires: 0,
        };
        let token = sign(&secret(), &c);
        assert_eq!(verify(&secret(), &token, at("1970-01-01T00:00:00Z")), Ok(c));
    }

    #[test]
    fn the_expiry_second_itself_is_still_valid_and_the_next_is_not() {
        let token = sign(&secret(), &claims());
        assert_eq!(
            verify(&secret(), &token, at("2027-06-30T21:59:59Z")),
            Ok(claims())
        );
        assert_eq!(
            verify(&secret(), &token, at("2027-06-30T22:00:00Z")),
            Err(TokenError::Expired(claims()))
        );
        assert_eq!(claims().expires_at(), Some(at("2027-06-30T21:59:59Z")));
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let token = sign(&secret(), &claims());
        let now = at("2027-02-01T08:00:00Z");
        let replacements = [
            'A', 'B', 'Q', 'g', 'z', '0', '9', '-', '_', '=', '.', '%', 'æ',
        ];
        let mut tried = 0;
        for (i, original) in token.char_indices() {
            for &r in &replacements {
                if r == original {
                    continue;
                }
                let mut altered = String::with_capacity(token.len() + 2);
                altered.push_str(&token[..i]);
                altered.push(r);
                altered.push_str(&token[i + original.len_utf8()..]);
                assert_eq!(
                    verify(&secret(), &altered, now),
                    Err(TokenError::Invalid),
                    "position {i}: {altered}"
                );
                tried += 1;
            }
        }
        assert!(tried > token.len() * 10, "only {tried} variants tried");
    }

    #[test]
    fn a_forged_token_that_is_also_expired_is_invalid_not_expired() {
        let token = sign(&Secret::from_bytes([8u8; 32]), &claims());
        assert_eq!(
            verify(&secret(), &token, at("2030-01-01T00:00:00Z")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn a_token_signed_with_another_secret_is_invalid() {
        let token = sign(&Secret::from_bytes([8u8; 32]), &claims());
        assert_eq!(
            verify(&secret(), &token, at("2027-02-01T08:00:00Z")),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn truncated_empty_and_garbage_tokens_are_invalid() {
        let token = sign(&secret(), &claims());
        let now = at("2027-02-01T08:00:00Z");
        for cut in 0..token.len() {
            assert_eq!(
                verify(&secret(), &token[..cut], now),
                Err(TokenError::Invalid),
                "cut at {cut}"
            );
        }
        let longer = format!("{token}A");
        let doubled = format!("{token}{token}");
        for garbage in [
            "",
            "done",
            "%00",
            "....",
            "a b",
            &longer,
            &doubled,
            &"A".repeat(5000),
        ] {
            assert_eq!(
                verify(&secret(), garbage, now),
                Err(TokenError::Invalid),
                "{garbage}"
            );
        }
    }

    /// A correctly MAC'd payload that does not decode (wrong version,
    /// trailing bytes, bad UTF-8) is still refused as invalid.
    #[test]
    fn a_genuine_mac_over_a_malformed_payload_is_invalid() {
        let mac_over = |payload: &[u8]| {
            let mut m = secret().mac();
            m.update(payload);
            let mut bytes = payload.to_vec();
            bytes.extend_from_slice(&m.finalize().into_bytes());
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let good = URL_SAFE_NO_PAD.decode(sign(&secret(), &claims())).unwrap();
        let payload = &good[..good.len() - MAC_LEN];
        let now = at("2027-02-01T08:00:00Z");

        let mut wrong_version = payload.to_vec();
        wrong_version[0] = 2;
        let mut trailing = payload.to_vec();
        trailing.push(0);
        let mut bad_utf8 = payload.to_vec();
        bad_utf8[2] = 0xff;
        // The task length, 13, written in two bytes instead of one.
        let overlong_varint = [&[VERSION, 0x8d, 0x00][..], &payload[2..]].concat();
        for p in [
            wrong_version,
            trailing,
            bad_utf8,
            overlong_varint,
            payload[..payload.len() - 1].to_vec(),
        ] {
            assert_eq!(
                verify(&secret(), &mac_over(&p), now),
                Err(TokenError::Invalid),
                "{p:?}"
            );
        }
        assert_eq!(verify(&secret(), &mac_over(payload), now), Ok(claims()));
    }

    #[test]
    fn the_debug_form_of_a_secret_hides_its_bytes() {
        let shown = format!("{:?}", Secret::from_bytes([0xab; 32]));
        assert_eq!(shown, "Secret(<redacted>)");
    }

    #[test]
    fn a_missing_secret_file_is_created_with_mode_0600_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let created = Secret::load_or_create(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = Secret::load_or_create(&path).unwrap();
        assert_eq!(created.0, loaded.0);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "an existing secret is never rewritten"
        );
    }

    #[test]
    fn two_new_secrets_differ() {
        assert_ne!(Secret::generate().unwrap().0, Secret::generate().unwrap().0);
    }

    #[test]
    fn a_raw_32_byte_file_and_a_hex_file_with_upper_case_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [0x0a; 32]).unwrap();
        assert_eq!(Secret::load_or_create(&raw).unwrap().0, [0x0a; 32]);
        let hexed = dir.path().join("hex");
        std::fs::write(&hexed, format!("{}\r\n", "AB".repeat(32))).unwrap();
        assert_eq!(Secret::load_or_create(&hexed).unwrap().0, [0xab; 32]);
    }

    #[test]
    fn a_secret_file_of_the_wrong_size_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short-secret");
        std::fs::write(&path, b"0123456789").unwrap();
        let message = Secret::load_or_create(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(message.contains("10 bytes"), "{message}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"0123456789",
            "a bad secret is never replaced"
        );

        std::fs::write(&path, "g".repeat(64)).unwrap();
        let message = Secret::load_or_create(&path).unwrap_err().to_string();
        assert!(message.contains("not all hex digits"), "{message}");
    }

    #[test]
    fn a_secret_in_a_missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere").join("secret");
        let message = String::from(Secret::load_or_create(&path).unwrap_err());
        assert!(message.contains("nowhere/secret"), "{message}");
        assert!(message.contains("cannot create"), "{message}");
    }

    proptest! {
        #[test]
        fn verify_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
            prop_assert_eq!(verify(&secret(), &s, at("2027-02-01T08:00:00Z")), Err(TokenError::Invalid));
        }

        #[test]
        fn verify_never_panics_on_arbitrary_base64(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let token = URL_SAFE_NO_PAD.encode(bytes);
            prop_assert_eq!(verify(&secret(), &token, at("2027-02-01T08:00:00Z")), Err(TokenError::Invalid));
        }

        #[test]
        fn any_claims_round_trip(task in "[a-z0-9-]{1,40}", period in "\\PC{0,20}", person in "\\PC{0,40}",
                                 days in 1i32..1_000_000, expires in any::<i64>()) {
            let c = Claims { task, period, person, due: NaiveDate::from_num_days_from_ce_opt(days).unwrap(), expires };
            let token = sign(&secret(), &c);
            let now = DateTime::from_timestamp(0, 0).unwrap();
            let expected = if now.timestamp() > c.expires { Err(TokenError::Expired(c.clone())) } else { Ok(c.clone()) };
            prop_assert_eq!(verify(&secret(), &token, now), expected);
        }
    }
}
