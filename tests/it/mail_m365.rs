//! Mail to Microsoft 365 and through a local MTA: SMTP with OAuth 2.0
//! (`XOAUTH2`) against a local token endpoint and a test SMTP server that
//! checks the bearer token; the Graph `sendMail` transport against a fake
//! Graph; the `sendmail` transport with a script as the command; and
//! `arshjul mail test` / `check` through the real binary.

use crate::support::fixtures::{assert_contains, blocking};
use crate::support::m365::{self, TokenMode, M365};
use crate::support::mime::Mail;
use crate::support::smtp::{self, Mode, SmtpServer};
use crate::support::{Run, Scratch};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arshjul::mail::{Composer, DeliveryError, Secrets, Transport};
use arshjul::settings::{MailSettings, MailTransport, Settings, SmtpAuth, SmtpTls};

const FROM: &str = "Årshjulet <arshjul@ballerup.example>";
const SENDER: &str = "arshjul@ballerup.example";
const SMTP_SCOPE: &str = "https://outlook.office365.com/.default";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

// ---------------------------------------------------------------------------
// Fixtures.

fn base() -> MailSettings {
    let mut s = Settings::default().mail;
    s.from = FROM.into();
    s.smtp.timeout_secs = 5;
    s
}

fn oauth(s: &mut MailSettings, m: &M365) {
    s.oauth.token_url = Some(m.token_url());
    s.oauth.client_id = Some(m365::CLIENT_ID.into());
}

fn secrets() -> Secrets {
    Secrets {
        smtp_password: None,
        oauth_client_secret: Some(format!("{}\n", m365::CLIENT_SECRET)),
    }
}

/// SMTP with XOAUTH2 to the test server, tokens from the fake Entra.
fn xoauth2_settings(port: u16, m: &M365) -> MailSettings {
    let mut s = base();
    s.transport = MailTransport::Smtp;
    s.smtp.host = Some("127.0.0.1".into());
    s.smtp.port = port;
    s.smtp.tls = SmtpTls::None;
    s.smtp.auth = SmtpAuth::Xoauth2;
    oauth(&mut s, m);
    s
}

fn graph_settings(m: &M365) -> MailSettings {
    let mut s = base();
    s.transport = MailTransport::Graph;
    s.graph_url = m.graph_url();
    oauth(&mut s, m);
    s
}

/// An SMTP server that accepts only tokens the fake Entra issued for the
/// SMTP scope and that are still valid.
async fn smtp_checking(m: &Arc<M365>) -> SmtpServer {
    let server = SmtpServer::start().await;
    let m = Arc::clone(m);
    server.require_xoauth2(move |user, token| user == SENDER && m.valid(token, SMTP_SCOPE));
    server
}

/// A transport sending over SMTP with XOAUTH2 to `server`, its tokens from
/// the fake Entra `m`.
fn xoauth2_transport(server: &SmtpServer, m: &M365) -> Transport {
    Transport::with_secrets(&xoauth2_settings(server.port(), m), secrets()).unwrap()
}

/// A transport sending through the fake Graph of `m`.
fn graph_transport(m: &M365) -> Transport {
    Transport::with_secrets(&graph_settings(m), secrets()).unwrap()
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: {FROM}\r\nTo: anna@example.dk\r\nSubject: Besked {n}\r\n\
         Message-ID: <m{n}@ballerup.example>\r\n\r\nHej Anna\r\n"
    )
    .into_bytes()
}

fn rcpt() -> Vec<String> {
    vec!["anna@example.dk".to_string()]
}

