//! The OpenClaw dialect of the frame protocol (SPEC §16): the same `req`/`res`/`event` frames,
//! spoken as OpenClaw's clients (`openclaw tui`, `openclaw agent`, `gateway call`) expect them.
//! Chosen per connection by its `connect`; it only renames and reshapes — every call still goes
//! through the one gate into the one method set, so what a role may do is decided once.
//!
//! One value per connection, owned by the connection's task (no lock): requests are renamed on
//! the way in ([`methods`]), their answers reshaped on the way out ([`replies`]), events
//! translated ([`events`]), all through the shapes of [`shapes`].

mod events;
mod methods;
mod replies;
mod shapes;

pub use methods::{OPENCLAW_METHODS, markdown_table};

use std::collections::{HashMap, VecDeque};

use jsonrpsee::types::Id;
use serde_json::Value;
use serde_json::value::RawValue;
use switchboard_api::Role;

use methods::Pending;

/// Events held at most while a `chat.send` is unanswered; past it they go out untranslated
/// by run (the client sees our run id instead of its own), never dropped.
const MAX_HELD: usize = 4096;
/// Runs followed at once; past it the oldest-looking is forgotten.
const MAX_RUNS: usize = 1024;
/// Session ids whose keys are remembered.
const MAX_KEYS: usize = 4096;
/// Ended runs whose client ids are remembered (for `chat.history`'s `__openclaw.runId`).
const MAX_ENDED: usize = 1024;

/// OpenClaw's client ids (`GATEWAY_CLIENT_IDS`): a `connect` naming one without a protocol
/// range speaks OpenClaw.
const CLIENT_IDS: &[&str] = &[
    "openclaw-tui",
    "cli",
    "gateway-client",
    "openclaw-control-ui",
    "webchat-ui",
    "openclaw-probe",
    "openclaw-macos",
    "openclaw-ios",
    "openclaw-android",
    "node-host",
    "test",
];

/// Whether a `connect` with these params asks for the OpenClaw dialect: `maxProtocol` ≥ 4, or
/// no protocol range and an OpenClaw `client` block.
pub(crate) fn asks_for_openclaw(params: Option<&RawValue>) -> bool {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ConnectHead {
        #[serde(default)]
        min_protocol: Option<Value>,
        #[serde(default)]
        max_protocol: Option<Value>,
        #[serde(default)]
        client: Option<ClientHead>,
    }
    #[derive(serde::Deserialize)]
    struct ClientHead {
        #[serde(default)]
        id: Option<Value>,
    }
    let Some(head) = params.and_then(|p| serde_json::from_str::<ConnectHead>(p.get()).ok()) else {
        return false;
    };
    if let Some(max) = &head.max_protocol {
        return max.as_u64().is_some_and(|m| m >= 4);
    }
    head.min_protocol.is_none()
        && head
            .client
            .and_then(|c| c.id)
            .is_some_and(|id| id.as_str().is_some_and(|id| CLIENT_IDS.contains(&id)))
}

/// What a request becomes.
pub(crate) enum Rewritten {
    /// Call this method with these params.
    Call {
        method: String,
        params: Option<Box<RawValue>>,
    },
    /// Answered here, without a call (the frame text).
    Answered(String),
}

/// One run as this connection sees it.
#[derive(Debug, Default)]
struct RunView {
    /// The client's id for it (its `idempotencyKey`), else ours.
    client_id: String,
    session_key: String,
    session_id: String,
    agent_id: String,
    /// OpenClaw's per-run event counter.
    seq: u64,
    /// The reply so far.
    text: String,
    started_at: i64,
    /// The `agent` request waiting for its final answer (its id, raw JSON).
    agent_request: Option<String>,
}

/// The dialect's state on one connection.
pub(crate) struct OpenClaw {
    /// The connection's role, once `connect` answered.
    role: Option<Role>,
    /// Requests whose answers are reshaped, by raw JSON id.
    pending: HashMap<String, Pending>,
    /// `chat.start` calls (from `chat.send`/`agent`) not answered yet: while any is, events
    /// are held so that the answer goes out before its run's events.
    unanswered_starts: usize,
    held: VecDeque<Box<RawValue>>,
    /// Runs by our run id.
    runs: HashMap<String, RunView>,
    /// Session keys by session id.
    keys: HashMap<String, String>,
    /// The client's ids of runs this connection started, by our run id (also once ended).
    client_ids: HashMap<String, String>,
    /// Runs this connection started whose session update (one at each run's end) has not
    /// come yet, by session id: those updates are its own, the client has them already.
    own_updates: HashMap<String, u32>,
    /// The `sessions.subscribe` subscription, if any.
    sessions_subscription: Option<Value>,
    /// `approvals.timeout_s`, for an approval's `expiresAtMs`.
    approval_timeout_ms: i64,
    /// When the server started, for `hello-ok`'s `uptimeMs`.
    server_started: tokio::time::Instant,
}

