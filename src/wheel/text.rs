//! What text may go where a message header or a one-line display shows it.
//! The wheel's check and the mail composer both ask here, so a wheel that
//! `check` accepts is a wheel whose every message can be built.
//!
//! - Names, titles and the organisation name: one line of printable text
//!   (no control character: C0 including tab, CR and LF, DEL, C1; no Unicode
//!   line or paragraph separator; no bidirectional control, see
//!   [`bidi_control`]), at most [`MAX_NAME_CHARS`] or
//!   [`MAX_TITLE_CHARS`] characters. With these limits no header line comes
//!   near the 998 octets RFC 5322 allows, even after RFC 2047 encoding
//!   (which folds encoded words; a quoted ASCII name is at most 202 octets).
//! - Task ids and person keys: at most [`MAX_ID_CHARS`] characters.
//! - E-mail addresses: at most [`MAX_ADDRESS_CHARS`] characters and accepted
//!   by lettre's own [`Address`] parser, the one that builds the message.
//! - Descriptions: line breaks and tabs allowed, no other control character
//!   and no bidirectional control.

use std::fmt;

use lettre::message::Mailbox;
use lettre::Address;

/// The longest person name or organisation name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest task title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest task id or person key, in characters: they reach headers
/// (`X-Arshjul-Task`, the thread id) as they are.
pub const MAX_ID_CHARS: usize = 500;
/// The longest subject a composed message may have, in characters. The
/// built-in templates stay far below it with the limits above; a custom
/// template that goes over it fails that one message, not the pass.
pub const MAX_SUBJECT_CHARS: usize = 900;
/// The longest e-mail address, in characters (RFC 5321's path limit).
pub const MAX_ADDRESS_CHARS: usize = 254;

/// Why a text cannot be used where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextProblem {
    /// It contains this character, which must not be there.
    Control(char),
    /// It contains this bidirectional control ([`bidi_control`]), which
    /// would make the text show in another order than it is written.
    Bidi(char),
    /// It is `chars` characters long; at most `max` are allowed.
    TooLong { chars: usize, max: usize },
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextProblem::Control(c) => {
                write!(
                    f,
                    "contains {}; it must be one line of printable text",
                    describe_char(*c)
                )
            }
            TextProblem::Bidi(c) => write!(
                f,
                "contains {}, which changes the order text is shown in; \
                 right-to-left text (Arabic, Hebrew) needs no such character",
                describe_char(*c)
            ),
            TextProblem::TooLong { chars, max } => {
                write!(f, "is {chars} characters long (at most {max})")
            }
        }
    }
}

/// A character that breaks a line or a header, or reorders one, in words.
pub fn describe_char(c: char) -> String {
    let code = u32::from(c);
    if let Some(name) = bidi_control(c) {
        return format!("U+{code:04X} {name}");
    }
    match c {
        '\n' => "a line break (U+000A)".to_string(),
        '\r' => "a carriage return (U+000D)".to_string(),
        '\t' => "a tab (U+0009)".to_string(),
        '\0' => "a NUL character (U+0000)".to_string(),
        '\u{2028}' => "a line separator (U+2028)".to_string(),
        '\u{2029}' => "a paragraph separator (U+2029)".to_string(),
        ' ' => "a space (U+0020)".to_string(),
        c if c.is_whitespace() && !c.is_control() => format!("the space character U+{code:04X}"),
        _ => format!("the control character U+{code:04X}"),
    }
}

/// The Unicode name of `c` if it is a bidirectional control: the explicit
/// embeddings, overrides and their end (U+202A–U+202E), the isolates and
/// their end (U+2066–U+2069), and the marks (U+200E, U+200F, U+061C).
///
/// None of them may be in text from the wheel or the settings that people
/// read (names, titles, references, descriptions, the organisation, the
/// sender): U+202E makes »Godkendelse af budget\u{202E}tegdub« read as
/// something else in a subject line, and an override or embedding that is
/// never closed reorders whatever a mail program puts after it. Text in a
/// right-to-left script needs none of them: each letter carries its own
/// direction. The marks are refused too, though they only steer the
/// characters around them: every display of arshjul (the pages, the mails'
/// HTML, the report, the terminal) writes all twelve as visible `\u{200f}`,
/// so a wheel holding one would read garbled everywhere but in a subject.
pub fn bidi_control(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        _ => return None,
    })
}

