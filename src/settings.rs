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

/// All settings (docs/settings.md).
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
    /// Days a completion link stays valid after the day of the message that
    /// carries it, and at least after the occurrence's last escalation day.
    pub link_days: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// The brake: a pass whose `now` is more than this after the last pass
    /// records and sends nothing (a duration as in the wheel: `"35d"`).
    #[serde(deserialize_with = "lenient::string")]
    pub max_clock_jump: String,
    /// How long a command or the daemon waits for another process's lock
    /// on the database before giving up, in milliseconds.
    pub busy_timeout_ms: u32,
    /// Connections the listener serves at once from one peer address (the
    /// TCP peer; behind a proxy, the proxy); more are closed at once.
    pub max_connections_per_peer: u32,
    /// Where `run` serves `GET /metrics` (Prometheus text format); `None`:
    /// no metrics listener.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub metrics_listen: Option<String>,
    pub mail: MailSettings,
    pub evidence: EvidenceSettings,
}

/// Evidence files kept with a completion (`done --evidence`, the confirm
/// page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceSettings {
    /// The largest evidence file accepted, in bytes (at most 100 MB, the
    /// most one completion's files may hold together).
    pub max_bytes: u64,
}

/// `evidence.max_bytes` by default: 20 MB.
pub const DEFAULT_EVIDENCE_MAX_BYTES: u64 = 20 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    File,
    Smtp,
    /// Microsoft Graph `sendMail` over HTTPS, with an OAuth token.
    Graph,
    /// A local `sendmail` command (an MTA relaying to the smarthost).
    Sendmail,
}

/// How the SMTP transport logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpAuth {
    /// `username` and the password file (no AUTH without a username).
    Password,
    /// OAuth 2.0: an access token from `mail.oauth` (Microsoft 365).
    Xoauth2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransport,
    #[serde(deserialize_with = "lenient::string")]
    pub from: String,
    /// Where replies go (`Reply-To`): a person who reads them, e.g. the
    /// coordinator; also the address the error pages name. Unset: no
    /// `Reply-To`, and the pages name the organisation without an address.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub reply_to: Option<String>,
    /// Where the `file` transport writes one `.eml` per message.
    #[serde(deserialize_with = "lenient::path")]
    pub dir: PathBuf,
    /// A directory whose templates override the built-in ones.
    #[serde(deserialize_with = "lenient::opt_path")]
    pub templates: Option<PathBuf>,
    /// The Microsoft Graph endpoint of the `graph` transport.
    #[serde(deserialize_with = "lenient::string")]
    pub graph_url: String,
    /// The brake: a pass that would send more mails than this records and
    /// sends nothing (with `bundle`, a recipient set's messages of a day
    /// are one mail).
    pub max_per_pass: u32,
    /// One mail per person per day: when a pass owes one recipient set
    /// several reminders, repeats or escalations on the same local day,
    /// they go as one mail listing each task with its own link. Off: one
    /// mail per message.
    pub bundle: bool,
    pub smtp: SmtpSettings,
    pub oauth: OAuthSettings,
    pub sendmail: SendmailSettings,
}

/// The OAuth 2.0 client-credentials grant, for `mail.smtp.auth =
/// "xoauth2"` and the `graph` transport.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// The Entra ID tenant (its id or a domain), for the default token URL.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub tenant: Option<String>,
    /// Default: `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub token_url: Option<String>,
    #[serde(deserialize_with = "lenient::opt_string")]
    pub client_id: Option<String>,
    /// Default: `$CREDENTIALS_DIRECTORY/oauth-client-secret` under systemd.
    #[serde(deserialize_with = "lenient::opt_path")]
    pub client_secret_file: Option<PathBuf>,
    /// Default: `https://outlook.office365.com/.default` for SMTP,
    /// `https://graph.microsoft.com/.default` for Graph.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub scope: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendmailSettings {
    /// The sendmail-compatible command (`-i -f FROM -- RCPT…`, message on stdin).
    #[serde(deserialize_with = "lenient::path")]
    pub command: PathBuf,
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
    pub auth: SmtpAuth,
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
            busy_timeout_ms: 5000,
            max_connections_per_peer: 32,
            metrics_listen: None,
            mail: MailSettings {
                transport: MailTransport::File,
                from: "arshjul@localhost".into(),
                reply_to: None,
                dir: PathBuf::from("outbox"),
                templates: None,
                graph_url: "https://graph.microsoft.com".into(),
                max_per_pass: 200,
                bundle: true,
                smtp: SmtpSettings {
                    host: None,
                    port: 587,
                    tls: SmtpTls::Starttls,
                    auth: SmtpAuth::Password,
                    username: None,
                    password_file: None,
                    timeout_secs: 30,
                },
                oauth: OAuthSettings {
                    tenant: None,
                    token_url: None,
                    client_id: None,
                    client_secret_file: None,
                    scope: None,
                },
                sendmail: SendmailSettings {
                    command: PathBuf::from("/usr/sbin/sendmail"),
                },
            },
            evidence: EvidenceSettings {
                max_bytes: DEFAULT_EVIDENCE_MAX_BYTES,
            },
        }
    }
}

