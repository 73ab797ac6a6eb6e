//! `EventHub`: who listens to what, and delivery. One std mutex guards the map; it is held for
//! one publish or one (de)registration, never across an `.await`, and delivery under it only
//! tries to enqueue ([`EventSink::try_deliver`]), never waits.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jsonrpsee::server::SubscriptionSink;
use serde_json::value::RawValue;

use super::{Backlog, EventSink, HubEvent, NotificationSink, Recipient, Topic, Undeliverable};
use crate::telemetry::names;
use switchboard_api::Scope;

/// How far behind the listeners of an event are: how many got it, and how many of those are
/// [behind](EventSink::is_behind).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pressure {
    /// Connections the event went to.
    pub listeners: usize,
    /// Of those, connections that are behind the stream.
    pub behind: usize,
}

impl Pressure {
    /// Whether more than 1 % of the listeners are behind: the producer should wait for them.
    pub fn should_wait(&self) -> bool {
        self.behind * 100 > self.listeners
    }
}

/// The result of trying to switch a replaying subscription to live delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Attach {
    /// Live from now on; events up to the replayed sequence are skipped.
    Attached,
    /// Events newer than the replay were published meanwhile: read the store again.
    Behind,
}

/// One subscription on its way in: its identity and its path to the client, for the replay
/// first and then for live delivery.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// jsonrpsee's subscription id, as text.
    key: String,
    /// The connection's own event path if it has one, else the subscription's notifications.
    path: Arc<dyn EventSink>,
    /// The scope of the subscriber's principal, as it was when it subscribed.
    scope: Option<Arc<Scope>>,
}

impl Subscriber {
    /// The subscription behind `sink`, on `conn`.
    pub fn new(conn: &dyn Recipient, sink: &SubscriptionSink) -> Subscriber {
        let path = match conn.events() {
            Some(own) => own.clone(),
            None => Arc::new(NotificationSink::new(sink.clone())),
        };
        Subscriber {
            key: subscription_key(sink),
            path,
            scope: conn.scope().map(Arc::new),
        }
    }
}

struct Subscription {
    id: String,
    topic: Topic,
    path: Arc<dyn EventSink>,
    /// `(session, seq)`: events of that session up to `seq` were already replayed.
    replayed_to: Option<(String, i64)>,
    /// A scoped principal's: only events of sessions in it match.
    scope: Option<Arc<Scope>>,
}

impl Subscription {
    /// Whether `event` is for this subscription: its topic, and (for a scoped principal) a
    /// session in the scope — an event of no session (`shutdown`) is for everyone.
    fn matches(&self, event: &HubEvent) -> bool {
        self.topic.matches(event)
            && self.scope.as_ref().is_none_or(|scope| {
                match (event.session_id.as_deref(), event.agent_id.as_deref()) {
                    (Some(session), agent) => scope.allows_session(session, agent.unwrap_or("")),
                    (None, _) => true,
                }
            })
    }
}

struct Listener {
    conn: Arc<dyn Recipient>,
    /// The connection's own event path (`/ws`), if it has one: its runs' events go there.
    direct: Option<Arc<dyn EventSink>>,
    subscriptions: Vec<Subscription>,
    /// Runs this connection started with `chat.send` (connections with their own event path
    /// only): their events come here when no subscription of the connection covers them.
    runs: HashSet<String>,
    /// A stream already waited `server.pace_wait_ms` for this listener in vain: no stream
    /// waits for it again until it has caught up (its queue no longer behind). Until then it
    /// is on its own, and closed as a slow consumer if its queue fills.
    unpaced: bool,
}

impl Listener {
    /// Whether this listener, just offered an event and now `behind` or not, holds its
    /// streams back. A listener released from pacing is paced again once it caught up.
    fn holds_back(&mut self, behind: bool) -> bool {
        if self.unpaced && !behind {
            self.unpaced = false;
        }
        behind && !self.unpaced
    }

    /// Whether this listener gets `event`.
    fn listens_to(&self, event: &HubEvent) -> bool {
        self.subscriptions.iter().any(|s| s.matches(event))
            || event
                .run_id
                .as_deref()
                .is_some_and(|run| self.runs.contains(run))
    }

    /// Whether its own event path is behind (subscriptions without one are not paced).
    fn is_behind(&self) -> bool {
        self.direct
            .as_ref()
            .is_some_and(|direct| direct.is_behind())
    }
}

#[derive(Default)]
struct HubState {
    listeners: HashMap<String, Listener>,
    /// The last published `sessionSeq` of each session that published since start.
    last_published: HashMap<String, i64>,
}

