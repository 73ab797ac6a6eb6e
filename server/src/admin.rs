//! Admin across nodes: what this node tells the others about itself (its heartbeat report),
//! and what it does when they ask — list or kick its connections, forget a revoked token and
//! close the connections that used it, hand an approval decided elsewhere to the run waiting
//! for it here. On a single node every call is answered by this node alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_api::types::{ConnectionInfo, NodeStatus};

use crate::AppState;
use crate::approvals::Decision;

/// How long a node waits for the others' answers to a gather.
const GATHER_TIMEOUT: Duration = Duration::from_millis(1500);

/// What this node's heartbeat reports, and `status` shows per node.
pub fn node_report(state: &AppState) -> Value {
    let connections = state.connections.snapshot();
    let mut by_role = BTreeMap::new();
    let mut subscriptions = 0u64;
    for conn in &connections {
        let role = conn.role().map_or("none", |r| r.as_str());
        *by_role.entry(role.to_owned()).or_insert(0u64) += 1;
        subscriptions += conn.subscriptions.load(Ordering::Relaxed);
    }
    let (active, queued) = state.runs.totals();
    json!({
        "connections": connections.len(),
        "connectionsByRole": by_role,
        "activeRuns": active,
        "queuedRuns": queued,
        "subscriptions": subscriptions.max(state.hub.subscription_count() as u64),
    })
}

/// Answers the other nodes. Call once, at start.
pub fn start(state: &AppState) {
    let handlers = &state.handlers;
    let node = state.clone();
    handlers.on_request(
        "connections.list",
        Arc::new(move |_| {
            let rows = own_connections(&node);
            Box::pin(async move { serde_json::to_value(rows).unwrap_or(Value::Null) })
        }),
    );
    let node = state.clone();
    handlers.on_request(
        "connections.kick",
        Arc::new(move |body: Value| {
            let kicked = node.connections.kick(
                body["id"].as_str().unwrap_or(""),
                body["reason"].as_str().unwrap_or("kicked by an admin"),
            );
            Box::pin(async move { json!({ "kicked": kicked }) })
        }),
    );
    let node = state.clone();
    handlers.on_notice(
        "tokens.revoked",
        Arc::new(move |body: Value| {
            if let Some(id) = body["id"].as_str() {
                node.verifier.cache().revoke_token(id);
                let closed = node.connections.close_by_token(id, "token revoked");
                tracing::info!(token = %id, closed, "a token was revoked on another node");
            }
        }),
    );
    let node = state.clone();
    handlers.on_notice(
        "approvals.decided",
        Arc::new(move |body: Value| {
            let (Some(id), Ok(decision)) = (
                body["id"].as_str(),
                serde_json::from_value::<Decision>(body["decision"].clone()),
            ) else {
                return;
            };
            node.approvals.wake(id, decision);
        }),
    );
}

/// The id of this node's connection `local` as clients and admins see it: `<nodeId>/<local>`
/// with many nodes (connection numbers are per node), `local` on a single node.
pub fn connection_id(state: &AppState, local: &str) -> String {
    if state.bus.broker().is_cluster() {
        format!("{}/{local}", state.node_id)
    } else {
        local.to_owned()
    }
}

/// This node's connections, each row naming its node (many nodes).
fn own_connections(state: &AppState) -> Vec<ConnectionInfo> {
    let mut rows = state.connections.list();
    if state.bus.broker().is_cluster() {
        for row in &mut rows {
            row.id = connection_id(state, &row.id);
            row.node_id = Some(state.node_id.to_string());
        }
    }
    rows
}

/// Every live connection of every node, oldest first (each node's rows carry its `nodeId`).
pub async fn all_connections(state: &AppState) -> Vec<ConnectionInfo> {
    let broker = state.bus.broker();
    if !broker.is_cluster() {
        return own_connections(state);
    }
    let mut all: Vec<ConnectionInfo> = broker
        .gather("connections.list", Value::Null, GATHER_TIMEOUT)
        .await
        .into_iter()
        .filter_map(|(_, rows)| serde_json::from_value::<Vec<ConnectionInfo>>(rows).ok())
        .flatten()
        .collect();
    all.sort_by(|a, b| (a.connected_at, &a.id).cmp(&(b.connected_at, &b.id)));
    all
}

/// Closes connection `id` (as `connections.list` names it: `<nodeId>/<id>` with many nodes)
/// on the node that holds it; `false` when it does not exist.
pub async fn kick(state: &AppState, id: &str, reason: &str) -> bool {
    let broker = state.bus.broker();
    let (node, local) = match id.split_once('/') {
        Some((node, local)) if broker.is_cluster() => (node, local),
        _ => return state.connections.kick(id, reason),
    };
    if node == &*state.node_id {
        return state.connections.kick(local, reason);
    }
    broker
        .request(
            node,
            "connections.kick",
            json!({ "id": local, "reason": reason }),
            GATHER_TIMEOUT,
        )
        .await
        .is_ok_and(|answer| answer["kicked"] == true)
}

/// Tells the other nodes that token `id` was revoked: they forget it and close its
/// connections.
pub fn token_revoked(state: &AppState, id: &str) {
    state
        .bus
        .broker()
        .notify("tokens.revoked", json!({ "id": id }));
}

/// Hands an approval decided here to the node whose run waits for it.
pub fn approval_decided(state: &AppState, id: &str, decision: Decision) {
    state.bus.broker().notify(
        "approvals.decided",
        json!({ "id": id, "decision": decision }),
    );
}

/// Every live node, as `status` shows them.
pub async fn nodes(state: &AppState) -> Vec<NodeStatus> {
    let reports = match state.bus.broker().nodes().await {
        Ok(reports) => reports,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the other nodes' heartbeats");
            Vec::new()
        }
    };
    let mut nodes: Vec<NodeStatus> = reports
        .into_iter()
        .filter(|r| *r.node_id != *state.node_id)
        .map(|r| status_of(&r.node_id, false, r.seen_at, &r.report))
        .collect();
    nodes.push(status_of(
        &state.node_id,
        true,
        switchboard_storage::now_ms(),
        &node_report(state),
    ));
    nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    nodes
}

fn status_of(node_id: &str, this: bool, seen_at: i64, report: &Value) -> NodeStatus {
    let count = |key: &str| report[key].as_u64().unwrap_or(0);
    NodeStatus {
        node_id: node_id.to_owned(),
        this,
        seen_at,
        connections: count("connections"),
        connections_by_role: serde_json::from_value(report["connectionsByRole"].clone())
            .unwrap_or_default(),
        active_runs: count("activeRuns"),
        queued_runs: count("queuedRuns"),
        subscriptions: count("subscriptions"),
    }
}
