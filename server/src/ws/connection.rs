//! One `/ws` connection, served by one task: it reads frames and turns them into gated calls (in
//! order until `connect` has answered, then concurrently up to the in-flight bound), answers
//! the calls that finish at once in place, and writes the connection's bounded outbound queue
//! (events, and answers of calls that ran in their own task) as frames, pings, and at the end
//! a close with a typed reason. No second task, no hand-over per call.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use jsonrpsee::core::middleware::{RpcServiceBuilder, RpcServiceT};
use jsonrpsee::server::{MethodSink, Methods, SendTimeoutError};
use jsonrpsee::types::Request;
use jsonrpsee::{ConnectionId, Extensions, MethodResponse};
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::codec::{parse_request, to_frame_with};
use super::{EventQueue, FrameRpcService};
use crate::connections::{Closer, ConnectionRegistry, ConnectionState, Protocol};
use crate::hub::EventHub;

/// jsonrpsee numbers its connections from 0 in a `u32`; ours start far above, so the two
/// endpoints' subscriptions can never share a connection id.
const FRAME_CONNECTION_ID_BASE: usize = 1 << 48;
static NEXT_FRAME_CONNECTION: AtomicUsize = AtomicUsize::new(0);

/// Queued messages written with one flush, at most.
const WRITE_BATCH: usize = 16;

/// Close codes.
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_POLICY: u16 = 1008;
const CLOSE_TOO_BIG: u16 = 1009;
/// Recorded, never sent: the socket failed, so no close frame can follow.
const CLOSE_ABNORMAL: u16 = 1006;

/// The limits of one `/ws` connection, from configuration.
#[derive(Debug, Clone)]
pub struct FrameLimits {
    /// Outbound messages queued before `slow consumer`.
    pub send_buffer: usize,
    /// Calls running at once; the reader stops reading while all are taken.
    pub max_inflight: usize,
    /// Subscriptions per connection.
    pub max_subscriptions: u32,
    /// A write (or a wait for queue room) longer than this closes as `slow consumer`.
    pub write_timeout: Duration,
    /// How often the writer pings.
    pub ping_interval: Duration,
    /// No frame and no pong for this long closes the connection.
    pub read_timeout: Duration,
    /// Largest response, bytes.
    pub max_response_bytes: usize,
}

/// The connection's close signal: the first reason wins; every task watches the token.
#[derive(Clone, Default)]
struct CloseSignal {
    token: CancellationToken,
    reason: Arc<OnceLock<(u16, String)>>,
}

impl CloseSignal {
    fn close(&self, code: u16, reason: &str) {
        let _ = self.reason.set((code, reason.to_owned()));
        self.token.cancel();
    }
}

/// A fresh connection id for a `/ws` connection.
pub fn next_connection_id() -> ConnectionId {
    ConnectionId(FRAME_CONNECTION_ID_BASE + NEXT_FRAME_CONNECTION.fetch_add(1, Ordering::Relaxed))
}

