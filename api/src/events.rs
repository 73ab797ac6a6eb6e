//! The events the server pushes (SPEC §9): one [`Event`] variant per event name, each with its
//! payload as a struct, serialized as the wire has it (camelCase, GoClaw's snake_case where its
//! protocol fixes a name). A session event's payload is led by [`SessionHead`] — `sessionId`,
//! `runId`, `sessionSeq`, `ts` — which the session's log adds when it numbers the event.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::RunStatus;
use crate::types::Usage;

/// `$body` over the payload of `$event`, bound to `$p` whatever its type.
macro_rules! with_payload {
    ($event:expr, $p:ident => $body:expr) => {
        match $event {
            Event::Chat($p) => $body,
            Event::Agent($p) => $body,
            Event::ToolCall($p) => $body,
            Event::ToolOutput($p) => $body,
            Event::ToolResult($p) => $body,
            Event::ApprovalRequested($p) | Event::ApprovalResolved($p) => $body,
            Event::Usage($p) => $body,
            Event::SessionCreated($p) | Event::SessionUpdated($p) => $body,
            Event::SessionDeleted($p) => $body,
            Event::Shutdown($p) => $body,
        }
    };
}

/// One pushed event, with its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `chat`: text of the run's reply.
    Chat(ChatPayload),
    /// `agent`: a run's state changed.
    Agent(AgentPayload),
    /// `tool.call`: the agent calls a tool.
    ToolCall(ToolCallPayload),
    /// `tool.output`: output a tool streams while it runs.
    ToolOutput(ToolOutputPayload),
    /// `tool.result`: a tool call's result.
    ToolResult(ToolResultPayload),
    /// `approval.requested`: a tool call waits for `approvals.resolve`.
    ApprovalRequested(ApprovalPayload),
    /// `approval.resolved`: the decision on a tool call.
    ApprovalResolved(ApprovalPayload),
    /// `usage`: a run's tokens (and cost).
    Usage(Usage),
    /// `session.created` (topic `sessions`).
    SessionCreated(SessionSummary),
    /// `session.updated` (topic `sessions`).
    SessionUpdated(SessionSummary),
    /// `session.deleted` (topic `sessions`).
    SessionDeleted(SessionDeletedPayload),
    /// `shutdown`: sent to every connection before a graceful shutdown.
    Shutdown(ShutdownPayload),
}

impl Event {
    /// Every event name, in the order of the variants.
    pub const NAMES: [&'static str; 12] = [
        "chat",
        "agent",
        "tool.call",
        "tool.output",
        "tool.result",
        "approval.requested",
        "approval.resolved",
        "usage",
        "session.created",
        "session.updated",
        "session.deleted",
        "shutdown",
    ];

