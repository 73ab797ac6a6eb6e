//! Switchboard's one integration-test binary: real servers on ephemeral ports, real sockets,
//! real files and processes. Each module is one area of the specification.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub
)]

mod admin;
mod agents;
mod backends;
mod bench_smoke;
mod chat;
mod cli;
mod client_cli;
mod cluster;
mod codec_props;
mod config;
mod dashboard;
mod frames;
mod gate;
mod hostile_auth;
mod hostile_client;
mod hostile_runs;
mod hostile_tools;
mod jsonrpc;
mod openclaw;
mod openclaw_dialect;
mod operations;
mod scopes;
mod serve;
mod store;
mod tokens;
