//! The default of every configuration key (SPEC §13 and §7), as documented constants.

/// `server.bind`: loopback only, so a fresh install is not reachable from the network.
pub const BIND: &str = "127.0.0.1";
/// `server.port`.
pub const PORT: u16 = 8080;
/// `server.data_dir`: where the SQLite file and other local state live.
pub const DATA_DIR: &str = "./data";
/// `server.max_frame_bytes`: 512 KiB; a larger incoming frame closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 512 * 1024;
/// `server.send_buffer`: outbound messages queued per connection before `slow consumer`.
pub const SEND_BUFFER: usize = 256;
/// `server.ping_interval_ms`.
pub const PING_INTERVAL_MS: u64 = 30_000;
/// `server.read_timeout_ms`: close when no frame or pong arrives within this.
pub const READ_TIMEOUT_MS: u64 = 60_000;
/// `server.write_timeout_ms`: a write that takes longer closes the socket as a slow consumer.
pub const WRITE_TIMEOUT_MS: u64 = 10_000;
/// `server.max_connections`: further upgrades are refused with 503.
pub const MAX_CONNECTIONS: usize = 10_000;
/// `server.drain_timeout_s`: how long running runs may finish on a graceful shutdown.
pub const DRAIN_TIMEOUT_S: u64 = 30;
/// `server.max_inflight_calls`: calls one connection may have in progress at once.
pub const MAX_INFLIGHT_CALLS: usize = 64;
/// `server.pace_wait_ms`: how long a stream waits per step for a listener that is behind.
pub const PACE_WAIT_MS: u64 = 100;

/// `auth.token_cache_ttl_s`: how long a verified token is trusted without argon2.
pub const TOKEN_CACHE_TTL_S: u64 = 60;
/// `auth.failed_per_minute`: failed authentications per remote address before `RATE_LIMITED`.
pub const FAILED_PER_MINUTE: u32 = 10;

/// `limits.chat_per_minute`: sustained `chat.send` rate per principal.
pub const CHAT_PER_MINUTE: u32 = 60;
/// `limits.chat_burst`: `chat.send` calls a principal may make at once before the rate applies.
pub const CHAT_BURST: u32 = 10;
/// `limits.max_subscriptions`: per connection; one more is `CONFLICT`.
pub const MAX_SUBSCRIPTIONS: usize = 128;
/// `limits.max_queued_runs`: runs waiting behind the running one, per session; one more is
/// `CONFLICT`.
pub const MAX_QUEUED_RUNS: usize = 16;
/// `limits.max_message_bytes`: the largest `chat.send` message; larger is `PAYLOAD_TOO_LARGE`.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// `agents.run_timeout_s`: 30 minutes.
pub const RUN_TIMEOUT_S: u64 = 1800;
/// The id of the agent that always exists (an echo agent unless configured otherwise).
pub const MAIN_AGENT: &str = "main";
/// `agents.<id>.chunk_delay_ms`.
pub const CHUNK_DELAY_MS: u64 = 0;
/// `agents.<id>.request_timeout_s`: one request to an OpenAI-compatible server.
pub const REQUEST_TIMEOUT_S: u64 = 120;
/// `agents.<id>.max_steps`: model calls in one run's tool-calling loop.
pub const MAX_STEPS: u32 = 8;
/// `agents.<id>.history_messages`: stored messages sent to the model as context.
pub const HISTORY_MESSAGES: usize = 50;

/// `approvals.timeout_s`: a pending approval is denied after this.
pub const APPROVAL_TIMEOUT_S: u64 = 300;

/// `log.level`.
pub const LOG_LEVEL: &str = "info";

/// The SQLite file name under `server.data_dir` when `storage.url` is not set.
pub const SQLITE_FILE: &str = "switchboard.db";

/// The configuration file looked up in the working directory when none is given.
pub const CONFIG_FILE: &str = "switchboard.toml";
/// The prefix of environment variables (`SWITCHBOARD__SECTION__KEY`).
pub const ENV_PREFIX: &str = "SWITCHBOARD";
/// The separator between prefix, section and key in environment variable names.
pub const ENV_SEPARATOR: &str = "__";

/// The built-in tools an agent's `tools` list may name without a `[tools.<name>]` table.
pub const BUILTIN_TOOLS: [&str; 4] = ["clock", "calc", "http.get", "exec"];

/// `cluster.lease_s`: a node's lease on a session's runs lapses this long after its last renewal.
pub const LEASE_S: u64 = 10;
/// `cluster.channel_prefix`: the prefix of every Redis key and channel.
pub const CHANNEL_PREFIX: &str = "switchboard";
