//! The broker: how events and messages travel between the nodes of one gateway. Two
//! implementations — [`LocalBroker`] (one process: nothing travels) and [`RedisBroker`] (Redis
//! pub/sub) — behind one trait; the hub's [`EventBus`](super::EventBus) never knows which it has.
//!
//! Besides committed events, the broker carries two kinds of messages whose meaning belongs to
//! the rooms that send them (runs, admin): a **request** to one node (or to every node, a
//! *gather*) answered with a value, and a **notice** to every other node. Handlers are
//! registered by kind in [`Handlers`].

mod handlers;
mod local;
mod redis;
mod wire;

pub use handlers::{Handlers, NoticeHandler, RequestHandler};
pub use local::LocalBroker;
pub use redis::{RedisBroker, notify_once};

use std::time::Duration;

use jsonrpsee::core::async_trait;
use serde_json::Value;

use super::HubEvent;

/// Why a message did not get through.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BrokerError {
    /// Redis cannot be reached (or this is a single node and there is nobody to ask).
    #[error("other nodes cannot be reached: {0}")]
    Unreachable(String),
    /// The node is not listening (it stopped).
    #[error("node {0} is not listening")]
    NodeGone(String),
    /// The node did not answer in time.
    #[error("node {0} did not answer in time")]
    NoAnswer(String),
}

/// Whether the broker can reach the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerHealth {
    /// Every message gets through (or there is only this node).
    Ok,
    /// This node serves its own clients, but cannot hear or reach the others: why.
    Degraded(String),
}

/// A live node as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    /// Its id.
    pub node_id: String,
    /// Its last heartbeat, unix ms.
    pub seen_at: i64,
    /// What it reported (counts), as the node's report function gave it.
    pub report: Value,
}

/// Something heard from the other nodes that the hub must deliver.
#[derive(Debug)]
pub enum Heard {
    /// An event another node committed (or a session lifecycle event), and that node.
    Event(HubEvent, std::sync::Arc<str>),
    /// Events committed since this moment (unix ms) may not have been heard: read them from
    /// the store.
    CatchUp(i64),
}

/// How events and messages reach the other nodes.
#[async_trait]
pub trait Broker: Send + Sync + std::fmt::Debug {
    /// This node's id.
    fn node_id(&self) -> &str;

    /// Whether there are other nodes at all.
    fn is_cluster(&self) -> bool;

    /// Announces an event this node committed (or a lifecycle event) to the other nodes.
    /// Never waits; an event that cannot be sent is found by the others in the store.
    fn announce(&self, event: &HubEvent);

    /// Asks `node` and waits for its answer, at most `timeout`.
    async fn request(
        &self,
        node: &str,
        kind: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<Value, BrokerError>;

    /// Asks every live node, this one included, and collects the answers that arrive within
    /// `timeout`: `(node, answer)`.
    async fn gather(&self, kind: &str, body: Value, timeout: Duration) -> Vec<(String, Value)>;

    /// Tells every other node (fire and forget).
    fn notify(&self, kind: &str, body: Value);

    /// Tells one node (fire and forget).
    fn tell(&self, node: &str, kind: &str, body: Value);

    /// The live nodes (recent heartbeats), this one included.
    async fn nodes(&self) -> Result<Vec<NodeReport>, BrokerError>;

    /// Whether the other nodes can be reached now.
    fn health(&self) -> BrokerHealth;
}
