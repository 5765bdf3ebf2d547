//! The HTML pages of the completion link, in Danish and English: small,
//! accessible, readable on a phone, one `<style>`, no scripts. Rendered
//! from `templates/pages/` on the shared layout ([`crate::view`]), their
//! texts from `templates/{da,en}/pages.html`; every piece of text that
//! comes from the wheel, the database or the request is HTML-escaped by
//! the templates. Knows nothing of HTTP, tokens or the store.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Timelike};
use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::{context, Environment};

use crate::wheel::Language;

/// The longest note accepted, in characters (the textarea's `maxlength`).
pub const NOTE_MAX_CHARS: usize = 2000;

/// The longest "Udført af" accepted, in characters (the field's
/// `maxlength`).
pub const PERFORMED_BY_MAX_CHARS: usize = 200;

/// What the form page shows about the occurrence.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    pub organisation: &'a str,
    pub title: &'a str,
    pub period: &'a str,
    pub due: NaiveDate,
    /// The name of the recipient the link was sent to.
    pub owner: &'a str,
}

/// A recorded completion as the pages show it.
#[derive(Debug, Clone, Copy)]
pub struct Done<'a> {
    /// A person's name when the completer is in the wheel, else as recorded.
    pub by: &'a str,
    /// In the wheel's time zone.
    pub at: DateTime<Tz>,
    pub note: Option<&'a str>,
}

/// A page that explains why nothing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Forged, altered, unknown task: 404.
    NotFound,
    /// The request body was over the limit: 413.
    TooLarge,
    /// The note had this many characters, more than [`NOTE_MAX_CHARS`]: 400.
    NoteTooLong { chars: usize },
    /// The form could not be read (wrong content type, bad encoding, an
    /// upload cut off).
    BadForm,
    /// An evidence file over `evidence.max_bytes` (in MB, rounded up), or
    /// all of them over 100 MB: 413.
    EvidenceTooLarge { max_mb: u64 },
    /// "Udført af" had this many characters, more than
    /// [`PERFORMED_BY_MAX_CHARS`]: 400.
    PerformedByTooLong { chars: usize },
    /// The database did not answer: 500/503.
    Unavailable,
    /// More than this many evidence files (or form parts): 413.
    TooManyFiles { max: usize },
    /// The uploads in progress hold the memory set aside for uploads: 503.
    Busy,
}

/// The environment of the pages: the shared layout and the page templates,
/// loaded once.
fn env() -> Option<&'static Environment<'static>> {
    static ENV: OnceLock<Option<Environment<'static>>> = OnceLock::new();
    ENV.get_or_init(|| match crate::view::environment() {
        Ok(env) => Some(env),
        Err(e) => {
            tracing::error!("the built-in page templates do not load: {e}");
            None
        }
    })
    .as_ref()
}

/// Renders a page template. A built-in template that fails (a bug the
/// tests catch) gives a bare page that still says what it can, never a panic.
fn render(template: &str, ctx: Value) -> String {
    let rendered = env()
        .ok_or_else(|| "not loaded".to_string())
        .and_then(|env| {
            env.get_template(template)
                .and_then(|t| t.render(&ctx))
                .map_err(|e| e.to_string())
        });
    rendered.unwrap_or_else(|e| {
        tracing::error!("page template {template}: {e}");
        "<!doctype html>\n<title>arshjul</title>\n<p>arshjul</p>\n".to_string()
    })
}

/// One text of `{lang}/pages.html`: its macro `name` called with `args`,
/// as safe HTML (the macro escapes what it is given).
fn text(lang: Language, name: &str, args: &[Value]) -> Value {
    let source = format!("{}/pages.html", lang.code());
    let rendered = env()
        .ok_or_else(|| "not loaded".to_string())
        .and_then(|env| {
            let t = env.get_template(&source).map_err(|e| e.to_string())?;
            let captured = t.render_captured(context! {}).map_err(|e| e.to_string())?;
            (captured.state())
                .call_macro(name, args)
                .map_err(|e| e.to_string())
        });
    match rendered {
        Ok(html) => Value::from_safe_string(html),
        Err(e) => {
            tracing::error!("page text {source} {name}: {e}");
            Value::from(name)
        }
    }
}

