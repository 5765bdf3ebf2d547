//! Loading what the process runs on: settings (defaults < file <
//! environment) and the wheel read from the file the settings name. Used by
//! the command line once per command and by the daemon's reload. The only
//! place that reads the wheel's file; `wheel` itself parses text.

use std::io::Read;
use std::path::Path;

use crate::settings::{Settings, SettingsError};
use crate::wheel::{self, Wheel, WheelError, WheelErrors};

/// Settings and wheel, loaded from what the user typed.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub wheel: Wheel,
}

/// Why the configuration could not be loaded; each is bad input (exit 2),
/// worded as one line per problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file or environment, one line per problem.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The wheel: `file:line:col: problem`, one line each.
    #[error("{0}")]
    Wheel(#[from] WheelErrors),
}

impl Config {
    /// Loads settings from `config` (or where [`Settings::locate`] finds
    /// them) and the wheel from `schedule`, or else from the settings'
    /// `schedule`.
    pub fn load(config: Option<&Path>, schedule: Option<&Path>) -> Result<Config, ConfigError> {
        let file = Settings::locate(config);
        let mut settings = Settings::load_located(file.as_deref())?;
        if let Some(s) = schedule {
            settings.schedule = s.to_path_buf();
        }
        let wheel = read_wheel(&settings.schedule)?;
        Ok(Config { settings, wheel })
    }
}

/// A wheel is a few kilobytes; anything this large is the wrong file, and
/// reading it whole would only waste memory.
const MAX_WHEEL_BYTES: u64 = 10 * 1024 * 1024;

/// Reads and parses a wheel file. An unreadable or oversized file is one
/// error with line 0, shown as `PATH: cannot read: REASON`; bytes that are
/// not UTF-8 are placed at the first bad one.
pub fn read_wheel(path: &Path) -> Result<Wheel, WheelErrors> {
    let file = path.display().to_string();
    let cannot_read = |reason: String| {
        WheelErrors(vec![WheelError {
            file: file.clone(),
            line: 0,
            col: 0,
            message: format!("cannot read: {reason}"),
        }])
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_WHEEL_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| cannot_read(wheel::lower_first(&e.to_string())))?;
    if bytes.len() as u64 > MAX_WHEEL_BYTES {
        let reason = "the file is larger than 10 MB; is this the right file?".to_string();
        return Err(cannot_read(reason));
    }
    wheel::parse_bytes(bytes, &file)
}
