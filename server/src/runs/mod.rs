//! Runs: one at a time per session, later sends queued FIFO (bounded), each run owned by its
//! session's worker task — never by the caller, so a run goes on when its caller disconnects.
//! A run ends completed, aborted (`chat.abort`), timed out (`agents.run_timeout_s`) or failed;
//! its reply, usage and final state are stored before its outcome is announced.

mod execute;
mod forward;
mod idempotency;
mod lease;
mod limiter;
mod log;
mod output;
mod recover;

pub use crate::ids::new_id;
pub use forward::{RemoteRun, Submitted};
pub use idempotency::{FirstRun, IDEMPOTENCY_WINDOW, IdempotencyKeys};
pub use limiter::ChatLimiter;
pub use log::{Appended, LogEvent, LogPacing, PushFailure, SessionLog, number_event};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::json;
use switchboard_api::events::{AgentPayload, SessionHead};
use switchboard_api::types::ChatSendResult;
use switchboard_api::{ErrorCode, Event, RunStatus};
use switchboard_config::Config;
use switchboard_storage::{NewRun, SessionRecord, Store, Write, now_ms};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, build_agents};
use crate::hub::EventBus;
use crate::rpc::ApiError;

/// A session's worker stops after this long without runs (and starts again on the next one).
const WORKER_IDLE: Duration = Duration::from_secs(30);

/// How a run ended, as its callers see it.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    /// Completed or aborted: the reply (partial when aborted).
    Finished(ChatSendResult),
    /// Timed out or failed.
    Failed {
        /// `TIMEOUT`, `UNAVAILABLE`, …
        code: ErrorCode,
        /// What happened (no secret); for `INTERNAL`, the correlation id of the log line.
        message: String,
    },
}

/// A run in its session's queue, being stored.
#[derive(Debug)]
pub struct Queued {
    durable: tokio::task::JoinHandle<Result<(), ApiError>>,
}

impl Queued {
    /// Waits until the run and its user message are stored (`Err`: they were not, and the
    /// run will not start).
    pub async fn durable(self) -> Result<(), ApiError> {
        match self.durable.await {
            Ok(result) => result,
            Err(e) => Err(ApiError::internal(format!(
                "storing a queued run failed: {e}"
            ))),
        }
    }
}

/// A run to start.
#[derive(Debug)]
pub struct RunRequest {
    /// Its id ([`new_id`]`("run")`).
    pub run_id: String,
    /// Where its outcome goes.
    pub done: Arc<watch::Sender<Option<RunOutcome>>>,
    /// Its session (existing or just created).
    pub session: SessionRecord,
    /// The user's message.
    pub message: String,
    /// Who asks (`Principal::key`).
    pub principal: String,
    /// The caller's idempotency key.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone)]
struct Pending {
    run_id: String,
    cancel: CancellationToken,
    /// Set with the cancel when the run is ended by a shutdown rather than `chat.abort`.
    interrupted: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug)]
struct SessionRuns {
    /// The token of this node's lease on the session (many nodes only).
    lease: Option<String>,
    tx: mpsc::Sender<QueuedRun>,
    log: SessionLog,
    agent_id: String,
    waiting: VecDeque<Pending>,
    active: Option<Pending>,
}

#[derive(Debug)]
struct QueuedRun {
    run_id: String,
    session_id: String,
    agent_id: String,
    message: String,
    cancel: CancellationToken,
    interrupted: Arc<std::sync::atomic::AtomicBool>,
    done: Arc<watch::Sender<Option<RunOutcome>>>,
    /// Whether the run and its message were stored (`false`, or dropped: not stored, skip it).
    recorded: oneshot::Receiver<bool>,
    /// When it was queued (for the run duration metric).
    queued_at: std::time::Instant,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    bus: EventBus,
    /// Leases on sessions (many nodes): `None` on a single node.
    leases: Option<lease::Leases>,
    /// Set when a graceful shutdown began: runs forwarded by other nodes are refused.
    closing: std::sync::atomic::AtomicBool,
    approvals: crate::approvals::Approvals,
    agents: HashMap<String, Agent>,
    run_timeout: Duration,
    max_queued: usize,
    /// How session logs batch and pace their events.
    log_pacing: LogPacing,
    /// A std mutex held for map updates only, never across an `.await`.
    sessions: Mutex<HashMap<String, SessionRuns>>,
}