/// The occurrence as the page templates see it.
fn occ(lang: Language, o: &Occurrence<'_>) -> Value {
    context! {
        organisation => o.organisation,
        title => o.title,
        period => o.period,
        due => lang.long_date(o.due),
        owner => o.owner,
    }
}

fn done_ctx(lang: Language, done: &Done<'_>) -> Value {
    context! {
        by => done.by,
        day => lang.long_date(done.at.date_naive()),
        time => clock(&done.at),
        note => done.note,
    }
}

/// The form page of a link not yet used: names the occurrence, offers a
/// note and one button. Submitting posts to the same URL.
pub fn confirm(lang: Language, o: &Occurrence<'_>) -> String {
    render(
        "pages/confirm.html",
        context! {
            lang => lang.code(), medium => "page", o => occ(lang, o),
            note_max => NOTE_MAX_CHARS, performed_by_max => PERFORMED_BY_MAX_CHARS,
        },
    )
}

/// The answer to a POST that recorded the completion.
pub fn recorded(lang: Language, o: &Occurrence<'_>, done: &Done<'_>) -> String {
    render(
        "pages/done.html",
        context! { lang => lang.code(), medium => "page", o => occ(lang, o), done => done_ctx(lang, done), recorded => true },
    )
}

/// A link whose occurrence is already done: says by whom and when, no button.
pub fn already_done(lang: Language, o: &Occurrence<'_>, done: &Done<'_>) -> String {
    render(
        "pages/done.html",
        context! { lang => lang.code(), medium => "page", o => occ(lang, o), done => done_ctx(lang, done), recorded => false },
    )
}

/// A genuine link past its expiry, to an occurrence not done: names the
/// organisation and the occurrence, says a fresh link comes with the next
/// message, and offers a button that asks for one now (a POST to `action`).
/// Shows the recipient's name, never an address.
pub fn expired(lang: Language, o: &Occurrence<'_>, action: &str) -> String {
    render(
        "pages/expired.html",
        context! { lang => lang.code(), medium => "page", o => occ(lang, o), action => action },
    )
}

/// A page that only tells (`pages/notice.html`).
struct Notice {
    heading: Value,
    what: Value,
    ok: bool,
    hint: Option<Value>,
    contact: Option<Value>,
}

fn notice(lang: Language, o: Option<&Occurrence<'_>>, n: Notice) -> String {
    render(
        "pages/notice.html",
        context! {
            lang => lang.code(),
            medium => "page",
            o => o.map(|o| occ(lang, o)),
            heading => n.heading,
            what => n.what,
            ok => n.ok,
            hint => n.hint,
            contact => n.contact,
        },
    )
}

/// The answer to a request for a fresh link that was recorded.
pub fn link_requested(lang: Language, o: &Occurrence<'_>) -> String {
    let args = [o.owner, o.title, o.period].map(Value::from);
    let n = Notice {
        heading: text(lang, "requested_heading", &[]),
        what: text(lang, "requested_what", &args),
        ok: true,
        hint: Some(text(lang, "requested_hint", &[])),
        contact: None,
    };
    notice(lang, Some(o), n)
}

/// A request refused because a fresh link for this recipient and occurrence
/// was asked for recently; another may be asked for in `minutes`. It never
/// says the link was sent: the request may still wait for a pass (or for
/// the brake to be let through).
pub fn link_recent(lang: Language, o: &Occurrence<'_>, minutes: i64) -> String {
    let args = [
        Value::from(o.title),
        Value::from(o.owner),
        Value::from(minutes),
    ];
    let n = Notice {
        heading: text(lang, "recent_heading", &[]),
        what: text(lang, "recent_what", &args),
        ok: false,
        hint: None,
        contact: None,
    };
    notice(lang, Some(o), n)
}

/// A request refused because many fresh links were asked for lately.
pub fn link_busy(lang: Language, o: &Occurrence<'_>, minutes: i64) -> String {
    let n = Notice {
        heading: text(lang, "busy_heading", &[]),
        what: text(lang, "busy_what", &[Value::from(minutes)]),
        ok: false,
        hint: None,
        contact: None,
    };
    notice(lang, Some(o), n)
}