/// Environment variables that belong to the command line or to systemd,
/// not to the settings tree; figment must not read them as settings.
const NOT_SETTINGS: &[&str] = &["CONFIG", "LOG"];

/// The most one completion's evidence files may hold together: 100 MB
/// (the store's own limit, `store::MAX_TOTAL_BYTES`, is the same).
pub const MAX_EVIDENCE_TOTAL_BYTES: u64 = 100 * 1024 * 1024;

/// The longest `busy_timeout_ms`: one hour.
const MAX_BUSY_TIMEOUT_MS: u32 = 3_600_000;

/// Why the settings cannot be used: one problem a line, each
/// `PLACE: key: problem in plain words` (see [`Settings::load`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.join("\n"))]
pub struct SettingsError {
    pub problems: Vec<String>,
}

impl Settings {
    /// The settings file to read: `explicit` (from `--config` or
    /// `ARSHJUL_CONFIG`), else `./arshjul.toml` if present, else
    /// `/etc/arshjul/arshjul.toml` if present, else none.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        [PathBuf::from("arshjul.toml"), SystemPaths::here().config]
            .into_iter()
            .find(|p| p.is_file())
    }

    /// [`Settings::load`] from `file`, on the defaults of an installed
    /// service when [`uses_system_paths`] says so for `file` (and this
    /// process), else on the built-in ones.
    pub fn load_located(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let system = SystemPaths::here();
        let defaults = if uses_system_paths(file, &system.config, privileged()) {
            Settings::default().on_system_paths(&system)
        } else {
            Settings::default()
        };
        Settings::load_on(file, defaults)
    }

    /// These defaults with the paths of an installed service: the wheel
    /// beside the settings file, the database and the file transport's
    /// outbox in the state directory (unless `STATE_DIRECTORY` already
    /// named one), as the unit has them.
    fn on_system_paths(mut self, system: &SystemPaths) -> Settings {
        self.schedule = system.schedule.clone();
        if std::env::var_os("STATE_DIRECTORY").is_none_or(|d| d.is_empty()) {
            self.database = system.state.join("arshjul.db");
        }
        self.mail.dir = system.state.join("outbox");
        self
    }

    /// Loads defaults < `file` < environment, then checks the values that
    /// parse but could not work (`public_url`, `listen`, `mail.from`, the
    /// SMTP port and host). An explicit file that does not exist is an
    /// error; so is an unknown key, in the file or in an `ARSHJUL_` variable
    /// that names a setting section (a stray `ARSHJUL_FOO` is ignored, so it
    /// cannot make the program unusable). Each problem is one line,
    /// `PLACE: key: problem in plain words`, where PLACE is the file (with
    /// `line:col` when the key is found in it), the environment variable, or
    /// "built-in defaults".
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        Settings::load_on(file, Settings::default())
    }

    /// [`Settings::load`] on other defaults.
    fn load_on(file: Option<&Path>, defaults: Settings) -> Result<Settings, SettingsError> {
        let mut fig = Figment::from(Serialized::defaults(defaults));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(SettingsError {
                    problems: vec![format!("{}: settings file not found", path.display())],
                });
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
        let places = Places::new(file);
        let settings = fig.extract::<Settings>().map_err(|e| SettingsError {
            problems: describe(e, &places),
        })?;
        let problems = settings.problems();
        if problems.is_empty() {
            return Ok(settings);
        }
        let problems = problems
            .iter()
            .map(|(key, problem)| {
                // A missing SMTP host is the transport setting's doing.
                let blame = match *key {
                    "mail.smtp.host" if settings.mail.smtp.host.is_none() => "mail.transport",
                    other => other,
                };
                let place = places.of(fig.find_metadata(blame), &split_key(blame));
                format!("{place}: {key}: {problem}")
            })
            .collect();
        Err(SettingsError { problems })
    }

    /// Values that parse but could not work, as (key, problem in words).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Err(problem) = check_public_url(&self.public_url) {
            problems.push(("public_url", problem));
        }
        if let Err(problem) = check_listen(&self.listen) {
            problems.push(("listen", problem));
        }
        if let Some(Err(problem)) = self.metrics_listen.as_deref().map(check_listen) {
            problems.push(("metrics_listen", problem));
        }
        if let Err(problem) = self.max_clock_jump() {
            problems.push(("max_clock_jump", problem));
        }
        if self.busy_timeout_ms > MAX_BUSY_TIMEOUT_MS {
            problems.push((
                "busy_timeout_ms",
                format!(
                    "must be at most {MAX_BUSY_TIMEOUT_MS} (one hour), not {}",
                    self.busy_timeout_ms
                ),
            ));
        }
        if self.max_connections_per_peer == 0 {
            problems.push((
                "max_connections_per_peer",
                "0 would refuse every connection; it must be at least 1".to_string(),
            ));
        }
        if self.mail.max_per_pass == 0 {
            problems.push((
                "mail.max_per_pass",
                "0 would hold every pass that has a message to send; it must be at least 1"
                    .to_string(),
            ));
        }
        if self.evidence.max_bytes == 0 {
            problems.push((
                "evidence.max_bytes",
                "0 would refuse every evidence file; it must be at least 1".to_string(),
            ));
        }
        if self.evidence.max_bytes > MAX_EVIDENCE_TOTAL_BYTES {
            problems.push((
                "evidence.max_bytes",
                format!(
                    "must be at most {MAX_EVIDENCE_TOTAL_BYTES} (100 MB, the most one completion's files may hold together), not {}",
                    self.evidence.max_bytes
                ),
            ));
        }
        if self.mail.smtp.timeout_secs == 0 {
            // Every transport (smtp, graph, sendmail) refuses it when built;
            // said here so that `check` refuses it too.
            problems.push((
                "mail.smtp.timeout_secs",
                "0 would give every delivery no time; it must be at least 1".to_string(),
            ));
        }
        if let Err(problem) = crate::wheel::text::mailbox(&self.mail.from) {
            problems.push((
                "mail.from",
                format!("cannot be the sender {:?}: {problem}", self.mail.from),
            ));
        }
        if let Some(reply_to) = &self.mail.reply_to {
            if let Err(problem) = crate::wheel::text::mailbox(reply_to) {
                problems.push((
                    "mail.reply_to",
                    format!("cannot be the reply address {reply_to:?}: {problem}"),
                ));
            }
        }
        if self.mail.transport == MailTransport::Smtp {
            match self.mail.smtp.host.as_deref().map(str::trim) {
                None | Some("") => problems.push((
                    "mail.smtp.host",
                    "must be set when mail.transport is \"smtp\"".to_string(),
                )),
                Some(_) => {}
            }
            if self.mail.smtp.port == 0 {
                problems.push((
                    "mail.smtp.port",
                    "must be a whole number from 1 to 65535, not 0".to_string(),
                ));
            }
        }
        problems
    }

    /// Where the settings came from, for `check`: the file, or the
    /// built-in defaults.
    pub fn origin(file: Option<&Path>) -> String {
        match file {
            Some(path) => path.display().to_string(),
            None => "built-in defaults (no settings file)".to_string(),
        }
    }

    /// `max_clock_jump` as a number of days.
    pub fn max_clock_jump(&self) -> Result<crate::wheel::Days, String> {
        match crate::wheel::parse::duration(&self.max_clock_jump)? {
            // Every pass comes some time after the last one: 0d holds them all.
            crate::wheel::Days(0) => Err(format!(
                "{:?} would hold every pass; it must be at least \"1d\"",
                self.max_clock_jump
            )),
            days => Ok(days),
        }
    }

    /// `busy_timeout_ms` as the store takes it.
    pub fn busy_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.busy_timeout_ms.into())
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

    /// The file holding the OAuth client secret, if any:
    /// `mail.oauth.client_secret_file`, else the `oauth-client-secret`
    /// credential under systemd.
    pub fn oauth_secret_path(&self) -> Option<PathBuf> {
        if let Some(p) = &self.mail.oauth.client_secret_file {
            return Some(p.clone());
        }
        let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
        let p = Path::new(&dir).join("oauth-client-secret");
        p.is_file().then_some(p)
    }
}

