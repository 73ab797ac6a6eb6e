//! The shared state every handler sees: a cheap `Clone` handle over `Arc`s.

use std::sync::Arc;
use std::time::Instant;

use switchboard_auth::{TokenVerifier, VerifierOptions};
use switchboard_config::Config;
use switchboard_storage::Store;

use crate::approvals::Approvals;
use crate::audit::AuditLog;
use crate::connections::ConnectionRegistry;
use crate::gate::FailedAuthLimiter;
use crate::hub::broker::{Broker, Handlers};
use crate::hub::{EventBus, EventHub, Pacing};
use crate::runs::{LogPacing, RunManager};

/// Everything the gateway shares between connections.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The validated configuration, read-only after start.
    pub config: Arc<Config>,
    /// The store.
    pub store: Store,
    /// Token verification with its cache.
    pub verifier: TokenVerifier,
    /// Live connections.
    pub connections: ConnectionRegistry,
    /// Who listens to which events.
    pub hub: EventHub,
    /// The way events enter the hub, in order, from this node and the others.
    pub bus: EventBus,
    /// What this node answers to the others (registered at start).
    pub handlers: Handlers,
    /// Runs of every session.
    pub runs: RunManager,
    /// Pending tool approvals.
    pub approvals: Approvals,
    /// The audit writer.
    pub audit: AuditLog,
    /// Failed authentications per remote address.
    pub failed_auth: Arc<FailedAuthLimiter>,
    /// When the server started, for `uptime_s`.
    pub started: Instant,
    /// This node's id: `cluster.node_id`, else fresh at every start (for `status`).
    pub node_id: Arc<str>,
    /// Set when a graceful shutdown began: new runs are refused.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// State over an open, migrated store. Starts the audit writer, so it needs a runtime.
    pub fn new(
        config: Config,
        store: Store,
        broker: Arc<dyn Broker>,
        handlers: Handlers,
    ) -> AppState {
        // Install the metrics recorder before anything counts.
        crate::telemetry::prometheus();
        let verifier = TokenVerifier::new(
            store.clone(),
            VerifierOptions {
                admin_token: config
                    .auth
                    .admin_token
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
                cache_ttl: config.auth.token_cache_ttl(),
            },
        );
        let failed_auth = Arc::new(FailedAuthLimiter::new(config.auth.failed_per_minute));
        let hub = EventHub::default();
        let node_id: Arc<str> = broker.node_id().into();
        let pacing =
            LogPacing::for_connections(config.server.send_buffer, config.server.pace_wait());
        let bus = EventBus::new(
            hub.clone(),
            store.clone(),
            broker,
            Pacing {
                step: pacing.step,
                max_wait: pacing.max_wait,
            },
        );
        let audit = AuditLog::start(store.clone());
        let approvals = Approvals::new(store.clone(), audit.clone(), config.approvals.timeout());
        let runs = RunManager::new(store.clone(), bus.clone(), approvals.clone(), &config);
        AppState {
            approvals,
            hub,
            bus,
            handlers,
            runs,
            audit,
            config: Arc::new(config),
            store,
            verifier,
            connections: ConnectionRegistry::default(),
            failed_auth,
            started: Instant::now(),
            node_id,
            draining: Arc::default(),
        }
    }

    /// Whether a graceful shutdown is under way.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The role of a caller without a token, when anonymous callers are allowed.
    pub fn anonymous_role(&self) -> Option<switchboard_api::Role> {
        self.config
            .allow_anonymous()
            .then(|| self.config.anonymous_role())
    }
}

/// A node id for a process that has none configured: `node-` and 8 random hex digits.
pub(crate) fn generated_node_id() -> String {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    format!(
        "node-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}