/// Runs of every session. A cheap `Clone` handle.
#[derive(Debug, Clone)]
pub struct RunManager {
    inner: Arc<Inner>,
    /// Idempotency keys seen recently.
    pub idempotency: Arc<IdempotencyKeys>,
    /// `chat.send` per principal.
    pub limiter: Arc<ChatLimiter>,
}

impl RunManager {
    /// Runs over `store`, publishing through `bus`; with many nodes (the bus's broker is a
    /// cluster's), a session's runs execute on the node holding its lease.
    pub fn new(
        store: Store,
        bus: EventBus,
        approvals: crate::approvals::Approvals,
        config: &Config,
    ) -> RunManager {
        let leases = bus.broker().is_cluster().then(|| {
            lease::Leases::new(
                store.clone(),
                bus.broker().node_id().to_owned(),
                config.cluster.lease(),
            )
        });
        RunManager {
            inner: Arc::new(Inner {
                store,
                bus,
                leases,
                closing: std::sync::atomic::AtomicBool::new(false),
                approvals,
                agents: build_agents(config),
                run_timeout: config.agents.run_timeout(),
                max_queued: config.limits.max_queued_runs,
                log_pacing: LogPacing::for_connections(
                    config.server.send_buffer,
                    config.server.pace_wait(),
                ),
                sessions: Mutex::new(HashMap::new()),
            }),
            idempotency: Arc::new(IdempotencyKeys::default()),
            limiter: Arc::new(ChatLimiter::new(
                config.limits.chat_per_minute,
                config.limits.chat_burst,
            )),
        }
    }

    /// Whether `agent_id` can run.
    pub fn has_agent(&self, agent_id: &str) -> bool {
        self.inner.agents.contains_key(agent_id)
    }

    /// Queues a run and makes it durable: the run takes its place in the session's FIFO at
    /// once, before this returns (so runs start in the order they were accepted), and the run
    /// with its user message is stored by a task of its own; the worker starts it only once
    /// stored. Because that task goes on without the caller, a caller that goes away (a closed
    /// socket cancels its call) never leaves a half-queued, phantom run behind. Await
    /// [`Queued::durable`] before acknowledging. `CONFLICT` when the session's queue is full.
    pub async fn submit(&self, req: RunRequest) -> Result<Submitted, ApiError> {
        if self.inner.leases.is_none() {
            return self.queue_here(req, None).map(Submitted::Here);
        }
        forward::submit(self, req).await
    }

    /// Whether this node runs `session_id`'s runs now (it has its worker).
    fn runs_here(&self, session_id: &str) -> bool {
        self.inner
            .lock()
            .get(session_id)
            .is_some_and(|e| !e.tx.is_closed())
    }

    /// [`RunManager::submit`] on this node: with many nodes, only when it has the session's
    /// worker, or `lease` (just acquired) to start one.
    fn queue_here(&self, req: RunRequest, lease: Option<String>) -> Result<Queued, ApiError> {
        let (recorded_tx, recorded) = oneshot::channel();
        let (log, behind) = self.enqueue(&req, recorded, lease)?;
        let manager = self.clone();
        let durable = tokio::spawn(async move {
            let result = manager.record(&req).await;
            if result.is_ok() && behind {
                let queued = Event::Agent(AgentPayload {
                    agent_id: req.session.agent_id.clone(),
                    status: RunStatus::Queued,
                    run_id: req.run_id.clone(),
                    error: None,
                    usage: None,
                });
                if let Err(e) = log.emit(Some(&req.run_id), queued).await {
                    tracing::warn!(error = %e, "could not log a queued run");
                }
            }
            let _ = recorded_tx.send(result.is_ok());
            result
        });
        Ok(Queued { durable })
    }

