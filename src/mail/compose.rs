//! The composer: templates (built-in, or overridden from a directory), the
//! render context of one notification, and the RFC 5322 message around it.
//!
//! # Templates
//!
//! One file per language, kind and part, named `{language}/{kind}.{part}`:
//! `da/reminder.subject.txt`, `da/reminder.txt` (plain text body) and
//! `da/reminder.html` (HTML body, autoescaped), likewise for `repeat`,
//! `escalation` and `link` (a fresh completion link an owner asked for on
//! the page of an expired one) and for `en`. The built-in files live in `templates/` at the
//! repository root and are compiled into the binary. A file of the same
//! relative name in `mail.templates` replaces the built-in one.
//!
//! Every template sees the same context (see [`Context`]), so a field is
//! never undefined for one kind and defined for another; fields that do not
//! apply are `none`. Rendering is strict: an unknown name is an error.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};
use minijinja::Environment;
use serde::Serialize;

use super::{Composed, MailError};
use crate::planner::{Kind, Notification};
use crate::settings::MailSettings;
use crate::wheel::text::{self, MAX_ID_CHARS, MAX_NAME_CHARS, MAX_SUBJECT_CHARS};
use crate::wheel::{Language, Person, Wheel};

/// The built-in templates: (relative name, source).
const BUILT_IN: &[(&str, &str)] = &[
    (
        "da/reminder.subject.txt",
        include_str!("../../templates/da/reminder.subject.txt"),
    ),
    (
        "da/reminder.txt",
        include_str!("../../templates/da/reminder.txt"),
    ),
    (
        "da/reminder.html",
        include_str!("../../templates/da/reminder.html"),
    ),
    (
        "da/repeat.subject.txt",
        include_str!("../../templates/da/repeat.subject.txt"),
    ),
    (
        "da/repeat.txt",
        include_str!("../../templates/da/repeat.txt"),
    ),
    (
        "da/repeat.html",
        include_str!("../../templates/da/repeat.html"),
    ),
    (
        "da/escalation.subject.txt",
        include_str!("../../templates/da/escalation.subject.txt"),
    ),
    (
        "da/escalation.txt",
        include_str!("../../templates/da/escalation.txt"),
    ),
    (
        "da/escalation.html",
        include_str!("../../templates/da/escalation.html"),
    ),
    (
        "en/reminder.subject.txt",
        include_str!("../../templates/en/reminder.subject.txt"),
    ),
    (
        "en/reminder.txt",
        include_str!("../../templates/en/reminder.txt"),
    ),
    (
        "en/reminder.html",
        include_str!("../../templates/en/reminder.html"),
    ),
    (
        "en/repeat.subject.txt",
        include_str!("../../templates/en/repeat.subject.txt"),
    ),
    (
        "en/repeat.txt",
        include_str!("../../templates/en/repeat.txt"),
    ),
    (
        "en/repeat.html",
        include_str!("../../templates/en/repeat.html"),
    ),
    (
        "en/escalation.subject.txt",
        include_str!("../../templates/en/escalation.subject.txt"),
    ),
    (
        "en/escalation.txt",
        include_str!("../../templates/en/escalation.txt"),
    ),
    (
        "en/escalation.html",
        include_str!("../../templates/en/escalation.html"),
    ),
    (
        "da/link.subject.txt",
        include_str!("../../templates/da/link.subject.txt"),
    ),
    ("da/link.txt", include_str!("../../templates/da/link.txt")),
    ("da/link.html", include_str!("../../templates/da/link.html")),
    (
        "en/link.subject.txt",
        include_str!("../../templates/en/link.subject.txt"),
    ),
    ("en/link.txt", include_str!("../../templates/en/link.txt")),
    ("en/link.html", include_str!("../../templates/en/link.html")),
    (
        "da/digest.subject.txt",
        include_str!("../../templates/da/digest.subject.txt"),
    ),
    (
        "da/digest.txt",
        include_str!("../../templates/da/digest.txt"),
    ),
    (
        "da/digest.html",
        include_str!("../../templates/da/digest.html"),
    ),
    (
        "en/digest.subject.txt",
        include_str!("../../templates/en/digest.subject.txt"),
    ),
    (
        "en/digest.txt",
        include_str!("../../templates/en/digest.txt"),
    ),
    (
        "en/digest.html",
        include_str!("../../templates/en/digest.html"),
    ),
    (
        "da/bundle.subject.txt",
        include_str!("../../templates/da/bundle.subject.txt"),
    ),
    (
        "da/bundle.txt",
        include_str!("../../templates/da/bundle.txt"),
    ),
    (
        "da/bundle.html",
        include_str!("../../templates/da/bundle.html"),
    ),
    (
        "en/bundle.subject.txt",
        include_str!("../../templates/en/bundle.subject.txt"),
    ),
    (
        "en/bundle.txt",
        include_str!("../../templates/en/bundle.txt"),
    ),
    (
        "en/bundle.html",
        include_str!("../../templates/en/bundle.html"),
    ),
];

const LANGUAGES: [Language; 2] = [Language::Da, Language::En];
const KINDS: [Kind; 4] = [Kind::Reminder, Kind::Repeat, Kind::Escalation, Kind::Link];

/// The three parts of one message.
#[derive(Debug, Clone, Copy)]
enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    fn suffix(self) -> &'static str {
        match self {
            Part::Subject => "subject.txt",
            Part::Text => "txt",
            Part::Html => "html",
        }
    }
}

fn template_name(language: Language, kind: Kind, part: Part) -> String {
    format!("{}/{}.{}", language.code(), kind.as_str(), part.suffix())
}

/// Renders notifications with the templates.
pub struct Composer {
    env: Environment<'static>,
    /// Where each template came from, for error messages: the override
    /// file's path, or `built-in templates/…`.
    origin: BTreeMap<String, String>,
    from: Mailbox,
    /// `Reply-To`, from `mail.reply_to`: where replies reach a person.
    reply_to: Option<Mailbox>,
    /// The domain of `from`, sanitised, for Message-IDs.
    domain: String,
}

