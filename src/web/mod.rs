//! Placeholder until the web branch lands.
pub mod token;
pub fn link(public_url: &str, _s: &token::Secret, task: &str, period: &str, person: &str, due: chrono::NaiveDate, expires: chrono::DateTime<chrono::Utc>) -> String {
    format!("{public_url}/done/{task}{period}{person}{due}{expires}")
}
