//! `/rpc`: JSON-RPC 2.0 over HTTP POST and WebSocket, served by jsonrpsee as a tower service
//! built per request (so each WebSocket gets its own `ConnectionId`) behind the role gate.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jsonrpsee::server::stop_channel;
use tower::Service;

use super::bearer::{refuse, resolve};
use super::shape::{BodyShape, classify};
use super::{Endpoints, Peer};
use crate::connections::{Closer, ConnectionState, Protocol};
use crate::rpc::ApiError;

pub(super) async fn rpc(
    State(endpoints): State<Arc<Endpoints>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut req: Request,
) -> Response {
    let state = &endpoints.state;
    let remote = peer.addr;
    let bearer = match resolve(state, req.headers(), remote).await {
        Ok(bearer) => bearer,
        Err(refusal) => return refusal,
    };
    let is_websocket = jsonrpsee::server::ws::is_upgrade_request(&req);
    if !is_websocket {
        req = match screen_body(req, state.config.server.max_frame_bytes).await {
            Ok(req) => req,
            Err(answer) => return answer,
        };
    }
    let permit = if is_websocket {
        match endpoints.connection_permits.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let e = ApiError::Unavailable("too many connections".to_owned());
                return refuse(StatusCode::SERVICE_UNAVAILABLE, e);
            }
        }
    } else {
        None
    };
    let id = endpoints.next_rpc_connection();
    let (stop_handle, server_handle) = stop_channel();
    let (protocol, closer) = if is_websocket {
        // jsonrpsee closes its own sockets: the stop ends this connection (after calls in
        // flight), and the gate refuses everything from the moment of the close.
        let handle = server_handle.clone();
        (
            Protocol::JsonRpcWs,
            Closer::new(move |_code, _reason| {
                let _ = handle.stop();
            }),
        )
    } else {
        (Protocol::JsonRpcHttp, Closer::none())
    };
    let conn = Arc::new(ConnectionState::new(
        id.to_string(),
        protocol,
        remote,
        bearer,
        state.config.server.max_inflight_calls,
        closer,
        None,
    ));
    req.extensions_mut().insert(conn.clone());
    let mut service = endpoints
        .rpc_service
        .clone()
        .connection_id(id)
        .build(endpoints.methods.clone(), stop_handle);
    if is_websocket {
        let registration = state.connections.register(conn.clone());
        tracing::info!(parent: &conn.span, "connection opened");
        let closed = service.on_session_closed();
        let hub = state.hub.clone();
        tokio::spawn(async move {
            closed.await;
            tracing::info!(parent: &conn.span, "connection closed");
            hub.remove_connection(&conn.id);
            drop(registration);
            drop(permit);
            // Dropping the handle would also stop the connection: keep it until the end.
            drop(server_handle);
        });
    }
    match service.call(req).await {
        Ok(response) => {
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                // Pings and the read deadline, kept by the socket itself (see `socket`).
                let server = &state.config.server;
                peer.keepalive
                    .arm(server.ping_interval(), server.read_timeout());
            }
            response.map(axum::body::Body::new)
        }
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(e)).into_response(),
    }
}

/// Reads a POST body (at most `max` bytes) and answers the cases jsonrpsee gets wrong itself;
/// otherwise hands the request back with its body restored.
async fn screen_body(req: Request, max: usize) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max).await else {
        let e = ApiError::PayloadTooLarge(format!("request body over {max} bytes"));
        return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, e));
    };
    match classify(&bytes) {
        BodyShape::Regular => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
        BodyShape::OnlyNotifications => Err(StatusCode::NO_CONTENT.into_response()),
        BodyShape::InvalidRequest(id) => {
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": { "code": -32600, "message": "Invalid request" },
            });
            Err((
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response())
        }
    }
}
