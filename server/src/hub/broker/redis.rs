//! Many nodes over Redis pub/sub, with the `redis` crate's reconnecting connection manager
//! (RESP3 push messages, subscriptions restored after a reconnect).
//!
//! Channels: `{prefix}:events` carries every committed event to every node; `{prefix}:node:{id}`
//! carries requests and replies to one node; `{prefix}:control` carries notices, gathers and
//! catch-up calls to all. Heartbeats: every second each node puts its report into the hash
//! `{prefix}:reports` and its time into the sorted set `{prefix}:nodes`.
//!
//! Pub/sub may lose messages (a reconnect, a full queue). Nothing depends on it alone: events
//! are numbered per session and stored first, so a gap is filled from the store, and after a
//! reconnect (or a message that could not be sent) every node is told to catch up from the
//! store on what was committed since shortly before the trouble began.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonrpsee::core::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind};
use serde_json::Value;
use switchboard_storage::now_ms;
use tokio::sync::mpsc;

use super::wire::{EventWire, Message};
use super::{Broker, BrokerError, BrokerHealth, Handlers, Heard, NodeReport};
use crate::hub::HubEvent;

/// Push messages read from Redis and not yet handled, at most; past it they are dropped and
/// the node catches up from the store.
const PUSH_QUEUE: usize = 16_384;
/// Outgoing events and notices not yet sent, at most (same).
const OUTBOX: usize = 16_384;
/// Outgoing messages sent in one pipeline, at most.
const OUTBOX_BATCH: usize = 256;
/// Heard events not yet delivered by the hub, at most (then reading Redis waits).
const HEARD_QUEUE: usize = 4096;
/// How often a node reports that it lives.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node whose last heartbeat is older than this counts as gone.
const ALIVE_WITHIN_MS: i64 = 3_000;
/// Heartbeats older than this are swept from the set.
const FORGET_AFTER_MS: i64 = 3_600_000;
/// How far before trouble began a catch-up reads (events are stamped a little before they
/// are committed and published).
const CATCH_UP_MARGIN_MS: i64 = 2_000;
/// How long one Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the other nodes cannot be reached now.
#[derive(Debug, Clone)]
enum Trouble {
    /// The subscription connection dropped; over when this node listens again.
    Disconnected,
    /// A command failed; over when one succeeds.
    Command(String),
}

impl std::fmt::Display for Trouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trouble::Disconnected => f.write_str("the connection to Redis was lost"),
            Trouble::Command(e) => write!(f, "Redis: {e}"),
        }
    }
}

/// The broker of one node of many.
pub struct RedisBroker {
    node_id: String,
    prefix: String,
    conn: ConnectionManager,
    handlers: Handlers,
    report: Arc<dyn Fn() -> Value + Send + Sync>,
    outbox: mpsc::Sender<(String, Vec<u8>)>,
    /// Requests waiting for answers, by id.
    pending: Mutex<HashMap<u64, mpsc::Sender<(String, Value)>>>,
    next_id: AtomicU64,
    /// Why the others cannot be reached now (`None`: they can).
    trouble: Mutex<Option<Trouble>>,
    /// When messages of this node were first lost (not sent), unix ms; 0 when none were.
    unsent_since: AtomicI64,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker")
            .field("node_id", &self.node_id)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A request of this node waiting for answers.
struct Waiting<'a> {
    broker: &'a RedisBroker,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.broker
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// The URL with `protocol=resp3` (push messages need it).
fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else if url
        .split_once("://")
        .is_some_and(|(_, rest)| rest.contains('/'))
    {
        format!("{url}?protocol=resp3")
    } else {
        format!("{url}/?protocol=resp3")
    }
}

