//! The one MIME reader of the tests, on `mail-parser`: every test that
//! reads a message back (from the file transport's outbox, the test SMTP
//! server or a `Composed`) reads it through [`Mail`], so transfer
//! encodings, folded headers and RFC 2047 words are undone the way a mail
//! program undoes them, not by a parser of our own.

use mail_parser::{HeaderName, MessageParser, MimeHeaders};

/// A message read back: its headers as a mail program shows them, its
/// recipients and its decoded text and HTML parts.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Every header field in order, unfolded and RFC 2047 decoded.
    headers: Vec<(String, String)>,
    to: Vec<String>,
    cc: Vec<String>,
    /// `(content type, decoded body)` of each `text/*` part, in order.
    parts: Vec<(String, String)>,
}

impl Mail {
    /// Reads `raw`; panics (failing the test) when it is not a message.
    pub fn parse(raw: impl AsRef<[u8]>) -> Mail {
        let raw = raw.as_ref();
        let shown = || String::from_utf8_lossy(raw).into_owned();
        // Every header as unstructured text: unfolded, encoded words decoded.
        // (A non-empty map makes the parser use the default for all others.)
        let text = MessageParser::new()
            .default_header_text()
            .header_text(HeaderName::Subject)
            .parse(raw)
            .unwrap_or_else(|| panic!("not a message:\n{}", shown()));
        let headers = text
            .headers()
            .iter()
            .map(|h| {
                let value = h.value().as_text().unwrap_or_default();
                (h.name().to_string(), value.trim().to_string())
            })
            .collect();
        let structured = MessageParser::default()
            .parse(raw)
            .unwrap_or_else(|| panic!("not a message:\n{}", shown()));
        let addresses = |list: Option<&mail_parser::Address>| -> Vec<String> {
            list.map(|l| {
                l.iter()
                    .filter_map(|a| a.address().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
        };
        let parts = structured
            .parts
            .iter()
            .filter_map(|p| {
                let ct = p.content_type()?;
                if !ct.ctype().eq_ignore_ascii_case("text") {
                    return None;
                }
                let mut kind = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
                if let Some(charset) = ct.attribute("charset") {
                    kind.push_str(&format!("; charset={charset}"));
                }
                Some((kind.to_ascii_lowercase(), p.text_contents()?.to_string()))
            })
            .collect();
        Mail {
            headers,
            to: addresses(structured.to()),
            cc: addresses(structured.cc()),
            parts,
        }
    }

    /// The first header called `name` (any case), as a mail program shows
    /// it: unfolded, encoded words decoded, trimmed. Panics without one.
    pub fn header(&self, name: &str) -> String {
        self.header_opt(name)
            .unwrap_or_else(|| panic!("no {name} header in {:#?}", self.headers))
    }

    /// The first header called `name`, if there is one.
    pub fn header_opt(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    pub fn has(&self, name: &str) -> bool {
        self.header_opt(name).is_some()
    }

    /// The bare addresses of `To`.
    pub fn to(&self) -> Vec<String> {
        self.to.clone()
    }

    /// The bare addresses of `Cc` (empty without one).
    pub fn cc(&self) -> Vec<String> {
        self.cc.clone()
    }

    /// The content type of the first `text/*` part whose type starts with
    /// `kind` (`"text/plain"`), with its charset (`text/plain; charset=utf-8`).
    pub fn content_type_of(&self, kind: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|(k, _)| k.starts_with(kind))
            .map(|(k, _)| k.as_str())
    }

    /// The decoded body of the first part of type `kind`, lines ending in
    /// `\n` as a mail program shows them. Panics without one.
    pub fn part(&self, kind: &str) -> String {
        self.parts
            .iter()
            .find(|(k, _)| k.starts_with(kind))
            .map(|(_, body)| body.replace("\r\n", "\n"))
            .unwrap_or_else(|| panic!("no {kind} part; parts: {:#?}", self.parts))
    }

    /// The decoded `text/plain` part.
    pub fn text(&self) -> String {
        self.part("text/plain")
    }

    /// The decoded `text/html` part.
    pub fn html(&self) -> String {
        self.part("text/html")
    }

    /// The first `http…/done/…` link in the text part, if any.
    pub fn link(&self) -> Option<String> {
        let text = self
            .parts
            .iter()
            .find(|(k, _)| k.starts_with("text/plain"))?;
        let text = &text.1;
        let mut rest = text.as_str();
        while let Some(start) = rest.find("http") {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
                .unwrap_or(tail.len());
            if tail[..end].contains("/done/") {
                return Some(tail[..end].to_string());
            }
            rest = &tail[end..];
        }
        None
    }
}
