//! Switchboard: a JSON-RPC method-dispatch gateway for AI-agent chat sessions.
//!
//! The library exposes [`run`], which serves a bound listener until a shutdown future
//! resolves; `main` only parses the command line, sets up logging and handles signals.

pub mod admin;
pub mod agent;
pub mod approvals;
pub mod audit;
pub mod cli;
pub mod connections;
pub mod gate;
pub mod http;
pub mod hub;
pub mod ids;
mod logging;
pub mod methods;
pub mod rpc;
pub mod runs;
mod serve;
mod shutdown;
mod state;
pub mod telemetry;
pub mod ws;

pub use serve::{Server, run, serve_router};
pub use shutdown::shutdown_signal;
pub use state::AppState;
