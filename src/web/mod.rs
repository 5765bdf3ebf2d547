//! Placeholder until the web branch lands.
pub mod token;
pub fn link(
    public_url: &str,
    _s: &token::Secret,
    task: &str,
    period: &str,
    person: &str,
    due: chrono::NaiveDate,
    expires: chrono::DateTime<chrono::Utc>,
) -> String {
    format!("{public_url}/done/{task}{period}{person}{due}{expires}")
}
pub struct AppState;
impl AppState {
    pub fn new(
        _s: std::sync::Arc<std::sync::Mutex<crate::store::Store>>,
        _w: std::sync::Arc<std::sync::RwLock<std::sync::Arc<crate::wheel::Wheel>>>,
        _secret: token::Secret,
        _settings: &crate::settings::Settings,
        _clock: std::sync::Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>,
    ) -> Result<AppState, String> {
        Ok(AppState)
    }
}
pub async fn serve(
    _l: tokio::net::TcpListener,
    _s: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    shutdown.await;
    Ok(())
}
