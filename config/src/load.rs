//! Layering: defaults < `switchboard.toml` (or the given file) < `SWITCHBOARD__SECTION__KEY`
//! environment variables, then validation.

use std::path::Path;

use config::{Environment, File, FileFormat, Map};

use crate::defaults::{CONFIG_FILE, ENV_PREFIX, ENV_SEPARATOR};
use crate::error::ConfigError;
use crate::model::Config;

impl Config {
    /// Loads the configuration: the defaults, overridden by `file` (which must exist) or else by
    /// `switchboard.toml` in the working directory if present, overridden by the process's
    /// `SWITCHBOARD__<SECTION>__<KEY>` environment variables; then [`Config::validate`]s it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingFile`] when `file` does not exist, [`ConfigError::Load`] when a
    /// file cannot be read or parsed, [`ConfigError::Invalid`] naming the key of a bad value.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        layered(file, None)
    }

    /// [`Config::load`] with `env` in place of the process environment, so that tests need not
    /// change the process's variables. Only the `SWITCHBOARD__…` entries of `env` are read.
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn load_from<I, K, V>(file: Option<&Path>, env: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env: Map<String, String> = env
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()))
            .collect();
        layered(file, Some(env))
    }

    /// The defaults overridden by `toml` (the text of a configuration file) alone, validated; no
    /// file is read and the environment is ignored.
    ///
    /// # Errors
    ///
    /// As [`Config::load`].
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        let raw = config::Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .build()?;
        finish(raw)
    }
}

/// Builds the layers; `env: None` reads the process environment.
fn layered(file: Option<&Path>, env: Option<Map<String, String>>) -> Result<Config, ConfigError> {
    let file_source = match file {
        Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path.to_path_buf())),
        Some(path) => File::from(path).format(FileFormat::Toml),
        // Relative on purpose: the working directory's file.
        None => File::from(Path::new(CONFIG_FILE))
            .format(FileFormat::Toml)
            .required(false),
    };
    let env_source = Environment::with_prefix(ENV_PREFIX)
        .separator(ENV_SEPARATOR)
        // `SWITCHBOARD__AUTH__ADMIN_TOKEN=` means unset, not an empty token.
        .ignore_empty(true)
        // No `try_parsing`: values stay strings and are converted to each key's type, so a
        // numeric-looking token stays the exact string it was.
        .source(env);
    let raw = config::Config::builder()
        .add_source(file_source)
        .add_source(env_source)
        .build()?;
    finish(raw)
}

fn finish(raw: config::Config) -> Result<Config, ConfigError> {
    let config: Config = raw.try_deserialize()?;
    config.validate()?;
    Ok(config)
}
