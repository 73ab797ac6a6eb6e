//! `EventBus`: the one way events enter the hub. Events this node committed, and events other
//! nodes committed (heard through the broker), are delivered here in each session's
//! `sessionSeq` order, each exactly once: a duplicate is skipped, and a gap — an event heard
//! before the ones it follows (lost or late on the way) — is filled from the store first.
//! Events this node committed also go to the other nodes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_storage::{EventRecord, Store};
use tokio::sync::{mpsc, oneshot};

use super::broker::{Broker, Handlers, Heard};
use super::{EventHub, HubEvent, Pressure};

/// Stored events read per step while filling a gap or catching up.
const FILL_PAGE: u64 = 256;
/// How often a paced stream looks again at its listeners' queues.
const PACE_CHECK: Duration = Duration::from_millis(1);

/// How events heard from other nodes are paced to this node's listeners, like a session log
/// paces its own (see `runs::LogPacing`): after every `step` events, a wait of up to
/// `max_wait` while more than 1 % of the listeners are behind.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Events delivered between two looks at the listeners.
    pub step: usize,
    /// The longest wait per step.
    pub max_wait: Duration,
}

/// Sessions whose delivery a node keeps track of, at most; past it, the ones without an event
/// for [`MARK_IDLE`] are forgotten (their next event starts them afresh).
const MAX_MARKS: usize = 100_000;
/// See [`MAX_MARKS`].
const MARK_IDLE: Duration = Duration::from_secs(600);

/// Where a session's delivery stands on this node.
#[derive(Debug)]
struct Mark {
    /// The last `sessionSeq` delivered.
    last: i64,
    /// The session's agent (for events read back from the store).
    agent: Arc<str>,
    /// When it last moved.
    seen: std::time::Instant,
}

impl Mark {
    fn new(last: i64, agent: Arc<str>) -> Mark {
        Mark {
            last,
            agent,
            seen: std::time::Instant::now(),
        }
    }
}

/// How far another node's listeners have taken a session this node writes.
#[derive(Debug)]
struct Remote {
    /// The last `sessionSeq` that node delivered with its listeners keeping up.
    acked: i64,
    /// A writer waited `max_wait` for it in vain: it is not waited for again until it has
    /// caught up (as a local listener released from pacing).
    unpaced: bool,
}

impl Marks {
    /// Tracks a session this node had not tracked, within [`MAX_MARKS`]; the hub forgets
    /// the sessions swept (it knows no session the bus does not).
    fn track(&mut self, session: Arc<str>, mark: Mark, hub: &EventHub) -> &mut Mark {
        if self.sessions.len() >= self.sweep_at.max(MAX_MARKS) {
            let before = self.sessions.len();
            self.sessions.retain(|session, m| {
                let keep = m.seen.elapsed() < MARK_IDLE;
                if !keep {
                    hub.forget_session(session);
                }
                keep
            });
            let after = self.sessions.len();
            // All busy: sweep again only after another tenth has been added.
            self.sweep_at = after + MAX_MARKS / 10;
            tracing::info!(
                forgotten = before - after,
                "forgot the delivery marks of idle sessions"
            );
        }
        self.sessions.entry(session).or_insert(mark)
    }
}

#[derive(Debug, Default)]
struct Marks {
    sessions: HashMap<Arc<str>, Mark>,
    /// Sessions tracked when the next sweep of idle marks is due (see [`MAX_MARKS`]).
    sweep_at: usize,
    /// Callers waiting for a run's final `agent` event, by run.
    run_ends: HashMap<String, Vec<oneshot::Sender<()>>>,
    /// Writer side: other nodes with listeners on a session this node writes, by session.
    remote: HashMap<Arc<str>, HashMap<Arc<str>, Remote>>,
    /// Listener side: sessions whose writers this node told it has listeners.
    acking: HashSet<Arc<str>>,
}

#[derive(Debug)]
struct Inner {
    hub: EventHub,
    store: Store,
    broker: Arc<dyn Broker>,
    pacing: Pacing,
    /// Events a writer may be ahead of another node's listeners before it waits for them.
    remote_slack: i64,
    /// Woken when another node reports how far it delivered.
    acked: tokio::sync::Notify,
    /// A std mutex held for one delivery (the hub's own lock is taken inside it, never the
    /// other way round), never across an `.await`.
    marks: Mutex<Marks>,
}

/// The bus. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

/// A watch for one run's final `agent` event ([`EventBus::run_end`]).
#[derive(Debug)]
pub struct RunEnd {
    ended: oneshot::Receiver<()>,
    bus: EventBus,
    run_id: String,
}

impl RunEnd {
    /// Resolves once the run's final event was delivered here (or the bus dropped the watch).
    pub async fn ended(&mut self) {
        let _ = (&mut self.ended).await;
    }
}

