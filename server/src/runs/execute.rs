//! A session's worker: takes its queued runs in order and runs each to its end — completed,
//! aborted, timed out or failed — storing the reply and the run's state before announcing the
//! outcome.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use switchboard_api::events::{AgentPayload, SessionSummary};
use switchboard_api::types::{ChatSendResult, StopReason};
use switchboard_api::{ErrorCode, Event, RunStatus};
use switchboard_storage::{NewMessage, RunChange, RunFinish, SessionRecord, now_ms};
use tokio::sync::mpsc;

use super::output::RunSide;
use super::{Inner, LogEvent, Pending, QueuedRun, RunOutcome, SessionLog, WORKER_IDLE};
use crate::agent::{AgentError, RunOutput};
use crate::hub::HubEvent;
use crate::telemetry::names;

/// How a run's agent stopped.
enum Ending {
    Completed,
    Aborted,
    Timeout,
    Interrupted,
    Failed(AgentError),
    /// The agent panicked: the correlation id of the log line.
    Panicked(String),
}

/// The worker loop of one session; stops after [`WORKER_IDLE`] without runs. Runs come in the
/// order they were accepted; each starts only once it is stored (a run whose write failed was
/// refused to its caller and is skipped).
pub(super) async fn work(inner: Arc<Inner>, session_id: String, mut rx: mpsc::Receiver<QueuedRun>) {
    // With many nodes, a session's worker may start where a lost node left runs unfinished.
    if inner.leases.is_some() {
        let log = inner.lock().get(&session_id).map(|e| e.log.clone());
        if let Some(log) = log {
            super::recover::lost_runs(&inner, &session_id, &log).await;
        }
    }
    loop {
        let mut run = match tokio::time::timeout(WORKER_IDLE, rx.recv()).await {
            Ok(Some(run)) => run,
            Ok(None) => return,
            Err(_idle) => {
                let mut sessions = inner.lock();
                let idle = sessions
                    .get(&session_id)
                    .is_some_and(|e| e.active.is_none() && e.waiting.is_empty() && rx.is_empty());
                if idle {
                    let entry = sessions.remove(&session_id);
                    if let (Some(leases), Some(token)) =
                        (inner.leases.as_ref(), entry.and_then(|e| e.lease))
                    {
                        leases.release(&session_id, token);
                    }
                    return;
                }
                continue;
            }
        };
        let stored = (&mut run.recorded).await.unwrap_or(false);
        let log = {
            let mut sessions = inner.lock();
            let Some(entry) = sessions.get_mut(&session_id) else {
                return;
            };
            entry.waiting.retain(|p| p.run_id != run.run_id);
            if !stored {
                continue;
            }
            entry.active = Some(Pending {
                run_id: run.run_id.clone(),
                cancel: run.cancel.clone(),
                interrupted: run.interrupted.clone(),
            });
            entry.log.clone()
        };
        let outcome = execute(&inner, &log, &run).await;
        if let Some(entry) = inner.lock().get_mut(&session_id) {
            entry.active = None;
        }
        let _ = run.done.send(Some(outcome));
    }
}

/// Watches a session's worker: should it ever die (a bug outside the agent, whose panics are
/// caught per run), the session's entry is dropped, so the next `chat.send` starts a fresh
/// worker instead of finding a dead one. Runs it held end for their callers as lost
/// (`UNAVAILABLE`), and in the store at the next start.
pub(super) async fn supervise(
    inner: Arc<Inner>,
    session_id: String,
    tx: mpsc::Sender<QueuedRun>,
    worker: tokio::task::JoinHandle<()>,
) {
    let Err(e) = worker.await else { return };
    let id = crate::rpc::correlation_id();
    tracing::error!(correlation_id = %id, session = %session_id, error = %e, "a session worker died; the session gets a new one");
    let mut sessions = inner.lock();
    if sessions
        .get(&session_id)
        .is_some_and(|entry| entry.tx.same_channel(&tx))
    {
        sessions.remove(&session_id);
    }
}