/// Where an installed service keeps its files (the Debian package and
/// `systemd/arshjul.service`): settings and wheel in `/etc/arshjul`, state
/// in `/var/lib/arshjul`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPaths {
    pub config: PathBuf,
    pub schedule: PathBuf,
    pub state: PathBuf,
}

/// For tests and packagers only: a directory that stands in for `/` in
/// [`SystemPaths`] (`$ARSHJUL_SYSTEM_ROOT/etc/arshjul/arshjul.toml`, …).
/// Not a setting.
pub const SYSTEM_ROOT_VAR: &str = "ARSHJUL_SYSTEM_ROOT";

impl SystemPaths {
    /// The paths under `root` (`/` on a real system).
    pub fn under(root: &Path) -> SystemPaths {
        SystemPaths {
            config: root.join("etc/arshjul/arshjul.toml"),
            schedule: root.join("etc/arshjul/schedule.toml"),
            state: root.join("var/lib/arshjul"),
        }
    }

    /// The paths of this system: under `/`, or under
    /// `$ARSHJUL_SYSTEM_ROOT` when that is set.
    pub fn here() -> SystemPaths {
        let root = std::env::var_os(SYSTEM_ROOT_VAR)
            .filter(|r| !r.is_empty())
            .map_or_else(|| PathBuf::from("/"), PathBuf::from);
        SystemPaths::under(&root)
    }
}