/// Sends message `n` and returns the reason of the temporary failure it
/// must meet (any other outcome fails the test, quoting it).
async fn temporary_reason(transport: &Transport, n: usize) -> String {
    match transport.send(FROM, &rcpt(), &message(n)).await {
        Err(DeliveryError::Temporary(reason)) => reason,
        other => panic!("expected a temporary failure, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// SMTP with XOAUTH2.

#[tokio::test]
async fn one_token_serves_many_messages_and_connections() {
    let m = Arc::new(M365::start().await);
    let server = smtp_checking(&m).await;
    // A new connection (and so a new AUTH) for every message.
    server.set_mode(Mode::HangUp);
    let transport = xoauth2_transport(&server, &m);
    for n in 0..10 {
        transport.send(FROM, &rcpt(), &message(n)).await.unwrap();
    }
    assert_eq!(server.received().len(), 10);
    let auths = server.auths();
    assert_eq!(auths.len(), 10);
    assert!(auths.iter().all(|a| a.ok && a.user == SENDER), "{auths:?}");
    let requests = m.token_requests();
    assert_eq!(requests.len(), 1, "one token for all ten");
    let form = &requests[0];
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_id"], m365::CLIENT_ID);
    assert_eq!(
        form["client_secret"],
        m365::CLIENT_SECRET,
        "newline trimmed"
    );
    assert_eq!(form["scope"], SMTP_SCOPE);
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let m = Arc::new(M365::start().await);
    // Two seconds of life: renewed halfway, after one.
    m.set_lifetime(2);
    let server = smtp_checking(&m).await;
    server.set_mode(Mode::HangUp);
    let transport = xoauth2_transport(&server, &m);
    transport.send(FROM, &rcpt(), &message(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    transport.send(FROM, &rcpt(), &message(2)).await.unwrap();
    assert_eq!(m.token_requests().len(), 2);
    let auths = server.auths();
    assert_eq!(auths.len(), 2, "never a refused token: {auths:?}");
    assert!(auths.iter().all(|a| a.ok), "{auths:?}");
    assert_ne!(auths[0].token, auths[1].token);
}

#[tokio::test]
async fn a_token_the_server_refuses_is_fetched_anew_once() {
    let m = Arc::new(M365::start().await);
    let server = smtp_checking(&m).await;
    server.set_mode(Mode::HangUp);
    let transport = xoauth2_transport(&server, &m);
    transport.send(FROM, &rcpt(), &message(1)).await.unwrap();
    // Revoked behind arshjul's back: the cached token now gets 535.
    m.revoke_all();
    transport.send(FROM, &rcpt(), &message(2)).await.unwrap();
    let oks: Vec<bool> = server.auths().iter().map(|a| a.ok).collect();
    assert_eq!(oks, [true, false, true]);
    assert_eq!(m.token_requests().len(), 2);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_fresh_token_refused_too_is_temporary_after_one_retry() {
    let m = Arc::new(M365::start().await);
    let server = SmtpServer::start().await;
    server.require_xoauth2(|_, _| false);
    let transport = xoauth2_transport(&server, &m);
    let err = transport
        .send(FROM, &rcpt(), &message(1))
        .await
        .unwrap_err();
    match &err {
        DeliveryError::Temporary(r) => {
            assert!(r.contains("535") && r.contains("SMTP.SendAsApp"), "{r}");
            // The server's own words: Exchange says which switch is off
            // (5.7.139 SmtpClientAuthentication is disabled…), 5.7.3 here.
            assert_contains(r, "5.7.3 Authentication unsuccessful");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.auths().len(), 2, "one retry, not more");
    assert_eq!(m.token_requests().len(), 2);
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_defers_the_message_with_its_reason() {
    let m = Arc::new(M365::start().await);
    m.set_token_mode(TokenMode::Down);
    let server = smtp_checking(&m).await;
    let transport = xoauth2_transport(&server, &m);
    let reason = &temporary_reason(&transport, 1).await;
    assert_contains(reason, &m.token_url());
    assert_contains(reason, "HTTP 503: temporarily_unavailable: AADSTS90033");
    assert!(!reason.chars().any(char::is_control), "{reason:?}");
    assert_contains(reason, "Trace ID: 7e1c Correlation ID: 99");
    assert_eq!(
        server.connections(),
        0,
        "no point in connecting without a token"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_quoted_from_entra_but_never_shown() {
    let m = Arc::new(M365::start().await);
    m.set_token_mode(TokenMode::BadSecret);
    let server = smtp_checking(&m).await;
    let transport = xoauth2_transport(&server, &m);
    let err = transport
        .send(FROM, &rcpt(), &message(1))
        .await
        .unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    let text = err.to_string();
    assert_contains(&text, "invalid_client: AADSTS7000215");
    assert!(!text.contains(m365::CLIENT_SECRET), "{text}");
}

#[tokio::test]
async fn a_token_endpoint_where_nothing_listens_is_temporary() {
    let port = smtp::refusing_port().await;
    let m = M365::start().await;
    let mut s = xoauth2_settings(25, &m);
    s.oauth.token_url = Some(format!("http://127.0.0.1:{port}/t/oauth2/v2.0/token"));
    let transport = Transport::with_secrets(&s, secrets()).unwrap();
    let err = transport
        .send(FROM, &rcpt(), &message(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r) if r.contains(&format!("127.0.0.1:{port}"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_334_error_challenge_to_xoauth2_is_answered_with_an_empty_line_and_read_to_the_end() {
    let m = Arc::new(M365::start().await);
    let server = SmtpServer::start().await;
    server.require_xoauth2(|_, _| false);
    server.challenge_refused_tokens();
    let transport = xoauth2_transport(&server, &m);
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        transport.send(FROM, &rcpt(), &message(1)),
    )
    .await
    .expect("no hang after the challenge")
    .unwrap_err();
    let DeliveryError::Temporary(reason) = &err else {
        panic!("{err:?}")
    };
    // Reported as the refused token it is, with the server's final answer
    // and the challenge's JSON, not as a client error.
    assert_contains(reason, "the SMTP server refused the OAuth token (535 5.7.3");
    assert_contains(reason, r#"(challenge: {"status":"401","schemes":"bearer""#);
    assert!(!reason.contains("does not expect a challenge"), "{reason}");
    // As for a plain 535: once more with a fresh token, then no more.
    assert_eq!(server.auths().len(), 2);
    assert_eq!(server.challenge_answers(), ["\r\n", "\r\n"]);
    assert_eq!(m.token_requests().len(), 2);
    // A good token still logs in (no challenge for it).
    let server = smtp_checking(&m).await;
    server.challenge_refused_tokens();
    let transport = xoauth2_transport(&server, &m);
    transport.send(FROM, &rcpt(), &message(2)).await.unwrap();
    assert_eq!(server.received().len(), 1);
    assert!(server.challenge_answers().is_empty());
}

#[tokio::test]
async fn a_failing_token_endpoint_is_asked_once_for_a_whole_pass_not_once_per_message() {
    let m = Arc::new(M365::start().await);
    m.set_token_mode(TokenMode::Down);
    let server = smtp_checking(&m).await;
    let transport = xoauth2_transport(&server, &m);
    for n in 0..8 {
        let reason = &temporary_reason(&transport, n).await;
        assert_contains(reason, "HTTP 503: temporarily_unavailable: AADSTS90033");
    }
    assert_eq!(
        m.token_requests().len(),
        1,
        "eight messages in one pass ask the failing endpoint once"
    );
    assert_eq!(server.connections(), 0);
    // The same for Graph.
    let graph = graph_transport(&m);
    for n in 0..3 {
        assert!(graph.send(FROM, &rcpt(), &message(n)).await.is_err());
    }
    assert_eq!(m.token_requests().len(), 2);
    assert!(m.graph_posts().is_empty());
}

#[tokio::test]
async fn a_token_endpoint_429_with_retry_after_is_throttled_and_left_alone_that_long() {
    let m = Arc::new(M365::start().await);
    m.token_answer_next_with(
        429,
        &[("Retry-After", "120")],
        r#"{"error":"temporarily_unavailable","error_description":"AADSTS50196: The server terminated an operation because it encountered a client request loop."}"#,
    );
    let graph = graph_transport(&m);
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    let DeliveryError::Throttled {
        reason,
        retry_after,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*retry_after, Duration::from_secs(120));
    assert_contains(reason, "HTTP 429: temporarily_unavailable: AADSTS50196");
    // The next message in the pass is throttled for what is left of the
    // wait, without asking the endpoint.
    let again = graph.send(FROM, &rcpt(), &message(2)).await.unwrap_err();
    let DeliveryError::Throttled { retry_after, .. } = &again else {
        panic!("{again:?}")
    };
    assert!(
        (Duration::from_secs(118)..=Duration::from_secs(120)).contains(retry_after),
        "{retry_after:?}"
    );
    assert_eq!(m.token_requests().len(), 1);
    // A 503 with an HTTP-date Retry-After, over SMTP, is throttled too.
    m.token_answer_next_with(
        503,
        &[
            ("Retry-After", "Mon, 30 Nov 2026 10:05:00 GMT"),
            ("Date", "Mon, 30 Nov 2026 10:00:00 GMT"),
        ],
        r#"{"error":"temporarily_unavailable","error_description":"AADSTS90033"}"#,
    );
    let server = smtp_checking(&m).await;
    let smtp = xoauth2_transport(&server, &m);
    let err = smtp.send(FROM, &rcpt(), &message(3)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Throttled { retry_after, .. } if *retry_after == Duration::from_secs(300)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_token_endpoint_refusing_the_client_says_what_the_operator_must_fix() {
    let cases = [
        (
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000222: The provided client secret keys for app '0f1e' are expired."}"#,
            "the client ID or secret is wrong, or the secret has expired",
            "`mail.oauth.client_id`",
        ),
        (
            400,
            r#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier '0f1e' was not found in the directory 'Ballerup'."}"#,
            "the app is not known in this tenant",
            "`mail.oauth.tenant`",
        ),
        (
            400,
            r#"{"error":"invalid_scope","error_description":"AADSTS1002012: The provided value for scope https://outlook.office365.com is not valid."}"#,
            "the scope is not valid",
            "`mail.oauth.scope`",
        ),
        (
            400,
            r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'ballerup.example' not found."}"#,
            "the endpoint does not know the tenant",
            "`mail.oauth.tenant`",
        ),
    ];
    for (status, body, what, setting) in cases {
        let m = Arc::new(M365::start().await);
        m.token_answer_next(status, body);
        let server = smtp_checking(&m).await;
        let transport = xoauth2_transport(&server, &m);
        // Temporary: fixing the setting and reloading resumes delivery.
        let reason = &temporary_reason(&transport, 1).await;
        assert_contains(reason, &format!("HTTP {status}: "));
        assert_contains(reason, &format!("To fix: {what}"));
        assert_contains(reason, setting);
        assert_contains(reason, "then reload arshjul");
        assert!(!reason.contains(m365::CLIENT_SECRET), "{reason}");
    }
    // A transient failure gets no such advice.
    let m = Arc::new(M365::start().await);
    m.set_token_mode(TokenMode::Down);
    let graph = graph_transport(&m);
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(!err.reason().contains("To fix"), "{err:?}");
}

#[test]
fn oauth_settings_that_cannot_work_are_refused_before_sending() {
    let mut s = base();
    s.transport = MailTransport::Smtp;
    s.smtp.host = Some("smtp.office365.com".into());
    s.smtp.auth = SmtpAuth::Xoauth2;
    s.oauth.client_id = Some("c".into());
    let err = |s: &MailSettings, secrets: Secrets| {
        Transport::with_secrets(s, secrets)
            .err()
            .expect("refused")
            .to_string()
    };
    assert!(err(&s, secrets()).contains("mail.oauth.tenant"));
    s.oauth.tenant = Some("ballerup.dk".into());
    assert!(err(&s, Secrets::default()).contains("client_secret_file"));
    assert!(Transport::with_secrets(&s, secrets()).is_ok());
    s.oauth.token_url = Some("http://login.example/token".into());
    assert!(err(&s, secrets()).contains("must use https"));
    let mut g = base();
    g.transport = MailTransport::Graph;
    g.oauth = s.oauth.clone();
    g.oauth.token_url = None;
    g.graph_url = "http://graph.example".into();
    assert!(err(&g, secrets()).contains("mail.graph_url"));
}

// ---------------------------------------------------------------------------
// Microsoft Graph.

#[tokio::test]
async fn graph_receives_the_same_mime_message_the_smtp_transport_sends() {
    let m = Arc::new(M365::start().await);
    let server = SmtpServer::start().await;
    let wheel = arshjul::wheel::parse(WHEEL, "schedule.toml").expect("wheel");
    let mut smtp_settings = base();
    smtp_settings.transport = MailTransport::Smtp;
    smtp_settings.smtp.host = Some("127.0.0.1".into());
    smtp_settings.smtp.port = server.port();
    smtp_settings.smtp.tls = SmtpTls::None;
    let composer = Composer::new(&smtp_settings).unwrap();
    let pass = arshjul::planner::pass(
        &wheel,
        &Default::default(),
        chrono::DateTime::parse_from_rfc3339("2027-02-22T09:00:00+01:00")
            .unwrap()
            .into(),
    );
    let n = pass.send.first().expect("a reminder is due");
    let composed = composer
        .compose(&wheel, n, Some("https://x.example/done/t"), n.date)
        .unwrap();
    let rcpt: Vec<String> = composed.to.iter().chain(&composed.cc).cloned().collect();

    let smtp = Transport::new(&smtp_settings, None).unwrap();
    smtp.send(FROM, &rcpt, &composed.raw).await.unwrap();
    let graph = graph_transport(&m);
    graph.send(FROM, &rcpt, &composed.raw).await.unwrap();

    let over_smtp = server.received().remove(0).data;
    let posts = m.graph_accepted();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post.user, SENDER);
    assert_eq!(post.content_type, "text/plain");
    assert!(m.valid(&post.bearer, GRAPH_SCOPE));
    assert_eq!(post.mime, composed.raw);
    // The SMTP server keeps the CRLF before the closing dot.
    assert_eq!(
        String::from_utf8_lossy(&post.mime).trim_end(),
        String::from_utf8_lossy(&over_smtp).trim_end()
    );
    assert_eq!(m.token_requests()[0]["scope"], GRAPH_SCOPE);
}

#[tokio::test]
async fn graph_429_with_retry_after_is_throttled_for_that_long() {
    let m = M365::start().await;
    m.graph_answer_next(
        429,
        &[("Retry-After", "2")],
        r#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}}"#,
    );
    let graph = graph_transport(&m);
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    match &err {
        DeliveryError::Throttled {
            reason,
            retry_after,
        } => {
            assert_eq!(*retry_after, Duration::from_secs(2));
            assert_contains(
                reason,
                "HTTP 429: ApplicationThrottled: Application is over",
            );
        }
        other => panic!("{other:?}"),
    }
    graph.send(FROM, &rcpt(), &message(1)).await.unwrap();
    assert_eq!(m.graph_accepted().len(), 1);
}

#[tokio::test]
async fn graph_401_renews_the_token_once() {
    let m = M365::start().await;
    let graph = graph_transport(&m);
    graph.send(FROM, &rcpt(), &message(1)).await.unwrap();
    m.revoke_all();
    graph.send(FROM, &rcpt(), &message(2)).await.unwrap();
    let statuses: Vec<u16> = m.graph_posts().iter().map(|p| p.status).collect();
    assert_eq!(statuses, [202, 401, 202]);
    assert_eq!(m.token_requests().len(), 2);
}

#[tokio::test]
async fn graph_refusing_the_message_is_permanent_and_a_missing_permission_temporary() {
    let m = M365::start().await;
    let graph = graph_transport(&m);
    m.graph_answer_next(
        400,
        &[],
        r#"{"error":{"code":"ErrorMessageSizeExceeded","message":"The message exceeds the maximum supported size."}}"#,
    );
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent(r) if r.contains("ErrorMessageSizeExceeded")),
        "{err:?}"
    );
    m.graph_answer_next(
        403,
        &[],
        r#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}"#,
    );
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r) if r.contains("HTTP 403: ErrorAccessDenied")),
        "{err:?}"
    );
}

#[tokio::test]
async fn graph_404_for_the_sending_mailbox_is_a_setting_to_fix_not_a_lost_message() {
    // Graph answers 404 when `mail.from` names no mailbox it knows (a typo,
    // an unlicensed or on-premises mailbox): every message would fail the
    // same way, none of them for its own fault, so they wait.
    let m = M365::start().await;
    let graph = graph_transport(&m);
    m.graph_answer_next(
        404,
        &[],
        r#"{"error":{"code":"ErrorInvalidUser","message":"The requested user 'arshjul@ballerup.example' is invalid."}}"#,
    );
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r)
            if r.contains("HTTP 404: ErrorInvalidUser") && r.contains("mail.from")),
        "{err:?}"
    );
    // Fixed: the next attempt goes through.
    graph.send(FROM, &rcpt(), &message(1)).await.unwrap();
}

#[tokio::test]
async fn a_token_with_an_absurd_lifetime_neither_panics_nor_is_kept_for_ever() {
    // A token endpoint answering garbage must never bring the daemon down:
    // `expires_in` of u64::MAX seconds used to overflow `Instant` (a panic).
    let m = M365::start().await;
    m.token_answer_next(
        200,
        r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"forged"}"#,
    );
    let graph = graph_transport(&m);
    // Graph refuses the odd token (401), a real one is fetched and used.
    graph.send(FROM, &rcpt(), &message(1)).await.unwrap();
    let statuses: Vec<u16> = m.graph_posts().iter().map(|p| p.status).collect();
    assert_eq!(statuses, [401, 202]);
    assert_eq!(m.token_requests().len(), 2);
}

#[tokio::test]
async fn a_token_endpoint_or_graph_answering_megabytes_is_not_read_into_memory() {
    let m = M365::start().await;
    let huge = format!(r#"{{"error":"{}"}}"#, "x".repeat(8 << 20));
    m.token_answer_next(200, &huge);
    let graph = graph_transport(&m);
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r)
            if r.contains("the answer is larger than 64 KiB; not read further")),
        "{err:?}"
    );
    m.graph_answer_next(500, &[], &huge);
    // A new transport: this one leaves the failing endpoint alone for a while.
    let graph = graph_transport(&m);
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r)
            if r.contains("HTTP 500: (the answer could not be read: the answer is larger than 64 KiB")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_redirect_is_never_followed_with_the_bearer_token_or_the_client_secret() {
    let m = M365::start().await;
    let elsewhere = M365::start().await;
    let graph = graph_transport(&m);
    // Graph redirects sendMail elsewhere: not followed, temporary.
    let target = format!("{}/v1.0/users/{SENDER}/sendMail", elsewhere.graph_url());
    m.graph_answer_next(307, &[("location", &target)], "");
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r) if r.contains("HTTP 307")),
        "{err:?}"
    );
    assert!(
        elsewhere.graph_posts().is_empty(),
        "the token went elsewhere"
    );
    // The token endpoint redirects (307 keeps the POST and its body, the
    // client secret): not followed either.
    let m2 = M365::start().await;
    let mut s = graph_settings(&m2);
    s.oauth.token_url = Some(m2.token_url());
    m2.token_redirect_next(&elsewhere.token_url());
    let graph = Transport::with_secrets(&s, secrets()).unwrap();
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r) if r.contains("HTTP 307")),
        "{err:?}"
    );
    assert!(elsewhere.token_requests().is_empty());
}

