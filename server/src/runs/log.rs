//! `SessionLog`: the one writer of a session's event log. A task per active session takes
//! events in order, gives each the next `sessionSeq`, stores it, and only then publishes it,
//! so replay (from the store) and live delivery (from the hub) never disagree.
//!
//! The writer takes every append waiting at that moment and stores them in one write (through
//! the store's group commit), so a fast stream costs a few transactions, not one per event.
//! [`SessionLog::push`] queues an event without waiting for it to be stored (a run's stream
//! of `chat` deltas); the run's final append waits, and since the log is FIFO, everything
//! pushed before it is stored by then. A failed push is remembered in the run's
//! [`PushFailure`] and fails the run.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use switchboard_api::Event;
use switchboard_api::events::SessionHead;
use switchboard_storage::{
    LogAppend, NewEvent, RunChange, SessionRecord, Store, StoreError, Write, now_ms,
};
use tokio::sync::{mpsc, oneshot};

use crate::hub::{EventBus, HubEvent};

/// Appends waiting for the writer, per session, at most (then senders wait for room).
const LOG_QUEUE: usize = 256;
/// Appends stored in one write, at most (see [`SessionLog::batch_for`]).
const MAX_BATCH: usize = 128;

/// How a session log batches and paces its events.
#[derive(Debug, Clone, Copy)]
pub struct LogPacing {
    /// Appends stored together, at most.
    pub batch: usize,
    /// Events published between two looks at the listeners.
    pub step: usize,
    /// How long the log waits, at most, for its listeners to catch up before it publishes the
    /// next step.
    pub max_wait: Duration,
}

impl LogPacing {
    /// For connections that queue `send_buffer` messages: writes of up to 1/32 of the queue (8
    /// appends of the default 256), published in steps of 1/64 (4 events), with a wait of up to
    /// `pace_wait` per step while more than 1 % of the listeners are behind (more than 1/64 of
    /// their queue taken). A fast stream thus goes at the pace of its slower readers, and all
    /// its readers stay within a few events of each other. A reader still behind when the
    /// wait runs out is released from pacing ([`EventHub::release_laggards`]): no stream waits
    /// for it again until it has caught up, so it holds each stream back by at most one wait,
    /// and if it cannot keep up its queue fills and it is closed as a slow consumer.
    pub fn for_connections(send_buffer: usize, pace_wait: Duration) -> LogPacing {
        LogPacing {
            batch: (send_buffer / 32).clamp(1, MAX_BATCH),
            step: (send_buffer / 64).max(1),
            max_wait: pace_wait,
        }
    }
}

/// The first store failure of a run's pushed events.
pub type PushFailure = Arc<OnceLock<String>>;

/// What an awaited append answers once stored and published.
#[derive(Debug)]
pub struct Appended {
    /// The sequence number of its last event.
    pub seq: i64,
    /// The session as the write left it.
    pub session: Option<SessionRecord>,
}

/// One event to append.
#[derive(Debug)]
pub struct LogEvent {
    /// The run that emits it.
    pub run_id: Option<String>,
    /// The event (`sessionId`, `runId`, `sessionSeq` and `ts` are added to its payload).
    pub event: Event,
}

impl LogEvent {
    /// `event` of run `run_id`.
    pub fn of_run(run_id: &str, event: Event) -> LogEvent {
        LogEvent {
            run_id: Some(run_id.to_owned()),
            event,
        }
    }
}

#[derive(Debug)]
enum Reply {
    /// Answer the last event's sequence number once stored and published.
    Wait(oneshot::Sender<Result<Appended, StoreError>>),
    /// Nobody waits; a failure is kept here.
    Push(PushFailure),
}

#[derive(Debug)]
struct Append {
    events: Vec<LogEvent>,
    runs: Vec<RunChange>,
    reply: Reply,
}

/// A handle to a session's log writer. Cheap to clone; the writer stops when every handle is
/// gone.
#[derive(Debug, Clone)]
pub struct SessionLog {
    tx: mpsc::Sender<Append>,
}

fn writer_gone() -> StoreError {
    StoreError::Corrupt {
        table: "events",
        detail: "the session's log writer stopped".to_owned(),
    }
}

impl SessionLog {
    /// Starts the writer for `session_id`; it continues after the stored last sequence.
    pub fn start(
        store: Store,
        bus: EventBus,
        session_id: &str,
        agent_id: &str,
        pacing: LogPacing,
    ) -> SessionLog {
        let (tx, rx) = mpsc::channel(LOG_QUEUE);
        let writer = Writer {
            store,
            bus,
            session: session_id.into(),
            agent: agent_id.into(),
            pacing,
        };
        tokio::spawn(writer.run(rx));
        SessionLog { tx }
    }

    /// Appends `event` (its payload led by `sessionId`, `runId`, `sessionSeq` and `ts`);
    /// answers with its sequence number once it is stored and published.
    pub async fn emit(&self, run_id: Option<&str>, event: Event) -> Result<i64, StoreError> {
        let event = LogEvent {
            run_id: run_id.map(str::to_owned),
            event,
        };
        self.emit_all(vec![event], Vec::new())
            .await
            .map(|appended| appended.seq)
    }

