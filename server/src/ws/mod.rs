//! The WebSocket transport of both protocols: `GET /ws` (the frame protocol, SPEC §3) and
//! `GET /rpc` upgraded (JSON-RPC 2.0). The endpoint owns the socket; messages become JSON-RPC
//! calls that go through the same role gate into the same `Methods` as `POST /rpc`, and
//! responses and notifications go back (as frames on `/ws`) from one task per connection.

pub mod codec;
mod connection;
pub mod jsonrpc;
mod openclaw;
mod outbound;
mod service;

pub use connection::{Dialect, FrameLimits, next_connection_id, serve_connection};
pub use openclaw::{OPENCLAW_METHODS, markdown_table as openclaw_markdown_table};
pub use outbound::EventQueue;
pub use service::FrameRpcService;