#[tokio::test]
async fn a_token_endpoint_that_never_answers_holds_a_graph_delivery_no_longer_than_the_timeout() {
    // `mail.smtp.timeout_secs` bounds a whole delivery, token included, as
    // for SMTP: the daemon sends one message at a time, so a hung endpoint
    // must not hold the queue for the token request's own 30 s (and again
    // after a 401).
    let m = M365::start().await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let mut s = graph_settings(&m);
    s.oauth.token_url = Some(format!("http://127.0.0.1:{port}/t/oauth2/v2.0/token"));
    s.smtp.timeout_secs = 1;
    let graph = Transport::with_secrets(&s, secrets()).unwrap();
    let started = std::time::Instant::now();
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        matches!(&err, DeliveryError::Temporary(r)
            if r.contains("did not finish the delivery within 1 s")),
        "{err:?}"
    );
    keep.abort();
}

#[tokio::test]
async fn graph_over_https_checks_the_certificate_and_a_failed_handshake_is_temporary() {
    let m = M365::start().await;
    // Something that speaks, but not TLS: the handshake fails, nothing panics.
    let not_tls = SmtpServer::start().await;
    let mut s = graph_settings(&m);
    s.graph_url = format!("https://127.0.0.1:{}", not_tls.port());
    let graph = Transport::with_secrets(&s, secrets()).unwrap();
    let err = graph.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r)
            if r.starts_with("Microsoft Graph https://127.0.0.1:") && r.contains("error sending request")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// sendmail.