impl RedisBroker {
    /// Connects to Redis at `url` and listens on this node's channels. Returns the broker and
    /// what other nodes committed, for the hub to deliver.
    pub async fn connect(
        url: &str,
        prefix: &str,
        node_id: &str,
        handlers: Handlers,
        report: Arc<dyn Fn() -> Value + Send + Sync>,
    ) -> Result<(Arc<RedisBroker>, mpsc::Receiver<Heard>), BrokerError> {
        let unreachable = |e: redis::RedisError| BrokerError::Unreachable(e.to_string());
        let client = redis::Client::open(resp3(url)).map_err(unreachable)?;
        let (push_tx, push_rx) = mpsc::channel::<PushInfo>(PUSH_QUEUE);
        let overflow = Arc::new(AtomicI64::new(0));
        let overflow_at = overflow.clone();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(move |info: PushInfo| {
                if push_tx.try_send(info).is_err() {
                    let _ = overflow_at.compare_exchange(
                        0,
                        now_ms(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                Ok::<(), ()>(())
            })
            .set_automatic_resubscription()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let mut conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(unreachable)?;
        let channels = [
            format!("{prefix}:events"),
            format!("{prefix}:control"),
            format!("{prefix}:node:{node_id}"),
        ];
        conn.subscribe(&channels).await.map_err(unreachable)?;
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let broker = Arc::new(RedisBroker {
            node_id: node_id.to_owned(),
            prefix: prefix.to_owned(),
            conn,
            handlers,
            report,
            outbox,
            pending: Mutex::default(),
            next_id: AtomicU64::new(1),
            trouble: Mutex::default(),
            unsent_since: AtomicI64::new(0),
        });
        let (heard_tx, heard) = mpsc::channel(HEARD_QUEUE);
        tokio::spawn(broker.clone().read(push_rx, overflow, heard_tx));
        tokio::spawn(broker.clone().send(outgoing));
        tokio::spawn(broker.clone().beat());
        Ok((broker, heard))
    }

    fn channel(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn set_trouble(&self, why: Option<Trouble>) {
        let mut trouble = self.trouble.lock().unwrap_or_else(|p| p.into_inner());
        match (&*trouble, &why) {
            (None, Some(why)) => tracing::warn!(reason = %why, "cannot reach the other nodes"),
            (Some(_), None) => tracing::info!("the other nodes can be reached again"),
            _ => {}
        }
        *trouble = why;
    }

    fn note_unsent(&self) {
        let _ =
            self.unsent_since
                .compare_exchange(0, now_ms(), Ordering::AcqRel, Ordering::Acquire);
    }

    /// Queues a message for the sender task (in order); a full queue loses it, and the others
    /// catch up on it later.
    fn enqueue(&self, channel: String, bytes: Vec<u8>) {
        if self.outbox.try_send((channel, bytes)).is_err() {
            self.note_unsent();
        }
    }

    fn message_bytes(message: &Message) -> Vec<u8> {
        serde_json::to_vec(message).unwrap_or_default()
    }

    /// Reads what Redis pushes: events to deliver, messages to handle, and the signs of a
    /// lost and restored connection.
    async fn read(
        self: Arc<Self>,
        mut pushes: mpsc::Receiver<PushInfo>,
        overflow: Arc<AtomicI64>,
        heard: mpsc::Sender<Heard>,
    ) {
        let events = self.channel("events");
        // When the connection was lost (0: it is not).
        let mut lost_at = 0i64;
        while let Some(push) = pushes.recv().await {
            match push.kind {
                PushKind::Message => {
                    let (
                        Some(redis::Value::BulkString(channel)),
                        Some(redis::Value::BulkString(payload)),
                    ) = (push.data.first(), push.data.get(1))
                    else {
                        continue;
                    };
                    if channel.as_slice() == events.as_bytes() {
                        match serde_json::from_slice::<EventWire<'_>>(payload) {
                            Ok(wire) if wire.from != self.node_id => {
                                let from = std::sync::Arc::from(wire.from);
                                if heard.send(Heard::Event(wire.event(), from)).await.is_err() {
                                    return;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "an unreadable event from another node")
                            }
                        }
                    } else {
                        match serde_json::from_slice::<Message>(payload) {
                            Ok(message) => {
                                if !self.handle(message, &heard).await {
                                    return;
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "an unreadable message from another node")
                            }
                        }
                    }
                }
                PushKind::Disconnection => {
                    if lost_at == 0 {
                        lost_at = now_ms();
                    }
                    self.set_trouble(Some(Trouble::Disconnected));
                }
                PushKind::Subscribe if lost_at != 0 => {
                    // Listening again: read what was committed while we could not hear.
                    let since = lost_at - CATCH_UP_MARGIN_MS;
                    lost_at = 0;
                    self.set_trouble(None);
                    if heard.send(Heard::CatchUp(since)).await.is_err() {
                        return;
                    }
                    // And whatever this node could not send meanwhile, the others read too.
                    self.note_unsent_at(since);
                }
                _ => {}
            }
            if pushes.is_empty() {
                let dropped = overflow.swap(0, Ordering::AcqRel);
                if dropped != 0
                    && heard
                        .send(Heard::CatchUp(dropped - CATCH_UP_MARGIN_MS))
                        .await
                        .is_err()
                {
                    return;
                }
            }
        }
    }

    fn note_unsent_at(&self, since: i64) {
        let _ = self
            .unsent_since
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                if now == 0 || since < now {
                    Some(since)
                } else {
                    None
                }
            });
    }

    /// Handles one message; `false` when the hub is gone.
    async fn handle(&self, message: Message, heard: &mpsc::Sender<Heard>) -> bool {
        if message.from() == self.node_id {
            return true;
        }
        match message {
            Message::Request {
                id,
                from,
                kind,
                body,
            } => {
                let Some(handler) = self.handlers.request(&kind) else {
                    return true;
                };
                // The synchronous part now, in arrival order; the answer when it is ready.
                let answer = handler(body);
                let reply_to = self.channel(&format!("node:{from}"));
                let me = self.node_id.clone();
                let mut conn = self.conn.clone();
                tokio::spawn(async move {
                    let body = answer.await;
                    let reply = Message::Reply { id, from: me, body };
                    let _: Result<i64, _> = redis::cmd("PUBLISH")
                        .arg(reply_to)
                        .arg(RedisBroker::message_bytes(&reply))
                        .query_async(&mut conn)
                        .await;
                });
            }
            Message::Reply { id, from, body } => {
                let waiter = self
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&id)
                    .cloned();
                if let Some(waiter) = waiter {
                    let _ = waiter.try_send((from, body));
                }
            }
            Message::Notice { kind, body, .. } => {
                if let Some(handler) = self.handlers.notice(&kind) {
                    handler(body);
                }
            }
            Message::CatchUp { since, .. } => {
                return heard.send(Heard::CatchUp(since)).await.is_ok();
            }
        }
        true
    }

