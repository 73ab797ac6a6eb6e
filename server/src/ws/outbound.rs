//! `EventQueue`: how events reach a `/ws` connection's writer without a copy per connection.
//! The connection's one outbound channel (jsonrpsee's `MethodSink`, bounded by
//! `server.send_buffer`) carries responses and, for each event, a tiny marker; the event's
//! body — serialized once, shared by every subscriber — waits beside it in a FIFO of `Arc`s.
//! Marker and body are queued under one lock, so the writer finds bodies in marker order, and
//! a full channel still means a slow consumer. It is the hub's [`EventSink`] for the connection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;
use jsonrpsee::server::{MethodSink, TrySendError};
use serde_json::value::RawValue;

use crate::hub::{Backlog, EventSink, Undeliverable};

/// What stands in the channel for the next queued event body.
const MARKER: &str = "0";

/// A `/ws` connection's event path. See the module docs.
#[derive(Debug)]
pub struct EventQueue {
    inner: Mutex<Inner>,
    /// A handle for waiting for room, outside the lock.
    waiter: MethodSink,
}

#[derive(Debug)]
struct Inner {
    sink: MethodSink,
    bodies: VecDeque<Arc<RawValue>>,
}

impl EventQueue {
    /// The event path over the connection's outbound channel.
    pub fn new(sink: MethodSink) -> EventQueue {
        EventQueue {
            waiter: sink.clone(),
            inner: Mutex::new(Inner {
                sink,
                bodies: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The body a marker stands for (the writer's side), if `message` is a marker.
    pub fn body_for(&self, message: &RawValue) -> Option<Arc<RawValue>> {
        if message.get() != MARKER {
            return None;
        }
        self.lock().bodies.pop_front()
    }
}

impl EventSink for EventQueue {
    /// Queues `body` (`{"event":…,"payload":…}`) if there is room; never waits.
    fn try_deliver(&self, body: &Arc<RawValue>) -> Result<Backlog, Undeliverable> {
        let mut inner = self.lock();
        match inner.sink.try_send(marker()) {
            Ok(()) => {
                inner.bodies.push_back(body.clone());
                Ok(backlog(&inner.sink))
            }
            Err(TrySendError::Full(_)) => Err(Undeliverable::Full),
            Err(TrySendError::Closed(_)) => Err(Undeliverable::Closed),
        }
    }

    /// Queues `body`, waiting at most `timeout` for room (replay: paced by the reader).
    fn deliver_within<'a>(
        &'a self,
        body: &'a Arc<RawValue>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), Undeliverable>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                match self.try_deliver(body) {
                    Err(Undeliverable::Full) => {}
                    Ok(_) => return Ok(()),
                    Err(e) => return Err(e),
                }
                match tokio::time::timeout_at(deadline, self.waiter.has_capacity()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return Err(Undeliverable::Closed),
                    Err(_) => return Err(Undeliverable::Full),
                }
            }
        })
    }

    /// Whether more than 1/64 of the queue is taken (4 of the default 256; at least 2 queued):
    /// the reader is behind the stream. (The kernel holds little more: see `http::socket::UNSENT_BYTES`.)
    fn is_behind(&self) -> bool {
        backlog(&self.waiter) == Backlog::Behind
    }
}

fn backlog(sink: &MethodSink) -> Backlog {
    let queued = sink.max_capacity() - sink.capacity();
    // At least one: the event just queued does not make a reader that keeps up "behind" (with
    // a small queue, 1/64 of it is 0).
    if queued > (sink.max_capacity() / 64).max(1) {
        Backlog::Behind
    } else {
        Backlog::Clear
    }
}

fn marker() -> Box<RawValue> {
    RawValue::from_string(MARKER.to_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}
