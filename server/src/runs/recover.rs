//! Runs a lost node left behind (many nodes): when a node starts a session's worker, it first
//! ends every run of the session that is queued or started in the store but not in its own
//! queue — the node that held them stopped renewing its lease. Each ends `failed` with an
//! `agent` event "node lost"; a started run keeps its partial reply (the last `chunk` its
//! `chat` events carried), a queued one puts its message into the transcript.

use std::collections::HashSet;

use switchboard_api::events::AgentPayload;
use switchboard_api::{Event, RunStatus};
use switchboard_storage::{NewMessage, RunChange, RunFinish, now_ms};

use super::{Inner, LogEvent, SessionLog};

/// The error of a run whose node was lost.
pub(super) const NODE_LOST: &str = "node lost: the node running it stopped";

/// Fails the runs of `session_id` that this node does not hold.
pub(super) async fn lost_runs(inner: &Inner, session_id: &str, log: &SessionLog) {
    let stored = match inner.store.unfinished_runs(session_id).await {
        Ok(runs) => runs,
        Err(e) => {
            tracing::warn!(session = %session_id, error = %e, "could not read the runs of a lost node");
            return;
        }
    };
    let ours: HashSet<String> = match inner.lock().get(session_id) {
        Some(entry) => entry
            .active
            .iter()
            .chain(entry.waiting.iter())
            .map(|p| p.run_id.clone())
            .collect(),
        None => HashSet::new(),
    };
    for run in stored.into_iter().filter(|r| !ours.contains(&r.id)) {
        let now = now_ms();
        let started = run.run_status() == RunStatus::Started;
        let partial = if started {
            inner
                .store
                .last_chunk(session_id, &run.id)
                .await
                .ok()
                .flatten()
                .filter(|c| !c.is_empty())
        } else {
            None
        };
        let message = |role: &str, content: String, at: i64| {
            Box::new(NewMessage {
                session_id: session_id.to_owned(),
                run_id: Some(run.id.clone()),
                role: role.to_owned(),
                content,
                created_at: at,
                usage: None,
            })
        };
        let prompt = (!started)
            .then(|| run.message.clone())
            .flatten()
            .map(|m| message("user", m, run.created_at));
        let reply = partial.map(|text| message("assistant", text, now));
        let change = RunChange::Finished {
            run_id: run.id.clone(),
            prompt,
            reply,
            finish: Box::new(RunFinish {
                status: RunStatus::Failed,
                stop_reason: Some("error".to_owned()),
                error: Some(NODE_LOST.to_owned()),
                input_tokens: run.input_tokens,
                output_tokens: run.output_tokens,
                cost: run.cost,
                finished_at: now,
            }),
        };
        let event = LogEvent::of_run(
            &run.id,
            Event::Agent(AgentPayload {
                agent_id: run.agent_id.clone(),
                status: RunStatus::Failed,
                run_id: run.id.clone(),
                error: Some(NODE_LOST.to_owned()),
                usage: None,
            }),
        );
        match log.emit_all(vec![event], vec![change]).await {
            Ok(appended) => {
                tracing::warn!(session = %session_id, run = %run.id, "failed a run of a lost node");
                super::execute::announce_update(inner, session_id, appended.session).await;
            }
            Err(e) => {
                tracing::warn!(session = %session_id, run = %run.id, error = %e, "could not fail a run of a lost node");
            }
        }
    }
}
