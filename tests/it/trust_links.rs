//! Links that work when they arrive (issue 11, items 1 and 2): a genuine
//! but expired link to a done occurrence says who did it and when; to an
//! open one it names the occurrence and offers a fresh link, which the
//! engine's next pass mails to the person the token was issued to, at the
//! address the wheel has for them. The real router over real TCP, a real
//! SQLite file, and the real engine delivering through the file transport.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::support::fixtures::{ballerup, utc};
use crate::support::http::{self, Reply};
use crate::support::mime::Mail;
use arshjul::config::Config;
use arshjul::engine::Engine;
use arshjul::link::{self as token, Secret};
use arshjul::settings::Settings;
use arshjul::store::{LinkRequestRecord, MessageState, NewCompletion, Store, Via};
use arshjul::web::{self, AppState};
use arshjul::wheel::{Language, Wheel};
use chrono::{DateTime, NaiveDate, Utc};
use tokio::net::TcpListener;
use tokio::sync::Notify;

const SECRET: [u8; 32] = [42; 32];

fn due() -> NaiveDate {
    NaiveDate::from_ymd_opt(2027, 3, 1).unwrap()
}

/// The path of a link for `person`'s review of `period` that expired at
/// the end of 30 June 2027.
fn expired_path(secret: &Secret, period: &str, person: &str) -> String {
    let url = arshjul::link::url(
        "http://x",
        secret,
        "policy-review",
        period,
        person,
        due(),
        utc("2027-06-30T23:59:59+02:00"),
    );
    url.strip_prefix("http://x").unwrap().to_string()
}

fn annas_expired_path() -> String {
    expired_path(&Secret::from_bytes(SECRET), "2027", "anna")
}

/// The router on 127.0.0.1:0 over a real database, with a clock the tests
/// set (1 July 2027, 10:00 in Copenhagen: the day after the links expired)
/// and the daemon's wake-up.
struct App {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    now: Arc<Mutex<DateTime<Utc>>>,
    wake: Arc<Notify>,
    dir: tempfile::TempDir,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl App {
    async fn start() -> App {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("arshjul.db"), true).unwrap();
        store
            .sync_tasks(
                &ballerup(Language::Da),
                NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            )
            .unwrap();
        let store = Arc::new(Mutex::new(store));
        let now = Arc::new(Mutex::new(utc("2027-07-01T10:00:00+02:00")));
        let clock = now.clone();
        let wake = Arc::new(Notify::new());
        let state = AppState::new(
            store.clone(),
            Arc::new(RwLock::new(Arc::new(ballerup(Language::Da)))),
            Secret::from_bytes(SECRET),
            Vec::new(),
            Arc::new(move || *clock.lock().unwrap()),
        )
        .with_wake(wake.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(web::serve(listener, state, async {
            let _ = rx.await;
        }));
        App {
            addr,
            store,
            now,
            wake,
            dir,
            _shutdown: tx,
        }
    }

    fn set_now(&self, rfc3339: &str) {
        *self.now.lock().unwrap() = utc(rfc3339);
    }

    fn requests(&self) -> Vec<LinkRequestRecord> {
        self.store.lock().unwrap().link_requests(None).unwrap()
    }

    fn complete(&self, by: &str) {
        let at = DateTime::parse_from_rfc3339("2027-02-20T10:12:00+01:00").unwrap();
        let c = NewCompletion {
            task: "policy-review".into(),
            period: "2027".into(),
            at,
            by: by.into(),
            via: Via::Cli,
            note: None,
            client_addr: None,
            user_agent: None,
            recorded_at: at,
        };
        self.store.lock().unwrap().record_completion(&c).unwrap();
    }

    /// The engine of `arshjul tick` on this database and secret, writing
    /// `.eml` files, with `wheel` as the wheel it was loaded with.
    fn engine(&self, wheel: Wheel) -> Engine {
        let secret = self.dir.path().join("secret");
        std::fs::write(&secret, SECRET).unwrap();
        let mut settings = Settings {
            database: self.dir.path().join("arshjul.db"),
            secret_file: Some(secret),
            public_url: "http://x".into(),
            ..Settings::default()
        };
        settings.mail.dir = self.outbox();
        std::fs::create_dir_all(self.outbox()).unwrap();
        Engine::new(Config { settings, wheel }).unwrap()
    }

    fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    async fn pass(&self, engine: &Engine) {
        let now = *self.now.lock().unwrap();
        let outcome = engine.guarded_pass(&self.store, now, &|| false, None).await;
        assert!(
            matches!(outcome, Ok(arshjul::engine::Outcome::Passed(_))),
            "{outcome:?}"
        );
    }

    async fn get(&self, path: &str) -> Reply {
        http::send_async(self.addr, &http::get(path)).await
    }

    async fn post(&self, path: &str, form: &str) -> Reply {
        self.send(&http::post(path, form, "")).await
    }

    async fn send(&self, request: &str) -> Reply {
        http::send_async(self.addr, request).await
    }
}

/// A message the file transport wrote: as written, and as read.
#[derive(Debug)]
struct Sent {
    raw: String,
    mail: Mail,
}

/// The `.eml` files the file transport wrote whose kind is `link`.
fn link_messages(outbox: &Path) -> Vec<Sent> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut out: Vec<Sent> = entries
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|raw| Sent {
            mail: Mail::parse(&raw),
            raw,
        })
        .filter(|s| s.mail.header_opt("X-Arshjul-Kind").as_deref() == Some("link"))
        .collect();
    out.sort_by(|a, b| a.raw.cmp(&b.raw));
    out
}