    /// Appends `events` and stores the `runs` changes with them, all or nothing; answers with
    /// the last event's sequence number once stored and published.
    pub async fn emit_all(
        &self,
        events: Vec<LogEvent>,
        runs: Vec<RunChange>,
    ) -> Result<Appended, StoreError> {
        let (done, answer) = oneshot::channel();
        let append = Append {
            events,
            runs,
            reply: Reply::Wait(done),
        };
        self.tx.send(append).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Queues an event without waiting for it to be stored (only for room in the queue). A
    /// failure to store it lands in `failure`; a push after one fails at once.
    pub async fn push(&self, event: LogEvent, failure: &PushFailure) -> Result<(), StoreError> {
        if let Some(detail) = failure.get() {
            return Err(StoreError::Corrupt {
                table: "events",
                detail: detail.clone(),
            });
        }
        let append = Append {
            events: vec![event],
            runs: Vec::new(),
            reply: Reply::Push(failure.clone()),
        };
        self.tx.send(append).await.map_err(|_| writer_gone())
    }
}

/// The writer task of one session's log.
struct Writer {
    store: Store,
    bus: EventBus,
    session: Arc<str>,
    agent: Arc<str>,
    pacing: LogPacing,
}

impl Writer {
    async fn run(self, mut rx: mpsc::Receiver<Append>) {
        let Writer {
            store,
            bus,
            session,
            agent,
            pacing,
        } = &self;
        let max_batch = pacing.batch.clamp(1, MAX_BATCH);
        let mut last = match store.get_session(session).await {
            Ok(Some(s)) => s.last_seq,
            Ok(None) => -1,
            Err(e) => {
                tracing::warn!(error = %e, session = %session, "cannot read the session's last sequence");
                -1
            }
        };
        let mut batch: Vec<Append> = Vec::with_capacity(max_batch);
        while rx.recv_many(&mut batch, max_batch).await > 0 {
            let now = now_ms();
            let (mut events, mut runs, mut ready) = (Vec::new(), Vec::new(), Vec::new());
            let mut counts = Vec::with_capacity(batch.len());
            for append in &mut batch {
                counts.push(append.events.len());
                for event in std::mem::take(&mut append.events) {
                    let seq = last + 1 + i64::try_from(events.len()).unwrap_or(i64::MAX);
                    let (stored, hub_event) = number_event(session, agent, seq, event, now);
                    events.push(stored);
                    ready.push(hub_event);
                }
                runs.append(&mut append.runs);
            }
            let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
            let write = std::time::Instant::now();
            let result = store
                .commit(Write::Log(LogAppend {
                    session_id: session.to_string(),
                    expected_last: last,
                    events,
                    runs,
                }))
                .await;
            crate::telemetry::record_store("append_events", write.elapsed());
            match result {
                Ok(session_now) => {
                    last += n;
                    let total = ready.len();
                    let mut ready = ready.into_iter().enumerate();
                    let mut newest = None;
                    for (append, count) in batch.drain(..).zip(counts) {
                        let mut seq = None;
                        for (i, event) in ready.by_ref().take(count) {
                            seq = event.seq;
                            let pressure = bus.committed(&event).await;
                            // After each whole step; the last one waits below, after the replies.
                            if (i + 1) % pacing.step == 0 && i + 1 < total {
                                self.pace(&event, pressure).await;
                            }
                            newest = Some((event, pressure));
                        }
                        if let Reply::Wait(done) = append.reply {
                            let _ = done.send(Ok(Appended {
                                seq: seq.unwrap_or(last),
                                session: session_now.clone(),
                            }));
                        }
                    }
                    if let Some((event, pressure)) = newest {
                        self.pace(&event, pressure).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, session = %session, "could not append to the session's log");
                    // The stored sequence may have moved (e.g. the session was deleted): re-read it.
                    if let Ok(Some(s)) = store.get_session(session).await {
                        last = s.last_seq;
                    }
                    let detail = e.to_string();
                    for append in batch.drain(..) {
                        match append.reply {
                            Reply::Wait(done) => {
                                let _ = done.send(Err(StoreError::Corrupt {
                                    table: "events",
                                    detail: detail.clone(),
                                }));
                            }
                            Reply::Push(failure) => {
                                let _ = failure.set(detail.clone());
                            }
                        }
                    }
                }
            }
        }
    }

    /// Waits (at most `pacing.max_wait`) until no more than 1 % of the listeners of `event` are
    /// behind; the ones still behind then are released from pacing.
    /// After a step: waits for this node's listeners if they are behind, then for other
    /// nodes' (many nodes), each at most `pacing.max_wait`.
    async fn pace(&self, event: &HubEvent, pressure: crate::hub::Pressure) {
        if pressure.should_wait() {
            self.wait_for_listeners(event).await;
        }
        self.bus.wait_for_remote(event, self.pacing.max_wait).await;
    }

    async fn wait_for_listeners(&self, event: &HubEvent) {
        let released = self
            .bus
            .wait_for_listeners(event, self.pacing.max_wait)
            .await;
        if released > 0 {
            tracing::debug!(session = %self.session, released, "stopped waiting for listeners that are behind");
        }
    }
}

/// `event` as number `seq` of `session`: the row to store and the event to publish once it is
/// stored. Its payload has `sessionId`, `runId`, `sessionSeq` and `ts` (unix ms, when the write
/// that stores it began) first, and is serialized once.
pub fn number_event(
    session: &Arc<str>,
    agent: &Arc<str>,
    seq: i64,
    event: LogEvent,
    now: i64,
) -> (NewEvent, HubEvent) {
    let name = event.event.name();
    let payload = event.event.session_payload_json(&SessionHead {
        session_id: session,
        run_id: event.run_id.as_deref(),
        session_seq: seq,
        ts: now,
    });
    let hub_event = HubEvent {
        name: name.into(),
        session_id: Some(session.clone()),
        agent_id: Some(agent.clone()),
        run_id: event.run_id.as_deref().map(Arc::from),
        seq: Some(seq),
        lifecycle: false,
        body: HubEvent::body(name, &payload),
    };
    let stored = NewEvent {
        run_id: event.run_id,
        event: name.to_owned(),
        payload,
        created_at: now,
    };
    (stored, hub_event)
}