impl Composer {
    /// Loads the built-in templates, overridden by `settings.templates` if
    /// set, and checks that every template renders (strict undefined).
    pub fn new(settings: &MailSettings) -> Result<Composer, MailError> {
        let from: Mailbox = text::mailbox(&settings.from).map_err(|e| {
            MailError::Setup(format!(
                "setting `mail.from`: {:?} cannot be used: {e}",
                settings.from
            ))
        })?;
        let domain = sanitise_domain(from.email.domain());
        let reply_to = (settings.reply_to.as_deref())
            .map(|r| {
                text::mailbox(r).map_err(|e| {
                    MailError::Setup(format!(
                        "setting `mail.reply_to`: {r:?} cannot be used: {e}"
                    ))
                })
            })
            .transpose()?;

        if let Some(dir) = settings.templates.as_deref() {
            if !dir.is_dir() {
                return Err(MailError::Setup(format!(
                    "setting `mail.templates`: {} is not a directory",
                    dir.display()
                )));
            }
            for name in unknown_overrides(dir) {
                tracing::warn!(
                    "{}: not a template name arshjul knows, so it is not used \
                     (names are like da/reminder.subject.txt, da/reminder.txt, da/reminder.html)",
                    dir.join(name).display()
                );
            }
        }

        // The shared layout and its blocks first, so each mail's HTML can
        // extend `layout.html` and import `partials/mail.html`.
        let mut env = crate::view::environment().map_err(|e| {
            MailError::Template(describe(&e, "built-in templates/layout.html", None))
        })?;
        let mut origin = BTreeMap::new();
        for (name, built_in) in BUILT_IN {
            let (source, from_where) = match settings.templates.as_deref() {
                Some(dir) => match read_override(dir, name)? {
                    Some(found) => found,
                    None => (built_in.to_string(), format!("built-in templates/{name}")),
                },
                None => (built_in.to_string(), format!("built-in templates/{name}")),
            };
            env.add_template_owned(name.to_string(), source.clone())
                .map_err(|e| MailError::Template(describe(&e, &from_where, Some(&source))))?;
            origin.insert(name.to_string(), from_where);
        }

        let composer = Composer {
            env,
            origin,
            from,
            reply_to,
            domain,
        };
        composer.check()?;
        Ok(composer)
    }

    /// Renders every template with sample contexts: once with every
    /// optional field set and once with none of them.
    fn check(&self) -> Result<(), MailError> {
        for language in LANGUAGES {
            for kind in KINDS {
                for full in [true, false] {
                    let ctx = Context::sample(language, kind, full);
                    for part in [Part::Subject, Part::Text, Part::Html] {
                        let rendered = self.render(language, kind, part, &ctx)?;
                        self.check_subject(template_name(language, kind, part), part, &rendered)?;
                    }
                }
            }
            for full in [true, false] {
                let ctx = DigestCtx::sample(language, full);
                for part in [Part::Subject, Part::Text, Part::Html] {
                    let rendered = self.render(language, Kind::Digest, part, &ctx)?;
                    let name = template_name(language, Kind::Digest, part);
                    self.check_subject(name, part, &rendered)?;
                }
            }
            for full in [true, false] {
                let ctx = BundleCtx::sample(language, full);
                for part in [Part::Subject, Part::Text, Part::Html] {
                    let rendered = self.render_name(bundle_template(language, part), &ctx)?;
                    self.check_subject(bundle_template(language, part), part, &rendered)?;
                }
            }
        }
        Ok(())
    }

    /// A subject template's sample rendering holds only what a subject
    /// may: a character written in the template itself that no subject
    /// can carry (a control character, U+202E and the other bidirectional
    /// controls) is refused at start, not in every message it would write.
    fn check_subject(&self, name: String, part: Part, rendered: &str) -> Result<(), MailError> {
        if !matches!(part, Part::Subject) {
            return Ok(());
        }
        text::one_line(&one_line(rendered), usize::MAX).map_err(|problem| {
            let origin = self.origin.get(&name).map(String::as_str).unwrap_or(&name);
            MailError::Template(format!("{origin}: the subject {problem}"))
        })
    }

    /// Renders one notification. `link` is the completion link for the
    /// addressed owner (reminders, repeats and `link` messages); on an
    /// escalation, the addressee's overview link (`/overview/{token}`),
    /// given only when every recipient may see the overview.
    /// `today` is the local date the message is written on (for "days
    /// left/overdue").
    pub fn compose(
        &self,
        wheel: &Wheel,
        n: &Notification,
        link: Option<&str>,
        today: NaiveDate,
    ) -> Result<Composed, MailError> {
        if n.kind == Kind::Digest {
            return Err(unbuildable(n, "a digest is built by compose_digest"));
        }
        if n.kind == Kind::Due {
            return Err(unbuildable(
                n,
                "a due date is shown by `plan` and is never sent as a message",
            ));
        }
        let (ctx, to, cc) = context(wheel, n, link, today)?;
        self.message(wheel.organisation.language, n, to, &cc, &ctx)
    }

    /// Renders the weekly digest `n` (kind `digest`, to the coordinator)
    /// with its content and the coordinator's overview link.
    pub fn compose_digest(
        &self,
        wheel: &Wheel,
        n: &Notification,
        digest: &Digest,
        overview: Option<&str>,
    ) -> Result<Composed, MailError> {
        let language = wheel.organisation.language;
        let to = wheel
            .person(&n.to)
            .ok_or_else(|| unbuildable(n, format!("the wheel has no person {:?}", n.to)))?;
        let ctx = DigestCtx::of(wheel, n, digest, overview, to);
        self.message(language, n, to, &[], &ctx)
    }

