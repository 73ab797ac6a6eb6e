//! `chat.send`, `chat.start`, `chat.abort`, `chat.history`. `chat.send` and `chat.start` share
//! one path — checks, rate limit, the connection's send order, idempotency, the session, the
//! queue — and differ only at the end: `chat.send` answers after the run, `chat.start` as soon
//! as the run is durably queued (the connection still receives the run's events to its end).

use std::sync::Arc;

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::Value;
use switchboard_api::events::SessionSummary;
use switchboard_api::rpc::ChatApiServer;
use switchboard_api::session_key;
use switchboard_api::types::{
    AbortResult, ChatSendResult, ChatStartResult, History, MessageInfo, Usage,
};
use switchboard_api::{ErrorCode, Event, RunStatus};
use switchboard_storage::{NewSession, RunRecord, SessionRecord, StoreError, now_ms};
use tokio::sync::watch;

use super::caller;
use super::session_ref::{SessionRef, key_of};
use crate::AppState;
use crate::connections::ConnectionState;
use crate::hub::HubEvent;
use crate::rpc::{ApiError, DUPLICATE_KEY};
use crate::runs::{FirstRun, IDEMPOTENCY_WINDOW, RunOutcome, RunRequest, Submitted, new_id};

/// Messages per `chat.history` page by default and at most.
const DEFAULT_HISTORY: u64 = 50;
const MAX_HISTORY: u64 = 500;
/// Characters of the first message kept as a new session's title.
const TITLE_CHARS: usize = 80;

/// The chat family.
#[derive(Debug)]
pub struct ChatMethods {
    state: AppState,
}

/// The params `chat.send` and `chat.start` share.
struct ChatParams {
    agent_id: Option<String>,
    message: Option<Value>,
    session_id: Option<String>,
    session_key: Option<String>,
    idempotency_key: Option<String>,
}

/// What a `chat.send` / `chat.start` led to.
enum Begun {
    /// A new run, durably queued; the caller's connection watches it.
    Queued {
        run_id: String,
        session: SessionRecord,
        outcome: watch::Receiver<Option<RunOutcome>>,
    },
    /// An earlier call with the same idempotency key: its run.
    Earlier(Earlier),
}

/// The run of an earlier call with the same idempotency key.
enum Earlier {
    /// Still going on this node: its outcome, to wait for.
    Running {
        run_id: String,
        session_id: String,
        outcome: watch::Receiver<Option<RunOutcome>>,
    },
    /// As stored: ended, or going on another node or from before a restart.
    Stored(Box<RunRecord>),
}

