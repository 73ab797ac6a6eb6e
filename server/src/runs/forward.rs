//! Runs from any node (many nodes): a `chat.send` or `chat.abort` that reaches a node which
//! does not run the session is queued here if the session's lease is free (this node takes
//! it), and otherwise forwarded to the node that holds the lease, over the broker's
//! request/reply. The caller then follows the run through the event bus: its final `agent`
//! event, wherever the run executes, ends the wait, and the result is read from the store.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_api::types::{ChatSendResult, StopReason, Usage};
use switchboard_api::{ErrorCode, RunStatus};
use switchboard_storage::{RunRecord, now_ms};
use tokio::sync::watch;

use super::{Queued, RunManager, RunRequest};
use crate::hub::RunEnd;
use crate::hub::broker::{BrokerError, Handlers};
use crate::rpc::ApiError;

/// How long a node waits for the owner to queue a forwarded run (stored) or abort one.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a caller following a run elsewhere also looks at the store (in case its final
/// event could not be heard).
const POLL: Duration = Duration::from_secs(1);

/// Where a submitted run went.
#[derive(Debug)]
pub enum Submitted {
    /// Queued on this node: await [`Queued::durable`], then its outcome.
    Here(Queued),
    /// Queued, and stored, on the node that holds the session's lease: await
    /// [`RunManager::remote_outcome`].
    Elsewhere(RemoteRun),
}

/// A run queued on another node.
#[derive(Debug)]
pub struct RemoteRun {
    /// The run.
    pub run_id: String,
    /// The node it runs on.
    pub node_id: String,
    end: RunEnd,
}

/// The request a node sends to the session's owner.
fn submit_body(req: &RunRequest) -> Value {
    json!({
        "runId": req.run_id,
        "sessionId": req.session.id,
        "message": req.message,
        "principal": req.principal,
        "idempotencyKey": req.idempotency_key,
    })
}

fn refused(e: &ApiError) -> Value {
    json!({ "error": { "code": e.code(), "message": e.to_string() } })
}

/// The error an answer carries, if any.
fn answer_error(answer: &Value) -> Option<ApiError> {
    let error = answer.get("error")?;
    let message = error["message"].as_str().unwrap_or("").to_owned();
    let code =
        serde_json::from_value::<ErrorCode>(error["code"].clone()).unwrap_or(ErrorCode::Internal);
    Some(api_error(code, message))
}

fn api_error(code: ErrorCode, message: String) -> ApiError {
    match code {
        ErrorCode::InvalidRequest => ApiError::InvalidRequest(message),
        ErrorCode::Unauthorized => ApiError::Unauthorized(message),
        ErrorCode::Forbidden => ApiError::Forbidden(message),
        ErrorCode::NotFound => ApiError::NotFound(message),
        ErrorCode::Conflict => ApiError::Conflict(message),
        ErrorCode::RateLimited => ApiError::RateLimited {
            message,
            retry_after_ms: 1000,
        },
        ErrorCode::PayloadTooLarge => ApiError::PayloadTooLarge(message),
        ErrorCode::Timeout => ApiError::Timeout(message),
        ErrorCode::Unavailable => ApiError::Unavailable(message),
        ErrorCode::Internal => ApiError::InternalLogged(message),
    }
}

fn unreachable(session_id: &str, e: &BrokerError) -> ApiError {
    ApiError::Unavailable(format!(
        "the node running session {session_id} cannot be reached ({e}); retry"
    ))
}

