//! `health` and `status`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `health`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthResult {
    /// `ok`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Seconds since start.
    pub uptime_s: u64,
}

/// `status`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResult {
    /// The server's version.
    pub version: String,
    /// This process's id, fresh at every start.
    pub node_id: String,
    /// Seconds since start.
    #[serde(rename = "uptime_s")]
    pub uptime_s: u64,
    /// Open connections.
    pub connections: u64,
    /// Open connections by role (`none` for not yet connected).
    pub connections_by_role: BTreeMap<String, u64>,
    /// Sessions in the store.
    pub sessions: u64,
    /// Configured agents.
    pub agents: u64,
    /// Runs in progress.
    pub active_runs: u64,
    /// Runs waiting behind another.
    pub queued_runs: u64,
    /// Live subscriptions.
    pub subscriptions: u64,
    /// `sqlite` or `postgres`.
    pub store: String,
    /// Every live node of the gateway (this one alone on a single node), from heartbeats.
    #[serde(default)]
    pub nodes: Vec<NodeStatus>,
}

/// One live node in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Its id.
    pub node_id: String,
    /// Whether it is this node (the one that answered).
    #[serde(rename = "self")]
    pub this: bool,
    /// Its last heartbeat, unix ms.
    pub seen_at: i64,
    /// Its open connections.
    pub connections: u64,
    /// Its open connections by role.
    pub connections_by_role: BTreeMap<String, u64>,
    /// Runs in progress on it.
    pub active_runs: u64,
    /// Runs waiting on it.
    pub queued_runs: u64,
    /// Its live subscriptions.
    pub subscriptions: u64,
}
