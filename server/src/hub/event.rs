//! One event as the hub carries it: routing keys and the body, serialized once.

use std::sync::Arc;

use serde_json::value::RawValue;
use switchboard_api::Event;

/// An event ready for delivery. `body` is `{"event":NAME,"payload":{…}}`, serialized (and
/// checked) once and shared by every subscriber: a `/ws` connection queues the `Arc` and its
/// writer turns it into an event frame by adding the connection's `seq` (no re-parse); a `/rpc`
/// subscription gets a plain copy of the bytes, which jsonrpsee wraps in a notification (see
/// [`EventSink`](super::EventSink)).
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
    pub body: Arc<RawValue>,
}

impl HubEvent {
    /// The body for `name` and an already-serialized `payload` (`null` if `payload` is not
    /// JSON).
    pub fn body(name: &str, payload: &str) -> Arc<RawValue> {
        let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".to_owned());
        let text = format!("{{\"event\":{name},\"payload\":{payload}}}");
        Arc::from(RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned()))
    }

    /// `event` for every connection it reaches (no session, no run): e.g. `shutdown`.
    pub fn unrouted(event: &Event) -> HubEvent {
        HubEvent {
            name: event.name().into(),
            session_id: None,
            agent_id: None,
            run_id: None,
            seq: None,
            lifecycle: false,
            body: Self::body(event.name(), &event.payload_json()),
        }
    }

    /// A session lifecycle event (`session.created` / `updated` / `deleted`) for the
    /// `sessions` topic.
    pub fn lifecycle(session_id: &str, agent_id: &str, event: &Event) -> HubEvent {
        HubEvent {
            session_id: Some(session_id.into()),
            agent_id: Some(agent_id.into()),
            lifecycle: true,
            ..Self::unrouted(event)
        }
    }
}
