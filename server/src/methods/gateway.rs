//! `connect`, `health`, `status`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use switchboard_api::rpc::GatewayApiServer;
use switchboard_api::types::{ClientInfo, ConnectAuth, ConnectResult, HealthResult, StatusResult};

use super::caller;
use super::connect::{ConnectRequest, connect};
use crate::AppState;
use crate::rpc::ApiError;

/// The gateway family.
#[derive(Debug)]
pub struct GatewayMethods {
    state: AppState,
}

impl GatewayMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        GatewayMethods { state }
    }
}

#[async_trait]
impl GatewayApiServer for GatewayMethods {
    async fn connect(
        &self,
        ext: &Extensions,
        token: Option<String>,
        user_id: Option<String>,
        client: Option<ClientInfo>,
        min_protocol: Option<u32>,
        max_protocol: Option<u32>,
        _role: Option<String>,
        scopes: Option<Vec<String>>,
        auth: Option<ConnectAuth>,
    ) -> RpcResult<ConnectResult> {
        let request = ConnectRequest {
            token: token.or(auth.and_then(|a| a.token)),
            user_id,
            client,
            min_protocol,
            max_protocol,
            scopes,
        };
        Ok(connect(&self.state, ext, request).await?)
    }

    fn health(&self) -> RpcResult<HealthResult> {
        Ok(HealthResult {
            status: "ok".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_s: self.state.started.elapsed().as_secs(),
        })
    }

    async fn status(&self, ext: &Extensions) -> RpcResult<StatusResult> {
        // A scoped token sees the counts only, not the nodes (SPEC §18).
        let scoped = caller(ext)?.scope().is_some();
        let connections = self.state.connections.snapshot();
        let mut by_role = BTreeMap::new();
        let mut subscriptions = 0;
        for conn in &connections {
            let role = conn.role().map_or("none", |r| r.as_str());
            *by_role.entry(role.to_owned()).or_insert(0) += 1;
            subscriptions += conn.subscriptions.load(Ordering::Relaxed);
        }
        let sessions = self
            .state
            .store
            .count_sessions()
            .await
            .map_err(ApiError::from)?;
        let (active_runs, queued_runs) = self.state.runs.totals();
        Ok(StatusResult {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            node_id: self.state.node_id.to_string(),
            uptime_s: self.state.started.elapsed().as_secs(),
            connections: connections.len() as u64,
            connections_by_role: by_role,
            sessions,
            agents: self.state.config.agents.defs.len() as u64,
            active_runs: active_runs as u64,
            queued_runs: queued_runs as u64,
            subscriptions: subscriptions.max(self.state.hub.subscription_count() as u64),
            store: self.state.store.backend_name().to_owned(),
            nodes: if scoped {
                Vec::new()
            } else {
                crate::admin::nodes(&self.state).await
            },
        })
    }
}
