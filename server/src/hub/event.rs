//! One event as the hub carries it: routing keys and the body, serialized once.

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;

/// An event ready for delivery. `body` is `{"event":NAME,"payload":{…}}`, serialized once and
/// shared by every subscriber.
#[derive(Debug, Clone)]
pub struct HubEvent {
    /// Event name.
    pub name: Arc<str>,
    /// The session it belongs to.
    pub session_id: Option<Arc<str>>,
    /// The session's agent.
    pub agent_id: Option<Arc<str>>,
    /// The run that emitted it.
    pub run_id: Option<Arc<str>>,
    /// Its `sessionSeq` (session events only).
    pub seq: Option<i64>,
    /// A session lifecycle event (`session.created` / `updated` / `deleted`), not in the log.
    pub lifecycle: bool,
    /// `{"event":…,"payload":…}`.
    pub body: Arc<str>,
}

impl HubEvent {
    /// The body for `name` and an already-serialized `payload`.
    pub fn body(name: &str, payload: &str) -> Arc<str> {
        let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".to_owned());
        format!("{{\"event\":{name},\"payload\":{payload}}}").into()
    }

    /// A session lifecycle event for the `sessions` topic.
    pub fn lifecycle(name: &str, session_id: &str, agent_id: &str, payload: &Value) -> HubEvent {
        HubEvent {
            name: name.into(),
            session_id: Some(session_id.into()),
            agent_id: Some(agent_id.into()),
            run_id: None,
            seq: None,
            lifecycle: true,
            body: Self::body(name, &payload.to_string()),
        }
    }

    /// The JSON-RPC notification a `/ws` connection's writer turns into an event frame.
    pub fn notification(&self) -> Box<RawValue> {
        let text = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{{\"subscription\":\"run\",\"result\":{}}}}}",
            self.body
        );
        RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned())
    }

    /// The body as a raw JSON value (one copy of the shared bytes).
    pub fn raw_body(&self) -> Box<RawValue> {
        RawValue::from_string(self.body.to_string()).unwrap_or_else(|_| RawValue::NULL.to_owned())
    }
}
