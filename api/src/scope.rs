//! A token's scope (SPEC §18): the sessions its principal may reach, beside the role that says
//! what it may do there. Absent = everything.

use serde::{Deserialize, Serialize};

/// Entries of one list of a scope, at most.
pub const MAX_SCOPE_ENTRIES: usize = 100;

/// `{agents?: [agentId], sessions?: [sessionId]}`: a session is in scope when it is listed or
/// belongs to a listed agent. A scope with neither list would be everything, so it is not
/// stored (a token without scope); an empty list adds nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Agents all of whose sessions are in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
    /// Sessions in scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Vec<String>>,
}

impl Scope {
    /// Whether session `session_id` of agent `agent_id` is in scope.
    pub fn allows_session(&self, session_id: &str, agent_id: &str) -> bool {
        self.sessions
            .as_ref()
            .is_some_and(|s| s.iter().any(|id| id == session_id))
            || self.allows_agent(agent_id)
    }

    /// Whether every session of agent `agent_id` is in scope.
    pub fn allows_agent(&self, agent_id: &str) -> bool {
        self.agents
            .as_ref()
            .is_some_and(|a| a.iter().any(|id| id == agent_id))
    }

    /// Whether it restricts nothing (neither list given).
    pub fn is_everything(&self) -> bool {
        self.agents.is_none() && self.sessions.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_in_scope_when_listed_or_of_a_listed_agent() {
        let scope = Scope {
            agents: Some(vec!["support".into()]),
            sessions: Some(vec!["ses_1".into()]),
        };
        assert!(scope.allows_session("ses_1", "main"));
        assert!(scope.allows_session("ses_9", "support"));
        assert!(!scope.allows_session("ses_9", "main"));
        assert!(scope.allows_agent("support") && !scope.allows_agent("main"));
        let sessions_only = Scope {
            agents: None,
            sessions: Some(vec!["ses_1".into()]),
        };
        assert!(!sessions_only.allows_agent("main"));
        assert!(Scope::default().is_everything());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<Scope>(r#"{"agent":["x"]}"#).is_err());
        let scope: Scope = serde_json::from_str(r#"{"sessions":["s"]}"#).unwrap();
        assert_eq!(scope.sessions, Some(vec!["s".to_owned()]));
    }
}
