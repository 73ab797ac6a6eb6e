//! Switchboard's wire contract: roles, error codes, frames, methods and events. No I/O.

mod role;
mod status;

pub use role::{ParseRoleError, Role};
pub use status::{ApprovalStatus, RunStatus};
