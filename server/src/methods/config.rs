//! `config.get`, `config.public`.

use jsonrpsee::core::RpcResult;
use switchboard_api::rpc::ConfigApiServer;
use switchboard_api::types::{PublicAgent, PublicConfig, PublicLimits, PublicServerConfig};

use crate::AppState;

/// The config family.
#[derive(Debug)]
pub struct ConfigMethods {
    state: AppState,
}

impl ConfigMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        ConfigMethods { state }
    }
}

impl ConfigApiServer for ConfigMethods {
    fn get(&self) -> RpcResult<serde_json::Value> {
        Ok(self.state.config.redacted())
    }

    fn public(&self) -> RpcResult<PublicConfig> {
        let config = &self.state.config;
        let (server, limits) = (&config.server, &config.limits);
        Ok(PublicConfig {
            server: PublicServerConfig {
                max_frame_bytes: server.max_frame_bytes,
                send_buffer: server.send_buffer,
                ping_interval_ms: server.ping_interval_ms,
                read_timeout_ms: server.read_timeout_ms,
                write_timeout_ms: server.write_timeout_ms,
            },
            limits: PublicLimits {
                chat_per_minute: limits.chat_per_minute,
                chat_burst: limits.chat_burst,
                max_subscriptions: limits.max_subscriptions,
                max_queued_runs: limits.max_queued_runs,
                max_message_bytes: limits.max_message_bytes,
            },
            agents: config
                .agents
                .iter()
                .map(|(id, agent)| PublicAgent {
                    id: id.to_owned(),
                    kind: agent.kind.to_string(),
                    model: agent.model.clone(),
                })
                .collect(),
        })
    }
}
