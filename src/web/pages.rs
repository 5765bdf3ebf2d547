//! The HTML pages of the completion link, in Danish and English: small,
//! accessible, readable on a phone, inline CSS, no scripts. Every piece of
//! text that comes from the wheel, the database or the request is
//! HTML-escaped here. Knows nothing of HTTP, tokens or the store.

use chrono::{DateTime, NaiveDate, Timelike};
use chrono_tz::Tz;

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
}

fn pick(lang: Language, da: &'static str, en: &'static str) -> &'static str {
    match lang {
        Language::Da => da,
        Language::En => en,
    }
}

/// The form page of a link not yet used: names the occurrence, offers a
/// note and one button. Submitting posts to the same URL.
pub fn confirm(lang: Language, o: &Occurrence<'_>) -> String {
    let heading = pick(lang, "Markér som udført", "Mark as done");
    let body = format!(
        "<p class=\"org\">{org}</p>\n<h1>{title}</h1>\n{facts}\
         <form method=\"post\" enctype=\"multipart/form-data\">\n\
         <label for=\"performed_by\">{performed_label}</label>\n\
         <input id=\"performed_by\" name=\"performed_by\" type=\"text\" maxlength=\"{performed_max}\" autocomplete=\"name\">\n\
         <label for=\"note\">{note_label}</label>\n\
         <textarea id=\"note\" name=\"note\" rows=\"4\" maxlength=\"{max}\"></textarea>\n\
         <label for=\"evidence\">{evidence_label}</label>\n\
         <input id=\"evidence\" name=\"evidence\" type=\"file\" multiple>\n\
         <button type=\"submit\">{button}</button>\n\
         </form>\n<p class=\"hint\">{hint}</p>\n",
        org = escape(o.organisation),
        title = escape(o.title),
        facts = facts(lang, o),
        note_label = pick(lang, "Bemærkning (valgfri)", "Note (optional)"),
        max = NOTE_MAX_CHARS,
        performed_label = pick(lang, "Udført af (valgfri)", "Performed by (optional)"),
        performed_max = PERFORMED_BY_MAX_CHARS,
        evidence_label = pick(
            lang,
            "Dokumentation (valgfri, en eller flere filer)",
            "Evidence (optional, one or more files)"
        ),
        button = heading,
        hint = pick(
            lang,
            "Intet bliver registreret, før du trykker på knappen.",
            "Nothing is recorded until you press the button."
        ),
    );
    layout(lang, &format!("{heading}: {}", o.title), &body)
}

/// The answer to a POST that recorded the completion.
pub fn recorded(lang: Language, o: &Occurrence<'_>, done: &Done<'_>) -> String {
    let heading = pick(lang, "Registreret som udført", "Recorded as done");
    let body =
        format!(
        "<p class=\"org\">{org}</p>\n<h1>{heading}</h1>\n<p class=\"ok\">{what}</p>\n{facts}{note}\
         <p class=\"hint\">{hint}</p>\n",
        org = escape(o.organisation),
        what = done_sentence(lang, o, done),
        facts = facts(lang, o),
        note = note(lang, done),
        hint = pick(lang, "Tak. Du kan lukke siden.", "Thank you. You can close this page."),
    );
    layout(lang, heading, &body)
}

/// A link whose occurrence is already done: says by whom and when, no button.
pub fn already_done(lang: Language, o: &Occurrence<'_>, done: &Done<'_>) -> String {
    let heading = pick(lang, "Allerede registreret", "Already registered");
    let body = format!(
        "<p class=\"org\">{org}</p>\n<h1>{heading}</h1>\n<p>{what}</p>\n{facts}{note}\
         <p class=\"hint\">{hint}</p>\n",
        org = escape(o.organisation),
        what = done_sentence(lang, o, done),
        facts = facts(lang, o),
        note = note(lang, done),
        hint = pick(
            lang,
            "Der er ikke registreret noget nyt.",
            "Nothing new has been recorded."
        ),
    );
    layout(lang, heading, &body)
}

