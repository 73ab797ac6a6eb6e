//! The axum router: every endpoint on one port — `/ws` (frames), `/rpc` (JSON-RPC over HTTP
//! POST and WebSocket), `/healthz`, `/readyz`, and the dashboard (`/` → `/ui/`).

mod bearer;
mod endpoints;
mod health;
mod metrics;
mod rpc;
pub mod shape;
mod socket;
mod ui;
mod ws;

pub use endpoints::{
    Endpoints, HttpRpcMiddleware, MAX_BATCH_ENTRIES, MAX_RESPONSE_BYTES, RpcMiddleware,
};
pub use rpc::{CallsOnly, CallsOnlyService};
pub use socket::{LINGER_BYTES, LINGER_TIME, Listener, Peer, Socket};

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};

use crate::AppState;

/// The router over `state`.
pub fn router(state: AppState) -> Router {
    let methods = crate::methods::build_methods(&state);
    router_with_methods(state, methods)
}

/// The router serving `methods` instead of the built-in set (tests use it to show that a
/// registered but unclassified method is refused for every role).
pub fn router_with_methods(state: AppState, methods: jsonrpsee::Methods) -> Router {
    let endpoints = Arc::new(Endpoints::new(state.clone(), methods));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz).with_state(state.clone()))
        .route("/metrics", get(metrics::metrics).with_state(state))
        .route("/rpc", any(rpc::rpc).with_state(endpoints.clone()))
        .route("/ws", get(ws::ws).with_state(endpoints))
        .merge(ui::routes())
}