    /// The event's wire name.
    pub const fn name(&self) -> &'static str {
        match self {
            Event::Chat(_) => "chat",
            Event::Agent(_) => "agent",
            Event::ToolCall(_) => "tool.call",
            Event::ToolOutput(_) => "tool.output",
            Event::ToolResult(_) => "tool.result",
            Event::ApprovalRequested(_) => "approval.requested",
            Event::ApprovalResolved(_) => "approval.resolved",
            Event::Usage(_) => "usage",
            Event::SessionCreated(_) => "session.created",
            Event::SessionUpdated(_) => "session.updated",
            Event::SessionDeleted(_) => "session.deleted",
            Event::Shutdown(_) => "shutdown",
        }
    }

    /// Whether it is a session lifecycle event (topic `sessions`, not in a session's log).
    pub const fn is_lifecycle(&self) -> bool {
        matches!(
            self,
            Event::SessionCreated(_) | Event::SessionUpdated(_) | Event::SessionDeleted(_)
        )
    }

    /// The payload alone, serialized once: `{…}`.
    pub fn payload_json(&self) -> String {
        with_payload!(self, p => to_json(p))
    }

    /// The payload of the event as one event of a session's log, serialized once: `head`'s
    /// fields first (`sessionId`, `runId`, `sessionSeq`, `ts`), then the event's own. For the
    /// events of a session's log only (a lifecycle event's `sessionId` would appear twice).
    pub fn session_payload_json(&self, head: &SessionHead<'_>) -> String {
        with_payload!(self, p => to_json(&Headed { head, payload: p }))
    }

    /// Parses the payload of an event named `name` (`None`: no such event). The fields of a
    /// session event's [`SessionHead`] are ignored.
    pub fn from_payload(name: &str, payload: &str) -> Option<Result<Event, serde_json::Error>> {
        fn parse<'a, P: Deserialize<'a>>(
            payload: &'a str,
            variant: fn(P) -> Event,
        ) -> Result<Event, serde_json::Error> {
            serde_json::from_str(payload).map(variant)
        }
        Some(match name {
            "chat" => parse(payload, Event::Chat),
            "agent" => parse(payload, Event::Agent),
            "tool.call" => parse(payload, Event::ToolCall),
            "tool.output" => parse(payload, Event::ToolOutput),
            "tool.result" => parse(payload, Event::ToolResult),
            "approval.requested" => parse(payload, Event::ApprovalRequested),
            "approval.resolved" => parse(payload, Event::ApprovalResolved),
            "usage" => parse(payload, Event::Usage),
            "session.created" => parse(payload, Event::SessionCreated),
            "session.updated" => parse(payload, Event::SessionUpdated),
            "session.deleted" => parse(payload, Event::SessionDeleted),
            "shutdown" => parse(payload, Event::Shutdown),
            _ => return None,
        })
    }
}

/// `value` as JSON. The payloads hold strings, numbers, booleans and JSON values only, whose
/// serialization cannot fail; should it ever, the payload is an empty object.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

/// What leads the payload of every event of a session's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionHead<'a> {
    /// The session.
    pub session_id: &'a str,
    /// The run that emitted the event (`null` for none).
    pub run_id: Option<&'a str>,
    /// The event's number in the session's log.
    pub session_seq: i64,
    /// When the write that stored it began, unix ms.
    pub ts: i64,
}

/// A session event's payload: the head, then the event's own fields.
#[derive(Serialize)]
struct Headed<'a, P> {
    #[serde(flatten)]
    head: &'a SessionHead<'a>,
    #[serde(flatten)]
    payload: &'a P,
}

/// `chat`: `{delta, chunk}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPayload {
    /// The new text.
    pub delta: String,
    /// The text of this reply so far.
    pub chunk: String,
}

/// `agent`: `{agentId, status, run_id, error?, usage?}`. `run_id` repeats the head's `runId`
/// under GoClaw's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPayload {
    /// The session's agent.
    pub agent_id: String,
    /// The run's new state.
    pub status: RunStatus,
    /// The run (GoClaw's field name).
    #[serde(rename = "run_id")]
    pub run_id: String,
    /// Why the run failed or timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The run's tokens, once it has ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// `tool.call`: `{toolCallId, tool, input}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallPayload {
    /// The call's id.
    pub tool_call_id: String,
    /// The tool.
    pub tool: String,
    /// Its input.
    pub input: Value,
}

/// `tool.output`: `{toolCallId, tool, output}` — a piece of what the tool writes as it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolOutputPayload {
    /// The call's id.
    pub tool_call_id: String,
    /// The tool.
    pub tool: String,
    /// The piece of output.
    pub output: String,
}

/// `tool.result`: `{toolCallId, tool, output, isError}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultPayload {
    /// The call's id.
    pub tool_call_id: String,
    /// The tool.
    pub tool: String,
    /// Its result, or the error.
    pub output: Value,
    /// Whether `output` is an error.
    pub is_error: bool,
}