/// Whether a command takes the installed service's paths as its defaults
/// (wheel, database, outbox): when the settings file in use is the
/// system's (found there, or named by `--config`) and the process is
/// root or the service user, who can read the state directory. Anyone
/// else, or with a settings file elsewhere, keeps the built-in defaults
/// relative to the current directory.
pub fn uses_system_paths(file: Option<&Path>, system_config: &Path, privileged: bool) -> bool {
    privileged && file == Some(system_config)
}

/// Whether this process is root or the user `arshjul` (the effective
/// user, from `/proc/self/status` and `/etc/passwd`).
fn privileged() -> bool {
    let Some(uid) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?.to_string();
            line.split_whitespace().nth(2)?.parse::<u32>().ok()
        })
    else {
        return false;
    };
    uid == 0
        || std::fs::read_to_string("/etc/passwd").is_ok_and(|passwd| {
            passwd.lines().any(|l| {
                let mut f = l.split(':');
                f.next() == Some("arshjul") && f.nth(1) == Some(uid.to_string().as_str())
            })
        })
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
        "busy_timeout_ms",
        "max_connections_per_peer",
        "metrics_listen",
        "mail",
        "evidence",
    ]
}

/// `public_url`: an absolute http(s) URL with a host, since completion
/// links are made by appending `/done/TOKEN` to it.
fn check_public_url(url: &str) -> Result<(), String> {
    let example = "such as \"https://arshjul.kommune.dk\"";
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("must be an absolute http or https URL {example}, not {url:?}"))?;
    if let Some(c) = url.chars().find(|&c| {
        c.is_whitespace() || c.is_control() || crate::wheel::text::bidi_control(c).is_some()
    }) {
        return Err(format!(
            "must be a URL without spaces or control characters, not {url:?} (it contains {})",
            crate::wheel::text::describe_char(c)
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        // Never repeat the value: what comes before the `@` may be a password.
        return Err(format!(
            "must not carry a user name or password (they would be in every e-mail), {example}"
        ));
    }
    let host = authority;
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("must name a host, {example}, not {url:?}"));
    }
    // `host:port` or `[v6]:port`: a port, when given, is 1 to 65535.
    let port = match host.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => host.rsplit_once(':').map(|(_, port)| port),
    };
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(1..)) {
            return Err(format!(
                "must have a port from 1 to 65535 after the host, not {port:?} in {url:?}"
            ));
        }
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "must not have a query or fragment (links are made by appending /done/TOKEN), not {url:?}"
        ));
    }
    Ok(())
}

