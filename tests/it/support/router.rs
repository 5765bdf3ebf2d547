//! The real completion-link router, served on 127.0.0.1:0 over what the
//! binary left in a scratch directory (its wheel, database and link
//! secret), with the clock stopped at a given instant.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use arshjul::link::Secret;
use arshjul::store::Store;
use arshjul::web::{self, AppState};
use chrono::{DateTime, Utc};

/// A router serving until dropped.
pub struct Served {
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Served {
    /// `link` with its origin replaced by this server's address.
    pub fn local(&self, link: &str) -> String {
        let path = &link[link.find("/done/").expect("a completion link")..];
        format!("http://{}{}", self.addr, path)
    }

    /// `GET path` from this server: the whole answer.
    pub fn get(&self, path: &str) -> super::http::Reply {
        super::http::send(self.addr, &super::http::get(path))
    }

    /// `GET` of the path of a viewer URL the binary printed ([`path_of`]).
    pub fn get_printed(&self, url: &str) -> super::http::Reply {
        self.get(&path_of(url))
    }
}

/// Serves the router on `runtime` over `dir`'s `schedule.toml`,
/// `arshjul.db` and `arshjul.secret` (all made by the binary), at `now`.
pub fn serve(runtime: &tokio::runtime::Runtime, dir: &Path, now: DateTime<Utc>) -> Served {
    let wheel = arshjul::config::read_wheel(&dir.join("schedule.toml")).expect("the wheel parses");
    let store =
        Store::open(&dir.join("arshjul.db"), false).expect("the binary created the database");
    let secret =
        Secret::load_or_create(&dir.join("arshjul.secret")).expect("the binary created the secret");
    let state = AppState::new(
        Arc::new(Mutex::new(store)),
        Arc::new(RwLock::new(Arc::new(wheel))),
        secret,
        Vec::new(),
        Arc::new(move || now),
    )
    .with_feed_links("https://arshjul.example".into(), 90);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = web::serve(listener, state, shutdown).await {
            panic!("the router stopped: {e}");
        }
    });
    Served { addr, _stop: stop }
}

/// A two-thread Tokio runtime for [`serve`] from a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The path of a viewer URL the binary printed (`/overview/TOKEN` or
/// `/calendar/TOKEN.ics`), surrounding white space trimmed.
pub fn path_of(url: &str) -> String {
    let url = url.trim();
    let start = url.find("/overview/").or_else(|| url.find("/calendar/"));
    url[start.expect("a viewer URL (/overview/ or /calendar/)")..].to_string()
}