/// Serves one upgraded `/ws` socket until it closes. `rpc_middleware` is the very builder
/// jsonrpsee uses for `/rpc`, so both endpoints pass the same gate.
#[allow(clippy::too_many_arguments)]
pub async fn serve_connection<L>(
    mut socket: WebSocket,
    conn_id: ConnectionId,
    remote_addr: std::net::SocketAddr,
    bearer: Option<switchboard_auth::Principal>,
    methods: Methods,
    rpc_middleware: RpcServiceBuilder<L>,
    registry: ConnectionRegistry,
    hub: EventHub,
    limits: FrameLimits,
) where
    L: tower::Layer<FrameRpcService>,
    L::Service: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + 'static,
{
    let (tx, rx) = mpsc::channel::<Box<RawValue>>(limits.send_buffer);
    let max_response = u32::try_from(limits.max_response_bytes).unwrap_or(u32::MAX);
    let sink = MethodSink::new_with_limit(tx, max_response);
    let events = Arc::new(EventQueue::new(sink.clone()));
    let close = CloseSignal::default();
    let closer = {
        let close = close.clone();
        Closer::new(move |code, reason| close.close(code, reason))
    };
    let state = Arc::new(ConnectionState::new(
        conn_id.0.to_string(),
        Protocol::Frames,
        remote_addr,
        bearer,
        limits.max_inflight,
        closer,
        Some(events.clone()),
    ));
    let _registration = registry.register(state.clone());
    tracing::info!(parent: &state.span, "connection opened");
    let _listening = ListenerGuard {
        hub: hub.clone(),
        conn_id: state.id.clone(),
    };
    let service = Arc::new(rpc_middleware.service(FrameRpcService::new(
        methods,
        conn_id,
        sink.clone(),
        limits.max_subscriptions,
        limits.max_response_bytes,
    )));

    let mut out = Outbound {
        rx,
        events,
        state: state.clone(),
        seq: 0,
        batch: Vec::new(),
    };
    // Only the text is kept: a JSON value held for the connection's life would cost every idle
    // connection its map nodes.
    let challenge = serde_json::json!({
        "type": "event",
        "event": "connect.challenge",
        "payload": { "nonce": nonce(), "ts": switchboard_storage::now_ms() },
    })
    .to_string();
    out.batch.push(Message::Text(challenge.into()));

    let mut extensions = Extensions::new();
    extensions.insert(state.clone());

    let mut connected = false;
    // Whether the peer ended the connection (then there is no close handshake to wait for).
    let mut peer_ended = false;
    // A call slot taken before the next frame is read (after `connect`).
    let mut slot: Option<OwnedSemaphorePermit> = None;
    let mut ping =
        tokio::time::interval_at(Instant::now() + limits.ping_interval, limits.ping_interval);
    // One timer for the read deadline, moved only when it fires (not re-armed per frame).
    let mut last_read = Instant::now();
    let read_deadline = tokio::time::sleep(limits.read_timeout);
    tokio::pin!(read_deadline);
    // Registered once with the token, not once per frame.
    let cancelled = close.token.cancelled();
    tokio::pin!(cancelled);
    loop {
        // What was gathered goes out with one flush: the challenge first, then each response
        // behind whatever was queued before it.
        if !out.batch.is_empty() {
            let write = write_batch(&mut socket, &mut out.batch, limits.write_timeout);
            let written = tokio::select! {
                () = &mut cancelled => break,
                written = write => written,
            };
            if let Err(failure) = written {
                match failure {
                    WriteFailure::Io => close.close(CLOSE_ABNORMAL, ""),
                    WriteFailure::Timeout => close.close(CLOSE_POLICY, "slow consumer"),
                }
                break;
            }
        }
        // Reading comes first: every answer also drains the queue, and a client that sends
        // faster than its calls finish is stopped by the call slots, not by the queue.
        let step = tokio::select! {
            biased;
            () = &mut cancelled => break,
            next = socket.next(), if !connected || slot.is_some() => Step::Read(next),
            queued = out.rx.recv() => Step::Queued(queued),
            permit = state.inflight.clone().acquire_owned(), if connected && slot.is_none() => {
                Step::Slot(permit.ok())
            }
            _ = ping.tick() => Step::Ping,
            () = &mut read_deadline => Step::ReadDeadline,
        };
        let message = match step {
            Step::Queued(Some(json)) => {
                out.push(json);
                out.gather(WRITE_BATCH);
                continue;
            }
            // Unreachable while `sink` is held here; ends the connection if it were not.
            Step::Queued(None) | Step::Slot(None) => break,
            Step::Slot(Some(permit)) => {
                slot = Some(permit);
                continue;
            }
            Step::Ping => {
                out.batch.push(Message::Ping(Default::default()));
                continue;
            }
            Step::ReadDeadline => {
                let due = last_read + limits.read_timeout;
                if due <= Instant::now() {
                    close.close(CLOSE_GOING_AWAY, "read timeout");
                    break;
                }
                read_deadline.as_mut().reset(due);
                continue;
            }
            Step::Read(None | Some(Ok(Message::Close(_)))) => {
                peer_ended = true;
                break;
            }
            Step::Read(Some(Err(e))) => {
                if is_too_big(&e) {
                    close.close(CLOSE_TOO_BIG, "frame too large");
                } else {
                    peer_ended = true;
                    close.close(CLOSE_GOING_AWAY, "read error");
                }
                break;
            }
            Step::Read(Some(Ok(message))) => message,
        };
        last_read = Instant::now();
        let text = match &message {
            Message::Text(text) => Cow::Borrowed(text.as_str()),
            Message::Binary(bytes) => String::from_utf8_lossy(bytes),
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
        };
        let (id, method, params) = match parse_request(&text) {
            Ok(parts) => parts,
            Err(reply) => {
                out.answer(reply);
                continue;
            }
        };
        let mut request = Request::owned(method, params, id);
        *request.extensions_mut() = extensions.clone();

        // Frames are handled in order until `connect` has answered, so a client that pipelines
        // `connect` and a call is not refused.
        if !connected {
            let is_connect = request.method_name() == "connect";
            // Boxed: kept inline, this call's future would size every idle connection's task.
            let call = Box::pin(service.call(request));
            let response = tokio::select! {
                () = &mut cancelled => break,
                response = call => response,
            };
            connected = is_connect && response.is_success();
            out.deliver(response);
            continue;
        }
        // Then concurrently, bounded by the call slots: while every slot is taken no frame is
        // read, so a client that writes without reading cannot grow the server's memory.
        let Some(permit) = slot.take() else { continue };
        // Most calls finish without waiting (`health`, reads served from memory): those are
        // answered here, without a task of their own; the rest go on in one.
        let mut call = {
            let service = service.clone();
            Box::pin(async move { service.call(request).await })
        };
        if let Poll::Ready(response) = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await {
            drop(permit);
            out.deliver(response);
            continue;
        }
        let sink = sink.clone();
        let close = close.clone();
        let write_timeout = limits.write_timeout;
        tokio::spawn(async move {
            let response = tokio::select! {
                () = close.token.cancelled() => return,
                response = call => response,
            };
            deliver_queued(&sink, response, &close, write_timeout).await;
            drop(permit);
        });
    }
    close.close(CLOSE_NORMAL, "");
    out.rx.close();
    let (code, reason) = close
        .reason
        .get()
        .cloned()
        .unwrap_or((CLOSE_NORMAL, String::new()));
    tracing::info!(parent: &state.span, code, reason = %reason, "connection closed");
    if code != CLOSE_ABNORMAL {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            limits.write_timeout,
            socket.send(Message::Close(Some(frame))),
        )
        .await;
    }
    drop(service);
    drop(sink);
    if !peer_ended && code != CLOSE_ABNORMAL {
        // The close handshake: keep the socket until the peer answers our Close (it may first
        // read what was written), at most one write deadline.
        let _ = tokio::time::timeout(limits.write_timeout, async {
            while let Some(Ok(message)) = socket.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// What one turn of the connection loop woke up for.
enum Step {
    Read(Option<Result<Message, axum::Error>>),
    Queued(Option<Box<RawValue>>),
    Slot(Option<OwnedSemaphorePermit>),
    Ping,
    ReadDeadline,
}

/// The outbound side: the bounded queue (responses of calls that ran in their own task, and
/// event markers) and the frames gathered for the next write.
struct Outbound {
    rx: mpsc::Receiver<Box<RawValue>>,
    events: Arc<EventQueue>,
    state: Arc<ConnectionState>,
    /// Events written on this connection (the frames' `seq`).
    seq: u64,
    batch: Vec<Message>,
}

impl Outbound {
    /// A queued message (or the event body a marker stands for) as a frame, into the batch.
    fn push(&mut self, json: Box<RawValue>) {
        let replace = |result: &str| self.state.take_subscribe_reply(result);
        let text = match self.events.body_for(&json) {
            Some(body) => to_frame_with(&body, &mut self.seq, &replace),
            None => to_frame_with(&json, &mut self.seq, &replace),
        };
        if let Some(text) = text {
            self.batch.push(Message::Text(text.into()));
        }
    }

    /// Moves what is queued into the batch, up to `limit` frames in all.
    fn gather(&mut self, limit: usize) {
        while self.batch.len() < limit {
            let Ok(json) = self.rx.try_recv() else { break };
            self.push(json);
        }
    }

    /// A reply produced here: behind everything queued before it (the queue holds at most
    /// `send_buffer` messages), so the client sees the connection's messages in order.
    fn answer(&mut self, reply: Box<RawValue>) {
        self.gather(usize::MAX);
        self.push(reply);
    }

    /// A call's response, answered here.
    fn deliver(&mut self, response: MethodResponse) {
        match answer_of(response) {
            Some((json, sent)) => {
                self.answer(json);
                sent();
            }
            // A subscription's reply is in the queue: it goes out with the next write.
            None => self.gather(usize::MAX),
        }
    }
}

/// Why a write failed.
enum WriteFailure {
    /// The socket failed (the peer is gone): no close frame can follow.
    Io,
    /// The write took longer than the write deadline: a slow consumer.
    Timeout,
}

/// Writes the batch with one flush, within the write deadline.
async fn write_batch(
    socket: &mut WebSocket,
    batch: &mut Vec<Message>,
    write_timeout: Duration,
) -> Result<(), WriteFailure> {
    let write = async {
        for message in batch.drain(..) {
            socket.feed(message).await?;
        }
        socket.flush().await
    };
    match tokio::time::timeout(write_timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(WriteFailure::Io),
        Err(_elapsed) => Err(WriteFailure::Timeout),
    }
}

/// Forgets the connection's subscriptions in the hub when the connection ends.
struct ListenerGuard {
    hub: EventHub,
    conn_id: String,
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        self.hub.remove_connection(&self.conn_id);
    }
}

/// Whether a read error is a frame over `max_frame_bytes`.
fn is_too_big(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tungstenite) = err.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            return matches!(
                tungstenite,
                tokio_tungstenite::tungstenite::Error::Capacity(_)
            );
        }
        source = err.source();
    }
    false
}

