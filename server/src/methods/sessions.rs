//! `sessions.list`, `sessions.get`, `sessions.delete`, and `agents.list`.

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use switchboard_api::Event;
use switchboard_api::events::SessionDeletedPayload;
use switchboard_api::rpc::{AgentsApiServer, SessionsApiServer};
use switchboard_api::types::{
    AgentInfo, AgentList, DeleteResult, SessionDetail, SessionInfo, SessionList, Usage,
};
use switchboard_storage::{SessionQuery, SessionRecord};

use super::caller;
use super::session_ref::SessionRef;
use crate::AppState;
use crate::hub::HubEvent;
use crate::rpc::ApiError;

/// Characters of a session's last message `sessions.list` shows with `includeLastMessage`.
const PREVIEW_CHARS: usize = 120;

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

    /// The wire view of `s`; `running` when a run of it is in progress (on any node: with many
    /// nodes, `running_elsewhere` lists the sessions whose runs execute on other nodes).
    fn info(&self, s: &SessionRecord, running_elsewhere: &[(String, String)]) -> SessionInfo {
        let (active, _) = self.state.runs.session_state(&s.id);
        let active = active.or_else(|| {
            running_elsewhere
                .iter()
                .find(|(session, _)| *session == s.id)
                .map(|(_, run)| run.clone())
        });
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
            key: s.key.clone(),
            last_message_preview: None,
        }
    }
}

impl SessionMethods {
    /// With many nodes, the sessions of `page` whose runs are in progress (from the store, as
    /// `(session, run)`); nothing on a single node, which knows its own runs.
    async fn running_elsewhere(
        &self,
        page: &[SessionRecord],
    ) -> Result<Vec<(String, String)>, ApiError> {
        if !self.state.bus.broker().is_cluster() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = page.iter().map(|s| s.id.clone()).collect();
        Ok(self.state.store.running_runs(&ids).await?)
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
        ext: &Extensions,
        agent_id: Option<String>,
        user_id: Option<String>,
        limit: Option<u64>,
        cursor: Option<String>,
        include_last_message: Option<bool>,
    ) -> RpcResult<SessionList> {
        // A scoped token lists the sessions in its scope only.
        let scope = caller(ext)?.scope();
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
                scope,
            })
            .await
            .map_err(ApiError::from)?;
        let next_cursor = (page.len() as u64 == limit)
            .then(|| page.last().map(|s| format!("{}.{}", s.updated_at, s.id)))
            .flatten();
        let elsewhere = self.running_elsewhere(&page).await?;
        let mut sessions: Vec<SessionInfo> =
            page.iter().map(|s| self.info(s, &elsewhere)).collect();
        if include_last_message == Some(true) {
            let ids: Vec<String> = page.iter().map(|s| s.id.clone()).collect();
            let last = self
                .state
                .store
                .last_messages(&ids)
                .await
                .map_err(ApiError::from)?;
            for info in &mut sessions {
                info.last_message_preview = last
                    .iter()
                    .find(|m| m.session_id == info.id)
                    .map(|m| m.content.chars().take(PREVIEW_CHARS).collect());
            }
        }
        Ok(SessionList {
            sessions,
            next_cursor,
        })
    }

    async fn get(
        &self,
        session_id: Option<String>,
        session_key: Option<String>,
        agent_id: Option<String>,
    ) -> RpcResult<SessionDetail> {
        let session =
            SessionRef::from_params(&self.state, session_id, session_key, agent_id.as_deref())?
                .require(&self.state)
                .await?;
        let (mut active_run_id, mut queued) = self.state.runs.session_state(&session.id);
        if self.state.bus.broker().is_cluster() && active_run_id.is_none() && queued == 0 {
            // Its runs may execute on another node: the store knows.
            let runs = self
                .state
                .store
                .unfinished_runs(&session.id)
                .await
                .map_err(ApiError::from)?;
            active_run_id = runs
                .iter()
                .find(|r| r.run_status() == switchboard_api::RunStatus::Started)
                .map(|r| r.id.clone());
            queued = runs.len() - usize::from(active_run_id.is_some());
        }
        let elsewhere: Vec<(String, String)> = active_run_id
            .iter()
            .map(|run| (session.id.clone(), run.clone()))
            .collect();
        Ok(SessionDetail {
            session: self.info(&session, &elsewhere),
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
        let deleted = Event::SessionDeleted(SessionDeletedPayload {
            id: session.id.clone(),
            agent_id: session.agent_id.clone(),
            session_id: session.id.clone(),
        });
        self.state.bus.lifecycle(&HubEvent::lifecycle(
            &session.id,
            &session.agent_id,
            &deleted,
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