async fn execute(inner: &Inner, log: &SessionLog, run: &QueuedRun) -> RunOutcome {
    let side = RunSide::new(
        log.clone(),
        inner.store.clone(),
        &run.session_id,
        &run.run_id,
    );
    let mut out = RunOutput::new(Box::new(side), inner.approvals.clone());
    let stopped = || {
        if run.interrupted.load(std::sync::atomic::Ordering::Acquire) {
            Ending::Interrupted
        } else {
            Ending::Aborted
        }
    };
    let mut started = false;
    let ending = if run.cancel.is_cancelled() {
        stopped()
    } else {
        match start(log, run).await {
            Err(e) => Ending::Failed(e),
            Ok(()) => {
                started = true;
                tracing::info!(session = %run.session_id, run = %run.run_id, agent = %run.agent_id, "run started");
                let Some(agent) = inner.agents.get(&run.agent_id) else {
                    return failed(ErrorCode::NotFound, format!("no agent {}", run.agent_id));
                };
                // A panic in the agent (its tools, its parsers) ends this run, not the worker.
                let agent_run = AssertUnwindSafe(agent.run(&run.message, &mut out)).catch_unwind();
                tokio::select! {
                    result = agent_run => match result {
                        Ok(Ok(())) => Ending::Completed,
                        Ok(Err(e)) => Ending::Failed(e),
                        Err(panic) => Ending::Panicked(panicked(run, panic.as_ref())),
                    },
                    () = tokio::time::sleep(inner.run_timeout) => Ending::Timeout,
                    () = run.cancel.cancelled() => stopped(),
                }
            }
        }
    };
    finish(inner, log, run, out, ending, started).await
}

/// Logs a panic of a run's agent with a correlation id, which the run's error names.
fn panicked(run: &QueuedRun, panic: &(dyn std::any::Any + Send)) -> String {
    let id = crate::rpc::correlation_id();
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(correlation_id = %id, session = %run.session_id, run = %run.run_id, panic = %what, "a run's agent panicked");
    id
}

/// The user's message as it joins the transcript.
fn prompt(run: &QueuedRun) -> Box<NewMessage> {
    Box::new(NewMessage {
        session_id: run.session_id.clone(),
        run_id: Some(run.run_id.clone()),
        role: "user".to_owned(),
        content: run.message.clone(),
        created_at: now_ms(),
        usage: None,
    })
}

/// Marks the run started and emits `agent` `started`, in one write.
async fn start(log: &SessionLog, run: &QueuedRun) -> Result<(), AgentError> {
    let event = LogEvent::of_run(
        &run.run_id,
        Event::Agent(AgentPayload {
            agent_id: run.agent_id.clone(),
            status: RunStatus::Started,
            run_id: run.run_id.clone(),
            error: None,
            usage: None,
        }),
    );
    let change = RunChange::Started {
        run_id: run.run_id.clone(),
        at: now_ms(),
        prompt: prompt(run),
    };
    log.emit_all(vec![event], vec![change])
        .await
        .map_err(|e| AgentError::Store(e.to_string()))?;
    Ok(())
}

