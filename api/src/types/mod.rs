//! Params and results of the methods, as they appear on the wire (camelCase, except where
//! GoClaw's protocol fixes a name).

mod admin;
mod chat;
mod connect;
mod gateway;

pub use admin::{
    AuditEntryInfo, AuditList, ConnectionInfo, ConnectionList, CreatedTokenInfo, KickResult,
    RevokeResult, TokenInfo, TokenList,
};
pub use chat::{
    AbortResult, AgentInfo, AgentList, ApprovalInfo, ApprovalList, ChatSendResult, DeleteResult,
    EventMessage, History, MessageInfo, ResolveResult, SessionDetail, SessionInfo, SessionList,
    StopReason, Usage,
};
pub use connect::{ClientInfo, ConnectAuth, ConnectResult, Limits, ServerInfo};
pub use gateway::{HealthResult, NodeStatus, StatusResult};
