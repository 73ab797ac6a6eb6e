//! The command line: one binary, one subcommand per job. Exit codes: 0 success, 1 failure,
//! 2 bad configuration or usage.

mod bench;
mod call;
mod client;
mod config_check;
mod migrate;
mod serve;
mod token;
mod watch;

pub use client::ConnectArgs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_config::{Config, ConfigError};

/// Switchboard: a JSON-RPC gateway for AI-agent chat sessions.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// Configuration file (default: ./switchboard.toml when present). Environment variables
    /// SWITCHBOARD__SECTION__KEY override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve,
    /// Apply the store's migrations and exit.
    Migrate,
    /// Manage API tokens in the store.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
    /// Call one method over /ws; prints every event and then the result as JSON lines.
    Call {
        /// The method, e.g. chat.send.
        method: String,
        /// Params as a JSON object, e.g. '{"message":"hi"}'.
        params: Option<String>,
        /// How to reach the gateway.
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Load-test a gateway (rpc, connect, fanout, idle, chat); runs on one thread by default.
    Bench(bench::BenchArgs),
    /// Tail events live as JSON lines; resumes without gap or duplicate after a dropped
    /// connection.
    Watch {
        /// session:<id>, agent:<id>, sessions or * (everything).
        #[arg(default_value = "*")]
        topic: String,
        /// How to reach the gateway.
        #[command(flatten)]
        connect: ConnectArgs,
    },
}

/// Why a command failed, which decides its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The configuration is invalid: exit code 2.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// Anything else: exit code 1.
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::from(1),
        }
    }
}

/// Parses `std::env::args`, runs the command, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Bench(args) = &cli.command {
        return match bench::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    // The client commands need no configuration of their own.
    match &cli.command {
        Command::Call {
            method,
            params,
            connect,
        } => return call::call(method, params.as_deref(), connect).await,
        Command::Watch { topic, connect } => return watch::watch(topic, connect).await,
        _ => {}
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve::serve(config).await,
        Command::Migrate => migrate::migrate(config).await,
        Command::Token(cmd) => token::run(config, cmd).await,
        Command::Config(cmd) => config_check::run(config, cmd),
        Command::Call { .. } | Command::Watch { .. } | Command::Bench(_) => Ok(()),
    }
}