impl Drop for RunEnd {
    fn drop(&mut self) {
        self.ended.close();
        self.bus.forget_run_end(&self.run_id);
    }
}

/// Whether a run status ends the run.
fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "aborted" | "timeout" | "failed")
}

impl EventBus {
    /// The bus over `hub`, reading gaps from `store`, reaching other nodes through `broker`,
    /// pacing what it hears from them with `pacing`.
    pub fn new(hub: EventHub, store: Store, broker: Arc<dyn Broker>, pacing: Pacing) -> EventBus {
        EventBus {
            inner: Arc::new(Inner {
                hub,
                store,
                broker,
                pacing,
                remote_slack: i64::try_from(pacing.step.max(1) * 4).unwrap_or(16),
                acked: tokio::sync::Notify::new(),
                marks: Mutex::default(),
            }),
        }
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<dyn Broker> {
        &self.inner.broker
    }

    /// The hub.
    pub fn hub(&self) -> &EventHub {
        &self.inner.hub
    }

    fn marks(&self) -> MutexGuard<'_, Marks> {
        self.inner.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers an event this node just committed, and announces it to the other nodes.
    pub async fn committed(&self, event: &HubEvent) -> Pressure {
        self.inner.broker.announce(event);
        self.in_order(event).await
    }

    /// Delivers a session lifecycle event (not in the log) here and on every other node.
    pub fn lifecycle(&self, event: &HubEvent) {
        self.inner.broker.announce(event);
        self.inner.hub.publish(event);
    }

    /// Delivers what other nodes committed, as the broker hears it, until the broker stops.
    pub fn listen(&self, mut incoming: mpsc::Receiver<Heard>) {
        let bus = self.clone();
        tokio::spawn(async move {
            let step = bus.inner.pacing.step.max(1);
            let mut delivered = 0usize;
            while let Some(heard) = incoming.recv().await {
                match heard {
                    Heard::Event(event, _) if event.seq.is_none() => {
                        if &*event.name == "session.deleted"
                            && let Some(session) = &event.session_id
                        {
                            bus.marks().sessions.remove(session);
                            bus.inner.hub.forget_session(session);
                        }
                        bus.inner.hub.publish(&event);
                    }
                    Heard::Event(event, from) => {
                        let pressure = bus.in_order(&event).await;
                        delivered += 1;
                        let boundary = delivered.is_multiple_of(step) || incoming.is_empty();
                        // This node's slow listeners hold back what it hears, as they hold
                        // back its own sessions; one that stays behind is let go.
                        if boundary && pressure.should_wait() {
                            bus.wait_for_listeners(&event, bus.inner.pacing.max_wait)
                                .await;
                        }
                        // And the writing node goes at the pace this node keeps.
                        if boundary {
                            bus.ack(&from, &event, pressure.listeners > 0);
                        }
                    }
                    Heard::CatchUp(since) => bus.catch_up(since).await,
                }
            }
        });
    }

    /// Answers other nodes' reports of how far they delivered. Call once, at start.
    pub fn answer(&self, handlers: &Handlers) {
        let bus = self.clone();
        handlers.on_notice(
            "bus.delivered",
            Arc::new(move |body: Value| {
                if let (Some(node), Some(session), Some(seq)) = (
                    body["node"].as_str(),
                    body["sessionId"].as_str(),
                    body["seq"].as_i64(),
                ) {
                    bus.note_remote(node, session, seq, body["listening"] != false);
                }
            }),
        );
    }

    /// Tells `writer` (the node that committed `event`) how far this node delivered the
    /// session, and whether it has listeners for it (once more when it no longer has).
    fn ack(&self, writer: &str, event: &HubEvent, listening: bool) {
        let (Some(session), Some(seq)) = (&event.session_id, event.seq) else {
            return;
        };
        {
            let mut marks = self.marks();
            if listening {
                marks.acking.insert(session.clone());
            } else if !marks.acking.remove(session) {
                return;
            }
        }
        self.inner.broker.tell(
            writer,
            "bus.delivered",
            json!({
                "node": self.inner.broker.node_id(),
                "sessionId": &**session,
                "seq": seq,
                "listening": listening,
            }),
        );
    }

    /// Records another node's report on a session this node writes.
    fn note_remote(&self, node: &str, session: &str, seq: i64, listening: bool) {
        {
            let mut marks = self.marks();
            let head = marks.sessions.get(session).map_or(seq, |m| m.last);
            if listening {
                let nodes = marks.remote.entry(Arc::from(session)).or_default();
                let remote = nodes.entry(Arc::from(node)).or_insert(Remote {
                    acked: seq,
                    unpaced: false,
                });
                remote.acked = remote.acked.max(seq);
                if remote.unpaced && remote.acked >= head - self.inner.remote_slack {
                    remote.unpaced = false;
                }
            } else if let Some(nodes) = marks.remote.get_mut(session) {
                nodes.remove(node);
                if nodes.is_empty() {
                    marks.remote.remove(session);
                }
            }
        }
        self.inner.acked.notify_waiters();
    }

    /// Waits (at most `max_wait`) until every other node with listeners on `event`'s session
    /// has delivered up to a few events before it; a node still behind then is not waited for
    /// again until it has caught up. On a single node, or with no listeners elsewhere, at once.
    pub async fn wait_for_remote(&self, event: &HubEvent, max_wait: Duration) {
        let (Some(session), Some(seq)) = (&event.session_id, event.seq) else {
            return;
        };
        let until = tokio::time::Instant::now() + max_wait;
        let floor = seq - self.inner.remote_slack;
        loop {
            let acked = self.inner.acked.notified();
            tokio::pin!(acked);
            acked.as_mut().enable();
            let behind = self
                .marks()
                .remote
                .get(session)
                .is_some_and(|nodes| nodes.values().any(|r| !r.unpaced && r.acked < floor));
            if !behind {
                return;
            }
            if tokio::time::timeout_at(until, acked).await.is_err() {
                if let Some(nodes) = self.marks().remote.get_mut(session) {
                    for remote in nodes.values_mut().filter(|r| r.acked < floor) {
                        remote.unpaced = true;
                    }
                }
                tracing::debug!(session = %session, "stopped waiting for another node's listeners");
                return;
            }
        }
    }

    /// Waits (at most `max_wait`) until no more than 1 % of the listeners of `event` are
    /// behind; the ones still behind then are released from pacing (see
    /// [`EventHub::release_laggards`]). Returns how many were released.
    pub async fn wait_for_listeners(&self, event: &HubEvent, max_wait: Duration) -> usize {
        let until = tokio::time::Instant::now() + max_wait;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(PACE_CHECK).await;
            if !self.inner.hub.pressure(event).should_wait() {
                return 0;
            }
        }
        self.inner.hub.release_laggards(event)
    }

