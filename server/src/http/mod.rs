//! The axum router: every endpoint on one port.

mod health;

use axum::Router;
use axum::routing::get;

use crate::AppState;

/// The router with `/healthz` and `/readyz`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}
