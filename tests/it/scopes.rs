//! Scoped tokens (SPEC §18, issue 17), black-box over real sockets. A table like the role gate's:
//! every catalogue method × in-scope / out-of-scope targets × a scoped viewer / operator × both
//! protocols (GoClaw's frames, protocol 3, and the OpenClaw dialect, protocol 4, through its own
//! method names where it has them) → ok, `NOT_FOUND` answered exactly as for something that
//! does not exist, `FORBIDDEN`, a filtered list, counts only, or the role's usual answer. A
//! catalogue method or an OpenClaw method without a row fails the table. Then event delivery:
//! `*`, `sessions`, `agent:<id>` and `session:<id>` while runs happen in and out of scope (every
//! in-scope event arrives, no out-of-scope one ever does, `seq` stays gap-free), and replay with
//! `afterSeq` filtered the same way. `SWITCHBOARD_TEST_FRAMES=1` prints every call of the table.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api::{CATALOGUE, MethodSpec, Role, Scope};
use switchboard_tests::{OpenAiStub, Reply, TestServer, WsClient, connect_params};

/// What the OpenClaw TUI asks for (the token's role still decides).
const OC_SCOPES: [&str; 4] = [
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
];
/// A session id and an approval id that do not exist (the server's id shape).
const UNKNOWN_SESSION: &str = "ses_00000000deadbeef";
const UNKNOWN_APPROVAL: &str = "apr_00000000deadbeef";
/// The last part of a session key no session has.
const UNKNOWN_KEY_NAME: &str = "no-such-key-0000";
/// How long a subscriber must stay silent before its events are counted.
const QUIET: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    /// GoClaw's frames (protocol 3).
    Frames,
    /// The OpenClaw dialect (protocol 4).
    OpenClaw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Viewer,
    Operator,
}

impl Who {
    fn role(self) -> Role {
        match self {
            Who::Viewer => Role::Viewer,
            Who::Operator => Role::Operator,
        }
    }
}

/// OpenClaw's `connect` params as its CLI sends them.
fn openclaw_connect(token: &str, instance: &str) -> Value {
    json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {
            "id": "cli", "mode": "cli", "version": "2026.9.6", "platform": "linux",
            "instanceId": instance
        },
        "caps": [], "role": "operator", "scopes": OC_SCOPES, "auth": { "token": token }
    })
}

/// Opens `/ws` and connects with `token` in `proto`; the connection and `connect`'s answer.
async fn open(server: &TestServer, token: &str, proto: Proto, name: &str) -> (WsClient, Value) {
    let mut ws = WsClient::frames(server.addr).await;
    let params = match proto {
        Proto::Frames => connect_params(Some(token), name),
        Proto::OpenClaw => openclaw_connect(token, name),
    };
    let res = ws.call("connect", params).await;
    (ws, res)
}

/// Like [`open`], failing unless `connect` succeeds.
async fn connected(server: &TestServer, token: &str, proto: Proto, name: &str) -> WsClient {
    let (ws, res) = open(server, token, proto, name).await;
    assert_eq!(res["ok"], true, "{name}: connect failed: {res}");
    ws
}

/// One frame, shortened for failure messages.
fn short(frame: &Value) -> String {
    let text = frame.to_string();
    if text.chars().count() <= 600 {
        return text;
    }
    let head: String = text.chars().take(600).collect();
    format!("{head}…")
}

/// The payload of a call that must succeed.
async fn ok(ws: &mut WsClient, method: &str, params: Value) -> Value {
    let res = ws.call(method, params.clone()).await;
    assert_eq!(res["ok"], true, "{method} {params}: {res}");
    res["payload"].clone()
}

/// Creates a token through `tokens.create` (with `scope` when given) and checks that
/// `tokens.list` shows the scope it was given.
async fn create_token(
    admin: &mut WsClient,
    name: &str,
    role: Role,
    scope: Option<&Value>,
) -> String {
    let mut params = json!({ "name": name, "role": role.as_str() });
    if let Some(scope) = scope {
        params["scope"] = scope.clone();
    }
    let created = admin.call("tokens.create", params.clone()).await;
    assert_eq!(
        created["ok"], true,
        "tokens.create {params} must succeed: {created}"
    );
    let token = created["payload"]["token"].as_str().unwrap().to_owned();
    if let Some(scope) = scope {
        let id = created["payload"]["id"].clone();
        let list = ok(admin, "tokens.list", json!({})).await;
        let row = list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            scope_of(&row["scope"]),
            scope_of(scope),
            "tokens.create {params} did not keep the scope (tokens.list row: {row}); \
             the tokens' scope is not stored yet"
        );
    }
    token
}

/// A scope as JSON, normalised for comparison.
fn scope_of(v: &Value) -> Option<Scope> {
    serde_json::from_value(v.clone()).ok()
}

/// Waits on `ws` for the first event matching `pred` (events read earlier count too).
async fn wait_event(ws: &mut WsClient, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    if let Some(i) = ws.events.iter().position(&pred) {
        return ws.events.remove(i);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = match tokio::time::timeout(left, ws.next_json()).await {
            Err(_) => panic!("no {what} within 10 s; events so far: {:?}", ws.events),
            Ok(Err(closed)) => panic!("closed waiting for {what}: {closed:?}"),
            Ok(Ok(frame)) => frame,
        };
        if frame["type"] == "event" && pred(&frame) {
            return frame;
        }
        if frame["type"] == "event" {
            ws.events.push(frame);
        }
    }
}

/// Every frame `ws` reads until it has been silent for [`QUIET`] (at most `max` in all),
/// after the events it read earlier.
async fn drain(ws: &mut WsClient, max: Duration) -> Vec<Value> {
    drain_quiet(ws, QUIET, max).await
}

/// Every frame `ws` reads until it has been silent for `quiet` (at most `max` in all), after
/// the events it read earlier.
async fn drain_quiet(ws: &mut WsClient, quiet: Duration, max: Duration) -> Vec<Value> {
    let mut frames = std::mem::take(&mut ws.events);
    let until = Instant::now() + max;
    loop {
        let left = until.saturating_duration_since(Instant::now()).min(quiet);
        if left.is_zero() {
            return frames;
        }
        match tokio::time::timeout(left, ws.next_json()).await {
            Err(_) => return frames,
            Ok(Err(closed)) => panic!("a subscriber was closed: {closed:?}; read: {frames:?}"),
            Ok(Ok(frame)) => frames.push(frame),
        }
    }
}

/// The session an event is about (`sessionId`, or a lifecycle payload's `id`).
fn session_of(event: &Value) -> Option<&str> {
    let p = &event["payload"];
    p["sessionId"].as_str().or_else(|| {
        if event["event"]
            .as_str()
            .is_some_and(|e| e.starts_with("session."))
        {
            p["id"].as_str()
        } else {
            None
        }
    })
}

/// Faults in a connection's event `seq` (it must run 1, 2, 3… with no gap).
fn seq_faults(frames: &[Value]) -> Vec<String> {
    let mut last = 0;
    let mut faults = Vec::new();
    for f in frames.iter().filter(|f| f["type"] == "event") {
        match f["seq"].as_u64() {
            Some(seq) if seq == last + 1 => last = seq,
            Some(seq) => {
                faults.push(format!("seq {seq} after {last}: {}", short(f)));
                last = seq;
            }
            None => faults.push(format!("event without seq: {}", short(f))),
        }
    }
    faults
}

