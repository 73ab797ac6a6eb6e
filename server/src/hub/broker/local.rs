//! One process: there are no other nodes, so nothing travels. Requests to this node and
//! gathers are answered by this node's own handlers.

use std::time::Duration;

use jsonrpsee::core::async_trait;
use serde_json::Value;

use super::{Broker, BrokerError, BrokerHealth, Handlers, NodeReport};
use crate::hub::HubEvent;

/// The broker of a single node.
pub struct LocalBroker {
    node_id: String,
    handlers: Handlers,
    report: std::sync::Arc<dyn Fn() -> Value + Send + Sync>,
}

impl std::fmt::Debug for LocalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBroker")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl LocalBroker {
    /// The broker of node `node_id`, answering with `handlers`; `report` describes this node.
    pub fn new(
        node_id: String,
        handlers: Handlers,
        report: std::sync::Arc<dyn Fn() -> Value + Send + Sync>,
    ) -> LocalBroker {
        LocalBroker {
            node_id,
            handlers,
            report,
        }
    }
}

#[async_trait]
impl Broker for LocalBroker {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn is_cluster(&self) -> bool {
        false
    }

    fn announce(&self, _event: &HubEvent) {}

    async fn request(
        &self,
        node: &str,
        kind: &str,
        body: Value,
        _timeout: Duration,
    ) -> Result<Value, BrokerError> {
        match self.handlers.request(kind) {
            Some(handler) if node == self.node_id => Ok(handler(body).await),
            _ => Err(BrokerError::NodeGone(node.to_owned())),
        }
    }

    async fn gather(&self, kind: &str, body: Value, _timeout: Duration) -> Vec<(String, Value)> {
        match self.handlers.request(kind) {
            Some(handler) => vec![(self.node_id.clone(), handler(body).await)],
            None => Vec::new(),
        }
    }

    fn notify(&self, _kind: &str, _body: Value) {}

    fn tell(&self, _node: &str, _kind: &str, _body: Value) {}

    async fn nodes(&self) -> Result<Vec<NodeReport>, BrokerError> {
        Ok(vec![NodeReport {
            node_id: self.node_id.clone(),
            seen_at: switchboard_storage::now_ms(),
            report: (self.report)(),
        }])
    }

    fn health(&self) -> BrokerHealth {
        BrokerHealth::Ok
    }
}
