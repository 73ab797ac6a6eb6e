//! Switchboard's wire contract: roles, error codes, the method catalogue, the methods as
//! jsonrpsee `#[rpc]` traits with their param and result types, the pushed events, and run
//! states. No I/O.

pub mod catalogue;
mod error;
pub mod events;
mod role;
pub mod rpc;
mod scope;
pub mod session_key;
mod status;
pub mod types;

pub use catalogue::{Access, CATALOGUE, MethodSpec, Scoping};
pub use error::{ErrorCode, ErrorData};
pub use events::Event;
pub use role::{ParseRoleError, Role};
pub use scope::{MAX_SCOPE_ENTRIES, Scope};
pub use status::{ApprovalStatus, RunStatus};

/// The protocol version of the frame protocol (GoClaw / OpenClaw protocol 3).
pub const PROTOCOL_VERSION: u32 = 3;
