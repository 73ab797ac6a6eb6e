//! One WebSocket connection — `/ws` frames or a `/rpc` JSON-RPC WebSocket — served by one
//! task: it reads messages and turns them into gated calls (on `/ws` in order until `connect`
//! has answered; then concurrently up to the in-flight bound), answers the calls that finish at
//! once in place, and writes the connection's bounded outbound queue (events, and answers of
//! calls that ran in their own task), pings, and at the end a close with a typed code. No
//! second task, no hand-over per call.
//!
//! Bounds: a call slot is taken before a message is read and given back only once the call's
//! answer is in the bounded queue (or written), and the task writes what it gathered before it
//! reads again, so a client that writes without reading stops being read; a write that takes
//! longer than the write deadline closes the connection (1008 `slow consumer`).
//!
//! A message that was read is processed: a call that outlives its connection runs to its end
//! (its slot held until then); only its answer is dropped, as there is nobody to write it to.
//! The connection's task — and its place among `server.max_connections` — lasts until those
//! calls end, which bounds such orphaned calls by `max_connections × max_inflight_calls`.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use jsonrpsee::core::middleware::Batch;
use jsonrpsee::core::middleware::{RpcServiceBuilder, RpcServiceT};
use jsonrpsee::server::{MethodSink, Methods, SendTimeoutError};
use jsonrpsee::types::{ErrorCode, ErrorObject, Id, Request};
use jsonrpsee::{ConnectionId, Extensions, MethodResponse};
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::codec::{parse_request, to_frame_with};
use super::jsonrpc::{Incoming, parse_message};
use super::openclaw::{OpenClaw, Rewritten, asks_for_openclaw};
use super::{EventQueue, FrameRpcService};
use crate::connections::{Closer, ConnectionRegistry, ConnectionState, Protocol};
use crate::hub::{EventHub, EventSink};

/// jsonrpsee numbers its connections from 0 in a `u32`; ours start far above, so the two
/// endpoints' subscriptions can never share a connection id.
const FRAME_CONNECTION_ID_BASE: usize = 1 << 48;
static NEXT_FRAME_CONNECTION: AtomicUsize = AtomicUsize::new(0);

/// Queued messages written with one flush, at most.
const WRITE_BATCH: usize = 16;

/// Close codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
/// `read timeout`.
const CLOSE_GOING_AWAY: u16 = 1001;
/// A frame that breaks the WebSocket protocol (reserved bits, unmasked, bad opcode, …).
const CLOSE_PROTOCOL: u16 = 1002;
/// A text message that is not UTF-8.
const CLOSE_INVALID_DATA: u16 = 1007;
/// `slow consumer` (and, from outside, kicks and revocations).
const CLOSE_POLICY: u16 = 1008;
/// A frame or message over `server.max_frame_bytes`.
const CLOSE_TOO_BIG: u16 = 1009;
/// Recorded, never sent: the socket failed, so no close frame can follow.
const CLOSE_ABNORMAL: u16 = 1006;

/// What a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `/ws`: the frame protocol (challenge first, `connect` before anything but `health`).
    Frames,
    /// `/rpc`: JSON-RPC 2.0 messages, batches and notifications as they are.
    JsonRpc,
}

/// The limits of one WebSocket connection, from configuration.
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
    /// Entries of one JSON-RPC batch, at most (`/rpc`).
    pub max_batch_entries: usize,
    /// `approvals.timeout_s` in ms (the OpenClaw dialect shows when an approval expires).
    pub approval_timeout_ms: i64,
    /// When the server started (the OpenClaw dialect's `hello-ok` tells its uptime).
    pub server_started: Instant,
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

