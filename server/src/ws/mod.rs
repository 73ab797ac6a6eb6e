//! `GET /ws`: the frame protocol (SPEC §3). The endpoint owns the socket; frames become
//! JSON-RPC calls that go through the same role gate into the same `Methods` as `/rpc`, and
//! JSON-RPC responses and notifications become frames again in one writer task.

pub mod codec;
mod connection;
mod outbound;
mod service;

pub use connection::{FrameLimits, next_connection_id, serve_connection};
pub use outbound::{EventQueue, QueueError};
pub use service::FrameRpcService;
