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
    #[serde(deserialize_with = "lenient::path")]
    pub schedule: PathBuf,
    #[serde(deserialize_with = "lenient::path")]
    pub database: PathBuf,
    #[serde(deserialize_with = "lenient::string")]
    pub listen: String,
    #[serde(deserialize_with = "lenient::string")]
    pub public_url: String,
    /// The link-signing secret; `None`: beside the database (or
    /// `$CREDENTIALS_DIRECTORY/secret` under systemd).
    #[serde(deserialize_with = "lenient::opt_path")]
    pub secret_file: Option<PathBuf>,
    /// Days a completion link stays valid after the occurrence's last
    /// escalation day.
    pub link_days: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// The brake: a pass whose `now` is more than this after the last pass
    /// records and sends nothing (a duration as in the wheel: `"35d"`).
    #[serde(deserialize_with = "lenient::string")]
    pub max_clock_jump: String,
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
    #[serde(deserialize_with = "lenient::string")]
    pub from: String,
    /// Where the `file` transport writes one `.eml` per message.
    #[serde(deserialize_with = "lenient::path")]
    pub dir: PathBuf,
    /// A directory whose templates override the built-in ones.
    #[serde(deserialize_with = "lenient::opt_path")]
    pub templates: Option<PathBuf>,
    /// The brake: a pass that would queue more messages than this records
    /// and sends nothing.
    pub max_per_pass: u32,
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
    #[serde(deserialize_with = "lenient::opt_string")]
    pub host: Option<String>,
    pub port: u16,
    pub tls: SmtpTls,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub username: Option<String>,
    #[serde(deserialize_with = "lenient::opt_path")]
    pub password_file: Option<PathBuf>,
    /// Seconds one delivery may take, connection included.
    pub timeout_secs: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        let database = match std::env::var_os("STATE_DIRECTORY") {
            // systemd may pass several directories separated by ':'.
            Some(dirs) if !dirs.is_empty() => {
                let first = dirs
                    .to_string_lossy()
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .to_string();
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
            max_clock_jump: "35d".into(),
            mail: MailSettings {
                transport: MailTransport::File,
                from: "arshjul@localhost".into(),
                dir: PathBuf::from("outbox"),
                templates: None,
                max_per_pass: 200,
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
        let settings = fig.extract::<Settings>().map_err(|e| describe(e, file))?;
        if let Err(problem) = settings.max_clock_jump() {
            let source = file
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "settings".into());
            return Err(format!("{source}: setting `max_clock_jump`: {problem}"));
        }
        Ok(settings)
    }

    /// `max_clock_jump` as a number of days.
    pub fn max_clock_jump(&self) -> Result<crate::wheel::Days, String> {
        crate::wheel::parse::duration(&self.max_clock_jump)
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
        "max_clock_jump",
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
            None => file
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "settings".into()),
        };
        if key.is_empty() {
            lines.push(format!("{source}: {}", err.kind));
        } else {
            lines.push(format!("{source}: setting `{key}`: {}", err.kind));
        }
    }
    lines.join("\n")
}

/// Figment reads environment values as TOML, so `ARSHJUL_MAIL__SMTP__USERNAME=111111`
/// arrives as a number and `…=true` as a boolean. Text settings take any
/// scalar as its text.
mod lenient {
    use std::fmt;
    use std::path::PathBuf;

    use serde::de::{self, Deserializer, Visitor};

    struct Text;

    impl Visitor<'_> for Text {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_char<E: de::Error>(self, v: char) -> Result<String, E> {
            Ok(v.to_string())
        }
    }

    struct OptText;

    impl<'de> Visitor<'de> for OptText {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
            string(d).map(Some)
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        d.deserialize_any(Text)
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_option(OptText)
    }

    pub fn path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        string(d).map(PathBuf::from)
    }

    pub fn opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        opt_string(d).map(|o| o.map(PathBuf::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Environment variables are process-wide: these tests take turns.
    static ENV: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn with_env<T>(vars: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
        let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in vars {
            std::env::set_var(k, v);
        }
        let out = f();
        for (k, _) in vars {
            std::env::remove_var(k);
        }
        out
    }

    #[test]
    fn defaults_without_file_or_environment() {
        let s = with_env(&[], || Settings::load(None)).expect("defaults");
        assert_eq!(s.listen, "127.0.0.1:8080");
        assert_eq!(s.mail.transport, MailTransport::File);
        assert_eq!(s.mail.smtp.port, 587);
        assert_eq!(s.max_clock_jump().expect("default"), crate::wheel::Days(35));
        assert_eq!(s.mail.max_per_pass, 200);
    }

    #[test]
    fn the_brake_settings_come_from_the_environment_and_are_checked() {
        let s = with_env(
            &[
                ("ARSHJUL_MAX_CLOCK_JUMP", "2w"),
                ("ARSHJUL_MAIL__MAX_PER_PASS", "50"),
            ],
            || Settings::load(None),
        )
        .expect("settings");
        assert_eq!(s.max_clock_jump().expect("2w"), crate::wheel::Days(14));
        assert_eq!(s.mail.max_per_pass, 50);
        let err = with_env(&[("ARSHJUL_MAX_CLOCK_JUMP", "35 days")], || {
            Settings::load(None)
        })
        .expect_err("bad duration");
        assert!(err.contains("max_clock_jump"), "{err}");
    }

    #[test]
    fn numeric_looking_text_from_the_environment_stays_text() {
        let s = with_env(
            &[
                ("ARSHJUL_MAIL__SMTP__USERNAME", "111111"),
                ("ARSHJUL_MAIL__SMTP__HOST", "true"),
                ("ARSHJUL_MAIL__SMTP__PORT", "25"),
            ],
            || Settings::load(None),
        )
        .expect("settings");
        assert_eq!(s.mail.smtp.username.as_deref(), Some("111111"));
        assert_eq!(s.mail.smtp.host.as_deref(), Some("true"));
        assert_eq!(s.mail.smtp.port, 25);
    }

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("arshjul.toml");
        std::fs::write(&file, "listen = \"0.0.0.0:9000\"\n[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"relay\"\n")
            .expect("write");
        let s = with_env(&[("ARSHJUL_MAIL__SMTP__HOST", "smtp.example.dk")], || {
            Settings::load(Some(&file))
        })
        .expect("settings");
        assert_eq!(s.listen, "0.0.0.0:9000");
        assert_eq!(s.mail.transport, MailTransport::Smtp);
        assert_eq!(s.mail.smtp.host.as_deref(), Some("smtp.example.dk"));
    }

    #[test]
    fn a_stray_variable_is_ignored_but_a_bad_known_one_is_named() {
        with_env(
            &[("ARSHJUL_WHATEVER", "[[["), ("ARSHJUL_LOG", "debug")],
            || Settings::load(None),
        )
        .expect("stray ignored");
        let err = with_env(&[("ARSHJUL_MAIL__TRANSPORT", "pigeon")], || {
            Settings::load(None)
        })
        .expect_err("bad value");
        assert!(err.contains("mail.transport"), "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("arshjul.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        let err = with_env(&[], || Settings::load(Some(&file))).expect_err("unknown key");
        assert!(err.contains("lisen"), "{err}");
    }
}
