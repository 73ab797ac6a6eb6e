//! The test harness: a real Switchboard on an ephemeral port (in-process or as the built
//! binary), WebSocket clients for both protocols, a plain HTTP client over a real socket, and
//! PostgreSQL discovery for the tests that run on both stores.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod binary;
pub mod browser;
pub mod cluster;
pub mod frames;
pub mod http;
pub mod openai_stub;
pub mod postgres;
pub mod server;
pub mod tui;

pub use binary::switchboard_binary;
pub use browser::Browser;
pub use cluster::{Cluster, RedisServer};
pub use frames::{Closed, WsClient, connect_params};
pub use openai_stub::{OpenAiStub, Reply};
pub use postgres::{PgDatabase, pg_database};
pub use server::TestServer;
pub use tui::{Tui, tmux_missing};