    /// Sends queued events and notices, in order, a pipeline at a time.
    async fn send(self: Arc<Self>, mut outgoing: mpsc::Receiver<(String, Vec<u8>)>) {
        let mut batch = Vec::with_capacity(OUTBOX_BATCH);
        let mut conn = self.conn.clone();
        while outgoing.recv_many(&mut batch, OUTBOX_BATCH).await > 0 {
            let mut pipe = redis::pipe();
            for (channel, bytes) in batch.drain(..) {
                pipe.cmd("PUBLISH").arg(channel).arg(bytes).ignore();
            }
            match pipe.query_async::<()>(&mut conn).await {
                Ok(()) => self.tell_unsent(&mut conn).await,
                Err(e) => {
                    self.note_unsent();
                    self.set_trouble(Some(Trouble::Command(e.to_string())));
                }
            }
        }
    }

    /// Once Redis answers again after messages of this node were lost: tells every node to
    /// catch up from the store on what was committed since.
    async fn tell_unsent(&self, conn: &mut ConnectionManager) {
        let since = self.unsent_since.swap(0, Ordering::AcqRel);
        if since == 0 {
            return;
        }
        let catch_up = Message::CatchUp {
            from: self.node_id.clone(),
            since: since - CATCH_UP_MARGIN_MS,
        };
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(self.channel("control"))
            .arg(RedisBroker::message_bytes(&catch_up))
            .query_async(conn)
            .await;
        if sent.is_err() {
            self.note_unsent_at(since);
        }
    }

    /// Reports this node every [`HEARTBEAT`]; the outcome says whether Redis can be reached.
    async fn beat(self: Arc<Self>) {
        let mut conn = self.conn.clone();
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = now_ms();
            let report = (self.report)().to_string();
            let result = redis::pipe()
                .cmd("ZADD")
                .arg(self.channel("nodes"))
                .arg(now)
                .arg(&self.node_id)
                .ignore()
                .cmd("HSET")
                .arg(self.channel("reports"))
                .arg(&self.node_id)
                .arg(report)
                .ignore()
                .cmd("ZREMRANGEBYSCORE")
                .arg(self.channel("nodes"))
                .arg("-inf")
                .arg(now - FORGET_AFTER_MS)
                .ignore()
                .query_async::<()>(&mut conn)
                .await;
            match result {
                Ok(()) => {
                    let failed = matches!(
                        *self.trouble.lock().unwrap_or_else(|p| p.into_inner()),
                        Some(Trouble::Command(_))
                    );
                    if failed {
                        self.set_trouble(None);
                    }
                    self.tell_unsent(&mut conn).await;
                }
                Err(e) => self.set_trouble(Some(Trouble::Command(e.to_string()))),
            }
        }
    }

    /// A request waiting for answers; forgotten when dropped (answered, timed out, or the
    /// caller went away).
    fn new_request(&self, capacity: usize) -> (Waiting<'_>, mpsc::Receiver<(String, Value)>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        (Waiting { broker: self, id }, rx)
    }

    /// Publishes at once (not through the outbox): how many nodes listen on `channel`.
    async fn publish_now(&self, channel: String, message: &Message) -> Result<i64, BrokerError> {
        let mut conn = self.conn.clone();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(RedisBroker::message_bytes(message))
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| BrokerError::Unreachable(e.to_string()))
    }
}