/// A genuine link past its expiry, to an occurrence not done: names the
/// organisation and the occurrence, says a fresh link comes with the next
/// message, and offers a button that asks for one now (a POST to `action`).
/// Shows the recipient's name, never an address.
pub fn expired(lang: Language, o: &Occurrence<'_>, action: &str) -> String {
    let heading = pick(lang, "Linket er udløbet", "This link has expired");
    let (title, period, owner) = (escape(o.title), escape(o.period), escape(o.owner));
    let what = match lang {
        Language::Da => format!(
            "Linket til «{title}» for {period} er udløbet, og intet er registreret. \
             Du får et nyt link med næste påmindelse."
        ),
        Language::En => format!(
            "The link to “{title}” for {period} has expired and nothing was recorded. \
             A new link comes with the next reminder."
        ),
    };
    let hint = match lang {
        Language::Da => format!("Det nye link sendes med e-mail til {owner}."),
        Language::En => format!("The new link is sent by e-mail to {owner}."),
    };
    let body = format!(
        "<p class=\"org\">{org}</p>\n<h1>{heading}</h1>\n<p>{what}</p>\n{facts}\
         <form method=\"post\" action=\"{action}\">\n\
         <button type=\"submit\">{button}</button>\n\
         </form>\n<p class=\"hint\">{hint}</p>\n",
        org = escape(o.organisation),
        facts = facts(lang, o),
        action = escape(action),
        button = pick(lang, "Send mig et nyt link", "Send me a new link"),
    );
    layout(lang, heading, &body)
}

/// The answer to a request for a fresh link that was recorded.
pub fn link_requested(lang: Language, o: &Occurrence<'_>) -> String {
    let heading = pick(lang, "Et nyt link er på vej", "A new link is on its way");
    let (title, period, owner) = (escape(o.title), escape(o.period), escape(o.owner));
    let what = match lang {
        Language::Da => format!(
            "Vi sender {owner} et nyt link til «{title}» for {period}. \
             Det kommer normalt med e-mail inden for få minutter."
        ),
        Language::En => format!(
            "We are sending {owner} a new link to “{title}” for {period}. \
             It usually arrives by e-mail within a few minutes."
        ),
    };
    let body = format!(
        "<p class=\"org\">{org}</p>\n<h1>{heading}</h1>\n<p class=\"ok\">{what}</p>\n{facts}\
         <p class=\"hint\">{hint}</p>\n",
        org = escape(o.organisation),
        facts = facts(lang, o),
        hint = pick(lang, "Du kan lukke siden.", "You can close this page."),
    );
    layout(lang, heading, &body)
}

/// `1 minut`, `5 minutter` / `1 minute`, `5 minutes`.
fn in_minutes(lang: Language, minutes: i64) -> String {
    match (lang, minutes == 1) {
        (Language::Da, true) => "1 minut".to_string(),
        (Language::Da, false) => format!("{minutes} minutter"),
        (Language::En, true) => "1 minute".to_string(),
        (Language::En, false) => format!("{minutes} minutes"),
    }
}

/// A request refused because a fresh link for this recipient and occurrence
/// was asked for recently; another may be asked for in `minutes`. It never
/// says the link was sent: the request may still wait for a pass (or for
/// the brake to be let through).
pub fn link_recent(lang: Language, o: &Occurrence<'_>, minutes: i64) -> String {
    let heading = pick(
        lang,
        "Der er allerede bedt om et nyt link",
        "A new link was asked for recently",
    );
    let (title, owner, wait) = (escape(o.title), escape(o.owner), in_minutes(lang, minutes));
    let what = match lang {
        Language::Da => format!(
            "Der er for nylig bedt om et nyt link til «{title}». Det sendes med e-mail \
             til {owner}; se efter e-mailen, også i uønsket post. \
             Du kan bede om endnu et link om {wait}."
        ),
        Language::En => format!(
            "A new link to “{title}” was asked for recently. It is sent by e-mail \
             to {owner}; look for the e-mail, in the junk folder too. \
             You can ask for another one in {wait}."
        ),
    };
    let body = format!(
        "<p class=\"org\">{org}</p>\n<h1>{heading}</h1>\n<p>{what}</p>\n{facts}",
        org = escape(o.organisation),
        facts = facts(lang, o),
    );
    layout(lang, heading, &body)
}

