//! The one error type of this crate: every message names the file or key at fault.

use std::path::PathBuf;

use thiserror::Error;

/// Why the configuration could not be loaded or is not valid.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A configuration file given explicitly (`--config FILE`) does not exist.
    #[error("configuration file {} does not exist", .0.display())]
    MissingFile(PathBuf),
    /// A key has a value that cannot be used: `server.port: 70000 is out of range (0–65535)`.
    #[error("{key}: {reason}")]
    Invalid {
        /// The dotted key, e.g. `server.port` or `agents.gpt.model`.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// The file could not be read or parsed (the message names the file and, where known, the
    /// line).
    #[error("{0}")]
    Load(String),
}

impl ConfigError {
    /// An invalid value at `key`.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The key at fault, when the error is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } => Some(key),
            Self::MissingFile(_) | Self::Load(_) => None,
        }
    }
}

/// Turns the `config` crate's errors, which carry the key path apart from the message, into
/// `key: reason`; an unknown key is reported at its own path (`server.prot: unknown key …`).
impl From<config::ConfigError> for ConfigError {
    fn from(error: config::ConfigError) -> Self {
        match error {
            config::ConfigError::At {
                error,
                key: Some(key),
                ..
            } => keyed(&key, error.to_string()),
            config::ConfigError::Type {
                unexpected,
                expected,
                key: Some(key),
                ..
            } => keyed(
                &key,
                format!("invalid type: {unexpected}, expected {expected}"),
            ),
            config::ConfigError::Message(message) => keyed("", message),
            config::ConfigError::NotFound(key) => Self::invalid(key, "required but missing"),
            other => Self::Load(other.to_string()),
        }
    }
}

/// `reason` at `key`, moving an unknown field's name into the key.
fn keyed(key: &str, reason: String) -> ConfigError {
    if let Some(field) = unknown_field(&reason) {
        let path = if key.is_empty() {
            field.to_owned()
        } else {
            format!("{key}.{field}")
        };
        return ConfigError::invalid(path, format!("unknown key ({reason})"));
    }
    if key.is_empty() {
        ConfigError::Load(reason)
    } else {
        ConfigError::invalid(key, reason)
    }
}

/// The field that serde's `unknown field `x`, expected …` message names.
fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split_once('`').map(|(field, _)| field)
}
