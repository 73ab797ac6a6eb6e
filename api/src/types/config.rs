//! `config.public`: what any reader may know of the configuration. Keys as in the
//! configuration file (and `config.get`): snake_case.

use serde::{Deserialize, Serialize};

/// `config.public`'s reply: keepalive and frame limits, `[limits]`, and the agents — no URLs,
/// paths, tokens or store location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicConfig {
    /// From `[server]`.
    pub server: PublicServerConfig,
    /// `[limits]`.
    pub limits: PublicLimits,
    /// Every configured agent.
    pub agents: Vec<PublicAgent>,
}

/// The keepalive and frame limits of `[server]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicServerConfig {
    /// The largest frame accepted, bytes.
    pub max_frame_bytes: usize,
    /// Messages a connection's send queue holds.
    pub send_buffer: usize,
    /// How often the server pings (and OpenClaw's `tick`), ms.
    pub ping_interval_ms: u64,
    /// A connection silent this long is closed, ms.
    pub read_timeout_ms: u64,
    /// A write that takes this long closes the connection, ms.
    pub write_timeout_ms: u64,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicLimits {
    /// Sustained `chat.send`/`chat.start` calls per principal and minute.
    pub chat_per_minute: u32,
    /// Calls a principal may make at once before the rate applies.
    pub chat_burst: u32,
    /// Subscriptions per connection.
    pub max_subscriptions: usize,
    /// Runs waiting behind the running one, per session.
    pub max_queued_runs: usize,
    /// The largest message, bytes.
    pub max_message_bytes: usize,
}

/// One agent: `{id, kind, model?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAgent {
    /// Agent id.
    pub id: String,
    /// `echo` or `openai`.
    pub kind: String,
    /// The model, for model-backed agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}
