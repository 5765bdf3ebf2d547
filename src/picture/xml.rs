//! A small XML writer for hand-built SVG: elements with attributes and
//! text, every piece of text escaped on the way in, so no title, name or
//! category can close an element, open one, end an attribute or carry a
//! character XML forbids.
//!
//! Escaping: `&`, `<`, `>`, `"` and `'` become entity references (in text
//! and in attributes alike); tab, line feed and carriage return become
//! character references in attributes (so they are kept, not normalised to
//! spaces); characters XML 1.0 does not allow (other C0 controls, U+FFFE,
//! U+FFFF, lone surrogates cannot occur in a `str`) become U+FFFD; Unicode
//! bidi controls (U+200E/F, U+202A–U+202E, U+2066–U+2069) and C1 controls
//! are written as character references, visible in the source and confined
//! to the element they are in.

use std::fmt::Write as _;

/// The XML declaration that starts a standalone document (not one
/// embedded in an HTML page).
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// An SVG/XML document being written. Tags and attribute names are the
/// writer's own (`&'static str`); only values and text come from input.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
    open: Vec<&'static str>,
}

impl Xml {
    /// An empty fragment (no XML declaration: see [`DECLARATION`]).
    pub fn new() -> Xml {
        Xml::default()
    }

    /// `<tag a="v" …>`; closed by [`Xml::close`].
    pub fn open(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Xml {
        self.start(tag, attrs);
        self.out.push('>');
        self.open.push(tag);
        self
    }

    /// `<tag a="v" …/>`.
    pub fn leaf(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) -> &mut Xml {
        self.start(tag, attrs);
        self.out.push_str("/>");
        self
    }

    /// `<tag a="v" …>text</tag>`.
    pub fn text_element(
        &mut self,
        tag: &'static str,
        attrs: &[(&'static str, &str)],
        text: &str,
    ) -> &mut Xml {
        self.open(tag, attrs).text(text).close()
    }

    /// Escaped character data inside the element open now.
    pub fn text(&mut self, text: &str) -> &mut Xml {
        escape_into(&mut self.out, text, false);
        self
    }

    /// Closes the element opened last.
    pub fn close(&mut self) -> &mut Xml {
        if let Some(tag) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(tag);
            self.out.push('>');
        }
        self
    }

    /// A line break between elements, to keep the source readable.
    pub fn newline(&mut self) -> &mut Xml {
        self.out.push('\n');
        self
    }

    /// The document, every element still open closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out.push('\n');
        self.out
    }

    fn start(&mut self, tag: &'static str, attrs: &[(&'static str, &str)]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (name, value) in attrs {
            self.out.push(' ');
            self.out.push_str(name);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value, true);
            self.out.push('"');
        }
    }
}

/// `text` escaped for XML character data or (with `attribute`) a
/// double-quoted attribute value.
pub fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text, attribute);
    out
}

fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' if attribute => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            '\t' | '\n' | '\r' => out.push(c),
            // Not allowed in XML 1.0 at all, even as a reference.
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => out.push('\u{FFFD}'),
            '\u{7F}'..='\u{9F}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped_in_text_and_attributes() {
        assert_eq!(
            escape(r#"<b>"Tom & 'Jerry'"</b>"#, false),
            "&lt;b&gt;&quot;Tom &amp; &apos;Jerry&apos;&quot;&lt;/b&gt;"
        );
        assert_eq!(escape("a\"b", true), "a&quot;b");
        assert_eq!(escape("æøå ✓", true), "æøå ✓");
    }

    #[test]
    fn controls_are_replaced_or_referenced_never_written_raw() {
        // NUL and ESC are not XML characters: replaced.
        assert_eq!(escape("a\u{0}b\u{1B}c", false), "a\u{FFFD}b\u{FFFD}c");
        // Line breaks survive in an attribute as references.
        assert_eq!(escape("a\nb\tc", true), "a&#xA;b&#x9;c");
        assert_eq!(escape("a\nb", false), "a\nb");
        // Bidi overrides and isolates, and C1 controls, as references.
        assert_eq!(
            escape("\u{202E}evil\u{2066}x\u{2069}\u{85}", false),
            "&#x202E;evil&#x2066;x&#x2069;&#x85;"
        );
        assert_eq!(escape("\u{FFFF}", false), "\u{FFFD}");
    }

    #[test]
    fn the_writer_nests_and_closes_what_it_opened() {
        let mut x = Xml::new();
        x.open("svg", &[("a", "1 < 2")])
            .text_element("title", &[], "R&D")
            .leaf("circle", &[("r", "3")])
            .open("g", &[]);
        let doc = x.finish();
        assert_eq!(
            doc,
            "<svg a=\"1 &lt; 2\"><title>R&amp;D</title><circle r=\"3\"/><g></g></svg>\n"
        );
    }
}