/// `approval.requested` and `approval.resolved`: `{approvalId, toolCallId, tool, input, risk}`,
/// and once resolved `approved`, `resolvedBy` and `reason?`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPayload {
    /// The approval's id.
    pub approval_id: String,
    /// The tool call waiting for it.
    pub tool_call_id: String,
    /// The tool.
    pub tool: String,
    /// The call's input.
    pub input: Value,
    /// `low`, `medium` or `high`.
    pub risk: String,
    /// Whether the call may run (resolved only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
    /// Who decided, `timeout` when nobody did (resolved only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    /// Why, if given (resolved only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A session as `session.created` and `session.updated` announce it. `createdAt` is in
/// `session.created` only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    /// Session id.
    pub id: String,
    /// Its agent.
    pub agent_id: String,
    /// Its creator.
    pub user_id: String,
    /// Its title.
    pub title: String,
    /// Creation time, unix ms (`session.created` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    /// Last change, unix ms.
    pub updated_at: i64,
    /// Stored messages.
    pub message_count: i64,
    /// The last `sessionSeq` (0: no events yet).
    pub last_seq: i64,
    /// Its session key, when it has one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `session.deleted`: `{id, agentId, sessionId}` (`sessionId` repeats `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDeletedPayload {
    /// Session id.
    pub id: String,
    /// Its agent.
    pub agent_id: String,
    /// The session id again.
    pub session_id: String,
}