/// A sendmail stand-in: writes its arguments and its input to files beside
/// it, then exits with the status in the file `status` (0 if none), saying
/// something on stderr when it fails.
fn fake_sendmail(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("sendmail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nd='{}'\nprintf '%s\\n' \"$@\" > \"$d/args\"\ncat > \"$d/stdin\"\n\
             s=$(cat \"$d/status\" 2>/dev/null || echo 0)\n\
             [ \"$s\" = 0 ] || echo \"sendmail: cannot deliver\r\n(status $s)\" >&2\nexit $s\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn sendmail_settings(command: &Path) -> MailSettings {
    let mut s = base();
    s.transport = MailTransport::Sendmail;
    s.sendmail.command = command.to_path_buf();
    s
}

#[tokio::test]
async fn sendmail_gets_the_envelope_as_arguments_and_the_message_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let script = fake_sendmail(dir.path());
    let transport = Transport::new(&sendmail_settings(&script), None).unwrap();
    let rcpt = vec!["anna@example.dk".to_string(), "bo@example.dk".to_string()];
    transport.send(FROM, &rcpt, &message(1)).await.unwrap();
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        ["-i", "-f", SENDER, "--", "anna@example.dk", "bo@example.dk"]
    );
    assert_eq!(std::fs::read(dir.path().join("stdin")).unwrap(), message(1));
}

