//! The typed configuration: one struct per section of `switchboard.toml`, each with the defaults
//! of SPEC §13. Durations are stored as integers in the unit their key names (`_ms`, `_s`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_api::Role;

use crate::agents::AgentsConfig;
use crate::defaults;
use crate::names::{LogFormat, Risk};
use crate::redact::redact_url_password;
use crate::secret::Secret;

/// Switchboard's whole configuration. Build it with [`Config::load`]; [`Config::default`] is the
/// configuration of an empty file and an empty environment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`: listening, per-connection limits, keepalive.
    pub server: ServerConfig,
    /// `[auth]`: the admin token and anonymous access.
    pub auth: AuthConfig,
    /// `[limits]`: per-principal rates and per-connection/per-session bounds.
    pub limits: LimitsConfig,
    /// `[storage]`: where sessions, events and tokens are kept.
    pub storage: StorageConfig,
    /// `[agents]` and `[agents.<id>]`: the run timeout and the configured agents.
    pub agents: AgentsConfig,
    /// `[approvals]`: tool-call approvals.
    pub approvals: ApprovalsConfig,
    /// `[tools.<name>]`: per-tool approval gates and sandboxes, by tool name.
    pub tools: BTreeMap<String, ToolConfig>,
    /// `[pricing.<model>]`: token prices, by model name, for the cost in `usage` events.
    pub pricing: BTreeMap<String, Pricing>,
    /// `[log]`: log format and level.
    pub log: LogConfig,
    /// `[metrics]`: who may read `/metrics`.
    pub metrics: MetricsConfig,
    /// `[cluster]`: many nodes over PostgreSQL and Redis (unset `redis_url`: one node).
    pub cluster: ClusterConfig,
}

impl Config {
    /// Whether a caller without a token is let in (as [`Config::anonymous_role`]): the configured
    /// `auth.allow_anonymous`, else true exactly when `server.bind` is a loopback address.
    pub fn allow_anonymous(&self) -> bool {
        self.auth
            .allow_anonymous
            .unwrap_or_else(|| is_loopback(&self.server.bind))
    }

    /// The role of a caller without a token: `auth.anonymous_role`, viewer by default.
    pub fn anonymous_role(&self) -> Role {
        self.auth.anonymous_role.unwrap_or(Role::Viewer)
    }

    /// The store's URL: `storage.url`, else `sqlite://<data_dir>/switchboard.db?mode=rwc` (the
    /// SQLite file is created when missing).
    pub fn storage_url(&self) -> String {
        match &self.storage.url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join(defaults::SQLITE_FILE).display()
            ),
        }
    }
}

/// Whether `bind` names the loopback interface (`127.0.0.0/8`, `::1`, `localhost`).
pub(crate) fn is_loopback(bind: &str) -> bool {
    match bind.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = bind.trim_end_matches('.').to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// `[server]`: the listener and the limits of every connection (SPEC §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// IP address or hostname to listen on; `127.0.0.1` keeps the gateway local.
    pub bind: String,
    /// TCP port; 0 asks the OS for an ephemeral port (tests).
    #[serde(deserialize_with = "crate::de::port")]
    pub port: u16,
    /// Where the SQLite file and other local state live.
    pub data_dir: PathBuf,
    /// The largest incoming frame; a larger one closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// Outbound messages queued per connection before it is closed as a slow consumer.
    pub send_buffer: usize,
    /// How often the server pings an idle connection.
    #[serde(deserialize_with = "crate::de::millis")]
    pub ping_interval_ms: u64,
    /// A connection with no frame or pong for this long is closed.
    #[serde(deserialize_with = "crate::de::millis")]
    pub read_timeout_ms: u64,
    /// A write that takes longer closes the connection as a slow consumer.
    #[serde(deserialize_with = "crate::de::millis")]
    pub write_timeout_ms: u64,
    /// Open connections at most; further upgrades get 503.
    pub max_connections: usize,
    /// On a graceful shutdown, how long running runs may finish.
    #[serde(deserialize_with = "crate::de::secs")]
    pub drain_timeout_s: u64,
    /// Calls one connection may have in progress at once; reading pauses at the bound.
    pub max_inflight_calls: usize,
    /// How long a session's stream waits, per step, for a listener that is behind; past it
    /// the listener is no longer waited for (and is closed as a slow consumer once its queue
    /// is full). 0 never waits.
    #[serde(deserialize_with = "crate::de::millis")]
    pub pace_wait_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: defaults::BIND.to_owned(),
            port: defaults::PORT,
            data_dir: PathBuf::from(defaults::DATA_DIR),
            max_frame_bytes: defaults::MAX_FRAME_BYTES,
            send_buffer: defaults::SEND_BUFFER,
            ping_interval_ms: defaults::PING_INTERVAL_MS,
            read_timeout_ms: defaults::READ_TIMEOUT_MS,
            write_timeout_ms: defaults::WRITE_TIMEOUT_MS,
            max_connections: defaults::MAX_CONNECTIONS,
            drain_timeout_s: defaults::DRAIN_TIMEOUT_S,
            max_inflight_calls: defaults::MAX_INFLIGHT_CALLS,
            pace_wait_ms: defaults::PACE_WAIT_MS,
        }
    }
}

