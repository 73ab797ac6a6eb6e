//! The WebSocket endpoints' inner RPC service: what jsonrpsee's crate-private `RpcService`
//! does, built from public jsonrpsee types, so that the same `RpcServiceBuilder` (the role
//! gate) can wrap it. It dispatches into the same `Methods` as `POST /rpc`.

use std::future::Future;
use std::sync::Arc;

use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, ResponseFuture, RpcServiceT};
use jsonrpsee::server::{
    BatchResponseBuilder, BoundedSubscriptions, IdProvider, MethodCallback, MethodSink, Methods,
    RandomIntegerIdProvider, SubscriptionState,
};
use jsonrpsee::types::error::reject_too_many_subscriptions;
use jsonrpsee::types::{ErrorCode, ErrorObject, Params, Request};
use jsonrpsee::{ConnectionId, MethodResponse};

/// Dispatch of one WebSocket connection's calls into `Methods`.
#[derive(Clone)]
pub struct FrameRpcService {
    methods: Methods,
    conn_id: ConnectionId,
    sink: MethodSink,
    subscriptions: BoundedSubscriptions,
    id_provider: Arc<dyn IdProvider>,
    max_response_size: usize,
}

impl std::fmt::Debug for FrameRpcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameRpcService")
            .field("conn_id", &self.conn_id)
            .finish_non_exhaustive()
    }
}

impl FrameRpcService {
    /// A service for connection `conn_id` whose responses and notifications go to `sink`.
    pub fn new(
        methods: Methods,
        conn_id: ConnectionId,
        sink: MethodSink,
        max_subscriptions: u32,
        max_response_size: usize,
    ) -> FrameRpcService {
        FrameRpcService {
            methods,
            conn_id,
            sink,
            subscriptions: BoundedSubscriptions::new(max_subscriptions),
            id_provider: Arc::new(RandomIntegerIdProvider),
            max_response_size,
        }
    }
}

impl RpcServiceT for FrameRpcService {
    type MethodResponse = MethodResponse;
    type BatchResponse = MethodResponse;
    type NotificationResponse = MethodResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let conn_id = self.conn_id;
        let max = self.max_response_size;
        let Request {
            id,
            method,
            params,
            extensions,
            ..
        } = req;
        let params = Params::new(params.as_ref().map(|p| p.get()));
        match self.methods.method_with_name(&method) {
            None => ResponseFuture::ready(
                MethodResponse::error(id, ErrorObject::from(ErrorCode::MethodNotFound))
                    .with_extensions(extensions),
            ),
            Some((_, callback)) => match callback {
                MethodCallback::Sync(cb) => ResponseFuture::ready(cb(id, params, max, extensions)),
                MethodCallback::Async(cb) => ResponseFuture::future(cb(
                    id.into_owned(),
                    params.into_owned(),
                    conn_id,
                    max,
                    extensions,
                )),
                MethodCallback::Subscription(cb) => match self.subscriptions.acquire() {
                    Some(permit) => {
                        let state = SubscriptionState {
                            conn_id,
                            id_provider: &*self.id_provider,
                            subscription_permit: permit,
                        };
                        ResponseFuture::future(cb(id, params, self.sink.clone(), state, extensions))
                    }
                    None => ResponseFuture::ready(
                        MethodResponse::error(
                            id,
                            reject_too_many_subscriptions(self.subscriptions.max()),
                        )
                        .with_extensions(extensions),
                    ),
                },
                MethodCallback::Unsubscription(cb) => {
                    ResponseFuture::ready(cb(id, params, conn_id, max, extensions))
                }
            },
        }
    }

    /// A JSON-RPC batch (`/rpc`; frames carry none), as jsonrpsee's own service runs it: the
    /// entries one after another, no answer for notifications, and none at all for a batch of
    /// notifications only.
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let mut responses = BatchResponseBuilder::new_with_limit(this.max_response_size);
            let mut notified = false;
            for entry in batch {
                let response = match entry {
                    Ok(BatchEntry::Call(req)) => this.call(req).await,
                    Ok(BatchEntry::Notification(_)) => {
                        notified = true;
                        continue;
                    }
                    Err(e) => {
                        let (err, id) = e.into_parts();
                        MethodResponse::error(id, err)
                    }
                };
                if let Err(too_big) = responses.append(response) {
                    return too_big;
                }
            }
            if notified && responses.is_empty() {
                return MethodResponse::notification();
            }
            MethodResponse::from_batch(responses.finish())
        }
    }

    #[allow(clippy::manual_async_fn)] // the trait asks for `impl Future + Send + 'a`
    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        async move { MethodResponse::notification().with_extensions(n.extensions) }
    }
}
