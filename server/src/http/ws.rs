//! WebSocket upgrades: `GET /ws` (the frame protocol) and `GET /rpc` (JSON-RPC), both served
//! by the transport in `ws`. A bearer token on the upgrade is checked here; on `/ws` it is used
//! only by `connect` (the frame protocol requires `connect` first), on `/rpc` from the start.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use jsonrpsee::ConnectionId;

use super::bearer::{refuse, resolve};
use super::{Endpoints, Peer};
use crate::rpc::ApiError;
use crate::ws::{Dialect, serve_connection};

/// Bytes tungstenite reads from the socket at a time (its default is 128 KiB per connection,
/// which idle connections would pay for).
const READ_BUFFER_BYTES: usize = 2 * 1024;

/// Bytes of frames tungstenite gathers before writing them to the socket; the writer flushes
/// after each batch of queued frames, so a batch is one `send` (0 would be one per frame).
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

pub(super) async fn ws(
    State(endpoints): State<Arc<Endpoints>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    accept(&endpoints, peer.addr, &headers, upgrade, Dialect::Frames).await
}

/// Checks the bearer token and the connection count, then upgrades to a connection speaking
/// `dialect`; it holds its place among `server.max_connections` until its task ends.
pub(super) async fn accept(
    endpoints: &Arc<Endpoints>,
    remote: SocketAddr,
    headers: &HeaderMap,
    upgrade: WebSocketUpgrade,
    dialect: Dialect,
) -> Response {
    let bearer = match resolve(&endpoints.state, headers, remote).await {
        Ok(bearer) => bearer,
        Err(refusal) => return refusal,
    };
    let Ok(permit) = endpoints.connection_permits.clone().try_acquire_owned() else {
        let e = ApiError::Unavailable("too many connections".to_owned());
        return refuse(StatusCode::SERVICE_UNAVAILABLE, e);
    };
    let conn_id = match dialect {
        Dialect::Frames => crate::ws::next_connection_id(),
        // jsonrpsee's numbering, shared with `POST /rpc` requests.
        Dialect::JsonRpc => ConnectionId(endpoints.next_rpc_connection() as usize),
    };
    let max_frame = endpoints.state.config.server.max_frame_bytes;
    let endpoints = endpoints.clone();
    upgrade
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            serve_connection(
                socket,
                dialect,
                conn_id,
                remote,
                bearer,
                endpoints.methods.clone(),
                endpoints.rpc_middleware.clone(),
                endpoints.state.connections.clone(),
                endpoints.state.hub.clone(),
                endpoints.frame_limits.clone(),
            )
            .await;
            drop(permit);
        })
}
