//! OpenClaw's shapes of our things: a session row, a transcript message, an approval.

use serde_json::{Map, Value, json};

/// The agent of keys and sessions that name none.
pub(super) const DEFAULT_AGENT: &str = "main";
/// `sessions.list`'s page, at most (ours).
pub(super) const MAX_LIST: u64 = 500;
/// `chat.history`'s page, at most (ours).
pub(super) const MAX_HISTORY: u64 = 500;
/// Characters of a session's title shown as its `derivedTitle`.
const TITLE_CHARS: usize = 80;

/// The key of a session that has none of its own.
pub(super) fn default_key(agent_id: &str, session_id: &str) -> String {
    format!("agent:{agent_id}:{session_id}")
}

/// A key as the methods resolve it: lowercased, `agent:main:` before one without `agent:`.
pub(super) fn normalise_key(key: &str) -> String {
    let key = key.to_lowercase();
    if key.starts_with("agent:") {
        key
    } else {
        format!("agent:{DEFAULT_AGENT}:{key}")
    }
}

/// A run id for a client that gave no `idempotencyKey`.
pub(super) fn fresh_run_id() -> String {
    let mut bytes = [0u8; 12];
    let _ = getrandom::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("oc-{hex}")
}

fn str_of<'a>(v: &'a Value, field: &str) -> Option<&'a str> {
    v.get(field).and_then(Value::as_str)
}

/// The key of one of our session rows (`key` when it has one).
pub(super) fn key_of_row(row: &Value) -> String {
    match str_of(row, "key") {
        Some(key) => key.to_owned(),
        None => default_key(
            str_of(row, "agentId").unwrap_or(DEFAULT_AGENT),
            str_of(row, "id").unwrap_or_default(),
        ),
    }
}