/// The hub. A cheap `Clone` handle.
#[derive(Clone, Default)]
pub struct EventHub {
    state: Arc<Mutex<HubState>>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub").finish_non_exhaustive()
    }
}

impl EventHub {
    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers an event to every connection that listens to it, once per connection. A
    /// connection whose queue is full is closed as a slow consumer.
    pub fn publish(&self, event: &HubEvent) -> Pressure {
        let mut slow = Vec::new();
        let mut pressure = Pressure::default();
        {
            let mut state = self.lock();
            if let (Some(session), Some(seq), false) =
                (&event.session_id, event.seq, event.lifecycle)
            {
                state.last_published.insert(session.to_string(), seq);
            }
            state
                .listeners
                .retain(|_, listener| match deliver(listener, event) {
                    Delivery::Sent(backlog) => {
                        pressure.listeners += 1;
                        let behind = backlog == Backlog::Behind;
                        pressure.behind += usize::from(listener.holds_back(behind));
                        true
                    }
                    Delivery::Skipped => true,
                    Delivery::Full => {
                        slow.push(listener.conn.clone());
                        false
                    }
                });
        }
        if pressure.listeners > 0 {
            metrics::counter!(names::EVENTS_DELIVERED).increment(pressure.listeners as u64);
        }
        for conn in slow {
            metrics::counter!(names::SLOW_CONSUMERS).increment(1);
            tracing::info!(connection = %conn.id(), "closing a slow consumer");
            conn.close(1008, "slow consumer");
        }
        pressure
    }

    /// [`Pressure`] now, over the connections that would get `event`.
    pub fn pressure(&self, event: &HubEvent) -> Pressure {
        let mut state = self.lock();
        let mut pressure = Pressure::default();
        for listener in state.listeners.values_mut() {
            if listener.listens_to(event) {
                pressure.listeners += 1;
                let behind = listener.is_behind();
                pressure.behind += usize::from(listener.holds_back(behind));
            }
        }
        pressure
    }

    /// Stops waiting for the listeners of `event` that are still behind after a stream waited
    /// its bound for them: one reader never sets everyone's pace. They are paced again once
    /// they catch up; one that does not is closed as a slow consumer when its queue fills.
    /// Returns how many were released.
    pub fn release_laggards(&self, event: &HubEvent) -> usize {
        let mut state = self.lock();
        let mut released = 0;
        for listener in state.listeners.values_mut() {
            if !listener.unpaced && listener.listens_to(event) && listener.is_behind() {
                listener.unpaced = true;
                released += 1;
            }
        }
        released
    }

    /// Delivers one replayed event (`body`) to a subscription that is not attached yet,
    /// waiting at most `timeout` for room: the replay goes at the reader's pace, through the
    /// same path as the live events that follow it. A reader that does not make room in time
    /// is closed as a slow consumer (it resumes with `afterSeq`).
    pub async fn replay(
        &self,
        conn: &dyn Recipient,
        subscriber: &Subscriber,
        body: &Arc<RawValue>,
        timeout: Duration,
    ) -> Result<(), Undeliverable> {
        let sent = subscriber.path.deliver_within(body, timeout).await;
        match sent {
            Ok(()) => metrics::counter!(names::EVENTS_DELIVERED).increment(1),
            Err(Undeliverable::Full) => {
                metrics::counter!(names::SLOW_CONSUMERS).increment(1);
                conn.close(1008, "slow consumer");
            }
            Err(Undeliverable::Closed) => {}
        }
        sent
    }

