//! `chat.send`, `chat.abort`, `chat.history`.

use jsonrpsee::Extensions;
use jsonrpsee::core::{RpcResult, async_trait};
use serde_json::Value;
use switchboard_api::events::SessionSummary;
use switchboard_api::rpc::ChatApiServer;
use switchboard_api::types::{AbortResult, ChatSendResult, History, MessageInfo, Usage};
use switchboard_api::{ErrorCode, Event, RunStatus};
use switchboard_storage::{NewSession, SessionRecord, now_ms};
use tokio::sync::watch;

use super::caller;
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
/// The agent of a new session when `agentId` is absent.
const DEFAULT_AGENT: &str = "main";

/// The chat family.
#[derive(Debug)]
pub struct ChatMethods {
    state: AppState,
}

impl ChatMethods {
    /// Handlers over `state`.
    pub fn new(state: AppState) -> Self {
        ChatMethods { state }
    }

    async fn session_for(
        &self,
        conn: &ConnectionState,
        agent_id: Option<String>,
        session_id: Option<String>,
        message: &str,
    ) -> Result<SessionRecord, ApiError> {
        if let Some(id) = session_id {
            let session = self
                .state
                .store
                .get_session(&id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no session {id}")))?;
            if agent_id.as_ref().is_some_and(|a| *a != session.agent_id) {
                return Err(ApiError::InvalidRequest(format!(
                    "session {id} belongs to agent {}",
                    session.agent_id
                )));
            }
            return Ok(session);
        }
        let agent_id = agent_id.unwrap_or_else(|| DEFAULT_AGENT.to_owned());
        if !self.state.runs.has_agent(&agent_id) {
            return Err(ApiError::NotFound(format!("no agent {agent_id}")));
        }
        let user_id = conn
            .identity()
            .map_or_else(|| "anonymous".to_owned(), |i| i.user_id);
        let session = self
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
            })
            .await?;
        let created = Event::SessionCreated(SessionSummary {
            id: session.id.clone(),
            agent_id: session.agent_id.clone(),
            user_id: session.user_id.clone(),
            title: session.title.clone(),
            created_at: Some(session.created_at),
            updated_at: session.updated_at,
            message_count: 0,
            last_seq: 0,
        });
        self.state.bus.lifecycle(&HubEvent::lifecycle(
            &session.id,
            &session.agent_id,
            &created,
        ));
        Ok(session)
    }

    /// `NOT_FOUND` unless the session exists.
    async fn require_session(&self, session_id: &str) -> Result<(), ApiError> {
        match self.state.store.get_session(session_id).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound(format!("no session {session_id}"))),
        }
    }

    /// The first run of an idempotency key, from memory or (after a restart) from the store.
    async fn earlier_result(
        &self,
        principal: &str,
        key: &str,
    ) -> Result<Option<Earlier>, ApiError> {
        if let Some(first) = self.state.runs.idempotency.get(principal, key) {
            return Ok(Some(Earlier::Running(first.outcome)));
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
        match run.run_status() {
            // Still going, here or on another node (or from before a restart): wait for it.
            RunStatus::Queued | RunStatus::Started => {
                match self.state.runs.idempotency.get(principal, key) {
                    Some(first) => Ok(Some(Earlier::Running(first.outcome))),
                    None => Ok(Some(Earlier::Stored(run.id))),
                }
            }
            _ => Ok(Some(Earlier::Done(self.state.runs.result_of(run).await?))),
        }
    }
}

