//! Mail end to end: every template rendered strictly in both languages,
//! messages delivered to a real SMTP server on 127.0.0.1 and to the file
//! transport, parsed back and checked, and every failure mapped to
//! temporary or permanent.

use crate::support::smtp;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::fixtures::{assert_contains, date, organisation, person};
use crate::support::mime::Mail;
use arshjul::mail::{Composed, Composer, DeliveryError, MailError, Transport};
use arshjul::planner::{Kind, Notification};
use arshjul::settings::{MailSettings, MailTransport, Settings, SmtpTls};
use arshjul::wheel::{Anchor, Days, EscalationStep, Language, Recurrence, Task, Wheel};
use chrono::{NaiveDate, TimeZone};
use smtp::{Mode, SmtpServer};

// ---------------------------------------------------------------------------
// Fixtures.

const FROM: &str = "Årshjulet <arshjul@kommune.example>";
const LINK: &str = "https://arshjul.kommune.example/done/tok3n?a=1&b=2";

/// Søren and Birthe own the yearly policy review (due 1 March); it escalates
/// to Åse after 14 days and to the director Ulla after 30.
fn wheel(language: Language) -> Wheel {
    Wheel {
        organisation: organisation("Ærø Kommune", language, None),
        terms: None,
        people: BTreeMap::from([
            person("soren", "Søren Ærøskøbing", "soren@kommune.example"),
            person("birthe", "Birthe Møller", "birthe@kommune.example"),
            person("aase", "Åse Østergård", "aase@kommune.example"),
            person("ulla", "Ulla Dahl", "direktion@kommune.example"),
        ]),
        tasks: vec![Task {
            id: "policy-review".into(),
            title: "Årlig gennemgang af informationssikkerhedspolitikken".into(),
            owners: vec!["soren".into(), "birthe".into()],
            recurrence: Recurrence::Years {
                every: 1,
                first: None,
                month: 3,
                day: 1,
            },
            anchor: Anchor::Fixed,
            reference: Some("ISO 27001 A.5.1".into()),
            description: Some(
                "Politikken gennemgås og ændringer sendes til høring i MED-udvalget.".into(),
            ),
            category: None,
            remind: vec![Days(14), Days(3)],
            repeat: Some(Days(7)),
            escalate: vec![
                EscalationStep {
                    after: Days(14),
                    to: "aase".into(),
                },
                EscalationStep {
                    after: Days(30),
                    to: "ulla".into(),
                },
            ],
        }],
    }
}

/// A notification about the 2027 occurrence (due 1 March 2027).
fn notification(kind: Kind, step: u32, to: &str, cc: &[&str], on: NaiveDate) -> Notification {
    let at = chrono_tz::Europe::Copenhagen
        .from_local_datetime(&on.and_hms_opt(8, 0, 0).unwrap())
        .unwrap();
    Notification {
        key: format!("policy-review/2027/{}/{step}/{to}", kind.as_str()),
        task: "policy-review".into(),
        period: "2027".into(),
        due: date(2027, 3, 1),
        kind,
        step,
        date: on,
        at,
        to: to.into(),
        cc: cc.iter().map(|s| s.to_string()).collect(),
        on_behalf: None,
        cc_deputies: Vec::new(),
    }
}

fn reminder() -> Notification {
    notification(Kind::Reminder, 0, "soren", &[], date(2027, 2, 15))
}

fn repeat() -> Notification {
    notification(Kind::Repeat, 1, "soren", &[], date(2027, 3, 8))
}

fn escalation() -> Notification {
    notification(
        Kind::Escalation,
        1,
        "aase",
        &["soren", "birthe"],
        date(2027, 3, 15),
    )
}

fn settings() -> MailSettings {
    let mut s = Settings::default().mail;
    s.from = FROM.into();
    s
}

fn smtp_settings(port: u16, timeout_secs: u64) -> MailSettings {
    let mut s = settings();
    s.transport = MailTransport::Smtp;
    s.smtp.host = Some("127.0.0.1".into());
    s.smtp.port = port;
    s.smtp.tls = SmtpTls::None;
    s.smtp.timeout_secs = timeout_secs;
    s
}

/// SMTP to the test `server`, 5 s timeout, no TLS.
fn smtp_transport(server: &SmtpServer) -> Transport {
    Transport::new(&smtp_settings(server.port(), 5), None).unwrap()
}

/// How `server` refuses the Danish reminder (to its owner only).
async fn refusal_of_reminder(server: &SmtpServer) -> DeliveryError {
    let r = compose(Language::Da, &reminder(), Some(LINK));
    smtp_transport(server)
        .send(FROM, &r.to, &r.raw)
        .await
        .unwrap_err()
}