    /// Registers a live subscription. With `replayed_to = Some((session, seq))` it is attached
    /// only if nothing newer than `seq` was published for that session; the caller replays
    /// again on [`Attach::Behind`].
    pub fn attach<C: Recipient + 'static>(
        &self,
        conn: &Arc<C>,
        topic: Topic,
        subscriber: Subscriber,
        replayed_to: Option<(String, i64)>,
    ) -> Attach {
        let mut state = self.lock();
        if let Some((session, seq)) = &replayed_to
            && state
                .last_published
                .get(session)
                .is_some_and(|head| head > seq)
        {
            return Attach::Behind;
        }
        let listener = listener(&mut state, conn);
        listener.subscriptions.push(Subscription {
            id: subscriber.key,
            topic,
            path: subscriber.path,
            replayed_to,
            scope: subscriber.scope,
        });
        conn.subscriptions().fetch_add(1, Ordering::Relaxed);
        Attach::Attached
    }

    /// Removes a subscription (after `unsubscribe` or when its connection is gone).
    pub fn detach(&self, conn_id: &str, sink: &SubscriptionSink) {
        let key = subscription_key(sink);
        let mut state = self.lock();
        if let Some(listener) = state.listeners.get_mut(conn_id) {
            let before = listener.subscriptions.len();
            listener.subscriptions.retain(|s| s.id != key);
            let removed = (before - listener.subscriptions.len()) as u64;
            listener
                .conn
                .subscriptions()
                .fetch_sub(removed, Ordering::Relaxed);
        }
    }

    /// Sends the events of `run_id` to the connection that started it (connections with their
    /// own event path only).
    pub fn watch_run<C: Recipient + 'static>(&self, conn: &Arc<C>, run_id: &str) {
        if conn.events().is_none() {
            return;
        }
        let mut state = self.lock();
        listener(&mut state, conn).runs.insert(run_id.to_owned());
    }

    /// Stops sending a run's events to its caller.
    pub fn unwatch_run(&self, conn_id: &str, run_id: &str) {
        if let Some(listener) = self.lock().listeners.get_mut(conn_id) {
            listener.runs.remove(run_id);
        }
    }

    /// Offers `event` (the `shutdown` notice) to every connection: through its own event path
    /// (`/ws`), else through its first subscription (a `/rpc` connection without one cannot be
    /// told). Never waits: a connection whose own queue is full cannot be told in order, so it
    /// is closed at once with `close_code` and the event's reason instead.
    pub fn broadcast<C: Recipient>(
        &self,
        event: &HubEvent,
        connections: &[Arc<C>],
        close_code: u16,
        reason: &str,
    ) {
        let mut told = HashSet::new();
        for conn in connections {
            if let Some(direct) = conn.events() {
                if let Err(Undeliverable::Full) = direct.try_deliver(&event.body) {
                    conn.close(close_code, reason);
                }
                told.insert(conn.id().to_owned());
            }
        }
        let mut state = self.lock();
        for (id, listener) in state.listeners.iter_mut() {
            if told.contains(id) {
                continue;
            }
            if let Some(sub) = listener.subscriptions.first() {
                let _ = sub.path.try_deliver(&event.body);
            }
        }
    }

    /// Forgets a connection and everything it listened to.
    pub fn remove_connection(&self, conn_id: &str) {
        self.lock().listeners.remove(conn_id);
    }

    /// Forgets a deleted session's published sequence.
    pub fn forget_session(&self, session_id: &str) {
        self.lock().last_published.remove(session_id);
    }

    /// Live subscriptions, all connections together.
    pub fn subscription_count(&self) -> usize {
        self.lock()
            .listeners
            .values()
            .map(|l| l.subscriptions.len())
            .sum()
    }
}

fn listener<'a, C: Recipient + 'static>(
    state: &'a mut HubState,
    conn: &Arc<C>,
) -> &'a mut Listener {
    state
        .listeners
        .entry(conn.id().to_owned())
        .or_insert_with(|| Listener {
            conn: conn.clone(),
            direct: conn.events().cloned(),
            subscriptions: Vec::new(),
            runs: HashSet::new(),
            unpaced: false,
        })
}

fn subscription_key(sink: &SubscriptionSink) -> String {
    format!("{:?}", sink.subscription_id())
}

enum Delivery {
    Sent(Backlog),
    Skipped,
    Full,
}

/// Offers `event` to one connection: through its first matching subscription, else (for its
/// own runs) through its own event path. Never more than once.
fn deliver(listener: &mut Listener, event: &HubEvent) -> Delivery {
    let mut index = 0;
    while index < listener.subscriptions.len() {
        let sub = &listener.subscriptions[index];
        if !sub.matches(event) {
            index += 1;
            continue;
        }
        if let (Some((session, replayed)), Some(seq)) = (&sub.replayed_to, event.seq)
            && event.session_id.as_deref() == Some(session.as_str())
            && seq <= *replayed
        {
            return Delivery::Skipped;
        }
        match sub.path.try_deliver(&event.body) {
            Ok(backlog) => return Delivery::Sent(backlog),
            Err(Undeliverable::Full) => return Delivery::Full,
            Err(Undeliverable::Closed) => {
                listener.subscriptions.swap_remove(index);
                listener
                    .conn
                    .subscriptions()
                    .fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
    let own_run = event
        .run_id
        .as_deref()
        .is_some_and(|run| listener.runs.contains(run));
    if let (true, Some(direct)) = (own_run, listener.direct.as_ref()) {
        match direct.try_deliver(&event.body) {
            Ok(backlog) => return Delivery::Sent(backlog),
            Err(Undeliverable::Full) => return Delivery::Full,
            Err(Undeliverable::Closed) => listener.runs.clear(),
        }
    }
    Delivery::Skipped
}