/// `listen`: what `run` will bind, read the way it will read it: an IP
/// address and port, or a host name and port that resolves.
fn check_listen(listen: &str) -> Result<(), String> {
    use std::net::{SocketAddr, ToSocketAddrs};
    if listen.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let example = "such as \"127.0.0.1:8080\" or \"localhost:8080\"";
    let has_port = listen
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !has_port {
        return Err(format!(
            "must be an address and a port, {example}, not {listen:?}"
        ));
    }
    match listen.to_socket_addrs() {
        Ok(addrs) if addrs.len() > 0 => Ok(()),
        Ok(_) => Err(format!("{listen:?} resolves to no address")),
        Err(e) => Err(format!(
            "cannot be listened on as written ({listen:?}): {e}"
        )),
    }
}

/// `mail.smtp.port` → `["mail", "smtp", "port"]`.
fn split_key(key: &str) -> Vec<String> {
    key.split('.').map(str::to_string).collect()
}

/// Names the place a setting came from, for messages.
struct Places {
    /// The settings file and its text, to find a key's line and column.
    file: Option<(PathBuf, Option<String>)>,
}

impl Places {
    fn new(file: Option<&Path>) -> Places {
        Places {
            file: file.map(|p| (p.to_path_buf(), std::fs::read_to_string(p).ok())),
        }
    }

    /// `arshjul.toml:3:14`, `arshjul.toml`, `ARSHJUL_MAIL__SMTP__PORT` or
    /// `built-in defaults`.
    fn of(&self, metadata: Option<&figment::Metadata>, path: &[String]) -> String {
        let Some(md) = metadata else {
            return self.file_place(path);
        };
        match &md.source {
            Some(figment::Source::File(p)) => {
                let same = self.file.as_ref().is_some_and(|(f, _)| f == p);
                if same {
                    self.file_place(path)
                } else {
                    p.display().to_string()
                }
            }
            _ if md.name.contains("environment") => {
                let name: Vec<String> = path.iter().map(|k| k.to_ascii_uppercase()).collect();
                format!("ARSHJUL_{}", name.join("__"))
            }
            _ => "built-in defaults".to_string(),
        }
    }

    /// The settings file, with the line and column of `path` in it if found.
    fn file_place(&self, path: &[String]) -> String {
        let Some((file, source)) = &self.file else {
            return "settings".to_string();
        };
        let shown = file.display().to_string();
        match source.as_deref().and_then(|s| Some((s, locate(s, path)?))) {
            Some((source, offset)) => {
                let before = &source[..offset];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
                format!("{shown}:{line}:{col}")
            }
            None => shown,
        }
    }
}

/// The byte offset of the value at `path` in a TOML document (of the key
/// itself when the value is a table).
fn locate(source: &str, path: &[String]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(source).ok()?;
    let mut table = root.get_ref();
    let (last, parents) = path.split_last()?;
    for key in parents {
        let (_, value) = table.iter().find(|(k, _)| k.get_ref() == key)?;
        match value.get_ref() {
            DeValue::Table(inner) => table = inner,
            _ => return None,
        }
    }
    let (key, value) = table.iter().find(|(k, _)| k.get_ref() == last)?;
    match value.get_ref() {
        DeValue::Table(_) => Some(key.span().start),
        _ => Some(value.span().start),
    }
}

/// Figment's errors, one line each, worded like the wheel's:
/// `PLACE: key: problem in plain words`.
fn describe(e: figment::Error, places: &Places) -> Vec<String> {
    use figment::error::Kind;
    let mut lines = Vec::new();
    for err in e {
        let mut path = err.path.clone();
        let problem = match &err.kind {
            Kind::InvalidType(actual, _) | Kind::InvalidValue(actual, _) => {
                let key = path.join(".");
                format!(
                    "must be {}, not {}",
                    expected_words(&key),
                    actual_words(actual)
                )
            }
            Kind::UnknownVariant(given, expected) => {
                format!("must be {}, not {given:?}", one_of(expected))
            }
            Kind::UnknownField(field, expected) => {
                if path.last() != Some(field) {
                    path.push(field.clone());
                }
                if expected.is_empty() {
                    "is not a setting arshjul knows".to_string()
                } else {
                    format!(
                        "is not a setting arshjul knows (known here: {})",
                        expected.join(", ")
                    )
                }
            }
            Kind::MissingField(field) => {
                if path.last().map(String::as_str) != Some(field.as_ref()) {
                    path.push(field.to_string());
                }
                "is missing".to_string()
            }
            Kind::DuplicateField(field) => {
                path.push(field.to_string());
                "is given twice".to_string()
            }
            Kind::Message(message) => {
                if let Some((place, problem)) = toml_syntax(message, places) {
                    lines.push(format!("{place}: {problem}"));
                    continue;
                }
                message.replace('`', "")
            }
            other => other.to_string().replace('`', ""),
        };
        let place = places.of(err.metadata.as_ref(), &path);
        let key = path.join(".");
        if key.is_empty() {
            lines.push(format!("{place}: {problem}"));
        } else {
            lines.push(format!("{place}: {key}: {problem}"));
        }
    }
    lines
}