// ---------------------------------------------------------------------------------------------
// The matrix

/// A session the table names, by id and by key.
#[derive(Debug, Clone)]
struct Named {
    label: &'static str,
    id: String,
    agent: &'static str,
    /// Its key (`agent:<agent>:<id>` for a session without one).
    key: String,
}

/// The shape of scope a table runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScopeCase {
    /// `{sessions:[A, P1, P2, P3]}`: session A of `main` (B, of `main` too, is out) and the
    /// three sessions of `support` with pending approvals (one for each scoped operator's
    /// `approvals.resolve` call name).
    Sessions,
    /// `{agents:["support"]}`.
    Agents,
}

/// One server with sessions and pending approvals in and out of the scope.
struct Fixture {
    server: TestServer,
    _stub: OpenAiStub,
    /// An admin connection (the truth the filtered lists are compared with).
    admin: WsClient,
    case: ScopeCase,
    scope: Scope,
    scope_json: Value,
    /// A (main), B (main), S (support), Q (gpt, waiting for an approval).
    sessions: Vec<Named>,
    /// Pending approvals in scope (resolved one by one by the scoped operators).
    in_approvals: Vec<String>,
    /// A pending approval out of scope (never resolved).
    out_approval: String,
    viewer_token: String,
    operator_token: String,
}

/// What a call must get.
#[derive(Debug, Clone)]
enum Expect {
    Ok,
    /// `ok`, and the payload passes a check (e.g. it names the session).
    OkWhere(Check),
    Forbidden,
    /// Answered exactly as `unknown_params` are (naming something that does not exist), with
    /// `name` in place of `unknown`: `NOT_FOUND` in frames, OpenClaw's empty answer where it
    /// has one.
    LikeUnknown {
        unknown_params: Value,
        name: String,
        unknown: String,
    },
    /// Another shape of a call naming something out of scope (a param alias, positional
    /// params): refused, and answered exactly as the same shape naming something that does
    /// not exist (whatever the code), so that neither the call happens nor the answer tells.
    Unrevealing {
        unknown_params: Value,
        name: String,
        unknown: String,
    },
    /// Refused, whatever the code.
    Refused,
    /// Whatever an unscoped token of the same role gets (ok or the error code).
    SameAsUnscoped,
    /// `status`: counts only (no `nodes` list).
    Counts,
    /// `sessions.list`: exactly the in-scope sessions the admin sees with the same filter.
    FilteredSessions {
        agent: Option<&'static str>,
    },
    /// `approvals.list`: exactly the pending approvals whose session is in scope.
    FilteredApprovals,
    /// A fresh connection with the token connects.
    Connects,
}

#[derive(Debug, Clone, Copy)]
enum Check {
    /// The payload names the session (id) somewhere.
    Names,
    /// `messages` is not empty.
    HasMessages,
    /// OpenClaw's `sessions.describe`: `session.sessionId` is the session.
    DescribeIs,
    /// `subscribe` with `afterSeq`: `replayed` > 0.
    Replayed,
}

/// One call of the table.
#[derive(Debug, Clone)]
struct Case {
    what: String,
    method: &'static str,
    params: Value,
    expect: Expect,
}

fn case(what: impl Into<String>, method: &'static str, params: Value, expect: Expect) -> Case {
    Case {
        what: what.into(),
        method,
        params,
        expect,
    }
}

/// Starts the server and makes the sessions and approvals.
async fn fixture(case: ScopeCase) -> Fixture {
    let exec = |id: &str| {
        Reply::tool_calls(
            &[(id, "exec", &["{\"command\":\"echo\",\"args\":[\"hi\"]}"])],
            (3, 3),
        )
    };
    let mut replies = vec![
        exec("call_p1"),
        exec("call_p2"),
        exec("call_p3"),
        exec("call_q"),
    ];
    replies.extend((0..120).map(|_| Reply::text(&["fine ", "thanks"], (2, 2))));
    let stub = OpenAiStub::start(replies).await;
    let base = stub.base_url();
    let mut env: Vec<(&str, &str)> = vec![
        ("SWITCHBOARD__AUTH__FAILED_PER_MINUTE", "1000"),
        ("SWITCHBOARD__LIMITS__CHAT_PER_MINUTE", "100000"),
        ("SWITCHBOARD__LIMITS__CHAT_BURST", "100000"),
        ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "echo"),
    ];
    for agent in ["SUPPORT", "GPT"] {
        for (field, value) in [
            ("KIND", "openai"),
            ("BASE_URL", base.as_str()),
            ("MODEL", "testmodel"),
            ("API_KEY_ENV", "CARGO_PKG_NAME"),
            ("TOOLS", "exec"),
            ("REQUEST_TIMEOUT_S", "10"),
        ] {
            let key: &'static str =
                Box::leak(format!("SWITCHBOARD__AGENTS__{agent}__{field}").into_boxed_str());
            env.push((key, value));
        }
    }
    let server = TestServer::start(&env).await;
    let admin_token = server.token(Role::Admin).await;
    let mut admin = WsClient::connected(server.addr, Some(&admin_token), "admin").await;
    // Three runs that wait for an approval, one after the other (the stub answers in order).
    let mut pending = Vec::new();
    for agent in ["support", "support", "support", "gpt"] {
        let started = ok(
            &mut admin,
            "chat.start",
            json!({ "agentId": agent, "message": "run echo hi" }),
        )
        .await;
        let session = started["sessionId"].as_str().unwrap().to_owned();
        let requested = wait_event(&mut admin, "approval.requested", |e| {
            e["event"] == "approval.requested" && e["payload"]["sessionId"] == session
        })
        .await;
        let approval = requested["payload"]["approvalId"]
            .as_str()
            .unwrap()
            .to_owned();
        pending.push((session, approval));
    }
    let mut sessions = Vec::new();
    for (label, agent, key, message) in [
        ("A", "main", "agent:main:alpha", "hello alpha"),
        ("B", "main", "agent:main:beta", "hello beta"),
        ("S", "support", "agent:support:gamma", "hello gamma"),
    ] {
        let sent = ok(
            &mut admin,
            "chat.send",
            json!({ "agentId": agent, "sessionKey": key, "message": message }),
        )
        .await;
        sessions.push(Named {
            label,
            id: sent["sessionId"].as_str().unwrap().to_owned(),
            agent,
            key: key.to_owned(),
        });
    }
    let q = pending[3].0.clone();
    sessions.push(Named {
        label: "Q",
        key: format!("agent:gpt:{q}"),
        id: q,
        agent: "gpt",
    });
    let scope_json = match case {
        ScopeCase::Sessions => {
            json!({ "sessions": [sessions[0].id, pending[0].0, pending[1].0, pending[2].0] })
        }
        ScopeCase::Agents => json!({ "agents": ["support"] }),
    };
    let scope: Scope = serde_json::from_value(scope_json.clone()).unwrap();
    let viewer_token =
        create_token(&mut admin, "scoped-viewer", Role::Viewer, Some(&scope_json)).await;
    let operator_token = create_token(
        &mut admin,
        "scoped-operator",
        Role::Operator,
        Some(&scope_json),
    )
    .await;
    Fixture {
        server,
        _stub: stub,
        admin,
        case,
        scope,
        scope_json,
        sessions,
        in_approvals: pending[..3].iter().map(|(_, a)| a.clone()).collect(),
        out_approval: pending[3].1.clone(),
        viewer_token,
        operator_token,
    }
}

