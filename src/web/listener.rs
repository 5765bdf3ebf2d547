//! The listener: HTTP/1.1 over hyper, one task per connection, with the
//! limits a client may hold (header and body read timeouts, a connection
//! lifetime, a connection cap, a cap per peer address) and a bounded
//! graceful shutdown, which `axum::serve` cannot set. Its timers are the only waiting in `web`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Semaphore};
use tower_http::timeout::RequestBodyTimeoutLayer;

use super::{router, AppState};

/// What one client may hold of the listener. Without these a client that
/// opens connections and never finishes a request, or never reads the
/// answer, keeps them, and their file descriptors, for as long as it likes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's headers must have arrived this long after the connection
    /// opened or the previous response went out; an idle keep-alive
    /// connection is closed after it too.
    pub header_read_timeout: Duration,
    /// The longest wait for the next piece of a request body.
    pub body_read_timeout: Duration,
    /// The longest a connection stays open, however busy: it is then asked
    /// to close after the request in hand, and cut off if that request is
    /// not done within the same time again (at most 10 s). This bounds a
    /// client that trickles its body or never reads the answer.
    pub connection_lifetime: Duration,
    /// Connections served at once; further ones wait in the kernel's
    /// backlog until one closes.
    pub max_connections: usize,
    /// Connections served at once from one peer address (the TCP peer,
    /// never `X-Forwarded-For`): a further one from that address is closed
    /// at once, so that one client cannot take the whole of
    /// [`Limits::max_connections`] and leave the others waiting.
    pub max_connections_per_peer: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            max_connections: 256,
            max_connections_per_peer: 32,
        }
    }
}

/// How many connections each peer address holds, for
/// [`Limits::max_connections_per_peer`].
#[derive(Clone)]
struct Peers {
    cap: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Peers {
    fn new(cap: usize) -> Peers {
        Peers {
            cap: cap.max(1),
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `ip`, or `None` at its cap. The
    /// slot is given back when dropped.
    fn enter(&self, ip: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

/// One connection's place in its peer's count.
struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The longest a connection that was asked to close may take to finish
/// its request.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Serves [`router`] on `listener` with the default [`Limits`] until
/// `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Limits::default(), shutdown).await
}

/// [`serve`] with other limits. HTTP/1.1 over hyper, one task per
/// connection, the peer's address handed to the handlers as
/// [`ConnectInfo`]. On `shutdown` the listener closes at once, each
/// connection is asked to close after its request in hand, and this returns
/// when all have (each within the grace of [`Limits::connection_lifetime`]).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), limits, shutdown).await
}

/// [`serve_with`] for another router (the metrics listener's), with the
/// same limits and shutdown.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router.layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout));
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS) as u32;
    let permits = Arc::new(Semaphore::new(max_connections as usize));
    let peers = Peers::new(limits.max_connections_per_peer);
    let (closing, closing_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A permit first: at the limit, connections are not even accepted.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // closed: cannot happen, the loop owns it
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // The peer gave up before the accept: nothing to wait for.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Over its own cap, a peer's new connection is closed at once
        // (dropped: the kernel closes it) rather than queued, so that it
        // frees the global permit for everyone else.
        // One count per client, whether the socket is IPv4 or dual-stack.
        let Some(peer_slot) = peers.enter(peer.ip().to_canonical()) else {
            tracing::debug!(peer = %peer, "connection refused: too many from this peer");
            drop(stream);
            continue;
        };
        let connection = serve_connection(stream, peer, router.clone(), limits, closing_rx.clone());
        tokio::spawn(async move {
            connection.await;
            drop(peer_slot);
            drop(permit);
        });
    }
    // Refuse new clients at once rather than leave them in the backlog.
    drop(listener);
    let _ = closing.send(true);
    // Every connection holds a permit until it has ended.
    let _ = permits.acquire_many(max_connections).await;
    Ok(())
}

/// One connection, from the first byte until it ends, reaches its lifetime
/// or is asked to close by `closing`.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut closing: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut router.clone(), request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => Some(ended),
        _ = tokio::time::sleep(limits.connection_lifetime) => None,
        _ = closing.wait_for(|closing| *closing) => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            // Close after the request in hand; cut off after the grace.
            connection.as_mut().graceful_shutdown();
            let grace = CLOSE_GRACE.min(limits.connection_lifetime);
            tokio::time::timeout(grace, connection)
                .await
                .unwrap_or(Ok(()))
        }
    };
    if let Err(e) = ended {
        tracing::debug!(peer = %peer, "connection ended: {e}");
    }
}

/// Accept errors that concern one peer only (it reset or gave up before
/// the accept), after which the next accept can follow at once.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}