/// `shutdown`: `{reason}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownPayload {
    /// Why the server goes away.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn head() -> SessionHead<'static> {
        SessionHead {
            session_id: "ses_1",
            run_id: Some("run_1"),
            session_seq: 7,
            ts: 1_764_500_000_123,
        }
    }

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or(Value::Null)
    }

    #[test]
    fn a_session_payload_starts_with_the_head_then_the_event_fields() {
        let event = Event::Chat(ChatPayload {
            delta: " w1".to_owned(),
            chunk: "w0 w1".to_owned(),
        });
        assert_eq!(
            event.session_payload_json(&head()),
            r#"{"sessionId":"ses_1","runId":"run_1","sessionSeq":7,"ts":1764500000123,"delta":" w1","chunk":"w0 w1"}"#
        );
        assert_eq!(event.payload_json(), r#"{"delta":" w1","chunk":"w0 w1"}"#);
    }

    #[test]
    fn an_event_without_a_run_has_a_null_run_id() {
        let head = SessionHead {
            run_id: None,
            ..head()
        };
        let event = Event::Usage(Usage::default());
        assert_eq!(
            parsed(&event.session_payload_json(&head)),
            json!({ "sessionId": "ses_1", "runId": null, "sessionSeq": 7, "ts": 1_764_500_000_123_i64, "input_tokens": 0, "output_tokens": 0 })
        );
    }

    #[test]
    fn agent_events_carry_run_id_beside_run_id_and_omit_what_they_lack() {
        let started = Event::Agent(AgentPayload {
            agent_id: "main".to_owned(),
            status: RunStatus::Started,
            run_id: "run_1".to_owned(),
            error: None,
            usage: None,
        });
        assert_eq!(
            parsed(&started.session_payload_json(&head())),
            json!({ "sessionId": "ses_1", "runId": "run_1", "sessionSeq": 7, "ts": 1_764_500_000_123_i64,
                    "agentId": "main", "status": "started", "run_id": "run_1" })
        );
        let failed = Event::Agent(AgentPayload {
            status: RunStatus::Timeout,
            error: Some("too slow".to_owned()),
            usage: Some(Usage {
                input_tokens: 1,
                output_tokens: 2,
                cost: Some(0.5),
            }),
            ..match started {
                Event::Agent(p) => p,
                _ => unreachable!(),
            }
        });
        assert_eq!(
            parsed(&failed.payload_json()),
            json!({ "agentId": "main", "status": "timeout", "run_id": "run_1", "error": "too slow",
                    "usage": { "input_tokens": 1, "output_tokens": 2, "cost": 0.5 } })
        );
    }

    #[test]
    fn an_approval_request_has_no_decision_fields_and_its_resolution_has_them() {
        let requested = ApprovalPayload {
            approval_id: "apr_1".to_owned(),
            tool_call_id: "call_1".to_owned(),
            tool: "exec".to_owned(),
            input: json!({ "command": "ls" }),
            risk: "high".to_owned(),
            approved: None,
            resolved_by: None,
            reason: None,
        };
        assert_eq!(
            parsed(&Event::ApprovalRequested(requested.clone()).payload_json()),
            json!({ "approvalId": "apr_1", "toolCallId": "call_1", "tool": "exec", "input": { "command": "ls" }, "risk": "high" })
        );
        let resolved = Event::ApprovalResolved(ApprovalPayload {
            approved: Some(false),
            resolved_by: Some("timeout".to_owned()),
            ..requested
        });
        assert_eq!(
            parsed(&resolved.payload_json()),
            json!({ "approvalId": "apr_1", "toolCallId": "call_1", "tool": "exec", "input": { "command": "ls" },
                    "risk": "high", "approved": false, "resolvedBy": "timeout" })
        );
    }

    #[test]
    fn session_summaries_have_created_at_only_when_created() {
        let updated = SessionSummary {
            id: "ses_1".to_owned(),
            agent_id: "main".to_owned(),
            user_id: "u".to_owned(),
            title: "hi".to_owned(),
            created_at: None,
            updated_at: 5,
            message_count: 2,
            last_seq: 9,
            key: None,
        };
        assert_eq!(
            parsed(&Event::SessionUpdated(updated.clone()).payload_json()),
            json!({ "id": "ses_1", "agentId": "main", "userId": "u", "title": "hi", "updatedAt": 5, "messageCount": 2, "lastSeq": 9 })
        );
        let created = Event::SessionCreated(SessionSummary {
            created_at: Some(4),
            ..updated.clone()
        });
        assert_eq!(
            parsed(&created.payload_json()),
            json!({ "id": "ses_1", "agentId": "main", "userId": "u", "title": "hi", "createdAt": 4, "updatedAt": 5, "messageCount": 2, "lastSeq": 9 })
        );
        assert!(created.is_lifecycle());
        let keyed = Event::SessionUpdated(SessionSummary {
            key: Some("agent:main:side".to_owned()),
            ..updated
        });
        assert_eq!(
            parsed(&keyed.payload_json()),
            json!({ "id": "ses_1", "agentId": "main", "userId": "u", "title": "hi", "updatedAt": 5, "messageCount": 2, "lastSeq": 9, "key": "agent:main:side" })
        );
    }

    #[test]
    fn every_event_parses_back_from_its_payload_under_its_name() {
        let events = [
            Event::Chat(ChatPayload {
                delta: "a".to_owned(),
                chunk: "a".to_owned(),
            }),
            Event::ToolCall(ToolCallPayload {
                tool_call_id: "c".to_owned(),
                tool: "calc".to_owned(),
                input: json!({ "expr": "2+2" }),
            }),
            Event::ToolOutput(ToolOutputPayload {
                tool_call_id: "c".to_owned(),
                tool: "exec".to_owned(),
                output: "x\n".to_owned(),
            }),
            Event::ToolResult(ToolResultPayload {
                tool_call_id: "c".to_owned(),
                tool: "calc".to_owned(),
                output: json!({ "value": 4 }),
                is_error: false,
            }),
            Event::SessionDeleted(SessionDeletedPayload {
                id: "ses_1".to_owned(),
                agent_id: "main".to_owned(),
                session_id: "ses_1".to_owned(),
            }),
            Event::Shutdown(ShutdownPayload {
                reason: "server shutting down".to_owned(),
            }),
        ];
        for event in events {
            let payload = match event {
                Event::SessionDeleted(_) | Event::Shutdown(_) => event.payload_json(),
                _ => event.session_payload_json(&head()),
            };
            let back = Event::from_payload(event.name(), &payload);
            assert_eq!(back.and_then(Result::ok), Some(event.clone()));
            assert!(Event::NAMES.contains(&event.name()));
        }
        assert!(Event::from_payload("connect.challenge", "{}").is_none());
    }
}