#[tokio::test]
async fn sendmail_failures_are_temporary_unless_the_mta_says_never() {
    let dir = tempfile::tempdir().unwrap();
    let script = fake_sendmail(dir.path());
    let transport = Transport::new(&sendmail_settings(&script), None).unwrap();
    let status = dir.path().join("status");
    std::fs::write(&status, "75").unwrap();
    let err = transport
        .send(FROM, &rcpt(), &message(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r)
            if r.contains("exit status 75") && r.contains("sendmail: cannot deliver (status 75)")),
        "{err:?}"
    );
    std::fs::write(&status, "67").unwrap();
    let err = transport
        .send(FROM, &rcpt(), &message(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent(r) if r.contains("exit status 67")),
        "{err:?}"
    );
    let missing = Transport::new(&sendmail_settings(&dir.path().join("nope")), None).unwrap();
    let err = missing.send(FROM, &rcpt(), &message(1)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(r) if r.contains("cannot run it")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_sendmail_that_hangs_is_stopped_at_the_timeout() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sendmail");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut s = sendmail_settings(&script);
    s.smtp.timeout_secs = 1;
    let transport = Transport::new(&s, None).unwrap();
    let started = std::time::Instant::now();
    let err = transport
        .send(FROM, &rcpt(), &message(1))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(&err, DeliveryError::Temporary(r) if r.contains("did not finish within 1 s")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// The binary: `mail test`, `check`, `tick`, `status`.

const WHEEL: &str = r#"
[organisation]
name = "Ballerup Kommune"
timezone = "Europe/Copenhagen"
language = "da"
send_time = "08:00"
holidays = "dk"
start = 2027-01-01

[defaults]
remind = ["7d"]
repeat = "7d"

[people.anna]
name = "Anna"
email = "anna@example.dk"

[[task]]
id = "policy"
title = "Gennemgå politikken"
owner = "anna"
every = "year"
due = "03-01"
"#;

/// A scratch directory with the wheel and the client secret in a file.
fn scratch(language: &str) -> Arc<Scratch> {
    let s =
        Scratch::new(&WHEEL.replace("language = \"da\"", &format!("language = \"{language}\"")));
    std::fs::write(
        s.file("client-secret"),
        format!("{}\n", m365::CLIENT_SECRET),
    )
    .unwrap();
    Arc::new(s)
}

fn xoauth2_env(s: &Scratch, smtp_port: u16, token_url: &str) -> Vec<(String, String)> {
    let mut env = smtp::env(smtp_port);
    env.extend([
        ("ARSHJUL_MAIL__FROM".into(), FROM.into()),
        ("ARSHJUL_MAIL__SMTP__AUTH".into(), "xoauth2".into()),
        ("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS".into(), "5".into()),
        ("ARSHJUL_MAIL__OAUTH__TOKEN_URL".into(), token_url.into()),
        (
            "ARSHJUL_MAIL__OAUTH__CLIENT_ID".into(),
            m365::CLIENT_ID.into(),
        ),
        (
            "ARSHJUL_MAIL__OAUTH__CLIENT_SECRET_FILE".into(),
            s.file("client-secret").display().to_string(),
        ),
    ]);
    env
}

fn graph_env(s: &Scratch, m: &M365) -> Vec<(String, String)> {
    let mut env = xoauth2_env(s, 25, &m.token_url());
    for (key, value) in &mut env {
        if key == "ARSHJUL_MAIL__TRANSPORT" {
            *value = "graph".into();
        }
    }
    env.push(("ARSHJUL_MAIL__GRAPH_URL".into(), m.graph_url()));
    env
}

async fn run(s: &Arc<Scratch>, args: &[&str], env: Vec<(String, String)>) -> Run {
    let s = Arc::clone(s);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        s.run_env(&args, &env)
    })
    .await
}