fn compose(language: Language, n: &Notification, link: Option<&str>) -> Composed {
    Composer::new(&settings())
        .unwrap()
        .compose(&wheel(language), n, link, n.date)
        .unwrap()
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn recipients(c: &Composed) -> Vec<String> {
    c.to.iter().chain(&c.cc).cloned().collect()
}

// ---------------------------------------------------------------------------
// Reading messages back, through the shared MIME reader.

/// A parsed message and the decoded text of its `text/plain` and
/// `text/html` parts (lines ending in `\n`, as a mail program shows them).
#[derive(Debug)]
struct Parsed {
    mail: Mail,
    text: String,
    html: String,
}

impl Parsed {
    /// The first header called `name`, RFC 2047 words decoded.
    fn header(&self, name: &str) -> String {
        self.mail.header(name)
    }

    fn has(&self, name: &str) -> bool {
        self.mail.has(name)
    }
}

/// Reads what lettre wrote: multipart/alternative with a UTF-8 text and
/// HTML part.
fn parse(raw: &[u8]) -> Parsed {
    let mail = Mail::parse(raw);
    let content_type = mail.header("Content-Type");
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    for kind in ["text/plain", "text/html"] {
        let ct = mail.content_type_of(kind).unwrap_or_default();
        assert!(ct.contains("charset=utf-8"), "{kind}: {ct:?}");
    }
    Parsed {
        text: mail.text(),
        html: mail.html(),
        mail,
    }
}

// ---------------------------------------------------------------------------
// Templates.

#[test]
fn every_template_renders_in_danish() {
    let wheel = wheel(Language::Da);
    let composer = Composer::new(&settings()).unwrap();

    let r = composer
        .compose(&wheel, &reminder(), Some(LINK), date(2027, 2, 15))
        .unwrap();
    let m = parse(&r.raw);
    assert_eq!(
        r.subject,
        "Påmindelse: Årlig gennemgang af informationssikkerhedspolitikken – frist 1. marts 2027"
    );
    assert_contains(&m.text, "Kære Søren Ærøskøbing");
    assert_contains(&m.text, "Frist:      1. marts 2027 (om 14 dage)");
    assert_contains(&m.text, "Periode:    2027");
    assert_contains(&m.text, "Henvisning: ISO 27001 A.5.1");
    assert_contains(&m.text, "ændringer sendes til høring i MED-udvalget");
    assert_contains(&m.text, LINK);
    assert_contains(&m.html, "1. marts 2027 (om 14 dage)");

    let p = composer
        .compose(&wheel, &repeat(), Some(LINK), date(2027, 3, 8))
        .unwrap();
    let m = parse(&p.raw);
    assert_eq!(
        p.subject,
        "Fristen er overskredet: Årlig gennemgang af informationssikkerhedspolitikken – frist 1. marts 2027"
    );
    assert_contains(&m.text, "Overskredet: 7 dage");
    assert_contains(&m.text, LINK);

    let e = composer
        .compose(&wheel, &escalation(), None, date(2027, 3, 15))
        .unwrap();
    let m = parse(&e.raw);
    assert_eq!(
        e.subject,
        "Eskalering: Årlig gennemgang af informationssikkerhedspolitikken – frist 1. marts 2027 er overskredet"
    );
    assert_contains(&m.text, "Kære Åse Østergård");
    assert_contains(&m.text, "du er trin 1 i opgavens eskaleringskæde");
    assert_contains(&m.text, "Overskredet: 14 dage");
    assert_contains(&m.text, "Ansvarlige:  Søren Ærøskøbing og Birthe Møller");
    assert_contains(
        &m.text,
        "  1. Åse Østergård, 14 dage efter fristen, 15. marts 2027 (denne besked)",
    );
    assert_contains(
        &m.text,
        "  2. Ulla Dahl, 30 dage efter fristen, 31. marts 2027\n",
    );
    assert!(
        !m.text.contains("/done/"),
        "no completion link on escalations: {}",
        m.text
    );
    assert!(m.html.contains(
        "<strong>Åse Østergård, 14 dage efter fristen, 15. marts 2027 (denne besked)</strong>"
    ));
}

#[test]
fn every_template_renders_in_english() {
    let wheel = wheel(Language::En);
    let composer = Composer::new(&settings()).unwrap();

    let r = composer
        .compose(&wheel, &reminder(), Some(LINK), date(2027, 2, 26))
        .unwrap();
    let m = parse(&r.raw);
    assert_eq!(
        r.subject,
        "Reminder: Årlig gennemgang af informationssikkerhedspolitikken – due 1 March 2027"
    );
    assert_contains(&m.text, "Dear Søren Ærøskøbing,");
    assert_contains(&m.text, "Due:       1 March 2027 (in 3 days)");
    assert_contains(&m.text, LINK);

    let p = composer
        .compose(&wheel, &repeat(), Some(LINK), date(2027, 3, 2))
        .unwrap();
    let m = parse(&p.raw);
    assert_eq!(
        p.subject,
        "Overdue: Årlig gennemgang af informationssikkerhedspolitikken – was due 1 March 2027"
    );
    assert_contains(&m.text, "Overdue:   1 day\n");

    let e = composer
        .compose(&wheel, &escalation(), None, date(2027, 3, 31))
        .unwrap();
    let m = parse(&e.raw);
    assert!(e.subject.starts_with("Escalation: "), "{}", e.subject);
    assert!(
        e.subject.ends_with("overdue since 1 March 2027"),
        "{}",
        e.subject
    );
    assert_contains(&m.text, "Overdue:   30 days");
    assert_contains(&m.text, "Owners:    Søren Ærøskøbing and Birthe Møller");
    assert_contains(
        &m.text,
        "  2. Ulla Dahl, 30 days after the due date, 31 March 2027\n",
    );
    assert_contains(
        &m.html,
        ">Ulla Dahl, 30 days after the due date, 31 March 2027</li>",
    );
}

#[test]
fn reminder_on_the_due_day_says_today_and_without_link_has_no_link_text() {
    let r = compose(
        Language::Da,
        &notification(Kind::Reminder, 1, "soren", &[], date(2027, 3, 1)),
        None,
    );
    let m = parse(&r.raw);
    assert_contains(&m.text, "1. marts 2027 (i dag)");
    assert!(!m.text.contains("markér den som udført"), "{}", m.text);
    assert!(!m.html.contains("<a href"), "{}", m.html);
}

#[test]
fn html_is_escaped_and_text_is_not() {
    let mut w = wheel(Language::En);
    w.tasks[0].title = "Budget <draft> & review".into();
    let composer = Composer::new(&settings()).unwrap();
    let r = composer
        .compose(&w, &reminder(), Some(LINK), date(2027, 2, 15))
        .unwrap();
    let m = parse(&r.raw);
    assert_contains(&m.text, "Task:      Budget <draft> & review");
    assert_contains(&m.html, ">Budget &lt;draft&gt; &amp; review</td>");
    // `&` is escaped in the address; `/` is not (view's formatter).
    assert_contains(
        &m.html,
        "href=\"https://arshjul.kommune.example/done/tok3n?a=1&amp;b=2\"",
    );
    assert_eq!(
        r.subject,
        "Reminder: Budget <draft> & review – due 1 March 2027"
    );
}

// ---------------------------------------------------------------------------
// What people read: greeting, paragraphs, button, escalation, Reply-To.

#[test]
fn a_person_is_greeted_by_name_with_a_comma_and_a_role_without_greeting_is_not() {
    // A personal name: "Kære Søren Ærøskøbing," and a new paragraph.
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let m = parse(&r.raw);
    assert!(
        m.text
            .starts_with("Kære Søren Ærøskøbing,\n\nDette er en påmindelse"),
        "{}",
        m.text
    );
    assert_contains(&m.html, ">Kære Søren Ærøskøbing,</p>");
    let r = compose(Language::En, &reminder(), Some(LINK));
    assert!(
        parse(&r.raw)
            .text
            .starts_with("Dear Søren Ærøskøbing,\n\nThis is a reminder"),
        "{}",
        parse(&r.raw).text
    );

    // A role in definite form with `greeting = ""`: no "Kære
    // Digitaliseringschefen"; the mail begins with the matter.
    let mut w = wheel(Language::Da);
    let soren = w.people.get_mut("soren").unwrap();
    soren.name = "Digitaliseringschefen".into();
    soren.greeting = Some(String::new());
    let composer = Composer::new(&settings()).unwrap();
    let r = composer
        .compose(&w, &reminder(), Some(LINK), date(2027, 2, 15))
        .unwrap();
    let m = parse(&r.raw);
    assert!(
        m.text.starts_with("Dette er en påmindelse om en opgave"),
        "{}",
        m.text
    );
    assert!(!m.text.contains("Kære"), "{}", m.text);
    assert!(!m.html.contains("Kære"), "{}", m.html);

    // A greeting of one's own, as written, with the comma added.
    w.people.get_mut("soren").unwrap().greeting = Some("Kære Søren".into());
    let r = composer
        .compose(&w, &reminder(), Some(LINK), date(2027, 2, 15))
        .unwrap();
    assert!(
        parse(&r.raw).text.starts_with("Kære Søren,\n\n"),
        "{}",
        parse(&r.raw).text
    );
}

#[test]
fn reminders_say_when_escalation_comes_and_to_whom_and_name_the_co_owners() {
    // Due Monday 1 March 2027; step 1 (Åse) 14 days after: Monday 15 March.
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let m = parse(&r.raw);
    // Åse gets an escalation, not a reminder: the words are the
    // escalation mail's own ("går sagen videre til").
    let when = "Hvis opgaven ikke er meldt udført inden den 15. marts 2027, \
                går sagen videre til Åse Østergård.";
    assert_contains(&m.text, when);
    assert_contains(&m.html, when);
    let co = "Du har opgaven sammen med Birthe Møller.";
    assert_contains(&m.text, co);
    assert_contains(&m.html, co);

    // The repeat on 15 March, the day step 1 goes out: the next step is
    // Ulla's, 30 days after the due date, 31 March 2027.
    let n = notification(Kind::Repeat, 2, "birthe", &[], date(2027, 3, 15));
    let m = parse(&compose(Language::En, &n, Some(LINK)).raw);
    assert_contains(
        &m.text,
        "If the task is not marked as done before 31 March 2027, \
             it is escalated to Ulla Dahl.",
    );
    assert_contains(&m.text, "You share this task with Søren Ærøskøbing.");

    // After the last step nothing more is announced.
    let n = notification(Kind::Repeat, 5, "soren", &[], date(2027, 4, 5));
    let m = parse(&compose(Language::Da, &n, Some(LINK)).raw);
    assert!(!m.text.contains("Hvis opgaven ikke"), "{}", m.text);
}

#[test]
fn the_escalation_chain_names_each_steps_real_day_off_weekends() {
    // Due Monday 1 March 2027; step 1 13 days after is Sunday 14 March
    // (sent Monday 15 March), step 2 after 26 days Saturday 27 March; Sunday
    // 28 March is Easter Day and Monday 29 March Easter Monday, so it is sent
    // Tuesday 30 March: the chain gives the days the steps go out.
    let mut w = wheel(Language::Da);
    w.tasks[0].escalate[0].after = Days(13);
    w.tasks[0].escalate[1].after = Days(26);
    let composer = Composer::new(&settings()).unwrap();
    let n = escalation();
    let r = composer.compose(&w, &n, Some(LINK), n.date).unwrap();
    let m = parse(&r.raw);
    assert_contains(
        &m.text,
        "  1. Åse Østergård, 13 dage efter fristen, 15. marts 2027 (denne besked)\n  \
             2. Ulla Dahl, 26 dage efter fristen, 30. marts 2027\n",
    );
    assert_contains(
        &m.html,
        ">Ulla Dahl, 26 dage efter fristen, 30. marts 2027</li>",
    );
}

#[test]
fn an_escalation_step_moved_off_a_weekend_is_announced_on_its_real_day() {
    // Due Monday 1 March 2027; 13 days after is Sunday 14 March, which the
    // planner moves to Monday 15 March: the reminder names the 15th.
    let mut w = wheel(Language::Da);
    w.tasks[0].escalate[0].after = Days(13);
    let composer = Composer::new(&settings()).unwrap();
    let r = composer
        .compose(&w, &reminder(), Some(LINK), date(2027, 2, 15))
        .unwrap();
    let m = parse(&r.raw);
    assert_contains(
        &m.text,
        "inden den 15. marts 2027, går sagen videre til Åse Østergård.",
    );
}

#[test]
fn an_escalation_names_the_owners_and_says_what_the_manager_can_do() {
    let r = compose(Language::Da, &escalation(), None);
    let m = parse(&r.raw);
    for line in [
        "Opgaven ligger hos Søren Ærøskøbing og Birthe Møller. Det kan du gøre:",
        "- Spørg Søren Ærøskøbing og Birthe Møller, hvordan det går med opgaven, \
         og hvornår den bliver løst.",
        "- Er opgaven allerede løst, så bed de ansvarlige om at melde den udført \
         med linket i påmindelsen; så stopper påmindelserne.",
        "Hvis opgaven ikke er meldt udført inden den 31. marts 2027, går sagen \
         videre til Ulla Dahl.",
    ] {
        assert!(m.text.contains(line), "{line:?} in {}", m.text);
        let bare = line.trim_start_matches("- ");
        assert!(m.html.contains(bare), "{bare:?} in {}", m.html);
    }
    let r = compose(Language::En, &escalation(), None);
    let m = parse(&r.raw);
    assert_contains(
        &m.text,
        "The task lies with Søren Ærøskøbing and Birthe Møller. What you can do:",
    );
}

#[test]
fn the_html_part_keeps_paragraphs_and_draws_a_button_outlook_can_show() {
    let mut w = wheel(Language::Da);
    w.tasks[0].description = Some("Første afsnit.\nAnden linje.\n\nAndet afsnit.".into());
    let composer = Composer::new(&settings()).unwrap();
    let r = composer
        .compose(&w, &reminder(), Some(LINK), date(2027, 2, 15))
        .unwrap();
    let m = parse(&r.raw);
    assert_contains(&m.text, "Første afsnit.\nAnden linje.\n\nAndet afsnit.");
    assert_contains(&m.html, ">Første afsnit.<br>\nAnden linje.</p>");
    assert_contains(&m.html, ">Andet afsnit.</p>");
    // The button is a table cell with a background colour (what Outlook
    // draws), holding the link; the same address follows as text.
    let href = "href=\"https://arshjul.kommune.example/done/tok3n?a=1&amp;b=2\"";
    assert_eq!(m.html.matches(href).count(), 2, "{}", m.html);
    let button = (m.html.find("<td align=\"center\" bgcolor=\"#0b5d1e\"")).expect("a button cell");
    let link = m.html[button..].find(href).expect("the link after it");
    assert!(
        !m.html[button..button + link].contains("</td>"),
        "the link is inside the cell: {}",
        m.html
    );
    assert_contains(&m.html, ">Markér opgaven som udført</a>");
    assert_contains(&m.html, "Virker knappen ikke, så åbn dette link:");
    // The plain part's link line is as it always was.
    assert_contains(
        &m.text,
        &format!("Når opgaven er løst, så markér den som udført her:\n{LINK}\n"),
    );
}

#[test]
fn reply_to_comes_from_the_setting_and_is_absent_without_it() {
    let r = compose(Language::Da, &reminder(), Some(LINK));
    assert!(!parse(&r.raw).has("Reply-To"));
    let mut s = settings();
    s.reply_to = Some("Årshjulskoordinator <koordinator@kommune.example>".into());
    let r = Composer::new(&s)
        .unwrap()
        .compose(
            &wheel(Language::Da),
            &reminder(),
            Some(LINK),
            date(2027, 2, 15),
        )
        .unwrap();
    assert_eq!(
        parse(&r.raw).header("Reply-To"),
        "Årshjulskoordinator <koordinator@kommune.example>"
    );
    s.reply_to = Some("koordinator at kommune".into());
    let err = Composer::new(&s).err().unwrap();
    assert!(err.to_string().contains("mail.reply_to"), "{err}");
}

#[test]
fn a_due_event_is_not_a_message() {
    let composer = Composer::new(&settings()).unwrap();
    let n = notification(Kind::Due, 0, "soren", &[], date(2027, 3, 1));
    let err = composer
        .compose(&wheel(Language::Da), &n, None, date(2027, 3, 1))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: a due date is shown by `plan` and is never sent as a message",
            n.key
        )
    );
    assert!(
        matches!(&err, MailError::Message { key, .. } if *key == n.key),
        "{err:?}"
    );
}