/// Publishes one notice to every node of the gateway at `url` / `prefix`, from outside a node
/// (the command line); answers how many nodes were listening.
pub async fn notify_once(
    url: &str,
    prefix: &str,
    kind: &str,
    body: Value,
) -> Result<i64, BrokerError> {
    let unreachable = |e: redis::RedisError| BrokerError::Unreachable(e.to_string());
    let client = redis::Client::open(url).map_err(unreachable)?;
    let mut conn = tokio::time::timeout(COMMAND_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| BrokerError::Unreachable("timed out".to_owned()))?
        .map_err(unreachable)?;
    let notice = Message::Notice {
        from: "cli".to_owned(),
        kind: kind.to_owned(),
        body,
    };
    redis::cmd("PUBLISH")
        .arg(format!("{prefix}:control"))
        .arg(RedisBroker::message_bytes(&notice))
        .query_async::<i64>(&mut conn)
        .await
        .map_err(unreachable)
}

#[async_trait]
impl Broker for RedisBroker {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn is_cluster(&self) -> bool {
        true
    }

    fn announce(&self, event: &HubEvent) {
        let bytes = serde_json::to_vec(&EventWire::of(&self.node_id, event)).unwrap_or_default();
        self.enqueue(self.channel("events"), bytes);
    }

    async fn request(
        &self,
        node: &str,
        kind: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<Value, BrokerError> {
        if node == self.node_id {
            return match self.handlers.request(kind) {
                Some(handler) => Ok(handler(body).await),
                None => Err(BrokerError::NodeGone(node.to_owned())),
            };
        }
        let (waiting, mut answers) = self.new_request(1);
        let message = Message::Request {
            id: waiting.id,
            from: self.node_id.clone(),
            kind: kind.to_owned(),
            body,
        };
        let result = async {
            let listening = self
                .publish_now(self.channel(&format!("node:{node}")), &message)
                .await?;
            if listening == 0 {
                return Err(BrokerError::NodeGone(node.to_owned()));
            }
            match tokio::time::timeout(timeout, answers.recv()).await {
                Ok(Some((_, body))) => Ok(body),
                _ => Err(BrokerError::NoAnswer(node.to_owned())),
            }
        }
        .await;
        drop(waiting);
        result
    }

    async fn gather(&self, kind: &str, body: Value, timeout: Duration) -> Vec<(String, Value)> {
        let mut answers = Vec::new();
        let (waiting, mut replies) = self.new_request(256);
        let message = Message::Request {
            id: waiting.id,
            from: self.node_id.clone(),
            kind: kind.to_owned(),
            body: body.clone(),
        };
        let others = self
            .publish_now(self.channel("control"), &message)
            .await
            .map_or(0, |listening| usize::try_from(listening - 1).unwrap_or(0));
        if let Some(handler) = self.handlers.request(kind) {
            answers.push((self.node_id.clone(), handler(body).await));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut heard = 0;
        while heard < others {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Some(answer)) => {
                    heard += 1;
                    answers.push(answer);
                }
                _ => break,
            }
        }
        drop(waiting);
        answers
    }

    fn notify(&self, kind: &str, body: Value) {
        let notice = Message::Notice {
            from: self.node_id.clone(),
            kind: kind.to_owned(),
            body,
        };
        self.enqueue(self.channel("control"), RedisBroker::message_bytes(&notice));
    }

    fn tell(&self, node: &str, kind: &str, body: Value) {
        let notice = Message::Notice {
            from: self.node_id.clone(),
            kind: kind.to_owned(),
            body,
        };
        self.enqueue(
            self.channel(&format!("node:{node}")),
            RedisBroker::message_bytes(&notice),
        );
    }

    async fn nodes(&self) -> Result<Vec<NodeReport>, BrokerError> {
        let mut conn = self.conn.clone();
        let since = now_ms() - ALIVE_WITHIN_MS;
        let alive: Vec<(String, i64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.channel("nodes"))
            .arg(since)
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .map_err(|e| BrokerError::Unreachable(e.to_string()))?;
        if alive.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = alive.iter().map(|(id, _)| id.as_str()).collect();
        let reports: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.channel("reports"))
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(|e| BrokerError::Unreachable(e.to_string()))?;
        Ok(alive
            .into_iter()
            .zip(reports)
            .map(|((node_id, seen_at), report)| NodeReport {
                node_id,
                seen_at,
                report: report
                    .and_then(|r| serde_json::from_str(&r).ok())
                    .unwrap_or(Value::Null),
            })
            .collect())
    }

    fn health(&self) -> BrokerHealth {
        match self
            .trouble
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(why) => BrokerHealth::Degraded(why.to_string()),
            None => BrokerHealth::Ok,
        }
    }
}