/// A TOML syntax error as figment passes it on (several lines with a
/// snippet) → (`file:line:col`, `problem, expected …`).
fn toml_syntax(message: &str, places: &Places) -> Option<(String, String)> {
    let first = message.lines().next()?;
    let at = first.strip_prefix("TOML parse error at line ")?;
    let (line, col) = at.split_once(", column ")?;
    let (line, col): (usize, usize) = (line.trim().parse().ok()?, col.trim().parse().ok()?);
    let file = places
        .file
        .as_ref()
        .map_or_else(|| "settings".to_string(), |(f, _)| f.display().to_string());
    // After the snippet (`  |`, `1 | x = [`, `  |   ^`): the words.
    let words: Vec<&str> = message
        .lines()
        .skip(1)
        .skip_while(|l| l.contains('|'))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Some((
        format!("{file}:{line}:{col}"),
        words.join(", ").replace('`', ""),
    ))
}

/// What a setting must be, in words.
fn expected_words(key: &str) -> &'static str {
    match key {
        "mail.smtp.port" => "a whole number from 1 to 65535",
        "link_days" => "a whole number of days (0 or more)",
        "busy_timeout_ms" => "a whole number of milliseconds",
        "max_connections_per_peer" => "a whole number of connections",
        "mail.smtp.timeout_secs" => "a whole number of seconds",
        "mail.max_per_pass" => "a whole number of messages",
        "mail.bundle" => "true or false",
        "evidence.max_bytes" => "a whole number of bytes",
        "trusted_proxies" => "a list of addresses, such as [\"127.0.0.1\"]",
        "mail.transport" => "\"file\", \"smtp\", \"graph\" or \"sendmail\"",
        "mail.smtp.auth" => "\"password\" or \"xoauth2\"",
        "mail.smtp.tls" => "\"starttls\", \"tls\" or \"none\"",
        "" => "a table of settings",
        "mail" | "mail.smtp" | "mail.oauth" | "mail.sendmail" | "evidence" => "a table of settings",
        _ => "text",
    }
}

/// A value as the user wrote it.
fn actual_words(actual: &figment::error::Actual) -> String {
    use figment::error::Actual;
    match actual {
        Actual::Str(s) => format!("{s:?}"),
        Actual::Char(c) => format!("{:?}", c.to_string()),
        Actual::Signed(n) => n.to_string(),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Bool(b) => b.to_string(),
        Actual::Seq => "a list".to_string(),
        Actual::Map => "a table".to_string(),
        Actual::Unit | Actual::Option => "nothing".to_string(),
        other => other.to_string().replace('`', ""),
    }
}