#[test]
fn an_unknown_person_is_an_error_naming_them() {
    let composer = Composer::new(&settings()).unwrap();
    let n = notification(Kind::Reminder, 0, "nobody", &[], date(2027, 2, 15));
    let err = composer
        .compose(&wheel(Language::Da), &n, None, date(2027, 2, 15))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: the wheel has no person \"nobody\"", n.key)
    );
    assert!(
        matches!(&err, MailError::Message { key, .. } if *key == n.key),
        "{err:?}"
    );
}

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[test]
fn an_override_directory_replaces_only_the_templates_it_has() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "da/reminder.subject.txt",
        "Husk {{ title }} senest {{ due }}\n",
    );
    let mut s = settings();
    s.templates = Some(dir.path().to_path_buf());
    let composer = Composer::new(&s).unwrap();

    let r = composer
        .compose(
            &wheel(Language::Da),
            &reminder(),
            Some(LINK),
            date(2027, 2, 15),
        )
        .unwrap();
    assert_eq!(
        r.subject,
        "Husk Årlig gennemgang af informationssikkerhedspolitikken senest 1. marts 2027"
    );
    assert!(
        parse(&r.raw).text.contains("Kære Søren Ærøskøbing"),
        "the built-in body stays"
    );
    let e = composer
        .compose(&wheel(Language::Da), &escalation(), None, date(2027, 3, 15))
        .unwrap();
    assert!(e.subject.starts_with("Eskalering: "), "{}", e.subject);
}

