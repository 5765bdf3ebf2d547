//! The one look of everything people read: the minijinja layout shared by
//! the HTML part of every mail and every page of the completion link
//! (`templates/layout.html`), its blocks (`templates/partials/`), the
//! pages (`templates/pages/`) and their texts per language
//! (`templates/{da,en}/pages.html`, one macro per text). Pure: the
//! sources are compiled in; no file, clock or network.
//!
//! A new page is one file in `templates/pages/` that extends the layout,
//! plus its texts as macros in both languages' `pages.html` (a test
//! checks that both define the same macros). A new mail block is a macro
//! in `partials/mail.html`.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// The shared sources: (name, text).
pub const SOURCES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    (
        "partials/page.css",
        include_str!("../templates/partials/page.css"),
    ),
    (
        "partials/mail.html",
        include_str!("../templates/partials/mail.html"),
    ),
    (
        "partials/page.html",
        include_str!("../templates/partials/page.html"),
    ),
    ("da/pages.html", include_str!("../templates/da/pages.html")),
    ("en/pages.html", include_str!("../templates/en/pages.html")),
    (
        "pages/confirm.html",
        include_str!("../templates/pages/confirm.html"),
    ),
    (
        "pages/done.html",
        include_str!("../templates/pages/done.html"),
    ),
    (
        "pages/expired.html",
        include_str!("../templates/pages/expired.html"),
    ),
    (
        "pages/notice.html",
        include_str!("../templates/pages/notice.html"),
    ),
    (
        "pages/overview.html",
        include_str!("../templates/pages/overview.html"),
    ),
];

/// An environment with the shared sources, strict about undefined names,
/// HTML-escaping `.html` templates, and the `paragraphs` filter.
pub fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("paragraphs", paragraphs);
    // minijinja's own escaping also writes `/` as `&#x2f;`, which turns
    // every link in an `href` into `https:&#x2f;&#x2f;…`: valid, but not
    // what a person reading the source (or a link scanner) expects.
    env.set_formatter(|out, state, value| {
        let html = matches!(state.auto_escape(), AutoEscape::Html);
        match value.as_str() {
            Some(s) if html && !value.is_safe() => out
                .write_str(&escape(s))
                .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write")),
            _ => minijinja::escape_formatter(out, state, value),
        }
    });
    for (name, source) in SOURCES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

/// `{% for para in text | paragraphs %}`: text whose blank lines separate
/// paragraphs, as a list of paragraphs, each a list of its lines (blank
/// lines and trailing spaces dropped). The template writes each as a `<p>`
/// with `<br>` between lines, so the HTML part keeps the paragraphs the
/// plain part shows.
fn paragraphs(text: &str) -> Vec<Vec<String>> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .map(|block| {
            block
                .lines()
                .map(str::trim_end)
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|lines| !lines.is_empty())
        .collect()
}

/// Escapes text for HTML element content and quoted attribute values.
/// A character that reorders a line (U+202E and the like) or another
/// control character (other than a line break or tab) is written as
/// visible text, `\u{202e}`, as the report and the tables do: a note or a
/// name cannot make a page or a mail read as something else.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if reorders_or_controls(c) => {
                out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` reorders a line or is a control character other than a
/// line break, carriage return or tab.
fn reorders_or_controls(c: char) -> bool {
    let reorders = matches!(
        c,
        '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    );
    reorders || (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// The macro names a template defines (`{% macro name(`), in order.
pub fn macro_names(source: &str) -> Vec<String> {
    source
        .split("{% macro ")
        .skip(1)
        .chain(source.split("{%- macro ").skip(1))
        .filter_map(|rest| rest.split('(').next())
        .map(|name| name.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_define_the_same_page_texts() {
        let mut da = macro_names(include_str!("../templates/da/pages.html"));
        let mut en = macro_names(include_str!("../templates/en/pages.html"));
        assert!(da.len() > 10, "{da:?}");
        da.sort();
        en.sort();
        assert_eq!(da, en);
        // A name defined twice keeps only its last text: the rate-limited
        // link page and the busy upload page once shared `busy_heading`,
        // so one of them showed the other's heading.
        let mut unique = da.clone();
        unique.dedup();
        assert_eq!(unique, da, "a page text is defined twice");
    }

    #[test]
    fn the_shared_templates_parse() {
        assert!(environment().is_ok(), "{:?}", environment().err());
    }

    /// WCAG 2 relative luminance of `#rrggbb`.
    fn luminance(hex: &str) -> f64 {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Every `#rrggbb` that follows `prefix` in `css`.
    fn colours_after<'a>(css: &'a str, prefix: &str) -> Vec<&'a str> {
        css.match_indices(prefix)
            .map(|(i, _)| &css[i + prefix.len()..i + prefix.len() + 7])
            .collect()
    }

    #[test]
    fn the_pages_focus_outline_and_text_have_enough_contrast() {
        assert!((contrast("#000000", "#ffffff") - 21.0).abs() < 0.01);
        assert!((contrast("#f2b705", "#ffffff") - 1.8).abs() < 0.05);
        let css = include_str!("../templates/partials/page.css");
        // The page's backgrounds: the card and around it.
        let backgrounds = ["#ffffff", "#f3f3f3"];
        let outlines = colours_after(css, "outline:3px solid ");
        assert!(!outlines.is_empty(), "{css}");
        for outline in outlines {
            for bg in backgrounds {
                let c = contrast(outline, bg);
                assert!(c >= 3.0, "focus outline {outline} on {bg}: {c:.2}:1");
            }
        }
        let texts = colours_after(css, "color:");
        assert!(texts.len() >= 4, "{texts:?}");
        for text in texts {
            // White text sits on the button's green; the rest on the card.
            let bg = if text == "#ffffff" {
                "#0b5d1e"
            } else {
                "#ffffff"
            };
            let c = contrast(text, bg);
            assert!(c >= 4.5, "text {text} on {bg}: {c:.2}:1");
        }
    }

    #[test]
    fn paragraphs_are_split_at_blank_lines() {
        assert_eq!(
            paragraphs("Første afsnit\r\nanden linje\n\n\n Andet afsnit \n"),
            vec![
                vec!["Første afsnit".to_string(), "anden linje".to_string()],
                vec![" Andet afsnit".to_string()],
            ]
        );
        assert!(paragraphs("\n\n").is_empty());
    }

    #[test]
    fn the_mail_block_writes_paragraphs_escaped() {
        let mut env = environment().unwrap();
        // Named `.html`, so it is autoescaped like every mail's HTML.
        env.add_template(
            "t.html",
            "{% import \"partials/mail.html\" as m %}{{ m.paragraphs(t) }}",
        )
        .unwrap();
        let html = (env.get_template("t.html").unwrap())
            .render(minijinja::context! { t => "A <b>&</b>\nB\n\nC" })
            .unwrap();
        assert_eq!(
            html,
            "<p style=\"margin:0 0 16px 0\">A &lt;b&gt;&amp;&lt;/b&gt;<br>\nB</p>\n\
             <p style=\"margin:0 0 16px 0\">C</p>"
        );
    }
}
