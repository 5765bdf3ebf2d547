//! `schedule.toml` → [`Wheel`]: TOML syntax, then meaning, with every
//! problem reported as `file:line:col: message`. Reads a file only in
//! [`parse_file`]; [`parse`] works on a string so it is testable without files.

use std::fmt;
use std::path::Path;

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
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
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
    todo!("{source} {file}")
}

/// Reads and parses a wheel file. An unreadable file is one error with
/// line 0, shown as `PATH: cannot read: REASON`.
pub fn parse_file(path: &Path) -> Result<Wheel, WheelErrors> {
    todo!("{}", path.display())
}
