//! The scope check (SPEC §18): where a scoped principal may act, for the methods that name a
//! session, an agent, an approval or a topic. One check, in the gate, before the method runs;
//! the catalogue's [`Scoping`] says which check a method gets. A session outside the scope is
//! `NOT_FOUND` with the very message a missing one gets, so a scoped token learns nothing of
//! what it may not see. Lists and topic deliveries are filtered where they are made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use serde_json::Value;
use switchboard_api::session_key;
use switchboard_api::{Scope, Scoping};
use switchboard_storage::Store;

use crate::rpc::ApiError;

/// What the check needs: the store (to find a session's agent) and the configured agents (to
/// resolve a key's agent as the methods do).
#[derive(Debug, Clone)]
pub struct ScopeCheck {
    store: Store,
    agents: Arc<[String]>,
    /// The agent of each session seen (a session's agent never changes, and ids are never
    /// reused), so that a scoped call costs a store read once per session, not per call.
    agent_of: Arc<Mutex<HashMap<String, String>>>,
}

/// Sessions whose agents are remembered; past it the memory starts afresh.
const MAX_REMEMBERED: usize = 10_000;

/// The params a scope check reads; anything else is the method's business. jsonrpsee's
/// methods also take each param by its Rust (snake_case) name: those are read too.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Named {
    #[serde(default, alias = "session_id")]
    session_id: Option<Value>,
    #[serde(default, alias = "session_key")]
    session_key: Option<Value>,
    #[serde(default, alias = "agent_id")]
    agent_id: Option<Value>,
    #[serde(default, alias = "approval_id")]
    approval_id: Option<Value>,
    #[serde(default)]
    topic: Option<Value>,
}

fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

impl ScopeCheck {
    /// A check over `store` for these configured agent ids.
    pub fn new(store: Store, agents: Vec<String>) -> ScopeCheck {
        ScopeCheck {
            store,
            agents: agents.into(),
            agent_of: Arc::default(),
        }
    }

    /// Whether session `id` is in `scope`: `None` when there is no such session. The store is
    /// read only for a session not seen before (a scope listing it, or all of its agent's,
    /// answers without one).
    async fn session_in_scope(&self, id: &str, scope: &Scope) -> Result<Option<bool>, ApiError> {
        if scope
            .sessions
            .as_ref()
            .is_some_and(|s| s.iter().any(|l| l == id))
        {
            // Listed: in scope whatever its agent (a missing one the method reports).
            return Ok(Some(true));
        }
        let known = self
            .agent_of
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned();
        let agent = match known {
            Some(agent) => agent,
            None => {
                let Some(session) = self.store.get_session(id).await? else {
                    return Ok(None);
                };
                let mut agent_of = self.agent_of.lock().unwrap_or_else(|p| p.into_inner());
                if agent_of.len() >= MAX_REMEMBERED {
                    agent_of.clear();
                }
                agent_of.insert(session.id, session.agent_id.clone());
                session.agent_id
            }
        };
        Ok(Some(scope.allows_session(id, &agent)))
    }

    /// Whether a principal limited to `scope` may make this call (`params` as sent).
    pub async fn check(
        &self,
        scoping: Scoping,
        params: Option<&str>,
        scope: &Scope,
    ) -> Result<(), ApiError> {
        if matches!(
            scoping,
            Scoping::Unscoped | Scoping::Counts | Scoping::Filtered
        ) {
            return Ok(());
        }
        // By name only: positional params would need each method's order here, and a check
        // that guessed it wrong would let a call through. Refused alike whatever they name.
        let named = match params.map(str::trim_start) {
            None => Named::default(),
            Some(p) if p.starts_with('{') => serde_json::from_str::<Named>(p)
                .map_err(|e| ApiError::InvalidRequest(format!("invalid params: {e}")))?,
            Some(_) => {
                return Err(ApiError::InvalidRequest(
                    "a scoped token passes params by name (an object)".to_owned(),
                ));
            }
        };
        match scoping {
            Scoping::NamedSession => self.session(&named, scope, false).await,
            Scoping::SessionOrAgent => self.session(&named, scope, true).await,
            Scoping::Approval => self.approval(&named, scope).await,
            Scoping::Topic => self.topic(&named, scope).await,
            Scoping::Unscoped | Scoping::Counts | Scoping::Filtered => Ok(()),
        }
    }

