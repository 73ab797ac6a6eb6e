//! Live connections: each one's state (identity, how to close it, counters) and the registry
//! that admin methods list, kick and revoke through. Transport-agnostic: `/ws` and `/rpc`
//! WebSocket connections both register here.

mod registry;
mod state;

pub use registry::{ConnectionRegistry, Registration};
pub use state::{Closer, ConnectionState, Identity, Protocol, TokenExpired};
