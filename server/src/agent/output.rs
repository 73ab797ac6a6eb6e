//! `RunOutput`: what an agent streams into, over its run's [`RunLog`] — the run's side of its
//! session, which `runs/` provides. Each call writes one event to the session's log (durably,
//! with its `sessionSeq`) before it is published; the reply so far is kept here, so a run that
//! is aborted or times out still has its partial text.

use futures_util::future::BoxFuture;
use serde_json::Value;
use switchboard_api::Event;
use switchboard_api::events::{ChatPayload, ToolCallPayload, ToolOutputPayload, ToolResultPayload};
use switchboard_api::types::Usage;

use crate::approvals::{ApprovalRequest, Approvals, Decision};

/// Why an agent could not finish.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The event log could not be written.
    #[error("the store failed: {0}")]
    Store(String),
    /// The agent failed.
    #[error("{0}")]
    Failed(String),
}

/// One message of the session's transcript, as an agent reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A run's side of its session: where its events go, and what it may read of the session.
/// `runs/` implements it over the session's log writer and the store; an agent sees nothing
/// else of either.
pub trait RunLog: Send + Sync + std::fmt::Debug {
    /// The run's id.
    fn run_id(&self) -> &str;

    /// The run's session.
    fn session_id(&self) -> &str;

    /// Appends an event of the run (its payload led by `sessionId`, `runId`, `sessionSeq` and
    /// `ts`); answers its `sessionSeq` once it is stored and published.
    fn emit(&self, event: Event) -> BoxFuture<'_, Result<i64, AgentError>>;

    /// Queues an event of the run without waiting for it to be stored (only for room). A
    /// failure to store it is kept ([`RunLog::failure`]); every push after one fails at once.
    fn push(&self, event: Event) -> BoxFuture<'_, Result<(), AgentError>>;

    /// The first failure of a push, if any: it fails the run.
    fn failure(&self) -> Option<String>;

    /// The session's latest `limit` messages, oldest first (the run's own message included).
    fn recent_messages(&self, limit: u64) -> BoxFuture<'_, Result<Vec<PastMessage>, AgentError>>;
}

/// The stream of one run, and what its agent may use: the session's messages so far (through
/// its [`RunLog`]) and the approvals.
#[derive(Debug)]
pub struct RunOutput {
    log: Box<dyn RunLog>,
    /// Tool approvals.
    approvals: Approvals,
    /// The reply so far.
    pub content: String,
    /// Tokens counted so far.
    pub usage: Usage,
    /// Coalesced `chat` text not yet sent, and the `chunk` bytes sent so far (see
    /// [`CHAT_BYTES_BASE`]). A std mutex, never held across an `.await`: events of other kinds
    /// (emitted through `&self`) send it first, to keep the stream in order.
    coalesced: std::sync::Mutex<Coalesced>,
}

#[derive(Debug, Default)]
struct Coalesced {
    pending: String,
    chunk_bytes: usize,
}

/// A run's `chat` events carry at most `CHAT_BYTES_BASE + CHAT_BYTES_PER_BYTE × reply length`
/// bytes of `chunk` in all (plus the final flush). Each event repeats the reply so far, so one
/// event per word costs the square of the reply's length (a 64 KiB reply of one-letter words:
/// ~32 k events, ~1 GiB stored and sent to every subscriber). Up to the budget every delta is
/// its own event (replies of a few thousand words stream word by word); past it, deltas are
/// coalesced until the reply has grown enough to pay for another event — 1/16 of its length —
/// so the total stays linear in the reply's length.
pub const CHAT_BYTES_BASE: usize = 4 << 20;
/// See [`CHAT_BYTES_BASE`].
pub const CHAT_BYTES_PER_BYTE: usize = 16;