fn assert_no_secrets(r: &Run, m: &M365) {
    let all = format!("{}{}", r.stdout(), r.stderr());
    assert!(!all.contains(m365::CLIENT_SECRET), "{all}");
    for t in m.issued() {
        assert!(!all.contains(&t.token), "a token was shown:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_that_is_empty_is_named_and_a_windows_bom_is_not_part_of_the_secret() {
    let m = Arc::new(M365::start().await);
    let server = smtp_checking(&m).await;
    let s = scratch("da");
    let secret_file = s.file("client-secret").display().to_string();
    // Empty, or only a line ending: the file is named, not "set the setting".
    for empty in ["", "\r\n", " \n"] {
        std::fs::write(s.file("client-secret"), empty).unwrap();
        let env = xoauth2_env(&s, server.port(), &m.token_url());
        let r = run(&s, &["mail", "test", "--to", "it@ballerup.example"], env)
            .await
            .expect(2);
        assert!(
            r.stderr().contains(&format!(
                "{secret_file}: the OAuth client secret file is empty"
            )),
            "{empty:?}: {}",
            r.stderr()
        );
    }
    assert!(m.token_requests().is_empty());
    // Saved by Notepad: a byte-order mark and CRLF around the value.
    std::fs::write(
        s.file("client-secret"),
        format!("\u{feff}{}\r\n", m365::CLIENT_SECRET),
    )
    .unwrap();
    let env = xoauth2_env(&s, server.port(), &m.token_url());
    run(&s, &["mail", "test", "--to", "it@ballerup.example"], env)
        .await
        .expect(0);
    assert_eq!(m.token_requests()[0]["client_secret"], m365::CLIENT_SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_over_smtp_with_xoauth2_prints_every_step() {
    let m = Arc::new(M365::start().await);
    let server = smtp_checking(&m).await;
    let s = scratch("da");
    let env = xoauth2_env(&s, server.port(), &m.token_url());
    let r = run(&s, &["mail", "test", "--to", "it@ballerup.example"], env)
        .await
        .expect(0);
    let out = r.stdout();
    let port = server.port();
    for step in [
        &format!(
            "mail: smtp 127.0.0.1:{port} no TLS, XOAUTH2 as {SENDER} (client {}",
            m365::CLIENT_ID
        ),
        &format!(
            "ok: OAuth token fetched from {} for client {} (expires in 60 min)",
            m.token_url(),
            m365::CLIENT_ID
        ),
        &format!("ok: connected to 127.0.0.1:{port}"),
        "ok: no TLS",
        &format!("ok: authenticated as {SENDER} (XOAUTH2)"),
        "ok: accepted: 250 2.0.0 Ok: queued",
        "test message to it@ballerup.example accepted",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    assert_no_secrets(&r, &m);
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        Mail::parse(&received[0].data).header("Subject"),
        "Test fra arshjul for Ballerup Kommune",
        "{}",
        received[0].text()
    );
    assert_eq!(received[0].rcpt, ["it@ballerup.example"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_names_the_step_that_failed() {
    let m = Arc::new(M365::start().await);
    let server = smtp_checking(&m).await;
    let s = scratch("en");
    let to = ["mail", "test", "--to", "it@ballerup.example"];

    // The token endpoint refuses the secret: no connection is tried.
    m.set_token_mode(TokenMode::BadSecret);
    let r = run(&s, &to, xoauth2_env(&s, server.port(), &m.token_url()))
        .await
        .expect(1);
    let out = r.stdout();
    assert_contains(&out, "FAILED: OAuth token endpoint");
    assert_contains(&out, "AADSTS7000215");
    assert!(!out.contains("connected"), "{out}");
    assert_contains(r.stderr(), "not accepted (temporary failure)");
    assert_no_secrets(&r, &m);
    m.set_token_mode(TokenMode::Normal);

    // Nothing listens on the SMTP port: the token came, the connection not.
    let port = smtp::refusing_port().await;
    let r = run(&s, &to, xoauth2_env(&s, port, &m.token_url()))
        .await
        .expect(1);
    let out = r.stdout();
    assert_contains(&out, "ok: OAuth token fetched");
    assert_contains(
        &out,
        &format!("FAILED: SMTP server 127.0.0.1:{port}: cannot connect"),
    );

    // The server refuses every token: connected, then AUTH fails twice.
    let refusing = SmtpServer::start().await;
    refusing.require_xoauth2(|_, _| false);
    let r = run(&s, &to, xoauth2_env(&s, refusing.port(), &m.token_url()))
        .await
        .expect(1);
    let out = r.stdout();
    assert_contains(&out, "ok: connected to");
    assert_contains(&out, "refused the token; fetching a new one");
    assert_contains(&out, "FAILED: the SMTP server refused the OAuth token (535");
    assert!(!out.contains("authenticated as"), "{out}");

    // The server refuses the recipient for good.
    server.reject(
        "it@ballerup.example",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound",
    );
    let r = run(&s, &to, xoauth2_env(&s, server.port(), &m.token_url()))
        .await
        .expect(1);
    let out = r.stdout();
    assert_contains(&out, "ok: authenticated as");
    assert_contains(&out, "RecipientNotFound");
    assert_contains(r.stderr(), "refused for good");

    // A setting that cannot work: exit 2, before any step.
    let mut env = xoauth2_env(&s, server.port(), &m.token_url());
    env.retain(|(k, _)| k != "ARSHJUL_MAIL__OAUTH__CLIENT_SECRET_FILE");
    let r = run(&s, &to, env).await.expect(2);
    assert_contains(r.stderr(), "client_secret_file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_through_graph_in_english_and_its_failure() {
    let m = Arc::new(M365::start().await);
    let s = scratch("en");
    let to = ["mail", "test", "--to", "it@ballerup.example"];
    let r = run(&s, &to, graph_env(&s, &m)).await.expect(0);
    let out = r.stdout();
    let url = format!("{}/v1.0/users/{SENDER}/sendMail", m.graph_url());
    for step in [
        &format!("mail: graph {url}, OAuth (client {}", m365::CLIENT_ID),
        &format!("scope {GRAPH_SCOPE}"),
        "ok: OAuth token fetched",
        &format!("ok: POST {url}: HTTP 202 Accepted"),
        "ok: accepted: HTTP 202 Accepted (request-id 4b2f-test)",
    ] {
        assert!(out.contains(step), "missing {step:?} in:\n{out}");
    }
    assert_no_secrets(&r, &m);
    let posts = m.graph_accepted();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        Mail::parse(&posts[0].mime).header("Subject"),
        "Test from arshjul for Ballerup Kommune",
        "{}",
        String::from_utf8_lossy(&posts[0].mime)
    );

    m.graph_answer_next(
        403,
        &[],
        r#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}"#,
    );
    let r = run(&s, &to, graph_env(&s, &m)).await.expect(1);
    let out = r.stdout();
    assert_contains(&out, "HTTP 403 Forbidden");
    assert_contains(&out, "FAILED: Microsoft Graph");
    assert_contains(&out, "ErrorAccessDenied: Access is denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_through_sendmail_and_the_file_transport() {
    let s = scratch("da");
    let script = fake_sendmail(s.path());
    let env = vec![
        (
            "ARSHJUL_MAIL__TRANSPORT".to_string(),
            "sendmail".to_string(),
        ),
        ("ARSHJUL_MAIL__FROM".into(), FROM.into()),
        (
            "ARSHJUL_MAIL__SENDMAIL__COMMAND".into(),
            script.display().to_string(),
        ),
    ];
    let to = ["mail", "test", "--to", "it@ballerup.example"];
    let r = run(&s, &to, env.clone()).await.expect(0);
    let out = r.stdout();
    assert_contains(&out, &format!("mail: sendmail {}", script.display()));
    assert_contains(&out, "exited with status 0");
    let sent = std::fs::read_to_string(s.file("stdin")).unwrap();
    assert_eq!(
        Mail::parse(&sent).header("Subject"),
        "Test fra arshjul for Ballerup Kommune",
        "{sent}"
    );
    std::fs::write(s.file("status"), "69").unwrap();
    let r = run(&s, &to, env).await.expect(1);
    assert_contains(r.stdout(), "FAILED: sendmail command");
    assert_contains(r.stdout(), "exit status 69");

    let r = run(&s, &to, Vec::new()).await.expect(0);
    let out = r.stdout();
    assert_contains(&out, "mail: file, into outbox");
    assert_contains(&out, "ok: written to outbox/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_transport_and_how_it_logs_in() {
    let m = Arc::new(M365::start().await);
    let s = scratch("da");
    let mut env = xoauth2_env(&s, 587, &m.token_url());
    env.retain(|(k, _)| !k.contains("TOKEN_URL") && !k.contains("__TLS"));
    env.push((
        "ARSHJUL_MAIL__SMTP__HOST".into(),
        "smtp.office365.com".into(),
    ));
    env.push(("ARSHJUL_MAIL__OAUTH__TENANT".into(), "ballerup.dk".into()));
    let r = run(&s, &["check"], env).await.expect(0);
    let line = format!(
        "mail: smtp smtp.office365.com:587 STARTTLS, XOAUTH2 as {SENDER} (client {}, token from \
         https://login.microsoftonline.com/ballerup.dk/oauth2/v2.0/token, scope {SMTP_SCOPE})",
        m365::CLIENT_ID
    );
    assert!(r.stdout().lines().any(|l| l == line), "{}", r.stdout());
}

/// Tick at `now` with the given environment and the database in the scratch.
async fn tick(s: &Arc<Scratch>, now: &str, env: Vec<(String, String)>) -> Run {
    run(s, &["--now", now, "tick"], env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_endpoint_down_defers_the_reminder_and_loses_nothing() {
    let m = Arc::new(M365::start().await);
    let server = smtp_checking(&m).await;
    let s = scratch("da");
    m.set_token_mode(TokenMode::Down);
    let env = xoauth2_env(&s, server.port(), &m.token_url());
    let r = tick(&s, "2027-02-22T09:00:00+01:00", env.clone())
        .await
        .expect(1);
    assert_contains(r.stderr(), "1 deferred");
    assert!(server.received().is_empty());

    // `status` says why, with Entra's words and without control characters.
    let status = run(&s, &["status"], env.clone()).await.expect(0);
    let out = status.stdout();
    assert_contains(&out, "Deferred messages (1)");
    assert_contains(&out, "AADSTS90033: A transient error has occurred");
    let json = run(&s, &["status", "--json"], env.clone())
        .await
        .expect(0)
        .json();
    let waiting = json["deferred_notifications"].as_array().expect("deferred");
    assert_eq!(waiting.len(), 1);
    assert!(waiting[0]["error"]
        .as_str()
        .unwrap()
        .contains("AADSTS90033"));

    // Back up: the retry (5 minutes later) delivers it.
    m.set_token_mode(TokenMode::Normal);
    let r = tick(&s, "2027-02-22T09:06:00+01:00", env.clone())
        .await
        .expect(0);
    assert_contains(r.stderr(), "1 sent");
    assert_eq!(server.received().len(), 1);
    let status = run(&s, &["status"], env).await.expect(0);
    assert!(
        !status.stdout().contains("Waiting to be sent"),
        "{}",
        status.stdout()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_retry_after_is_the_time_of_the_next_attempt() {
    let m = Arc::new(M365::start().await);
    let s = scratch("da");
    m.graph_answer_next(429, &[("Retry-After", "2")], "{}");
    let env = graph_env(&s, &m);
    tick(&s, "2027-02-22T09:00:00+01:00", env.clone())
        .await
        .expect(1);
    // Not before the two seconds the server asked for (the back-off
    // would have waited five minutes)…
    let r = tick(&s, "2027-02-22T09:00:01+01:00", env.clone())
        .await
        .expect(0);
    assert_contains(r.stderr(), "0 sent");
    assert_eq!(m.graph_accepted().len(), 0);
    // …and then at once.
    let r = tick(&s, "2027-02-22T09:00:02+01:00", env).await.expect(0);
    assert_contains(r.stderr(), "1 sent");
    assert_eq!(m.graph_accepted().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_even_a_trace_log_shows_the_client_secret_or_a_token() {
    let m = Arc::new(M365::start().await);
    let server = smtp_checking(&m).await;
    let s = scratch("da");
    let to = ["mail", "test", "--to", "it@ballerup.example"];
    let trace = ("RUST_LOG".to_string(), "trace".to_string());
    let mut env = xoauth2_env(&s, server.port(), &m.token_url());
    env.push(trace.clone());
    let r = run(&s, &to, env.clone()).await.expect(0);
    assert_no_secrets(&r, &m);
    // A tick whose token is refused by the server: fetched twice, logged never.
    server.require_xoauth2(|_, _| false);
    let r = tick(&s, "2027-02-22T09:00:00+01:00", env).await.expect(1);
    assert_contains(r.stderr(), "refused the OAuth token");
    assert_no_secrets(&r, &m);
    let mut env = graph_env(&s, &m);
    env.push(trace);
    let r = run(&s, &to, env).await.expect(0);
    assert_no_secrets(&r, &m);
    assert!(m.issued().len() >= 4);
}
