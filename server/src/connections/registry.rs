//! The registry of live WebSocket connections: list, kick, close by token.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use switchboard_api::types::ConnectionInfo;

use super::ConnectionState;

/// Live connections by id. A cheap `Clone` handle; the std mutex is held only to insert,
/// remove or copy out entries, never while closing a socket.
#[derive(Debug, Clone, Default)]
pub struct ConnectionRegistry {
    inner: Arc<Mutex<HashMap<String, Arc<ConnectionState>>>>,
}

/// Keeps a connection registered; dropping it removes the entry.
#[derive(Debug)]
pub struct Registration {
    registry: ConnectionRegistry,
    id: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl ConnectionRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ConnectionState>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection until the returned guard is dropped.
    pub fn register(&self, state: Arc<ConnectionState>) -> Registration {
        let id = state.id.clone();
        self.lock().insert(id.clone(), state);
        Registration {
            registry: self.clone(),
            id,
        }
    }

    /// Every live connection (one being closed no longer counts).
    pub fn snapshot(&self) -> Vec<Arc<ConnectionState>> {
        self.lock()
            .values()
            .filter(|c| !c.is_closed())
            .cloned()
            .collect()
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.lock().values().filter(|c| !c.is_closed()).count()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The wire view of every live connection, oldest first.
    pub fn list(&self) -> Vec<ConnectionInfo> {
        let mut all: Vec<ConnectionInfo> = self
            .snapshot()
            .iter()
            .map(|c| {
                let identity = c.identity();
                ConnectionInfo {
                    id: c.id.clone(),
                    scope: c.scope(),
                    user_id: identity.map(|i| i.user_id),
                    role: c.role(),
                    protocol: c.protocol.as_str().to_owned(),
                    remote_addr: c.remote_addr.to_string(),
                    connected_at: c.connected_at,
                    subscriptions: c.subscriptions.load(Ordering::Relaxed),
                    node_id: None,
                }
            })
            .collect();
        all.sort_by(|a, b| (a.connected_at, &a.id).cmp(&(b.connected_at, &b.id)));
        all
    }

    /// Closes one connection (1008, `reason`). `false` when unknown.
    pub fn kick(&self, id: &str, reason: &str) -> bool {
        let found = self.lock().get(id).filter(|c| !c.is_closed()).cloned();
        match found {
            Some(conn) => {
                conn.close(1008, reason);
                true
            }
            None => false,
        }
    }

    /// Closes every connection that authenticated with stored token `token_id`; returns how
    /// many.
    pub fn close_by_token(&self, token_id: &str, reason: &str) -> u64 {
        let using: Vec<_> = self
            .snapshot()
            .into_iter()
            .filter(|c| c.uses_token(token_id))
            .collect();
        for conn in &using {
            conn.close(1008, reason);
        }
        using.len() as u64
    }
}
