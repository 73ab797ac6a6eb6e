//! One connection's state, shared between its transport task, the gate and the handlers (it
//! rides in every call's `Extensions`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_api::Role;
use switchboard_auth::Principal;
use switchboard_storage::now_ms;
use tokio::sync::{Semaphore, oneshot};

use crate::hub::{EventSink, Recipient};

/// The longest single sleep of an expiry watch: a far expiry is approached in steps (the
/// wall clock may also move meanwhile).
const EXPIRY_STEP: Duration = Duration::from_secs(3600);

/// Which wire protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `/ws`: the frame protocol.
    Frames,
    /// `/rpc` over WebSocket.
    JsonRpcWs,
    /// `/rpc` over HTTP POST (one request is one "connection").
    JsonRpcHttp,
}

impl Protocol {
    /// `frames`, `jsonrpc-ws` or `jsonrpc-http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Frames => "frames",
            Protocol::JsonRpcWs => "jsonrpc-ws",
            Protocol::JsonRpcHttp => "jsonrpc-http",
        }
    }
}

/// The function behind a [`Closer`]: `(close code, reason)`.
type CloseFn = dyn Fn(u16, &str) + Send + Sync;

/// Closes a connection from outside with a WebSocket close code and reason.
#[derive(Clone)]
pub struct Closer(Arc<CloseFn>);

impl Closer {
    /// A closer calling `f(code, reason)`.
    pub fn new(f: impl Fn(u16, &str) + Send + Sync + 'static) -> Closer {
        Closer(Arc::new(f))
    }

    /// A closer that does nothing (HTTP requests end by themselves).
    pub fn none() -> Closer {
        Closer::new(|_, _| {})
    }
}

impl std::fmt::Debug for Closer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Closer")
    }
}

/// The token behind a connection's role has expired: its access has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenExpired;

/// Who a connection is, once `connect` has answered.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The verified principal (or anonymous).
    pub principal: Principal,
    /// The user it acts for.
    pub user_id: String,
}

/// One connection.
#[derive(Debug)]
pub struct ConnectionState {
    /// Connection id (decimal of jsonrpsee's `ConnectionId`).
    pub id: String,
    /// Its protocol.
    pub protocol: Protocol,
    /// The peer.
    pub remote_addr: SocketAddr,
    /// When it opened, unix ms.
    pub connected_at: i64,
    /// The identity a valid `Authorization: Bearer` header proved at the upgrade or request.
    pub bearer: Option<Principal>,
    /// Calls in progress at once, at most (enforced by the gate on `/rpc`, by the reader on `/ws`).
    pub inflight: Arc<Semaphore>,
    /// Live subscriptions.
    pub subscriptions: AtomicU64,
    /// The connection's tracing span (`connection_id`, `remote`, `protocol`; `user_id` and
    /// `role` once `connect` answered); every call's span is its child.
    pub span: tracing::Span,
    /// The connection's own event path (frames only): every event for it goes there, in order
    /// with its responses.
    pub direct: Option<Arc<dyn EventSink>>,
    /// The order of this connection's `chat.send` calls: each holds it from its first poll
    /// until its run is queued. tokio's mutex is FIFO, and `/ws` polls each call once as it
    /// reads its frame, so runs queue in the order their frames arrived, pipelined or not.
    pub send_order: tokio::sync::Mutex<()>,
    /// Frames only: subscription id (as JSON) → the `subscribe` reply the frame writer sends in
    /// place of jsonrpsee's bare id.
    subscribe_replies: Mutex<std::collections::HashMap<String, String>>,
    /// Set by `connect`; a std mutex held only to read or replace it.
    identity: Mutex<Option<Identity>>,
    /// Set when kicked or its token revoked: the gate refuses every later call.
    closed: AtomicBool,
    /// Set by a failed `connect`, cleared by a successful one: until then the connection gets
    /// `UNAUTHORIZED`, never the anonymous role.
    auth_failed: AtomicBool,
    closer: Closer,
    /// Stops the running expiry watch (see [`ConnectionState::watch_expiry`]) when replaced or
    /// dropped, so that a watch never outlives its connection or its identity.
    expiry_watch: Mutex<Option<oneshot::Sender<()>>>,
}

impl ConnectionState {
    /// A new connection.
    pub fn new(
        id: String,
        protocol: Protocol,
        remote_addr: SocketAddr,
        bearer: Option<Principal>,
        max_inflight: usize,
        closer: Closer,
        direct: Option<Arc<dyn EventSink>>,
    ) -> ConnectionState {
        let span = tracing::info_span!(
            "connection",
            connection_id = %id,
            remote = %remote_addr,
            protocol = protocol.as_str(),
            user_id = tracing::field::Empty,
            role = tracing::field::Empty,
        );
        ConnectionState {
            span,
            id,
            protocol,
            remote_addr,
            connected_at: switchboard_storage::now_ms(),
            bearer,
            inflight: Arc::new(Semaphore::new(max_inflight)),
            subscriptions: AtomicU64::new(0),
            direct,
            send_order: tokio::sync::Mutex::new(()),
            subscribe_replies: Mutex::default(),
            identity: Mutex::new(None),
            closed: AtomicBool::new(false),
            auth_failed: AtomicBool::new(false),
            closer,
            expiry_watch: Mutex::new(None),
        }
    }