    /// Puts the run into its session's FIFO (starting or restarting the session's worker):
    /// all under the lock, so the FIFO's order is the order of acceptance.
    fn enqueue(
        &self,
        req: &RunRequest,
        recorded: oneshot::Receiver<bool>,
        lease: Option<String>,
    ) -> Result<(SessionLog, bool), ApiError> {
        let session_id = &req.session.id;
        let mut sessions = self.inner.lock();
        // A worker that died (a bug) is replaced: the session keeps working.
        let replaced = sessions
            .get(session_id)
            .filter(|e| e.tx.is_closed())
            .map(|e| e.lease.clone());
        if replaced.is_some() {
            sessions.remove(session_id);
        }
        if !sessions.contains_key(session_id) {
            let lease = lease.or(replaced.flatten());
            if self.inner.leases.is_some() && lease.is_none() {
                return Err(ApiError::Unavailable(format!(
                    "session {session_id} runs on another node"
                )));
            }
            let entry = self.start_worker(&req.session, lease);
            sessions.insert(session_id.clone(), entry);
        }
        let Some(entry) = sessions.get_mut(session_id) else {
            return Err(ApiError::Unavailable(
                "the session's worker stopped".to_owned(),
            ));
        };
        if entry.waiting.len() >= self.inner.max_queued {
            return Err(ApiError::Conflict(format!(
                "this session already has {} runs waiting",
                self.inner.max_queued
            )));
        }
        let behind = entry.active.is_some() || !entry.waiting.is_empty();
        let cancel = CancellationToken::new();
        let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let queued = QueuedRun {
            run_id: req.run_id.clone(),
            session_id: session_id.clone(),
            agent_id: req.session.agent_id.clone(),
            message: req.message.clone(),
            cancel: cancel.clone(),
            interrupted: interrupted.clone(),
            done: req.done.clone(),
            recorded,
            queued_at: std::time::Instant::now(),
        };
        // The channel holds what `waiting` holds, at most `max_queued`: never full here.
        if entry.tx.try_send(queued).is_err() {
            return Err(ApiError::Unavailable(
                "the session's worker stopped".to_owned(),
            ));
        }
        entry.waiting.push_back(Pending {
            run_id: req.run_id.clone(),
            cancel,
            interrupted,
        });
        Ok((entry.log.clone(), behind))
    }

    /// The queued run with its user message, durable before the run can start.
    async fn record(&self, req: &RunRequest) -> Result<(), ApiError> {
        let write = Write::RecordRun(NewRun {
            id: req.run_id.clone(),
            session_id: req.session.id.clone(),
            agent_id: req.session.agent_id.clone(),
            principal: req.principal.clone(),
            idempotency_key: req.idempotency_key.clone(),
            created_at: now_ms(),
            message: req.message.clone(),
        });
        let started = std::time::Instant::now();
        let stored = self.inner.store.commit(write).await;
        crate::telemetry::record_store("record_run", started.elapsed());
        stored?;
        Ok(())
    }

    fn start_worker(&self, session: &SessionRecord, lease: Option<String>) -> SessionRuns {
        let (tx, rx) = mpsc::channel(self.inner.max_queued + 1);
        let log = SessionLog::start(
            self.inner.store.clone(),
            self.inner.bus.clone(),
            &session.id,
            &session.agent_id,
            self.inner.log_pacing,
        );
        let worker = tokio::spawn(execute::work(self.inner.clone(), session.id.clone(), rx));
        tokio::spawn(execute::supervise(
            self.inner.clone(),
            session.id.clone(),
            tx.clone(),
            worker,
        ));
        SessionRuns {
            lease,
            tx,
            log,
            agent_id: session.agent_id.clone(),
            waiting: VecDeque::new(),
            active: None,
        }
    }

    /// Aborts the running run of a session (or, with `run_id`, that run, running or queued).
    /// `false` when there is no such run.
    pub async fn abort(&self, session_id: &str, run_id: Option<&str>) -> Result<bool, ApiError> {
        if self.inner.leases.is_none() || self.runs_here(session_id) {
            return Ok(self.abort_here(session_id, run_id));
        }
        forward::abort(self, session_id, run_id).await
    }