#[test]
fn a_syntax_error_in_an_override_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "en/repeat.txt",
        "Dear {{ recipient.name }},\n\n{% if link %}\n{{ link }}\n",
    );
    let mut s = settings();
    s.templates = Some(dir.path().to_path_buf());
    let err = Composer::new(&s)
        .err()
        .expect("a broken template is refused");
    let path = dir.path().join("en/repeat.txt").display().to_string();
    let message = err.to_string();
    assert!(matches!(err, MailError::Template(_)), "{message}");
    assert_contains(&message, &format!("{path}:4:"));
    assert_contains(&message, "syntax error");
}

#[test]
fn an_undefined_name_in_an_override_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "da/escalation.html",
        "<p>Kære {{ recipient.name }}</p>\n<p>{{ titel }}</p>\n",
    );
    let mut s = settings();
    s.templates = Some(dir.path().to_path_buf());
    let message = Composer::new(&s)
        .err()
        .expect("an undefined name is refused")
        .to_string();
    let path = dir.path().join("da/escalation.html").display().to_string();
    assert_contains(&message, &format!("{path}:2"));
    assert_contains(&message, "undefined value in `titel`");
}

// ---------------------------------------------------------------------------
// Headers.

#[test]
fn headers_identify_the_task_and_thread_the_occurrence() {
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let e = compose(Language::Da, &escalation(), None);
    let (rm, em) = (parse(&r.raw), parse(&e.raw));

    // A readable prefix, then the SHA-256 of the idempotency key.
    assert_eq!(
        r.message_id,
        format!(
            "<policy-review.2027.reminder.0.soren.{}@kommune.example>",
            sha256_hex("policy-review/2027/reminder/0/soren")
        )
    );
    assert_eq!(rm.header("Message-ID"), r.message_id);
    assert_eq!(
        em.header("Message-ID"),
        format!(
            "<policy-review.2027.escalation.1.aase.{}@kommune.example>",
            sha256_hex("policy-review/2027/escalation/1/aase")
        )
    );
    for m in [&rm, &em] {
        assert_eq!(
            m.header("In-Reply-To"),
            "<policy-review.2027@kommune.example>"
        );
        assert_eq!(
            m.header("References"),
            "<policy-review.2027@kommune.example>"
        );
        assert_eq!(m.header("X-Arshjul-Task"), "policy-review");
        assert_eq!(m.header("X-Arshjul-Period"), "2027");
        assert_eq!(m.header("Auto-Submitted"), "auto-generated");
        assert_eq!(m.header("X-Auto-Response-Suppress"), "All");
        assert_eq!(m.header("From"), "Årshjulet <arshjul@kommune.example>");
        assert!(m.has("Date"));
        assert_eq!(m.header("MIME-Version"), "1.0");
    }
    assert_eq!(rm.header("X-Arshjul-Kind"), "reminder");
    assert_eq!(em.header("X-Arshjul-Kind"), "escalation");
    assert_eq!(rm.header("To"), "Søren Ærøskøbing <soren@kommune.example>");
    assert!(!rm.has("Cc"));
    assert_eq!(em.header("To"), "Åse Østergård <aase@kommune.example>");
    assert_eq!(
        em.header("Cc"),
        "Søren Ærøskøbing <soren@kommune.example>, Birthe Møller <birthe@kommune.example>"
    );
    assert_eq!(e.to, vec!["aase@kommune.example"]);
    assert_eq!(
        e.cc,
        vec!["soren@kommune.example", "birthe@kommune.example"]
    );
}

