//! Method handlers, one file per family. A handler never knows which wire protocol called it:
//! it sees the connection's state in `Extensions` and returns typed results or `ApiError`.

mod approvals;
mod audit;
mod chat;
mod config;
mod connect;
mod connections;
mod events;
mod gateway;
mod lists;
mod module;
mod session_ref;
mod sessions;
mod tokens;

pub use approvals::ApprovalMethods;
pub use audit::AuditMethods;
pub use chat::ChatMethods;
pub use config::ConfigMethods;
pub use connections::ConnectionMethods;
pub use events::EventMethods;
pub use gateway::GatewayMethods;
pub use lists::ListMethods;
pub use module::{build_methods, build_module};
pub use sessions::{AgentMethods, SessionMethods};
pub use tokens::TokenMethods;

use std::sync::Arc;

use jsonrpsee::Extensions;

use crate::connections::ConnectionState;
use crate::rpc::ApiError;

/// The calling connection (the transport puts it into every call's `Extensions`).
fn caller(ext: &Extensions) -> Result<Arc<ConnectionState>, ApiError> {
    ext.get::<Arc<ConnectionState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("call without connection state"))
}

/// Who to name in the audit log for this caller.
fn actor(conn: &ConnectionState) -> String {
    match conn.identity() {
        Some(identity) => identity.user_id,
        None => match &conn.bearer {
            Some(p) => p.name.clone(),
            None => format!("connection:{}", conn.id),
        },
    }
}