    /// Watches for run `run_id`'s final `agent` event as it is delivered here. Register before
    /// the run can end; dropping the watch forgets it.
    pub fn run_end(&self, run_id: &str) -> RunEnd {
        let (tx, rx) = oneshot::channel();
        self.marks()
            .run_ends
            .entry(run_id.to_owned())
            .or_default()
            .push(tx);
        RunEnd {
            ended: rx,
            bus: self.clone(),
            run_id: run_id.to_owned(),
        }
    }

    /// Forgets the closed watches of a run's end.
    fn forget_run_end(&self, run_id: &str) {
        let mut marks = self.marks();
        if let Some(waiters) = marks.run_ends.get_mut(run_id) {
            waiters.retain(|w| !w.is_closed());
            if waiters.is_empty() {
                marks.run_ends.remove(run_id);
            }
        }
    }

    /// Marks `session` delivered up to `seq` on this node if it has delivered none of its
    /// events yet (a subscriber replayed up to `seq` from the store and attaches live now).
    pub fn note_delivered(&self, session: &str, seq: i64) {
        let mut marks = self.marks();
        if !marks.sessions.contains_key(session) {
            marks.track(
                Arc::from(session),
                Mark::new(seq, Arc::from("")),
                &self.inner.hub,
            );
        }
    }

    /// Forgets a deleted session.
    pub fn forget_session(&self, session_id: &str) {
        let mut marks = self.marks();
        marks.sessions.remove(session_id);
        marks.remote.remove(session_id);
        marks.acking.remove(session_id);
        drop(marks);
        self.inner.hub.forget_session(session_id);
    }

    /// Delivers a numbered event after every event before it, exactly once.
    async fn in_order(&self, event: &HubEvent) -> Pressure {
        let (Some(session), Some(seq)) = (&event.session_id, event.seq) else {
            return self.inner.hub.publish(event);
        };
        loop {
            match self.try_next(event, session, seq) {
                Ok(pressure) => return pressure,
                Err(last) => {
                    if let Err(e) = self.fill(session, event.agent_id.clone(), last, seq).await {
                        // The store cannot say what is missing: deliver what we have rather
                        // than stall the session; a subscriber resumes with `afterSeq`.
                        tracing::warn!(session = %session, error = %e, "cannot fill a gap in a session's events");
                        self.skip_to(session, event.agent_id.clone(), seq - 1);
                    }
                }
            }
        }
    }

