//! `switchboard serve`: load, migrate, announce, serve until a signal.

use switchboard_config::Config;

use super::CliError;
use crate::{Server, logging, run, shutdown_signal};

pub(super) async fn serve(config: Config) -> Result<(), CliError> {
    logging::init(&config.log);
    let server = Server::start(config).await?;
    if let Some(admin) = &server.bootstrap_admin {
        // Shown once, on stdout (logs go to stderr), and never logged.
        println!(
            "\n================================================================\n \
             No admin token existed, so one was created. It is shown only now:\n\n    \
             {}\n\n \
             Store it safely; only its argon2id hash is kept (token id {}).\n\
             ================================================================\n",
            admin.token, admin.id
        );
    }
    let listener = server.bind().await?;
    let addr = listener.local_addr().map_err(anyhow::Error::from)?;
    tracing::info!(%addr, store = server.state.store.backend_name(), "listening");
    let store = server.state.store.clone();
    run(listener, server.state, shutdown_signal())
        .await
        .map_err(anyhow::Error::from)?;
    store.close().await.map_err(anyhow::Error::from)?;
    tracing::info!("stopped");
    Ok(())
}
