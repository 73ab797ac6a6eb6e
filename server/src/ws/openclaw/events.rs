//! Our events as OpenClaw's: `chat` deltas with the text so far, `agent` lifecycle frames, a
//! terminal `chat` (`final`/`aborted`/`error`), `sessions.changed`, plugin approvals. Every
//! frame written counts in the connection's `seq`; nothing is dropped (what has no OpenClaw
//! form goes out as it is), except a run's `queued` state, which OpenClaw does not know.

use serde_json::{Value, json};

use super::{OpenClaw, RunView, event_frame, shapes};

#[derive(serde::Deserialize)]
struct Body {
    event: String,
    payload: Value,
}

fn str_of<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

/// When an event was stored (`ts`), else now.
fn ts_of(payload: &Value) -> i64 {
    payload
        .get("ts")
        .and_then(Value::as_i64)
        .unwrap_or_else(switchboard_storage::now_ms)
}

impl RunView {
    /// `fields` with the run's head: `runId` (the client's), `sessionKey`, `sessionId`,
    /// `agentId`.
    fn frame(&self, mut fields: Value) -> Value {
        fields["runId"] = json!(self.client_id);
        fields["sessionKey"] = json!(self.session_key);
        fields["sessionId"] = json!(self.session_id);
        fields["agentId"] = json!(self.agent_id);
        fields
    }
}

impl OpenClaw {
    /// One hub event body as the frames it becomes.
    pub(super) fn event(&mut self, body: &str, seq: &mut u64, frames: &mut Vec<String>) {
        let Ok(Body { event, payload }) = serde_json::from_str::<Body>(body) else {
            return;
        };
        match event.as_str() {
            "chat" => self.chat(&payload, seq, frames),
            "agent" => self.agent(&payload, seq, frames),
            "session.created" | "session.updated" | "session.deleted" => {
                let reason = event.trim_start_matches("session.");
                let reason = match reason {
                    "created" => "create",
                    "deleted" => "delete",
                    _ => "update",
                };
                if reason != "delete" {
                    self.remember_row(&payload);
                }
                let session_id = str_of(&payload, "id").unwrap_or_default();
                let key = self.key_of(session_id, str_of(&payload, "agentId"));
                let mut out = json!({
                    "sessionKey": key,
                    "sessionId": session_id,
                    "agentId": payload.get("agentId").cloned().unwrap_or(Value::Null),
                    "reason": reason,
                    "ts": payload.get("updatedAt").cloned()
                        .unwrap_or_else(|| json!(switchboard_storage::now_ms())),
                });
                if reason == "update" && !self.own_update(session_id) {
                    // Another client's run stored its messages: OpenClaw's "transcript
                    // changed" (no message identity), on which a client showing the session
                    // reloads its history — how a TUI sees replies to other clients. (Its own
                    // runs it has seen live: a reload would only redraw them.)
                    out["phase"] = json!("message");
                }
                if reason != "delete" {
                    let row = shapes::session_row(&payload);
                    out["updatedAt"] = row.get("updatedAt").cloned().unwrap_or(Value::Null);
                    out["session"] = row;
                }
                frames.push(event_frame("sessions.changed", &out, seq));
            }
            "approval.requested" => {
                let session_id = str_of(&payload, "sessionId").unwrap_or_default();
                let key = self.key_of(session_id, None);
                let agent = self
                    .runs
                    .get(str_of(&payload, "runId").unwrap_or_default())
                    .map_or_else(|| shapes::DEFAULT_AGENT.to_owned(), |v| v.agent_id.clone());
                let out = shapes::approval(&payload, &key, &agent, self.approval_timeout_ms);
                frames.push(event_frame("plugin.approval.requested", &out, seq));
            }
            "approval.resolved" => {
                let approved = payload.get("approved").and_then(Value::as_bool) == Some(true);
                let out = json!({
                    "id": payload.get("approvalId").cloned().unwrap_or(Value::Null),
                    "decision": if approved { "allow-once" } else { "deny" },
                    "resolvedBy": payload.get("resolvedBy").cloned().unwrap_or(Value::Null),
                });
                frames.push(event_frame("plugin.approval.resolved", &out, seq));
            }
            "usage" => self.usage(&payload, seq, frames),
            _ => frames.push(event_frame(&event, &payload, seq)),
        }
    }

