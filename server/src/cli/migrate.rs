//! `switchboard migrate`: apply pending migrations and exit.

use switchboard_config::Config;
use switchboard_storage::Store;

use super::CliError;

pub(super) async fn migrate(config: Config) -> Result<(), CliError> {
    let store = Store::connect(&config.storage_url())
        .await
        .map_err(anyhow::Error::from)?;
    let pending = store
        .pending_migrations()
        .await
        .map_err(anyhow::Error::from)?;
    store.migrate().await.map_err(anyhow::Error::from)?;
    if pending.is_empty() {
        eprintln!("store is up to date ({})", store.backend_name());
    } else {
        for name in &pending {
            eprintln!("applied {name}");
        }
    }
    store.close().await.map_err(anyhow::Error::from)?;
    Ok(())
}
