//! Settings, layered with figment: embedded defaults < settings file <
//! `ARSHJUL_*` environment (nested keys split on `__`). Owns where the
//! settings file is looked for and how secrets are located; reads no secret
//! itself (secrets come from files, never from the environment, because
//! figment parses environment values as TOML and would turn `111111` into
//! a number).

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// All settings (CONTRACT section 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub schedule: PathBuf,
    pub database: PathBuf,
    pub listen: String,
    pub public_url: String,
    /// The link-signing secret; `None`: beside the database (or
    /// `$CREDENTIALS_DIRECTORY/secret` under systemd).
    pub secret_file: Option<PathBuf>,
    /// Days a completion link stays valid after the occurrence's last
    /// escalation day.
    pub link_days: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    pub mail: MailSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    File,
    Smtp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    pub from: String,
    /// Where the `file` transport writes one `.eml` per message.
    pub dir: PathBuf,
    /// A directory whose templates override the built-in ones.
    pub templates: Option<PathBuf>,
    pub smtp: SmtpSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: Option<String>,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Seconds one delivery may take, connection included.
    pub timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        let database = match std::env::var_os("STATE_DIRECTORY") {
            // systemd may pass several directories separated by ':'.
            Some(dirs) if !dirs.is_empty() => {
                let first = dirs.to_string_lossy().split(':').next().unwrap_or("").to_string();
                Path::new(&first).join("arshjul.db")
            }
            _ => PathBuf::from("arshjul.db"),
        };
        Settings {
            schedule: PathBuf::from("schedule.toml"),
            database,
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            secret_file: None,
            link_days: 90,
            trusted_proxies: Vec::new(),
            mail: MailSettings {
                transport: MailTransport::File,
                from: "arshjul@localhost".into(),
                dir: PathBuf::from("outbox"),
                templates: None,
                smtp: SmtpSettings {
                    host: None,
                    port: 587,
                    tls: SmtpTls::Starttls,
                    username: None,
                    password_file: None,
                    timeout_secs: 30,
                },
            },
        }
    }
}

/// Environment variables that belong to the command line or to systemd,
/// not to the settings tree; figment must not read them as settings.
const NOT_SETTINGS: &[&str] = &["CONFIG", "LOG"];

impl Settings {
    /// The settings file to read: `explicit` (from `--config` or
    /// `ARSHJUL_CONFIG`), else `./arshjul.toml` if present, else
    /// `/etc/arshjul/arshjul.toml` if present, else none.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        ["arshjul.toml", "/etc/arshjul/arshjul.toml"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    }

    /// Loads defaults < `file` < environment. An explicit file that does
    /// not exist is an error; so is an unknown key, in the file or in an
    /// `ARSHJUL_` variable that names a setting section (a stray
    /// `ARSHJUL_FOO` is ignored, so it cannot make the program unusable).
    pub fn load(file: Option<&Path>) -> Result<Settings, String> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(format!("{}: settings file not found", path.display()));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        let known = known_env_keys();
        let env = Env::prefixed("ARSHJUL_")
            .split("__")
            .filter(move |key| {
                let top = key.as_str().split('.').next().unwrap_or("");
                !NOT_SETTINGS.iter().any(|n| n.eq_ignore_ascii_case(top))
                    && known.iter().any(|k| k.eq_ignore_ascii_case(top))
            })
            .map(|key| key.as_str().to_ascii_lowercase().into());
        fig = fig.merge(env);
        fig.extract::<Settings>().map_err(|e| describe(e, file))
    }

    /// The file holding the link secret.
    pub fn secret_path(&self) -> PathBuf {
        if let Some(p) = &self.secret_file {
            return p.clone();
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let p = Path::new(&dir).join("secret");
            if p.is_file() {
                return p;
            }
        }
        let dir = self.database.parent().filter(|d| !d.as_os_str().is_empty());
        dir.unwrap_or(Path::new(".")).join("arshjul.secret")
    }

    /// The file holding the SMTP password, if any.
    pub fn smtp_password_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.mail.smtp.password_file {
            return Some(p.clone());
        }
        let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
        let p = Path::new(&dir).join("smtp-password");
        p.is_file().then_some(p)
    }
}

/// Top-level setting names, as `ARSHJUL_<NAME>` prefixes.
fn known_env_keys() -> Vec<&'static str> {
    vec![
        "schedule",
        "database",
        "listen",
        "public_url",
        "secret_file",
        "link_days",
        "trusted_proxies",
        "mail",
    ]
}

fn describe(e: figment::Error, file: Option<&Path>) -> String {
    let mut lines = Vec::new();
    for err in e {
        let key = err.path.join(".");
        let source = match &err.metadata {
            Some(md) => match &md.source {
                Some(figment::Source::File(p)) => p.display().to_string(),
                _ => md.name.to_string(),
            },
            None => file.map(|f| f.display().to_string()).unwrap_or_else(|| "settings".into()),
        };
        if key.is_empty() {
            lines.push(format!("{source}: {}", err.kind));
        } else {
            lines.push(format!("{source}: setting `{key}`: {}", err.kind));
        }
    }
    lines.join("\n")
}