/// Whether `c` may not appear in a one-line text.
fn breaks_a_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The first character of `text` that one line of printable text may not
/// hold, as the problem it is.
fn forbidden_in_one_line(text: &str) -> Option<TextProblem> {
    text.chars().find_map(|c| {
        if breaks_a_line(c) {
            Some(TextProblem::Control(c))
        } else if bidi_control(c).is_some() {
            Some(TextProblem::Bidi(c))
        } else {
            None
        }
    })
}

/// One line of printable text of at most `max` characters.
pub fn one_line(text: &str, max: usize) -> Result<(), TextProblem> {
    if let Some(problem) = forbidden_in_one_line(text) {
        return Err(problem);
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(TextProblem::TooLong { chars, max });
    }
    Ok(())
}

/// Text of several lines (a description): line breaks and tabs are fine,
/// other control characters and bidirectional controls are not.
pub fn multi_line(text: &str) -> Result<(), TextProblem> {
    let problem = text.chars().find_map(|c| {
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            Some(TextProblem::Control(c))
        } else if bidi_control(c).is_some() {
            Some(TextProblem::Bidi(c))
        } else {
            None
        }
    });
    match problem {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// Why an e-mail address cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressProblem {
    /// Longer than [`MAX_ADDRESS_CHARS`].
    TooLong(usize),
    /// lettre refuses it; the reason in words.
    Refused(String),
}

impl fmt::Display for AddressProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressProblem::TooLong(chars) => write!(
                f,
                "the address is {chars} characters long (at most {MAX_ADDRESS_CHARS})"
            ),
            AddressProblem::Refused(reason) => f.write_str(reason),
        }
    }
}

/// An e-mail address as lettre will use it in `To`, `Cc` and `From`.
pub fn address(text: &str) -> Result<Address, AddressProblem> {
    let chars = text.chars().count();
    if chars > MAX_ADDRESS_CHARS {
        return Err(AddressProblem::TooLong(chars));
    }
    if let Some(TextProblem::Control(c) | TextProblem::Bidi(c)) = forbidden_in_one_line(text) {
        return Err(AddressProblem::Refused(format!(
            "it contains {}",
            describe_char(c)
        )));
    }
    text.parse::<Address>().map_err(|e| {
        use lettre::address::AddressError;
        let reason = match e {
            AddressError::InvalidUser => "the part before @ is not valid".to_string(),
            AddressError::InvalidDomain => "the part after @ is not a valid domain".to_string(),
            AddressError::MissingParts => "it has no @".to_string(),
            other => other.to_string(),
        };
        AddressProblem::Refused(reason)
    })
}

/// A mailbox as written in the `mail.from` setting (`Name <addr>` or a bare
/// address), held to the same rules as the wheel's people.
pub fn mailbox(text: &str) -> Result<Mailbox, String> {
    match forbidden_in_one_line(text) {
        Some(TextProblem::Control(c)) => return Err(format!("it contains {}", describe_char(c))),
        Some(problem) => return Err(format!("it {problem}")),
        None => {}
    }
    let mailbox: Mailbox = text
        .parse()
        .map_err(|e| format!("it is not an e-mail address ({e})"))?;
    if let Some(name) = &mailbox.name {
        one_line(name, MAX_NAME_CHARS).map_err(|p| format!("the name {p}"))?;
    }
    address(mailbox.email.as_ref()).map_err(|p| p.to_string())?;
    Ok(mailbox)
}

