//! `GET /metrics`: Prometheus text format. Allowed with the bearer `metrics.token`; otherwise
//! to loopback peers while `metrics.loopback_only` (default), or to everyone when neither
//! limit is configured. Gauges of current state are set at scrape time.

use std::collections::BTreeMap;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchboard_api::Role;

use super::Peer;
use crate::AppState;
use crate::telemetry::{self, names};

pub(super) async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
) -> Response {
    let config = &state.config.metrics;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let token_ok = match (&config.token, presented) {
        (Some(expected), Some(presented)) => {
            let a: [u8; 32] = Sha256::digest(expected.expose().as_bytes()).into();
            let b: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
            bool::from(a.ct_eq(&b))
        }
        _ => false,
    };
    let allowed = token_ok
        || if config.loopback_only {
            peer.addr.ip().is_loopback()
        } else {
            config.token.is_none()
        };
    if !allowed {
        return (
            StatusCode::FORBIDDEN,
            "metrics are not open to this client\n",
        )
            .into_response();
    }
    set_gauges(&state);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::prometheus().render(),
    )
        .into_response()
}

/// Current connections, subscriptions and runs.
fn set_gauges(state: &AppState) {
    let mut open: BTreeMap<(&'static str, &'static str), f64> = BTreeMap::new();
    for protocol in ["frames", "jsonrpc-ws"] {
        for role in ["none", "viewer", "operator", "admin"] {
            open.insert((protocol, role), 0.0);
        }
    }
    let mut subscriptions = 0.0;
    for conn in state.connections.snapshot() {
        let role = conn.role().map_or("none", Role::as_str);
        *open.entry((conn.protocol.as_str(), role)).or_default() += 1.0;
        subscriptions += conn
            .subscriptions
            .load(std::sync::atomic::Ordering::Relaxed) as f64;
    }
    for ((protocol, role), n) in open {
        metrics::gauge!(names::CONNECTIONS_OPEN, "protocol" => protocol, "role" => role).set(n);
    }
    metrics::gauge!(names::SUBSCRIPTIONS).set(subscriptions);
    let (active, queued) = state.runs.totals();
    metrics::gauge!(names::RUNS_ACTIVE).set(active as f64);
    metrics::gauge!(names::RUNS_QUEUED).set(queued as f64);
}
