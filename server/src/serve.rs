//! Serving: [`Server::start`] opens the store and prepares the state; [`run`] serves a bound
//! listener until the shutdown future resolves.

use std::future::Future;
use std::time::Duration;

use switchboard_api::Event;
use switchboard_api::events::ShutdownPayload;
use switchboard_auth::CreatedToken;
use switchboard_config::Config;
use switchboard_storage::{Store, now_ms};
use tokio::net::TcpListener;

use crate::AppState;
use crate::http::router;
use std::sync::{Arc, OnceLock};

use crate::hub::HubEvent;
use crate::hub::broker::{Broker, Handlers, LocalBroker, RedisBroker};

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
        // With many nodes, other nodes' runs are not ours to fail: a run whose node stopped is
        // failed by a survivor once that node's lease lapses.
        if !config.cluster.enabled() {
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
        }
        let node_id = config
            .cluster
            .node_id
            .clone()
            .unwrap_or_else(crate::state::generated_node_id);
        let handlers = Handlers::default();
        // Heartbeats describe this node; the state they read exists once built.
        let described: Arc<OnceLock<AppState>> = Arc::default();
        let report: Arc<dyn Fn() -> serde_json::Value + Send + Sync> = {
            let described = described.clone();
            Arc::new(move || {
                described
                    .get()
                    .map_or(serde_json::Value::Null, crate::admin::node_report)
            })
        };
        let (broker, heard): (Arc<dyn Broker>, _) = match &config.cluster.redis_url {
            Some(url) => {
                let (broker, heard) = RedisBroker::connect(
                    url,
                    &config.cluster.channel_prefix,
                    &node_id,
                    handlers.clone(),
                    report,
                )
                .await
                .map_err(|e| anyhow::anyhow!("cluster.redis_url: {e}"))?;
                tracing::info!(node = %node_id, "joined the cluster");
                (broker, Some(heard))
            }
            None => (
                Arc::new(LocalBroker::new(node_id, handlers.clone(), report)),
                None,
            ),
        };
        let state = AppState::new(config, store, broker, handlers);
        let _ = described.set(state.clone());
        if let Some(heard) = heard {
            state.bus.listen(heard);
        }
        state.runs.start(&state.handlers);
        state.bus.answer(&state.handlers);
        crate::admin::start(&state);
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

/// Serves `listener` with `state` until `shutdown` resolves, then shuts down gracefully: stops
/// accepting, refuses new runs (`UNAVAILABLE`), sends `shutdown` to every connection, lets
/// running runs finish for up to `server.drain_timeout_s`, ends the rest as failed
/// ("interrupted by shutdown", partial replies stored), and closes every socket with 1012.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_accepting, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(serve_router(listener, router(state.clone()), async {
        let _ = stopped.await;
    }));
    shutdown.await;
    let _ = stop_accepting.send(());
    drain(&state).await;
    serving.await.map_err(std::io::Error::other)?
}

/// How long interrupted runs get to store their partial replies.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// How long closing connections get to finish their close handshakes.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

async fn drain(state: &AppState) {
    state
        .draining
        .store(true, std::sync::atomic::Ordering::Release);
    state.runs.stop_accepting();
    let (active, queued) = state.runs.totals();
    tracing::info!(active, queued, "shutting down: no new runs; draining");
    let event = HubEvent::unrouted(&Event::Shutdown(ShutdownPayload {
        reason: "server shutting down".to_owned(),
    }));
    state.hub.broadcast(
        &event,
        &state.connections.snapshot(),
        1012,
        "server shutting down",
    );
    if !state
        .runs
        .wait_idle(state.config.server.drain_timeout())
        .await
    {
        let (active, queued) = state.runs.totals();
        tracing::warn!(
            active,
            queued,
            "drain timeout: interrupting the remaining runs"
        );
        state.runs.interrupt_all();
        state.runs.wait_idle(INTERRUPT_GRACE).await;
    }
    state.runs.release_leases().await;
    for conn in state.connections.snapshot() {
        conn.close(1012, "server shutting down");
    }
    let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
    while !state.connections.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!("drained");
}

/// Serves a router built by [`crate::http`] (with the peer address every endpoint needs).
pub async fn serve_router(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        crate::http::Listener::new(listener),
        app.into_make_service_with_connect_info::<crate::http::Peer>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
