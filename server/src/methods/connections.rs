//! `connections.list`, `connections.kick`.

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use switchboard_api::rpc::ConnectionsApiServer;
use switchboard_api::types::{ConnectionList, KickResult};

use super::caller;
use crate::AppState;
use crate::rpc::ApiError;

/// The connections family.
#[derive(Debug)]
pub struct ConnectionMethods {
    state: AppState,
}

impl ConnectionMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        ConnectionMethods { state }
    }
}

#[async_trait]
impl ConnectionsApiServer for ConnectionMethods {
    async fn list(&self) -> RpcResult<ConnectionList> {
        Ok(ConnectionList {
            connections: crate::admin::all_connections(&self.state).await,
        })
    }

    async fn kick(
        &self,
        ext: &Extensions,
        connection_id: String,
        reason: Option<String>,
    ) -> RpcResult<KickResult> {
        let conn = caller(ext)?;
        let reason = reason
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "kicked by an admin".to_owned());
        // A WebSocket close reason holds at most 123 bytes.
        let reason: String = reason
            .chars()
            .scan(0, |n, c| {
                *n += c.len_utf8();
                (*n <= 123).then_some(c)
            })
            .collect();
        if !crate::admin::kick(&self.state, &connection_id, &reason).await {
            return Err(ApiError::NotFound(format!("no connection {connection_id}")).into());
        }
        self.state.audit.record_by(
            &conn,
            "connection.kick",
            Some(connection_id),
            "ok",
            Some(reason),
        );
        Ok(KickResult { kicked: true })
    }
}