/// Whom a reader of a problem page can turn to: an address that a person
/// reads (the `mail.reply_to` setting), else the organisation by name.
#[derive(Debug, Clone, Copy)]
pub enum Contact<'a> {
    Address(&'a str),
    Organisation(&'a str),
}

/// A page that says why nothing was recorded, what to do instead and whom
/// to ask.
pub fn problem(lang: Language, p: Problem, contact: Contact<'_>) -> String {
    let (name, args): (&str, Vec<Value>) = match p {
        Problem::NotFound => ("not_found", vec![]),
        Problem::TooLarge => ("too_large", vec![]),
        Problem::NoteTooLong { chars } => (
            "note_too_long",
            vec![Value::from(NOTE_MAX_CHARS), Value::from(chars)],
        ),
        Problem::BadForm => ("bad_form", vec![]),
        Problem::EvidenceTooLarge { max_mb } => ("evidence_too_large", vec![Value::from(max_mb)]),
        Problem::PerformedByTooLong { chars } => (
            "performed_by_too_long",
            vec![Value::from(PERFORMED_BY_MAX_CHARS), Value::from(chars)],
        ),
        Problem::Unavailable => ("unavailable", vec![]),
        Problem::TooManyFiles { max } => ("too_many_files", vec![Value::from(max)]),
        Problem::Busy => ("upload_busy", vec![]),
    };
    let contact = match contact {
        Contact::Address(a) => text(lang, "contact_address", &[Value::from(a)]),
        Contact::Organisation(o) => text(lang, "contact_organisation", &[Value::from(o)]),
    };
    let n = Notice {
        heading: text(lang, &format!("{name}_heading"), &[]),
        what: text(lang, &format!("{name}_text"), &args),
        ok: false,
        hint: None,
        contact: Some(contact),
    };
    notice(lang, None, n)
}

/// One task's line of the overview's status table.
#[derive(Debug, Clone)]
pub struct StatusLine {
    pub title: String,
    /// The owners' names, joined.
    pub owner: String,
    /// The task's current occurrence (its oldest not done), if any.
    pub period: Option<String>,
    pub due: Option<NaiveDate>,
    /// `overdue`, `open`, `upcoming`, `done` or `none`.
    pub state: &'static str,
    /// Days overdue (for `overdue`).
    pub days: i64,
    /// The latest completion: period, when (wheel's zone), by whom.
    pub last: Option<(String, DateTime<Tz>, String)>,
}

/// One occurrence due in the overview's next 60 days.
#[derive(Debug, Clone)]
pub struct NextLine {
    pub due: NaiveDate,
    pub title: String,
    pub period: String,
    pub owner: String,
    /// As [`StatusLine::state`].
    pub state: &'static str,
    pub days: i64,
}

/// What the overview page shows.
#[derive(Debug, Clone)]
pub struct OverviewPage {
    pub organisation: String,
    /// The name of the person the link was made for.
    pub viewer: String,
    pub today: NaiveDate,
    pub year: i32,
    /// The wheel's `<svg>` element ([`crate::picture::svg_element`]),
    /// escaped by its writer.
    pub svg: String,
    pub rows: Vec<StatusLine>,
    pub next: Vec<NextLine>,
    /// The wheel is large (its picture aggregates, without a task legend):
    /// the status table comes in groups by urgency, most pressing first,
    /// and the next 60 days folded, so the page stays light and readable.
    pub grouped: bool,
}

/// How many days ahead "due soon" looks in the overview's grouped status.
pub const SOON_DAYS: i64 = 30;

/// Which group of the grouped status table a line is in: `overdue`,
/// `soon` (open, or due within [`SOON_DAYS`] of `today`) or `rest`.
pub fn status_group(line: &StatusLine, today: NaiveDate) -> &'static str {
    match line.state {
        "overdue" => "overdue",
        "open" => "soon",
        _ if line.due.is_some_and(|d| {
            line.state != "done" && d <= today + chrono::Duration::days(SOON_DAYS)
        }) =>
        {
            "soon"
        }
        _ => "rest",
    }
}

