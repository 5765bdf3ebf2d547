//! The completion-link server end to end: the real router on 127.0.0.1:0,
//! a real SQLite store in a temporary directory, hand-written HTTP/1.1 over
//! a real TCP connection, and a clock the tests set.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::support::fixtures::{ballerup, utc};
use crate::support::http::{self, Reply};
use arshjul::link::Secret;
use arshjul::store::{Completion, Store};
use arshjul::web::{self, AppState, Limits};
use arshjul::wheel::{Language, Wheel};
use chrono::{DateTime, NaiveDate, Utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: [u8; 32] = [42; 32];

fn due() -> NaiveDate {
    NaiveDate::from_ymd_opt(2027, 3, 1).unwrap()
}

/// Links in these tests expire at the end of 30 June 2027, Copenhagen time.
fn expires() -> DateTime<Utc> {
    utc("2027-06-30T23:59:59+02:00")
}

/// The path of a genuine link for Anna's 2027 review.
fn done_path(secret: &Secret) -> String {
    let url = arshjul::link::url(
        "http://x",
        secret,
        "policy-review",
        "2027",
        "anna",
        due(),
        expires(),
    );
    url.strip_prefix("http://x").unwrap().to_string()
}

/// A running server and what the tests need to look behind it.
struct App {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    wheel: Arc<RwLock<Arc<Wheel>>>,
    now: Arc<Mutex<DateTime<Utc>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl App {
    async fn start() -> App {
        App::start_with(Language::Da, vec![]).await
    }

    async fn start_with(language: Language, trusted_proxies: Vec<IpAddr>) -> App {
        App::start_limited(language, trusted_proxies, Limits::default()).await
    }

    async fn start_limited(
        language: Language,
        trusted_proxies: Vec<IpAddr>,
        limits: Limits,
    ) -> App {
        App::start_full(language, trusted_proxies, limits, None).await
    }

    /// With `reply_to`: the address the problem pages name.
    async fn start_full(
        language: Language,
        trusted_proxies: Vec<IpAddr>,
        limits: Limits,
        reply_to: Option<&str>,
    ) -> App {
        let dir = tempfile::tempdir().unwrap();
        let wheel = ballerup(language);
        let mut store = Store::open(&dir.path().join("arshjul.db"), true).unwrap();
        store
            .sync_tasks(&wheel, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())
            .unwrap();
        let store = Arc::new(Mutex::new(store));
        let wheel = Arc::new(RwLock::new(Arc::new(wheel)));
        // 20 February 2027, 10:12 in Copenhagen: after the first reminder.
        let now = Arc::new(Mutex::new(utc("2027-02-20T10:12:00+01:00")));
        let clock_now = now.clone();
        let state = AppState::new(
            store.clone(),
            wheel.clone(),
            Secret::from_bytes(SECRET),
            trusted_proxies,
            Arc::new(move || *clock_now.lock().unwrap()),
        )
        .with_reply_to(reply_to);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(web::serve_with(listener, state, limits, async {
            let _ = rx.await;
        }));
        App {
            addr,
            store,
            wheel,
            now,
            shutdown: Some(tx),
            server: Some(server),
            _dir: dir,
        }
    }

    fn set_now(&self, rfc3339: &str) {
        *self.now.lock().unwrap() = utc(rfc3339);
    }

    fn completions(&self) -> Vec<Completion> {
        self.store.lock().unwrap().completions(None).unwrap()
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(&http::get(path)).await
    }

    async fn head(&self, path: &str) -> Reply {
        self.send(&format!(
            "HEAD {path} HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\r\n"
        ))
        .await
    }

    /// A browser-like form POST; `extra` are more header lines, each ending in CRLF.
    async fn post(&self, path: &str, form: &str, extra: &str) -> Reply {
        self.send(&http::post(path, form, extra)).await
    }

    async fn send(&self, request: &str) -> Reply {
        http::send_async(self.addr, request).await
    }

    /// Sends a body of `len` bytes while reading the answer, as a client
    /// would that gets a response before it has finished sending.
    async fn post_large(&self, path: &str, len: usize) -> Reply {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\n"
        );
        let writer = tokio::spawn(async move {
            wr.write_all(head.as_bytes()).await?;
            let body = format!("note={}", "a".repeat(len - 5));
            wr.write_all(body.as_bytes()).await
        });
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        // The server may reset the connection once it has answered; what
        // arrived before that is the answer.
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let _ = writer.await;
        Reply::parse(&raw)
    }

    async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        self.server.take().unwrap().await.unwrap()
    }
}

