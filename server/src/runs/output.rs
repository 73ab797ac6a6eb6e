//! `RunSide`: a run's [`RunLog`], the agent's side of its session — events through the
//! session's log writer, the transcript so far from the store.

use futures_util::future::BoxFuture;
use switchboard_api::Event;
use switchboard_storage::Store;

use super::{LogEvent, PushFailure, SessionLog};
use crate::agent::{AgentError, PastMessage, RunLog};

/// One run's side of its session.
#[derive(Debug)]
pub(super) struct RunSide {
    log: SessionLog,
    store: Store,
    session_id: String,
    run_id: String,
    /// The first failure of a push (the log writer's, or the push's own).
    failure: PushFailure,
}

impl RunSide {
    /// Run `run_id` of `session_id`, writing to `log`, reading from `store`.
    pub(super) fn new(log: SessionLog, store: Store, session_id: &str, run_id: &str) -> RunSide {
        RunSide {
            log,
            store,
            session_id: session_id.to_owned(),
            run_id: run_id.to_owned(),
            failure: PushFailure::default(),
        }
    }
}

fn store_failed(e: impl std::fmt::Display) -> AgentError {
    AgentError::Store(e.to_string())
}

impl RunLog for RunSide {
    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn session_id(&self) -> &str {
        &self.session_id
    }

    fn emit(&self, event: Event) -> BoxFuture<'_, Result<i64, AgentError>> {
        Box::pin(async move {
            self.log
                .emit(Some(&self.run_id), event)
                .await
                .map_err(store_failed)
        })
    }

    fn push(&self, event: Event) -> BoxFuture<'_, Result<(), AgentError>> {
        Box::pin(async move {
            let event = LogEvent::of_run(&self.run_id, event);
            self.log.push(event, &self.failure).await.map_err(|e| {
                // Kept (unless one was already): a push that could not even be queued fails
                // the run too.
                let _ = self.failure.set(e.to_string());
                store_failed(e)
            })
        })
    }

    fn failure(&self) -> Option<String> {
        self.failure.get().cloned()
    }

    fn recent_messages(&self, limit: u64) -> BoxFuture<'_, Result<Vec<PastMessage>, AgentError>> {
        Box::pin(async move {
            let (messages, _) = self
                .store
                .list_messages(&self.session_id, limit, None)
                .await
                .map_err(store_failed)?;
            Ok(messages
                .into_iter()
                .map(|m| PastMessage {
                    role: m.role,
                    content: m.content,
                })
                .collect())
        })
    }
}