    /// Renders one bundle (`mail.bundle`): the notifications `parts`, all
    /// to the same To and Cc on the local day `today`, each with its link
    /// (see [`Composer::compose`]), as one mail listing every task. `key`
    /// is the bundle's idempotency key (its Message-ID is made from it);
    /// the mail threads on the addressee's thread of the day.
    pub fn compose_bundle(
        &self,
        wheel: &Wheel,
        key: &str,
        parts: &[(&Notification, Option<&str>)],
        series: BundleSeries,
        today: NaiveDate,
    ) -> Result<Composed, MailError> {
        let Some((first, _)) = parts.first() else {
            return Err(MailError::Message {
                key: key.to_string(),
                problem: "a bundle without parts".into(),
            });
        };
        let language = wheel.organisation.language;
        let mut items = Vec::with_capacity(parts.len());
        let mut heads = None;
        for (n, link) in parts {
            if matches!(n.kind, Kind::Due | Kind::Digest | Kind::Link) {
                return Err(unbuildable(
                    n,
                    "only reminders, repeats and escalations are bundled",
                ));
            }
            let (ctx, to, cc) = context(wheel, n, *link, today)?;
            heads.get_or_insert((to, cc));
            items.push(ctx);
        }
        let Some((to, cc)) = heads else {
            return Err(unbuildable(first, "a bundle without parts"));
        };
        let ctx = BundleCtx {
            lang: language.code(),
            medium: "mail",
            organisation: wheel.organisation.name.clone(),
            count: items.len(),
            number: series.number,
            of: series.of,
            total: series.total,
            offset: series.offset,
            today: language.long_date(today),
            recipient: PersonCtx::of(to),
            greeting: greeting(language, &to.name, to.greeting.as_deref()),
            items,
        };
        let subject = one_line(&self.render_name(bundle_template(language, Part::Subject), &ctx)?);
        text::one_line(&subject, MAX_SUBJECT_CHARS)
            .map_err(|p| unbuildable(first, format!("the subject {p}")))?;
        let text = self.render_name(bundle_template(language, Part::Text), &ctx)?;
        let html = self.render_name(bundle_template(language, Part::Html), &ctx)?;
        let person = &first.to;
        let message_id = format!(
            "<bundle.{today}.{}.{}@{}>",
            readable(person, READABLE_PERSON),
            hex_sha256(key),
            self.domain
        );
        let thread = format!(
            "<day.{today}.{}.{}@{}>",
            readable(person, READABLE_PERSON),
            &hex_sha256(person)[..16],
            self.domain
        );
        self.assemble(
            first,
            Envelope {
                to,
                cc: &cc,
                subject,
                message_id,
                thread,
                own_headers: &[("X-Arshjul-Kind", "bundle")],
            },
            text,
            html,
        )
    }

    /// The rendered, checked message of `n` from its template context.
    fn message(
        &self,
        language: Language,
        n: &Notification,
        to: &Person,
        cc: &[&Person],
        ctx: &impl Serialize,
    ) -> Result<Composed, MailError> {
        let subject = one_line(&self.render(language, n.kind, Part::Subject, ctx)?);
        // What lettre is handed must be what it can encode: checked here
        // rather than trusted, so a bad value fails this message, not the pass.
        text::one_line(&subject, MAX_SUBJECT_CHARS)
            .map_err(|p| unbuildable(n, format!("the subject {p}")))?;
        for (what, value) in [("task id", &n.task), ("period", &n.period)] {
            text::one_line(value, MAX_ID_CHARS)
                .map_err(|p| unbuildable(n, format!("the {what} {p}")))?;
        }
        let text = self.render(language, n.kind, Part::Text, ctx)?;
        let html = self.render(language, n.kind, Part::Html, ctx)?;

        let message_id = message_id(n, &self.domain);
        let thread = thread_id(&n.task, &n.period, &self.domain);

        self.assemble(
            n,
            Envelope {
                to,
                cc,
                subject,
                message_id,
                thread,
                own_headers: &[
                    ("X-Arshjul-Task", &n.task),
                    ("X-Arshjul-Period", &n.period),
                    ("X-Arshjul-Kind", n.kind.as_str()),
                ],
            },
            text,
            html,
        )
    }

    /// The message itself: From, To, Cc, Reply-To, the subject and ids of
    /// `envelope`, its own `X-Arshjul-*` headers, the guards against
    /// automatic replies, and the text and HTML parts. `n` names the
    /// message when lettre refuses it.
    fn assemble(
        &self,
        n: &Notification,
        envelope: Envelope<'_>,
        text: String,
        html: String,
    ) -> Result<Composed, MailError> {
        let Envelope {
            to,
            cc,
            subject,
            message_id,
            thread,
            own_headers,
        } = envelope;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(mailbox(to)?)
            .subject(subject.clone())
            .message_id(Some(message_id.clone()))
            .in_reply_to(thread.clone())
            .references(thread);
        for (name, value) in own_headers {
            builder = builder.raw_header(header(name, value));
        }
        builder = builder
            .raw_header(header("Auto-Submitted", "auto-generated"))
            // Exchange ignores Auto-Submitted; this keeps out-of-office
            // replies from flooding the sender's mailbox.
            .raw_header(header("X-Auto-Response-Suppress", "All"));
        for person in cc {
            builder = builder.cc(mailbox(person)?);
        }
        if let Some(reply_to) = &self.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| unbuildable(n, format!("cannot build the message: {e}")))?;

        Ok(Composed {
            message_id,
            to: vec![to.email.clone()],
            cc: cc.iter().map(|p| p.email.clone()).collect(),
            subject,
            raw: message.formatted(),
        })
    }

    fn render(
        &self,
        language: Language,
        kind: Kind,
        part: Part,
        ctx: &impl Serialize,
    ) -> Result<String, MailError> {
        self.render_name(template_name(language, kind, part), ctx)
    }

    fn render_name(&self, name: String, ctx: &impl Serialize) -> Result<String, MailError> {
        let origin = self
            .origin
            .get(&name)
            .map(String::as_str)
            .unwrap_or(name.as_str());
        let template = self
            .env
            .get_template(&name)
            .map_err(|e| MailError::Template(describe(&e, origin, None)))?;
        template
            .render(ctx)
            .map_err(|e| MailError::Template(describe(&e, origin, Some(template.source()))))
    }
}

/// Reads `dir/name` if it exists: (source, path for messages).
fn read_override(dir: &Path, name: &str) -> Result<Option<(String, String)>, MailError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(source) => Ok(Some((source, path.display().to_string()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MailError::Template(format!(
            "{}: cannot read the template: {e}",
            path.display()
        ))),
    }
}

