//! Params and results of the methods, as they appear on the wire (camelCase, except where
//! GoClaw's protocol fixes a name).

mod admin;
mod chat;
mod config;
mod connect;
mod gateway;

pub use admin::{
    AuditEntryInfo, AuditList, ConnectionInfo, ConnectionList, CreatedTokenInfo, KickResult,
    RevokeResult, TokenInfo, TokenList,
};
pub use chat::{
    AbortResult, AgentInfo, AgentList, ApprovalInfo, ApprovalList, ChatSendResult, ChatStartResult,
    CommandList, DeleteResult, EventMessage, History, MessageInfo, ModelInfo, ModelList,
    QuestionList, ResolveResult, SessionDetail, SessionInfo, SessionList, StopReason, Usage,
};
pub use config::{PublicAgent, PublicConfig, PublicLimits, PublicServerConfig};
pub use connect::{ClientInfo, ConnectAuth, ConnectResult, Limits, ServerInfo};
pub use gateway::{HealthResult, NodeStatus, StatusResult};
