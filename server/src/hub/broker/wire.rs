//! What travels through Redis: events on `{prefix}:events`, and requests, replies, notices and
//! catch-up calls on `{prefix}:node:{id}` (to one node) and `{prefix}:control` (to all). JSON;
//! an event's body travels as the raw bytes the hub serialized once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::hub::HubEvent;

/// An event as it travels.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EventWire<'a> {
    /// The node that committed it.
    #[serde(borrow)]
    pub(super) from: &'a str,
    #[serde(borrow)]
    pub(super) name: &'a str,
    #[serde(borrow)]
    pub(super) session: Option<&'a str>,
    #[serde(borrow)]
    pub(super) agent: Option<&'a str>,
    #[serde(borrow)]
    pub(super) run: Option<&'a str>,
    pub(super) seq: Option<i64>,
    pub(super) lifecycle: bool,
    #[serde(borrow)]
    pub(super) body: &'a RawValue,
}

impl<'a> EventWire<'a> {
    /// `event` as node `from` sends it.
    pub(super) fn of(from: &'a str, event: &'a HubEvent) -> EventWire<'a> {
        EventWire {
            from,
            name: &event.name,
            session: event.session_id.as_deref(),
            agent: event.agent_id.as_deref(),
            run: event.run_id.as_deref(),
            seq: event.seq,
            lifecycle: event.lifecycle,
            body: &event.body,
        }
    }

    /// The event to deliver here.
    pub(super) fn event(&self) -> HubEvent {
        HubEvent {
            name: self.name.into(),
            session_id: self.session.map(Arc::from),
            agent_id: self.agent.map(Arc::from),
            run_id: self.run.map(Arc::from),
            seq: self.seq,
            lifecycle: self.lifecycle,
            body: Arc::from(self.body.to_owned()),
        }
    }
}

/// A message between nodes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(super) enum Message {
    /// Asks the node(s) it is sent to; answered with a [`Message::Reply`] to `from`.
    Request {
        id: u64,
        from: String,
        kind: String,
        body: Value,
    },
    /// The answer to request `id`.
    Reply { id: u64, from: String, body: Value },
    /// Tells every node.
    Notice {
        from: String,
        kind: String,
        body: Value,
    },
    /// Events committed since `since` (unix ms) may not have been heard: read the store.
    CatchUp { from: String, since: i64 },
}

impl Message {
    /// The node that sent it.
    pub(super) fn from(&self) -> &str {
        match self {
            Message::Request { from, .. }
            | Message::Reply { from, .. }
            | Message::Notice { from, .. }
            | Message::CatchUp { from, .. } => from,
        }
    }
}