/// Files in an override directory (top level and one level down) that do
/// not replace any template, as relative names: most likely misspelt.
fn unknown_overrides(dir: &Path) -> Vec<String> {
    let mut unknown = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return unknown;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            let Ok(inner) = std::fs::read_dir(&path) else {
                continue;
            };
            for file in inner.flatten() {
                let file_name = file.file_name().to_string_lossy().into_owned();
                let relative = format!("{name}/{file_name}");
                if !file_name.starts_with('.') && !BUILT_IN.iter().any(|(n, _)| *n == relative) {
                    unknown.push(relative);
                }
            }
        } else {
            unknown.push(name);
        }
    }
    unknown.sort();
    unknown
}

/// `origin:line: what went wrong`, from a minijinja error.
/// `source` is the template's text, to quote the offending expression.
fn describe(e: &minijinja::Error, origin: &str, source: Option<&str>) -> String {
    let mut what = e.kind().to_string();
    if let Some(detail) = e.detail() {
        what = format!("{what}: {detail}");
    }
    // A syntax error's range is where parsing stopped, which is rarely
    // where the mistake is; quote only errors about an expression.
    let quoted = (e.kind() != minijinja::ErrorKind::SyntaxError)
        .then(|| e.range())
        .flatten()
        .and_then(|r| source?.get(r))
        .map(|q| q.trim())
        .filter(|q| !q.is_empty() && q.len() <= 80 && !q.contains('\n'));
    if let Some(q) = quoted {
        what = format!("{what} in `{q}`");
    }
    // An error inside an included template names that template, not ours.
    let place = match (e.name(), e.line()) {
        (Some(name), Some(line)) if origin.ends_with(name) => format!("{origin}:{line}"),
        (Some(name), Some(line)) => format!("{origin}: in {name}:{line}"),
        (_, Some(line)) => format!("{origin}:{line}"),
        _ => origin.to_string(),
    };
    format!("template {place}: {what}")
}

/// A person as templates see them.
#[derive(Debug, Clone, Serialize)]
struct PersonCtx {
    name: String,
    email: String,
}

impl PersonCtx {
    fn of(p: &Person) -> PersonCtx {
        PersonCtx {
            name: p.name.clone(),
            email: p.email.clone(),
        }
    }
}

/// One step of the escalation chain as templates see it.
#[derive(Debug, Clone, Serialize)]
struct StepCtx {
    /// 1 = first step.
    level: u32,
    /// Days after the due date.
    after_days: u32,
    name: String,
    email: String,
    /// The day this step is sent, in the language's long form.
    date: String,
    /// Whether this message is this step's.
    current: bool,
}

/// What every template can use. Dates are in the language's own long form
/// (`1. marts 2027`, `1 March 2027`); `due_iso` is `2027-03-01`.
#[derive(Debug, Clone, Serialize)]
struct Context {
    /// The language's code, `da` or `en` (the layout's `lang`).
    lang: &'static str,
    /// Always `mail`: the layout draws tables with inline styles.
    medium: &'static str,
    organisation: String,
    /// `reminder`, `repeat`, `escalation` or `link` (a fresh link asked for).
    kind: &'static str,
    task_id: String,
    title: String,
    period: String,
    due: String,
    due_iso: String,
    today: String,
    /// Days from today to the due date (negative once overdue).
    days_left: i64,
    /// Days from the due date to today (negative before it).
    days_overdue: i64,
    description: Option<String>,
    reference: Option<String>,
    /// The completion link: on owners' reminders and repeats, and always on
    /// a `link` message.
    link: Option<String>,
    /// The overview link of the addressee (`/overview/{token}`): on an
    /// escalation whose every recipient may see the overview
    /// (`planner::overview_reader`); `none` otherwise.
    overview: Option<String>,
    recipient: PersonCtx,
    /// The opening, without its comma: `Kære Anne Hansen` / `Dear Anne
    /// Hansen`, the person's own `greeting`, or `none` (a role).
    greeting: Option<String>,
    owners: Vec<PersonCtx>,
    /// The other owners of the task than the one the message is meant
    /// for, joined for prose; `none` when there are none.
    co_owners: Option<String>,
    /// The next escalation step after today, if any: who is told, and the
    /// day (so a reminder can say "if not done before …, … is told").
    next_escalation: Option<NextStepCtx>,
    /// The owners' names joined for prose: `A, B og C` / `A, B and C`.
    owner_names: String,
    /// Reminder: index in `remind`; repeat: n (1 = first); escalation: level.
    step: u32,
    /// The escalation level (1 = first step); `none` unless an escalation.
    level: Option<u32>,
    chain: Vec<StepCtx>,
    /// Set when the recipient is a deputy: the person away they stand in
    /// for; `none` otherwise.
    on_behalf: Option<AwayCtx>,
    /// People copied who are away, whose deputies are copied too.
    away_owners: Vec<AwayCtx>,
}

/// The next escalation step, as templates see it.
#[derive(Debug, Clone, Serialize)]
struct NextStepCtx {
    /// The day it is sent, in the language's long form.
    date: String,
    name: String,
}

/// Someone away and their deputy, as templates see them.
#[derive(Debug, Clone, Serialize)]
struct AwayCtx {
    /// The person away.
    name: String,
    email: String,
    /// Their last day away, in the language's long form.
    until: String,
    /// The deputy's name.
    deputy: String,
}

impl AwayCtx {
    fn of<'w>(
        s: &crate::planner::Standing,
        person: &impl Fn(&str) -> Result<&'w Person, MailError>,
        language: Language,
    ) -> Result<AwayCtx, MailError> {
        let away = person(&s.person)?;
        Ok(AwayCtx {
            name: away.name.clone(),
            email: away.email.clone(),
            until: language.long_date(s.until),
            deputy: person(&s.deputy)?.name.clone(),
        })
    }
}