impl Fixture {
    fn in_scope(&self, s: &Named) -> bool {
        self.scope.allows_session(&s.id, s.agent)
    }

    /// The key of a session of `agent` that does not exist.
    fn unknown_key(agent: &str) -> String {
        format!("agent:{agent}:{UNKNOWN_KEY_NAME}")
    }
}

/// The names a method is called by in `proto`: its own in frames; in the OpenClaw dialect,
/// every OpenClaw name that calls it, and its own name too unless that is an OpenClaw name
/// calling something else (the dialect passes our own names through).
fn call_names(method: &'static str, proto: Proto) -> Vec<&'static str> {
    if proto == Proto::Frames {
        return vec![method];
    }
    let mut names: Vec<&'static str> = switchboard::ws::OPENCLAW_METHODS
        .iter()
        .filter(|(_, target)| *target == method)
        .map(|(name, _)| *name)
        .collect();
    let shadowed = switchboard::ws::OPENCLAW_METHODS
        .iter()
        .any(|(name, _)| *name == method);
    if !shadowed && !names.contains(&method) {
        names.push(method);
    }
    names
}

/// The calls of one catalogue method called as `name` (`None`: the table has no row for it).
fn cases_for(
    fx: &Fixture,
    spec: &MethodSpec,
    name: &'static str,
    proto: Proto,
    who: Who,
    approvals: &mut Vec<String>,
) -> Option<Vec<Case>> {
    // Called by an OpenClaw name of another method (its own param shapes).
    let oc = proto == Proto::OpenClaw && name != spec.name;
    // Passed to the method as sent (frames, or our own name in the dialect), so that other
    // shapes of the same params reach it: jsonrpsee's snake_case aliases, positional arrays.
    let raw = proto == Proto::Frames
        || !switchboard::ws::OPENCLAW_METHODS
            .iter()
            .any(|(n, _)| *n == name);
    let mut cases = Vec::new();
    match spec.name {
        "connect" => cases.push(case(
            "a fresh connection",
            name,
            json!({}),
            Expect::Connects,
        )),
        "health" | "agents.list" | "models.list" | "commands.list" | "question.list"
        | "config.public" | "config.get" => {
            cases.push(case("as unscoped", name, json!({}), Expect::SameAsUnscoped));
        }
        "tokens.list" | "connections.list" => {
            cases.push(case("admin only", name, json!({}), Expect::SameAsUnscoped));
        }
        "tokens.create" => cases.push(case(
            "admin only",
            name,
            json!({ "name": "x", "role": "viewer", "scope": fx.scope_json }),
            Expect::SameAsUnscoped,
        )),
        "tokens.revoke" => cases.push(case(
            "admin only",
            name,
            json!({ "id": "0000000000000000" }),
            Expect::SameAsUnscoped,
        )),
        "connections.kick" => cases.push(case(
            "admin only",
            name,
            json!({ "connectionId": "no-such-connection" }),
            Expect::SameAsUnscoped,
        )),
        "audit.list" => cases.push(case(
            "admin only",
            name,
            json!({ "limit": 5 }),
            Expect::SameAsUnscoped,
        )),
        "unsubscribe" => cases.push(case(
            "its own subscription",
            name,
            json!({}),
            Expect::SameAsUnscoped,
        )),
        "status" => cases.push(case("counts only", name, json!({}), Expect::Counts)),
        "sessions.list" => {
            for agent in [None, Some("main"), Some("support")] {
                let params = match agent {
                    None => json!({}),
                    Some(a) => json!({ "agentId": a }),
                };
                cases.push(case(
                    format!("filter {agent:?}"),
                    name,
                    params,
                    Expect::FilteredSessions { agent },
                ));
            }
        }
        "approvals.list" => cases.push(case(
            "pending approvals",
            name,
            json!({}),
            Expect::FilteredApprovals,
        )),
        "sessions.delete" => {
            for s in &fx.sessions {
                cases.push(case(
                    s.label,
                    name,
                    json!({ "sessionId": s.id }),
                    Expect::SameAsUnscoped,
                ));
            }
        }
        "sessions.get" | "chat.history" | "chat.abort" => {
            // chat.abort not on Q, whose run holds the out-of-scope approval.
            let named = fx
                .sessions
                .iter()
                .filter(|s| spec.name != "chat.abort" || s.label != "Q");
            for s in named {
                let inside = fx.in_scope(s);
                let scope_word = if inside { "in scope" } else { "out of scope" };
                let unknown_key = Fixture::unknown_key(s.agent);
                let mut by = vec![(
                    "key",
                    s.key.clone(),
                    unknown_key.clone(),
                    key_params(name, oc, &s.key),
                    key_params(name, oc, &unknown_key),
                )];
                if !oc {
                    by.push((
                        "id",
                        s.id.clone(),
                        UNKNOWN_SESSION.to_owned(),
                        json!({ "sessionId": s.id }),
                        json!({ "sessionId": UNKNOWN_SESSION }),
                    ));
                }
                if raw && !inside {
                    // Shapes the methods accept too (jsonrpsee takes snake_case aliases of
                    // every param and positional arrays): no way around the check.
                    by.push((
                        "session_id (alias)",
                        s.id.clone(),
                        UNKNOWN_SESSION.to_owned(),
                        json!({ "session_id": s.id }),
                        json!({ "session_id": UNKNOWN_SESSION }),
                    ));
                    by.push((
                        "session_key (alias)",
                        s.key.clone(),
                        unknown_key.clone(),
                        json!({ "session_key": s.key }),
                        json!({ "session_key": unknown_key }),
                    ));
                    by.push((
                        "positional [id]",
                        s.id.clone(),
                        UNKNOWN_SESSION.to_owned(),
                        json!([s.id]),
                        json!([UNKNOWN_SESSION]),
                    ));
                }
                for (how, named, unknown, params, unknown_params) in by {
                    if how.contains("alias") || how.starts_with("positional") {
                        cases.push(case(
                            format!("session {} ({scope_word}) by {how}", s.label),
                            name,
                            params,
                            Expect::Unrevealing {
                                unknown_params,
                                name: named,
                                unknown,
                            },
                        ));
                        continue;
                    }
                    let expect = if inside {
                        match (name, how) {
                            ("sessions.get", _) => Expect::OkWhere(Check::Names),
                            ("sessions.describe", _) => Expect::OkWhere(Check::DescribeIs),
                            ("chat.history", _) => Expect::OkWhere(Check::HasMessages),
                            _ => Expect::Ok,
                        }
                    } else {
                        Expect::LikeUnknown {
                            unknown_params,
                            name: named,
                            unknown,
                        }
                    };
                    cases.push(case(
                        format!("session {} ({scope_word}) by {how}", s.label),
                        name,
                        params,
                        expect,
                    ));
                }
            }
        }
        "chat.send" | "chat.start" => {
            let message = |what: &str| format!("scoped {what}");
            // Not Q: it waits for an approval, and a run there would queue behind it.
            for s in fx.sessions.iter().filter(|s| s.label != "Q") {
                let inside = fx.in_scope(s);
                let scope_word = if inside { "in scope" } else { "out of scope" };
                // By key (OpenClaw's way, and ours).
                let mut params = json!({ "sessionKey": s.key, "message": message("by key") });
                if name == "agent" {
                    params["agentId"] = json!(s.agent);
                }
                // Out of scope: refused exactly as a key no session has yet (a send by key
                // must not tell whether the session exists).
                let unknown = Fixture::unknown_key(s.agent);
                let mut unknown_params = params.clone();
                unknown_params["sessionKey"] = json!(unknown);
                cases.push(case(
                    format!("session {} ({scope_word}) by key", s.label),
                    name,
                    params,
                    if inside {
                        Expect::Ok
                    } else {
                        Expect::Unrevealing {
                            unknown_params,
                            name: s.key.clone(),
                            unknown,
                        }
                    },
                ));
                if name == "agent" || name == "chat.send" && proto == Proto::OpenClaw {
                    continue;
                }
                // By id.
                let params = json!({ "sessionId": s.id, "message": message("by id") });
                let expect = if inside {
                    Expect::Ok
                } else {
                    Expect::LikeUnknown {
                        unknown_params: json!({ "sessionId": UNKNOWN_SESSION, "message": message("by id") }),
                        name: s.id.clone(),
                        unknown: UNKNOWN_SESSION.to_owned(),
                    }
                };
                cases.push(case(
                    format!("session {} ({scope_word}) by id", s.label),
                    name,
                    params,
                    expect,
                ));
                if inside || !raw {
                    continue;
                }
                // Other shapes of the same call, with an agent that is in scope where there
                // is one (so that a check that misses the session lets the run start).
                let agent = ["main", "support"]
                    .into_iter()
                    .find(|a| fx.scope.allows_agent(a));
                let mut alias = json!({ "session_id": s.id, "message": message("alias") });
                let mut alias_unknown =
                    json!({ "session_id": UNKNOWN_SESSION, "message": message("alias") });
                if let Some(agent) = agent {
                    alias["agentId"] = json!(agent);
                    alias_unknown["agentId"] = json!(agent);
                }
                // Positional: agentId, message, sessionId (the methods' order).
                let positional = json!([agent, message("positional"), s.id]);
                let positional_unknown = json!([agent, message("positional"), UNKNOWN_SESSION]);
                for (how, params, unknown_params) in [
                    ("session_id (alias)", alias, alias_unknown),
                    (
                        "positional [agentId, message, id]",
                        positional,
                        positional_unknown,
                    ),
                ] {
                    cases.push(case(
                        format!("session {} ({scope_word}) by {how}", s.label),
                        name,
                        params,
                        Expect::Unrevealing {
                            unknown_params,
                            name: s.id.clone(),
                            unknown: UNKNOWN_SESSION.to_owned(),
                        },
                    ));
                }
            }
            for agent in ["main", "support"] {
                let allowed = fx.scope.allows_agent(agent);
                let expect = if allowed {
                    Expect::Ok
                } else {
                    Expect::Forbidden
                };
                let scope_word = if allowed { "in scope" } else { "out of scope" };
                let new_key = format!(
                    "agent:{agent}:new-{}-{}",
                    name.replace('.', "-"),
                    who_tag(proto, who)
                );
                if name != "chat.send" || proto == Proto::Frames {
                    cases.push(case(
                        format!("a new session of agent {agent} ({scope_word})"),
                        name,
                        json!({ "agentId": agent, "message": message("new") }),
                        expect.clone(),
                    ));
                }
                if name != "agent" {
                    cases.push(case(
                        format!("a new key of agent {agent} ({scope_word})"),
                        name,
                        json!({ "sessionKey": new_key, "message": message("new key") }),
                        expect,
                    ));
                }
            }
        }
        "approvals.resolve" => {
            let may = spec.access.allows(Some(who.role()));
            // An operator's resolve uses its approval up; a viewer's is refused first.
            let inside = if may {
                approvals.pop()
            } else {
                approvals.last().cloned()
            };
            let resolve = |id: &str| {
                if oc {
                    json!({ "id": id, "decision": "deny" })
                } else {
                    json!({ "approvalId": id, "approved": false, "reason": "scope matrix" })
                }
            };
            match inside {
                Some(id) => {
                    cases.push(case("an approval in scope", name, resolve(&id), Expect::Ok))
                }
                None => panic!("the fixture ran out of in-scope approvals"),
            }
            cases.push(case(
                "an approval out of scope",
                name,
                resolve(&fx.out_approval),
                Expect::LikeUnknown {
                    unknown_params: resolve(UNKNOWN_APPROVAL),
                    name: fx.out_approval.clone(),
                    unknown: UNKNOWN_APPROVAL.to_owned(),
                },
            ));
            if raw {
                let q = fx.out_approval.as_str();
                for (how, params, unknown_params) in [
                    (
                        "approval_id (alias)",
                        json!({ "approval_id": q, "approved": false }),
                        json!({ "approval_id": UNKNOWN_APPROVAL, "approved": false }),
                    ),
                    (
                        "positional [id, approved]",
                        json!([q, false]),
                        json!([UNKNOWN_APPROVAL, false]),
                    ),
                ] {
                    cases.push(case(
                        format!("an approval out of scope by {how}"),
                        name,
                        params,
                        Expect::Unrevealing {
                            unknown_params,
                            name: q.to_owned(),
                            unknown: UNKNOWN_APPROVAL.to_owned(),
                        },
                    ));
                }
            }
        }
        "subscribe" => {
            if name == "sessions.subscribe" {
                cases.push(case("sessions", name, json!({}), Expect::Ok));
                return Some(finish(spec, who, cases));
            }
            for topic in ["*", "sessions"] {
                cases.push(case(
                    format!("topic {topic}"),
                    name,
                    json!({ "topic": topic }),
                    Expect::Ok,
                ));
            }
            for agent in ["main", "support", "gpt"] {
                let allowed = fx.scope.allows_agent(agent);
                cases.push(case(
                    format!(
                        "topic agent:{agent} ({})",
                        if allowed { "in scope" } else { "out of scope" }
                    ),
                    name,
                    json!({ "topic": format!("agent:{agent}") }),
                    if allowed {
                        Expect::Ok
                    } else {
                        Expect::Forbidden
                    },
                ));
            }
            for s in &fx.sessions {
                let inside = fx.in_scope(s);
                let scope_word = if inside { "in scope" } else { "out of scope" };
                for after in [None, Some(0)] {
                    let mut params = json!({ "topic": format!("session:{}", s.id) });
                    let mut unknown_params =
                        json!({ "topic": format!("session:{UNKNOWN_SESSION}") });
                    if let Some(after) = after {
                        params["afterSeq"] = json!(after);
                        unknown_params["afterSeq"] = json!(after);
                    }
                    let expect = match (inside, after) {
                        (true, None) => Expect::Ok,
                        (true, Some(_)) => Expect::OkWhere(Check::Replayed),
                        (false, _) => Expect::LikeUnknown {
                            unknown_params,
                            name: s.id.clone(),
                            unknown: UNKNOWN_SESSION.to_owned(),
                        },
                    };
                    cases.push(case(
                        format!(
                            "topic session:{} ({scope_word}), afterSeq {after:?}",
                            s.label
                        ),
                        name,
                        params,
                        expect,
                    ));
                }
                if raw && !inside {
                    for after in [None, Some(0)] {
                        let topic = format!("session:{}", s.id);
                        let unknown_topic = format!("session:{UNKNOWN_SESSION}");
                        let (params, unknown_params) = match after {
                            None => (json!([topic]), json!([unknown_topic])),
                            Some(n) => (json!([topic, n]), json!([unknown_topic, n])),
                        };
                        cases.push(case(
                            format!(
                                "topic session:{} ({scope_word}) positional, afterSeq {after:?}",
                                s.label
                            ),
                            name,
                            params,
                            Expect::Unrevealing {
                                unknown_params,
                                name: s.id.clone(),
                                unknown: UNKNOWN_SESSION.to_owned(),
                            },
                        ));
                    }
                }
            }
            for agent in ["main", "support", "gpt"] {
                if raw && !fx.scope.allows_agent(agent) {
                    cases.push(case(
                        format!("topic agent:{agent} (out of scope) positional"),
                        name,
                        json!([format!("agent:{agent}")]),
                        Expect::Refused,
                    ));
                }
            }
        }
        _ => return None,
    }
    Some(finish(spec, who, cases))
}

/// A role below the method's minimum gets the role's usual refusal whatever the target.
fn finish(spec: &MethodSpec, who: Who, mut cases: Vec<Case>) -> Vec<Case> {
    if !spec.access.allows(Some(who.role())) {
        for c in &mut cases {
            if !matches!(c.expect, Expect::SameAsUnscoped | Expect::Connects) {
                c.expect = Expect::Forbidden;
            }
        }
    }
    cases
}

fn who_tag(proto: Proto, who: Who) -> String {
    format!("{proto:?}-{who:?}").to_ascii_lowercase()
}

/// Params naming a session by `key` for `name` (OpenClaw's `sessions.describe` takes `key`).
fn key_params(name: &str, oc: bool, key: &str) -> Value {
    if oc && name == "sessions.describe" {
        json!({ "key": key })
    } else {
        json!({ "sessionKey": key })
    }
}

/// A response without its request id, for comparing two answers.
fn answer(res: &Value) -> Value {
    let mut res = res.clone();
    if let Some(map) = res.as_object_mut() {
        map.remove("id");
    }
    res
}

fn outcome(res: &Value) -> String {
    if res["ok"] == true {
        "ok".to_owned()
    } else {
        res["error"]["code"].as_str().unwrap_or("?").to_owned()
    }
}

/// Ids of `rows[*].field`.
fn ids(rows: &Value, field: &str) -> BTreeSet<String> {
    rows.as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r[field].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Connections of one protocol and role: the scoped one and an unscoped one to compare with.
struct Pair {
    scoped: WsClient,
    plain: WsClient,
}

/// Runs one case; `Err` describes the failure with the frames.
async fn run_case(
    fx: &mut Fixture,
    pair: &mut Pair,
    proto: Proto,
    who: Who,
    c: &Case,
    trace: &mut Vec<String>,
) -> Result<(), String> {
    let scoped_token = match who {
        Who::Viewer => fx.viewer_token.clone(),
        Who::Operator => fx.operator_token.clone(),
    };
    if let Expect::Connects = c.expect {
        let (_ws, res) = open(&fx.server, &scoped_token, proto, "again").await;
        trace.push(format!("connect → {}", short(&res)));
        let role_ok = match proto {
            Proto::Frames => res["payload"]["role"] == who.role().as_str(),
            Proto::OpenClaw => res["payload"]["type"] == "hello-ok",
        };
        return if res["ok"] == true && role_ok {
            Ok(())
        } else {
            Err(format!("connect with the scoped token: {}", short(&res)))
        };
    }
    let mut params = c.params.clone();
    let mut plain_params = c.params.clone();
    if c.method == "unsubscribe" {
        // Its own subscription, on each connection.
        for (ws, p) in [
            (&mut pair.scoped, &mut params),
            (&mut pair.plain, &mut plain_params),
        ] {
            let sub = ws.call("subscribe", json!({ "topic": "sessions" })).await;
            *p = json!({ "subscriptionId": sub["payload"]["subscriptionId"] });
        }
    }
    let res = pair.scoped.call(c.method, params.clone()).await;
    trace.push(format!("{} {} → {}", c.method, short(&params), short(&res)));
    let fail = |why: String| {
        Err(format!(
            "{why}\n      sent {} {}\n      got  {}",
            c.method,
            short(&params),
            short(&res)
        ))
    };
    match &c.expect {
        Expect::Connects => Ok(()),
        Expect::Ok => {
            if res["ok"] == true {
                Ok(())
            } else {
                fail("want ok".to_owned())
            }
        }
        Expect::OkWhere(check) => {
            if res["ok"] != true {
                return fail(format!("want ok ({check:?})"));
            }
            let p = &res["payload"];
            let good = match check {
                Check::Names => {
                    let named = fx.sessions.iter().find(|s| {
                        params.to_string().contains(&s.id) || params.to_string().contains(&s.key)
                    });
                    named.is_some_and(|s| p.to_string().contains(&s.id))
                }
                Check::HasMessages => p["messages"].as_array().is_some_and(|m| !m.is_empty()),
                Check::DescribeIs => p["session"]["sessionId"].is_string(),
                Check::Replayed => p["replayed"].as_u64().is_some_and(|n| n > 0),
            };
            if good {
                Ok(())
            } else {
                fail(format!("want ok with {check:?}"))
            }
        }
        Expect::Forbidden => {
            if res["error"]["code"] == "FORBIDDEN" {
                Ok(())
            } else {
                fail("want FORBIDDEN".to_owned())
            }
        }
        Expect::LikeUnknown {
            unknown_params,
            name,
            unknown,
        } => {
            let unknown_res = pair.scoped.call(c.method, unknown_params.clone()).await;
            trace.push(format!(
                "{} {} → {}",
                c.method,
                short(unknown_params),
                short(&unknown_res)
            ));
            let ours = answer(&res).to_string().replace(name.as_str(), unknown);
            let theirs = answer(&unknown_res).to_string();
            let not_found = res["error"]["code"] == "NOT_FOUND"
                || (proto == Proto::OpenClaw && res["ok"] == true);
            if ours == theirs && not_found {
                Ok(())
            } else {
                fail(format!(
                    "want NOT_FOUND exactly as for something that does not exist:\n      \
                     unknown {} {} → {}",
                    c.method,
                    short(unknown_params),
                    short(&unknown_res)
                ))
            }
        }
        Expect::Refused => {
            if res["ok"] == false {
                Ok(())
            } else {
                fail("want a refusal".to_owned())
            }
        }
        Expect::Unrevealing {
            unknown_params,
            name,
            unknown,
        } => {
            let unknown_res = pair.scoped.call(c.method, unknown_params.clone()).await;
            trace.push(format!(
                "{} {} → {}",
                c.method,
                short(unknown_params),
                short(&unknown_res)
            ));
            let ours = answer(&res).to_string().replace(name.as_str(), unknown);
            let same = serde_json::from_str::<Value>(&ours).ok() == Some(answer(&unknown_res));
            if res["ok"] == false && same {
                Ok(())
            } else {
                fail(format!(
                    "want a refusal exactly like the same shape naming something that does not exist:\n      \
                     unknown {} {} → {}",
                    c.method,
                    short(unknown_params),
                    short(&unknown_res)
                ))
            }
        }
        Expect::SameAsUnscoped => {
            let plain = pair.plain.call(c.method, plain_params.clone()).await;
            trace.push(format!("(unscoped) → {}", short(&plain)));
            if outcome(&res) == outcome(&plain) {
                Ok(())
            } else {
                fail(format!(
                    "want what an unscoped {who:?} gets: {}",
                    short(&plain)
                ))
            }
        }
        Expect::Counts => {
            if res["ok"] != true {
                return fail("want ok".to_owned());
            }
            let p = &res["payload"];
            let nodes_hidden = p
                .get("nodes")
                .is_none_or(|n| n.is_null() || n.as_array().is_some_and(|a| a.is_empty()));
            let only_counts = p.as_object().is_some_and(|m| {
                m.values().all(|v| match v {
                    Value::Array(a) => a.is_empty(),
                    Value::Object(o) => o.values().all(Value::is_number),
                    _ => true,
                })
            });
            if !(nodes_hidden && only_counts) {
                return fail("want counts only (no nodes list)".to_owned());
            }
            // An unscoped caller sees the nodes, so leaving them out is the scope's doing.
            let plain = pair.plain.call(c.method, plain_params.clone()).await;
            trace.push(format!("(unscoped) → {}", short(&plain)));
            if plain["payload"]["nodes"]
                .as_array()
                .is_some_and(|n| !n.is_empty())
            {
                Ok(())
            } else {
                fail(format!(
                    "an unscoped {who:?} should see the nodes list: {}",
                    short(&plain)
                ))
            }
        }
        Expect::FilteredSessions { agent } => {
            if res["ok"] != true {
                return fail("want ok".to_owned());
            }
            let (rows, field) = if c.method == "sessions.list" && proto == Proto::OpenClaw {
                (&res["payload"]["sessions"], "sessionId")
            } else {
                (&res["payload"]["sessions"], "id")
            };
            let got = ids(rows, field);
            let (want, hidden) = truth_sessions(fx, *agent).await;
            if agent.is_none() && hidden.is_empty() {
                return fail(
                    "the admin sees no session outside the scope: nothing was filtered".to_owned(),
                );
            }
            if got == want {
                Ok(())
            } else {
                fail(format!(
                    "want exactly the in-scope sessions {want:?} (not {hidden:?})"
                ))
            }
        }
        Expect::FilteredApprovals => {
            if res["ok"] != true {
                return fail("want ok".to_owned());
            }
            let got = if c.method == "plugin.approval.list" {
                ids(&res["payload"], "id")
            } else {
                ids(&res["payload"]["approvals"], "approvalId")
            };
            let (want, hidden) = truth_approvals(fx).await;
            if !hidden.contains(&fx.out_approval) {
                return fail(format!(
                    "the out-of-scope approval {} is not pending",
                    fx.out_approval
                ));
            }
            if got == want {
                Ok(())
            } else {
                fail(format!(
                    "want exactly the in-scope approvals {want:?} (not {hidden:?})"
                ))
            }
        }
    }
}

/// The sessions the admin sees (with `agent` as filter): (in scope, out of scope).
async fn truth_sessions(
    fx: &mut Fixture,
    agent: Option<&str>,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut params = json!({ "limit": 500 });
    if let Some(agent) = agent {
        params["agentId"] = json!(agent);
    }
    let list = ok(&mut fx.admin, "sessions.list", params).await;
    let (mut inside, mut outside) = (BTreeSet::new(), BTreeSet::new());
    for row in list["sessions"].as_array().unwrap() {
        let id = row["id"].as_str().unwrap().to_owned();
        if fx
            .scope
            .allows_session(&id, row["agentId"].as_str().unwrap())
        {
            inside.insert(id);
        } else {
            outside.insert(id);
        }
    }
    (inside, outside)
}

/// The pending approvals the admin sees: (in scope, out of scope).
async fn truth_approvals(fx: &mut Fixture) -> (BTreeSet<String>, BTreeSet<String>) {
    let agents = session_agents(&mut fx.admin).await;
    let list = ok(&mut fx.admin, "approvals.list", json!({})).await;
    let (mut inside, mut outside) = (BTreeSet::new(), BTreeSet::new());
    for a in list["approvals"].as_array().unwrap() {
        let id = a["approvalId"].as_str().unwrap().to_owned();
        let session = a["sessionId"].as_str().unwrap();
        let agent = agents.get(session).map_or("", String::as_str);
        if fx.scope.allows_session(session, agent) {
            inside.insert(id);
        } else {
            outside.insert(id);
        }
    }
    (inside, outside)
}

/// Every session's agent, as the admin sees them.
async fn session_agents(admin: &mut WsClient) -> BTreeMap<String, String> {
    let list = ok(admin, "sessions.list", json!({ "limit": 500 })).await;
    list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["agentId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The whole table for one shape of scope.
async fn matrix(case: ScopeCase) {
    let mut fx = fixture(case).await;
    let verbose = std::env::var_os("SWITCHBOARD_TEST_FRAMES").is_some();
    let mut failures = Vec::new();
    let mut rows = 0;
    let mut oc_names_called = BTreeSet::new();
    let mut approvals = fx.in_approvals.clone();
    approvals.reverse();
    for proto in [Proto::Frames, Proto::OpenClaw] {
        for who in [Who::Viewer, Who::Operator] {
            let tag = who_tag(proto, who);
            let scoped_token = match who {
                Who::Viewer => fx.viewer_token.clone(),
                Who::Operator => fx.operator_token.clone(),
            };
            let plain_token = fx.server.token(who.role()).await;
            let mut pair = Pair {
                scoped: connected(&fx.server, &scoped_token, proto, &format!("scoped-{tag}")).await,
                plain: connected(&fx.server, &plain_token, proto, &format!("plain-{tag}")).await,
            };
            for spec in CATALOGUE {
                let names = call_names(spec.name, proto);
                for name in names {
                    if proto == Proto::OpenClaw {
                        oc_names_called.insert(name);
                    }
                    let Some(cases) = cases_for(&fx, spec, name, proto, who, &mut approvals) else {
                        failures.push(format!(
                            "{}: no row in the scope table (say how a scoped token is limited in it)",
                            spec.name
                        ));
                        continue;
                    };
                    for c in cases {
                        rows += 1;
                        let mut trace = Vec::new();
                        let result = run_case(&mut fx, &mut pair, proto, who, &c, &mut trace).await;
                        if verbose {
                            eprintln!(
                                "[{case:?} {proto:?} {who:?}] {} as {name}: {} — {}",
                                spec.name,
                                c.what,
                                trace.join(" | ")
                            );
                        }
                        if let Err(why) = result {
                            failures.push(format!(
                                "[{case:?} scope {} · {proto:?} · scoped {who:?}] {} (as {name}): {}: {why}",
                                fx.scope_json, spec.name, c.what
                            ));
                        }
                    }
                }
            }
            // Whatever arrived on the scoped connection's subscriptions: never a session out
            // of scope.
            let agents = session_agents(&mut fx.admin).await;
            let frames = drain(&mut pair.scoped, Duration::from_secs(2)).await;
            for f in frames.iter().filter(|f| f["type"] == "event") {
                if let Some(session) = session_of(f) {
                    let agent = agents.get(session).map_or("", String::as_str);
                    if !fx.scope.allows_session(session, agent) {
                        failures.push(format!(
                            "[{case:?} {proto:?} scoped {who:?}] an event of session {session} (agent {agent}, out of scope) was delivered: {}",
                            short(f)
                        ));
                    }
                }
            }
        }
    }
    for (name, _) in switchboard::ws::OPENCLAW_METHODS {
        assert!(
            oc_names_called.contains(name),
            "OpenClaw's {name} is not in the scope table"
        );
    }
    let _ = fx.case;
    assert!(
        failures.is_empty(),
        "{} of {rows} calls of the scope table failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_token_scoped_to_sessions_reaches_only_them_by_every_method_on_both_protocols() {
    matrix(ScopeCase::Sessions).await;
}

#[tokio::test]
async fn a_token_scoped_to_an_agent_reaches_only_its_sessions_by_every_method_on_both_protocols() {
    matrix(ScopeCase::Agents).await;
}

// ---------------------------------------------------------------------------------------------
// Event delivery

/// One subscriber: who, on which topic, and what it read.
struct Subscriber {
    label: String,
    /// `None`: unscoped (the control).
    scope: Option<Scope>,
    topic: String,
    proto: Proto,
    ws: WsClient,
    frames: Vec<Value>,
}

/// An event as compared between subscribers: name, session, run, per-session seq, status.
fn event_key(e: &Value) -> String {
    let p = &e["payload"];
    format!(
        "{} {} run={} sessionSeq={} status={}",
        e["event"].as_str().unwrap_or("?"),
        session_of(e).unwrap_or("-"),
        p["runId"].as_str().unwrap_or("-"),
        p["sessionSeq"],
        p["status"].as_str().unwrap_or("-"),
    )
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// What `want` has that `got` lacks, and what `got` has beyond `want` (both sorted, counted
/// with repetition).
fn multiset_diff(want: &[String], got: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut missing, mut extra) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < want.len() || j < got.len() {
        match (want.get(i), got.get(j)) {
            (Some(w), Some(g)) if w == g => {
                i += 1;
                j += 1;
            }
            (Some(w), Some(g)) if w < g => {
                missing.push(w.clone());
                i += 1;
            }
            (Some(_), Some(g)) => {
                extra.push(g.clone());
                j += 1;
            }
            (Some(w), None) => {
                missing.push(w.clone());
                i += 1;
            }
            (None, Some(g)) => {
                extra.push(g.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    (missing, extra)
}

#[tokio::test]
async fn scoped_subscribers_get_every_in_scope_event_and_never_an_out_of_scope_one() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__AUTH__FAILED_PER_MINUTE", "1000"),
        ("SWITCHBOARD__LIMITS__CHAT_PER_MINUTE", "100000"),
        ("SWITCHBOARD__LIMITS__CHAT_BURST", "100000"),
        ("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "2"),
        ("SWITCHBOARD__AGENTS__SUPPORT__KIND", "echo"),
        ("SWITCHBOARD__AGENTS__SUPPORT__CHUNK_DELAY_MS", "2"),
    ])
    .await;
    let admin_token = server.token(Role::Admin).await;
    let mut admin = WsClient::connected(server.addr, Some(&admin_token), "admin").await;
    let operator_token = server.token(Role::Operator).await;
    let mut op = WsClient::connected(server.addr, Some(&operator_token), "driver").await;
    // The sessions: A, B of main; S, T of support.
    let mut agent_of: BTreeMap<String, String> = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for (label, agent, key) in [
        ("A", "main", "agent:main:alpha"),
        ("B", "main", "agent:main:beta"),
        ("S", "support", "agent:support:gamma"),
        ("T", "support", "agent:support:delta"),
    ] {
        let sent = ok(
            &mut op,
            "chat.send",
            json!({ "agentId": agent, "sessionKey": key, "message": format!("first words of {label}") }),
        )
        .await;
        let id = sent["sessionId"].as_str().unwrap().to_owned();
        agent_of.insert(id.clone(), agent.to_owned());
        ids.insert(label, id);
    }
    let (a, b, s, t) = (&ids["A"], &ids["B"], &ids["S"], &ids["T"]);
    let sessions_scope = json!({ "sessions": [a] });
    let agents_scope = json!({ "agents": ["support"] });
    let vs = create_token(
        &mut admin,
        "viewer-of-a",
        Role::Viewer,
        Some(&sessions_scope),
    )
    .await;
    let va = create_token(
        &mut admin,
        "viewer-of-support",
        Role::Viewer,
        Some(&agents_scope),
    )
    .await;
    let vu = server.token(Role::Viewer).await;
    let viewers: [(&str, &String, Option<Scope>); 3] = [
        ("sessions[A]", &vs, scope_of(&sessions_scope)),
        ("agents[support]", &va, scope_of(&agents_scope)),
        ("unscoped", &vu, None),
    ];
    // Subscribers: one connection per topic (frames carry no subscription id).
    let topics = [
        "*".to_owned(),
        "sessions".to_owned(),
        "agent:support".to_owned(),
        "agent:main".to_owned(),
        format!("session:{a}"),
        format!("session:{s}"),
    ];
    let mut subs: Vec<Subscriber> = Vec::new();
    let mut failures = Vec::new();
    for (label, token, scope) in &viewers {
        for topic in &topics {
            let mut ws = connected(&server, token, Proto::Frames, label).await;
            let res = ws.call("subscribe", json!({ "topic": topic })).await;
            let allowed = match (scope, topic.split_once(':')) {
                (None, _) => true,
                (Some(sc), Some(("agent", agent))) => sc.allows_agent(agent),
                (Some(sc), Some(("session", id))) => sc.allows_session(id, &agent_of[id]),
                (Some(_), _) => true,
            };
            if (res["ok"] == true) != allowed {
                failures.push(format!(
                    "{label}: subscribe {topic}: want {}, got {res}",
                    if allowed { "ok" } else { "a refusal" }
                ));
            }
            if res["ok"] == true {
                subs.push(Subscriber {
                    label: label.to_string(),
                    scope: scope.clone(),
                    topic: topic.clone(),
                    proto: Proto::Frames,
                    ws,
                    frames: Vec::new(),
                });
            }
        }
        // The OpenClaw dialect: sessions.subscribe, and `*` through our own name.
        for (method, topic) in [("sessions.subscribe", "sessions"), ("subscribe", "*")] {
            let mut ws = connected(&server, token, Proto::OpenClaw, label).await;
            let params = if method == "subscribe" {
                json!({ "topic": topic })
            } else {
                json!({})
            };
            let res = ws.call(method, params).await;
            assert_eq!(res["ok"], true, "{label}: OpenClaw {method}: {res}");
            subs.push(Subscriber {
                label: label.to_string(),
                scope: scope.clone(),
                topic: topic.to_owned(),
                proto: Proto::OpenClaw,
                ws,
                frames: Vec::new(),
            });
        }
    }
    // Runs in and out of scope, interleaved: two rounds over A, B, S, T and a new session of
    // each agent; then T (support) and the new main session are deleted.
    let mut runs = Vec::new();
    for round in 0..2 {
        for (agent, session) in [
            ("main", Some(a)),
            ("main", Some(b)),
            ("support", Some(s)),
            ("support", Some(t)),
            ("main", None),
            ("support", None),
        ] {
            let mut params =
                json!({ "agentId": agent, "message": format!("round {round} one two three four") });
            if let Some(session) = session {
                params["sessionId"] = json!(session);
            }
            let started = ok(&mut op, "chat.start", params).await;
            let session = started["sessionId"].as_str().unwrap().to_owned();
            agent_of.insert(session.clone(), agent.to_owned());
            runs.push((started["runId"].as_str().unwrap().to_owned(), session));
        }
    }
    for (run, _) in &runs {
        wait_event(&mut op, &format!("the end of run {run}"), |e| {
            e["event"] == "agent"
                && e["payload"]["runId"] == *run
                && ["completed", "failed", "aborted"]
                    .iter()
                    .any(|s| e["payload"]["status"] == *s)
        })
        .await;
    }
    let new_main = runs
        .iter()
        .find(|(_, session)| agent_of[session] == "main" && session != a && session != b)
        .map(|(_, session)| session.clone())
        .unwrap();
    for doomed in [t, &new_main] {
        ok(
            &mut admin,
            "sessions.delete",
            json!({ "sessionId": doomed }),
        )
        .await;
    }
    futures_util::future::join_all(subs.iter_mut().map(|sub| async move {
        sub.frames = drain(&mut sub.ws, Duration::from_secs(5)).await;
    }))
    .await;
    // Compare each scoped subscriber with the unscoped one on the same topic and protocol.
    let control = |topic: &str, proto: Proto| -> Vec<Value> {
        subs.iter()
            .find(|x| x.scope.is_none() && x.topic == topic && x.proto == proto)
            .map(|x| {
                x.frames
                    .iter()
                    .filter(|f| f["type"] == "event" && f["event"] != "tick")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let in_scope = |scope: &Scope, e: &Value| -> Option<bool> {
        let session = session_of(e)?;
        let agent = agent_of
            .get(session)
            .map(String::as_str)
            .or_else(|| e["payload"]["agentId"].as_str())
            .unwrap_or("");
        Some(scope.allows_session(session, agent))
    };
    for sub in &subs {
        let faults = seq_faults(&sub.frames);
        if !faults.is_empty() {
            failures.push(format!(
                "{} {:?} {}: event seq broken: {faults:#?}",
                sub.label, sub.proto, sub.topic
            ));
        }
        let Some(scope) = &sub.scope else { continue };
        let events: Vec<&Value> = sub
            .frames
            .iter()
            .filter(|f| f["type"] == "event" && f["event"] != "tick")
            .collect();
        let leaks: Vec<String> = events
            .iter()
            .filter(|e| in_scope(scope, e) == Some(false))
            .map(|e| short(e))
            .collect();
        if !leaks.is_empty() {
            failures.push(format!(
                "{} {:?} {}: {} out-of-scope events delivered:\n  {}",
                sub.label,
                sub.proto,
                sub.topic,
                leaks.len(),
                leaks.join("\n  ")
            ));
        }
        let all = control(&sub.topic, sub.proto);
        let want: Vec<&Value> = all
            .iter()
            .filter(|e| in_scope(scope, e) != Some(false))
            .collect();
        let out_of_scope = all.len() - want.len();
        if want.is_empty() {
            failures.push(format!(
                "{} {:?} {}: the control saw no in-scope event (the test drives none?)",
                sub.label, sub.proto, sub.topic
            ));
        }
        if ["*", "sessions"].contains(&sub.topic.as_str()) && out_of_scope == 0 {
            failures.push(format!(
                "{} {:?} {}: the control saw no out-of-scope event (nothing to filter?)",
                sub.label, sub.proto, sub.topic
            ));
        }
        if std::env::var_os("SWITCHBOARD_TEST_FRAMES").is_some() {
            eprintln!(
                "{} {:?} {}: {} events; the unscoped control had {} ({} in scope, {} out)",
                sub.label,
                sub.proto,
                sub.topic,
                events.len(),
                all.len(),
                want.len(),
                out_of_scope
            );
        }
        let got_keys = sorted(events.iter().map(|e| event_key(e)).collect());
        let want_keys = sorted(want.iter().map(|e| event_key(e)).collect());
        if got_keys != want_keys {
            let (missing, extra) = multiset_diff(&want_keys, &got_keys);
            failures.push(format!(
                "{} {:?} {}: got {} events, want the control's {} in-scope ones (of {}); \
                 missing {}: {:?}; extra {}: {:?}",
                sub.label,
                sub.proto,
                sub.topic,
                got_keys.len(),
                want_keys.len(),
                all.len(),
                missing.len(),
                missing.iter().take(6).collect::<Vec<_>>(),
                extra.len(),
                extra.iter().take(6).collect::<Vec<_>>()
            ));
        }
    }
    // Replay with afterSeq: the stored events of an in-scope session, exactly as the unscoped
    // viewer gets them; an out-of-scope session is NOT_FOUND as an unknown one, and nothing
    // arrives for it.
    for (label, token, scope) in &viewers {
        for (name, session) in [("A", a), ("B", b), ("S", s)] {
            for after in [0, 2] {
                let mut ws = connected(&server, token, Proto::Frames, label).await;
                let res = ws
                    .call(
                        "subscribe",
                        json!({ "topic": format!("session:{session}"), "afterSeq": after }),
                    )
                    .await;
                let allowed = scope
                    .as_ref()
                    .is_none_or(|sc| sc.allows_session(session, &agent_of[session]));
                let frames =
                    drain_quiet(&mut ws, Duration::from_millis(150), Duration::from_secs(5)).await;
                let replay: Vec<String> = frames
                    .iter()
                    .filter(|f| f["type"] == "event")
                    .map(event_key)
                    .collect();
                if allowed {
                    let n = res["payload"]["replayed"].as_u64().unwrap_or(0) as usize;
                    let stored: Vec<u64> = frames
                        .iter()
                        .filter(|f| f["type"] == "event")
                        .filter_map(|f| f["payload"]["sessionSeq"].as_u64())
                        .collect();
                    let expected: Vec<u64> = ((after + 1)..=(after + n as u64)).collect();
                    if res["ok"] != true || n == 0 || stored != expected {
                        failures.push(format!(
                            "{label}: replay of {name} after {after}: {res}; sessionSeqs {stored:?}, want {expected:?}"
                        ));
                    }
                } else {
                    let mut probe = connected(&server, token, Proto::Frames, label).await;
                    let unknown = probe
                        .call(
                            "subscribe",
                            json!({ "topic": format!("session:{UNKNOWN_SESSION}"), "afterSeq": after }),
                        )
                        .await;
                    let ours = answer(&res)
                        .to_string()
                        .replace(session.as_str(), UNKNOWN_SESSION);
                    if res["error"]["code"] != "NOT_FOUND"
                        || serde_json::from_str::<Value>(&ours).ok() != Some(answer(&unknown))
                    {
                        failures.push(format!(
                            "{label}: replay of {name} (out of scope) after {after}: want NOT_FOUND as for an unknown session ({unknown}), got {res}"
                        ));
                    }
                    if !replay.is_empty() {
                        failures.push(format!(
                            "{label}: replay of {name} (out of scope) delivered {} events: {replay:?}",
                            replay.len()
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