impl ServerConfig {
    /// `ping_interval_ms` as a duration.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    /// `read_timeout_ms` as a duration.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.read_timeout_ms)
    }

    /// `write_timeout_ms` as a duration.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    /// `drain_timeout_s` as a duration.
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_s)
    }

    /// `pace_wait_ms` as a duration.
    pub fn pace_wait(&self) -> Duration {
        Duration::from_millis(self.pace_wait_ms)
    }
}

/// `[auth]`: who gets in without a stored token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The gateway token: presenting it gives admin. Hidden in `Debug` and when serialized.
    pub admin_token: Option<Secret>,
    /// Whether a caller without a token gets in; `None` resolves by the bind address, see
    /// [`Config::allow_anonymous`].
    pub allow_anonymous: Option<bool>,
    /// The role of a caller without a token (viewer when unset; never admin).
    #[serde(deserialize_with = "crate::de::opt_role")]
    pub anonymous_role: Option<Role>,
    /// How long a verified token is trusted before argon2 runs again.
    #[serde(deserialize_with = "crate::de::secs")]
    pub token_cache_ttl_s: u64,
    /// Failed authentications per remote address and minute before `RATE_LIMITED`.
    pub failed_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            admin_token: None,
            allow_anonymous: None,
            anonymous_role: None,
            token_cache_ttl_s: defaults::TOKEN_CACHE_TTL_S,
            failed_per_minute: defaults::FAILED_PER_MINUTE,
        }
    }
}

impl AuthConfig {
    /// `token_cache_ttl_s` as a duration.
    pub fn token_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.token_cache_ttl_s)
    }
}

/// `[limits]`: what one principal, connection or session may ask for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Sustained `chat.send` calls per principal and minute.
    pub chat_per_minute: u32,
    /// `chat.send` calls a principal may make at once before the rate applies.
    pub chat_burst: u32,
    /// Subscriptions per connection; one more is `CONFLICT`.
    pub max_subscriptions: usize,
    /// Runs waiting behind the running one, per session; one more is `CONFLICT`.
    pub max_queued_runs: usize,
    /// The largest `chat.send` message in bytes; larger is `PAYLOAD_TOO_LARGE`.
    pub max_message_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            chat_per_minute: defaults::CHAT_PER_MINUTE,
            chat_burst: defaults::CHAT_BURST,
            max_subscriptions: defaults::MAX_SUBSCRIPTIONS,
            max_queued_runs: defaults::MAX_QUEUED_RUNS,
            max_message_bytes: defaults::MAX_MESSAGE_BYTES,
        }
    }
}

/// `[storage]`: the SQL store.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://…` or `postgres://…`; unset means SQLite under `server.data_dir`, see
    /// [`Config::storage_url`].
    pub url: Option<String>,
}

/// Hides the password a `postgres://user:password@host/db` URL may carry.
impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConfig")
            .field("url", &self.url.as_deref().map(redact_url_password))
            .finish()
    }
}

/// `[cluster]`: N `switchboard serve` processes acting as one gateway. With `redis_url` unset
/// the gateway is a single node, exactly as without this section.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `redis://…` (or `rediss://…`): Redis for fan-out between nodes; needs a PostgreSQL
    /// `storage.url`.
    pub redis_url: Option<String>,
    /// This node's id; unset: generated at start, stable for the process.
    pub node_id: Option<String>,
    /// How long a node's lease on a session lasts without renewal.
    #[serde(deserialize_with = "crate::de::secs")]
    pub lease_s: u64,
    /// The prefix of every Redis key and channel of this gateway.
    pub channel_prefix: String,
}