/// The token of the first `http://x/done/…` link in a message's text.
fn token_in(mail: &Mail) -> String {
    let link = mail.link().expect("a completion link");
    link.strip_prefix("http://x/done/")
        .unwrap_or_else(|| panic!("not a link of http://x: {link}"))
        .to_string()
}

#[tokio::test]
async fn an_expired_link_to_a_done_occurrence_says_who_and_when_with_200() {
    let app = App::start().await;
    let path = annas_expired_path();
    app.complete("anna@ballerup.example.dk");

    let page = app.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<h1>Allerede registreret</h1>"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("af Anna Jensen den 20. februar 2027 kl. 10:12."),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<form"), "{}", page.body);

    // Pressing an old button records nothing and says the same.
    let posted = app.post(&path, "note=igen").await;
    assert_eq!(posted.status, 200);
    assert!(posted.body.contains("Allerede registreret"));
    let asked = app.post(&format!("{path}/new-link"), "").await;
    assert_eq!(asked.status, 200);
    assert!(asked.body.contains("Allerede registreret"));
    assert_eq!(
        app.store.lock().unwrap().completions(None).unwrap().len(),
        1
    );
    assert_eq!(app.requests(), vec![]);
}

#[tokio::test]
async fn an_expired_link_shows_a_completer_outside_the_wheel_without_the_full_address() {
    let app = App::start().await;
    app.complete("tidligere.medarbejder@ballerup.example.dk");
    let page = app.get(&annas_expired_path()).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("af t…@ballerup.example.dk den 20. februar 2027"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("tidligere.medarbejder"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn an_expired_link_to_an_open_occurrence_is_410_naming_it_with_a_button_for_a_new_link() {
    let app = App::start().await;
    let path = annas_expired_path();

    let page = app.get(&path).await;
    assert_eq!(page.status, 410, "{}", page.body);
    for expected in [
        "<p class=\"org\">Ballerup Kommune</p>",
        "<h1>Linket er udløbet</h1>",
        "Linket til »Årlig gennemgang af informationssikkerhedspolitikken« for 2027 er udløbet, \
         og intet er registreret. Du får et nyt link med næste påmindelse.",
        "<dt>Frist</dt><dd>1. marts 2027</dd>",
        "<dt>Ansvarlig</dt><dd>Anna Jensen</dd>",
        "<button type=\"submit\">Send mig et nyt link</button>",
    ] {
        assert!(
            page.body.contains(expected),
            "{expected:?} in {}",
            page.body
        );
    }
    // The form posts, relative to the link's own path, to …/new-link.
    let token = path.strip_prefix("/done/").unwrap();
    assert!(
        page.body.contains(&format!(
            "<form method=\"post\" action=\"{token}/new-link\">"
        )),
        "{}",
        page.body
    );
    for forbidden in ["anna@", "arshjul done", "<code>", "Svar på", "<script"] {
        assert!(
            !page.body.contains(forbidden),
            "{forbidden:?} in {}",
            page.body
        );
    }

    // Opening the form's address (a reload, a bookmark) leads back here.
    let reply = app
        .send(&format!(
            "GET {path}/new-link HTTP/1.1\r\nHost: arshjul\r\nConnection: close\r\n\r\n"
        ))
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(
        reply.header("location"),
        Some(format!("../{token}").as_str())
    );
    assert_eq!(app.requests(), vec![]);

    // The old form's button records nothing; it gets the same page.
    let posted = app.post(&path, "note=sent").await;
    assert_eq!(posted.status, 410);
    assert!(posted.body.contains("Send mig et nyt link"));
    assert_eq!(app.store.lock().unwrap().completions(None).unwrap(), vec![]);
    assert_eq!(app.requests(), vec![]);
}

#[tokio::test]
async fn a_new_link_is_asked_for_once_an_hour_per_recipient_and_the_refusal_is_429() {
    let app = App::start().await;
    let ask = format!("{}/new-link", annas_expired_path());

    let first = app.post(&ask, "").await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert!(
        first.body.contains("<h1>Et nyt link er på vej</h1>"),
        "{}",
        first.body
    );
    assert!(
        first.body.contains(
            "Vi sender Anna Jensen et nyt link til »Årlig gennemgang af \
             informationssikkerhedspolitikken« for 2027."
        ),
        "{}",
        first.body
    );
    assert!(!first.body.contains("anna@"), "{}", first.body);
    // The daemon's loop was woken.
    tokio::time::timeout(Duration::from_secs(1), app.wake.notified())
        .await
        .expect("the request wakes the engine");

    let requests = app.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let r = &requests[0];
    assert_eq!(
        (r.task.as_str(), r.period.as_str(), r.person.as_str()),
        ("policy-review", "2027", "anna")
    );
    assert_eq!(r.requested_at.to_rfc3339(), "2027-07-01T10:00:00+02:00");
    assert_eq!(r.client_addr.as_deref(), Some("127.0.0.1"));
    assert_eq!(r.user_agent.as_deref(), Some("Testbrowser/1.0"));
    assert_eq!(r.outcome, None);

    // Half an hour later: refused, with when to try again.
    app.set_now("2027-07-01T10:30:00+02:00");
    let second = app.post(&ask, "").await;
    assert_eq!(second.status, 429, "{}", second.body);
    assert_eq!(second.header("retry-after"), Some("1800"));
    assert!(second
        .body
        .contains("<h1>Der er allerede bedt om et nyt link</h1>"));
    assert!(
        second
            .body
            .contains("Du kan bede om endnu et link om 30 minutter."),
        "{}",
        second.body
    );
    assert_eq!(app.requests().len(), 1);

    // After the hour: recorded again.
    app.set_now("2027-07-01T11:00:01+02:00");
    assert_eq!(app.post(&ask, "").await.status, 202);
    assert_eq!(app.requests().len(), 2);
}

#[tokio::test]
async fn at_most_twenty_new_links_are_asked_for_an_hour_in_all() {
    let app = App::start().await;
    let secret = Secret::from_bytes(SECRET);
    for year in 2001..=2020 {
        let ask = format!(
            "{}/new-link",
            expired_path(&secret, &year.to_string(), "anna")
        );
        assert_eq!(app.post(&ask, "").await.status, 202, "{year}");
    }
    app.set_now("2027-07-01T10:20:00+02:00");
    let ask = format!("{}/new-link", expired_path(&secret, "2021", "anna"));
    let refused = app.post(&ask, "").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), Some("2400"));
    assert!(
        refused.body.contains("Prøv igen om 40 minutter."),
        "{}",
        refused.body
    );
    assert_eq!(app.requests().len(), 20);
}

#[tokio::test]
async fn a_pass_mails_one_fresh_link_to_the_wheel_address_of_the_token_recipient() {
    let app = App::start().await;
    let path = annas_expired_path();
    // Whatever the request says, it cannot choose the recipient.
    let asked = app
        .post(
            &format!("{path}/new-link"),
            "to=eve%40evil.example&email=eve%40evil.example&person=digitaliseringschef",
        )
        .await;
    assert_eq!(asked.status, 202, "{}", asked.body);

    // Anna's address changed in the wheel since the link was sent: the
    // address the wheel has now is the one used.
    let mut current = ballerup(Language::Da);
    current.people.get_mut("anna").unwrap().email = "anna.jensen@ballerup.example.dk".into();
    let engine = app.engine(current);
    app.set_now("2027-07-01T10:00:05+02:00");
    app.pass(&engine).await;

    let sent = link_messages(&app.outbox());
    assert_eq!(sent.len(), 1, "{sent:?}");
    let Sent { raw, mail } = &sent[0];
    assert_eq!(mail.to(), ["anna.jensen@ballerup.example.dk"], "{raw}");
    assert!(mail.cc().is_empty(), "{raw}");
    assert!(!raw.contains("evil.example"), "{raw}");
    assert!(!mail.text().contains("evil.example"), "{raw}");
    assert_eq!(mail.header("X-Arshjul-Task"), "policy-review");
    assert!(!mail.header("Subject").is_empty(), "{raw}");

    // The fresh link is Anna's, valid link_days (90) from today.
    let token = token_in(mail);
    let claims = token::verify(
        &Secret::from_bytes(SECRET),
        &token,
        utc("2027-09-29T23:59:59+02:00"),
    )
    .expect("valid through 29 September 2027");
    assert_eq!(
        (
            claims.task.as_str(),
            claims.period.as_str(),
            claims.person.as_str()
        ),
        ("policy-review", "2027", "anna")
    );
    assert!(token::verify(
        &Secret::from_bytes(SECRET),
        &token,
        utc("2027-09-30T00:00:00+02:00")
    )
    .is_err());
    let page = app.get(&format!("/done/{token}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .body
        .contains("<h1>Årlig gennemgang af informationssikkerhedspolitikken</h1>"));
    assert!(
        page.body.contains("Markér som udført</button>"),
        "{}",
        page.body
    );

    // The request is answered, with the message; another pass sends nothing more.
    let requests = app.requests();
    assert_eq!(requests[0].outcome.as_deref(), Some("queued"));
    assert_eq!(requests[0].message_state, Some(MessageState::Sent));
    assert_eq!(
        requests[0].to.as_deref(),
        Some(&["anna.jensen@ballerup.example.dk".to_string()][..])
    );
    app.set_now("2027-07-01T10:05:00+02:00");
    app.pass(&engine).await;
    assert_eq!(link_messages(&app.outbox()).len(), 1);
}

#[tokio::test]
async fn a_forged_or_altered_token_asks_for_nothing_and_another_persons_token_mails_that_person() {
    let app = App::start().await;
    let forged = expired_path(&Secret::from_bytes([7; 32]), "2027", "anna");
    assert_eq!(
        app.post(&format!("{forged}/new-link"), "").await.status,
        404
    );
    // The token of Anna's link with its recipient swapped: the signature fails.
    let genuine = annas_expired_path();
    let token = genuine.strip_prefix("/done/").unwrap();
    let mut altered: Vec<char> = token.chars().collect();
    altered[10] = if altered[10] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    assert_eq!(
        app.post(&format!("/done/{altered}/new-link"), "")
            .await
            .status,
        404
    );
    assert_eq!(app.requests(), vec![]);

    // A genuine link sent to the chief brings a link to the chief, not Anna.
    let chiefs = expired_path(&Secret::from_bytes(SECRET), "2027", "digitaliseringschef");
    assert_eq!(
        app.post(&format!("{chiefs}/new-link"), "").await.status,
        202
    );
    let engine = app.engine(ballerup(Language::Da));
    app.pass(&engine).await;
    let sent = link_messages(&app.outbox());
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].mail.to(),
        ["digitaliseringschef@ballerup.example.dk"],
        "{}",
        sent[0].raw
    );
    assert!(!sent[0].raw.contains("anna@"), "{}", sent[0].raw);
}

#[tokio::test]
async fn a_request_for_an_occurrence_done_before_the_pass_sends_nothing() {
    let app = App::start().await;
    assert_eq!(
        app.post(&format!("{}/new-link", annas_expired_path()), "")
            .await
            .status,
        202
    );
    app.complete("anna@ballerup.example.dk");
    let engine = app.engine(ballerup(Language::Da));
    app.pass(&engine).await;
    let sent = link_messages(&app.outbox());
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(app.requests()[0].outcome.as_deref(), Some("done"));
}