// ---------------------------------------------------------------------------
// SMTP.

#[tokio::test]
async fn a_reminder_and_an_escalation_reach_the_smtp_server_intact() {
    let server = SmtpServer::start().await;
    let transport = smtp_transport(&server);
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let e = compose(Language::Da, &escalation(), None);

    transport.send(FROM, &recipients(&r), &r.raw).await.unwrap();
    transport.send(FROM, &recipients(&e), &e.raw).await.unwrap();

    assert_eq!(
        server.connections(),
        1,
        "the second message reuses the connection"
    );
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].from, "arshjul@kommune.example");
    assert_eq!(got[0].rcpt, vec!["soren@kommune.example"]);
    assert_eq!(
        got[1].rcpt,
        vec![
            "aase@kommune.example",
            "soren@kommune.example",
            "birthe@kommune.example"
        ]
    );

    let rm = parse(&got[0].data);
    assert_eq!(
        rm.header("Subject"),
        "Påmindelse: Årlig gennemgang af informationssikkerhedspolitikken – frist 1. marts 2027"
    );
    assert_eq!(rm.header("To"), "Søren Ærøskøbing <soren@kommune.example>");
    assert_contains(&rm.text, "ændringer sendes til høring");
    assert_contains(&rm.html, "ændringer sendes til høring");
    assert_contains(&rm.text, LINK);
    assert_eq!(rm.header("X-Arshjul-Kind"), "reminder");

    let em = parse(&got[1].data);
    assert_eq!(em.header("X-Arshjul-Kind"), "escalation");
    assert_eq!(
        em.header("Cc"),
        "Søren Ærøskøbing <soren@kommune.example>, Birthe Møller <birthe@kommune.example>"
    );
    assert_contains(&em.text, "Ansvarlige:  Søren Ærøskøbing og Birthe Møller");
    assert_eq!(rm.header("References"), em.header("References"));
    assert_eq!(rm.header("In-Reply-To"), em.header("In-Reply-To"));
    assert_ne!(rm.header("Message-ID"), em.header("Message-ID"));
}

