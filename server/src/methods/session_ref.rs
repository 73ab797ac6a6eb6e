//! How a call names its session: `sessionId`, or `sessionKey` (`agent:<agentId>:<name>`, SPEC
//! §16), never both. A key resolves to the unkeyed session of that agent whose id is `<name>`,
//! else to the session that stores the key; the chat methods create a session for a key no
//! session has yet, the read methods answer `NOT_FOUND`.

use switchboard_api::session_key::{self, SessionKey};
use switchboard_storage::SessionRecord;

use crate::AppState;
use crate::rpc::ApiError;

/// A session as a call names it.
#[derive(Debug, Clone)]
pub(super) enum SessionRef {
    /// Neither `sessionId` nor `sessionKey`.
    Unnamed,
    /// By `sessionId`.
    Id(String),
    /// By `sessionKey`, normalised, with the configured id of its agent.
    Key {
        /// The key.
        key: SessionKey,
        /// The agent's id as configured (the key's is lowercase).
        agent_id: String,
    },
}

impl SessionRef {
    /// Checks the params: not both; a key parses and names a configured agent (a bare key
    /// belongs to `agent_id`, else `main`).
    pub(super) fn from_params(
        state: &AppState,
        session_id: Option<String>,
        session_key: Option<String>,
        agent_id: Option<&str>,
    ) -> Result<SessionRef, ApiError> {
        match (session_id, session_key) {
            (Some(_), Some(_)) => Err(ApiError::InvalidRequest(
                "give sessionId or sessionKey, not both".to_owned(),
            )),
            (Some(id), None) => Ok(SessionRef::Id(id)),
            (None, Some(key)) => {
                let key = session_key::parse(&key, agent_id)
                    .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
                let agent_id = configured_agent(state, key.agent())
                    .ok_or_else(|| {
                        ApiError::InvalidRequest(format!("unknown agent {}", key.agent()))
                    })?
                    .to_owned();
                Ok(SessionRef::Key { key, agent_id })
            }
            (None, None) => Ok(SessionRef::Unnamed),
        }
    }

    /// The session named, `None` when no session has it (or none was named).
    pub(super) async fn find(&self, state: &AppState) -> Result<Option<SessionRecord>, ApiError> {
        match self {
            SessionRef::Unnamed => Ok(None),
            SessionRef::Id(id) => Ok(state.store.get_session(id).await?),
            SessionRef::Key { key, agent_id } => Ok(state
                .store
                .find_session_for_key(agent_id, key.rest(), &key.to_string())
                .await?),
        }
    }

    /// The session named, else `NOT_FOUND` (`INVALID_REQUEST` when none was named).
    pub(super) async fn require(&self, state: &AppState) -> Result<SessionRecord, ApiError> {
        if let SessionRef::Unnamed = self {
            return Err(ApiError::InvalidRequest(
                "sessionId or sessionKey is required".to_owned(),
            ));
        }
        self.find(state).await?.ok_or_else(|| self.not_found())
    }

    /// `NOT_FOUND` for this name.
    pub(super) fn not_found(&self) -> ApiError {
        match self {
            SessionRef::Key { key, .. } => ApiError::NotFound(format!("no session for key {key}")),
            SessionRef::Id(id) => ApiError::NotFound(format!("no session {id}")),
            SessionRef::Unnamed => ApiError::NotFound("no session".to_owned()),
        }
    }

    /// Whether the session was named by key.
    pub(super) fn is_key(&self) -> bool {
        matches!(self, SessionRef::Key { .. })
    }
}

/// The configured id of agent `lowercase` (ids compared ignoring case, as keys are lowercase).
pub(super) fn configured_agent<'a>(state: &'a AppState, lowercase: &str) -> Option<&'a str> {
    state
        .config
        .agents
        .iter()
        .map(|(id, _)| id)
        .find(|id| id.eq_ignore_ascii_case(lowercase))
}

/// The key `session` shows: its stored key, else `agent:<agentId>:<sessionId>`.
pub(super) fn key_of(session: &SessionRecord) -> String {
    session_key::key_of(&session.agent_id, &session.id, session.key.as_deref())
}
