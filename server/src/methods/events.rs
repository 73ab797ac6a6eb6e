//! `subscribe` / `unsubscribe`. A session topic with `afterSeq` first replays every stored event
//! after it — paced by the client's reading, each waiting at most the write deadline for room —
//! and then switches to live delivery under the hub's lock, with no gap and no duplicate.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jsonrpsee::Extensions;
use jsonrpsee::core::{SubscriptionResult, async_trait};
use jsonrpsee::server::PendingSubscriptionSink;
use jsonrpsee::types::ErrorObjectOwned;
use switchboard_api::rpc::EventsApiServer;

use super::caller;
use crate::AppState;
use crate::connections::ConnectionState;
use crate::hub::{Attach, HubEvent, Subscriber, Topic};
use crate::rpc::ApiError;

/// Stored events read per replay step.
const REPLAY_PAGE: u64 = 256;

/// The events family.
#[derive(Debug)]
pub struct EventMethods {
    state: AppState,
}

impl EventMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        EventMethods { state }
    }

    /// Checks a subscription before accepting it; `(topic, events to replay)`.
    async fn admit(
        &self,
        conn: &ConnectionState,
        topic: &str,
        after_seq: Option<i64>,
    ) -> Result<(Topic, u64), ApiError> {
        let topic = Topic::parse(topic).ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "unknown topic `{topic}` (session:<id>, agent:<id>, sessions or *)"
            ))
        })?;
        let max = self.state.config.limits.max_subscriptions as u64;
        if conn.subscriptions.load(Ordering::Relaxed) >= max {
            return Err(ApiError::Conflict(format!(
                "at most {max} subscriptions per connection"
            )));
        }
        let Topic::Session(id) = &topic else {
            if after_seq.is_some() {
                return Err(ApiError::InvalidRequest(
                    "afterSeq needs a session:<id> topic".to_owned(),
                ));
            }
            return Ok((topic, 0));
        };
        if after_seq.is_some_and(|n| n < 0) {
            return Err(ApiError::InvalidRequest(
                "afterSeq must be 0 or more".to_owned(),
            ));
        }
        let session = self
            .state
            .store
            .get_session(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no session {id}")))?;
        let replay = after_seq.map_or(0, |n| u64::try_from(session.last_seq - n).unwrap_or(0));
        Ok((topic, replay))
    }

    /// Replays stored events of `session` after `after`, then attaches live. `false` if the
    /// connection went away or was too slow.
    async fn replay_then_attach(
        &self,
        conn: &Arc<ConnectionState>,
        topic: Topic,
        session: String,
        mut last: i64,
        subscriber: Subscriber,
    ) -> Result<bool, ApiError> {
        let deadline = self.state.config.server.write_timeout();
        loop {
            let read = std::time::Instant::now();
            let page = self
                .state
                .store
                .events_after(&session, last, REPLAY_PAGE)
                .await?;
            crate::telemetry::record_store("events_after", read.elapsed());
            for event in &page {
                let body = HubEvent::body(&event.event, &event.payload);
                // Through the path live events take (same order).
                let sent = self
                    .state
                    .hub
                    .replay(&**conn, &subscriber, &body, deadline)
                    .await;
                if sent.is_err() {
                    return Ok(false);
                }
                last = event.seq;
            }
            // A node that has not delivered this session yet starts after the replay: an
            // event it then hears out of order is filled from the store, not skipped over.
            self.state.bus.note_delivered(&session, last);
            if (page.len() as u64) < REPLAY_PAGE
                && self.state.hub.attach(
                    conn,
                    topic.clone(),
                    subscriber.clone(),
                    Some((session.clone(), last)),
                ) == Attach::Attached
            {
                return Ok(true);
            }
        }
    }
}

#[async_trait]
impl EventsApiServer for EventMethods {
    async fn subscribe_topic(
        &self,
        pending: PendingSubscriptionSink,
        ext: &Extensions,
        topic: String,
        after_seq: Option<i64>,
    ) -> SubscriptionResult {
        let conn = match caller(ext) {
            Ok(conn) => conn,
            Err(e) => {
                pending.reject(ErrorObjectOwned::from(e)).await;
                return Ok(());
            }
        };
        let (topic, replay) = match self.admit(&conn, &topic, after_seq).await {
            Ok(admitted) => admitted,
            Err(e) => {
                pending.reject(ErrorObjectOwned::from(e)).await;
                return Ok(());
            }
        };
        conn.note_subscription(&pending.subscription_id(), &topic, replay);
        let sink = pending.accept().await?;
        // Forget the subscription in the hub when it ends (unsubscribe or connection gone).
        {
            let sink = sink.clone();
            let hub = self.state.hub.clone();
            let conn_id = conn.id.clone();
            tokio::spawn(async move {
                sink.closed().await;
                hub.detach(&conn_id, &sink);
            });
        }
        let subscriber = Subscriber::new(&*conn, &sink);
        match (&topic, after_seq) {
            (Topic::Session(session), Some(after)) => {
                let session = session.clone();
                self.replay_then_attach(&conn, topic, session, after, subscriber)
                    .await
                    .map_err(|e| ErrorObjectOwned::from(e).message().to_owned())?;
            }
            _ => {
                self.state.hub.attach(&conn, topic, subscriber, None);
            }
        }
        Ok(())
    }
}
