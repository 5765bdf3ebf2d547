//! `schedule.toml` → [`Wheel`]: TOML syntax, then meaning, with every
//! problem reported as `file:line:col: message`. Reads no file: [`parse`]
//! works on a string, [`parse_bytes`] on the bytes `config::read_wheel` read.
//!
//! The work is split in three steps, one file each:
//! - `raw`: serde structs that mirror the file, every value [`toml::Spanned`],
//!   unknown keys rejected. TOML syntax and type errors stop here (toml
//!   reports only the first one).
//! - `values`: small pure parsers for the strings inside values
//!   (`"MM-DD"`, `"7d"`, `"08:00"`, e-mail addresses, ...).
//! - `check`: raw structs → validated [`Wheel`], collecting every problem.

mod check;
mod raw;
mod values;

use std::fmt;

use super::Wheel;

/// One problem in a wheel, with its place (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for WheelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // A problem with the file as a whole (unreadable, empty).
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// Every problem found in one wheel, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelErrors(pub Vec<WheelError>);

impl fmt::Display for WheelErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for WheelErrors {}

/// Parses and validates a wheel. `file` names the source in messages.
pub fn parse(source: &str, file: &str) -> Result<Wheel, WheelErrors> {
    let lines = LineIndex::new(source);
    let raw: raw::RawWheel = match toml::from_str(source) {
        Ok(raw) => raw,
        Err(e) => {
            let offset = e.span().map(|span| span.start);
            let problem = Problem {
                offset,
                message: reword_toml_error(e.message()),
            };
            return Err(lines.errors(file, vec![problem]));
        }
    };
    check::check(raw, &lines).map_err(|problems| lines.errors(file, problems))
}

/// Parses a wheel read as bytes (by `config::read_wheel`): bytes that are
/// not UTF-8 are one error placed at the first bad byte, counted in the
/// characters before it.
pub fn parse_bytes(bytes: Vec<u8>, file: &str) -> Result<Wheel, WheelErrors> {
    match String::from_utf8(bytes) {
        Ok(source) => parse(&source, file),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let lines = LineIndex::new(&prefix);
            let problem = Problem {
                offset: Some(valid),
                message: "the file is not UTF-8 text (save it as UTF-8)".to_string(),
            };
            Err(lines.errors(file, vec![problem]))
        }
    }
}

/// A problem found while checking, placed by byte offset into the source.
/// `offset: None` is a problem with the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    offset: Option<usize>,
    message: String,
}

/// Turns byte offsets into 1-based lines and columns (columns in characters).
struct LineIndex<'a> {
    source: &'a str,
    /// Byte offset of the first character of each line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { source, starts }
    }

    /// The 1-based line and character column of byte `offset`. An offset
    /// past the end or inside a character is moved back to a character start.
    fn locate(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self
            .starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        // A byte-order mark is invisible in editors, so it is not a column.
        let col = self.source.get(start..offset).map_or(0, |text| {
            text.strip_prefix('\u{feff}')
                .unwrap_or(text)
                .chars()
                .count()
        }) + 1;
        (line.max(1), col)
    }

    fn line_of(&self, offset: usize) -> usize {
        self.locate(offset).0
    }

    /// Places and sorts problems: whole-file problems first, then by position.
    fn errors(&self, file: &str, problems: Vec<Problem>) -> WheelErrors {
        let mut errors: Vec<WheelError> = problems
            .into_iter()
            .map(|p| {
                let (line, col) = p.offset.map_or((0, 0), |offset| self.locate(offset));
                WheelError {
                    file: file.to_string(),
                    line,
                    col,
                    message: p.message,
                }
            })
            .collect();
        errors.sort_by_key(|e| (e.line, e.col));
        WheelErrors(errors)
    }
}

