//! The way out: answers reshaped for the requests that asked for it, events translated, and an
//! answer that starts a run always ahead of that run's events.

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use switchboard_api::{Role, catalogue};

use super::methods::Pending;
use super::{MAX_HELD, OPENCLAW_METHODS, OpenClaw, RunView, ok_frame, shapes};
use crate::ws::codec::to_frame_with;

/// How an event body from the hub starts.
const EVENT_BODY_PREFIX: &str = "{\"event\":";

/// The events an OpenClaw connection may see.
const EVENTS: &[&str] = &[
    "connect.challenge",
    "tick",
    "chat",
    "agent",
    "sessions.changed",
    "plugin.approval.requested",
    "plugin.approval.resolved",
    "shutdown",
    "tool.call",
    "tool.output",
    "tool.result",
];

#[derive(serde::Deserialize)]
struct ResponseHead<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
}

impl OpenClaw {
    /// One queued message (a JSON-RPC response or an event body) as the frames it becomes,
    /// appended to `frames`; `seq` counts the event frames written on this connection.
    pub(crate) fn outbound(
        &mut self,
        message: &RawValue,
        seq: &mut u64,
        subscribe_reply: &dyn Fn(&str) -> Option<String>,
        frames: &mut Vec<String>,
    ) {
        let text = message.get();
        if text.starts_with(EVENT_BODY_PREFIX) {
            if self.unanswered_starts > 0 {
                if self.held.len() >= MAX_HELD {
                    self.release_held(seq, frames);
                }
                self.held.push_back(message.to_owned());
                return;
            }
            self.event(text, seq, frames);
            return;
        }
        if !self.pending.is_empty()
            && let Ok(head) = serde_json::from_str::<ResponseHead<'_>>(text)
            && head.method.is_none()
            && let Some(id) = head.id.map(|id| id.get().to_owned())
            && let Some(pending) = self.pending.remove(&id)
        {
            let starts_a_run = pending.starts_a_run();
            self.reply(pending, &id, message, seq, subscribe_reply, frames);
            if starts_a_run {
                self.unanswered_starts = self.unanswered_starts.saturating_sub(1);
                if self.unanswered_starts == 0 {
                    self.release_held(seq, frames);
                }
            }
            return;
        }
        if let Some(frame) = to_frame_with(message, seq, subscribe_reply) {
            frames.push(frame);
        }
    }

    /// The held events, in order.
    fn release_held(&mut self, seq: &mut u64, frames: &mut Vec<String>) {
        while let Some(body) = self.held.pop_front() {
            self.event(body.get(), seq, frames);
        }
    }

    /// The answer to a request the dialect renamed, reshaped.
    fn reply(
        &mut self,
        pending: Pending,
        id: &str,
        message: &RawValue,
        seq: &mut u64,
        subscribe_reply: &dyn Fn(&str) -> Option<String>,
        frames: &mut Vec<String>,
    ) {
        let Ok(m) = serde_json::from_str::<Value>(message.get()) else {
            if let Some(frame) = to_frame_with(message, seq, subscribe_reply) {
                frames.push(frame);
            }
            return;
        };
        let Some(result) = m.get("result") else {
            // An error: some are OpenClaw's empty answers, the rest go out as they are.
            let not_found = m
                .pointer("/error/data/code")
                .and_then(Value::as_str)
                .is_some_and(|c| c == "NOT_FOUND");
            let empty = match (&pending, not_found) {
                (Pending::Describe, true) => Some(json!({ "session": null })),
                (Pending::History { key }, true) => Some(empty_history(key)),
                (Pending::Abort { .. }, true) => {
                    Some(json!({ "ok": true, "aborted": false, "runIds": [] }))
                }
                _ => None,
            };
            match empty {
                Some(payload) => frames.push(ok_frame(id, &payload)),
                None => {
                    if let Some(frame) = to_frame_with(message, seq, subscribe_reply) {
                        frames.push(frame);
                    }
                }
            }
            return;
        };
        let payload = match pending {
            Pending::Connect => self.hello(result),
            Pending::AgentsList => agents_list(result),
            Pending::SessionsList => self.sessions_list(result),
            Pending::Describe => {
                if let Some(row) = result.as_object().map(|_| result) {
                    self.remember_row(row);
                }
                json!({ "session": shapes::session_row(result) })
            }
            Pending::Subscribe => {
                let raw = result.to_string();
                let reply = subscribe_reply(&raw)
                    .and_then(|r| serde_json::from_str::<Value>(&r).ok())
                    .and_then(|r| r.get("subscriptionId").cloned())
                    .unwrap_or_else(|| result.clone());
                self.sessions_subscription = Some(reply);
                json!({ "subscribed": true })
            }
            Pending::Unsubscribe => json!({ "subscribed": false }),
            Pending::History { key } => self.history(result, &key),
            Pending::Send { client_run_id } => {
                self.started(result, &client_run_id, None);
                json!({ "runId": client_run_id, "status": "started" })
            }
            Pending::Agent { client_run_id } => {
                let view = self.started(result, &client_run_id, Some(id));
                json!({
                    "runId": client_run_id,
                    "sessionKey": view.0,
                    "agentId": view.1,
                    "status": "accepted",
                    "acceptedAt": switchboard_storage::now_ms(),
                })
            }
            Pending::Abort { client_run_id, key } => {
                let aborted = result
                    .get("aborted")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let run_ids: Vec<String> = match (aborted, client_run_id) {
                    (false, _) => Vec::new(),
                    (true, Some(client)) => vec![client],
                    (true, None) => self
                        .runs
                        .values()
                        .filter(|v| key.as_deref() == Some(v.session_key.as_str()))
                        .map(|v| v.client_id.clone())
                        .collect(),
                };
                json!({ "ok": true, "aborted": aborted, "runIds": run_ids })
            }
            Pending::ApprovalList => {
                let list = result
                    .get("approvals")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                Value::Array(
                    list.iter()
                        .map(|a| {
                            let session = a.get("sessionId").and_then(Value::as_str);
                            let key = self.key_of(session.unwrap_or_default(), None);
                            let agent = agent_of_key(&key);
                            shapes::approval(a, &key, &agent, self.approval_timeout_ms)
                        })
                        .collect(),
                )
            }
            Pending::ApprovalResolve => {
                let mut out = result.as_object().cloned().unwrap_or_default();
                out.insert("ok".into(), json!(true));
                Value::Object(out)
            }
            Pending::Config => json!({
                "config": result, "runtimeConfig": result, "valid": true,
                "issues": [], "warnings": [],
            }),
        };
        frames.push(ok_frame(id, &payload));
    }

