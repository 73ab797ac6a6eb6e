//! The method catalogue: every method's name, minimum role and summary, in one table. It drives
//! the role gate, the `methods` list of `connect`'s reply and the README's methods table. A
//! method that is not here is refused for every role.

use crate::Role;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, also before `connect` (`connect`, `health`).
    Public,
    /// A connected identity with at least this role.
    AtLeast(Role),
}

impl Access {
    /// Whether `role` (`None`: not connected) may call.
    pub fn allows(self, role: Option<Role>) -> bool {
        match self {
            Access::Public => true,
            Access::AtLeast(min) => role.is_some_and(|r| r >= min),
        }
    }

    /// `none`, `viewer`, `operator` or `admin`, as the README's table says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "none",
            Access::AtLeast(role) => role.as_str(),
        }
    }
}

/// How a scoped principal (SPEC §18) is limited in a method: every method declares it, so a
/// method that names a session or an agent cannot be added without saying how its scope is
/// checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoping {
    /// Touches no session (or is admin-only, and admin tokens cannot be scoped).
    Unscoped,
    /// Shows counts only.
    Counts,
    /// Names one session (`sessionId` or `sessionKey`): outside the scope it is `NOT_FOUND`,
    /// as if it did not exist.
    NamedSession,
    /// Names a session as [`Scoping::NamedSession`], or else starts one for an agent
    /// (`agentId`, a new key's agent, `main`), which must be in the scope (`FORBIDDEN`).
    SessionOrAgent,
    /// Names an approval (`approvalId`): its session must be in the scope (`NOT_FOUND`).
    Approval,
    /// Names a topic: `session:<id>` as [`Scoping::NamedSession`], `agent:<id>` must be in the
    /// scope (`FORBIDDEN`), `*` and `sessions` deliver only events in the scope.
    Topic,
    /// Lists sessions or approvals: only those in the scope.
    Filtered,
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodSpec {
    /// The wire name.
    pub name: &'static str,
    /// Who may call it.
    pub access: Access,
    /// How a scoped principal is limited in it.
    pub scoping: Scoping,
    /// One line.
    pub summary: &'static str,
}

const fn entry(
    name: &'static str,
    access: Access,
    scoping: Scoping,
    summary: &'static str,
) -> MethodSpec {
    MethodSpec {
        name,
        access,
        scoping,
        summary,
    }
}

const VIEWER: Access = Access::AtLeast(Role::Viewer);
const OPERATOR: Access = Access::AtLeast(Role::Operator);
const ADMIN: Access = Access::AtLeast(Role::Admin);

