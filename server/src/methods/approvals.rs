//! `approvals.list`, `approvals.resolve`.

use std::collections::HashMap;

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use switchboard_api::rpc::ApprovalsApiServer;
use switchboard_api::types::{ApprovalInfo, ApprovalList, ResolveResult};

use super::{actor, caller};
use crate::AppState;
use crate::approvals::Resolution;
use crate::rpc::ApiError;

/// The approvals family.
#[derive(Debug)]
pub struct ApprovalMethods {
    state: AppState,
}

impl ApprovalMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        ApprovalMethods { state }
    }
}

#[async_trait]
impl ApprovalsApiServer for ApprovalMethods {
    async fn list(&self, ext: &Extensions) -> RpcResult<ApprovalList> {
        let mut pending = self
            .state
            .store
            .pending_approvals()
            .await
            .map_err(ApiError::from)?;
        if let Some(scope) = caller(ext)?.scope() {
            // A scoped token sees the approvals of sessions in its scope only.
            let mut agents: HashMap<String, Option<String>> = HashMap::new();
            for a in &pending {
                if !agents.contains_key(&a.session_id) {
                    let session = self
                        .state
                        .store
                        .get_session(&a.session_id)
                        .await
                        .map_err(ApiError::from)?;
                    agents.insert(a.session_id.clone(), session.map(|s| s.agent_id));
                }
            }
            pending.retain(|a| {
                agents
                    .get(&a.session_id)
                    .and_then(Option::as_deref)
                    .is_some_and(|agent| scope.allows_session(&a.session_id, agent))
            });
        }
        Ok(ApprovalList {
            approvals: pending
                .into_iter()
                .map(|a| ApprovalInfo {
                    input: serde_json::from_str(&a.input)
                        .unwrap_or(serde_json::Value::String(a.input)),
                    approval_id: a.id,
                    session_id: a.session_id,
                    run_id: a.run_id,
                    tool_call_id: a.tool_call_id,
                    tool: a.tool,
                    risk: a.risk,
                    created_at: a.created_at,
                })
                .collect(),
        })
    }

    async fn resolve(
        &self,
        ext: &Extensions,
        approval_id: String,
        approved: bool,
        reason: Option<String>,
    ) -> RpcResult<ResolveResult> {
        let conn = caller(ext)?;
        let by = actor(&conn);
        let resolved = self
            .state
            .approvals
            .resolve(&approval_id, approved, reason, &by, &conn)
            .await
            .map_err(ApiError::from)?;
        match resolved {
            Resolution::NotPending => {
                Err(ApiError::NotFound(format!("no pending approval {approval_id}")).into())
            }
            Resolution::Delivered => Ok(ResolveResult { resolved: true }),
            Resolution::Elsewhere(decision) => {
                crate::admin::approval_decided(&self.state, &approval_id, decision);
                Ok(ResolveResult { resolved: true })
            }
        }
    }
}