/// `"a"`, `"a" or "b"`, `"a", "b" or "c"`.
fn one_of(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    match quoted.split_last() {
        None => "one of nothing".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
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
    fn evidence_max_bytes_is_20_mb_by_default_set_by_the_environment_and_checked() {
        let s = with_env(&[], || Settings::load(None)).expect("defaults");
        assert_eq!(s.evidence.max_bytes, 20_971_520);
        let s = with_env(&[("ARSHJUL_EVIDENCE__MAX_BYTES", "1000")], || {
            Settings::load(None)
        })
        .expect("settings");
        assert_eq!(s.evidence.max_bytes, 1000);
        for bad in ["0", "104857601"] {
            let err = with_env(&[("ARSHJUL_EVIDENCE__MAX_BYTES", bad)], || {
                Settings::load(None)
            })
            .expect_err(bad);
            assert!(
                err.to_string()
                    .starts_with("ARSHJUL_EVIDENCE__MAX_BYTES: evidence.max_bytes: "),
                "{err}"
            );
        }
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
        assert!(err.to_string().contains("max_clock_jump"), "{err}");
    }

    #[test]
    fn the_busy_timeout_is_5_s_unless_set_and_at_most_an_hour() {
        let s = with_env(&[], || Settings::load(None)).expect("defaults");
        assert_eq!(s.busy_timeout(), std::time::Duration::from_millis(5000));
        let s = with_env(&[("ARSHJUL_BUSY_TIMEOUT_MS", "250")], || {
            Settings::load(None)
        })
        .expect("settings");
        assert_eq!(s.busy_timeout(), std::time::Duration::from_millis(250));
        let s = with_env(&[("ARSHJUL_BUSY_TIMEOUT_MS", "3600000")], || {
            Settings::load(None)
        })
        .expect("one hour");
        assert_eq!(s.busy_timeout(), std::time::Duration::from_secs(3600));
        let err = with_env(&[("ARSHJUL_BUSY_TIMEOUT_MS", "3600001")], || {
            Settings::load(None)
        })
        .expect_err("over an hour");
        assert_eq!(
            err.to_string(),
            "ARSHJUL_BUSY_TIMEOUT_MS: busy_timeout_ms: must be at most 3600000 (one hour), not 3600001"
        );
        let err = with_env(&[("ARSHJUL_BUSY_TIMEOUT_MS", "soon")], || {
            Settings::load(None)
        })
        .expect_err("not a number");
        assert!(
            err.to_string()
                .starts_with("ARSHJUL_BUSY_TIMEOUT_MS: busy_timeout_ms: "),
            "{err}"
        );
        assert!(
            err.to_string().contains("a whole number of milliseconds"),
            "{err}"
        );
    }

    #[test]
    fn max_connections_per_peer_is_32_unless_set_and_never_0() {
        let s = with_env(&[], || Settings::load(None)).expect("defaults");
        assert_eq!(s.max_connections_per_peer, 32);
        let s = with_env(&[("ARSHJUL_MAX_CONNECTIONS_PER_PEER", "4")], || {
            Settings::load(None)
        })
        .expect("settings");
        assert_eq!(s.max_connections_per_peer, 4);
        let err = with_env(&[("ARSHJUL_MAX_CONNECTIONS_PER_PEER", "0")], || {
            Settings::load(None)
        })
        .expect_err("0");
        assert_eq!(
            err.to_string(),
            "ARSHJUL_MAX_CONNECTIONS_PER_PEER: max_connections_per_peer: 0 would refuse every connection; it must be at least 1"
        );
    }

    #[test]
    fn mail_defaults_keep_password_smtp_and_name_microsofts_endpoints() {
        let s = with_env(&[], || Settings::load(None)).expect("defaults");
        assert_eq!(s.mail.smtp.auth, SmtpAuth::Password);
        assert_eq!(s.mail.graph_url, "https://graph.microsoft.com");
        assert_eq!(s.mail.sendmail.command, PathBuf::from("/usr/sbin/sendmail"));
        assert_eq!(s.mail.oauth.token_url, None);
        let s = with_env(
            &[
                ("ARSHJUL_MAIL__TRANSPORT", "graph"),
                ("ARSHJUL_MAIL__SMTP__AUTH", "xoauth2"),
                ("ARSHJUL_MAIL__OAUTH__CLIENT_ID", "1234"),
                ("ARSHJUL_MAIL__GRAPH_URL", "https://graph.microsoft.us"),
            ],
            || Settings::load(None),
        )
        .expect("settings");
        assert_eq!(s.mail.transport, MailTransport::Graph);
        assert_eq!(s.mail.smtp.auth, SmtpAuth::Xoauth2);
        assert_eq!(s.mail.oauth.client_id.as_deref(), Some("1234"));
        assert_eq!(s.mail.graph_url, "https://graph.microsoft.us");
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
        assert!(err.to_string().contains("mail.transport"), "{err}");
    }

    #[test]
    fn public_urls_must_be_absolute_http_or_https_with_a_host() {
        for good in [
            "http://127.0.0.1:8080",
            "https://arshjul.kommune.dk",
            "https://kommune.dk/arshjul/",
            "https://arshjul.kommune.dk:8443/",
            "http://[::1]:8080",
            "http://[::1]",
        ] {
            assert_eq!(check_public_url(good), Ok(()), "{good}");
        }
        for bad in [
            "arshjul.example",
            "ftp://arshjul.example",
            "https://",
            "https://:8080",
            "https://arshjul.example/?x=1",
            "https://arshjul example",
            "",
            "https://arshjul.example:99999",
            "https://arshjul.example:0/",
            "https://arshjul.example:/",
            "https://[::1]:70000",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_public_url_with_a_password_is_refused_without_repeating_it() {
        let err =
            check_public_url("https://arshjul:hemmeligt@arshjul.kommune.dk").expect_err("userinfo");
        assert!(err.to_string().contains("user name or password"), "{err}");
        assert!(!err.contains("hemmeligt"), "{err}");
        assert!(check_public_url("https://anna@arshjul.kommune.dk").is_err());
    }

    #[test]
    fn a_brake_that_holds_every_pass_is_refused() {
        let s = with_env(&[("ARSHJUL_MAX_CLOCK_JUMP", "0d")], || Settings::load(None));
        let err = s.expect_err("0d");
        assert!(err.to_string().contains("max_clock_jump"), "{err}");
        assert!(err.to_string().contains("at least \"1d\""), "{err}");
        let s = with_env(&[("ARSHJUL_MAX_CLOCK_JUMP", "0w")], || Settings::load(None));
        assert!(s.is_err());
        let s = with_env(&[("ARSHJUL_MAX_CLOCK_JUMP", "1d")], || Settings::load(None));
        assert_eq!(s.expect("1d").max_clock_jump(), Ok(crate::wheel::Days(1)));
        let err = with_env(&[("ARSHJUL_MAIL__MAX_PER_PASS", "0")], || {
            Settings::load(None)
        })
        .expect_err("0 messages");
        assert!(err.to_string().contains("mail.max_per_pass"), "{err}");
        assert!(err.to_string().contains("at least 1"), "{err}");
        let err = with_env(&[("ARSHJUL_MAIL__SMTP__TIMEOUT_SECS", "0")], || {
            Settings::load(None)
        })
        .expect_err("no time to deliver");
        assert!(err.to_string().contains("mail.smtp.timeout_secs"), "{err}");
        let err = with_env(&[("ARSHJUL_MAX_CLOCK_JUMP", "9999d")], || {
            Settings::load(None)
        })
        .expect_err("too long");
        assert!(
            err.to_string()
                .contains("\"9999d\" is too long (at most \"3660d\")"),
            "{err}"
        );
    }

    #[test]
    fn the_system_paths_are_taken_only_by_root_or_the_service_user_with_the_system_settings_file() {
        let system = SystemPaths::under(Path::new("/"));
        assert_eq!(system.config, Path::new("/etc/arshjul/arshjul.toml"));
        assert_eq!(system.schedule, Path::new("/etc/arshjul/schedule.toml"));
        assert_eq!(system.state, Path::new("/var/lib/arshjul"));
        let etc = Some(system.config.as_path());
        assert!(uses_system_paths(etc, &system.config, true));
        assert!(!uses_system_paths(etc, &system.config, false));
        // A settings file in the current directory, or none at all: the
        // quickstart's defaults, for root too.
        assert!(!uses_system_paths(
            Some(Path::new("arshjul.toml")),
            &system.config,
            true
        ));
        assert!(!uses_system_paths(None, &system.config, true));
        let moved = SystemPaths::under(Path::new("/tmp/root"));
        assert_eq!(
            moved.config,
            Path::new("/tmp/root/etc/arshjul/arshjul.toml")
        );
        assert_eq!(moved.state, Path::new("/tmp/root/var/lib/arshjul"));
    }

    #[test]
    fn listen_is_read_as_run_binds_it() {
        for good in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "0.0.0.0:0",
            "localhost:8080",
        ] {
            assert_eq!(check_listen(good), Ok(()), "{good}");
        }
        for bad in ["localhost", "8080", ":8080", "127.0.0.1", "127.0.0.1:99999"] {
            assert!(check_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("arshjul.toml");
        std::fs::write(&file, "lisen = \"x\"\n").expect("write");
        let err = with_env(&[], || Settings::load(Some(&file))).expect_err("unknown key");
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