    /// The identity `connect` established.
    pub fn identity(&self) -> Option<Identity> {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the identity `connect` established.
    pub fn set_identity(&self, identity: Identity) {
        self.span.record("user_id", identity.user_id.as_str());
        self.span.record("role", identity.principal.role.as_str());
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = Some(identity);
        self.auth_failed.store(false, Ordering::Release);
    }

    /// Records a failed `connect`: the connection's earlier identity is dropped and it may not
    /// fall back to the anonymous role.
    pub fn set_auth_failed(&self) {
        *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.auth_failed.store(true, Ordering::Release);
        self.expiry_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Whether the last `connect` failed.
    pub fn auth_failed(&self) -> bool {
        self.auth_failed.load(Ordering::Acquire)
    }

    /// The role in force: `connect`'s, else (on `/rpc`) the bearer's.
    pub fn role(&self) -> Option<Role> {
        // Read under the lock, without a copy of the identity.
        let identity = self.identity.lock().unwrap_or_else(|p| p.into_inner());
        self.in_force(identity.as_ref()).map(|p| p.role)
    }

    /// The role in force, as [`ConnectionState::role`], unless the token behind it has expired:
    /// the gate asks this on every call (one lock; the clock is read only for a token with an
    /// expiry).
    pub fn live_role(&self) -> Result<Option<Role>, TokenExpired> {
        let identity = self.identity.lock().unwrap_or_else(|p| p.into_inner());
        match self.in_force(identity.as_ref()) {
            Some(p) if p.expires_at.is_some_and(|at| at <= now_ms()) => Err(TokenExpired),
            Some(p) => Ok(Some(p.role)),
            None => Ok(None),
        }
    }

    /// The scope of the principal in force (SPEC §18); `None`: everywhere.
    pub fn scope(&self) -> Option<switchboard_api::Scope> {
        let identity = self.identity.lock().unwrap_or_else(|p| p.into_inner());
        self.in_force(identity.as_ref())
            .and_then(|p| p.scope.clone())
    }

    /// The principal whose role is in force: `connect`'s, else (on `/rpc`) the bearer's.
    fn in_force<'a>(&'a self, identity: Option<&'a Identity>) -> Option<&'a Principal> {
        identity.map(|i| &i.principal).or_else(|| {
            (self.protocol != Protocol::Frames)
                .then_some(self.bearer.as_ref())
                .flatten()
        })
    }

    /// Ends the connection (1008 `token expired`) when the token behind its role (`connect`'s
    /// identity, else the `/rpc` bearer's) expires: one sleeping task for a connection whose
    /// token has an expiry. `connect` calls it; a transport may call it once the state exists,
    /// for a bearer. A later call or a failed `connect` replaces the watch, and the watch ends
    /// with the connection, so at most one exists per live connection.
    pub fn watch_expiry(self: &Arc<Self>) {
        let expires_at = {
            let identity = self.identity.lock().unwrap_or_else(|p| p.into_inner());
            self.in_force(identity.as_ref()).and_then(|p| p.expires_at)
        };
        let mut watch = self.expiry_watch.lock().unwrap_or_else(|p| p.into_inner());
        // Dropping the previous sender ends the previous watch.
        *watch = None;
        let (Some(at), Ok(runtime)) = (expires_at, tokio::runtime::Handle::try_current()) else {
            return;
        };
        let (stop, stopped) = oneshot::channel::<()>();
        *watch = Some(stop);
        drop(watch);
        let conn = Arc::downgrade(self);
        runtime.spawn(async move {
            let expiry = async {
                loop {
                    let left = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
                    if left == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(left).min(EXPIRY_STEP)).await;
                }
            };
            tokio::select! {
                _ = stopped => {}
                () = expiry => {
                    if let Some(conn) = conn.upgrade()
                        && conn.live_role() == Err(TokenExpired)
                    {
                        tracing::info!(parent: &conn.span, "token expired; closing the connection");
                        conn.close(1008, "token expired");
                    }
                }
            }
        });
    }

    /// Whether this connection authenticated with stored token `token_id`.
    pub fn uses_token(&self, token_id: &str) -> bool {
        let by_connect = self
            .identity()
            .is_some_and(|i| i.principal.token_id.as_deref() == Some(token_id));
        by_connect
            || self
                .bearer
                .as_ref()
                .is_some_and(|p| p.token_id.as_deref() == Some(token_id))
    }

    /// Records what a `subscribe` reply should say on `/ws` (`{subscriptionId, topic,
    /// replayed}`); `/rpc` keeps jsonrpsee's bare subscription id.
    pub fn note_subscription(
        &self,
        id: &jsonrpsee::types::SubscriptionId<'_>,
        topic: &impl std::fmt::Display,
        replayed: u64,
    ) {
        if self.protocol != Protocol::Frames {
            return;
        }
        let Ok(key) = serde_json::to_string(id) else {
            return;
        };
        let reply = serde_json::json!({ "subscriptionId": id, "topic": topic.to_string(), "replayed": replayed });
        self.subscribe_replies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, reply.to_string());
    }

