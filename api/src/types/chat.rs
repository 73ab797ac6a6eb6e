//! Chat, sessions, agents and events.

use serde::{Deserialize, Serialize};

/// Token counts (GoClaw's field names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in.
    pub input_tokens: u64,
    /// Tokens out.
    pub output_tokens: u64,
    /// Cost, where the model has a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The agent finished its reply.
    EndTurn,
    /// `chat.abort`.
    Aborted,
}

/// `chat.send`'s reply, after the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatSendResult {
    /// The assistant's reply (partial when aborted).
    pub content: String,
    /// The session (new when none was given).
    pub session_id: String,
    /// The run.
    pub run_id: String,
    /// Tokens used.
    pub usage: Usage,
    /// Why the run stopped.
    pub stop_reason: StopReason,
}

/// `chat.start`'s reply, as soon as the run is durably queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatStartResult {
    /// The run (its events follow on the caller's connection).
    pub run_id: String,
    /// The session (new when none was given or the key was new).
    pub session_id: String,
    /// The session's key: its stored key, else `agent:<agentId>:<sessionId>`.
    pub session_key: String,
}

/// `chat.abort`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbortResult {
    /// Whether a run was aborted.
    pub aborted: bool,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageInfo {
    /// Message id (use as `before` for older pages).
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
    /// The run it belongs to.
    pub run_id: Option<String>,
    /// When, unix ms.
    pub created_at: i64,
    /// The run's usage, on assistant messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// `chat.history`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// Messages, oldest first.
    pub messages: Vec<MessageInfo>,
    /// Whether older messages remain.
    pub has_more: bool,
    /// The session, when it was named by `sessionKey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The session's key, when it was named by `sessionKey` (its stored key, else
    /// `agent:<agentId>:<sessionId>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_key: Option<String>,
}

/// A session's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// Its agent.
    pub agent_id: String,
    /// Its creator.
    pub user_id: String,
    /// Its title.
    pub title: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last change, unix ms.
    pub updated_at: i64,
    /// Stored messages.
    pub message_count: i64,
    /// Whether a run is in progress.
    pub running: bool,
    /// The last `sessionSeq` (0: no events yet).
    pub last_seq: i64,
    /// Its session key, when it has one (`agent:<agentId>:<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The last message's text, at most 120 characters (`sessions.list` with
    /// `includeLastMessage`, on sessions with messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_message_preview: Option<String>,
}

/// `sessions.list`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    /// Sessions, most recently updated first.
    pub sessions: Vec<SessionInfo>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `sessions.get`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetail {
    /// The summary.
    #[serde(flatten)]
    pub session: SessionInfo,
    /// The running run, if any.
    pub active_run_id: Option<String>,
    /// Runs waiting behind it.
    pub queued_runs: u64,
    /// Tokens and cost summed over the session's runs.
    pub usage: Usage,
}

/// `sessions.delete`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteResult {
    /// Always true (an unknown id is `NOT_FOUND`).
    pub deleted: bool,
}

/// One configured agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Agent id.
    pub id: String,
    /// `echo` or `openai`.
    pub kind: String,
    /// The model, for model-backed agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `agents.list`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentList {
    /// Every configured agent.
    pub agents: Vec<AgentInfo>,
}

/// One model, per configured agent (`models.list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The agent's model, else the agent's kind (`echo`).
    pub id: String,
    /// A name to show: the same.
    pub name: String,
    /// The agent's kind (`echo`, `openai`).
    pub provider: String,
    /// The agent that answers with it.
    pub agent_id: String,
}

/// `models.list`'s reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    /// One per configured agent.
    pub models: Vec<ModelInfo>,
}

/// `commands.list`'s reply: the gateway has no slash commands of its own (a client's are its
/// own), so the list is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CommandList {
    /// Always empty.
    pub commands: Vec<serde_json::Value>,
}

/// `question.list`'s reply: agents here ask no questions, so the list is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QuestionList {
    /// Always empty.
    pub questions: Vec<serde_json::Value>,
}

/// One pushed event: the name and its payload (session-scoped payloads carry `sessionId`,
/// `runId` and `sessionSeq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    /// `chat`, `agent`, `tool.call`, `tool.result`, `usage`, `session.created`, …
    pub event: String,
    /// The payload.
    pub payload: serde_json::Value,
}

/// One pending tool approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalInfo {
    /// Approval id.
    pub approval_id: String,
    /// The session of the run.
    pub session_id: String,
    /// The waiting run.
    pub run_id: String,
    /// The tool call.
    pub tool_call_id: String,
    /// The tool.
    pub tool: String,
    /// Its input.
    pub input: serde_json::Value,
    /// `low`, `medium` or `high`.
    pub risk: String,
    /// When it was asked, unix ms.
    pub created_at: i64,
}

/// `approvals.list`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalList {
    /// Pending approvals, oldest first.
    pub approvals: Vec<ApprovalInfo>,
}

/// `approvals.resolve`'s reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolveResult {
    /// Always true (an unknown or already resolved approval is `NOT_FOUND`).
    pub resolved: bool,
}