impl ClusterConfig {
    /// Whether many nodes share the store (`redis_url` is set).
    pub fn enabled(&self) -> bool {
        self.redis_url.is_some()
    }

    /// `lease_s` as a duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_s)
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: None,
            node_id: None,
            lease_s: defaults::LEASE_S,
            channel_prefix: defaults::CHANNEL_PREFIX.to_owned(),
        }
    }
}

/// Hides the password a `redis://:password@host` URL may carry.
impl fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(redact_url_password),
            )
            .field("node_id", &self.node_id)
            .field("lease_s", &self.lease_s)
            .field("channel_prefix", &self.channel_prefix)
            .finish()
    }
}

/// `[approvals]`: tool calls that wait for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// A pending approval is denied after this.
    #[serde(deserialize_with = "crate::de::secs")]
    pub timeout_s: u64,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        Self {
            timeout_s: defaults::APPROVAL_TIMEOUT_S,
        }
    }
}

impl ApprovalsConfig {
    /// `timeout_s` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s)
    }
}

/// `[tools.<name>]`: overrides for one tool; every key left out keeps the tool's own default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolConfig {
    /// Whether a call waits for `approvals.resolve`.
    pub require_approval: Option<bool>,
    /// The risk shown in `approval.requested`.
    pub risk: Option<Risk>,
    /// Hosts the tool may reach (`http.get`); empty keeps the tool's default.
    #[serde(deserialize_with = "crate::de::string_list")]
    pub allowed_hosts: Vec<String>,
    /// Programs the tool may run (`exec`); empty keeps the tool's default.
    #[serde(deserialize_with = "crate::de::string_list")]
    pub allowed_commands: Vec<String>,
    /// How long one call may take.
    #[serde(deserialize_with = "crate::de::opt_secs")]
    pub timeout_s: Option<u64>,
    /// Output beyond this many bytes is cut off.
    pub max_output_bytes: Option<u64>,
    /// `http.get` only: whether it may reach loopback, private, link-local, unique-local and
    /// other non-public addresses (default false: refused, whatever `allowed_hosts` says).
    pub allow_private: bool,
    /// `exec` only: the environment variables passed from the server to a child, by name (the
    /// child's environment is cleared first); left out, `["PATH"]`.
    #[serde(deserialize_with = "opt_string_list")]
    pub env: Option<Vec<String>>,
    /// `exec` only: the children's working directory; left out, `<server.data_dir>/exec`
    /// (created when missing).
    pub workdir: Option<PathBuf>,
}

/// [`crate::de::string_list`] for a key whose absence means something else than an empty list.
fn opt_string_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    crate::de::string_list(deserializer).map(Some)
}

impl ToolConfig {
    /// `timeout_s` as a duration.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout_s.map(Duration::from_secs)
    }
}

/// `[pricing.<model>]`: what a model's tokens cost, in the currency of your choice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// Price of one million input (prompt) tokens.
    pub input_per_million: f64,
    /// Price of one million output (completion) tokens.
    pub output_per_million: f64,
}

impl Pricing {
    /// The cost of one call's usage.
    pub fn cost(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        // Token counts stay far below 2^53, where the conversion would round.
        let (input, output) = (input_tokens as f64, output_tokens as f64);
        (input * self.input_per_million + output * self.output_per_million) / 1_000_000.0
    }
}

/// `[log]`: how the gateway logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` for people, `json` for machines.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `switchboard=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: defaults::LOG_LEVEL.to_owned(),
        }
    }
}

/// `[metrics]`: who may read `GET /metrics`. A peer on a loopback address may always read it; a
/// peer presenting `token` may read it from anywhere; anyone else only when `loopback_only` is
/// false and no token is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// A bearer token (`Authorization: Bearer <token>`) that opens `/metrics` to any peer. Hidden
    /// like the admin token.
    pub token: Option<Secret>,
    /// Whether peers off the loopback interface are refused (unless they present `token`).
    pub loopback_only: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            token: None,
            loopback_only: true,
        }
    }
}