/// Serves one upgraded socket speaking `dialect` until it closes, then waits for the calls it
/// read to end. `rpc_middleware` is the builder every endpoint shares, so all pass the same
/// gate.
#[allow(clippy::too_many_arguments)]
pub async fn serve_connection<L>(
    mut socket: WebSocket,
    dialect: Dialect,
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
    // Frames get their events through the queue's markers; `/rpc` as jsonrpsee notifications.
    let events = (dialect == Dialect::Frames).then(|| Arc::new(EventQueue::new(sink.clone())));
    let close = CloseSignal::default();
    let closer = {
        let close = close.clone();
        Closer::new(move |code, reason| close.close(code, reason))
    };
    let protocol = match dialect {
        Dialect::Frames => Protocol::Frames,
        Dialect::JsonRpc => Protocol::JsonRpcWs,
    };
    let state = Arc::new(ConnectionState::new(
        conn_id.0.to_string(),
        protocol,
        remote_addr,
        bearer,
        limits.max_inflight,
        closer,
        events.clone().map(|e| e as Arc<dyn EventSink>),
    ));
    let registration = registry.register(state.clone());
    tracing::info!(parent: &state.span, "connection opened");
    let listening = ListenerGuard {
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

    // The call slots: one is taken before a message is read and given back once the call's
    // answer is queued (or written). The transport's own, so the gate's per-call permit on
    // `/rpc` never competes with it.
    let slots = Arc::new(Semaphore::new(limits.max_inflight));

    let mut out = Outbound {
        rx,
        events,
        dialect,
        state: state.clone(),
        seq: 0,
        batch: Vec::new(),
        openclaw: None,
    };
    if dialect == Dialect::Frames {
        // Only the text is kept: a JSON value held for the connection's life would cost every
        // idle connection its map nodes.
        let challenge = serde_json::json!({
            "type": "event",
            "event": "connect.challenge",
            "payload": { "nonce": nonce(), "ts": switchboard_storage::now_ms() },
        })
        .to_string();
        out.batch.push(Message::Text(challenge.into()));
    }

    let mut extensions = Extensions::new();
    extensions.insert(state.clone());

    // `/ws` handles frames in order until `connect` has answered; `/rpc` never waits for it.
    let mut connected = dialect == Dialect::JsonRpc;
    // Whether the peer ended the connection (then there is no close handshake to wait for).
    let mut peer_ended = false;
    // Whether it did so with a Close frame (whose echo the WebSocket layer has queued).
    let mut peer_closed = false;
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
            permit = slots.clone().acquire_owned(), if connected && slot.is_none() => {
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
                if connected && let Some(openclaw) = out.openclaw.as_mut() {
                    // OpenClaw's clients hear nothing of pings: they need a `tick`.
                    let tick = openclaw.tick(&mut out.seq);
                    out.batch.push(Message::Text(tick.into()));
                }
                continue;
            }
            Step::ReadDeadline => {
                if connected && slot.is_none() {
                    // Every call slot is taken, so this side is not reading: the silence is
                    // not the peer's.
                    last_read = Instant::now();
                }
                let due = last_read + limits.read_timeout;
                if due <= Instant::now() {
                    close.close(CLOSE_GOING_AWAY, "read timeout");
                    break;
                }
                read_deadline.as_mut().reset(due);
                continue;
            }
            Step::Read(None) => {
                peer_ended = true;
                break;
            }
            Step::Read(Some(Ok(Message::Close(_)))) => {
                peer_ended = true;
                peer_closed = true;
                break;
            }
            Step::Read(Some(Err(e))) => {
                match read_failure(&e) {
                    ReadFailure::TooBig => close.close(CLOSE_TOO_BIG, "frame too large"),
                    ReadFailure::InvalidUtf8 => close.close(CLOSE_INVALID_DATA, "invalid UTF-8"),
                    ReadFailure::Protocol => close.close(CLOSE_PROTOCOL, "protocol error"),
                    ReadFailure::Gone => {
                        peer_ended = true;
                        close.close(CLOSE_ABNORMAL, "");
                    }
                }
                break;
            }
            Step::Read(Some(Ok(message))) => message,
        };
        last_read = Instant::now();
        let text = match (&message, dialect) {
            (Message::Text(text), _) => Cow::Borrowed(text.as_str()),
            (Message::Binary(bytes), Dialect::Frames) => String::from_utf8_lossy(bytes),
            (Message::Binary(bytes), Dialect::JsonRpc) => match std::str::from_utf8(bytes) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => {
                    let e = ErrorObject::from(ErrorCode::ParseError);
                    out.answer(MethodResponse::error(Id::Null, e).into_json());
                    continue;
                }
            },
            (Message::Ping(_) | Message::Pong(_) | Message::Close(_), _) => continue,
        };
        let work = match dialect {
            Dialect::Frames => match parse_request(&text) {
                Ok((id, method, params)) => {
                    if !connected && method == "connect" {
                        out.openclaw = asks_for_openclaw(params.as_deref()).then(|| {
                            OpenClaw::new(&id, limits.approval_timeout_ms, limits.server_started)
                        });
                    }
                    let (method, params) = match out.openclaw.as_mut() {
                        Some(openclaw) if connected => {
                            match openclaw.rewrite(&id, method, params) {
                                Rewritten::Call { method, params } => (method, params),
                                Rewritten::Answered(frame) => {
                                    out.answer_frame(frame);
                                    continue;
                                }
                            }
                        }
                        _ => (method, params),
                    };
                    let mut request = Request::owned(method, params, id);
                    *request.extensions_mut() = extensions.clone();
                    Work::Call(request)
                }
                Err(reply) => {
                    out.answer(reply);
                    continue;
                }
            },
            Dialect::JsonRpc => match parse_message(&text, limits.max_batch_entries, &extensions) {
                Incoming::Call(request) => Work::Call(request),
                Incoming::Batch(batch) => Work::Batch(batch),
                Incoming::Notification => continue,
                Incoming::Reply(reply) => {
                    out.answer(reply);
                    continue;
                }
            },
        };

        // Frames are handled in order until `connect` has answered, so a client that pipelines
        // `connect` and a call is not refused. The call runs to its end even if the connection
        // closes meanwhile (it was read; only `connect` and `health` run here).
        if !connected {
            let is_connect = matches!(&work, Work::Call(r) if r.method_name() == "connect");
            // Boxed: kept inline, this call's future would size every idle connection's task.
            let response = work.run(service.clone()).await;
            connected = is_connect && response.is_success();
            out.deliver(response);
            continue;
        }
        // Then concurrently, bounded by the call slots: while every slot is taken no message
        // is read, so a client that writes without reading cannot grow the server's memory.
        let Some(permit) = slot.take() else { continue };
        // Most calls finish without waiting (`health`, reads served from memory): those are
        // answered here, without a task of their own; the rest go on in one.
        let mut call = work.run(service.clone());
        if let Poll::Ready(response) = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await {
            drop(permit);
            out.deliver(response);
            continue;
        }
        let sink = sink.clone();
        let close = close.clone();
        let write_timeout = limits.write_timeout;
        // Not tied to the connection: the caller's disconnect never cancels a call mid-way.
        // The slot is held until the answer is queued, or dropped for want of a reader.
        tokio::spawn(async move {
            let response = call.await;
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
    // Closed for everyone from here: no longer listed, counted or sent events.
    drop(registration);
    drop(listening);
    if peer_closed {
        // The echo of the peer's Close is queued (RFC 6455 §5.5.1): write it, or the peer
        // sees the connection drop (1006) instead of a clean close.
        let _ = tokio::time::timeout(limits.write_timeout, socket.flush()).await;
    } else if code != CLOSE_ABNORMAL {
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
    drop(slot);
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
    // The socket goes now (it lingers to let the peer read the close, see `http::socket`);
    // the task, and with it the connection's place among `server.max_connections`, lasts
    // until the calls it read have ended.
    drop(socket);
    let all = u32::try_from(limits.max_inflight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// What a message asks to run.
enum Work {
    Call(Request<'static>),
    Batch(Batch<'static>),
}

impl Work {
    /// The call as a future of its own (boxed: kept inline, it would size every idle
    /// connection's task), holding the service so it can outlive the connection.
    fn run<S>(self, service: Arc<S>) -> std::pin::Pin<Box<impl Future<Output = MethodResponse>>>
    where
        S: RpcServiceT<
                MethodResponse = MethodResponse,
                BatchResponse = MethodResponse,
                NotificationResponse = MethodResponse,
            > + Send
            + Sync
            + 'static,
    {
        Box::pin(async move {
            match self {
                Work::Call(request) => service.call(request).await,
                Work::Batch(batch) => service.batch(batch).await,
            }
        })
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
    /// Frames only: the event bodies behind the queue's markers.
    events: Option<Arc<EventQueue>>,
    dialect: Dialect,
    state: Arc<ConnectionState>,
    /// Events written on this connection (the frames' `seq`).
    seq: u64,
    batch: Vec<Message>,
    /// The OpenClaw dialect's state, on a connection that asked for it.
    openclaw: Option<OpenClaw>,
}

impl Outbound {
    /// A queued message (or the event body a marker stands for) as a frame, into the batch;
    /// on `/rpc` the JSON-RPC message as it is.
    fn push(&mut self, json: Box<RawValue>) {
        if self.dialect == Dialect::JsonRpc {
            let text = String::from(Box::<str>::from(json));
            self.batch.push(Message::Text(text.into()));
            return;
        }
        let state = &self.state;
        let replace = |result: &str| state.take_subscribe_reply(result);
        let body = self.events.as_ref().and_then(|e| e.body_for(&json));
        if let Some(openclaw) = self.openclaw.as_mut() {
            let mut frames = Vec::new();
            let message = body.as_deref().unwrap_or(&json);
            openclaw.outbound(message, &mut self.seq, &replace, &mut frames);
            self.batch
                .extend(frames.into_iter().map(|f| Message::Text(f.into())));
            return;
        }
        let text = match body {
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

    /// A frame made here (the OpenClaw dialect's own answers), behind everything queued.
    fn answer_frame(&mut self, frame: String) {
        self.gather(usize::MAX);
        self.batch.push(Message::Text(frame.into()));
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

/// Why a read failed, as far as the close code is concerned.
#[derive(Debug, PartialEq)]
enum ReadFailure {
    /// A frame or message over `max_frame_bytes`: 1009.
    TooBig,
    /// A text message that is not UTF-8: 1007.
    InvalidUtf8,
    /// A frame that breaks the WebSocket protocol: 1002.
    Protocol,
    /// The socket failed or the peer left without a close: no close frame can follow.
    Gone,
}

fn read_failure(e: &axum::Error) -> ReadFailure {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(tungstenite) = err.downcast_ref::<Error>() {
            return match tungstenite {
                Error::Capacity(_) => ReadFailure::TooBig,
                Error::Utf8(_) => ReadFailure::InvalidUtf8,
                Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => ReadFailure::Gone,
                Error::Protocol(_) | Error::AttackAttempt => ReadFailure::Protocol,
                _ => ReadFailure::Gone,
            };
        }
        source = err.source();
    }
    ReadFailure::Gone
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