/// "1 task", "2 tasks": a count with its noun in the right number.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_text_refuses_every_kind_of_line_break_and_control() {
        assert_eq!(one_line("Søren Ærø", 200), Ok(()));
        for c in [
            '\n', '\r', '\t', '\0', '\u{7f}', '\u{85}', '\u{9b}', '\u{1b}', '\u{2028}',
        ] {
            let text = format!("A{c}B");
            assert_eq!(one_line(&text, 200), Err(TextProblem::Control(c)), "{c:?}");
        }
    }

    #[test]
    fn bidi_controls_are_refused_by_name_and_right_to_left_letters_are_not() {
        for (c, name) in [
            ('\u{061C}', "U+061C ARABIC LETTER MARK"),
            ('\u{200E}', "U+200E LEFT-TO-RIGHT MARK"),
            ('\u{200F}', "U+200F RIGHT-TO-LEFT MARK"),
            ('\u{202A}', "U+202A LEFT-TO-RIGHT EMBEDDING"),
            ('\u{202E}', "U+202E RIGHT-TO-LEFT OVERRIDE"),
            ('\u{2066}', "U+2066 LEFT-TO-RIGHT ISOLATE"),
            ('\u{2067}', "U+2067 RIGHT-TO-LEFT ISOLATE"),
            ('\u{2069}', "U+2069 POP DIRECTIONAL ISOLATE"),
        ] {
            let text = format!("budget{c}tegdub");
            assert_eq!(one_line(&text, 200), Err(TextProblem::Bidi(c)), "{name}");
            assert_eq!(multi_line(&text), Err(TextProblem::Bidi(c)), "{name}");
            assert_eq!(describe_char(c), name);
            let said = TextProblem::Bidi(c).to_string();
            assert!(said.starts_with(&format!("contains {name}, ")), "{said}");
            let from = format!("Års{c}hjulet <arshjul@kommune.example>");
            assert!(mailbox(&from).unwrap_err().contains(name), "{from:?}");
        }
        // The neighbours of the ranges are ordinary text.
        for c in ['\u{061B}', '\u{200D}', '\u{2065}', '\u{206A}', '\u{2070}'] {
            assert_eq!(bidi_control(c), None, "{c:?}");
        }
        assert_eq!(one_line("مراجعة سياسة أمن المعلومات", 200), Ok(()));
        assert_eq!(one_line("בדיקת גיבוי 2027", 200), Ok(()));
        assert_eq!(multi_line("سطر\nשורה"), Ok(()));
        // A line break is still named first as what it is.
        assert_eq!(
            one_line("a\n\u{202E}", 200),
            Err(TextProblem::Control('\n'))
        );
    }

    #[test]
    fn a_space_is_not_called_a_control_character() {
        assert_eq!(describe_char(' '), "a space (U+0020)");
        assert_eq!(describe_char('\u{a0}'), "the space character U+00A0");
        assert_eq!(describe_char('\u{1b}'), "the control character U+001B");
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert_eq!(one_line(&"ø".repeat(200), 200), Ok(()));
        assert_eq!(
            one_line(&"ø".repeat(201), 200),
            Err(TextProblem::TooLong {
                chars: 201,
                max: 200
            })
        );
    }

    #[test]
    fn descriptions_keep_their_lines_but_not_other_controls() {
        assert_eq!(multi_line("a\r\nb\tc\n"), Ok(()));
        assert_eq!(
            multi_line("a\u{1b}[31m"),
            Err(TextProblem::Control('\u{1b}'))
        );
    }

    #[test]
    fn addresses_are_what_lettre_accepts() {
        assert!(address("anna@kommune.example").is_ok());
        let long_local = format!("{}@kommune.example", "a".repeat(65));
        assert!(matches!(
            address(&long_local),
            Err(AddressProblem::Refused(_))
        ));
        let too_long = format!("a@{}.example", "b".repeat(260));
        assert_eq!(address(&too_long), Err(AddressProblem::TooLong(270)));
        assert!(address("a\n@kommune.example").is_err());
    }

    #[test]
    fn a_from_mailbox_is_held_to_the_same_rules() {
        assert!(mailbox("Årshjulet <arshjul@kommune.example>").is_ok());
        assert!(mailbox("arshjul@kommune.example").is_ok());
        assert!(mailbox("Års\nhjulet <arshjul@kommune.example>").is_err());
        assert!(mailbox("arshjul at kommune").is_err());
        let long = format!("{} <arshjul@kommune.example>", "A".repeat(201));
        assert!(mailbox(&long).is_err());
    }
}
