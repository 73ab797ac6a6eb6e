//! Serving: [`Server::start`] opens the store and prepares the state; [`run`] serves a bound
//! listener until the shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;

use switchboard_auth::CreatedToken;
use switchboard_config::Config;
use switchboard_storage::{Store, now_ms};
use tokio::net::TcpListener;

use crate::AppState;
use crate::http::router;

/// A gateway ready to serve: store open and migrated, crashed runs closed, state built.
#[derive(Debug)]
pub struct Server {
    /// The shared state.
    pub state: AppState,
    /// The admin token created on this first start, if one was (to show once).
    pub bootstrap_admin: Option<CreatedToken>,
}

impl Server {
    /// Opens the store, applies migrations, marks runs a crash left unfinished as failed, and
    /// creates the first admin token when none exists.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let store = Store::connect(&config.storage_url()).await?;
        store.migrate().await?;
        let interrupted = store
            .fail_unfinished_runs("interrupted: the server stopped", now_ms())
            .await?;
        if !interrupted.is_empty() {
            tracing::warn!(
                runs = interrupted.len(),
                "marked runs left unfinished by a crash as failed"
            );
        }
        crate::runs::log_interrupted(&store, &interrupted).await;
        let state = AppState::new(config, store);
        let bootstrap_admin = state.verifier.ensure_admin_token().await?;
        Ok(Server {
            state,
            bootstrap_admin,
        })
    }

    /// Binds `server.bind:server.port`.
    pub async fn bind(&self) -> anyhow::Result<TcpListener> {
        let server = &self.state.config.server;
        let addr = format!("{}:{}", server.bind, server.port);
        TcpListener::bind(&addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))
    }
}

/// Serves `listener` with `state` until `shutdown` resolves, then stops accepting and lets
/// open requests finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(state), shutdown).await
}

/// Serves a router built by [`crate::http`] (with the peer address every endpoint needs).
pub async fn serve_router(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
