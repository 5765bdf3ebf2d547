//! `arshjul mail test` (one test message, in the wheel's language) and the
//! line `arshjul check` prints about the transport and how it logs in.

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;

use super::graph::GRAPH_SCOPE;
use super::oauth::token_url;
use super::transport::{smtp_user, SMTP_SCOPE};
use super::MailError;
use crate::settings::{MailSettings, MailTransport, Settings, SmtpAuth, SmtpTls};
use crate::wheel::Wheel;

/// One line naming the transport and its authentication, e.g.
/// `mail: smtp smtp.office365.com:587 STARTTLS, XOAUTH2 as
/// arshjul@ballerup.dk (client 0f1e…, token from https://…)`. Reads no
/// secret and opens no connection; a setting that is missing is named.
pub fn describe(settings: &Settings) -> String {
    let mail = &settings.mail;
    match mail.transport {
        MailTransport::File => format!("mail: file, into {}", mail.dir.display()),
        MailTransport::Sendmail => {
            format!("mail: sendmail {}", mail.sendmail.command.display())
        }
        MailTransport::Smtp => {
            let host = mail
                .smtp
                .host
                .as_deref()
                .unwrap_or("(mail.smtp.host not set)");
            let tls = match mail.smtp.tls {
                SmtpTls::Starttls => "STARTTLS",
                SmtpTls::Tls => "TLS",
                SmtpTls::None => "no TLS",
            };
            let auth = match (mail.smtp.auth, &mail.smtp.username) {
                (SmtpAuth::Password, Some(user)) => format!("password as {user}"),
                (SmtpAuth::Password, None) => "no AUTH".to_string(),
                (SmtpAuth::Xoauth2, _) => {
                    let user = smtp_user(mail).unwrap_or_else(|e| e.to_string());
                    format!("XOAUTH2 as {user} ({})", oauth_part(mail, SMTP_SCOPE))
                }
            };
            format!("mail: smtp {host}:{} {tls}, {auth}", mail.smtp.port)
        }
        MailTransport::Graph => {
            let from = super::transport::bare_address(&mail.from)
                .map(|a| a.to_string())
                .unwrap_or_else(|e| e);
            format!(
                "mail: graph {}/v1.0/users/{from}/sendMail, OAuth ({})",
                mail.graph_url.trim_end_matches('/'),
                oauth_part(mail, GRAPH_SCOPE)
            )
        }
    }
}

fn oauth_part(mail: &MailSettings, default_scope: &str) -> String {
    let o = &mail.oauth;
    let client = o
        .client_id
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or("(mail.oauth.client_id not set)");
    let url = match token_url(o) {
        Ok(url) => format!("token from {url}"),
        Err(_) if o.tenant.is_none() && o.token_url.is_none() => {
            "no token URL: set mail.oauth.tenant".to_string()
        }
        Err(e) => e.to_string(),
    };
    let scope = o
        .scope
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(default_scope);
    format!("client {client}, {url}, scope {scope}")
}

/// The test message's templates: (name, source), per language and part.
const TEST_TEMPLATES: &[(&str, &str)] = &[
    (
        "da/test.subject.txt",
        include_str!("../../templates/da/test.subject.txt"),
    ),
    ("da/test.txt", include_str!("../../templates/da/test.txt")),
    ("da/test.html", include_str!("../../templates/da/test.html")),
    (
        "en/test.subject.txt",
        include_str!("../../templates/en/test.subject.txt"),
    ),
    ("en/test.txt", include_str!("../../templates/en/test.txt")),
    ("en/test.html", include_str!("../../templates/en/test.html")),
];

/// The test message to `to`: subject, text and HTML (on the layout every
/// message uses) in the wheel's language, saying it is a test from
/// arshjul for the organisation; `Reply-To` as on every message.
pub fn test_message(wheel: &Wheel, mail: &MailSettings, to: &str) -> Result<Vec<u8>, MailError> {
    let from: Mailbox = mail
        .from
        .parse()
        .map_err(|e| MailError::Setup(format!("setting `mail.from`: {e}")))?;
    let to: Mailbox = to
        .trim()
        .parse()
        .map_err(|e| MailError::Setup(format!("--to {to:?} is not an e-mail address: {e}")))?;
    let reply_to = (mail.reply_to.as_deref())
        .map(|r| {
            crate::wheel::text::mailbox(r)
                .map_err(|e| MailError::Setup(format!("setting `mail.reply_to`: {r:?}: {e}")))
        })
        .transpose()?;
    let broken = |e: minijinja::Error| MailError::Template(format!("the test message: {e}"));
    let mut env = crate::view::environment().map_err(broken)?;
    for (name, source) in TEST_TEMPLATES {
        env.add_template(name, source).map_err(broken)?;
    }
    let language = wheel.organisation.language;
    let ctx = minijinja::context! {
        organisation => &wheel.organisation.name,
        lang => language.code(),
        medium => "mail",
    };
    let render = |part: &str| {
        env.get_template(&format!("{}/test.{part}", language.code()))
            .and_then(|t| t.render(&ctx))
            .map_err(broken)
    };
    let subject = render("subject.txt")?.trim().to_string();
    let text = format!("{}\n", render("txt")?);
    let html = render("html")?;
    let header = |name: &'static str, value: &str| {
        HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
    };
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        .raw_header(header("Auto-Submitted", "auto-generated"))
        .raw_header(header("X-Auto-Response-Suppress", "All"));
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to);
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| MailError::Setup(format!("cannot build the test message: {e}")))?;
    Ok(message.formatted())
}
