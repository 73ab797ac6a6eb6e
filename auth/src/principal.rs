//! Who a caller is once their token has been checked.

use switchboard_api::Role;

/// How a principal proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A stored `sb_…` token.
    Token,
    /// The configured `auth.admin_token`.
    AdminToken,
    /// No token, allowed by `auth.allow_anonymous`.
    Anonymous,
}

/// A verified identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// How it was proven.
    pub kind: PrincipalKind,
    /// The stored token's id (`None` for the admin token and anonymous callers).
    pub token_id: Option<String>,
    /// The token's name (or `admin_token` / `anonymous`).
    pub name: String,
    /// The role granted.
    pub role: Role,
    /// The stored token's expiry, unix ms (`None`: never, or not a stored token). A live
    /// connection's access ends at this time.
    pub expires_at: Option<i64>,
    /// Where it may act (SPEC §18); `None`: everywhere.
    pub scope: Option<switchboard_api::Scope>,
}

impl Principal {
    /// An anonymous caller with `role`.
    pub fn anonymous(role: Role) -> Principal {
        Principal {
            kind: PrincipalKind::Anonymous,
            token_id: None,
            name: "anonymous".to_owned(),
            role,
            expires_at: None,
            scope: None,
        }
    }

    /// A stable name for rate limits, idempotency and audit: `token:<id>`, `admin_token`
    /// or `anonymous`.
    pub fn key(&self) -> String {
        match (&self.kind, &self.token_id) {
            (PrincipalKind::Token, Some(id)) => format!("token:{id}"),
            (PrincipalKind::AdminToken, _) => "admin_token".to_owned(),
            _ => "anonymous".to_owned(),
        }
    }

    /// Whether the token behind this principal has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }
}
