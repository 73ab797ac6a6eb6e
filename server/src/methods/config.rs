//! `config.get`.

use jsonrpsee::core::RpcResult;
use switchboard_api::rpc::ConfigApiServer;

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
}
