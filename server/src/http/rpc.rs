//! `/rpc`: JSON-RPC 2.0. An upgrade becomes a WebSocket served by our own transport (`ws`,
//! the same task-per-connection loop as `/ws`, with its bounds); HTTP POST is served by
//! jsonrpsee as a tower service built per request, behind the role gate.

use std::future::Future;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jsonrpsee::core::middleware::{
    Batch, BatchEntry, BatchEntryErr, Notification, ResponseFuture, RpcServiceT,
};
use jsonrpsee::server::{MethodCallback, stop_channel};
use jsonrpsee::types::{ErrorObjectOwned, Request as RpcRequest};
use jsonrpsee::{MethodResponse, Methods};
use tower::Service;

use super::bearer::{refuse, resolve};
use super::shape::{BodyShape, classify};
use super::{Endpoints, Peer};
use crate::connections::{Closer, ConnectionState, Protocol};
use crate::rpc::ApiError;
use crate::ws::Dialect;

pub(super) async fn rpc(
    State(endpoints): State<Arc<Endpoints>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    req: Request,
) -> Response {
    let remote = peer.addr;
    if jsonrpsee::server::ws::is_upgrade_request(&req) {
        let (mut parts, _body) = req.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => {
                super::ws::accept(
                    &endpoints,
                    remote,
                    &parts.headers,
                    upgrade,
                    Dialect::JsonRpc,
                )
                .await
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let state = &endpoints.state;
    let bearer = match resolve(state, req.headers(), remote).await {
        Ok(bearer) => bearer,
        Err(refusal) => return refusal,
    };
    let mut req = match screen_body(req, state.config.server.max_frame_bytes).await {
        Ok(req) => req,
        Err(answer) => return answer,
    };
    let id = endpoints.next_rpc_connection();
    let conn = Arc::new(ConnectionState::new(
        id.to_string(),
        Protocol::JsonRpcHttp,
        remote,
        bearer,
        state.config.server.max_inflight_calls,
        Closer::none(),
        None,
    ));
    req.extensions_mut().insert(conn);
    let (stop_handle, server_handle) = stop_channel();
    let mut service = endpoints
        .rpc_service
        .clone()
        .connection_id(id)
        .build(endpoints.methods.clone(), stop_handle);
    // A request that was read is processed: the call runs in a task of its own, so a client
    // that hangs up before the answer (hyper then drops this handler) does not cancel it
    // mid-way; only the answer is lost. Each call ends by its method's own bounds.
    let call = tokio::spawn(async move {
        let answer = service.call(req).await;
        drop(server_handle);
        answer
    });
    match call.await {
        Ok(Ok(response)) => response.map(axum::body::Body::new),
        Ok(Err(e)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(e)),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, ApiError::internal(e)),
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

/// The refusal of a subscription method over HTTP POST: the request cannot be served on this
/// transport, so −32600 (not −32602, which `INVALID_REQUEST` means for bad params), with the
/// usual `error.data`.
fn needs_websocket() -> ErrorObjectOwned {
    let data = serde_json::json!({ "code": "INVALID_REQUEST", "retryable": false });
    ErrorObjectOwned::owned(
        jsonrpsee::types::error::INVALID_REQUEST_CODE,
        "subscriptions need a WebSocket",
        Some(data),
    )
}

/// `POST /rpc` has no connection to stream notifications on, so a subscription method there
/// (`subscribe`, `unsubscribe`) is refused as an invalid request — alone or as a batch entry —
/// instead of reaching jsonrpsee, which would answer an internal error.
#[derive(Debug, Clone)]
pub struct CallsOnly {
    methods: Methods,
}

impl CallsOnly {
    /// The layer for `methods`.
    pub fn new(methods: Methods) -> CallsOnly {
        CallsOnly { methods }
    }
}

impl<S> tower::Layer<S> for CallsOnly {
    type Service = CallsOnlyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallsOnlyService {
            inner,
            methods: self.methods.clone(),
        }
    }
}

/// [`CallsOnly`] around one request's service.
#[derive(Debug, Clone)]
pub struct CallsOnlyService<S> {
    inner: S,
    methods: Methods,
}

impl<S> CallsOnlyService<S> {
    fn is_subscription(&self, method: &str) -> bool {
        matches!(
            self.methods.method_with_name(method),
            Some((
                _,
                MethodCallback::Subscription(_) | MethodCallback::Unsubscription(_)
            ))
        )
    }
}

impl<S> RpcServiceT for CallsOnlyService<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type BatchResponse = MethodResponse;
    type NotificationResponse = MethodResponse;

    fn call<'a>(
        &self,
        req: RpcRequest<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        if self.is_subscription(req.method_name()) {
            let response = MethodResponse::error(req.id.clone(), needs_websocket())
                .with_extensions(req.extensions);
            return ResponseFuture::ready(response);
        }
        ResponseFuture::future(self.inner.call(req))
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            let refused = match entry {
                Ok(BatchEntry::Call(req)) if self.is_subscription(req.method_name()) => {
                    Some(req.id.clone())
                }
                _ => None,
            };
            if let Some(id) = refused {
                *entry = Err(BatchEntryErr::new(id, needs_websocket()));
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}
