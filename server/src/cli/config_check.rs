//! `switchboard config check`: validate and print the effective configuration, secrets
//! redacted.

use clap::Subcommand;
use switchboard_config::Config;

use super::CliError;

/// `switchboard config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective one (secrets redacted) as JSON.
    Check,
}

pub(super) fn run(config: Config, cmd: ConfigCommand) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Check => {
            let text =
                serde_json::to_string_pretty(&config.redacted()).map_err(anyhow::Error::from)?;
            println!("{text}");
            eprintln!("configuration is valid");
            Ok(())
        }
    }
}