impl OpenClaw {
    /// The state of a connection that asked for the dialect in `connect` (request `id`).
    pub(crate) fn new(
        connect_id: &Id<'_>,
        approval_timeout_ms: i64,
        server_started: tokio::time::Instant,
    ) -> Self {
        let mut dialect = OpenClaw {
            role: None,
            pending: HashMap::new(),
            unanswered_starts: 0,
            held: VecDeque::new(),
            runs: HashMap::new(),
            keys: HashMap::new(),
            client_ids: HashMap::new(),
            own_updates: HashMap::new(),
            sessions_subscription: None,
            approval_timeout_ms,
            server_started,
        };
        dialect.pending.insert(id_key(connect_id), Pending::Connect);
        dialect
    }

    /// A `tick` event frame (OpenClaw's client closes a connection that hears nothing for
    /// two tick intervals).
    pub(crate) fn tick(&mut self, seq: &mut u64) -> String {
        let payload = serde_json::json!({ "ts": switchboard_storage::now_ms() });
        event_frame("tick", &payload, seq)
    }

    /// Remembers a session's key (bounded).
    fn remember_key(&mut self, session_id: &str, key: &str) {
        if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(session_id) {
            self.keys.clear();
        }
        self.keys.insert(session_id.to_owned(), key.to_owned());
    }

    /// The key of a session: remembered, else `agent:<agent>:<id>`.
    fn key_of(&self, session_id: &str, agent_id: Option<&str>) -> String {
        self.keys.get(session_id).cloned().unwrap_or_else(|| {
            shapes::default_key(agent_id.unwrap_or(shapes::DEFAULT_AGENT), session_id)
        })
    }

    /// The view of run `run_id` (ours), made on first sight.
    fn run_view(&mut self, run_id: &str, session_id: &str, agent_id: Option<&str>) -> &mut RunView {
        if !self.runs.contains_key(run_id) {
            if self.runs.len() >= MAX_RUNS
                && let Some(old) = self.runs.keys().next().cloned()
            {
                self.runs.remove(&old);
            }
            let view = RunView {
                client_id: run_id.to_owned(),
                session_key: self.key_of(session_id, agent_id),
                session_id: session_id.to_owned(),
                agent_id: agent_id.unwrap_or(shapes::DEFAULT_AGENT).to_owned(),
                started_at: switchboard_storage::now_ms(),
                ..RunView::default()
            };
            self.runs.insert(run_id.to_owned(), view);
        }
        let view = self.runs.get_mut(run_id).expect("inserted above");
        if let Some(agent) = agent_id
            && view.agent_id != agent
        {
            view.agent_id = agent.to_owned();
        }
        view
    }

    /// Remembers the client's id of one of our runs (bounded).
    fn remember_client_id(&mut self, run_id: &str, client_id: &str) {
        if self.client_ids.len() >= MAX_ENDED && !self.client_ids.contains_key(run_id) {
            self.client_ids.clear();
        }
        self.client_ids
            .insert(run_id.to_owned(), client_id.to_owned());
    }

    /// Our run id of a client's run id, if this connection started it.
    fn our_run_id(&self, client_id: &str) -> Option<String> {
        self.runs
            .iter()
            .find(|(_, v)| v.client_id == client_id)
            .map(|(ours, _)| ours.clone())
    }
}

/// A request id as the raw JSON a response carries.
fn id_key(id: &Id<'_>) -> String {
    serde_json::to_string(id).unwrap_or_default()
}

/// `{"type":"event","event":…,"payload":…,"seq":N}`, counting `seq`.
fn event_frame(event: &str, payload: &Value, seq: &mut u64) -> String {
    *seq += 1;
    serde_json::json!({ "type": "event", "event": event, "payload": payload, "seq": *seq })
        .to_string()
}

/// `{"type":"res","id":…,"ok":true,"payload":…}` for a raw JSON id.
fn ok_frame(raw_id: &str, payload: &Value) -> String {
    let id: Value = serde_json::from_str(raw_id).unwrap_or(Value::Null);
    serde_json::json!({ "type": "res", "id": id, "ok": true, "payload": payload }).to_string()
}

/// `{"type":"res","id":…,"ok":false,"error":{code, message, retryable:false}}`.
fn error_frame(id: &Id<'_>, code: &str, message: &str) -> String {
    serde_json::json!({
        "type": "res", "id": id, "ok": false,
        "error": { "code": code, "message": message, "retryable": false }
    })
    .to_string()
}
