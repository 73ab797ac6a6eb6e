//! Switchboard: a JSON-RPC method-dispatch gateway for AI-agent chat sessions.
//!
//! The library exposes [`run`], which serves a bound listener until a shutdown future
//! resolves; `main` only parses the command line, sets up logging and handles signals.

pub mod cli;
pub mod http;
mod logging;
mod serve;
mod shutdown;
mod state;

pub use serve::{Server, run};
pub use shutdown::shutdown_signal;
pub use state::AppState;
