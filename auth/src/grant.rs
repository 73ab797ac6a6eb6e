//! What a stored token grants: a role, and where it applies (a checked [`Scope`], SPEC §18).
//! The checks live here so that `tokens.create` and `switchboard token create` refuse the same
//! scopes with the same words.

use switchboard_api::{MAX_SCOPE_ENTRIES, Role, Scope};

/// The longest agent or session id a scope may name, in characters.
pub const MAX_SCOPE_ID: usize = 255;

/// Why a scope cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Admin tokens manage tokens and configuration, which no scope can narrow.
    #[error("admin tokens cannot be scoped")]
    AdminScoped,
    /// Neither list, or both empty: that would be everything, which is "no scope".
    #[error("a scope must name at least one agent or session")]
    Empty,
    /// A list over [`MAX_SCOPE_ENTRIES`].
    #[error("scope.{0} may hold at most {MAX_SCOPE_ENTRIES} ids")]
    TooMany(&'static str),
    /// An empty id, or one over [`MAX_SCOPE_ID`] characters.
    #[error("scope.{0} ids must be 1–{MAX_SCOPE_ID} characters")]
    BadId(&'static str),
}

/// A role and, for a non-admin role, an optional scope: bounded, naming at least one agent or
/// session. Agents and sessions need not exist (yet): an agent may be configured later and a
/// session created later, and the scope then covers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    role: Role,
    scope: Option<Scope>,
}

impl TokenGrant {
    /// Checks `scope` for a token of `role`. An empty list is dropped (it adds nothing).
    pub fn new(role: Role, scope: Option<Scope>) -> Result<TokenGrant, ScopeError> {
        let Some(scope) = scope else {
            return Ok(TokenGrant { role, scope: None });
        };
        if role == Role::Admin {
            return Err(ScopeError::AdminScoped);
        }
        let agents = checked_list("agents", scope.agents)?;
        let sessions = checked_list("sessions", scope.sessions)?;
        if agents.is_none() && sessions.is_none() {
            return Err(ScopeError::Empty);
        }
        Ok(TokenGrant {
            role,
            scope: Some(Scope { agents, sessions }),
        })
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The scope; `None`: everywhere.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }
}

/// A role everywhere.
impl From<Role> for TokenGrant {
    fn from(role: Role) -> TokenGrant {
        TokenGrant { role, scope: None }
    }
}

/// One list of a scope, bounded; `None` when absent or empty.
fn checked_list(
    name: &'static str,
    ids: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, ScopeError> {
    let Some(ids) = ids.filter(|ids| !ids.is_empty()) else {
        return Ok(None);
    };
    if ids.len() > MAX_SCOPE_ENTRIES {
        return Err(ScopeError::TooMany(name));
    }
    if ids
        .iter()
        .any(|id| id.is_empty() || id.chars().count() > MAX_SCOPE_ID)
    {
        return Err(ScopeError::BadId(name));
    }
    Ok(Some(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(agents: Option<&[&str]>, sessions: Option<&[&str]>) -> Option<Scope> {
        let list = |ids: &[&str]| ids.iter().map(|s| (*s).to_owned()).collect();
        Some(Scope {
            agents: agents.map(list),
            sessions: sessions.map(list),
        })
    }

    #[test]
    fn a_scope_naming_an_agent_or_a_session_is_granted_as_given() {
        let grant = TokenGrant::new(Role::Viewer, scope(None, Some(&["ses_1"]))).unwrap();
        assert_eq!(grant.role(), Role::Viewer);
        assert_eq!(grant.scope(), scope(None, Some(&["ses_1"])).as_ref());
        let grant = TokenGrant::new(Role::Operator, scope(Some(&["support"]), None)).unwrap();
        assert_eq!(grant.scope(), scope(Some(&["support"]), None).as_ref());
        assert_eq!(TokenGrant::new(Role::Admin, None).unwrap().scope(), None);
    }

    #[test]
    fn an_empty_list_beside_a_named_one_is_dropped() {
        let grant = TokenGrant::new(Role::Viewer, scope(Some(&[]), Some(&["ses_1"]))).unwrap();
        assert_eq!(grant.scope(), scope(None, Some(&["ses_1"])).as_ref());
    }

    #[test]
    fn a_scope_naming_nothing_is_refused() {
        for empty in [
            scope(None, None),
            scope(Some(&[]), Some(&[])),
            scope(Some(&[]), None),
        ] {
            assert_eq!(TokenGrant::new(Role::Viewer, empty), Err(ScopeError::Empty));
        }
    }

    #[test]
    fn admin_tokens_cannot_be_scoped() {
        let refused = TokenGrant::new(Role::Admin, scope(Some(&["main"]), None));
        assert_eq!(refused, Err(ScopeError::AdminScoped));
        assert_eq!(
            ScopeError::AdminScoped.to_string(),
            "admin tokens cannot be scoped"
        );
    }

    #[test]
    fn oversized_lists_and_bad_ids_are_refused() {
        let many: Vec<String> = (0..=MAX_SCOPE_ENTRIES)
            .map(|i| format!("ses_{i}"))
            .collect();
        let refused = TokenGrant::new(
            Role::Viewer,
            Some(Scope {
                agents: None,
                sessions: Some(many),
            }),
        );
        assert_eq!(refused, Err(ScopeError::TooMany("sessions")));
        let at_most: Vec<String> = (0..MAX_SCOPE_ENTRIES).map(|i| format!("a{i}")).collect();
        let max_id = "x".repeat(MAX_SCOPE_ID);
        assert!(
            TokenGrant::new(
                Role::Viewer,
                Some(Scope {
                    agents: Some(at_most),
                    sessions: Some(vec![max_id.clone()]),
                }),
            )
            .is_ok()
        );
        let long = format!("{max_id}x");
        for bad in [
            scope(Some(&[""]), None),
            scope(Some(&[long.as_str()]), None),
        ] {
            assert_eq!(
                TokenGrant::new(Role::Operator, bad),
                Err(ScopeError::BadId("agents"))
            );
        }
    }
}