impl ChatMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        ChatMethods { state }
    }

    /// The shared path of `chat.send` and `chat.start`: the run queued durably (and watched by
    /// the caller's connection), or the run of an earlier call with the same key.
    async fn begin(&self, conn: &Arc<ConnectionState>, p: ChatParams) -> Result<Begun, ApiError> {
        if self.state.is_draining() {
            return Err(ApiError::Unavailable(
                "the server is shutting down".to_owned(),
            ));
        }
        let message = match p.message {
            Some(Value::String(m)) if !m.trim().is_empty() => m,
            Some(Value::String(_)) => {
                return Err(ApiError::InvalidRequest("message is empty".to_owned()));
            }
            Some(_) => {
                return Err(ApiError::InvalidRequest(
                    "message must be a string".to_owned(),
                ));
            }
            None => return Err(ApiError::InvalidRequest("message is required".to_owned())),
        };
        let max = self.state.config.limits.max_message_bytes;
        if message.len() > max {
            return Err(ApiError::PayloadTooLarge(format!(
                "message is over {max} bytes"
            )));
        }
        let target = SessionRef::from_params(
            &self.state,
            p.session_id,
            p.session_key,
            p.agent_id.as_deref(),
        )?;
        let principal = principal_key(conn);
        if let Err(wait) = self.state.runs.limiter.check(&principal) {
            metrics::counter!(crate::telemetry::names::RATE_LIMITED, "limit" => "chat")
                .increment(1);
            return Err(ApiError::RateLimited {
                message: "too many chat.send/chat.start calls; slow down".to_owned(),
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            });
        }
        // Held until the run is queued: this connection's sends queue in the order they came.
        let order = conn.send_order.lock().await;
        let key = p.idempotency_key.filter(|k| !k.is_empty());
        if let Some(key) = &key
            && let Some(earlier) = self.earlier(&principal, key).await?
        {
            return Ok(Begun::Earlier(earlier));
        }
        let session = self
            .session_for(conn, p.agent_id, &target, &message)
            .await?;
        let run_id = new_id("run");
        let (done, rx) = watch::channel(None);
        let done = Arc::new(done);
        if let Some(key) = &key
            && let Err(first) = self.state.runs.idempotency.insert(
                &principal,
                key,
                FirstRun {
                    run_id: run_id.clone(),
                    session_id: session.id.clone(),
                    outcome: rx.clone(),
                },
            )
        {
            return Ok(Begun::Earlier(Earlier::Running {
                run_id: first.run_id,
                session_id: first.session_id,
                outcome: first.outcome,
            }));
        }
        // The caller's own connection gets the run's events without subscribing.
        self.state.hub.watch_run(conn, &run_id);
        let submitted = self
            .state
            .runs
            .submit(RunRequest {
                run_id: run_id.clone(),
                session: session.clone(),
                message,
                principal: principal.clone(),
                idempotency_key: key.clone(),
                done: done.clone(),
            })
            .await;
        drop(order);
        let durable = match submitted {
            Ok(Submitted::Here(queued)) => queued.durable().await,
            Ok(Submitted::Elsewhere(remote)) => {
                // Another node runs it (stored there already): follow it there, and tell this
                // node's waiters.
                let runs = self.state.runs.clone();
                tokio::spawn(async move {
                    let ended = match runs.remote_outcome(remote).await {
                        Ok(result) => RunOutcome::Finished(result),
                        Err(e) => RunOutcome::Failed {
                            code: e.code(),
                            message: match e {
                                ApiError::InternalLogged(id) => id,
                                other => other.to_string(),
                            },
                        },
                    };
                    let _ = done.send(Some(ended));
                });
                Ok(())
            }
            Err(e) => Err(e),
        };
        match durable {
            Ok(()) => Ok(Begun::Queued {
                run_id,
                session,
                outcome: rx,
            }),
            // The run never was: the key is free again…
            Err(e) => {
                self.state.hub.unwatch_run(&conn.id, &run_id);
                if let Some(key) = &key {
                    self.state.runs.idempotency.remove(&principal, key);
                }
                match (e, &key) {
                    // …unless another node's run took it first: that run is ours.
                    (ApiError::Conflict(m), Some(key)) if m == DUPLICATE_KEY => {
                        match self.earlier(&principal, key).await? {
                            Some(earlier) => Ok(Begun::Earlier(earlier)),
                            None => Err(ApiError::Conflict(m)),
                        }
                    }
                    (e, _) => Err(e),
                }
            }
        }
    }

    /// The session a chat call runs in: the one named (by id or key), a new one for a key no
    /// session has yet, or a new one of `agent_id` (default `main`).
    async fn session_for(
        &self,
        conn: &ConnectionState,
        agent_id: Option<String>,
        target: &SessionRef,
        message: &str,
    ) -> Result<SessionRecord, ApiError> {
        match target {
            SessionRef::Id(id) => {
                let session = target.require(&self.state).await?;
                if agent_id.as_ref().is_some_and(|a| *a != session.agent_id) {
                    return Err(ApiError::InvalidRequest(format!(
                        "session {id} belongs to agent {}",
                        session.agent_id
                    )));
                }
                Ok(session)
            }
            SessionRef::Key {
                key,
                agent_id: key_agent,
            } => {
                if agent_id
                    .as_ref()
                    .is_some_and(|a| !a.eq_ignore_ascii_case(key_agent))
                {
                    return Err(ApiError::InvalidRequest(format!(
                        "sessionKey {key} belongs to agent {key_agent}"
                    )));
                }
                // Two first uses of a key may race: the unique key lets one create the
                // session; the other finds it on its second look.
                for _ in 0..2 {
                    if let Some(session) = target.find(&self.state).await? {
                        return Ok(session);
                    }
                    match self
                        .create_session(conn, key_agent.clone(), Some(key.to_string()), message)
                        .await
                    {
                        Err(ApiError::Conflict(_)) => continue,
                        created => return created,
                    }
                }
                Err(ApiError::Unavailable(format!(
                    "the session of key {key} keeps changing; retry"
                )))
            }
            SessionRef::Unnamed => {
                let agent_id = agent_id.unwrap_or_else(|| session_key::DEFAULT_AGENT.to_owned());
                if !self.state.runs.has_agent(&agent_id) {
                    return Err(ApiError::NotFound(format!("no agent {agent_id}")));
                }
                self.create_session(conn, agent_id, None, message).await
            }
        }
    }

    /// Creates a session titled after `message` and tells the `sessions` topic. `CONFLICT`
    /// when another session holds `key`.
    async fn create_session(
        &self,
        conn: &ConnectionState,
        agent_id: String,
        key: Option<String>,
        message: &str,
    ) -> Result<SessionRecord, ApiError> {
        let user_id = conn
            .identity()
            .map_or_else(|| "anonymous".to_owned(), |i| i.user_id);
        let created = self
            .state
            .store
            .create_session(NewSession {
                id: new_id("ses"),
                agent_id,
                user_id,
                title: message
                    .chars()
                    .take(TITLE_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_owned(),
                created_at: now_ms(),
                key,
            })
            .await;
        let session = match created {
            Ok(session) => session,
            Err(StoreError::DuplicateSessionKey) => {
                return Err(ApiError::Conflict("the session key is taken".to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let created = Event::SessionCreated(SessionSummary {
            id: session.id.clone(),
            agent_id: session.agent_id.clone(),
            user_id: session.user_id.clone(),
            title: session.title.clone(),
            created_at: Some(session.created_at),
            updated_at: session.updated_at,
            message_count: 0,
            last_seq: 0,
            key: session.key.clone(),
        });
        self.state.bus.lifecycle(&HubEvent::lifecycle(
            &session.id,
            &session.agent_id,
            &created,
        ));
        Ok(session)
    }

    /// The run of an earlier call with idempotency key `key`, from memory or (after a restart,
    /// or from another node) from the store.
    async fn earlier(&self, principal: &str, key: &str) -> Result<Option<Earlier>, ApiError> {
        let running = |first: FirstRun| Earlier::Running {
            run_id: first.run_id,
            session_id: first.session_id,
            outcome: first.outcome,
        };
        if let Some(first) = self.state.runs.idempotency.get(principal, key) {
            return Ok(Some(running(first)));
        }
        let since = now_ms() - i64::try_from(IDEMPOTENCY_WINDOW.as_millis()).unwrap_or(i64::MAX);
        let Some(run) = self
            .state
            .store
            .find_run_by_idempotency_key(principal, key, since)
            .await?
        else {
            return Ok(None);
        };
        // Still going and known here after all (queued meanwhile): wait for it here.
        if unfinished(&run)
            && let Some(first) = self.state.runs.idempotency.get(principal, key)
        {
            return Ok(Some(running(first)));
        }
        Ok(Some(Earlier::Stored(Box::new(run))))
    }

    /// `chat.send`'s answer for an earlier call's run: its result, once it ended.
    async fn earlier_result(&self, earlier: Earlier) -> Result<ChatSendResult, ApiError> {
        match earlier {
            Earlier::Running { outcome: rx, .. } => outcome(rx).await,
            Earlier::Stored(run) if unfinished(&run) => self.state.runs.stored_end(&run.id).await,
            Earlier::Stored(run) => self.state.runs.result_of(*run).await,
        }
    }

    /// `chat.start`'s answer for an earlier call's run: its ids at once; the connection gets
    /// the rest of its events when it is still going.
    async fn earlier_start(
        &self,
        conn: &Arc<ConnectionState>,
        earlier: Earlier,
    ) -> Result<ChatStartResult, ApiError> {
        let (run_id, session_id) = match earlier {
            Earlier::Running {
                run_id,
                session_id,
                outcome,
            } => {
                self.state.hub.watch_run(conn, &run_id);
                self.follow(conn, &run_id, Follow::Here(outcome));
                (run_id, session_id)
            }
            Earlier::Stored(run) => {
                if unfinished(&run) {
                    self.state.hub.watch_run(conn, &run.id);
                    self.follow(conn, &run.id, Follow::Stored);
                }
                (run.id, run.session_id)
            }
        };
        let session = self
            .state
            .store
            .get_session(&session_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no session {session_id}")))?;
        Ok(ChatStartResult {
            run_id,
            session_id,
            session_key: key_of(&session),
        })
    }

    /// Stops sending run `run_id`'s events to `conn` once the run ended.
    fn follow(&self, conn: &ConnectionState, run_id: &str, how: Follow) {
        let hub = self.state.hub.clone();
        let runs = self.state.runs.clone();
        let (conn_id, run_id) = (conn.id.clone(), run_id.to_owned());
        tokio::spawn(async move {
            match how {
                Follow::Here(mut rx) => {
                    let _ = rx.wait_for(Option::is_some).await;
                }
                Follow::Stored => {
                    let _ = runs.stored_end(&run_id).await;
                }
            }
            hub.unwatch_run(&conn_id, &run_id);
        });
    }
}

/// How to learn that a followed run ended.
enum Follow {
    /// Its outcome on this node.
    Here(watch::Receiver<Option<RunOutcome>>),
    /// From the store (and the bus).
    Stored,
}

/// Whether a stored run is still queued or running.
fn unfinished(run: &RunRecord) -> bool {
    matches!(run.run_status(), RunStatus::Queued | RunStatus::Started)
}

/// Waits for a run's outcome.
async fn outcome(mut rx: watch::Receiver<Option<RunOutcome>>) -> Result<ChatSendResult, ApiError> {
    let outcome = rx
        .wait_for(Option::is_some)
        .await
        .map_err(|_| ApiError::Unavailable("the run was lost".to_owned()))?
        .clone();
    match outcome {
        Some(RunOutcome::Finished(result)) => Ok(result),
        Some(RunOutcome::Failed { code, message }) => Err(match code {
            ErrorCode::Timeout => ApiError::Timeout(message),
            ErrorCode::NotFound => ApiError::NotFound(message),
            ErrorCode::Unavailable => ApiError::Unavailable(message),
            // The run logged it already; the message is the correlation id.
            ErrorCode::Internal => ApiError::InternalLogged(message),
            _ => ApiError::Internal(message),
        }),
        None => Err(ApiError::Unavailable("the run was lost".to_owned())),
    }
}

#[async_trait]
impl ChatApiServer for ChatMethods {
    async fn send(
        &self,
        ext: &Extensions,
        agent_id: Option<String>,
        message: Option<Value>,
        session_id: Option<String>,
        session_key: Option<String>,
        _channel: Option<String>,
        idempotency_key: Option<String>,
    ) -> RpcResult<ChatSendResult> {
        let conn = caller(ext)?;
        let params = ChatParams {
            agent_id,
            message,
            session_id,
            session_key,
            idempotency_key,
        };
        match self.begin(&conn, params).await? {
            Begun::Earlier(earlier) => Ok(self.earlier_result(earlier).await?),
            Begun::Queued {
                run_id,
                outcome: rx,
                ..
            } => {
                let result = outcome(rx).await;
                self.state.hub.unwatch_run(&conn.id, &run_id);
                Ok(result?)
            }
        }
    }

    async fn start(
        &self,
        ext: &Extensions,
        agent_id: Option<String>,
        message: Option<Value>,
        session_id: Option<String>,
        session_key: Option<String>,
        idempotency_key: Option<String>,
    ) -> RpcResult<ChatStartResult> {
        let conn = caller(ext)?;
        let params = ChatParams {
            agent_id,
            message,
            session_id,
            session_key,
            idempotency_key,
        };
        match self.begin(&conn, params).await? {
            Begun::Earlier(earlier) => Ok(self.earlier_start(&conn, earlier).await?),
            Begun::Queued {
                run_id,
                session,
                outcome,
            } => {
                // The run goes on without this call; the connection follows it to its end.
                self.follow(&conn, &run_id, Follow::Here(outcome));
                Ok(ChatStartResult {
                    run_id,
                    session_key: key_of(&session),
                    session_id: session.id,
                })
            }
        }
    }

    async fn abort(
        &self,
        _ext: &Extensions,
        session_id: Option<String>,
        session_key: Option<String>,
        agent_id: Option<String>,
        run_id: Option<String>,
    ) -> RpcResult<AbortResult> {
        let session =
            SessionRef::from_params(&self.state, session_id, session_key, agent_id.as_deref())?
                .require(&self.state)
                .await?;
        Ok(AbortResult {
            aborted: self
                .state
                .runs
                .abort(&session.id, run_id.as_deref())
                .await?,
        })
    }

    async fn history(
        &self,
        session_id: Option<String>,
        session_key: Option<String>,
        agent_id: Option<String>,
        limit: Option<u64>,
        before: Option<i64>,
    ) -> RpcResult<History> {
        let limit = limit.unwrap_or(DEFAULT_HISTORY);
        if limit == 0 || limit > MAX_HISTORY {
            return Err(ApiError::InvalidRequest(format!("limit must be 1–{MAX_HISTORY}")).into());
        }
        let target =
            SessionRef::from_params(&self.state, session_id, session_key, agent_id.as_deref())?;
        let session = target.require(&self.state).await?;
        let (messages, has_more) = self
            .state
            .store
            .list_messages(&session.id, limit, before)
            .await
            .map_err(ApiError::from)?;
        let by_key = target.is_key();
        Ok(History {
            messages: messages
                .into_iter()
                .map(|m| MessageInfo {
                    id: m.id,
                    usage: (m.role == "assistant").then(|| Usage {
                        input_tokens: m
                            .input_tokens
                            .and_then(|t| u64::try_from(t).ok())
                            .unwrap_or(0),
                        output_tokens: m
                            .output_tokens
                            .and_then(|t| u64::try_from(t).ok())
                            .unwrap_or(0),
                        cost: m.cost,
                    }),
                    role: m.role,
                    content: m.content,
                    run_id: m.run_id,
                    created_at: m.created_at,
                })
                .collect(),
            has_more,
            session_key: by_key.then(|| key_of(&session)),
            session_id: by_key.then_some(session.id),
        })
    }
}

/// The name rate limits and idempotency keys are kept under.
fn principal_key(conn: &ConnectionState) -> String {
    match (conn.identity(), &conn.bearer) {
        (Some(identity), _) => identity.principal.key(),
        (None, Some(bearer)) => bearer.key(),
        (None, None) => "anonymous".to_owned(),
    }
}
