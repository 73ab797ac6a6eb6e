//! `/healthz` (liveness) and `/readyz` (readiness: the store answers).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 `ok` while the process serves.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// 200 `ready` when the store answers within [`READY_TIMEOUT`], 503 otherwise.
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store timed out"),
    }
}
