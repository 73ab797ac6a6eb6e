//! `/healthz` (liveness) and `/readyz` (readiness: the store answers; degraded when the other
//! nodes cannot be reached).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;

use crate::AppState;
use crate::hub::broker::BrokerHealth;

/// How long `/readyz` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// 200 `ok` while the process serves.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// 200 `ready` when the store answers within [`READY_TIMEOUT`], 503 otherwise. With many
/// nodes, 200 `degraded: <reason>` while the other nodes cannot be reached: this node still
/// serves its own clients (and catches up on the others' events once it can reach them).
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => match state.bus.broker().health() {
            BrokerHealth::Ok => (StatusCode::OK, "ready".to_owned()),
            BrokerHealth::Degraded(why) => (StatusCode::OK, format!("degraded: {why}")),
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: store unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable".to_owned(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store timed out".to_owned(),
        ),
    }
}