    /// The session a call names must be in scope; with `may_start`, a call that names none
    /// (or a key no session has yet) starts one for an agent that must be.
    async fn session(&self, n: &Named, scope: &Scope, may_start: bool) -> Result<(), ApiError> {
        let agent_param = text(n.agent_id.as_ref());
        if let Some(id) = text(n.session_id.as_ref()) {
            return match self.session_in_scope(id, scope).await? {
                Some(false) => Err(ApiError::NotFound(format!("no session {id}"))),
                // In scope, or missing: the method answers as for anyone.
                _ => Ok(()),
            };
        }
        if let Some(raw) = text(n.session_key.as_ref()) {
            // A malformed key or an unknown agent: the method refuses it as for anyone.
            let Ok(key) = session_key::parse(raw, agent_param) else {
                return Ok(());
            };
            let Some(agent) = self
                .agents
                .iter()
                .find(|a| a.eq_ignore_ascii_case(key.agent()))
            else {
                return Ok(());
            };
            // A key's session belongs to the key's agent: all of that agent's sessions in
            // scope, no read is needed.
            if scope.allows_agent(agent) {
                return Ok(());
            }
            let found = self
                .store
                .find_session_for_key(agent, key.rest(), &key.to_string())
                .await?;
            let listed = found
                .as_ref()
                .is_some_and(|s| scope.allows_session(&s.id, &s.agent_id));
            return match (listed, may_start) {
                (true, _) => Ok(()),
                // A send by key is refused alike whether the session exists or not, so that
                // it does not tell (the agent is not in scope: no new session either).
                (false, true) => may_start_for(scope, agent),
                (false, false) if found.is_some() => {
                    Err(ApiError::NotFound(format!("no session for key {key}")))
                }
                (false, false) => Ok(()),
            };
        }
        if may_start {
            return may_start_for(scope, agent_param.unwrap_or(session_key::DEFAULT_AGENT));
        }
        Ok(())
    }

    /// The session of the approval a call names must be in scope.
    async fn approval(&self, n: &Named, scope: &Scope) -> Result<(), ApiError> {
        let Some(id) = text(n.approval_id.as_ref()) else {
            return Ok(());
        };
        let Some(approval) = self.store.get_approval(id).await? else {
            return Ok(());
        };
        let in_scope = self
            .session_in_scope(&approval.session_id, scope)
            .await?
            .unwrap_or(false);
        if in_scope {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no pending approval {id}")))
        }
    }

    /// A session topic must name a session in scope, an agent topic an agent in scope.
    async fn topic(&self, n: &Named, scope: &Scope) -> Result<(), ApiError> {
        let Some(topic) = text(n.topic.as_ref()) else {
            return Ok(());
        };
        if let Some(id) = topic.strip_prefix("session:") {
            let listed = scope
                .sessions
                .as_ref()
                .is_some_and(|s| s.iter().any(|l| l == id));
            if listed {
                return Ok(());
            }
            return match self.session_in_scope(id, scope).await? {
                Some(true) => Ok(()),
                _ => Err(ApiError::NotFound(format!("no session {id}"))),
            };
        }
        if let Some(agent) = topic.strip_prefix("agent:")
            && !scope.allows_agent(agent)
        {
            return Err(ApiError::Forbidden(format!(
                "this token's scope does not include agent {agent}"
            )));
        }
        Ok(())
    }
}

/// A new session for `agent`: only for an agent in scope.
fn may_start_for(scope: &Scope, agent: &str) -> Result<(), ApiError> {
    if scope.allows_agent(agent) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "this token's scope does not include agent {agent}: it may not start its sessions"
        )))
    }
}
