//! `RunOutput`: what an agent streams into. Each call writes one event to the session's log
//! (durably, with its `sessionSeq`) before it is published; the reply so far is kept here, so a
//! run that is aborted or times out still has its partial text.

use serde_json::{Map, Value, json};
use switchboard_api::types::Usage;

use crate::runs::{LogEvent, PushFailure, SessionLog};

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

/// The stream of one run, and what its agent may use: the store (for the conversation so far)
/// and the approvals.
#[derive(Debug)]
pub struct RunOutput {
    log: SessionLog,
    run_id: String,
    session_id: String,
    /// The store.
    pub store: switchboard_storage::Store,
    /// Tool approvals.
    pub approvals: crate::approvals::Approvals,
    /// The reply so far.
    pub content: String,
    /// Tokens counted so far.
    pub usage: Usage,
    /// The first failure to store a pushed `chat` delta.
    pub failure: PushFailure,
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
    /// Output of run `run_id` of `session_id` into `log`.
    pub fn new(
        log: SessionLog,
        run_id: String,
        session_id: String,
        store: switchboard_storage::Store,
        approvals: crate::approvals::Approvals,
    ) -> RunOutput {
        RunOutput {
            log,
            run_id,
            session_id,
            store,
            approvals,
            content: String::new(),
            usage: Usage::default(),
            failure: PushFailure::default(),
            coalesced: std::sync::Mutex::default(),
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run's session.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Emits a session event of this run (after any coalesced `chat` text, to keep order).
    pub async fn emit(
        &self,
        name: &'static str,
        fields: Map<String, Value>,
    ) -> Result<i64, AgentError> {
        self.flush_pending().await?;
        self.log
            .emit(Some(&self.run_id), name, fields)
            .await
            .map_err(|e| AgentError::Store(e.to_string()))
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

    /// Sends the coalesced `chat` text, if any (the run's end calls it).
    pub async fn flush(&self) {
        if let Err(e) = self.flush_pending().await {
            let _ = self.failure.set(e.to_string());
        }
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
        let event = LogEvent {
            run_id: Some(self.run_id.clone()),
            name: "chat",
            fields: fields(json!({ "delta": delta, "chunk": self.content })),
        };
        self.log
            .push(event, &self.failure)
            .await
            .map_err(|e| AgentError::Store(e.to_string()))
    }

    /// Emits `tool.call`.
    pub async fn tool_call(
        &self,
        call_id: &str,
        tool: &str,
        input: &Value,
    ) -> Result<(), AgentError> {
        let fields = fields(json!({ "toolCallId": call_id, "tool": tool, "input": input }));
        self.emit("tool.call", fields).await.map(drop)
    }

    /// Emits `tool.result`.
    pub async fn tool_result(
        &self,
        call_id: &str,
        tool: &str,
        output: &Value,
        is_error: bool,
    ) -> Result<(), AgentError> {
        let fields = fields(
            json!({ "toolCallId": call_id, "tool": tool, "output": output, "isError": is_error }),
        );
        self.emit("tool.result", fields).await.map(drop)
    }
}

/// The fields of a JSON object literal.
pub(crate) fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
