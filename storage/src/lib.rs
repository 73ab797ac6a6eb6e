//! Switchboard's store: sea-orm entities, migrations and the store API. SQLite by default,
//! PostgreSQL by URL; the only crate that speaks SQL.

pub mod entity;
mod error;
pub mod migration;
mod store;

pub use error::StoreError;
pub use store::{
    ApprovalRecord, AuditEntry, AuditPrincipal, AuditQuery, EventRecord, IDEMPOTENCY_WINDOW_MS,
    Lease, LogAppend, MessageRecord, NewApproval, NewAuditEntry, NewEvent, NewMessage, NewRun,
    NewSession, NewToken, RunChange, RunFinish, RunRecord, SessionQuery, SessionRecord, Store,
    TokenRecord, Write, now_ms,
};
pub use switchboard_api::{ApprovalStatus, RunStatus};
