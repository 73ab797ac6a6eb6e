//! `NotificationSink`: the event path of a subscription on a connection without one of its own
//! (`/rpc`): each event becomes a JSON-RPC notification of that subscription, which jsonrpsee
//! wraps around a copy of the shared body.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use jsonrpsee::server::{SendTimeoutError, SubscriptionSink, TrySendError};
use serde_json::value::RawValue;

use super::{Backlog, EventSink, Undeliverable};

/// One subscription's notifications.
#[derive(Debug)]
pub struct NotificationSink {
    /// jsonrpsee's `try_send` takes `&mut`: a std mutex, held for one `try_send` (uncontended:
    /// live delivery already runs under the hub's lock).
    offer: Mutex<SubscriptionSink>,
    /// A clone for waiting sends (replay), outside any lock.
    wait: SubscriptionSink,
}

impl NotificationSink {
    /// The notifications of `sink`'s subscription.
    pub fn new(sink: SubscriptionSink) -> NotificationSink {
        NotificationSink {
            wait: sink.clone(),
            offer: Mutex::new(sink),
        }
    }
}

impl EventSink for NotificationSink {
    fn try_deliver(&self, body: &Arc<RawValue>) -> Result<Backlog, Undeliverable> {
        let mut sink = self.offer.lock().unwrap_or_else(|p| p.into_inner());
        match sink.try_send(body.as_ref().to_owned()) {
            // Subscriptions without a queue of their own are not paced.
            Ok(()) => Ok(Backlog::Clear),
            Err(TrySendError::Full(_)) => Err(Undeliverable::Full),
            Err(TrySendError::Closed(_)) => Err(Undeliverable::Closed),
        }
    }

    fn deliver_within<'a>(
        &'a self,
        body: &'a Arc<RawValue>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), Undeliverable>> {
        Box::pin(async move {
            self.wait
                .send_timeout(body.as_ref().to_owned(), timeout)
                .await
                .map_err(|e| match e {
                    SendTimeoutError::Timeout(_) => Undeliverable::Full,
                    SendTimeoutError::Closed(_) => Undeliverable::Closed,
                })
        })
    }

    fn is_behind(&self) -> bool {
        false
    }
}