/// The headers every response of the router carries.
trait SecurityHeaders {
    fn assert_security_headers(&self);
}

impl SecurityHeaders for Reply {
    fn assert_security_headers(&self) {
        let expected = [
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
            ("x-content-type-options", "nosniff"),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ];
        for (name, value) in expected {
            assert_eq!(
                self.header(name),
                Some(value),
                "{name} on a {} response",
                self.status
            );
        }
    }
}

/// Every way to change one character of `token` into another URL-safe one.
fn single_character_changes(token: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, original) in token.char_indices() {
        for r in ['A', 'z', '0', '-', '_'] {
            if r != original {
                out.push(format!("{}{r}{}", &token[..i], &token[i + 1..]));
            }
        }
    }
    out
}

#[tokio::test]
async fn get_shows_the_occurrence_and_a_button_and_records_nothing() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));

    let page = app.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("<html lang=\"da\">"));
    assert!(page
        .body
        .contains("<h1>Årlig gennemgang af informationssikkerhedspolitikken</h1>"));
    assert!(page.body.contains("<dd>2027</dd>"));
    assert!(page.body.contains("<dd>1. marts 2027</dd>"));
    assert!(page.body.contains("<dd>Anna Jensen</dd>"));
    assert!(page
        .body
        .contains("<form method=\"post\" enctype=\"multipart/form-data\">"));
    assert_eq!(page.body.matches("<button").count(), 1);

    let head = app.head(&path).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");

    assert_eq!(app.completions(), vec![]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn post_records_the_completion_once_with_the_recipient_and_the_note() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));

    let first = app
        .post(&path, "note=Godkendt+af+direktionen+%C3%A6%C3%B8%C3%A5", "")
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body.contains("Registreret som udført"),
        "{}",
        first.body
    );
    assert!(
        first
            .body
            .contains("af Anna Jensen den 20. februar 2027 kl. 10:12."),
        "{}",
        first.body
    );
    assert!(first.body.contains("Godkendt af direktionen æøå"));

    let recorded = app.completions();
    assert_eq!(recorded.len(), 1);
    let c = &recorded[0];
    assert_eq!(
        (c.task.as_str(), c.period.as_str()),
        ("policy-review", "2027")
    );
    assert_eq!(c.by, "anna@ballerup.example.dk");
    assert_eq!(c.via, "link");
    assert_eq!(c.note.as_deref(), Some("Godkendt af direktionen æøå"));
    assert_eq!(c.at.to_rfc3339(), "2027-02-20T10:12:00+01:00");

    // A day later, someone presses the button again with another note.
    app.set_now("2027-02-21T09:00:00+01:00");
    let second = app.post(&path, "note=igen", "").await;
    assert_eq!(second.status, 200);
    assert!(
        second.body.contains("Allerede registreret"),
        "{}",
        second.body
    );
    assert!(
        second
            .body
            .contains("af Anna Jensen den 20. februar 2027 kl. 10:12."),
        "{}",
        second.body
    );
    assert!(second.body.contains("Der er ikke registreret noget nyt."));
    assert_eq!(app.completions(), recorded);

    // The form is gone: the page says who did it.
    let page = app.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Allerede registreret"));
    assert!(!page.body.contains("<button"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn after_an_undo_the_link_shows_the_button_again_and_records_anew() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    assert_eq!(app.post(&path, "note=første", "").await.status, 200);
    let retracted = app
        .store
        .lock()
        .unwrap()
        .record_retraction(&arshjul::store::NewRetraction {
            task: "policy-review".into(),
            period: "2027".into(),
            at: utc("2027-02-20T11:00:00+01:00").fixed_offset(),
            by: "bo".into(),
            reason: "registreret ved en fejl".into(),
        })
        .unwrap();
    assert!(matches!(
        retracted,
        arshjul::store::RetractionOutcome::Retracted(_)
    ));

    let page = app.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Allerede registreret"), "{}", page.body);
    assert_eq!(page.body.matches("<button").count(), 1, "{}", page.body);

    app.set_now("2027-02-21T09:00:00+01:00");
    let again = app.post(&path, "note=anden", "").await;
    assert_eq!(again.status, 200);
    assert!(
        again.body.contains("Registreret som udført"),
        "{}",
        again.body
    );
    let standing = app
        .store
        .lock()
        .unwrap()
        .completion("policy-review", "2027")
        .unwrap()
        .expect("done again");
    assert_eq!(standing.note.as_deref(), Some("anden"));
    assert_eq!(app.completions().len(), 2);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_post_without_a_note_records_none_and_a_blank_note_is_none() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let reply = app.post(&path, "note=+%0D%0A+", "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.completions()[0].note, None);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_note_with_markup_is_stored_as_written_and_escaped_on_output() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let reply = app
        .post(
            &path,
            "note=%3Cscript%3Ealert(1)%3C%2Fscript%3E+%26+%22ok%22",
            "",
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;ok&quot;"),
        "{}",
        reply.body
    );
    assert!(!reply.body.contains("<script"));
    assert_eq!(
        app.completions()[0].note.as_deref(),
        Some("<script>alert(1)</script> & \"ok\"")
    );

    let page = app.get(&path).await;
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.body.contains("<script"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_note_that_reorders_its_line_is_shown_with_the_reordering_visible() {
    // "Se bilag \u{202e}fdp.exe\u{202c}": a browser draws the part after
    // U+202E right to left, so the page would read "exe.pdf". Shown as
    // text, as the report and the tables show it; lines stay lines.
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let reply = app
        .post(
            &path,
            "note=Se+bilag+%E2%80%AEfdp.exe%E2%80%AC%0D%0Aanden+linje",
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        app.completions()[0].note.as_deref(),
        Some("Se bilag \u{202e}fdp.exe\u{202c}\r\nanden linje"),
        "stored as written"
    );
    for body in [reply.body, app.get(&path).await.body] {
        assert!(
            body.contains("Se bilag \\u{202e}fdp.exe\\u{202c}\r\nanden linje"),
            "{body}"
        );
        assert!(!body.contains('\u{202e}'), "{body}");
    }
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_note_of_2001_characters_is_refused_and_one_of_2000_is_recorded() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let too_long = app
        .post(&path, &format!("note={}", "ø".repeat(2001)), "")
        .await;
    assert_eq!(too_long.status, 400);
    assert!(too_long.body.contains("2001"));
    too_long.assert_security_headers();
    assert_eq!(app.completions(), vec![]);

    let just_fits = app
        .post(&path, &format!("note={}", "ø".repeat(2000)), "")
        .await;
    assert_eq!(just_fits.status, 200, "{}", just_fits.body);
    assert_eq!(
        app.completions()[0]
            .note
            .as_deref()
            .map(|n| n.chars().count()),
        Some(2000)
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn every_single_character_change_to_a_token_is_404_and_records_nothing() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let token = path.strip_prefix("/done/").unwrap();
    let changes = single_character_changes(token);
    assert!(changes.len() > 4 * token.len());
    for altered in changes {
        let reply = app.post(&format!("/done/{altered}"), "note=x", "").await;
        assert_eq!(reply.status, 404, "/done/{altered}");
    }
    assert_eq!(app.completions(), vec![]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_404_and_records_nothing() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes([43; 32]));
    let page = app.get(&path).await;
    assert_eq!(page.status, 404);
    assert!(page.body.contains("Linket er ikke gyldigt"));
    assert_eq!(app.post(&path, "", "").await.status, 404);
    assert_eq!(app.completions(), vec![]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_expired_link_is_410_and_records_nothing() {
    let app = App::start_with(Language::En, vec![]).await;
    let path = done_path(&Secret::from_bytes(SECRET));

    app.set_now("2027-06-30T23:59:59+02:00");
    assert_eq!(
        app.get(&path).await.status,
        200,
        "the last second is still valid"
    );

    app.set_now("2027-07-01T00:00:00+02:00");
    let page = app.get(&path).await;
    assert_eq!(page.status, 410);
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(
        page.body.contains("The link to “Årlig gennemgang"),
        "{}",
        page.body
    );
    assert!(page.body.contains("has expired and nothing was recorded."));
    assert!(!page.body.contains("arshjul done"), "{}", page.body);
    assert_eq!(app.post(&path, "note=late", "").await.status, 410);
    assert_eq!(app.completions(), vec![]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_link_to_a_task_removed_from_the_wheel_is_404_after_a_reload() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    assert_eq!(app.get(&path).await.status, 200);

    let mut reloaded = ballerup(Language::Da);
    reloaded.tasks.clear();
    *app.wheel.write().unwrap() = Arc::new(reloaded);

    assert_eq!(app.get(&path).await.status, 404);
    assert_eq!(app.post(&path, "", "").await.status, 404);
    assert_eq!(app.completions(), vec![]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_one_mebibyte_body_is_refused_with_413_and_records_nothing() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let reply = app.post_large(&path, 1024 * 1024).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    reply.assert_security_headers();
    assert_eq!(app.completions(), vec![]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn security_headers_are_on_every_kind_of_response() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));

    let ok = app.get(&path).await;
    assert_eq!(ok.status, 200);
    ok.assert_security_headers();

    let not_found = app.get("/done/forged").await;
    assert_eq!(not_found.status, 404);
    not_found.assert_security_headers();

    let unknown_path = app.get("/admin").await;
    assert_eq!(unknown_path.status, 404);
    assert!(unknown_path.body.contains("Linket er ikke gyldigt"));
    unknown_path.assert_security_headers();

    let wrong_method = app
        .send(&format!(
            "PUT {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        ))
        .await;
    assert_eq!(wrong_method.status, 405);
    wrong_method.assert_security_headers();

    let health = app.get("/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    health.assert_security_headers();

    app.set_now("2027-07-01T00:00:00+02:00");
    let gone = app.get(&path).await;
    assert_eq!(gone.status, 410);
    gone.assert_security_headers();

    let recorded = app.post(&path, "", "").await;
    assert_eq!(recorded.status, 410);
    recorded.assert_security_headers();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_post_that_is_not_a_form_records_nothing() {
    let app = App::start().await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let reply = app
        .send(&format!(
            "POST {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: 2\r\n\r\n{{}}"
        ))
        .await;
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert!(reply.body.contains("Formularen kunne ikke læses"));
    assert_eq!(app.completions(), vec![]);
    app.stop().await.unwrap();
}

/// The client address and user agent recorded for a link POST, read
/// straight from the database file: `Completion` does not carry them.
fn recorded_evidence(app: &App) -> (Option<String>, Option<String>) {
    let store = app.store.lock().unwrap();
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.query_row("SELECT client_addr, user_agent FROM completions", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let forwarded = "X-Forwarded-For: 6.6.6.6, 198.51.100.7\r\n";
    let path = done_path(&Secret::from_bytes(SECRET));

    let direct = App::start_with(Language::Da, vec![]).await;
    assert_eq!(direct.post(&path, "", forwarded).await.status, 200);
    assert_eq!(
        recorded_evidence(&direct),
        (Some("127.0.0.1".into()), Some("Testbrowser/1.0".into()))
    );
    direct.stop().await.unwrap();

    let proxied = App::start_with(Language::Da, vec!["127.0.0.1".parse().unwrap()]).await;
    assert_eq!(proxied.post(&path, "", forwarded).await.status, 200);
    assert_eq!(
        recorded_evidence(&proxied),
        (Some("198.51.100.7".into()), Some("Testbrowser/1.0".into()))
    );
    proxied.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_server_cleanly() {
    let app = App::start().await;
    let addr = app.addr;
    assert_eq!(app.get("/healthz").await.status, 200);
    app.stop().await.unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let app = App::start_limited(Language::Da, vec![], limits).await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: ars")
        .await
        .unwrap();
    let started = Instant::now();
    let closed = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the server kept a half-sent request open");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // The same holds for a keep-alive connection left idle after a request.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: arshjul\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_within(&mut idle, Duration::from_secs(5))
        .await
        .expect("the server kept an idle connection open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    // And the server still answers.
    assert_eq!(app.get("/healthz").await.status, 200);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_body_that_stops_coming_is_refused_and_records_nothing() {
    let limits = Limits {
        body_read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let app = App::start_limited(Language::Da, vec![], limits).await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nnote=Half"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let raw = closed_within(&mut slow, Duration::from_secs(5))
        .await
        .expect("the server waited for the rest of the body");
    let reply = Reply::parse(&raw);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(app.completions().is_empty());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_until_one_closes() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let app = App::start_limited(Language::Da, vec![], limits).await;
    let first = TcpStream::connect(app.addr).await.unwrap();
    let _second = TcpStream::connect(app.addr).await.unwrap();
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let early = closed_within(&mut third, Duration::from_millis(500)).await;
    assert!(early.is_none(), "a third connection was served: {early:?}");
    drop(first);
    let answer = closed_within(&mut third, Duration::from_secs(5))
        .await
        .expect("the third connection was not served after the first closed");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn one_peer_cannot_take_the_listener_from_another() {
    // Fewer connections in all than the attacker opens, so that without a
    // cap per peer it would hold every one of them.
    let limits = Limits {
        max_connections: 64,
        max_connections_per_peer: 32,
        ..Limits::default()
    };
    let app = App::start_limited(Language::Da, vec![], limits).await;
    // 200 connections from 127.0.0.1 that never send a byte (slow headers:
    // each would be held for the 10 s header timeout).
    let mut attack = Vec::new();
    for _ in 0..200 {
        attack.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // Another address is served at once.
    let started = Instant::now();
    let mut other = connect_from("127.0.0.2", app.addr).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_within(&mut other, Duration::from_secs(1))
        .await
        .expect("/healthz from 127.0.0.2 did not answer within 1 s");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    // The attacker's first 32 are held; the 33rd and later were closed at
    // once, not queued.
    assert!(
        closed_within(&mut attack[31], Duration::from_millis(200))
            .await
            .is_none(),
        "the 32nd connection was closed"
    );
    for i in [32, 100, 199] {
        assert!(
            closed_within(&mut attack[i], Duration::from_secs(1))
                .await
                .is_some(),
            "connection {} from one peer was kept",
            i + 1
        );
    }
    // Once the attacker lets go, the address is served again.
    drop(attack);
    let mut again = None;
    for _ in 0..50 {
        let reply = app.get("/healthz").await;
        if reply.status == 200 {
            again = Some(reply);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "127.0.0.1 was not served after it closed");
    app.stop().await.unwrap();
}

/// A connection from `source` (any 127.0.0.0/8 address is loopback on
/// Linux), so the listener sees another peer.
async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn healthz_says_busy_at_once_while_the_store_is_held_and_a_post_waits_its_turn() {
    let app = App::start().await;
    // A pass holding the store (as one waiting on another process's lock).
    let store = app.store.clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let _guard = store.lock().unwrap();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
    });
    held_rx.recv().unwrap();
    let began = Instant::now();
    let health = app.get("/healthz").await;
    assert!(
        began.elapsed() < Duration::from_millis(100),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(health.status, 503);
    assert_eq!(health.header("retry-after"), Some("1"));
    assert_eq!(health.body, "database busy\n");
    // A completion sent meanwhile waits for the store and is recorded.
    let path = done_path(&Secret::from_bytes(SECRET));
    let addr = app.addr;
    let post =
        tokio::spawn(async move { http::send_async(addr, &http::post(&path, "note=", "")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!post.is_finished(), "the POST did not wait for the store");
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(post.await.unwrap().status, 200);
    assert_eq!(app.completions().len(), 1);
    assert_eq!(app.get("/healthz").await.status, 200);
    app.stop().await.unwrap();
}

/// A client that sends many pipelined requests and reads none of the
/// answers, keeping its side open: the server soon blocks writing to it.
async fn never_reading_client(
    addr: SocketAddr,
) -> (
    tokio::net::tcp::OwnedReadHalf,
    tokio::task::JoinHandle<std::io::Result<tokio::net::tcp::OwnedWriteHalf>>,
) {
    // A small receive buffer, so that the answers soon fill it.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let (rd, mut wr) = socket.connect(addr).await.unwrap().into_split();
    // More pipelined requests than the buffers hold answers for (each
    // answer is a page of about 2 kB), fewer than hyper buffers unread.
    let request = b"GET /done/forged HTTP/1.1\r\nHost: arshjul\r\n\r\n".repeat(5_000);
    let flood = tokio::spawn(async move {
        wr.write_all(&request).await?;
        // Returned, not dropped: dropping it would end the requests.
        Ok(wr)
    });
    (rd, flood)
}

/// Reads until the server closes the connection (an error such as a reset
/// counts as closed) and returns what came; `None` if the connection is
/// still open after `within`.
async fn closed_within<R>(stream: &mut R, within: Duration) -> Option<Vec<u8>>
where
    R: tokio::io::AsyncRead + Unpin,
{
    let mut read = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut read))
        .await
        .ok()
        .map(|_| read)
}

#[tokio::test]
async fn a_client_that_trickles_its_body_is_cut_off_at_the_connection_lifetime() {
    let limits = Limits {
        connection_lifetime: Duration::from_millis(500),
        ..Limits::default()
    };
    let app = App::start_limited(Language::Da, vec![], limits).await;
    let path = done_path(&Secret::from_bytes(SECRET));
    let (mut rd, mut wr) = TcpStream::connect(app.addr).await.unwrap().into_split();
    let trickle = tokio::spawn(async move {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: arshjul\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nnote="
        );
        wr.write_all(head.as_bytes()).await?;
        // One byte every 100 ms: well inside the body-read timeout.
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            wr.write_all(b"x").await?;
        }
        std::io::Result::Ok(())
    });
    assert!(
        closed_within(&mut rd, Duration::from_secs(5))
            .await
            .is_some(),
        "a trickling body kept its connection"
    );
    trickle.abort();
    assert!(app.completions().is_empty());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_cut_off_at_the_connection_lifetime() {
    let limits = Limits {
        header_read_timeout: Duration::from_secs(60),
        connection_lifetime: Duration::from_millis(500),
        ..Limits::default()
    };
    let app = App::start_limited(Language::Da, vec![], limits).await;
    let (rd, flood) = never_reading_client(app.addr).await;
    // Without ever reading (reading would let the server finish its answer
    // and close gracefully), write on until the server's side of the
    // connection is gone: only the cut-off after the lifetime and its grace
    // (500 ms each here) ends a connection whose answers are not read.
    let cut_off = tokio::time::timeout(Duration::from_secs(5), async {
        let mut wr = match flood.await.expect("the flood task") {
            Ok(wr) => wr,
            Err(_) => return, // cut off while the requests were still going
        };
        let more = b"GET /healthz HTTP/1.1\r\nHost: arshjul\r\n\r\n";
        while wr.write_all(more).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        cut_off.is_ok(),
        "a client that never read kept its connection for 5 s"
    );
    drop(rd);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn on_shutdown_the_listener_refuses_new_clients_while_connections_finish() {
    let limits = Limits {
        connection_lifetime: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut app = App::start_limited(Language::Da, vec![], limits).await;
    // A connection the server cannot finish: its answers are not read.
    let (mut rd, _flood) = never_reading_client(app.addr).await;
    // Served: its first answer has arrived (peeked, so still unread).
    let mut first = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(5), rd.peek(&mut first))
        .await
        .expect("no answer within 5 s")
        .expect("peek");
    let _ = app.shutdown.take().unwrap().send(());
    // The listener closes at once, long before the stuck connection ends.
    let asked = std::time::Instant::now();
    while TcpStream::connect(app.addr).await.is_ok() {
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "the listener still accepted 1 s into the shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _rd = rd;
    let server = app.server.take().unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(stopped.is_ok(), "the stuck connection held the shutdown");
}

#[tokio::test]
async fn problem_pages_send_the_reader_to_the_reply_address_or_else_the_organisation() {
    // No reply address: the organisation by name, no address nobody reads.
    let app = App::start().await;
    let page = app.get("/done/forged").await;
    assert_eq!(page.status, 404);
    assert!(
        page.body.contains(
            "Har du brug for hjælp, så kontakt den, der står for årshjulet i Ballerup Kommune."
        ),
        "{}",
        page.body
    );
    assert!(!page.body.contains('@'), "{}", page.body);
    assert!(!page.body.contains("svar på e-mailen"), "{}", page.body);

    // `mail.reply_to` set: that address, as a mailto link.
    let app = App::start_full(
        Language::En,
        vec![],
        Limits::default(),
        Some("koordinator@ballerup.example"),
    )
    .await;
    let page = app.get("/admin").await;
    assert_eq!(page.status, 404);
    assert!(
        page.body.contains(
            "If you need help, write to \
             <a href=\"mailto:koordinator@ballerup.example\">koordinator@ballerup.example</a>."
        ),
        "{}",
        page.body
    );
}