/// One of our session rows (`sessions.list`, `sessions.get`, `session.*` events) as an
/// OpenClaw session row.
pub(super) fn session_row(row: &Value) -> Value {
    let running = row.get("running").and_then(Value::as_bool).unwrap_or(false);
    let active: Vec<Value> = str_of(row, "activeRunId")
        .map(|r| vec![json!(r)])
        .unwrap_or_default();
    let mut out = Map::new();
    out.insert("key".into(), json!(key_of_row(row)));
    out.insert(
        "sessionId".into(),
        row.get("id").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "agentId".into(),
        row.get("agentId").cloned().unwrap_or(json!(DEFAULT_AGENT)),
    );
    out.insert("kind".into(), json!("direct"));
    out.insert("chatType".into(), json!("direct"));
    for field in ["createdAt", "updatedAt", "messageCount", "userId"] {
        if let Some(v) = row.get(field) {
            out.insert(field.into(), v.clone());
        }
    }
    if let Some(title) = str_of(row, "title").filter(|t| !t.is_empty()) {
        let title: String = title.chars().take(TITLE_CHARS).collect();
        out.insert("derivedTitle".into(), json!(title));
        out.insert("displayName".into(), json!(title));
    }
    if let Some(preview) = row.get("lastMessagePreview") {
        out.insert("lastMessagePreview".into(), preview.clone());
    }
    out.insert(
        "status".into(),
        json!(if running { "running" } else { "done" }),
    );
    out.insert("hasActiveRun".into(), json!(running));
    out.insert("activeRunIds".into(), Value::Array(active));
    out.insert("archived".into(), json!(false));
    out.insert("pinned".into(), json!(false));
    out.insert("unread".into(), json!(false));
    if let Some(usage) = row.get("usage") {
        for (ours, theirs) in [
            ("input_tokens", "inputTokens"),
            ("output_tokens", "outputTokens"),
        ] {
            if let Some(v) = usage.get(ours) {
                out.insert(theirs.into(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// One of our transcript messages as OpenClaw's: a user's content is a string, an
/// assistant's a list of text parts; `client_run_id` is the client's id of the message's run
/// (its `idempotencyKey`) when this connection knows it.
pub(super) fn message(m: &Value, client_run_id: Option<&str>) -> Value {
    let role = str_of(m, "role").unwrap_or("assistant");
    let text = str_of(m, "content").unwrap_or_default();
    let mut out = Map::new();
    out.insert("role".into(), json!(role));
    if role == "user" {
        out.insert("content".into(), json!(text));
    } else {
        out.insert("content".into(), json!([{ "type": "text", "text": text }]));
    }
    out.insert(
        "timestamp".into(),
        m.get("createdAt").cloned().unwrap_or(Value::Null),
    );
    let mut meta = Map::new();
    if let Some(id) = m.get("id") {
        meta.insert("id".into(), json!(id.to_string()));
        meta.insert("seq".into(), id.clone());
    }
    match (client_run_id, m.get("runId").filter(|r| !r.is_null())) {
        (Some(client), _) => {
            meta.insert("runId".into(), json!(client));
            if role == "user" {
                let key = json!(format!("{client}:user"));
                meta.insert("idempotencyKey".into(), key.clone());
                out.insert("idempotencyKey".into(), key);
            }
        }
        (None, Some(run)) => {
            meta.insert("runId".into(), run.clone());
        }
        (None, None) => {}
    }
    out.insert("__openclaw".into(), Value::Object(meta));
    if role == "assistant" {
        out.insert("stopReason".into(), json!("stop"));
        if let Some(usage) = m.get("usage").filter(|u| !u.is_null()) {
            let input = usage
                .get("input_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let output = usage
                .get("output_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let mut u = json!({ "input": input, "output": output, "totalTokens": input + output });
            if let Some(cost) = usage.get("cost").filter(|c| !c.is_null()) {
                u["cost"] = json!({ "total": cost });
            }
            out.insert("usage".into(), u);
        }
    }
    Value::Object(out)
}

/// An approval (ours: `approvals.list` entry or `approval.*` event payload) as OpenClaw's
/// plugin approval.
pub(super) fn approval(a: &Value, session_key: &str, agent_id: &str, timeout_ms: i64) -> Value {
    let tool = str_of(a, "tool").unwrap_or("tool");
    let created = a
        .get("createdAt")
        .or_else(|| a.get("ts"))
        .and_then(Value::as_i64)
        .unwrap_or_else(switchboard_storage::now_ms);
    let severity = match str_of(a, "risk") {
        Some("low") => "info",
        Some("high") => "critical",
        _ => "warning",
    };
    let input = a.get("input").cloned().unwrap_or(Value::Null);
    json!({
        "id": a.get("approvalId").cloned().unwrap_or(Value::Null),
        "request": {
            "title": format!("{tool} wants to run"),
            "description": input.to_string(),
            "toolName": tool,
            "toolCallId": a.get("toolCallId").cloned().unwrap_or(Value::Null),
            "severity": severity,
            "allowedDecisions": ["allow-once", "deny"],
            "agentId": agent_id,
            "sessionKey": session_key,
        },
        "createdAtMs": created,
        "expiresAtMs": created.saturating_add(timeout_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_lowercased_and_default_to_the_main_agent() {
        assert_eq!(normalise_key("Agent:Main:Side"), "agent:main:side");
        assert_eq!(normalise_key("global"), "agent:main:global");
    }

    #[test]
    fn a_session_without_a_key_is_shown_under_its_id() {
        let row = json!({"id": "ses_1", "agentId": "support", "title": "hi", "running": true,
            "updatedAt": 5, "createdAt": 4, "messageCount": 2});
        let out = session_row(&row);
        assert_eq!(out["key"], "agent:support:ses_1");
        assert_eq!(out["derivedTitle"], "hi");
        assert_eq!(
            (out["status"].as_str(), out["hasActiveRun"].as_bool()),
            (Some("running"), Some(true))
        );
        let keyed = json!({"id": "ses_2", "agentId": "main", "key": "agent:main:main"});
        assert_eq!(session_row(&keyed)["key"], "agent:main:main");
    }

    #[test]
    fn messages_take_openclaws_content_shapes() {
        let user = message(
            &json!({"id": 1, "role": "user", "content": "hi", "createdAt": 9, "runId": "run_1"}),
            Some("k1"),
        );
        assert_eq!(user["__openclaw"]["runId"], "k1");
        assert_eq!(user["idempotencyKey"], "k1:user");
        assert_eq!(
            (user["content"].as_str(), user["timestamp"].as_i64()),
            (Some("hi"), Some(9))
        );
        let reply = message(
            &json!({"id": 2, "role": "assistant", "content": "yo", "runId": "run_1",
                "usage": {"input_tokens": 1, "output_tokens": 2}}),
            None,
        );
        assert_eq!(reply["__openclaw"]["runId"], "run_1");
        assert_eq!(reply["content"][0]["text"], "yo");
        assert_eq!(reply["usage"]["totalTokens"], 3);
    }
}