    /// Aborts on this node ([`RunManager::abort`]).
    fn abort_here(&self, session_id: &str, run_id: Option<&str>) -> bool {
        let sessions = self.inner.lock();
        let Some(entry) = sessions.get(session_id) else {
            return false;
        };
        let target = match run_id {
            None => entry.active.as_ref(),
            Some(id) => entry
                .active
                .iter()
                .chain(entry.waiting.iter())
                .find(|p| p.run_id == id),
        };
        match target {
            Some(pending) => {
                pending.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Aborts every run of a session (before it is deleted), on whichever node runs them.
    pub fn abort_all(&self, session_id: &str) {
        self.abort_all_here(session_id);
        self.inner
            .bus
            .broker()
            .notify("runs.abort_all", json!({ "sessionId": session_id }));
    }

    /// Answers other nodes' forwarded runs and aborts; with many nodes, starts renewing this
    /// node's leases and taking over the sessions of lost nodes. Call once, at start.
    pub fn start(&self, handlers: &crate::hub::broker::Handlers) {
        forward::register(self, handlers);
        if self.inner.leases.is_some() {
            lease::keep(self.clone());
        }
    }

    /// Starts the worker of a session whose lease this node just took from a lost node: it
    /// fails the lost node's runs first.
    fn take_over(&self, session: &SessionRecord, lease: String) {
        let mut sessions = self.inner.lock();
        if !sessions.contains_key(&session.id) {
            let entry = self.start_worker(session, Some(lease));
            sessions.insert(session.id.clone(), entry);
        }
    }

    /// Aborts every run of a session on this node.
    fn abort_all_here(&self, session_id: &str) {
        if let Some(entry) = self.inner.lock().get(session_id) {
            for pending in entry.active.iter().chain(entry.waiting.iter()) {
                pending.cancel.cancel();
            }
        }
    }

    /// Ends every run, running or queued, as interrupted by a shutdown (`failed`, partial
    /// reply stored).
    pub fn interrupt_all(&self) {
        for entry in self.inner.lock().values() {
            for pending in entry.active.iter().chain(entry.waiting.iter()) {
                pending
                    .interrupted
                    .store(true, std::sync::atomic::Ordering::Release);
                pending.cancel.cancel();
            }
        }
    }

    /// Refuses runs that other nodes forward from now on (a graceful shutdown began; this
    /// node's own callers are refused by the handlers).
    pub fn stop_accepting(&self) {
        self.inner
            .closing
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Gives up this node's leases (many nodes), so that its sessions run elsewhere at once
    /// rather than after `cluster.lease_s`. At the end of a graceful shutdown.
    pub async fn release_leases(&self) {
        if let Some(leases) = &self.inner.leases {
            match self.inner.store.release_node_leases(leases.node_id()).await {
                Ok(n) => tracing::info!(leases = n, "gave up this node's leases"),
                Err(e) => tracing::warn!(error = %e, "could not give up this node's leases"),
            }
        }
    }

    /// Waits until no run is running or queued, at most `limit`; whether it got there.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.totals() == (0, 0) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `(active run id, runs waiting)` of a session.
    pub fn session_state(&self, session_id: &str) -> (Option<String>, usize) {
        match self.inner.lock().get(session_id) {
            Some(entry) => (
                entry.active.as_ref().map(|p| p.run_id.clone()),
                entry.waiting.len(),
            ),
            None => (None, 0),
        }
    }

    /// `(running, waiting)` over all sessions.
    pub fn totals(&self) -> (usize, usize) {
        let sessions = self.inner.lock();
        sessions.values().fold((0, 0), |(running, waiting), e| {
            (
                running + usize::from(e.active.is_some()),
                waiting + e.waiting.len(),
            )
        })
    }

    /// The agent of a session that has a worker (for logging lifecycle events).
    pub fn agent_of(&self, session_id: &str) -> Option<String> {
        self.inner
            .lock()
            .get(session_id)
            .map(|e| e.agent_id.clone())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, SessionRuns>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Ends the log of each run a crash interrupted with an `agent` event `failed`, so that a
/// client replaying the session sees how the run ended.
pub async fn log_interrupted(store: &Store, runs: &[switchboard_storage::RunRecord]) {
    for run in runs {
        let Ok(Some(session)) = store.get_session(&run.session_id).await else {
            continue;
        };
        let seq = session.last_seq + 1;
        let now = now_ms();
        let failed = Event::Agent(AgentPayload {
            agent_id: run.agent_id.clone(),
            status: RunStatus::Failed,
            run_id: run.id.clone(),
            error: Some("interrupted: the server stopped".to_owned()),
            usage: None,
        });
        let payload = failed.session_payload_json(&SessionHead {
            session_id: &run.session_id,
            run_id: Some(&run.id),
            session_seq: seq,
            ts: now,
        });
        let event = switchboard_storage::NewEvent {
            run_id: Some(run.id.clone()),
            event: failed.name().to_owned(),
            payload,
            created_at: now,
        };
        if let Err(e) = store
            .append_events_after(&run.session_id, session.last_seq, &[event])
            .await
        {
            tracing::warn!(run = %run.id, error = %e, "could not log an interrupted run");
        }
    }
}