impl Context {
    /// A plausible context for checking templates at start-up. `full`: every
    /// optional field set, else none of them.
    fn sample(language: Language, kind: Kind, full: bool) -> Context {
        let due = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap_or_default();
        let today = match kind {
            Kind::Reminder | Kind::Due => NaiveDate::from_ymd_opt(2027, 2, 15),
            Kind::Repeat => NaiveDate::from_ymd_opt(2027, 3, 8),
            Kind::Escalation => NaiveDate::from_ymd_opt(2027, 3, 15),
            Kind::Link => NaiveDate::from_ymd_opt(2027, 9, 6),
            Kind::Digest => NaiveDate::from_ymd_opt(2027, 3, 1),
        }
        .unwrap_or_default();
        let owner = PersonCtx {
            name: "Søren Ærø".into(),
            email: "soren@example.dk".into(),
        };
        let chief = PersonCtx {
            name: "Åse Øster".into(),
            email: "aase@example.dk".into(),
        };
        Context {
            lang: language.code(),
            medium: "mail",
            organisation: "Eksempel Kommune".into(),
            kind: kind.as_str(),
            task_id: "policy-review".into(),
            title: "Gennemgang af informationssikkerhedspolitik".into(),
            period: "2027".into(),
            due: language.long_date(due),
            due_iso: due.to_string(),
            today: language.long_date(today),
            days_left: (due - today).num_days(),
            days_overdue: (today - due).num_days(),
            description: full.then(|| "Politikken gennemgås & godkendes <årligt>.".into()),
            reference: full.then(|| "ISO 27001 A.5.1".into()),
            link: (kind == Kind::Link || (full && kind != Kind::Escalation))
                .then(|| "https://arshjul.example.dk/done/abc?x=1&y=2".into()),
            overview: (full && kind == Kind::Escalation)
                .then(|| "https://arshjul.example.dk/overview/abc?x=1&y=2".into()),
            recipient: if kind == Kind::Escalation {
                chief.clone()
            } else {
                owner.clone()
            },
            owner_names: owner.name.clone(),
            greeting: full
                .then(|| greeting(language, &owner.name, None))
                .flatten(),
            co_owners: full.then(|| "Bo Berg".into()),
            next_escalation: full.then(|| NextStepCtx {
                date: language.long_date(due + chrono::Duration::days(14)),
                name: chief.name.clone(),
            }),
            owners: vec![owner],
            step: 1,
            level: (kind == Kind::Escalation).then_some(1),
            chain: if full || kind == Kind::Escalation {
                vec![StepCtx {
                    level: 1,
                    after_days: 14,
                    date: language.long_date(due + chrono::Duration::days(14)),
                    name: chief.name,
                    email: chief.email,
                    current: kind == Kind::Escalation,
                }]
            } else {
                Vec::new()
            },
            on_behalf: full.then(|| AwayCtx {
                name: "Anna Hansen".into(),
                email: "anna@example.dk".into(),
                until: language.long_date(due),
                deputy: "Bo Berg".into(),
            }),
            away_owners: if full && kind == Kind::Escalation {
                vec![AwayCtx {
                    name: "Søren Ærø".into(),
                    email: "soren@example.dk".into(),
                    until: language.long_date(due),
                    deputy: "Bo Berg".into(),
                }]
            } else {
                Vec::new()
            },
        }
    }
}

fn bundle_template(language: Language, part: Part) -> String {
    format!("{}/bundle.{}", language.code(), part.suffix())
}

/// The addressing and ids of one mail, for [`Composer::assemble`].
struct Envelope<'a> {
    to: &'a Person,
    cc: &'a [&'a Person],
    subject: String,
    message_id: String,
    thread: String,
    /// This mail's `X-Arshjul-*` headers, in order.
    own_headers: &'a [(&'static str, &'a str)],
}

/// Where a bundle stands among the bundles one recipient set gets in one
/// pass: a day's tasks beyond [`BUNDLE_MAX_PARTS`] go in several mails,
/// so that none is so long that mail clients clip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleSeries {
    /// This mail's number, from 1.
    pub number: usize,
    /// How many mails the day's tasks go in.
    pub of: usize,
    /// The day's tasks in all the mails.
    pub total: usize,
    /// The tasks in the mails before this one.
    pub offset: usize,
}

impl BundleSeries {
    /// A bundle that is the only one: all `count` tasks in one mail.
    pub fn one(count: usize) -> BundleSeries {
        BundleSeries {
            number: 1,
            of: 1,
            total: count,
            offset: 0,
        }
    }
}

/// The most tasks one bundle lists: about 2.5 kB of mail each (a button
/// in HTML and a link in text), so a bundle stays under the 102 kB at
/// which Gmail clips a message and hides the rest. A day's tasks beyond it
/// go in several bundles of about equal size ([`BundleSeries`]).
pub const BUNDLE_MAX_PARTS: usize = 25;

/// What a bundle's templates see: the addressee, and one item per task
/// with every field a single message's template has (`items[i].kind`,
/// `.title`, `.due`, `.link`, `.overview`, …).
#[derive(Debug, Clone, Serialize)]
struct BundleCtx {
    lang: &'static str,
    medium: &'static str,
    organisation: String,
    /// How many tasks this mail lists (at least 2).
    count: usize,
    /// This mail's number among the day's bundles to these recipients
    /// (from 1), how many there are, how many tasks they list in all, and
    /// how many the ones before this one list (number the items from
    /// `offset + 1`). `of` is 1 unless the day has more than
    /// [`BUNDLE_MAX_PARTS`] tasks.
    number: usize,
    of: usize,
    total: usize,
    offset: usize,
    today: String,
    recipient: PersonCtx,
    greeting: Option<String>,
    items: Vec<Context>,
}

impl BundleCtx {
    fn sample(language: Language, full: bool) -> BundleCtx {
        let items: Vec<Context> = [Kind::Reminder, Kind::Repeat, Kind::Escalation]
            .into_iter()
            .map(|k| Context::sample(language, k, full))
            .collect();
        // The full sample is the second of three mails of a day.
        let (number, of, total, offset) = if full {
            (2, 3, 3 * items.len(), items.len())
        } else {
            (1, 1, items.len(), 0)
        };
        BundleCtx {
            lang: language.code(),
            medium: "mail",
            organisation: "Eksempel Kommune".into(),
            count: items.len(),
            number,
            of,
            total,
            offset,
            today: language.long_date(NaiveDate::from_ymd_opt(2027, 3, 8).unwrap_or_default()),
            recipient: items[0].recipient.clone(),
            greeting: items[0].greeting.clone(),
            items,
        }
    }
}