/// [`RunManager::submit`] with many nodes.
pub(super) async fn submit(runs: &RunManager, req: RunRequest) -> Result<Submitted, ApiError> {
    let Some(leases) = runs.inner.leases.as_ref() else {
        return runs.queue_here(req, None).map(Submitted::Here);
    };
    // A lost owner's lease lapses within `lease_s`: wait for that rather than fail.
    let deadline = tokio::time::Instant::now() + leases.duration() + Duration::from_secs(2);
    loop {
        if runs.runs_here(&req.session.id) {
            return runs.queue_here(req, None).map(Submitted::Here);
        }
        let lease = leases.acquire(&req.session.id).await?;
        if lease.node_id == leases.node_id() {
            return runs.queue_here(req, Some(lease.token)).map(Submitted::Here);
        }
        let end = runs.inner.bus.run_end(&req.run_id);
        let asked = runs
            .inner
            .bus
            .broker()
            .request(
                &lease.node_id,
                "runs.submit",
                submit_body(&req),
                FORWARD_TIMEOUT,
            )
            .await;
        match asked {
            Ok(answer) if answer["queued"] == true => {
                return Ok(Submitted::Elsewhere(RemoteRun {
                    run_id: req.run_id.clone(),
                    node_id: lease.node_id,
                    end,
                }));
            }
            Ok(answer) => {
                if let Some(e) = answer_error(&answer) {
                    return Err(e);
                }
                // Not the owner any more: look again.
            }
            Err(e @ BrokerError::NoAnswer(_)) | Err(e @ BrokerError::Unreachable(_)) => {
                return Err(unreachable(&req.session.id, &e));
            }
            Err(e @ BrokerError::NodeGone(_)) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(unreachable(&req.session.id, &e));
                }
                let lapse =
                    Duration::from_millis(u64::try_from(lease.expires_at - now_ms()).unwrap_or(0));
                tokio::time::sleep(
                    lapse.clamp(Duration::from_millis(50), Duration::from_millis(500)),
                )
                .await;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::Unavailable(format!(
                "the node running session {} keeps changing; retry",
                req.session.id
            )));
        }
    }
}

/// [`RunManager::abort`] for a session this node does not run: asks the lease's holder.
pub(super) async fn abort(
    runs: &RunManager,
    session_id: &str,
    run_id: Option<&str>,
) -> Result<bool, ApiError> {
    let Some(lease) = runs.inner.store.lease(session_id).await? else {
        return Ok(false);
    };
    if runs
        .inner
        .leases
        .as_ref()
        .is_some_and(|l| l.node_id() == lease.node_id)
    {
        return Ok(runs.abort_here(session_id, run_id));
    }
    let answer = runs
        .inner
        .bus
        .broker()
        .request(
            &lease.node_id,
            "runs.abort",
            json!({ "sessionId": session_id, "runId": run_id }),
            FORWARD_TIMEOUT,
        )
        .await;
    match answer {
        Ok(answer) => Ok(answer["aborted"] == true),
        // A node that is gone runs nothing: its runs are failed once its lease lapses.
        Err(BrokerError::NodeGone(_)) => Ok(false),
        Err(e) => Err(unreachable(session_id, &e)),
    }
}

/// Answers other nodes' `runs.submit`, `runs.abort` and `runs.abort_all`.
pub(super) fn register(runs: &RunManager, handlers: &Handlers) {
    let manager = runs.clone();
    handlers.on_request(
        "runs.submit",
        std::sync::Arc::new(move |body: Value| {
            let runs = manager.clone();
            Box::pin(async move { serve_submit(&runs, body).await })
        }),
    );
    let manager = runs.clone();
    handlers.on_request(
        "runs.abort",
        std::sync::Arc::new(move |body: Value| {
            let aborted = manager.abort_here(
                body["sessionId"].as_str().unwrap_or(""),
                body["runId"].as_str(),
            );
            Box::pin(async move { json!({ "aborted": aborted }) })
        }),
    );
    let manager = runs.clone();
    handlers.on_notice(
        "runs.abort_all",
        std::sync::Arc::new(move |body: Value| {
            if let Some(session_id) = body["sessionId"].as_str() {
                manager.abort_all_here(session_id);
            }
        }),
    );
}

