//! Switchboard's typed configuration (SPEC §13): defaults < `switchboard.toml` (or `--config
//! FILE`) < `SWITCHBOARD__SECTION__KEY` environment variables, validated with errors that name
//! the key at fault.
//!
//! ```no_run
//! let config = switchboard_config::Config::load(None)?;
//! println!("listening on {}:{}", config.server.bind, config.server.port);
//! # Ok::<(), switchboard_config::ConfigError>(())
//! ```

mod agents;
mod de;
pub mod defaults;
mod error;
mod load;
mod model;
mod names;
mod redact;
mod secret;
mod validate;

pub use agents::{AgentConfig, AgentsConfig};
pub use error::ConfigError;
pub use model::{
    ApprovalsConfig, AuthConfig, ClusterConfig, Config, LimitsConfig, LogConfig, MetricsConfig,
    Pricing, ServerConfig, StorageConfig, ToolConfig,
};
pub use names::{AgentKind, LogFormat, Risk, UnknownName};
pub use secret::{REDACTED, Secret};

#[cfg(test)]
mod tests;
