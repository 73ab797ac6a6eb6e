//! `connect`: GoClaw's `{token?, user_id}` and OpenClaw's `{minProtocol, maxProtocol, client,
//! role, scopes, auth:{token}}` in, the identity, limits and callable methods out.

use serde::{Deserialize, Serialize};

use crate::Role;

/// The client's self-description (GoClaw: `name`, `version`; OpenClaw: `id`, `version`,
/// `platform`, `mode`, `instanceId`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// GoClaw client name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// OpenClaw client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Client version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// OpenClaw platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// OpenClaw mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// OpenClaw instance id (becomes `user_id` when none is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

/// OpenClaw's `auth` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectAuth {
    /// The token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The server's name and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    /// `switchboard`.
    pub name: String,
    /// The crate version.
    pub version: String,
    /// This connection's id (OpenClaw reads it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_id: Option<String>,
}

/// The limits of SPEC §7 that apply to this connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Largest incoming frame, bytes.
    pub max_frame_bytes: u64,
    /// Outbound messages queued before `slow consumer`.
    pub send_buffer: u64,
    /// Ping interval, ms.
    pub ping_interval_ms: u64,
    /// Read deadline, ms.
    pub read_timeout_ms: u64,
    /// Write deadline, ms.
    pub write_timeout_ms: u64,
    /// Calls in flight at once.
    pub max_inflight_calls: u64,
    /// Subscriptions per connection.
    pub max_subscriptions: u64,
    /// `chat.send` per minute.
    pub chat_per_minute: u64,
    /// `chat.send` burst.
    pub chat_burst: u64,
}

/// `connect`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectResult {
    /// OpenClaw's hello marker: `hello-ok`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always 3.
    pub protocol: u32,
    /// The role granted.
    pub role: Role,
    /// The user this connection acts for.
    pub user_id: String,
    /// Server name and version.
    pub server: ServerInfo,
    /// This connection's id (for `connections.kick`).
    pub connection_id: String,
    /// The limits in force.
    pub limits: Limits,
    /// The methods this role may call.
    pub methods: Vec<String>,
    /// OpenClaw's feature list (`methods`, `events`).
    pub features: serde_json::Value,
    /// OpenClaw's policy (`maxPayload`, `maxBufferedBytes`, `tickIntervalMs`).
    pub policy: serde_json::Value,
    /// OpenClaw's snapshot of gateway state.
    pub snapshot: serde_json::Value,
}