/// Queues a run another node forwarded, if this node runs (or may run) the session.
async fn serve_submit(runs: &RunManager, body: Value) -> Value {
    if runs
        .inner
        .closing
        .load(std::sync::atomic::Ordering::Acquire)
    {
        return refused(&ApiError::Unavailable(
            "the node running this session is shutting down; retry in a moment".to_owned(),
        ));
    }
    let (Some(run_id), Some(session_id), Some(message), Some(principal)) = (
        body["runId"].as_str(),
        body["sessionId"].as_str(),
        body["message"].as_str(),
        body["principal"].as_str(),
    ) else {
        return refused(&ApiError::InvalidRequest(
            "a malformed forwarded run".to_owned(),
        ));
    };
    let session = match runs.inner.store.get_session(session_id).await {
        Ok(Some(session)) => session,
        Ok(None) => return refused(&ApiError::NotFound(format!("no session {session_id}"))),
        Err(e) => return refused(&ApiError::from(e)),
    };
    let (done, _) = watch::channel(None);
    let req = RunRequest {
        run_id: run_id.to_owned(),
        done: std::sync::Arc::new(done),
        session,
        message: message.to_owned(),
        principal: principal.to_owned(),
        idempotency_key: body["idempotencyKey"].as_str().map(str::to_owned),
    };
    let lease = if runs.runs_here(session_id) {
        None
    } else {
        let Some(leases) = runs.inner.leases.as_ref() else {
            return json!({ "notOwner": true });
        };
        match leases.acquire(session_id).await {
            Ok(lease) if lease.node_id == leases.node_id() => Some(lease.token),
            Ok(_) => return json!({ "notOwner": true }),
            Err(e) => return refused(&ApiError::from(e)),
        }
    };
    let queued = match runs.queue_here(req, lease) {
        Ok(queued) => queued,
        Err(e) => return refused(&e),
    };
    match queued.durable().await {
        Ok(()) => json!({ "queued": true }),
        Err(e) => refused(&e),
    }
}

impl RunManager {
    /// Waits for a run queued on another node to end, and answers its result from the store.
    pub async fn remote_outcome(&self, run: RemoteRun) -> Result<ChatSendResult, ApiError> {
        let ended = self.await_end(&run.run_id, run.end).await;
        self.result_of(ended?).await
    }

    /// Waits for a stored run (queued or running anywhere) to end: the run as it ended.
    pub async fn stored_end(&self, run_id: &str) -> Result<ChatSendResult, ApiError> {
        let end = self.inner.bus.run_end(run_id);
        let ended = self.await_end(run_id, end).await;
        self.result_of(ended?).await
    }

    async fn await_end(&self, run_id: &str, mut end: RunEnd) -> Result<RunRecord, ApiError> {
        let mut heard = false;
        loop {
            if let Some(run) = self.inner.store.get_run(run_id).await?
                && !matches!(run.run_status(), RunStatus::Queued | RunStatus::Started)
            {
                return Ok(run);
            }
            if heard {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            tokio::select! {
                () = end.ended() => heard = true,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// The result a finished run gives its callers.
    pub async fn result_of(&self, run: RunRecord) -> Result<ChatSendResult, ApiError> {
        match run.run_status() {
            RunStatus::Completed | RunStatus::Aborted => {
                let reply = self.inner.store.assistant_message_for_run(&run.id).await?;
                Ok(ChatSendResult {
                    content: reply.map(|m| m.content).unwrap_or_default(),
                    session_id: run.session_id.clone(),
                    run_id: run.id.clone(),
                    usage: Usage {
                        input_tokens: u64::try_from(run.input_tokens).unwrap_or(0),
                        output_tokens: u64::try_from(run.output_tokens).unwrap_or(0),
                        cost: (run.cost > 0.0).then_some(run.cost),
                    },
                    stop_reason: if run.run_status() == RunStatus::Aborted {
                        StopReason::Aborted
                    } else {
                        StopReason::EndTurn
                    },
                })
            }
            RunStatus::Timeout => Err(ApiError::Timeout(run.error.unwrap_or_default())),
            RunStatus::Failed => Err(ApiError::Unavailable(format!(
                "the run failed: {}",
                run.error.unwrap_or_default()
            ))),
            RunStatus::Queued | RunStatus::Started => Err(ApiError::Conflict(
                "the run is still in progress".to_owned(),
            )),
        }
    }
}
