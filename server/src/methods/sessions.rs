//! `sessions.list`, `sessions.get`, `sessions.delete`, and `agents.list`.

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::json;
use switchboard_api::rpc::{AgentsApiServer, SessionsApiServer};
use switchboard_api::types::{
    AgentInfo, AgentList, DeleteResult, SessionDetail, SessionInfo, SessionList, Usage,
};
use switchboard_storage::{SessionQuery, SessionRecord};

use super::caller;
use crate::AppState;
use crate::hub::HubEvent;
use crate::rpc::ApiError;

/// Sessions per page by default and at most.
const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 500;

/// The sessions family.
#[derive(Debug)]
pub struct SessionMethods {
    state: AppState,
}

impl SessionMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        SessionMethods { state }
    }

    fn info(&self, s: &SessionRecord) -> SessionInfo {
        let (active, _) = self.state.runs.session_state(&s.id);
        SessionInfo {
            id: s.id.clone(),
            agent_id: s.agent_id.clone(),
            user_id: s.user_id.clone(),
            title: s.title.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            message_count: s.message_count,
            running: active.is_some(),
            last_seq: s.last_seq,
        }
    }
}

/// A cursor is `<updatedAt>.<id>` of the last session of the previous page.
fn parse_cursor(cursor: &str) -> Option<(i64, String)> {
    let (at, id) = cursor.split_once('.')?;
    Some((at.parse().ok()?, id.to_owned()))
}

#[async_trait]
impl SessionsApiServer for SessionMethods {
    async fn list(
        &self,
        agent_id: Option<String>,
        user_id: Option<String>,
        limit: Option<u64>,
        cursor: Option<String>,
    ) -> RpcResult<SessionList> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::InvalidRequest(format!("limit must be 1–{MAX_PAGE}")).into());
        }
        let after = match cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(
                parse_cursor(c).ok_or_else(|| ApiError::InvalidRequest("bad cursor".to_owned()))?,
            ),
        };
        let page = self
            .state
            .store
            .list_sessions(&SessionQuery {
                agent_id,
                user_id,
                limit,
                after,
            })
            .await
            .map_err(ApiError::from)?;
        let next_cursor = (page.len() as u64 == limit)
            .then(|| page.last().map(|s| format!("{}.{}", s.updated_at, s.id)))
            .flatten();
        Ok(SessionList {
            sessions: page.iter().map(|s| self.info(s)).collect(),
            next_cursor,
        })
    }

    async fn get(&self, session_id: String) -> RpcResult<SessionDetail> {
        let session = self
            .state
            .store
            .get_session(&session_id)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("no session {session_id}")))?;
        let (active_run_id, queued) = self.state.runs.session_state(&session.id);
        Ok(SessionDetail {
            session: self.info(&session),
            active_run_id,
            queued_runs: queued as u64,
            usage: Usage {
                input_tokens: u64::try_from(session.input_tokens).unwrap_or(0),
                output_tokens: u64::try_from(session.output_tokens).unwrap_or(0),
                cost: Some(session.cost),
            },
        })
    }

    async fn delete(&self, ext: &Extensions, session_id: String) -> RpcResult<DeleteResult> {
        let conn = caller(ext)?;
        let Some(session) = self
            .state
            .store
            .get_session(&session_id)
            .await
            .map_err(ApiError::from)?
        else {
            return Err(ApiError::NotFound(format!("no session {session_id}")).into());
        };
        self.state.runs.abort_all(&session_id);
        if !self
            .state
            .store
            .delete_session(&session_id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(ApiError::NotFound(format!("no session {session_id}")).into());
        }
        self.state.bus.forget_session(&session_id);
        let payload =
            json!({ "id": session.id, "agentId": session.agent_id, "sessionId": session.id });
        self.state.bus.lifecycle(&HubEvent::lifecycle(
            "session.deleted",
            &session.id,
            &session.agent_id,
            &payload,
        ));
        self.state
            .audit
            .record_by(&conn, "session.delete", Some(session_id), "ok", None);
        Ok(DeleteResult { deleted: true })
    }
}

/// The agents family.
#[derive(Debug)]
pub struct AgentMethods {
    state: AppState,
}

impl AgentMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        AgentMethods { state }
    }
}

impl AgentsApiServer for AgentMethods {
    fn list(&self) -> RpcResult<AgentList> {
        Ok(AgentList {
            agents: self
                .state
                .config
                .agents
                .iter()
                .map(|(id, a)| AgentInfo {
                    id: id.to_owned(),
                    kind: a.kind.to_string(),
                    model: a.model.clone(),
                    description: a.description.clone(),
                })
                .collect(),
        })
    }
}