/// What the weekly digest lists; the engine gathers it, the planner
/// decides when it is due ([`crate::planner::digest_at`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Digest {
    /// Occurrences overdue now, oldest due first.
    pub overdue: Vec<DigestLine>,
    /// Occurrences not done, due from today to 30 days after.
    pub upcoming: Vec<DigestLine>,
    /// Completions recorded in the ISO week before the digest's week.
    pub done: Vec<DigestDone>,
    /// The local date the digest is written on.
    pub today: NaiveDate,
}

/// One occurrence in the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestLine {
    pub title: String,
    pub period: String,
    pub due: NaiveDate,
    /// The owners' names, joined for prose.
    pub owner: String,
    /// Days overdue (0 unless overdue).
    pub days: i64,
}

/// One completion in the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestDone {
    pub title: String,
    pub period: String,
    /// The local day it was done.
    pub on: NaiveDate,
    /// A person's name, or as recorded.
    pub by: String,
}

#[derive(Debug, Clone, Serialize)]
struct DigestLineCtx {
    title: String,
    period: String,
    due: String,
    owner: String,
    days: i64,
}

#[derive(Debug, Clone, Serialize)]
struct DigestDoneCtx {
    title: String,
    period: String,
    on: String,
    by: String,
}

/// The most lines each list of the digest shows: a wheel with hundreds of
/// overdue occurrences made a mail of hundreds of kilobytes (mail clients
/// clip long mails, e.g. Gmail beyond 102 kB); the rest are counted and
/// the overview link shows them all.
pub const DIGEST_LIST_MAX: usize = 50;

/// What the digest templates can use.
#[derive(Debug, Clone, Serialize)]
struct DigestCtx {
    lang: &'static str,
    medium: &'static str,
    organisation: String,
    /// The ISO week number and its year (`2027-W02`: 2, 2027).
    week: u32,
    year: i32,
    today: String,
    recipient: PersonCtx,
    greeting: Option<String>,
    /// Each list's first [`DIGEST_LIST_MAX`] lines; `*_total` counts
    /// them all, `*_more` those left out.
    overdue: Vec<DigestLineCtx>,
    overdue_total: usize,
    overdue_more: usize,
    upcoming: Vec<DigestLineCtx>,
    upcoming_total: usize,
    upcoming_more: usize,
    done: Vec<DigestDoneCtx>,
    done_total: usize,
    done_more: usize,
    /// The coordinator's overview link.
    overview: Option<String>,
}

impl DigestCtx {
    fn of(
        wheel: &Wheel,
        n: &Notification,
        d: &Digest,
        overview: Option<&str>,
        to: &Person,
    ) -> DigestCtx {
        use chrono::Datelike;
        let language = wheel.organisation.language;
        let line = |l: &DigestLine| DigestLineCtx {
            title: l.title.clone(),
            period: l.period.clone(),
            due: language.long_date(l.due),
            owner: l.owner.clone(),
            days: l.days,
        };
        let week = n.due.iso_week();
        DigestCtx {
            lang: language.code(),
            medium: "mail",
            organisation: wheel.organisation.name.clone(),
            week: week.week(),
            year: week.year(),
            today: language.long_date(d.today),
            recipient: PersonCtx::of(to),
            greeting: greeting(language, &to.name, to.greeting.as_deref()),
            overdue: d.overdue.iter().take(DIGEST_LIST_MAX).map(line).collect(),
            overdue_total: d.overdue.len(),
            overdue_more: d.overdue.len().saturating_sub(DIGEST_LIST_MAX),
            upcoming: d.upcoming.iter().take(DIGEST_LIST_MAX).map(line).collect(),
            upcoming_total: d.upcoming.len(),
            upcoming_more: d.upcoming.len().saturating_sub(DIGEST_LIST_MAX),
            done_total: d.done.len(),
            done_more: d.done.len().saturating_sub(DIGEST_LIST_MAX),
            done: d
                .done
                .iter()
                .take(DIGEST_LIST_MAX)
                .map(|c| DigestDoneCtx {
                    title: c.title.clone(),
                    period: c.period.clone(),
                    on: language.long_date(c.on),
                    by: c.by.clone(),
                })
                .collect(),
            overview: overview.map(str::to_string),
        }
    }

    fn sample(language: Language, full: bool) -> DigestCtx {
        let day = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap_or_default();
        let line = DigestLineCtx {
            title: "Gennemgang af informationssikkerhedspolitik".into(),
            period: "2027".into(),
            due: language.long_date(day),
            owner: "Søren Ærø".into(),
            days: 3,
        };
        DigestCtx {
            lang: language.code(),
            medium: "mail",
            organisation: "Eksempel Kommune".into(),
            week: 9,
            year: 2027,
            today: language.long_date(day),
            recipient: PersonCtx {
                name: "Åse Øster".into(),
                email: "aase@example.dk".into(),
            },
            greeting: full
                .then(|| greeting(language, "Åse Øster", None))
                .flatten(),
            overdue: if full { vec![line.clone()] } else { Vec::new() },
            overdue_total: if full { 61 } else { 0 },
            overdue_more: if full { 60 } else { 0 },
            upcoming: if full { vec![line] } else { Vec::new() },
            upcoming_total: usize::from(full),
            upcoming_more: 0,
            done_total: if full { 52 } else { 0 },
            done_more: if full { 51 } else { 0 },
            done: if full {
                vec![DigestDoneCtx {
                    title: "Awareness <træning> & test".into(),
                    period: "2027-Q1".into(),
                    on: language.long_date(day),
                    by: "Bo Berg".into(),
                }]
            } else {
                Vec::new()
            },
            overview: full.then(|| "https://arshjul.example.dk/overview/abc?x=1&y=2".into()),
        }
    }
}

