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

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodSpec {
    /// The wire name.
    pub name: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One line.
    pub summary: &'static str,
}

const fn entry(name: &'static str, access: Access, summary: &'static str) -> MethodSpec {
    MethodSpec {
        name,
        access,
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
        "authenticate this connection; returns role, limits and the methods it may call",
    ),
    entry("health", Access::Public, "`{status, version, uptime_s}`"),
    entry(
        "status",
        VIEWER,
        "uptime, version, node id, connections by role, sessions, agents, runs",
    ),
    entry(
        "agents.list",
        VIEWER,
        "configured agents `{id, kind, model?, description?}`",
    ),
    entry(
        "models.list",
        VIEWER,
        "one model per configured agent `{id, name, provider, agentId}`",
    ),
    entry(
        "commands.list",
        VIEWER,
        "`{commands:[]}`: the gateway has no slash commands (a client's are its own)",
    ),
    entry(
        "sessions.list",
        VIEWER,
        "`{agentId?, userId?, limit?, cursor?, includeLastMessage?}` → sessions, newest first (with `key` when keyed, `lastMessagePreview` when asked), and `nextCursor`",
    ),
    entry(
        "sessions.get",
        VIEWER,
        "`{sessionId | sessionKey}` → one session with its running state, active run and totals",
    ),
    entry(
        "chat.history",
        VIEWER,
        "`{sessionId | sessionKey, limit?, before?}` → messages oldest first and `hasMore` (by key: also `sessionId`, `sessionKey`)",
    ),
    entry(
        "subscribe",
        VIEWER,
        "`{topic, afterSeq?}`: events of `session:<id>`, `agent:<id>`, `sessions` or `*`, replaying stored events after `afterSeq`",
    ),
    entry("unsubscribe", VIEWER, "`{subscriptionId}`"),
    entry(
        "approvals.list",
        VIEWER,
        "pending tool approvals `{approvalId, sessionId, runId, toolCallId, tool, input, risk, createdAt}`",
    ),
    entry(
        "config.public",
        VIEWER,
        "keepalive and frame limits, `limits` and agents `{id, kind, model?}` — no URLs, paths or secrets",
    ),
    entry(
        "chat.send",
        OPERATOR,
        "`{agentId?, message, sessionId? | sessionKey?, idempotencyKey?}` → after the run: `{content, sessionId, runId, usage, stopReason}`; an unknown `sessionKey` creates the session",
    ),
    entry(
        "chat.start",
        OPERATOR,
        "like `chat.send`, answered once the run is durably queued: `{runId, sessionId, sessionKey}`; the run's events follow on the connection",
    ),
    entry(
        "chat.abort",
        OPERATOR,
        "`{sessionId | sessionKey, runId?}` → `{aborted}`; the run ends `aborted`, keeping its partial reply",
    ),
    entry(
        "question.list",
        OPERATOR,
        "`{questions:[]}`: questions agents wait on (agents here ask none)",
    ),
    entry(
        "approvals.resolve",
        OPERATOR,
        "`{approvalId, approved, reason?}` → `{resolved}`; the waiting run goes on accordingly",
    ),
    entry(
        "sessions.delete",
        ADMIN,
        "`{sessionId}`: delete a session with its messages and events",
    ),
    entry(
        "tokens.create",
        ADMIN,
        "`{name, role, expiresInS?}` → the new token, shown only here",
    ),
    entry(
        "tokens.list",
        ADMIN,
        "every token's id, name, role and times — never a secret or hash",
    ),
    entry(
        "tokens.revoke",
        ADMIN,
        "`{id}` → `{revoked, closedConnections}`; closes its live connections at once",
    ),
    entry(
        "connections.list",
        ADMIN,
        "live connections with user, role, protocol, address, subscriptions",
    ),
    entry(
        "connections.kick",
        ADMIN,
        "`{connectionId, reason?}`: close it (1008 with the reason)",
    ),
    entry(
        "audit.list",
        ADMIN,
        "`{limit?, before?}` → audit entries, newest first",
    ),
    entry(
        "config.get",
        ADMIN,
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