    /// Delivers `event` if it is the next of its session (or the first this node sees);
    /// skips it if it was delivered; `Err(last delivered)` if events are missing before it.
    fn try_next(&self, event: &HubEvent, session: &Arc<str>, seq: i64) -> Result<Pressure, i64> {
        let mut marks = self.marks();
        match marks.sessions.get_mut(session) {
            Some(mark) if seq <= mark.last => return Ok(Pressure::default()),
            Some(mark) if seq > mark.last + 1 => return Err(mark.last),
            Some(mark) => {
                mark.last = seq;
                mark.seen = std::time::Instant::now();
                if mark.agent.is_empty()
                    && let Some(agent) = &event.agent_id
                {
                    mark.agent = agent.clone();
                }
            }
            None => {
                let agent = event.agent_id.clone().unwrap_or_else(|| Arc::from(""));
                marks.track(session.clone(), Mark::new(seq, agent), &self.inner.hub);
            }
        }
        let pressure = self.inner.hub.publish(event);
        if &*event.name == "agent"
            && let Some(run) = event.run_id.as_deref()
            && marks.run_ends.contains_key(run)
            && let Ok(payload) = serde_json::from_str::<Value>(event.body.get())
            && payload["payload"]["status"].as_str().is_some_and(is_final)
            && let Some(waiters) = marks.run_ends.remove(run)
        {
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
        Ok(pressure)
    }

    /// Marks `session` delivered up to `seq` without delivering (the store failed).
    fn skip_to(&self, session: &Arc<str>, agent: Option<Arc<str>>, seq: i64) {
        let mut marks = self.marks();
        let agent = agent.unwrap_or_else(|| Arc::from(""));
        let mark = marks.track(session.clone(), Mark::new(seq, agent), &self.inner.hub);
        mark.last = mark.last.max(seq);
    }

    /// Delivers the stored events of `session` after `after` and before `before` (`None`: all).
    async fn fill(
        &self,
        session: &Arc<str>,
        agent: Option<Arc<str>>,
        mut after: i64,
        before: i64,
    ) -> Result<(), switchboard_storage::StoreError> {
        let agent = match agent.filter(|a| !a.is_empty()) {
            Some(agent) => agent,
            None => self.agent_of(session).await?,
        };
        while after + 1 < before {
            let want = u64::try_from(before - after - 1)
                .unwrap_or(1)
                .min(FILL_PAGE);
            let page = self.inner.store.events_after(session, after, want).await?;
            if page.is_empty() {
                // Caught up; or (a gap) not stored, because the session is gone: nothing to
                // fill with, and nothing to wait for.
                if before != i64::MAX {
                    self.skip_to(session, Some(agent.clone()), before - 1);
                }
                return Ok(());
            }
            for record in &page {
                let event = stored_event(session, &agent, record);
                let _ = self.try_next(&event, session, record.seq);
                after = record.seq;
            }
        }
        Ok(())
    }

    async fn agent_of(
        &self,
        session: &Arc<str>,
    ) -> Result<Arc<str>, switchboard_storage::StoreError> {
        if let Some(mark) = self.marks().sessions.get(session)
            && !mark.agent.is_empty()
        {
            return Ok(mark.agent.clone());
        }
        Ok(self
            .inner
            .store
            .get_session(session)
            .await?
            .map_or_else(|| Arc::from(""), |s| Arc::from(s.agent_id.as_str())))
    }

    /// Delivers every event committed since `since` (unix ms) that this node has not: after a
    /// reconnect, or when a node could not send. Sessions this node never saw start at their
    /// first event since then.
    pub async fn catch_up(&self, since: i64) {
        let sessions = match self.inner.store.sessions_with_events_since(since).await {
            Ok(sessions) => sessions,
            Err(e) => {
                tracing::warn!(error = %e, "cannot catch up on the events of other nodes");
                return;
            }
        };
        let count = sessions.len();
        for (session, first) in sessions {
            let session: Arc<str> = Arc::from(session.as_str());
            let known = self.marks().sessions.get(&session).map(|m| m.last);
            let after = known.unwrap_or(first - 1);
            if let Err(e) = self.fill(&session, None, after, i64::MAX).await {
                tracing::warn!(session = %session, error = %e, "cannot catch up on a session's events");
            }
        }
        tracing::info!(
            since,
            sessions = count,
            "caught up on events committed meanwhile"
        );
    }
}

/// A stored event as the hub carries it.
pub fn stored_event(session: &Arc<str>, agent: &Arc<str>, record: &EventRecord) -> HubEvent {
    HubEvent {
        name: record.event.as_str().into(),
        session_id: Some(session.clone()),
        agent_id: Some(agent.clone()),
        run_id: record.run_id.as_deref().map(Arc::from),
        seq: Some(record.seq),
        lifecycle: false,
        body: HubEvent::body(&record.event, &record.payload),
    }
}