    /// A run's tokens: OpenClaw's `agent` frame with `stream:"usage"`.
    fn usage(&mut self, payload: &Value, seq: &mut u64, frames: &mut Vec<String>) {
        let (Some(run_id), Some(session_id)) =
            (str_of(payload, "runId"), str_of(payload, "sessionId"))
        else {
            frames.push(event_frame("usage", payload, seq));
            return;
        };
        let ts = ts_of(payload);
        let view = self.run_view(run_id, session_id, None);
        view.seq += 1;
        let mut data = json!({
            "inputTokens": payload.get("input_tokens").cloned().unwrap_or(json!(0)),
            "outputTokens": payload.get("output_tokens").cloned().unwrap_or(json!(0)),
        });
        if let Some(cost) = payload.get("cost").filter(|c| !c.is_null()) {
            data["cost"] = cost.clone();
        }
        let out = view.frame(json!({
            "stream": "usage",
            "data": data,
            "seq": view.seq,
            "ts": ts,
        }));
        frames.push(event_frame("agent", &out, seq));
    }

    /// Whether an update of `session_id` is the end of a run this connection started.
    fn own_update(&mut self, session_id: &str) -> bool {
        match self.own_updates.get_mut(session_id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    self.own_updates.remove(session_id);
                }
                true
            }
            _ => false,
        }
    }

    /// A `chat` delta: `deltaText` and the whole text so far as `message`.
    fn chat(&mut self, payload: &Value, seq: &mut u64, frames: &mut Vec<String>) {
        let (Some(run_id), Some(session_id)) =
            (str_of(payload, "runId"), str_of(payload, "sessionId"))
        else {
            frames.push(event_frame("chat", payload, seq));
            return;
        };
        let ts = ts_of(payload);
        let view = self.run_view(run_id, session_id, None);
        view.seq += 1;
        if let Some(chunk) = str_of(payload, "chunk") {
            chunk.clone_into(&mut view.text);
        }
        let out = view.frame(json!({
            "seq": view.seq,
            "state": "delta",
            "deltaText": payload.get("delta").cloned().unwrap_or(json!("")),
            "message": {
                "role": "assistant",
                "content": [{ "type": "text", "text": view.text }],
                "timestamp": ts,
            },
        }));
        frames.push(event_frame("chat", &out, seq));
    }

    /// An `agent` state: OpenClaw's lifecycle frame, and at the end the terminal `chat` (and
    /// the final answer of an `agent` request).
    fn agent(&mut self, payload: &Value, seq: &mut u64, frames: &mut Vec<String>) {
        let run_id = str_of(payload, "runId").or_else(|| str_of(payload, "run_id"));
        let (Some(run_id), Some(session_id), Some(status)) = (
            run_id,
            str_of(payload, "sessionId"),
            str_of(payload, "status"),
        ) else {
            frames.push(event_frame("agent", payload, seq));
            return;
        };
        let ts = ts_of(payload);
        let error = str_of(payload, "error");
        let run_id = run_id.to_owned();
        let view = self.run_view(&run_id, session_id, str_of(payload, "agentId"));
        let data = match status {
            "queued" => return,
            "started" => {
                view.started_at = ts;
                json!({ "phase": "start", "startedAt": ts })
            }
            "completed" => json!({ "phase": "end", "startedAt": view.started_at, "endedAt": ts,
                "stopReason": "stop", "aborted": false }),
            "aborted" => json!({ "phase": "end", "startedAt": view.started_at, "endedAt": ts,
                "status": "cancelled", "stopReason": "rpc", "aborted": true }),
            _ => json!({ "phase": "error", "startedAt": view.started_at, "endedAt": ts,
                "error": error.unwrap_or(status) }),
        };
        view.seq += 1;
        let lifecycle = view.frame(json!({
            "stream": "lifecycle",
            "data": data,
            "seq": view.seq,
            "ts": ts,
        }));
        frames.push(event_frame("agent", &lifecycle, seq));
        if status == "started" {
            return;
        }
        view.seq += 1;
        let message = json!({
            "role": "assistant",
            "content": [{ "type": "text", "text": view.text }],
            "timestamp": ts,
        });
        let mut chat = view.frame(json!({
            "seq": view.seq,
        }));
        match status {
            "completed" => {
                chat["state"] = json!("final");
                chat["stopReason"] = json!("stop");
                chat["message"] = message;
            }
            "aborted" => {
                chat["state"] = json!("aborted");
                chat["stopReason"] = json!("rpc");
                chat["message"] = message;
            }
            other => {
                chat["state"] = json!("error");
                chat["errorMessage"] = json!(error.unwrap_or(other));
                if other == "timeout" {
                    chat["errorKind"] = json!("timeout");
                }
            }
        }
        frames.push(event_frame("chat", &chat, seq));
        if let Some(view) = self.runs.remove(&run_id)
            && let Some(frame) = OpenClaw::agent_final(&view, status, error)
        {
            frames.push(frame);
        }
    }
}
