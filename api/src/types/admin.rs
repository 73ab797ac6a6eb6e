//! Admin methods: tokens, connections, audit.

use serde::{Deserialize, Serialize};

use crate::{Role, Scope};

/// `tokens.create`'s reply: the only time the token is shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedTokenInfo {
    /// Lookup id.
    pub id: String,
    /// The whole token.
    pub token: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Where it may act (SPEC §18); absent: everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

impl std::fmt::Debug for CreatedTokenInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedTokenInfo")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// One token in `tokens.list`: never a secret or a hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// Lookup id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Expiry, unix ms.
    pub expires_at: Option<i64>,
    /// Last use, unix ms.
    pub last_used_at: Option<i64>,
    /// Whether it was revoked.
    pub revoked: bool,
    /// Where it may act (SPEC §18); absent: everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

/// `tokens.list`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenList {
    /// Every token, oldest first.
    pub tokens: Vec<TokenInfo>,
}

/// `tokens.revoke`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeResult {
    /// Always true (an unknown id is `NOT_FOUND`).
    pub revoked: bool,
    /// Live connections closed because they used the token.
    pub closed_connections: u64,
}

/// One live connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionInfo {
    /// Connection id.
    pub id: String,
    /// The user it acts for (after `connect`).
    pub user_id: Option<String>,
    /// Its role (after `connect`, or from a bearer token).
    pub role: Option<Role>,
    /// `frames` (`/ws`) or `jsonrpc` (`/rpc` WebSocket).
    pub protocol: String,
    /// The peer's address.
    pub remote_addr: String,
    /// When it opened, unix ms.
    pub connected_at: i64,
    /// Its live subscriptions.
    pub subscriptions: u64,
    /// The node it is connected to (many nodes; absent on a single node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The scope of the token behind its role (SPEC §18); absent: everywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

/// `connections.list`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionList {
    /// Every live WebSocket connection.
    pub connections: Vec<ConnectionInfo>,
}

/// `connections.kick`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KickResult {
    /// Always true (an unknown id is `NOT_FOUND`).
    pub kicked: bool,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryInfo {
    /// Entry id (use as `before` for the next page).
    pub id: i64,
    /// When, unix ms.
    pub at: i64,
    /// Who, as the caller named itself (its `user_id`): a claim, not a proof.
    pub actor: String,
    /// What (`connect`, `call.denied`, `token.create`, `token.revoke`, `connection.kick`).
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// `ok`, `failed` or `denied`.
    pub outcome: String,
    /// More detail.
    pub detail: Option<String>,
    /// Who the caller proved to be: `token:<id>`, `admin_token` or `anonymous`; null when
    /// nothing was proven (a failed `connect`) and on entries older than this field.
    #[serde(default)]
    pub principal: Option<String>,
    /// The role the caller held, with `principal`.
    #[serde(default)]
    pub role: Option<Role>,
    /// The scope the caller's token held (SPEC §18); absent: everywhere, or nothing proven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

/// `audit.list`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditList {
    /// Entries, newest first.
    pub entries: Vec<AuditEntryInfo>,
}
