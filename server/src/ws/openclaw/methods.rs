//! OpenClaw's method names and what each becomes: a method of the one set, with its params
//! renamed. The gate checks the target, so an OpenClaw method's role is its target's role
//! (OpenClaw's own scope table, mapped: `operator.read` → viewer, `operator.write` and
//! `operator.approvals` → operator, `operator.admin` → admin).

use jsonrpsee::types::Id;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use switchboard_api::{Role, catalogue};

use super::{OpenClaw, Rewritten, error_frame, id_key, shapes};

/// Every OpenClaw method the dialect serves and the method of ours it calls.
pub const OPENCLAW_METHODS: &[(&str, &str)] = &[
    ("health", "health"),
    ("status", "status"),
    ("agents.list", "agents.list"),
    ("models.list", "models.list"),
    ("commands.list", "commands.list"),
    ("question.list", "question.list"),
    ("config.get", "config.public"),
    ("sessions.list", "sessions.list"),
    ("sessions.describe", "sessions.get"),
    ("sessions.subscribe", "subscribe"),
    ("sessions.unsubscribe", "unsubscribe"),
    ("chat.history", "chat.history"),
    ("chat.send", "chat.start"),
    ("chat.abort", "chat.abort"),
    ("agent", "chat.start"),
    ("plugin.approval.list", "approvals.list"),
    ("plugin.approval.resolve", "approvals.resolve"),
];

/// The README's table of OpenClaw methods (Markdown).
pub fn markdown_table() -> String {
    let mut out = String::from("| OpenClaw method | calls | minimum role |\n|---|---|---|\n");
    for (name, target) in OPENCLAW_METHODS {
        let role = catalogue::lookup(target).map_or("(none)", |m| m.access.as_str());
        let target = if *name == "config.get" {
            "`config.public` (admin: `config.get`)".to_owned()
        } else {
            format!("`{target}`")
        };
        out.push_str(&format!("| `{name}` | {target} | {role} |\n"));
    }
    out
}

/// A request whose answer the dialect reshapes.
#[derive(Debug)]
pub(super) enum Pending {
    Connect,
    AgentsList,
    SessionsList,
    Describe,
    Subscribe,
    Unsubscribe,
    History {
        key: String,
    },
    Send {
        client_run_id: String,
    },
    Agent {
        client_run_id: String,
    },
    Abort {
        client_run_id: Option<String>,
        key: Option<String>,
    },
    ApprovalList,
    ApprovalResolve,
    Config,
}

impl Pending {
    /// Whether its answer starts a run (events of runs wait for it).
    pub(super) fn starts_a_run(&self) -> bool {
        matches!(self, Pending::Send { .. } | Pending::Agent { .. })
    }
}

impl OpenClaw {
    /// The connection's role, from `connect`'s answer.
    pub(super) fn set_role(&mut self, role: Role) {
        self.role = Some(role);
    }