/// The lines of the grouped status table, most pressing first: overdue
/// (longest overdue first), due soon (earliest first), the rest (earliest
/// due first, nothing planned last); the title breaks ties.
pub fn status_groups(
    rows: &[StatusLine],
    today: NaiveDate,
) -> [(&'static str, Vec<&StatusLine>); 3] {
    let mut groups = [
        ("overdue", Vec::new()),
        ("soon", Vec::new()),
        ("rest", Vec::new()),
    ];
    for r in rows {
        let g = status_group(r, today);
        if let Some((_, lines)) = groups.iter_mut().find(|(k, _)| *k == g) {
            lines.push(r);
        }
    }
    groups[0]
        .1
        .sort_by(|a, b| b.days.cmp(&a.days).then_with(|| a.title.cmp(&b.title)));
    for (_, lines) in &mut groups[1..] {
        lines.sort_by(|a, b| {
            (a.due.is_none(), a.due, &a.title).cmp(&(b.due.is_none(), b.due, &b.title))
        });
    }
    groups
}

/// The overview page: the wheel, a status table and the next 60 days.
pub fn overview(lang: Language, page: &OverviewPage) -> String {
    let line = |r: &StatusLine| {
        context! {
            title => r.title, owner => r.owner, period => r.period,
            due => r.due.map(|d| lang.long_date(d)), state => r.state, days => r.days,
            last => r.last.as_ref().map(|(period, at, by)| context! {
                period => period, day => lang.long_date(at.date_naive()), by => by,
            }),
        }
    };
    let (rows, groups): (Vec<Value>, Vec<Value>) = if page.grouped {
        let groups = status_groups(&page.rows, page.today)
            .into_iter()
            .map(|(key, lines)| {
                let rows: Vec<Value> = lines.into_iter().map(line).collect();
                context! { key => key, rows => rows }
            })
            .collect();
        (Vec::new(), groups)
    } else {
        (page.rows.iter().map(line).collect(), Vec::new())
    };
    let next: Vec<Value> = page
        .next
        .iter()
        .map(|n| {
            context! {
                due => lang.long_date(n.due), title => n.title, period => n.period,
                owner => n.owner, state => n.state, days => n.days,
            }
        })
        .collect();
    render(
        "pages/overview.html",
        context! {
            lang => lang.code(), medium => "page", wide => true,
            organisation => page.organisation, viewer => page.viewer,
            today => lang.long_date(page.today), year => page.year,
            svg => Value::from_safe_string(page.svg.clone()),
            rows => rows, groups => groups, grouped => page.grouped, next => next,
            soon_days => SOON_DAYS,
        },
    )
}

fn clock(at: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}", at.hour(), at.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn line(
        title: &str,
        state: &'static str,
        due: Option<(i32, u32, u32)>,
        days: i64,
    ) -> StatusLine {
        StatusLine {
            title: title.to_string(),
            owner: "Anna".to_string(),
            period: None,
            due: due.map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap()),
            state,
            days,
            last: None,
        }
    }

    #[test]
    fn the_grouped_status_puts_the_most_pressing_first() {
        let today = NaiveDate::from_ymd_opt(2027, 5, 10).unwrap();
        // Due on 9 June 2027 is within 30 days of 10 May; 10 June is not.
        assert_eq!(
            status_group(&line("a", "upcoming", Some((2027, 6, 9)), 0), today),
            "soon"
        );
        assert_eq!(
            status_group(&line("a", "upcoming", Some((2027, 6, 10)), 0), today),
            "rest"
        );
        assert_eq!(
            status_group(&line("a", "open", Some((2027, 7, 1)), 0), today),
            "soon"
        );
        assert_eq!(
            status_group(&line("a", "overdue", Some((2027, 1, 1)), 129), today),
            "overdue"
        );
        assert_eq!(
            status_group(&line("a", "done", Some((2027, 5, 20)), 0), today),
            "rest"
        );
        assert_eq!(status_group(&line("a", "none", None, 0), today), "rest");

        let rows = vec![
            line("nothing", "none", None, 0),
            line("later", "upcoming", Some((2027, 9, 1)), 0),
            line("a little late", "overdue", Some((2027, 5, 3)), 7),
            line("soon", "upcoming", Some((2027, 5, 31)), 0),
            line("very late", "overdue", Some((2027, 1, 1)), 129),
            line("open", "open", Some((2027, 5, 20)), 0),
            line("earlier", "upcoming", Some((2027, 8, 1)), 0),
        ];
        let groups = status_groups(&rows, today);
        let titles: Vec<(&str, Vec<&str>)> = groups
            .iter()
            .map(|(k, ls)| (*k, ls.iter().map(|l| l.title.as_str()).collect()))
            .collect();
        assert_eq!(
            titles,
            vec![
                ("overdue", vec!["very late", "a little late"]),
                ("soon", vec!["open", "soon"]),
                ("rest", vec!["earlier", "later", "nothing"]),
            ]
        );
    }

    fn occurrence() -> Occurrence<'static> {
        Occurrence {
            organisation: "Ballerup Kommune",
            title: "Årlig gennemgang af informationssikkerhedspolitikken",
            period: "2027",
            due: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
            owner: "Anna Jensen",
        }
    }

    fn done(note: Option<&'static str>) -> Done<'static> {
        Done {
            by: "Anna Jensen",
            at: chrono_tz::Europe::Copenhagen
                .with_ymd_and_hms(2027, 2, 20, 10, 12, 0)
                .unwrap(),
            note,
        }
    }

    #[test]
    fn dates_are_written_the_danish_and_the_english_way() {
        let day = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        assert_eq!(Language::Da.long_date(day), "1. marts 2027");
        assert_eq!(Language::En.long_date(day), "1 March 2027");
        let day = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap();
        assert_eq!(Language::Da.long_date(day), "31. december 2026");
    }

    #[test]
    fn the_form_page_names_the_occurrence_and_has_one_labelled_note_and_one_button() {
        let page = confirm(Language::Da, &occurrence());
        assert!(
            page.starts_with("<!DOCTYPE html>\n<html lang=\"da\">"),
            "{page}"
        );
        assert!(page.contains("<h1>Årlig gennemgang af informationssikkerhedspolitikken</h1>"));
        assert!(page.contains("<dt>Periode</dt><dd>2027</dd>"));
        assert!(page.contains("<dt>Frist</dt><dd>1. marts 2027</dd>"));
        assert!(page.contains("<dt>Ansvarlig</dt><dd>Anna Jensen</dd>"));
        assert!(page.contains("<label for=\"note\">"));
        assert!(page.contains("<textarea id=\"note\" name=\"note\" rows=\"4\" maxlength=\"2000\">"));
        assert!(page.contains("<form method=\"post\" enctype=\"multipart/form-data\">"));
        assert!(page.contains("<label for=\"performed_by\">Udført af (valgfri)</label>"));
        assert!(page.contains(
            "<input id=\"performed_by\" name=\"performed_by\" type=\"text\" maxlength=\"200\""
        ));
        assert!(page.contains("<label for=\"evidence\">Dokumentation (valgfri"));
        assert!(page.contains("<input id=\"evidence\" name=\"evidence\" type=\"file\" multiple>"));
        assert_eq!(page.matches("<button").count(), 1);
        assert!(!page.contains("<script"));
    }

    #[test]
    fn the_done_pages_say_who_and_when_and_have_no_button() {
        for page in [
            already_done(Language::En, &occurrence(), &done(None)),
            recorded(Language::En, &occurrence(), &done(None)),
        ] {
            assert!(page.contains("<html lang=\"en\">"));
            assert!(
                page.contains("by Anna Jensen on 20 February 2027 at 10:12."),
                "{page}"
            );
            assert!(!page.contains("<button"));
            assert!(!page.contains("<form"));
        }
        let page = already_done(Language::Da, &occurrence(), &done(None));
        assert!(
            page.contains("af Anna Jensen den 20. februar 2027 kl. 10:12."),
            "{page}"
        );
        assert!(page.contains("Der er ikke registreret noget nyt."));
    }

    #[test]
    fn text_from_the_wheel_the_database_and_the_request_is_escaped() {
        let o = Occurrence {
            title: "A & B <i>",
            owner: "\"Bo\" <bo@x.dk>",
            ..occurrence()
        };
        let d = Done {
            by: "<b>Eve</b>",
            note: Some("<script>alert('x')</script>"),
            ..done(None)
        };
        let page = recorded(Language::En, &o, &d);
        assert!(page.contains("A &amp; B &lt;i&gt;"));
        assert!(page.contains("&quot;Bo&quot; &lt;bo@x.dk&gt;"));
        assert!(page.contains("&lt;b&gt;Eve&lt;/b&gt;"));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("<b>"));
        let form = confirm(Language::En, &o);
        assert!(
            form.contains("<title>Mark as done: A &amp; B &lt;i&gt;</title>"),
            "{form}"
        );
    }

    #[test]
    fn the_expired_page_names_the_occurrence_and_offers_a_new_link_and_no_command() {
        let page = expired(Language::Da, &occurrence(), "abc/new-link");
        assert!(
            page.contains("<p class=\"org\">Ballerup Kommune</p>"),
            "{page}"
        );
        assert!(page.contains("<h1>Linket er udløbet</h1>"));
        assert!(page.contains(
            "Linket til »Årlig gennemgang af informationssikkerhedspolitikken« for 2027 er udløbet"
        ));
        assert!(page.contains("Du får et nyt link med næste påmindelse."));
        assert!(page.contains("<dt>Frist</dt><dd>1. marts 2027</dd>"));
        assert!(page.contains("<form method=\"post\" action=\"abc/new-link\">"));
        assert!(page.contains("<button type=\"submit\">Send mig et nyt link</button>"));
        assert!(page.contains("Det nye link sendes med e-mail til Anna Jensen."));
        for forbidden in [
            "arshjul done",
            "<code>",
            "Svar på",
            "@",
            "<textarea",
            "<script",
        ] {
            assert!(!page.contains(forbidden), "{forbidden:?} in {page}");
        }
        let page = expired(Language::En, &occurrence(), "abc/new-link");
        assert!(page.contains("<h1>This link has expired</h1>"));
        assert!(page.contains("A new link comes with the next reminder."));
        assert!(page.contains("Send me a new link</button>"));
        assert!(!page.contains("arshjul done") && !page.contains("Reply"));
    }

    #[test]
    fn the_refusal_pages_count_minutes_in_each_language() {
        let page = link_recent(Language::Da, &occurrence(), 1);
        assert!(
            page.contains("Du kan bede om endnu et link om 1 minut."),
            "{page}"
        );
        let page = link_recent(Language::En, &occurrence(), 42);
        assert!(
            page.contains("You can ask for another one in 42 minutes."),
            "{page}"
        );
        // Sent by the next pass, which the brake may hold: "usually".
        let page = link_requested(Language::Da, &occurrence());
        assert!(
            page.contains("Det kommer normalt med e-mail inden for få minutter."),
            "{page}"
        );
        // Refused while the first request may still wait for a pass: it
        // must not say the link was sent.
        let page = link_recent(Language::Da, &occurrence(), 30);
        assert!(
            page.contains("<h1>Der er allerede bedt om et nyt link</h1>"),
            "{page}"
        );
        assert!(
            page.contains("Det sendes med e-mail til Anna Jensen;"),
            "{page}"
        );
        assert!(!page.contains("har for nylig sendt"), "{page}");
        let page = link_recent(Language::En, &occurrence(), 30);
        assert!(
            page.contains("<h1>A new link was asked for recently</h1>"),
            "{page}"
        );
        assert!(!page.contains("We recently sent"), "{page}");
        let page = link_busy(Language::Da, &occurrence(), 5);
        assert!(page.contains("Prøv igen om 5 minutter."), "{page}");
    }

    #[test]
    fn the_note_too_long_page_gives_the_limit_and_the_count() {
        let page = problem(
            Language::Da,
            Problem::NoteTooLong { chars: 2001 },
            Contact::Organisation("Ballerup Kommune"),
        );
        assert!(
            page.contains("må højst være 2000 tegn; din var 2001."),
            "{page}"
        );
    }

    #[test]
    fn too_many_files_and_busy_read_in_both_languages() {
        let org = Contact::Organisation("Ballerup Kommune");
        for (lang, many, busy) in [
            (
                Language::Da,
                "Du kan højst vedhæfte 100 filer til én registrering. Intet er registreret.",
                "Der bliver sendt mange filer lige nu, så dine filer blev ikke modtaget, og intet er registreret.",
            ),
            (
                Language::En,
                "You can attach at most 100 files to one completion. Nothing was recorded.",
                "Many files are being uploaded right now, so yours were not received and nothing was recorded.",
            ),
        ] {
            let page = problem(lang, Problem::TooManyFiles { max: 100 }, org);
            assert!(page.contains(many), "{page}");
            let page = problem(lang, Problem::Busy, org);
            assert!(page.contains(busy), "{page}");
        }
    }
}
