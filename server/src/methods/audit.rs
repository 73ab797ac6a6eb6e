//! `audit.list`.

use jsonrpsee::core::{RpcResult, async_trait};
use switchboard_api::rpc::AuditApiServer;
use switchboard_api::types::{AuditEntryInfo, AuditList};
use switchboard_storage::AuditQuery;

use crate::AppState;
use crate::rpc::ApiError;

/// Entries per page by default and at most.
const DEFAULT_LIMIT: u64 = 100;
const MAX_LIMIT: u64 = 1000;

/// The audit family.
#[derive(Debug)]
pub struct AuditMethods {
    state: AppState,
}

impl AuditMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        AuditMethods { state }
    }
}

#[async_trait]
impl AuditApiServer for AuditMethods {
    async fn list(&self, limit: Option<u64>, before: Option<i64>) -> RpcResult<AuditList> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::InvalidRequest(format!("limit must be 1–{MAX_LIMIT}")).into());
        }
        let entries = self
            .state
            .store
            .list_audit(AuditQuery { limit, before })
            .await
            .map_err(ApiError::from)?;
        Ok(AuditList {
            entries: entries
                .into_iter()
                .map(|e| AuditEntryInfo {
                    id: e.id,
                    at: e.at,
                    actor: e.actor,
                    action: e.action,
                    target: e.target,
                    outcome: e.outcome,
                    detail: e.detail,
                    principal: e.principal,
                    // Written by this server from a `Role`; anything else reads as unknown.
                    role: e.role.and_then(|r| r.parse().ok()),
                    // Written by this server from a `Scope`.
                    scope: e.scope.and_then(|s| serde_json::from_str(&s).ok()),
                })
                .collect(),
        })
    }
}