/// What an earlier call with the same idempotency key gives.
enum Earlier {
    /// It ended: its result.
    Done(ChatSendResult),
    /// It is still going: its outcome, to wait for.
    Running(watch::Receiver<Option<RunOutcome>>),
    /// It is stored and still going, but not from this node: wait for its end.
    Stored(String),
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
        _channel: Option<String>,
        idempotency_key: Option<String>,
    ) -> RpcResult<ChatSendResult> {
        let conn = caller(ext)?;
        if self.state.is_draining() {
            return Err(ApiError::Unavailable("the server is shutting down".to_owned()).into());
        }
        let message = match message {
            Some(Value::String(m)) if !m.trim().is_empty() => m,
            Some(Value::String(_)) => {
                return Err(ApiError::InvalidRequest("message is empty".to_owned()).into());
            }
            Some(_) => {
                return Err(ApiError::InvalidRequest("message must be a string".to_owned()).into());
            }
            None => return Err(ApiError::InvalidRequest("message is required".to_owned()).into()),
        };
        let max = self.state.config.limits.max_message_bytes;
        if message.len() > max {
            return Err(ApiError::PayloadTooLarge(format!("message is over {max} bytes")).into());
        }
        let principal = principal_key(&conn);
        if let Err(wait) = self.state.runs.limiter.check(&principal) {
            metrics::counter!(crate::telemetry::names::RATE_LIMITED, "limit" => "chat")
                .increment(1);
            return Err(ApiError::RateLimited {
                message: "too many chat.send calls; slow down".to_owned(),
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            }
            .into());
        }
        // Held until the run is queued: this connection's sends queue in the order they came.
        let order = conn.send_order.lock().await;
        let key = idempotency_key.filter(|k| !k.is_empty());
        if let Some(key) = &key
            && let Some(earlier) = self.earlier_result(&principal, key).await?
        {
            drop(order);
            return match earlier {
                Earlier::Done(result) => Ok(result),
                Earlier::Running(rx) => Ok(outcome(rx).await?),
                Earlier::Stored(run_id) => Ok(self.state.runs.stored_end(&run_id).await?),
            };
        }
        let session = self
            .session_for(&conn, agent_id, session_id, &message)
            .await?;
        let run_id = new_id("run");
        let (done, rx) = watch::channel(None);
        let done = std::sync::Arc::new(done);
        if let Some(key) = &key
            && let Err(first) = self.state.runs.idempotency.insert(
                &principal,
                key,
                FirstRun {
                    run_id: run_id.clone(),
                    outcome: rx.clone(),
                },
            )
        {
            drop(order);
            return Ok(outcome(first.outcome).await?);
        }
        // The caller's own connection gets the run's events without subscribing.
        self.state.hub.watch_run(&conn, &run_id);
        let submitted = self
            .state
            .runs
            .submit(RunRequest {
                run_id: run_id.clone(),
                session,
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
                // Another node runs it: follow it there, and tell this node's waiters.
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
        let result = match durable {
            Ok(()) => outcome(rx).await,
            // The run never was: the key is free again…
            Err(e) => {
                if let Some(key) = &key {
                    self.state.runs.idempotency.remove(&principal, key);
                }
                match (e, &key) {
                    // …unless another node's run took it first: that run's result is ours.
                    (ApiError::Conflict(m), Some(key)) if m == DUPLICATE_KEY => {
                        match self.earlier_result(&principal, key).await {
                            Ok(Some(Earlier::Done(result))) => Ok(result),
                            Ok(Some(Earlier::Running(rx))) => outcome(rx).await,
                            Ok(Some(Earlier::Stored(run))) => {
                                self.state.runs.stored_end(&run).await
                            }
                            Ok(None) => Err(ApiError::Conflict(m)),
                            Err(e) => Err(e),
                        }
                    }
                    (e, _) => Err(e),
                }
            }
        };
        self.state.hub.unwatch_run(&conn.id, &run_id);
        Ok(result?)
    }

    async fn abort(
        &self,
        _ext: &Extensions,
        session_id: String,
        run_id: Option<String>,
    ) -> RpcResult<AbortResult> {
        self.require_session(&session_id).await?;
        Ok(AbortResult {
            aborted: self
                .state
                .runs
                .abort(&session_id, run_id.as_deref())
                .await?,
        })
    }

    async fn history(
        &self,
        session_id: String,
        limit: Option<u64>,
        before: Option<i64>,
    ) -> RpcResult<History> {
        let limit = limit.unwrap_or(DEFAULT_HISTORY);
        if limit == 0 || limit > MAX_HISTORY {
            return Err(ApiError::InvalidRequest(format!("limit must be 1–{MAX_HISTORY}")).into());
        }
        self.require_session(&session_id).await?;
        let (messages, has_more) = self
            .state
            .store
            .list_messages(&session_id, limit, before)
            .await
            .map_err(ApiError::from)?;
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