    /// The `subscribe` reply noted for a result, if this result is a subscription id.
    pub fn take_subscribe_reply(&self, result: &str) -> Option<String> {
        let mut replies = self
            .subscribe_replies
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if replies.is_empty() {
            return None;
        }
        replies.remove(result)
    }

    /// Whether it was kicked or its token revoked.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Refuses every later call and closes the socket with `code` and `reason`.
    pub fn close(&self, code: u16, reason: &str) {
        self.closed.store(true, Ordering::Release);
        (self.closer.0)(code, reason);
    }
}

/// The connection as the event hub sees it.
impl Recipient for ConnectionState {
    fn id(&self) -> &str {
        &self.id
    }

    fn events(&self) -> Option<&Arc<dyn EventSink>> {
        self.direct.as_ref()
    }

    fn subscriptions(&self) -> &AtomicU64 {
        &self.subscriptions
    }

    fn close(&self, code: u16, reason: &str) {
        ConnectionState::close(self, code, reason);
    }

    fn scope(&self) -> Option<switchboard_api::Scope> {
        ConnectionState::scope(self)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use switchboard_auth::PrincipalKind;

    use super::*;

    fn principal(expires_at: Option<i64>) -> Principal {
        Principal {
            kind: PrincipalKind::Token,
            token_id: Some("t".to_owned()),
            name: "t".to_owned(),
            role: Role::Operator,
            expires_at,
            scope: None,
        }
    }

    /// Close codes and reasons a connection was closed with.
    type Closes = Arc<StdMutex<Vec<(u16, String)>>>;

    /// A connection whose closes are recorded.
    fn connection(protocol: Protocol, bearer: Option<Principal>) -> (Arc<ConnectionState>, Closes) {
        let closes = Arc::new(StdMutex::new(Vec::new()));
        let record = closes.clone();
        let closer = Closer::new(move |code, reason| {
            record.lock().unwrap().push((code, reason.to_owned()));
        });
        let addr = "127.0.0.1:1".parse().unwrap();
        let conn = ConnectionState::new("1".to_owned(), protocol, addr, bearer, 8, closer, None);
        (Arc::new(conn), closes)
    }

    #[test]
    fn an_expired_identity_or_rpc_bearer_has_no_live_role() {
        let past = Some(now_ms() - 1);
        let future = Some(now_ms() + 60_000);
        let (conn, _) = connection(Protocol::Frames, None);
        assert_eq!(conn.live_role(), Ok(None));
        conn.set_identity(Identity {
            principal: principal(future),
            user_id: "u".to_owned(),
        });
        assert_eq!(conn.live_role(), Ok(Some(Role::Operator)));
        conn.set_identity(Identity {
            principal: principal(past),
            user_id: "u".to_owned(),
        });
        assert_eq!(conn.live_role(), Err(TokenExpired));

        let (rpc, _) = connection(Protocol::JsonRpcWs, Some(principal(past)));
        assert_eq!(rpc.live_role(), Err(TokenExpired));
        // On /ws a bearer only serves `connect`; it grants nothing by itself.
        let (frames, _) = connection(Protocol::Frames, Some(principal(past)));
        assert_eq!(frames.live_role(), Ok(None));
    }

    #[tokio::test]
    async fn the_expiry_watch_closes_at_the_expiry_unless_the_identity_changed() {
        let (conn, closes) = connection(Protocol::Frames, None);
        conn.set_identity(Identity {
            principal: principal(Some(now_ms() + 50)),
            user_id: "u".to_owned(),
        });
        conn.watch_expiry();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            *closes.lock().unwrap(),
            [(1008, "token expired".to_owned())]
        );

        let (conn, closes) = connection(Protocol::Frames, None);
        conn.set_identity(Identity {
            principal: principal(Some(now_ms() + 50)),
            user_id: "u".to_owned(),
        });
        conn.watch_expiry();
        conn.set_identity(Identity {
            principal: principal(None),
            user_id: "u".to_owned(),
        });
        conn.watch_expiry();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(closes.lock().unwrap().is_empty());
    }
}