/// The opening of a message to `name`, without its comma: the person's
/// own `greeting` as written, none for `Some("")`, else `Kære {name}` /
/// `Dear {name}`.
fn greeting(language: Language, name: &str, own: Option<&str>) -> Option<String> {
    match own {
        Some("") => None,
        Some(own) => Some(own.to_string()),
        None => Some(match language {
            Language::Da => format!("Kære {name}"),
            Language::En => format!("Dear {name}"),
        }),
    }
}

/// Names joined for prose: `A`, `A og B`, `A, B og C` (English: `and`).
fn join_names<'a>(language: Language, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    let and = match language {
        Language::Da => "og",
        Language::En => "and",
    };
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} {and} {last}", rest.join(", ")),
    }
}

/// Collapses a rendered subject to one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How much of the task id and the recipient's key a Message-ID shows,
/// so that its length is bounded whatever the wheel holds.
const READABLE_TASK: usize = 40;
const READABLE_PERSON: usize = 32;

/// The Message-ID of a notification: a readable prefix (task, period,
/// kind, step, recipient, shortened and reduced to `[A-Za-z0-9-]`) and the
/// SHA-256 of the idempotency key in hex. The hash makes it injective in
/// the key (`anna.b` and `anna-b`, `søren` and `soren`, two long keys that
/// differ at the end all get different ids) and stable (same key, same
/// id, so a re-send after a crash carries the id of the first attempt).
/// ASCII only, no spaces, at most 64 + 40 + 32 + a few octets before `@`.
fn message_id(n: &Notification, domain: &str) -> String {
    format!(
        "<{}.{}.{}.{}.{}.{}@{domain}>",
        readable(&n.task, READABLE_TASK),
        readable(&n.period, READABLE_TASK),
        n.kind.as_str(),
        n.step,
        readable(&n.to, READABLE_PERSON),
        hex_sha256(&n.key),
    )
}

/// The id every message about one occurrence refers to. Task ids are
/// `[a-z0-9-]` and period keys contain no dot, so `<task.period@domain>`
/// is already injective in (task, period) and is kept as it always was
/// (threads started before this rule go on); a pair too long for a
/// readable header gets a shortened prefix and the SHA-256 of
/// `task/period`, with one dot more, so the two forms never meet.
fn thread_id(task: &str, period: &str, domain: &str) -> String {
    let plain =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if plain(task) && plain(period) && task.len() + period.len() <= READABLE_TASK * 2 {
        format!("<{task}.{period}@{domain}>")
    } else {
        format!(
            "<{}.{}.{}@{domain}>",
            readable(task, READABLE_TASK),
            readable(period, READABLE_TASK),
            hex_sha256(&format!("{task}/{period}"))
        )
    }
}

/// At most `max` characters of `s`, each outside `[A-Za-z0-9-]` made `-`:
/// for people to read only; identity comes from the hash beside it.
fn readable(s: &str, max: usize) -> String {
    let out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if out.is_empty() {
        "-".into()
    } else {
        out
    }
}

fn hex_sha256(s: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `c` is RFC 5322 `atext`.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// One Message-ID component as a single atom: every other character,
/// dots included, becomes `-`, so the dot-separated id stays a dot-atom.
fn atom(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| if is_atext(c) { c } else { '-' })
        .collect();
    if out.is_empty() {
        "-".into()
    } else {
        out
    }
}

/// The right-hand side of a Message-ID: a dot-atom made from the domain.
fn sanitise_domain(domain: &str) -> String {
    let parts: Vec<String> = domain
        .split('.')
        .filter(|p| !p.is_empty())
        .map(atom)
        .collect();
    if parts.is_empty() {
        "localhost".into()
    } else {
        parts.join(".")
    }
}

/// The error of a message that cannot be built, named by its key.
fn unbuildable(n: &Notification, problem: impl Into<String>) -> MailError {
    MailError::Message {
        key: n.key.clone(),
        problem: problem.into(),
    }
}

