//! What the protocol endpoints share: the one method set, the one RPC middleware (the gate),
//! jsonrpsee's service builder with every limit from configuration, and the connection permits.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use jsonrpsee::Methods;
use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, TowerServiceBuilder};
use tokio::sync::Semaphore;
use tower::layer::util::{Identity, Stack};

use super::rpc::CallsOnly;
use crate::AppState;
use crate::gate::{RoleGate, ScopeCheck};
use crate::ws::FrameLimits;

/// Entries of one JSON-RPC batch, at most.
pub const MAX_BATCH_ENTRIES: u32 = 100;
/// Largest response, bytes.
pub const MAX_RESPONSE_BYTES: u32 = 10 * 1024 * 1024;

/// The RPC middleware stack every endpoint shares: the role gate.
pub type RpcMiddleware = Stack<RoleGate, Identity>;

/// `POST /rpc`'s stack: the gate, then the refusal of subscription methods (no connection to
/// stream on).
pub type HttpRpcMiddleware = Stack<CallsOnly, RpcMiddleware>;

/// Shared by the `/rpc` and `/ws` handlers.
#[derive(Debug)]
pub struct Endpoints {
    /// Shared gateway state.
    pub state: AppState,
    /// Every method.
    pub methods: Methods,
    /// The role gate, as the builder the WebSocket endpoints wrap their inner service with.
    pub rpc_middleware: RpcServiceBuilder<RpcMiddleware>,
    /// jsonrpsee's service builder for `POST /rpc` (cloned and built per request).
    pub rpc_service: TowerServiceBuilder<HttpRpcMiddleware, Identity>,
    /// One permit per open WebSocket connection (`server.max_connections`).
    pub connection_permits: Arc<Semaphore>,
    /// The limits of each WebSocket connection (`/ws` and `/rpc`).
    pub frame_limits: FrameLimits,
    next_rpc_connection: AtomicU32,
}

impl Endpoints {
    /// Serves `methods` with every limit from configuration applied, in one place.
    pub fn new(state: AppState, methods: Methods) -> Endpoints {
        let server = &state.config.server;
        let limits = &state.config.limits;
        let rpc_middleware = RpcServiceBuilder::new().layer(RoleGate::new(
            state.anonymous_role(),
            state.audit.clone(),
            ScopeCheck::new(
                state.store.clone(),
                state
                    .config
                    .agents
                    .iter()
                    .map(|(id, _)| id.to_owned())
                    .collect(),
            ),
        ));
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        // jsonrpsee serves HTTP only: `/rpc` WebSockets go to our own transport.
        let config = ServerConfig::builder()
            .http_only()
            .max_request_body_size(clamp(server.max_frame_bytes))
            .max_response_body_size(MAX_RESPONSE_BYTES)
            // Connections are counted by our own permits (jsonrpsee would count HTTP requests).
            .max_connections(u32::MAX)
            .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH_ENTRIES))
            .build();
        let rpc_service = Server::builder()
            .set_config(config)
            .set_rpc_middleware(
                rpc_middleware
                    .clone()
                    .layer(CallsOnly::new(methods.clone())),
            )
            .to_service_builder();
        let frame_limits = FrameLimits {
            send_buffer: server.send_buffer,
            max_inflight: server.max_inflight_calls,
            max_subscriptions: clamp(limits.max_subscriptions),
            write_timeout: server.write_timeout(),
            ping_interval: server.ping_interval(),
            read_timeout: server.read_timeout(),
            max_response_bytes: MAX_RESPONSE_BYTES as usize,
            max_batch_entries: MAX_BATCH_ENTRIES as usize,
            approval_timeout_ms: i64::try_from(state.config.approvals.timeout_s)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            server_started: state.started.into(),
        };
        Endpoints {
            methods,
            connection_permits: Arc::new(Semaphore::new(server.max_connections)),
            rpc_middleware,
            rpc_service,
            frame_limits,
            next_rpc_connection: AtomicU32::new(1),
            state,
        }
    }

    /// A fresh connection id for `/rpc` (jsonrpsee's numbering, from 1).
    pub fn next_rpc_connection(&self) -> u32 {
        self.next_rpc_connection.fetch_add(1, Ordering::Relaxed)
    }
}