    /// Follows a run `chat.start` queued for this connection; returns its key and agent.
    fn started(
        &mut self,
        result: &Value,
        client_run_id: &str,
        agent_request: Option<&str>,
    ) -> (String, String) {
        let run_id = result
            .get("runId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let session_id = result
            .get("sessionId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = result
            .get("sessionKey")
            .and_then(Value::as_str)
            .map_or_else(|| self.key_of(&session_id, None), str::to_owned);
        self.remember_key(&session_id, &key);
        let agent = agent_of_key(&key);
        self.remember_client_id(run_id, client_run_id);
        if self.own_updates.len() >= super::MAX_KEYS && !self.own_updates.contains_key(&session_id)
        {
            self.own_updates.clear();
        }
        *self.own_updates.entry(session_id.clone()).or_default() += 1;
        let view = self.run_view(run_id, &session_id, Some(&agent));
        view.client_id = client_run_id.to_owned();
        view.session_key.clone_from(&key);
        if let Some(request) = agent_request {
            view.agent_request = Some(request.to_owned());
        }
        (key, agent)
    }

    /// `hello-ok` as OpenClaw's clients require it.
    fn hello(&mut self, result: &Value) -> Value {
        let mut out = result.as_object().cloned().unwrap_or_default();
        let role = result
            .get("role")
            .and_then(Value::as_str)
            .and_then(|r| r.parse::<Role>().ok())
            .unwrap_or(Role::Viewer);
        self.set_role(role);
        let scopes: &[&str] = match role {
            Role::Admin => &[
                "operator.admin",
                "operator.read",
                "operator.write",
                "operator.approvals",
            ],
            Role::Operator => &["operator.read", "operator.write", "operator.approvals"],
            Role::Viewer => &["operator.read"],
        };
        let mut methods: Vec<&str> = OPENCLAW_METHODS
            .iter()
            .filter(|(_, target)| {
                catalogue::lookup(target).is_some_and(|m| m.access.allows(Some(role)))
            })
            .map(|(name, _)| *name)
            .collect();
        for name in catalogue::methods_for(role) {
            if !methods.contains(&name) {
                methods.push(name);
            }
        }
        out.insert("protocol".into(), json!(4));
        out.insert(
            "auth".into(),
            json!({ "method": "token", "role": "operator", "scopes": scopes }),
        );
        let mut features = out
            .get("features")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        features.insert("methods".into(), json!(methods));
        features.insert("events".into(), json!(EVENTS));
        features.insert("capabilities".into(), json!([]));
        out.insert("features".into(), Value::Object(features));
        let mut snapshot = out
            .get("snapshot")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        snapshot.insert(
            "sessionDefaults".into(),
            json!({
                "defaultAgentId": shapes::DEFAULT_AGENT,
                "mainKey": "main",
                "mainSessionKey": format!("agent:{}:main", shapes::DEFAULT_AGENT),
                "scope": "per-sender",
                "ownership": "sole",
                "selectionRequired": false,
            }),
        );
        snapshot.insert("authMode".into(), json!("token"));
        let uptime = u64::try_from(self.server_started.elapsed().as_millis()).unwrap_or(u64::MAX);
        snapshot.insert("uptimeMs".into(), json!(uptime));
        out.insert("snapshot".into(), Value::Object(snapshot));
        Value::Object(out)
    }

    /// `sessions.list` with OpenClaw's rows.
    fn sessions_list(&mut self, result: &Value) -> Value {
        let rows = result
            .get("sessions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for row in &rows {
            self.remember_row(row);
        }
        let sessions: Vec<Value> = rows.iter().map(shapes::session_row).collect();
        let has_more = result.get("nextCursor").is_some_and(|c| !c.is_null());
        json!({
            "ts": switchboard_storage::now_ms(),
            "count": sessions.len(),
            "hasMore": has_more,
            "nextCursor": result.get("nextCursor").cloned().unwrap_or(Value::Null),
            "defaults": { "modelProvider": "switchboard", "model": shapes::DEFAULT_AGENT },
            "sessions": sessions,
        })
    }

    /// `chat.history` in OpenClaw's shape.
    fn history(&mut self, result: &Value, asked_key: &str) -> Value {
        let key = result
            .get("sessionKey")
            .and_then(Value::as_str)
            .unwrap_or(asked_key)
            .to_owned();
        let session_id = result.get("sessionId").and_then(Value::as_str);
        if let Some(id) = session_id {
            self.remember_key(id, &key);
        }
        let messages: Vec<Value> = result
            .get("messages")
            .and_then(Value::as_array)
            .map(|m| {
                m.iter()
                    .map(|m| {
                        let run = m.get("runId").and_then(Value::as_str);
                        let client = run.and_then(|r| self.client_ids.get(r)).map(String::as_str);
                        shapes::message(m, client)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let active: Vec<String> = self
            .runs
            .values()
            .filter(|v| Some(v.session_id.as_str()) == session_id)
            .map(|v| v.client_id.clone())
            .collect();
        json!({
            "sessionKey": key,
            "sessionId": session_id,
            "messages": messages,
            "hasMore": result.get("hasMore").cloned().unwrap_or(json!(false)),
            "totalMessages": messages.len(),
            "sessionInfo": {
                "key": key,
                "sessionId": session_id,
                "agentId": agent_of_key(&key),
                "hasActiveRun": !active.is_empty(),
                "activeRunIds": active,
            },
        })
    }

    /// Remembers the key of one of our session rows.
    pub(super) fn remember_row(&mut self, row: &Value) {
        if let Some(id) = row.get("id").and_then(Value::as_str) {
            let key = shapes::key_of_row(row);
            self.remember_key(id, &key);
        }
    }

    /// The final answer of an `agent` request, once its run ended.
    pub(super) fn agent_final(view: &RunView, status: &str, error: Option<&str>) -> Option<String> {
        let request = view.agent_request.as_deref()?;
        let (status, summary) = match status {
            "completed" => ("ok", "completed"),
            "aborted" => ("aborted", "aborted"),
            "timeout" => ("timeout", "timed out"),
            _ => ("error", error.unwrap_or("failed")),
        };
        let duration = switchboard_storage::now_ms().saturating_sub(view.started_at);
        let payload = json!({
            "runId": view.client_id,
            "status": status,
            "summary": summary,
            "result": {
                "payloads": [{ "text": view.text, "mediaUrl": null }],
                "meta": { "durationMs": duration, "aborted": status == "aborted" },
            },
        });
        Some(ok_frame(request, &payload))
    }
}

/// `agents.list` with the fields `openclaw agent` reads.
fn agents_list(result: &Value) -> Value {
    let mut out = result.as_object().cloned().unwrap_or_else(Map::new);
    let agents = out
        .get("agents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_main = agents
        .iter()
        .any(|a| a.get("id").and_then(Value::as_str) == Some(shapes::DEFAULT_AGENT));
    let default_id = if has_main {
        Some(shapes::DEFAULT_AGENT.to_owned())
    } else {
        agents
            .first()
            .and_then(|a| a.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    out.insert("defaultId".into(), json!(default_id));
    out.insert("mainKey".into(), json!("main"));
    out.insert("scope".into(), json!("per-sender"));
    out.insert("ownership".into(), json!("sole"));
    out.insert("selectionRequired".into(), json!(false));
    Value::Object(out)
}

/// `chat.history` of a key with no session yet.
fn empty_history(key: &str) -> Value {
    json!({
        "sessionKey": key,
        "messages": [],
        "hasMore": false,
        "totalMessages": 0,
        "sessionInfo": {
            "key": key,
            "agentId": agent_of_key(key),
            "updatedAt": null,
            "hasActiveRun": false,
            "activeRunIds": [],
        },
    })
}

/// The agent of `agent:<agent>:<rest>`.
fn agent_of_key(key: &str) -> String {
    key.strip_prefix("agent:")
        .and_then(|rest| rest.split(':').next())
        .filter(|a| !a.is_empty())
        .unwrap_or(shapes::DEFAULT_AGENT)
        .to_owned()
}