/// The known key a typo most likely meant: the nearest by edit distance
/// (letters inserted, deleted, changed or two swapped), if it is within
/// one edit per three letters of the key, at least two (one for a key of
/// one or two letters): `dew` → `due`; `None` when nothing is that near.
fn closest<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let key: Vec<char> = key.to_lowercase().chars().collect();
    let limit = if key.len() <= 2 {
        1
    } else {
        (key.len() / 3).max(2)
    };
    known
        .map(|k| (edit_distance(&key, &k.chars().collect::<Vec<_>>()), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Optimal string alignment distance between `a` and `b`.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The longest key an error message shows whole, in characters.
const SHOWN_KEY_CHARS: usize = 64;

/// A key from the wheel as an error message shows it: a control character
/// (an escape sequence that would recolour or rewrite the terminal, a NUL)
/// or a bidi control (which would reorder the line on the screen) as
/// visible text, `\u{1b}`, `\u{202e}`, and a key longer than [`SHOWN_KEY_CHARS`]
/// cut there and ended with `…`: a quoted key of 10,000 characters does
/// not fill the screen.
fn shown_key(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars().take(SHOWN_KEY_CHARS) {
        if c.is_control() || crate::wheel::text::bidi_control(c).is_some() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    if key.chars().nth(SHOWN_KEY_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Rewords toml's and serde's messages in the style of the others: one
/// line, lower case, no trailing period, names in double quotes.
fn reword_toml_error(message: &str) -> String {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        // The key may hold a backquote itself: it ends where serde's list
        // of the keys the table has begins ("`, expected one of `id`, …").
        if let Some((key, expected)) = rest
            .split_once("`, expected ")
            .or_else(|| rest.rsplit_once('`'))
        {
            let known = expected.split('`').skip(1).step_by(2);
            let shown = shown_key(key);
            return match closest(key, known) {
                Some(near) => format!("unknown key \"{shown}\"; did you mean \"{near}\"?"),
                None => format!("unknown key \"{shown}\""),
            };
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((key, _)) = rest.split_once('`') {
            return match key {
                "organisation" => "missing [organisation] table".to_string(),
                _ => format!("missing key \"{key}\""),
            };
        }
    }
    if message.starts_with("duplicate key `") {
        // "duplicate key `name` in table `organisation`"
        return message.replace('`', "\"");
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!(
                "expected {}, found {}",
                describe_expected(expected),
                describe_found(found)
            );
        }
    }
    // Anything else is toml's own syntax message, possibly over several lines.
    let one_line: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let joined = one_line.join(", ");
    format!(
        "syntax error: {}",
        lower_first(joined.trim_end_matches('.'))
    )
}

/// serde's name for an expected type, in words.
fn describe_expected(expected: &str) -> String {
    match expected.trim() {
        "i64" | "i32" | "u32" | "u64" | "an integer" => "a whole number".to_string(),
        "a sequence" => "a list".to_string(),
        "a boolean" => "true or false".to_string(),
        other if other.starts_with("struct ") || other == "a map" => "a table".to_string(),
        other => other.to_string(),
    }
}

/// serde's description of a value found, in words (`string "x"` → `"x"`).
fn describe_found(found: &str) -> String {
    let found = found.trim();
    if let Some(text) = found.strip_prefix("string ") {
        return format!("the string {text}");
    }
    if let Some(number) = found
        .strip_prefix("integer ")
        .or_else(|| found.strip_prefix("floating point "))
    {
        return format!("the number {}", number.trim_matches('`'));
    }
    if let Some(value) = found.strip_prefix("boolean ") {
        return value.trim_matches('`').to_string();
    }
    match found {
        "sequence" => "a list".to_string(),
        "map" => "a table".to_string(),
        other => other.to_string(),
    }
}

pub(crate) fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A duration in the wheel's syntax (`"35d"`, `"5w"`), for settings that
/// use the same syntax.
pub fn duration(text: &str) -> Result<super::Days, String> {
    values::duration(text).map_err(|p| match p {
        values::DurationProblem::Format => {
            format!("{text:?} is not a duration (use e.g. \"35d\" or \"5w\")")
        }
        values::DurationProblem::TooLong => {
            format!("{text:?} is too long (at most \"{}d\")", values::MAX_DAYS)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let lines = LineIndex::new("a = 1\ntitle = \"Årlig\" x\n");
        assert_eq!(lines.locate(0), (1, 1));
        assert_eq!(lines.locate(6), (2, 1));
        // "title = \"Årlig\" " is 16 characters but 17 bytes: `x` is at byte 23.
        assert_eq!(lines.locate(23), (2, 17));
    }

    #[test]
    fn offsets_past_the_end_or_inside_a_character_do_not_panic() {
        let lines = LineIndex::new("å");
        assert_eq!(lines.locate(1), (1, 1));
        assert_eq!(lines.locate(99), (1, 2));
        assert_eq!(LineIndex::new("").locate(5), (1, 1));
    }

    #[test]
    fn a_byte_order_mark_and_carriage_returns_are_not_columns() {
        let lines = LineIndex::new("\u{feff}a = 1\r\nb = x\r\n");
        // The mark is 3 bytes; `a` starts at byte 3 and `1` at byte 7.
        assert_eq!(lines.locate(3), (1, 1));
        assert_eq!(lines.locate(7), (1, 5));
        // Line 2 starts after "\r\n" at byte 10; `x` is at byte 14.
        assert_eq!(lines.locate(14), (2, 5));
    }

    #[test]
    fn toml_messages_are_reworded() {
        assert_eq!(
            reword_toml_error("unknown field `dew`, expected `id` or `n`"),
            "unknown key \"dew\""
        );
        // A typo names the key it most likely meant.
        assert_eq!(
            reword_toml_error("unknown field `dew`, expected one of `id`, `due`, `every`"),
            "unknown key \"dew\"; did you mean \"due\"?"
        );
        assert_eq!(
            reword_toml_error(
                "unknown field `escalat`, expected one of `remind`, `repeat`, `escalate`"
            ),
            "unknown key \"escalat\"; did you mean \"escalate\"?"
        );
        assert_eq!(
            reword_toml_error(
                "unknown field `emial`, expected one of `name`, `email`, `deputy`, `greeting`"
            ),
            "unknown key \"emial\"; did you mean \"email\"?"
        );
        assert_eq!(
            reword_toml_error("unknown field `Timezone`, expected one of `name`, `timezone`"),
            "unknown key \"Timezone\"; did you mean \"timezone\"?"
        );
        // A control character is shown, not sent to the terminal; a long
        // key is cut; a backquote in the key does not end it.
        assert_eq!(
            reword_toml_error(
                "unknown field `escal\u{1b}[31mate\u{0}`, expected one of `escalate`"
            ),
            "unknown key \"escal\\u{1b}[31mate\\u{0}\""
        );
        // A bidi override would show the rest of the line reversed.
        assert_eq!(
            reword_toml_error("unknown field `due\u{202e}yek`, expected `due`"),
            "unknown key \"due\\u{202e}yek\""
        );
        assert_eq!(
            reword_toml_error(&format!(
                "unknown field `{}`, expected `id` or `n`",
                "e".repeat(10_000)
            )),
            format!("unknown key \"{}…\"", "e".repeat(64))
        );
        assert_eq!(
            reword_toml_error("unknown field `escal`ate`, expected one of `id`, `escalate`"),
            "unknown key \"escal`ate\"; did you mean \"escalate\"?"
        );
        // Nothing near: no guess.
        assert_eq!(
            reword_toml_error("unknown field `frist`, expected one of `id`, `due`, `every`"),
            "unknown key \"frist\""
        );
        assert_eq!(
            reword_toml_error("missing field `id`"),
            "missing key \"id\""
        );
        assert_eq!(
            reword_toml_error("missing field `organisation`"),
            "missing [organisation] table"
        );
        assert_eq!(
            reword_toml_error("invalid type: string \"3\", expected i64"),
            "expected a whole number, found the string \"3\""
        );
        assert_eq!(
            reword_toml_error("invalid string\nexpected `\"`, `'`"),
            "syntax error: invalid string, expected `\"`, `'`"
        );
        assert_eq!(
            reword_toml_error("Recursion limit exceeded."),
            "syntax error: recursion limit exceeded"
        );
        assert_eq!(
            reword_toml_error("duplicate key `name` in table `organisation`"),
            "duplicate key \"name\" in table \"organisation\""
        );
    }
}