/// The answer a call's response sends, if any, and what to do once it is on its way.
/// Subscription responses were already queued by `accept()` / `reject()`, so only method-call
/// responses are sent (jsonrpsee's own rule).
fn answer_of(response: MethodResponse) -> Option<(Box<RawValue>, impl FnOnce())> {
    if !(response.is_method_call() || response.is_batch()) {
        return None;
    }
    let success = response.is_success();
    let (json, on_sent, _) = response.into_parts();
    Some((json, move || {
        if let Some(on_sent) = on_sent {
            on_sent.notify(success);
        }
    }))
}

/// A call that ran in its own task answers through the queue, waiting at most the write
/// deadline for room; past it the connection is closed as a slow consumer (a response is never
/// dropped silently).
async fn deliver_queued(
    sink: &MethodSink,
    response: MethodResponse,
    close: &CloseSignal,
    write_timeout: Duration,
) {
    let Some((json, sent)) = answer_of(response) else {
        return;
    };
    match sink.send_timeout(json, write_timeout).await {
        Ok(()) => sent(),
        Err(SendTimeoutError::Timeout(_)) => close.close(CLOSE_POLICY, "slow consumer"),
        Err(SendTimeoutError::Closed(_)) => {}
    }
}

/// The challenge nonce: 16 random bytes, hex.
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