/// Every method the gateway serves.
pub const CATALOGUE: &[MethodSpec] = &[
    entry(
        "connect",
        Access::Public,
        Scoping::Unscoped,
        "authenticate this connection; returns role, limits and the methods it may call",
    ),
    entry(
        "health",
        Access::Public,
        Scoping::Unscoped,
        "`{status, version, uptime_s}`",
    ),
    entry(
        "status",
        VIEWER,
        Scoping::Counts,
        "uptime, version, node id, connections by role, sessions, agents, runs",
    ),
    entry(
        "agents.list",
        VIEWER,
        Scoping::Unscoped,
        "configured agents `{id, kind, model?, description?}`",
    ),
    entry(
        "models.list",
        VIEWER,
        Scoping::Unscoped,
        "one model per configured agent `{id, name, provider, agentId}`",
    ),
    entry(
        "commands.list",
        VIEWER,
        Scoping::Unscoped,
        "`{commands:[]}`: the gateway has no slash commands (a client's are its own)",
    ),
    entry(
        "sessions.list",
        VIEWER,
        Scoping::Filtered,
        "`{agentId?, userId?, limit?, cursor?, includeLastMessage?}` → sessions, newest first (with `key` when keyed, `lastMessagePreview` when asked), and `nextCursor`",
    ),
    entry(
        "sessions.get",
        VIEWER,
        Scoping::NamedSession,
        "`{sessionId | sessionKey}` → one session with its running state, active run and totals",
    ),
    entry(
        "chat.history",
        VIEWER,
        Scoping::NamedSession,
        "`{sessionId | sessionKey, limit?, before?}` → messages oldest first and `hasMore` (by key: also `sessionId`, `sessionKey`)",
    ),
    entry(
        "subscribe",
        VIEWER,
        Scoping::Topic,
        "`{topic, afterSeq?}`: events of `session:<id>`, `agent:<id>`, `sessions` or `*`, replaying stored events after `afterSeq`",
    ),
    entry(
        "unsubscribe",
        VIEWER,
        Scoping::Unscoped,
        "`{subscriptionId}`",
    ),
    entry(
        "approvals.list",
        VIEWER,
        Scoping::Filtered,
        "pending tool approvals `{approvalId, sessionId, runId, toolCallId, tool, input, risk, createdAt}`",
    ),
    entry(
        "config.public",
        VIEWER,
        Scoping::Unscoped,
        "keepalive and frame limits, `limits` and agents `{id, kind, model?}` — no URLs, paths or secrets",
    ),
    entry(
        "chat.send",
        OPERATOR,
        Scoping::SessionOrAgent,
        "`{agentId?, message, sessionId? | sessionKey?, idempotencyKey?}` → after the run: `{content, sessionId, runId, usage, stopReason}`; an unknown `sessionKey` creates the session",
    ),
    entry(
        "chat.start",
        OPERATOR,
        Scoping::SessionOrAgent,
        "like `chat.send`, answered once the run is durably queued: `{runId, sessionId, sessionKey}`; the run's events follow on the connection",
    ),
    entry(
        "chat.abort",
        OPERATOR,
        Scoping::NamedSession,
        "`{sessionId | sessionKey, runId?}` → `{aborted}`; the run ends `aborted`, keeping its partial reply",
    ),
    entry(
        "question.list",
        OPERATOR,
        Scoping::Unscoped,
        "`{questions:[]}`: questions agents wait on (agents here ask none)",
    ),
    entry(
        "approvals.resolve",
        OPERATOR,
        Scoping::Approval,
        "`{approvalId, approved, reason?}` → `{resolved}`; the waiting run goes on accordingly",
    ),
    entry(
        "sessions.delete",
        ADMIN,
        Scoping::NamedSession,
        "`{sessionId}`: delete a session with its messages and events",
    ),
    entry(
        "tokens.create",
        ADMIN,
        Scoping::Unscoped,
        "`{name, role, expiresInS?}` → the new token, shown only here",
    ),
    entry(
        "tokens.list",
        ADMIN,
        Scoping::Unscoped,
        "every token's id, name, role and times — never a secret or hash",
    ),
    entry(
        "tokens.revoke",
        ADMIN,
        Scoping::Unscoped,
        "`{id}` → `{revoked, closedConnections}`; closes its live connections at once",
    ),
    entry(
        "connections.list",
        ADMIN,
        Scoping::Unscoped,
        "live connections with user, role, protocol, address, subscriptions",
    ),
    entry(
        "connections.kick",
        ADMIN,
        Scoping::Unscoped,
        "`{connectionId, reason?}`: close it (1008 with the reason)",
    ),
    entry(
        "audit.list",
        ADMIN,
        Scoping::Unscoped,
        "`{limit?, before?}` → audit entries, newest first",
    ),
    entry(
        "config.get",
        ADMIN,
        Scoping::Unscoped,
        "the effective configuration, secrets redacted",
    ),
];

/// The catalogue entry of `method`, if it has one.
pub fn lookup(method: &str) -> Option<&'static MethodSpec> {
    CATALOGUE.iter().find(|m| m.name == method)
}

/// The methods `role` may call, in catalogue order.
pub fn methods_for(role: Role) -> Vec<&'static str> {
    CATALOGUE
        .iter()
        .filter(|m| m.access.allows(Some(role)))
        .map(|m| m.name)
        .collect()
}

/// The README's methods table (Markdown).
pub fn markdown_table() -> String {
    let mut out = String::from("| method | minimum role | summary |\n|---|---|---|\n");
    for m in CATALOGUE {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            m.name,
            m.access.as_str(),
            m.summary
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_that_names_a_session_agent_approval_or_topic_is_scoped() {
        // A summary starts with the method's params (`{…}`): one that names a session, an
        // agent, an approval or a topic must say how a scoped token is limited in it.
        for m in CATALOGUE {
            let params = m
                .summary
                .strip_prefix("`{")
                .and_then(|rest| rest.split("}`").next())
                .unwrap_or_default();
            let names_one = ["sessionId", "sessionKey", "agentId", "approvalId", "topic"]
                .iter()
                .any(|param| params.contains(param));
            if names_one {
                assert_ne!(
                    m.scoping,
                    Scoping::Unscoped,
                    "{} names a session or agent but declares no scoping",
                    m.name
                );
            }
            if m.access == ADMIN {
                assert!(
                    matches!(m.scoping, Scoping::Unscoped | Scoping::NamedSession),
                    "{}: admin tokens cannot be scoped",
                    m.name
                );
            }
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, m) in CATALOGUE.iter().enumerate() {
            assert!(
                CATALOGUE[..i].iter().all(|o| o.name != m.name),
                "{} twice",
                m.name
            );
        }
    }

    #[test]
    fn roles_see_growing_method_lists() {
        let viewer = methods_for(Role::Viewer);
        let admin = methods_for(Role::Admin);
        assert!(viewer.contains(&"health") && !viewer.contains(&"tokens.create"));
        assert_eq!(admin.len(), CATALOGUE.len());
        assert!(!Access::AtLeast(Role::Viewer).allows(None));
    }
}