impl RunOutput {
    /// Output of the run behind `log`, asking `approvals` where a tool needs it.
    pub fn new(log: Box<dyn RunLog>, approvals: Approvals) -> RunOutput {
        RunOutput {
            log,
            approvals,
            content: String::new(),
            usage: Usage::default(),
            coalesced: std::sync::Mutex::default(),
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        self.log.run_id()
    }

    /// The run's session.
    pub fn session_id(&self) -> &str {
        self.log.session_id()
    }

    /// The first failure to store a pushed `chat` delta, if any: it fails the run.
    pub fn failure(&self) -> Option<String> {
        self.log.failure()
    }

    /// The session's latest `limit` messages, oldest first (this run's message included).
    pub async fn recent_messages(&self, limit: u64) -> Result<Vec<PastMessage>, AgentError> {
        self.log.recent_messages(limit).await
    }

    /// Emits a session event of this run (after any coalesced `chat` text, to keep order).
    pub async fn emit(&self, event: Event) -> Result<i64, AgentError> {
        self.flush_pending().await?;
        self.log.emit(event).await
    }

    /// Appends `delta` to the reply and emits a `chat` event `{delta, chunk}`. It does not
    /// wait for the event to be stored: the run's final event does (the log is FIFO), and a
    /// failure to store it fails the run.
    ///
    /// Within the run's budget (see [`CHAT_BYTES_BASE`]) every delta is its own event; past it
    /// the text is held until the reply has grown enough, and goes out with the next event
    /// (of any kind) or at the run's end.
    pub async fn delta(&mut self, delta: &str) -> Result<(), AgentError> {
        self.content.push_str(delta);
        let due = {
            let mut coalesced = self.coalesced();
            coalesced.pending.push_str(delta);
            let budget = CHAT_BYTES_BASE
                .saturating_add(CHAT_BYTES_PER_BYTE.saturating_mul(self.content.len()));
            coalesced.chunk_bytes.saturating_add(self.content.len()) <= budget
        };
        if due {
            self.flush_pending().await?;
        }
        Ok(())
    }

    /// Sends the coalesced `chat` text, if any (the run's end calls it). A failure is kept
    /// by the log ([`RunOutput::failure`]).
    pub async fn flush(&self) {
        let _ = self.flush_pending().await;
    }

    fn coalesced(&self) -> std::sync::MutexGuard<'_, Coalesced> {
        self.coalesced.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn flush_pending(&self) -> Result<(), AgentError> {
        let delta = {
            let mut coalesced = self.coalesced();
            if coalesced.pending.is_empty() {
                return Ok(());
            }
            coalesced.chunk_bytes = coalesced.chunk_bytes.saturating_add(self.content.len());
            std::mem::take(&mut coalesced.pending)
        };
        let chunk = self.content.clone();
        self.log
            .push(Event::Chat(ChatPayload { delta, chunk }))
            .await
    }

    /// Emits `tool.call`.
    pub async fn tool_call(
        &self,
        call_id: &str,
        tool: &str,
        input: &Value,
    ) -> Result<(), AgentError> {
        let call = Event::ToolCall(ToolCallPayload {
            tool_call_id: call_id.to_owned(),
            tool: tool.to_owned(),
            input: input.clone(),
        });
        self.emit(call).await.map(drop)
    }

    /// Emits `tool.output`: a piece of what a tool writes as it runs.
    pub async fn tool_output(
        &self,
        call_id: &str,
        tool: &str,
        output: &str,
    ) -> Result<(), AgentError> {
        let piece = Event::ToolOutput(ToolOutputPayload {
            tool_call_id: call_id.to_owned(),
            tool: tool.to_owned(),
            output: output.to_owned(),
        });
        self.emit(piece).await.map(drop)
    }

    /// Emits `tool.result`.
    pub async fn tool_result(
        &self,
        call_id: &str,
        tool: &str,
        output: &Value,
        is_error: bool,
    ) -> Result<(), AgentError> {
        let result = Event::ToolResult(ToolResultPayload {
            tool_call_id: call_id.to_owned(),
            tool: tool.to_owned(),
            output: output.clone(),
            is_error,
        });
        self.emit(result).await.map(drop)
    }

    /// Asks for approval of a tool call and waits for the decision (or `approvals.timeout_s`),
    /// announcing both in the session's log (`approval.requested`, `approval.resolved`).
    pub async fn request_approval(&self, req: ApprovalRequest<'_>) -> Result<Decision, AgentError> {
        let mut pending = self
            .approvals
            .open(self.session_id(), self.run_id(), req)
            .await
            .map_err(store_failed)?;
        self.emit(Event::ApprovalRequested(pending.requested()))
            .await?;
        let decision = pending.decision().await.map_err(store_failed)?;
        self.emit(Event::ApprovalResolved(pending.resolved(&decision)))
            .await?;
        Ok(decision)
    }
}

/// A store failure, as the agent reports it.
fn store_failed(e: impl std::fmt::Display) -> AgentError {
    AgentError::Store(e.to_string())
}