/// A request refused because many fresh links were asked for lately.
pub fn link_busy(lang: Language, o: &Occurrence<'_>, minutes: i64) -> String {
    let heading = pick(lang, "Prøv igen senere", "Please try again later");
    let wait = in_minutes(lang, minutes);
    let what = match lang {
        Language::Da => format!(
            "Der er bedt om mange nye links den seneste time, så der sendes ikke flere lige nu. \
             Prøv igen om {wait}. Du får også et nyt link med næste påmindelse."
        ),
        Language::En => format!(
            "Many new links were asked for in the last hour, so no more are sent just now. \
             Try again in {wait}. A new link also comes with the next reminder."
        ),
    };
    let body = format!(
        "<p class=\"org\">{org}</p>\n<h1>{heading}</h1>\n<p>{what}</p>\n{facts}",
        org = escape(o.organisation),
        facts = facts(lang, o),
    );
    layout(lang, heading, &body)
}

/// A page that says why nothing was recorded and what to do instead.
pub fn problem(lang: Language, p: Problem) -> String {
    let (heading, text) = match p {
        Problem::NotFound => (
            pick(lang, "Linket er ikke gyldigt", "This link is not valid"),
            pick(
                lang,
                "Linket er ufuldstændigt, ændret eller hører til en opgave, der ikke findes længere. \
                 Kopiér hele linket fra e-mailen, eller svar på e-mailen til koordinatoren.",
                "The link is incomplete, altered, or belongs to a task that no longer exists. \
                 Copy the whole link from the e-mail, or reply to the coordinator.",
            )
            .to_string(),
        ),
        Problem::TooLarge => (
            pick(lang, "For meget data", "Request too large"),
            pick(
                lang,
                "Forespørgslen var for stor, og intet er registreret.",
                "The request was too large and nothing was recorded.",
            )
            .to_string(),
        ),
        Problem::NoteTooLong { chars } => (
            pick(lang, "Bemærkningen er for lang", "The note is too long"),
            match lang {
                Language::Da => format!(
                    "En bemærkning må højst være {NOTE_MAX_CHARS} tegn; din var {chars}. \
                     Intet er registreret. Gå tilbage, forkort den, og prøv igen."
                ),
                Language::En => format!(
                    "A note may be at most {NOTE_MAX_CHARS} characters; yours had {chars}. \
                     Nothing was recorded. Go back, shorten it and try again."
                ),
            },
        ),
        Problem::BadForm => (
            pick(lang, "Formularen kunne ikke læses", "The form could not be read"),
            pick(
                lang,
                "Intet er registreret. Åbn linket igen, og brug knappen på siden.",
                "Nothing was recorded. Open the link again and use the button on the page.",
            )
            .to_string(),
        ),
        Problem::EvidenceTooLarge { max_mb } => (
            pick(lang, "Filen er for stor", "The file is too large"),
            match lang {
                Language::Da => format!(
                    "En fil må højst fylde {max_mb} MB, og filerne tilsammen højst 100 MB. \
                     Intet er registreret. Gå tilbage, og vælg mindre filer."
                ),
                Language::En => format!(
                    "A file may be at most {max_mb} MB, and all files together at most 100 MB. \
                     Nothing was recorded. Go back and choose smaller files."
                ),
            },
        ),
        Problem::PerformedByTooLong { chars } => (
            pick(lang, "Navnet er for langt", "The name is too long"),
            match lang {
                Language::Da => format!(
                    "»Udført af« må højst være {PERFORMED_BY_MAX_CHARS} tegn; dit var {chars}. \
                     Intet er registreret. Gå tilbage, forkort det, og prøv igen."
                ),
                Language::En => format!(
                    "\"Performed by\" may be at most {PERFORMED_BY_MAX_CHARS} characters; yours had {chars}. \
                     Nothing was recorded. Go back, shorten it and try again."
                ),
            },
        ),
        Problem::Unavailable => (
            pick(lang, "Prøv igen om lidt", "Please try again shortly"),
            pick(
                lang,
                "Databasen svarede ikke, og intet er registreret. Prøv igen om lidt.",
                "The database did not answer and nothing was recorded. Try again shortly.",
            )
            .to_string(),
        ),
    };
    layout(
        lang,
        heading,
        &format!("<h1>{heading}</h1>\n<p>{text}</p>\n"),
    )
}

