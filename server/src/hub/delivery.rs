//! How an event reaches a connection: the [`EventSink`] every transport's event path
//! implements (the `/ws` connection queue, a `/rpc` subscription's notifications), and the
//! [`Recipient`] a connection is to the hub. The hub knows no transport: it offers bytes to a
//! sink and closes a recipient that cannot keep up.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::value::RawValue;

/// How far behind its reader a sink is, once an event was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// The reader keeps up.
    Clear,
    /// More than a little is queued: the reader is behind the stream, and the stream's
    /// producer may wait for it (see `Pressure`).
    Behind,
}

/// Why an event could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Undeliverable {
    /// The queue is full (or stayed full past the wait): a slow consumer.
    #[error("the connection's queue is full")]
    Full,
    /// The connection or the subscription is gone.
    #[error("the connection is gone")]
    Closed,
}

/// A path for events to one client: a bounded queue that takes the event's body,
/// `{"event":NAME,"payload":{…}}`, serialized once and shared by every recipient.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Queues `body` if there is room; never waits.
    fn try_deliver(&self, body: &Arc<RawValue>) -> Result<Backlog, Undeliverable>;

    /// Queues `body`, waiting at most `timeout` for room (replay: paced by the reader). Past
    /// it, [`Undeliverable::Full`].
    fn deliver_within<'a>(
        &'a self,
        body: &'a Arc<RawValue>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), Undeliverable>>;

    /// Whether the reader is behind the stream now.
    fn is_behind(&self) -> bool;
}

/// A connection as the hub sees it.
pub trait Recipient: Send + Sync + std::fmt::Debug {
    /// Its id, unique among live connections.
    fn id(&self) -> &str;

    /// The connection's own event path, if it has one (`/ws`): every event for it goes there,
    /// in order with its other messages, whichever subscription it matches. Without one, events
    /// go through each subscription's own sink.
    fn events(&self) -> Option<&Arc<dyn EventSink>>;

    /// Its live subscriptions, counted (the hub adds and removes).
    fn subscriptions(&self) -> &AtomicU64;

    /// Closes the connection with a WebSocket close `code` and `reason` (a slow consumer, a
    /// shutdown notice it cannot take).
    fn close(&self, code: u16, reason: &str);

    /// The scope of its principal (SPEC §18): its subscriptions deliver only events of
    /// sessions in it. `None`: everything.
    fn scope(&self) -> Option<switchboard_api::Scope> {
        None
    }
}
