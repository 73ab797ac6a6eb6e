//! The auth crate's one error type. Every variant but `Store`/`Internal` is, on the wire,
//! `UNAUTHORIZED`; the variants exist so the audit log can say why.

use switchboard_storage::StoreError;

/// Why a token did not resolve to a principal.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Not of the `sb_<id>_<secret>` form, unknown id, or wrong secret.
    #[error("invalid token")]
    Invalid,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
    /// Revoked.
    #[error("token revoked")]
    Revoked,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed or the blocking pool went away.
    #[error("internal auth error: {0}")]
    Internal(String),
}