/// The sentence that says who completed the occurrence, and when.
fn done_sentence(lang: Language, o: &Occurrence<'_>, done: &Done<'_>) -> String {
    let (title, period, by) = (escape(o.title), escape(o.period), escape(done.by));
    let (day, time) = (lang.long_date(done.at.date_naive()), clock(&done.at));
    match lang {
        Language::Da => {
            format!(
                "«{title}» for {period} er registreret som udført af {by} den {day} kl. {time}."
            )
        }
        Language::En => {
            format!("“{title}” for {period} was recorded as done by {by} on {day} at {time}.")
        }
    }
}

fn facts(lang: Language, o: &Occurrence<'_>) -> String {
    format!(
        "<dl>\n<dt>{}</dt><dd>{}</dd>\n<dt>{}</dt><dd>{}</dd>\n<dt>{}</dt><dd>{}</dd>\n</dl>\n",
        pick(lang, "Periode", "Period"),
        escape(o.period),
        pick(lang, "Frist", "Due"),
        lang.long_date(o.due),
        pick(lang, "Ansvarlig", "Owner"),
        escape(o.owner),
    )
}

fn note(lang: Language, done: &Done<'_>) -> String {
    match done.note {
        Some(text) => format!(
            "<p class=\"label\">{}</p>\n<blockquote>{}</blockquote>\n",
            pick(lang, "Bemærkning", "Note"),
            escape(text)
        ),
        None => String::new(),
    }
}

fn clock(at: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}", at.hour(), at.minute())
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;line-height:1.5;\
margin:0;padding:1rem;color:#1a1a1a;background:#fafafa}\
main{max-width:36rem;margin:0 auto;background:#fff;padding:1.25rem;border-radius:.5rem;\
border:1px solid #ddd}\
h1{font-size:1.4rem;margin:.2rem 0 1rem}\
.org{color:#555;margin:0;font-size:.95rem}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0 0 1rem}\
dt{font-weight:600}dd{margin:0}\
label,.label{display:block;font-weight:600;margin:.5rem 0 .25rem}\
input[type=text],input[type=file]{width:100%;box-sizing:border-box;font:inherit;padding:.4rem;\
border:1px solid #888;border-radius:.25rem;background:#fff}\
textarea{width:100%;box-sizing:border-box;font:inherit;padding:.5rem;border:1px solid #888;\
border-radius:.25rem}\
button{display:block;width:100%;margin-top:1rem;padding:.8rem;font:inherit;font-weight:600;\
color:#fff;background:#0b5d1e;border:0;border-radius:.35rem;cursor:pointer}\
button:focus{outline:3px solid #f2b705;outline-offset:2px}\
.ok{font-weight:600;color:#0b5d1e}.hint{color:#555;font-size:.95rem}\
blockquote{margin:0 0 1rem;padding:.5rem .75rem;border-left:4px solid #ccc;white-space:pre-wrap}";

fn layout(lang: Language, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        lang = lang.code(),
        title = escape(title),
    )
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
            page.starts_with("<!doctype html>\n<html lang=\"da\">"),
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
            "Linket til «Årlig gennemgang af informationssikkerhedspolitikken» for 2027 er udløbet"
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
        let page = problem(Language::Da, Problem::NoteTooLong { chars: 2001 });
        assert!(
            page.contains("må højst være 2000 tegn; din var 2001."),
            "{page}"
        );
    }
}
