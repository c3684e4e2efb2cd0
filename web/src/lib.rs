//! The county command center: `sharpeyes serve`, and the same server inside `run` and `demo`.
//!
//! - [`model`]: incident states and actions, roles and village scopes. Pure.
//! - [`store`]: SQLite: incidents, timeline, actions, cameras, users, sessions, audit, dead
//!   letters.
//! - [`snapshots`]: the alerts' pictures, received as data and kept beside the database.
//! - [`clips`]: the alerts' event clips (MP4), received as data and kept beside the database.
//! - [`auth`]: argon2 passwords, session and CSRF tokens.
//! - [`limit`]: sign-in limits per address and user name, and the bound on password checks.
//! - [`feed`]: events in (pipeline or Kafka) → store → broadcast to pages.
//! - [`server`]: axum routes: page, JSON API, SSE, `/metrics`, `/healthz`.

pub mod auth;
pub mod clips;
pub mod feed;
mod hashed_files;
pub mod limit;
pub mod model;
pub mod server;
pub mod snapshots;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

pub use feed::{Feed, FeedEvent, FeedStats, consume_kafka};
pub use limit::LoginLimits;
pub use model::{Action, Role, State, User};
pub use server::{AppState, WebOptions, WebStats, router};
pub use clips::{ClipError, ClipStore};
pub use snapshots::{SnapshotError, SnapshotStore};
pub use store::{DeadLetter, Store, StoreError};

/// A running server: its address and the feed to publish into. Stops when dropped.
pub struct WebServer {
    pub addr: SocketAddr,
    pub feed: Feed,
    _server: Background,
}

impl WebServer {
    /// Binds `listen` (port 0: any free port) and serves on a thread of its own (a small tokio
    /// runtime), so the synchronous pipeline can embed it.
    pub fn start(listen: &str, store: Arc<Store>, options: WebOptions) -> std::io::Result<Self> {
        let feed = Feed::new(store.clone());
        let state = AppState {
            store,
            feed: feed.tx.clone(),
            login: Arc::new(limit::LoginGuard::new(&options.login)),
            options: Arc::new(options),
            stats: Arc::new(WebStats {
                feed: feed.stats.clone(),
                ..WebStats::default()
            }),
        };
        let server = Background::start("web", listen, 2, router(state))?;
        let addr = server.addr;
        tracing::info!(%addr, "command center at http://{addr}/");
        Ok(Self {
            addr,
            feed,
            _server: server,
        })
    }
}

/// An axum router served on a thread of its own (a small tokio runtime), so synchronous code
/// can embed it: the command center and the pipeline's `/metrics` endpoint. Stops when dropped.
pub struct Background {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Binds `listen` (port 0: any free port) and serves `app` on `worker_threads` threads.
    /// Handlers see the client's address (`ConnectInfo<SocketAddr>`).
    pub fn start(
        name: &str,
        listen: &str,
        worker_threads: usize,
        app: axum::Router,
    ) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let label = name.to_string();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(worker_threads.max(1))
                    .thread_name(format!("{label}-rt"))
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(server = %label, error = %e, "listener");
                            return;
                        }
                    };
                    let app = app.into_make_service_with_connect_info::<SocketAddr>();
                    // Not a graceful shutdown: live-feed connections never end by themselves;
                    // dropping the runtime closes them.
                    tokio::select! {
                        r = axum::serve(listener, app) => {
                            if let Err(e) = r {
                                tracing::error!(server = %label, error = %e, "server stopped");
                            }
                        }
                        _ = rx => {}
                    }
                });
                rt.shutdown_timeout(std::time::Duration::from_millis(500));
            })?;
        Ok(Self {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
