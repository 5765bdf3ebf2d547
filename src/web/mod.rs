//! The completion-link web server: signed links, their pages, `/healthz`.

pub mod token;

use chrono::{DateTime, NaiveDate, Utc};

use token::{Claims, Secret};

/// The completion link `{public_url}/done/{token}` for the mail side.
pub fn link(
    public_url: &str,
    secret: &Secret,
    task: &str,
    period: &str,
    person: &str,
    due: NaiveDate,
    expires: DateTime<Utc>,
) -> String {
    let claims = Claims {
        task: task.to_string(),
        period: period.to_string(),
        person: person.to_string(),
        due,
        expires: expires.timestamp(),
    };
    format!(
        "{}/done/{}",
        public_url.trim_end_matches('/'),
        token::sign(secret, &claims)
    )
}
