//! The shared state every handler sees: a cheap `Clone` handle over `Arc`s.

use std::sync::Arc;
use std::time::Instant;

use switchboard_auth::TokenVerifier;
use switchboard_config::Config;
use switchboard_storage::Store;

/// Everything the gateway shares between connections.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The validated configuration, read-only after start.
    pub config: Arc<Config>,
    /// The store.
    pub store: Store,
    /// Token verification with its cache.
    pub verifier: TokenVerifier,
    /// When the server started, for `uptime_s`.
    pub started: Instant,
}

impl AppState {
    /// State over an open, migrated store.
    pub fn new(config: Config, store: Store) -> AppState {
        let verifier = TokenVerifier::new(
            store.clone(),
            switchboard_auth::VerifierOptions {
                admin_token: config
                    .auth
                    .admin_token
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
                cache_ttl: config.auth.token_cache_ttl(),
            },
        );
        AppState {
            config: Arc::new(config),
            store,
            verifier,
            started: Instant::now(),
        }
    }
}