/// A server that refuses the session (here its greeting; a wrong password
/// is the same) says nothing about the message: it waits for the server or
/// the settings to be fixed instead of failing for good.
#[tokio::test]
async fn a_5xx_before_the_message_is_temporary() {
    let server = SmtpServer::start().await;
    server.set_mode(Mode::RefuseSession);
    let err = refusal_of_reminder(&server).await;
    match &err {
        DeliveryError::Temporary(m) => assert_contains(m, "not taking mail"),
        other => panic!("expected temporary, got {other:?}"),
    }
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_550_for_the_recipient_is_permanent_and_quotes_the_server() {
    let server = SmtpServer::start().await;
    server.reject("soren@kommune.example", "550 5.1.1 No such user here");
    let err = refusal_of_reminder(&server).await;
    match &err {
        DeliveryError::Permanent(m) => assert_contains(m, "No such user here"),
        other => panic!("expected permanent, got {other:?}"),
    }
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_550_for_one_cc_fails_the_whole_escalation_permanently() {
    let server = SmtpServer::start().await;
    server.reject("birthe@kommune.example", "550 5.2.1 Mailbox disabled");
    let transport = smtp_transport(&server);
    let e = compose(Language::Da, &escalation(), None);

    let err = transport
        .send(FROM, &recipients(&e), &e.raw)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent(m) if m.contains("Mailbox disabled")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_451_is_temporary_and_quotes_the_server() {
    let server = SmtpServer::start().await;
    server.reject("soren@kommune.example", "451 4.3.0 Try again later");
    let err = refusal_of_reminder(&server).await;
    match &err {
        DeliveryError::Temporary(m) => assert_contains(m, "Try again later"),
        other => panic!("expected temporary, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_temporary() {
    let port = smtp::refusing_port().await;
    let transport = Transport::new(&smtp_settings(port, 5), None).unwrap();
    let r = compose(Language::Da, &reminder(), Some(LINK));

    let err = transport.send(FROM, &r.to, &r.raw).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Temporary(m) if m.contains(&format!("127.0.0.1:{port}"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_temporary_within_the_timeout() {
    let server = SmtpServer::start().await;
    server.set_mode(Mode::Silent);
    let transport = Transport::new(&smtp_settings(server.port(), 1), None).unwrap();
    let r = compose(Language::Da, &reminder(), Some(LINK));

    let started = Instant::now();
    let err = transport.send(FROM, &r.to, &r.raw).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, DeliveryError::Temporary(_)), "{err:?}");
    assert!(
        took >= Duration::from_millis(900),
        "gave up too early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} with timeout_secs = 1"
    );
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_slow_server_within_the_timeout_still_gets_the_message() {
    let server = SmtpServer::start().await;
    server.set_mode(Mode::Slow(Duration::from_millis(50)));
    let transport = smtp_transport(&server);
    let r = compose(Language::En, &reminder(), Some(LINK));

    transport.send(FROM, &r.to, &r.raw).await.unwrap();
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_is_temporary() {
    let server = SmtpServer::start().await;
    // Eight replies of 300 ms each make 2.4 s, over the 1 s allowed.
    server.set_mode(Mode::Slow(Duration::from_millis(300)));
    let transport = Transport::new(&smtp_settings(server.port(), 1), None).unwrap();
    let r = compose(Language::En, &reminder(), Some(LINK));

    let started = Instant::now();
    let err = transport.send(FROM, &r.to, &r.raw).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Temporary(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn after_a_timeout_the_next_message_goes_out_on_a_fresh_connection() {
    let server = SmtpServer::start().await;
    server.set_mode(Mode::Slow(Duration::from_millis(300)));
    let transport = Transport::new(&smtp_settings(server.port(), 1), None).unwrap();
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let e = compose(Language::Da, &escalation(), None);

    let err = transport.send(FROM, &r.to, &r.raw).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Temporary(_)), "{err:?}");
    server.set_mode(Mode::Normal);
    transport.send(FROM, &recipients(&e), &e.raw).await.unwrap();

    let got = server.received();
    assert_eq!(got.len(), 1, "only the second message arrived");
    assert_eq!(parse(&got[0].data).header("X-Arshjul-Kind"), "escalation");
    assert_eq!(server.connections(), 2);
}

/// lettre writes a message and its closing `.` line in two writes; the
/// server answers only after the `.`, so with Nagle's algorithm on the `.`
/// waits for the server's delayed ACK, about 40 ms a message on Linux
/// (2 s for these 50). With `TCP_NODELAY` a message takes a millisecond or
/// two on loopback.
#[tokio::test]
async fn fifty_messages_share_one_connection_without_a_nagle_stall() {
    let server = SmtpServer::start().await;
    let transport = smtp_transport(&server);
    let r = compose(Language::Da, &reminder(), Some(LINK));

    let started = Instant::now();
    for _ in 0..50 {
        transport.send(FROM, &r.to, &r.raw).await.unwrap();
    }
    let took = started.elapsed();

    assert_eq!(server.received().len(), 50);
    assert_eq!(
        server.connections(),
        1,
        "every message reuses the connection"
    );
    assert!(
        took < Duration::from_millis(1000),
        "50 messages took {took:?}: a stall on every message"
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced_before_the_next_message() {
    let server = SmtpServer::start().await;
    server.set_mode(Mode::HangUp);
    let transport = smtp_transport(&server);
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let e = compose(Language::Da, &escalation(), None);

    transport.send(FROM, &r.to, &r.raw).await.unwrap();
    transport.send(FROM, &recipients(&e), &e.raw).await.unwrap();

    assert_eq!(server.received().len(), 2);
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn an_address_that_cannot_be_used_is_permanent() {
    let server = SmtpServer::start().await;
    let transport = smtp_transport(&server);
    let r = compose(Language::Da, &reminder(), Some(LINK));

    let err = transport
        .send(FROM, &["not an address".to_string()], &r.raw)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent(m) if m.contains("not an address")),
        "{err:?}"
    );
    assert_eq!(server.connections(), 0);
}

#[test]
fn smtp_without_a_host_is_a_setup_error() {
    let mut s = settings();
    s.transport = MailTransport::Smtp;
    let err = Transport::new(&s, None).err().expect("no host is refused");
    assert!(
        matches!(&err, MailError::Setup(m) if m.contains("mail.smtp.host")),
        "{err:?}"
    );
}

#[test]
fn a_username_without_a_password_is_a_setup_error() {
    let mut s = smtp_settings(587, 5);
    s.smtp.username = Some("arshjul".into());
    let err = Transport::new(&s, None)
        .err()
        .expect("no password is refused");
    assert!(
        matches!(&err, MailError::Setup(m) if m.contains("password")),
        "{err:?}"
    );
    assert!(Transport::new(&s, Some("hemmeligt\n".into())).is_ok());
}

#[tokio::test]
async fn tls_settings_build_a_transport_without_connecting() {
    for tls in [SmtpTls::Starttls, SmtpTls::Tls] {
        let mut s = smtp_settings(587, 5);
        s.smtp.host = Some("smtp.kommune.example".into());
        s.smtp.tls = tls;
        assert!(Transport::new(&s, None).is_ok(), "{tls:?}");
    }
}

/// The test server speaks no TLS, so this shows only that each mode starts
/// as it should: `tls` with a TLS handshake (refused: the server's first
/// bytes are its plain greeting), `starttls` by asking for STARTTLS (which
/// the server does not offer). Neither sends the message.
#[tokio::test]
async fn tls_modes_start_with_tls_and_refuse_to_go_on_in_plain_text() {
    for (tls, expected) in [
        (SmtpTls::Tls, "Connection error"),
        (SmtpTls::Starttls, "STARTTLS is not supported"),
    ] {
        let server = SmtpServer::start().await;
        let mut s = smtp_settings(server.port(), 5);
        s.smtp.tls = tls;
        let transport = Transport::new(&s, None).unwrap();
        let r = compose(Language::Da, &reminder(), Some(LINK));

        let err = transport.send(FROM, &r.to, &r.raw).await.unwrap_err();
        assert!(
            matches!(&err, DeliveryError::Temporary(m) if m.contains(expected)),
            "{tls:?}: {err:?}"
        );
        assert!(server.received().is_empty(), "{tls:?}");
    }
}

// ---------------------------------------------------------------------------
// The file transport.

#[tokio::test]
async fn the_file_transport_writes_one_parseable_eml_per_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mut s = settings();
    s.dir = outbox.clone();
    let transport = Transport::new(&s, None).unwrap();
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let e = compose(Language::Da, &escalation(), None);

    transport.send(FROM, &r.to, &r.raw).await.unwrap();
    transport.send(FROM, &r.to, &r.raw).await.unwrap();
    transport.send(FROM, &recipients(&e), &e.raw).await.unwrap();

    let mut names: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected = |c: &Composed| {
        format!(
            "{}.eml",
            c.message_id.trim_start_matches('<').trim_end_matches('>')
        )
    };
    assert_eq!(
        names,
        vec![expected(&e), expected(&r)],
        "a re-send of the same message is one file, and no temporary file is left behind"
    );
    assert!(names[0].starts_with("policy-review.2027.escalation.1.aase."));
    let written = std::fs::read(outbox.join(&names[1])).unwrap();
    assert_eq!(written, r.raw);
    let m = parse(&written);
    assert_eq!(m.header("X-Arshjul-Task"), "policy-review");
    assert_eq!(m.header("X-Arshjul-Kind"), "reminder");
    assert_eq!(m.header("Subject"), r.subject);
    assert_contains(&m.text, "ændringer sendes til høring");
}

#[tokio::test]
async fn an_unwritable_mail_directory_is_temporary_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the directory should be: no permission bits
    // involved, so this fails even when the tests run as root.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "not a directory").unwrap();
    let mut s = settings();
    s.dir = blocker.join("outbox");
    let transport = Transport::new(&s, None).unwrap();
    let r = compose(Language::Da, &reminder(), Some(LINK));

    let err = transport.send(FROM, &r.to, &r.raw).await.unwrap_err();
    let shown = s.dir.display().to_string();
    assert!(
        matches!(&err, DeliveryError::Temporary(m) if m.contains(&shown)),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------
// Identities that never collide (issue 11, item 9).

/// The shipped fixture wheel with people whose keys used to collapse into
/// one Message-ID and one file name.
fn colliding_wheel() -> (Wheel, Vec<(String, String)>) {
    let long_a = format!("{}a", "p".repeat(249));
    let long_b = format!("{}b", "p".repeat(249));
    let pairs = vec![
        ("anna.b".to_string(), "anna-b".to_string()),
        ("søren".to_string(), "soren".to_string()),
        (long_a, long_b),
    ];
    let mut w = wheel(Language::Da);
    for (a, b) in &pairs {
        for key in [a, b] {
            let (k, p) = person(key, "Anna Berg", "anna@kommune.example");
            w.people.insert(k, p);
        }
    }
    (w, pairs)
}

#[tokio::test]
async fn message_ids_and_eml_files_are_distinct_for_keys_that_used_to_collide() {
    let (w, pairs) = colliding_wheel();
    let composer = Composer::new(&settings()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings();
    s.dir = dir.path().join("outbox");
    let transport = Transport::new(&s, None).unwrap();
    let mut sent = 0;
    for (a, b) in &pairs {
        let ca = composer
            .compose(
                &w,
                &notification(Kind::Reminder, 0, a, &[], date(2027, 2, 15)),
                Some(LINK),
                date(2027, 2, 15),
            )
            .unwrap();
        let cb = composer
            .compose(
                &w,
                &notification(Kind::Reminder, 0, b, &[], date(2027, 2, 15)),
                Some(LINK),
                date(2027, 2, 15),
            )
            .unwrap();
        assert_ne!(ca.message_id, cb.message_id, "{a} / {b}");
        for c in [&ca, &cb] {
            let id = &c.message_id;
            assert!(id.is_ascii() && !id.contains(' '), "{id}");
            assert!(id.len() < 200, "{id}");
            assert_eq!(parse(&c.raw).header("Message-ID"), *id);
            // Every header line stays within RFC 5322's 998 octets.
            let raw = String::from_utf8_lossy(&c.raw);
            let head = raw.split("\r\n\r\n").next().unwrap();
            assert!(head.split("\r\n").all(|l| l.len() <= 998), "{head}");
            transport.send(FROM, &c.to, &c.raw).await.unwrap();
            sent += 1;
        }
        // Stable: the same key gives the same id again.
        let again = composer
            .compose(
                &w,
                &notification(Kind::Reminder, 0, a, &[], date(2027, 2, 15)),
                Some(LINK),
                date(2027, 2, 15),
            )
            .unwrap();
        assert_eq!(again.message_id, ca.message_id);
    }
    let files = std::fs::read_dir(&s.dir).unwrap().count();
    assert_eq!(files, sent, "one file per message sent");
}

#[test]
fn thread_ids_differ_for_long_task_ids_that_differ_at_the_end() {
    let mut w = wheel(Language::Da);
    let base = w.tasks[0].clone();
    let ids = [
        format!("{}a", "t".repeat(249)),
        format!("{}b", "t".repeat(249)),
    ];
    let composer = Composer::new(&settings()).unwrap();
    let mut threads = Vec::new();
    for id in &ids {
        let mut t = base.clone();
        t.id = id.clone();
        w.tasks = vec![t];
        let mut n = reminder();
        n.task = id.clone();
        n.key = format!("{id}/2027/reminder/0/soren");
        let c = composer.compose(&w, &n, Some(LINK), n.date).unwrap();
        let m = parse(&c.raw);
        let thread = m.header("In-Reply-To");
        assert!(thread.len() < 200, "{thread}");
        threads.push(thread);
    }
    assert_ne!(threads[0], threads[1]);
}

#[tokio::test]
async fn the_file_transport_never_overwrites_a_file_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mut s = settings();
    s.dir = outbox.clone();
    let transport = Transport::new(&s, None).unwrap();
    let r = compose(Language::Da, &reminder(), Some(LINK));
    let name = format!(
        "{}.eml",
        r.message_id.trim_start_matches('<').trim_end_matches('>')
    );
    std::fs::create_dir_all(&outbox).unwrap();
    std::fs::write(outbox.join(&name), b"someone else's file").unwrap();

    let err = transport.send(FROM, &r.to, &r.raw).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent(m) if m.contains("already exists")),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(outbox.join(&name)).unwrap(),
        b"someone else's file"
    );
    let left: Vec<_> = std::fs::read_dir(&outbox).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file left behind");
}

#[test]
fn the_test_message_has_the_same_text_and_an_html_part_on_the_layout() {
    let mut s = settings();
    s.reply_to = Some("koordinator@kommune.example".into());
    let raw = arshjul::mail::test_message(&wheel(Language::Da), &s, "it@kommune.example").unwrap();
    let m = parse(&raw);
    assert_eq!(m.header("Subject"), "Test fra arshjul for Ærø Kommune");
    assert_eq!(m.header("Reply-To"), "koordinator@kommune.example");
    assert_eq!(
        m.text,
        "Dette er en testbesked fra arshjul, sendt med `arshjul mail test` for at prøve \
         forbindelsen til mailserveren.\n\n\
         Når du kan læse den, virker afsendelsen: påmindelser og eskaleringer fra \
         årshjulet for Ærø Kommune kommer frem ad samme vej.\n\n\
         Du behøver ikke at svare.\n"
    );
    assert!(
        m.html.starts_with("<!DOCTYPE html>\n<html lang=\"da\">"),
        "{}",
        m.html
    );
    assert_contains(&m.html, "<table role=\"presentation\"");
    assert_contains(&m.html, ">Du behøver ikke at svare.</p>");

    let raw = arshjul::mail::test_message(&wheel(Language::En), &settings(), "it@kommune.example")
        .unwrap();
    let m = parse(&raw);
    assert_eq!(m.header("Subject"), "Test from arshjul for Ærø Kommune");
    assert!(!m.has("Reply-To"));
    assert!(
        m.text.ends_with("There is no need to reply.\n"),
        "{}",
        m.text
    );
    assert_contains(&m.html, "<html lang=\"en\">");
}