/// A person as a `To` or `Cc` mailbox, refused (not handed to lettre) when
/// the name or address could not be written into a header.
fn mailbox(p: &Person) -> Result<Mailbox, MailError> {
    text::one_line(&p.name, MAX_NAME_CHARS)
        .map_err(|e| MailError::Template(format!("person {:?}: the name {e}", p.key)))?;
    let address: Address = text::address(&p.email).map_err(|e| {
        MailError::Template(format!(
            "person {:?}: {:?} is not an e-mail address: {e}",
            p.key, p.email
        ))
    })?;
    Ok(Mailbox::new(Some(p.name.clone()), address))
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

/// The template context of `n`, and its To and Cc as the wheel has them.
/// Every person it names must be in the wheel.
fn context<'w>(
    wheel: &'w Wheel,
    n: &Notification,
    link: Option<&str>,
    today: NaiveDate,
) -> Result<(Context, &'w Person, Vec<&'w Person>), MailError> {
    let task = wheel
        .task(&n.task)
        .ok_or_else(|| unbuildable(n, format!("the wheel has no task {:?}", n.task)))?;
    let language = wheel.organisation.language;
    let person = |key: &str| {
        wheel
            .person(key)
            .ok_or_else(|| unbuildable(n, format!("the wheel has no person {key:?}")))
    };
    let to = person(&n.to)?;
    let cc =
        n.cc.iter()
            .map(|k| person(k))
            .collect::<Result<Vec<_>, _>>()?;
    let owners = task
        .owners
        .iter()
        .map(|k| person(k))
        .collect::<Result<Vec<_>, _>>()?;
    let days = crate::planner::escalation_days(wheel, task, n.due);
    let chain = task
        .escalate
        .iter()
        .zip(&days)
        .enumerate()
        .map(|(i, (step, day))| {
            let p = person(&step.to)?;
            let level = u32::try_from(i + 1).unwrap_or(u32::MAX);
            Ok(StepCtx {
                level,
                after_days: step.after.0,
                date: language.long_date(*day),
                name: p.name.clone(),
                email: p.email.clone(),
                current: n.kind == Kind::Escalation && level == n.step,
            })
        })
        .collect::<Result<Vec<_>, MailError>>()?;
    // The next step after the day this message is written: a reminder or
    // repeat names the first one still to come, an escalation the one after it.
    let next_escalation = task
        .escalate
        .iter()
        .zip(&days)
        .find(|(_, day)| **day > today)
        .map(|(step, day)| {
            Ok::<_, MailError>(NextStepCtx {
                date: language.long_date(*day),
                name: person(&step.to)?.name.clone(),
            })
        })
        .transpose()?;
    let addressee = n.addressee();
    let others: Vec<&str> = owners
        .iter()
        .filter(|p| p.key != addressee)
        .map(|p| p.name.as_str())
        .collect();
    let co_owners = (!others.is_empty()).then(|| join_names(language, others.into_iter()));

    let ctx = Context {
        lang: language.code(),
        medium: "mail",
        organisation: wheel.organisation.name.clone(),
        kind: n.kind.as_str(),
        task_id: task.id.clone(),
        title: task.title.clone(),
        period: n.period.clone(),
        due: language.long_date(n.due),
        due_iso: n.due.to_string(),
        today: language.long_date(today),
        days_left: (n.due - today).num_days(),
        days_overdue: (today - n.due).num_days(),
        description: task.description.clone(),
        reference: task.reference.clone(),
        // An escalation's link is the addressee's overview link; the
        // others' is the completion link.
        link: link
            .filter(|_| n.kind != Kind::Escalation)
            .map(str::to_string),
        overview: link
            .filter(|_| n.kind == Kind::Escalation)
            .map(str::to_string),
        recipient: PersonCtx::of(to),
        greeting: greeting(language, &to.name, to.greeting.as_deref()),
        co_owners,
        next_escalation,
        owner_names: join_names(language, owners.iter().map(|p| p.name.as_str())),
        owners: owners.iter().map(|p| PersonCtx::of(p)).collect(),
        step: n.step,
        level: if n.kind == Kind::Escalation {
            Some(n.step)
        } else {
            None
        },
        chain,
        on_behalf: n
            .on_behalf
            .as_ref()
            .map(|s| AwayCtx::of(s, &person, language))
            .transpose()?,
        away_owners: n
            .cc_deputies
            .iter()
            .map(|s| AwayCtx::of(s, &person, language))
            .collect::<Result<Vec<_>, _>>()?,
    };

    Ok((ctx, to, cc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_are_written_in_each_languages_own_form() {
        assert_eq!(Language::Da.long_date(date(2027, 3, 1)), "1. marts 2027");
        assert_eq!(Language::En.long_date(date(2027, 3, 1)), "1 March 2027");
        assert_eq!(
            Language::Da.long_date(date(2026, 12, 31)),
            "31. december 2026"
        );
        assert_eq!(Language::En.long_date(date(2026, 1, 9)), "9 January 2026");
    }

    #[test]
    fn owner_names_are_joined_for_prose() {
        assert_eq!(join_names(Language::Da, ["Anne"].into_iter()), "Anne");
        assert_eq!(
            join_names(Language::Da, ["Anne", "Bo"].into_iter()),
            "Anne og Bo"
        );
        assert_eq!(
            join_names(Language::En, ["Anne", "Bo", "Carl"].into_iter()),
            "Anne, Bo and Carl"
        );
    }

    #[test]
    fn message_id_parts_are_sanitised_to_atoms() {
        assert_eq!(atom("policy-review"), "policy-review");
        assert_eq!(atom("2027.Q1 <x>"), "2027-Q1--x-");
        assert_eq!(atom("søren"), "s-ren");
        assert_eq!(atom(""), "-");
        assert_eq!(sanitise_domain("kommune.dk"), "kommune.dk");
        assert_eq!(sanitise_domain("[127.0.0.1]"), "-127.0.0.1-");
    }

    #[test]
    fn both_languages_have_the_same_templates() {
        // Per language: each kind's, the digest's and the bundle's three.
        let names = |code: &str| -> Vec<&str> {
            let prefix = format!("{code}/");
            let mut names: Vec<&str> = BUILT_IN
                .iter()
                .filter_map(|(name, _)| name.strip_prefix(prefix.as_str()))
                .collect();
            names.sort_unstable();
            names
        };
        assert_eq!(names("da").len(), (KINDS.len() + 2) * 3);
        assert_eq!(names("da"), names("en"));
        assert_eq!(BUILT_IN.len(), LANGUAGES.len() * (KINDS.len() + 2) * 3);
    }

    #[test]
    fn the_built_in_templates_pass_the_start_up_check() {
        let settings = crate::settings::Settings::default();
        assert!(Composer::new(&settings.mail).is_ok());
    }

    #[test]
    fn a_from_that_is_not_an_address_is_a_setup_error() {
        let mut settings = crate::settings::Settings::default().mail;
        settings.from = "arshjul at kommune".into();
        let err = Composer::new(&settings).err().unwrap();
        assert!(matches!(err, MailError::Setup(_)), "{err}");
        assert!(err.to_string().contains("mail.from"), "{err}");
    }

    #[test]
    fn misspelt_override_files_are_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("da")).unwrap();
        std::fs::write(dir.path().join("da/reminder.txt"), "x").unwrap();
        std::fs::write(dir.path().join("da/reminder.subjekt.txt"), "x").unwrap();
        std::fs::write(dir.path().join("reminder.html"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        assert_eq!(
            unknown_overrides(dir.path()),
            vec!["da/reminder.subjekt.txt", "reminder.html"]
        );
    }

    #[test]
    fn an_override_directory_that_does_not_exist_is_a_setup_error() {
        let mut settings = crate::settings::Settings::default().mail;
        settings.templates = Some("/nonexistent/arshjul-templates".into());
        let err = Composer::new(&settings).err().unwrap();
        assert!(matches!(err, MailError::Setup(_)), "{err}");
        assert!(
            err.to_string().contains("/nonexistent/arshjul-templates"),
            "{err}"
        );
    }

    #[test]
    fn subjects_are_collapsed_to_one_line() {
        assert_eq!(
            one_line("  Påmindelse:\n  Budget \r\n"),
            "Påmindelse: Budget"
        );
    }
}