/// Stores the reply and the run's end, emits `usage` and the final `agent` event, tells the
/// `sessions` topic, and returns the outcome.
async fn finish(
    inner: &Inner,
    log: &SessionLog,
    run: &QueuedRun,
    out: RunOutput,
    ending: Ending,
    started: bool,
) -> RunOutcome {
    out.flush().await;
    // A `chat` delta that could not be stored fails a run that otherwise completed.
    let ending = match (ending, out.failure()) {
        (Ending::Completed, Some(detail)) => Ending::Failed(AgentError::Store(detail)),
        (ending, _) => ending,
    };
    let (status, stop_reason, error) = match &ending {
        Ending::Completed => (RunStatus::Completed, Some(StopReason::EndTurn), None),
        Ending::Aborted => (RunStatus::Aborted, Some(StopReason::Aborted), None),
        Ending::Timeout => (
            RunStatus::Timeout,
            None,
            Some(format!(
                "the run exceeded agents.run_timeout_s ({} s)",
                inner.run_timeout.as_secs()
            )),
        ),
        Ending::Interrupted => (
            RunStatus::Failed,
            None,
            Some("interrupted by shutdown".to_owned()),
        ),
        Ending::Failed(e) => (RunStatus::Failed, None, Some(e.to_string())),
        Ending::Panicked(id) => (
            RunStatus::Failed,
            None,
            Some(format!("internal error (correlation id {id})")),
        ),
    };
    let usage = out.usage;
    metrics::counter!(names::RUNS, "status" => status.as_str()).increment(1);
    metrics::counter!(names::TOKENS_STREAMED).increment(usage.output_tokens);
    metrics::histogram!(names::RUN_DURATION).record(run.queued_at.elapsed().as_secs_f64());
    let agent_event = Event::Agent(AgentPayload {
        agent_id: run.agent_id.clone(),
        status,
        run_id: run.run_id.clone(),
        error: error.clone(),
        usage: Some(usage),
    });
    let events = vec![
        LogEvent::of_run(&run.run_id, Event::Usage(usage)),
        LogEvent::of_run(&run.run_id, agent_event),
    ];
    let mut change = run_end(run, &out, status, stop_reason, error.clone());
    if let (false, RunChange::Finished { prompt: p, .. }) = (started, &mut change) {
        *p = Some(prompt(run));
    }
    tracing::info!(
        session = %run.session_id,
        run = %run.run_id,
        agent = %run.agent_id,
        status = status.as_str(),
        duration_ms = u64::try_from(run.queued_at.elapsed().as_millis()).unwrap_or(u64::MAX),
        input_tokens = usage.input_tokens,
        output_tokens = usage.output_tokens,
        "run ended"
    );
    let write = std::time::Instant::now();
    let stored = log.emit_all(events, vec![change]).await;
    crate::telemetry::record_store("finish_run", write.elapsed());
    let stored = match stored {
        Ok(appended) => {
            announce_update(inner, &run.session_id, appended.session).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = stored {
        tracing::warn!(run = %run.run_id, error = %e, "could not store the end of a run");
        return failed(
            ErrorCode::Unavailable,
            "the store failed while saving the reply".to_owned(),
        );
    }
    match (ending, stop_reason) {
        (Ending::Completed | Ending::Aborted, Some(stop_reason)) => {
            RunOutcome::Finished(ChatSendResult {
                content: out.content,
                session_id: run.session_id.clone(),
                run_id: run.run_id.clone(),
                usage,
                stop_reason,
            })
        }
        (Ending::Timeout, _) => failed(ErrorCode::Timeout, error.unwrap_or_default()),
        (Ending::Interrupted, _) => {
            failed(ErrorCode::Unavailable, "interrupted by shutdown".to_owned())
        }
        (Ending::Panicked(id), _) => failed(ErrorCode::Internal, id),
        (Ending::Failed(AgentError::Store(_)), _) => failed(
            ErrorCode::Unavailable,
            "the store failed during the run".to_owned(),
        ),
        (_, _) => failed(
            ErrorCode::Unavailable,
            format!("the run failed: {}", error.unwrap_or_default()),
        ),
    }
}

/// The run's end and its reply (when there is any, or when the run completed); the store adds
/// its usage to the session's totals.
fn run_end(
    run: &QueuedRun,
    out: &RunOutput,
    status: RunStatus,
    stop_reason: Option<StopReason>,
    error: Option<String>,
) -> RunChange {
    let now = now_ms();
    let input = i64::try_from(out.usage.input_tokens).unwrap_or(i64::MAX);
    let output = i64::try_from(out.usage.output_tokens).unwrap_or(i64::MAX);
    let reply = (!out.content.is_empty() || status == RunStatus::Completed).then(|| {
        Box::new(NewMessage {
            session_id: run.session_id.clone(),
            run_id: Some(run.run_id.clone()),
            role: "assistant".to_owned(),
            content: out.content.clone(),
            created_at: now,
            usage: Some((input, output, out.usage.cost)),
        })
    });
    RunChange::Finished {
        run_id: run.run_id.clone(),
        prompt: None,
        finish: Box::new(RunFinish {
            status,
            stop_reason: stop_reason.map(|r| match r {
                StopReason::EndTurn => "end_turn".to_owned(),
                StopReason::Aborted => "aborted".to_owned(),
            }),
            error,
            input_tokens: input,
            output_tokens: output,
            cost: out.usage.cost.unwrap_or(0.0),
            finished_at: now,
        }),
        reply,
    }
}

/// Tells the `sessions` topic about the session as the run's last write left it (read again
/// only if the write did not return it).
pub(super) async fn announce_update(
    inner: &Inner,
    session_id: &str,
    session: Option<SessionRecord>,
) {
    let session = match session {
        Some(session) => Some(session),
        None => inner.store.get_session(session_id).await.ok().flatten(),
    };
    if let Some(session) = session {
        let updated = Event::SessionUpdated(SessionSummary {
            id: session.id.clone(),
            agent_id: session.agent_id.clone(),
            user_id: session.user_id,
            title: session.title,
            created_at: None,
            updated_at: session.updated_at,
            message_count: session.message_count,
            last_seq: session.last_seq,
            key: session.key,
        });
        inner.bus.lifecycle(&HubEvent::lifecycle(
            &session.id,
            &session.agent_id,
            &updated,
        ));
    }
}

fn failed(code: ErrorCode, message: String) -> RunOutcome {
    RunOutcome::Failed { code, message }
}