    /// What the request `id`/`method`/`params` becomes on this connection.
    pub(crate) fn rewrite(
        &mut self,
        id: &Id<'_>,
        method: String,
        params: Option<Box<RawValue>>,
    ) -> Rewritten {
        if method == "connect" {
            // A second `connect` on this connection is answered in the dialect too.
            self.pending.insert(id_key(id), Pending::Connect);
            return Rewritten::Call { method, params };
        }
        let target = OPENCLAW_METHODS
            .iter()
            .find(|(name, _)| *name == method)
            .map(|(_, target)| *target);
        let Some(target) = target else {
            // Our own names work as they are; anything else is unknown, named.
            if catalogue::lookup(&method).is_some() {
                return Rewritten::Call { method, params };
            }
            return Rewritten::Answered(error_frame(
                id,
                "INVALID_REQUEST",
                &format!("unknown method: {method}"),
            ));
        };
        let key = id_key(id);
        if self.pending.contains_key(&key) {
            return Rewritten::Answered(error_frame(
                id,
                "INVALID_REQUEST",
                "a request with this id is still in flight",
            ));
        }
        let mut p = match params
            .as_deref()
            .map(|p| serde_json::from_str::<Value>(p.get()))
        {
            None => Map::new(),
            Some(Ok(Value::Object(map))) => map,
            Some(Ok(Value::Null)) => Map::new(),
            Some(Ok(_)) => {
                return Rewritten::Answered(error_frame(
                    id,
                    "INVALID_REQUEST",
                    "params must be an object",
                ));
            }
            Some(Err(e)) => {
                return Rewritten::Answered(error_frame(
                    id,
                    "INVALID_REQUEST",
                    &format!("invalid params: {e}"),
                ));
            }
        };
        let (target, pending, params) = match method.as_str() {
            "agents.list" => (target, Some(Pending::AgentsList), Map::new()),
            "config.get" => {
                let target = if self.role == Some(Role::Admin) {
                    "config.get"
                } else {
                    target
                };
                (target, Some(Pending::Config), Map::new())
            }
            "sessions.list" => {
                let mut out = Map::new();
                copy(&p, &mut out, &["agentId", "limit"]);
                if p.get("includeLastMessage").and_then(Value::as_bool) == Some(true) {
                    out.insert("includeLastMessage".into(), Value::Bool(true));
                }
                if let Some(limit) = out.get("limit").and_then(Value::as_u64) {
                    out.insert("limit".into(), json!(limit.clamp(1, shapes::MAX_LIST)));
                }
                (target, Some(Pending::SessionsList), out)
            }
            "sessions.describe" => {
                let key = take_key(&mut p, "key");
                let mut out = Map::new();
                out.insert("sessionKey".into(), key_value(key, &p));
                (target, Some(Pending::Describe), out)
            }
            "sessions.subscribe" => {
                if self.sessions_subscription.is_some() {
                    // One subscription however often it is asked for.
                    let payload = json!({ "subscribed": true });
                    return Rewritten::Answered(super::ok_frame(&key, &payload));
                }
                (
                    target,
                    Some(Pending::Subscribe),
                    Map::from_iter([("topic".to_owned(), json!("sessions"))]),
                )
            }
            "sessions.unsubscribe" => {
                let Some(sub) = self.sessions_subscription.take() else {
                    let payload = json!({ "subscribed": false });
                    return Rewritten::Answered(super::ok_frame(&key, &payload));
                };
                (
                    target,
                    Some(Pending::Unsubscribe),
                    Map::from_iter([("subscriptionId".to_owned(), sub)]),
                )
            }
            "chat.history" => {
                let session_key = session_key_of(&mut p).map(|k| key_value(Some(k), &p));
                let mut out = Map::new();
                copy(&p, &mut out, &["limit"]);
                if let Some(limit) = out.get("limit").and_then(Value::as_u64) {
                    out.insert("limit".into(), json!(limit.clamp(1, shapes::MAX_HISTORY)));
                }
                let pending = Pending::History {
                    key: session_key
                        .as_ref()
                        .and_then(Value::as_str)
                        .map(shapes::normalise_key)
                        .unwrap_or_default(),
                };
                insert_session(&mut out, session_key, &p);
                (target, Some(pending), out)
            }
            "chat.send" | "agent" => {
                let client_run_id = match p.get("idempotencyKey").and_then(Value::as_str) {
                    Some(k) if !k.is_empty() => k.to_owned(),
                    _ => shapes::fresh_run_id(),
                };
                let mut out = Map::new();
                copy(&p, &mut out, &["message", "agentId"]);
                out.insert("idempotencyKey".into(), json!(client_run_id));
                let session_key = session_key_of(&mut p).or_else(|| {
                    // `openclaw agent` without a session: the agent's main session.
                    (method == "agent" && !p.contains_key("sessionId")).then(|| {
                        let agent = p
                            .get("agentId")
                            .and_then(Value::as_str)
                            .unwrap_or(shapes::DEFAULT_AGENT);
                        json!(format!("agent:{agent}:main"))
                    })
                });
                insert_session(&mut out, session_key, &p);
                let pending = if method == "agent" {
                    Pending::Agent { client_run_id }
                } else {
                    Pending::Send { client_run_id }
                };
                (target, Some(pending), out)
            }
            "chat.abort" => {
                let session_key = session_key_of(&mut p).map(|k| key_value(Some(k), &p));
                let key = session_key
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(shapes::normalise_key);
                let mut out = Map::new();
                insert_session(&mut out, session_key, &p);
                let client_run_id = p.get("runId").and_then(Value::as_str).map(str::to_owned);
                if let Some(client) = &client_run_id {
                    let ours = self.our_run_id(client).unwrap_or_else(|| client.clone());
                    out.insert("runId".into(), json!(ours));
                }
                (target, Some(Pending::Abort { client_run_id, key }), out)
            }
            "plugin.approval.list" => (target, Some(Pending::ApprovalList), Map::new()),
            "plugin.approval.resolve" => {
                let mut out = Map::new();
                if let Some(id) = p.get("id") {
                    out.insert("approvalId".into(), id.clone());
                }
                let approved = p.get("decision").and_then(Value::as_str) != Some("deny");
                out.insert("approved".into(), json!(approved));
                if let Some(reason) = p.get("reason") {
                    out.insert("reason".into(), reason.clone());
                }
                (target, Some(Pending::ApprovalResolve), out)
            }
            // Same name, same params (health, status, models.list, commands.list, …).
            _ => (target, None, p),
        };
        if let Some(pending) = pending {
            if pending.starts_a_run() {
                self.unanswered_starts += 1;
            }
            self.pending.insert(key, pending);
        }
        let params = serde_json::value::to_raw_value(&Value::Object(params)).ok();
        Rewritten::Call {
            method: target.to_owned(),
            params,
        }
    }
}

/// Copies `names` from `from` to `to` where present.
fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, names: &[&str]) {
    for name in names {
        if let Some(v) = from.get(*name) {
            to.insert((*name).to_owned(), v.clone());
        }
    }
}

/// Takes `field` out of the params (a session key), if it is there.
fn take_key(p: &mut Map<String, Value>, field: &str) -> Option<Value> {
    p.remove(field).filter(|v| !v.is_null())
}

/// The session key a request names (`sessionKey`, or `key`).
fn session_key_of(p: &mut Map<String, Value>) -> Option<Value> {
    take_key(p, "sessionKey").or_else(|| take_key(p, "key"))
}

/// A key, prefixed with the request's `agentId` when it is not an `agent:` key.
fn key_value(key: Option<Value>, p: &Map<String, Value>) -> Value {
    match key {
        Some(Value::String(k)) if !k.to_ascii_lowercase().starts_with("agent:") => {
            match p.get("agentId").and_then(Value::as_str) {
                Some(agent) => json!(format!("agent:{agent}:{k}")),
                None => Value::String(k),
            }
        }
        Some(other) => other,
        None => Value::Null,
    }
}

/// Names the session by key when the request has one, else by `sessionId`.
fn insert_session(out: &mut Map<String, Value>, key: Option<Value>, p: &Map<String, Value>) {
    match key {
        Some(key) => {
            out.insert("sessionKey".into(), key_value(Some(key), p));
        }
        None => {
            if let Some(id) = p.get("sessionId") {
                out.insert("sessionId".into(), id.clone());
            }
        }
    }
}
