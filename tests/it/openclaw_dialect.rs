//! The OpenClaw dialect of the frame protocol (SPEC §16, issue 15), frame by frame over a real
//! socket: what an OpenClaw client (a `connect` asking for protocol 4) sees from the hello to the
//! end of a run, what hostile use of the dialect gets, and that a protocol-3 client keeps seeing
//! exactly what it saw before. Every OpenClaw connection's event `seq` is checked to run 1, 2, 3…
//! with no gap (ticks included) for the whole of each test. `SWITCHBOARD_TEST_FRAMES=1` prints
//! every connection's frames when it is dropped.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{OpenAiStub, Reply, TestServer, WsClient};

/// The scopes the TUI asks for.
const ALL_SCOPES: [&str; 4] = [
    "operator.admin",
    "operator.read",
    "operator.write",
    "operator.approvals",
];
/// How long one wait for a frame may take before the test fails with a frame dump.
const WAIT: Duration = Duration::from_secs(8);
const PING: &str = "SWITCHBOARD__SERVER__PING_INTERVAL_MS";
const CHUNK_DELAY: &str = "SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS";
/// The hello's fields before the dialect (what protocol-3 clients must keep seeing).
const OLD_HELLO_KEYS: [&str; 11] = [
    "connection_id",
    "features",
    "limits",
    "methods",
    "policy",
    "protocol",
    "role",
    "server",
    "snapshot",
    "type",
    "user_id",
];

/// OpenClaw's `connect` params as `openclaw agent` / `gateway call` send them.
fn openclaw_connect(token: &str, scopes: &[&str], instance: &str) -> Value {
    json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {
            "id": "cli", "mode": "cli", "version": "2026.9.6", "platform": "linux",
            "instanceId": instance
        },
        "caps": [], "role": "operator", "scopes": scopes, "auth": { "token": token }
    })
}

/// Opens `/ws`, checks the challenge, sends `connect` with `params`; the socket and the `res`.
async fn hello(server: &TestServer, params: Value) -> (WsClient, Value) {
    let mut ws = WsClient::open(server.addr, "/ws", &[])
        .await
        .expect("upgrade");
    let challenge = ws.next_json().await.expect("challenge");
    assert_eq!(challenge["event"], "connect.challenge", "{challenge}");
    assert!(
        challenge["payload"]["nonce"].is_string(),
        "OpenClaw clients close without a nonce: {challenge}"
    );
    assert!(
        challenge.get("seq").is_none(),
        "the challenge has no seq: {challenge}"
    );
    let res = ws.call("connect", params).await;
    (ws, res)
}

/// One frame, shortened for failure messages.
fn short(frame: &Value) -> String {
    let text = frame.to_string();
    if text.chars().count() <= 400 {
        return text;
    }
    let head: String = text.chars().take(400).collect();
    format!("{head}…")
}

fn is_run_event(frame: &Value, run_id: &str) -> bool {
    frame["type"] == "event"
        && (frame["event"] == "chat" || frame["event"] == "agent")
        && frame["payload"]["runId"] == run_id
}

fn is_chat_end(frame: &Value, run_id: &str) -> bool {
    frame["type"] == "event"
        && frame["event"] == "chat"
        && frame["payload"]["runId"] == run_id
        && ["final", "aborted", "error"]
            .iter()
            .any(|s| frame["payload"]["state"] == *s)
}

fn is_lifecycle(frame: &Value, phase: &str) -> bool {
    frame["event"] == "agent"
        && frame["payload"]["stream"] == "lifecycle"
        && frame["payload"]["data"]["phase"] == phase
}

fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn is_ms(v: &Value) -> bool {
    v.as_i64().is_some_and(|ms| ms > 1_600_000_000_000)
}

/// The text of an OpenClaw assistant message (`content[0].text`).
fn text_of(message: &Value) -> &str {
    message["content"][0]["text"].as_str().unwrap_or_default()
}

/// An OpenClaw-dialect connection that logs every frame it reads and checks the event `seq`.
struct Oc {
    name: String,
    ws: WsClient,
    /// The `hello-ok` payload.
    hello: Value,
    /// Every frame read after the hello, in order.
    log: Vec<Value>,
    /// Frames read but not yet claimed by a wait.
    inbox: Vec<Value>,
    last_seq: u64,
    seq_faults: Vec<String>,
}

impl Oc {
    async fn open(server: &TestServer, token: &str, scopes: &[&str], name: &str) -> Oc {
        let (ws, res) = hello(server, openclaw_connect(token, scopes, name)).await;
        assert_eq!(res["ok"], true, "{name}: connect failed: {res}");
        Oc {
            name: name.to_owned(),
            ws,
            hello: res["payload"].clone(),
            log: Vec::new(),
            inbox: Vec::new(),
            last_seq: 0,
            seq_faults: Vec::new(),
        }
    }

    /// An operator (OpenClaw scopes read/write/approvals granted).
    async fn operator(server: &TestServer, name: &str) -> Oc {
        let token = server.token(Role::Operator).await;
        Oc::open(server, &token, &ALL_SCOPES, name).await
    }

    /// A viewer: an admin token asking only for `operator.read`.
    async fn viewer(server: &TestServer, name: &str) -> Oc {
        let token = server.token(Role::Admin).await;
        Oc::open(server, &token, &["operator.read"], name).await
    }

    /// The last frames read, one a line.
    fn dump(&self) -> String {
        let from = self.log.len().saturating_sub(40);
        let mut out = format!(
            "--- last {} of {} frames on {} ---\n",
            self.log.len() - from,
            self.log.len(),
            self.name
        );
        for (i, frame) in self.log.iter().enumerate().skip(from) {
            out.push_str(&format!("#{i} {}\n", short(frame)));
        }
        out
    }

    fn check_seq(&mut self, frame: &Value) {
        if frame["type"] != "event" {
            return;
        }
        let expected = self.last_seq + 1;
        match frame["seq"].as_u64() {
            Some(seq) if seq == expected => self.last_seq = seq,
            Some(seq) => {
                self.seq_faults.push(format!(
                    "expected seq {expected}, got {seq}: {}",
                    short(frame)
                ));
                self.last_seq = seq;
            }
            None => self.seq_faults.push(format!(
                "event without seq (expected {expected}): {}",
                short(frame)
            )),
        }
    }

    /// The next frame from the socket within `within` (None: nothing came); a close fails.
    async fn read(&mut self, within: Duration) -> Option<Value> {
        match tokio::time::timeout(within, self.ws.next_json()).await {
            Err(_) => None,
            Ok(Err(closed)) => panic!(
                "{}: the connection closed ({closed:?})\n{}",
                self.name,
                self.dump()
            ),
            Ok(Ok(frame)) => {
                self.check_seq(&frame);
                self.log.push(frame.clone());
                Some(frame)
            }
        }
    }

    /// The first unclaimed frame matching `pred`, waiting up to [`WAIT`].
    async fn wait(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.inbox.iter().position(&pred) {
            return self.inbox.remove(i);
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(frame) = self.read(left).await else {
                panic!("{}: no {what} within {WAIT:?}\n{}", self.name, self.dump());
            };
            if pred(&frame) {
                return frame;
            }
            self.inbox.push(frame);
        }
    }

    /// Reads whatever arrives during `d`.
    async fn idle(&mut self, d: Duration) {
        let until = Instant::now() + d;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.read(left).await {
                Some(frame) => self.inbox.push(frame),
                None => return,
            }
        }
    }

    async fn send(&mut self, method: &str, params: Value) -> String {
        self.ws.send_req(method, params).await
    }

    async fn res(&mut self, id: &str) -> Value {
        self.wait(&format!("res {id}"), |f| {
            f["type"] == "res" && f["id"] == id
        })
        .await
    }

    /// Sends a request and waits for its (first) `res` frame.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        self.res(&id).await
    }

    /// The payload of a call that must succeed.
    async fn ok(&mut self, method: &str, params: Value) -> Value {
        let res = self.call(method, params.clone()).await;
        assert!(
            res["ok"] == true,
            "{}: {method} {} failed: {res}\n{}",
            self.name,
            short(&params),
            self.dump()
        );
        res["payload"].clone()
    }

    /// The error of a call that must fail.
    async fn error(&mut self, method: &str, params: Value) -> Value {
        let res = self.call(method, params.clone()).await;
        assert!(
            res["ok"] == false,
            "{}: {method} {} must fail: {res}\n{}",
            self.name,
            short(&params),
            self.dump()
        );
        res["error"].clone()
    }

    /// The terminal `chat` event (final/aborted/error) of the run with client id `run_id`.
    async fn run_end(&mut self, run_id: &str) -> Value {
        self.wait(&format!("terminal chat event of run {run_id}"), |f| {
            is_chat_end(f, run_id)
        })
        .await
    }

    /// Where in the log the first frame matching `pred` is.
    fn pos(&self, what: &str, pred: impl Fn(&Value) -> bool) -> usize {
        self.log
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("{}: no {what} in the log\n{}", self.name, self.dump()))
    }

    /// The events of the run with client id `run_id`, with their log positions.
    fn run_events(&self, run_id: &str) -> Vec<(usize, &Value)> {
        self.log
            .iter()
            .enumerate()
            .filter(|(_, f)| is_run_event(f, run_id))
            .collect()
    }

    fn assert_seq(&self) {
        assert!(
            self.seq_faults.is_empty(),
            "{}: event seq broken: {:#?}\n{}",
            self.name,
            self.seq_faults,
            self.dump()
        );
    }
}

impl Drop for Oc {
    fn drop(&mut self) {
        if std::env::var_os("SWITCHBOARD_TEST_FRAMES").is_some() {
            let all: Vec<String> = self.log.iter().map(short).collect();
            eprintln!("=== {} ===\n{}", self.name, all.join("\n"));
        }
        if !std::thread::panicking() {
            self.assert_seq();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// connect

#[tokio::test]
async fn hello_ok_for_openclaw_says_protocol_4_with_auth_session_defaults_methods_and_tick_interval()
 {
    let server = TestServer::start(&[(PING, "1234")]).await;
    let admin = server.token(Role::Admin).await;
    let operator = server.token(Role::Operator).await;
    let viewer = server.token(Role::Viewer).await;
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            &admin,
            &ALL_SCOPES,
            &[
                "operator.admin",
                "operator.approvals",
                "operator.read",
                "operator.write",
            ],
        ),
        (
            &operator,
            &ALL_SCOPES,
            &["operator.approvals", "operator.read", "operator.write"],
        ),
        (&viewer, &ALL_SCOPES, &["operator.read"]),
        (&admin, &["operator.read"], &["operator.read"]),
    ];
    for (token, scopes, expected_scopes) in cases {
        let c = Oc::open(&server, token, scopes, "hello").await;
        let h = &c.hello;
        let case = format!("scopes {expected_scopes:?}: {h}");
        assert_eq!(h["type"], "hello-ok", "{case}");
        assert_eq!(h["protocol"], 4, "{case}");
        assert_eq!(h["auth"]["method"], "token", "{case}");
        assert_eq!(h["auth"]["role"], "operator", "OpenClaw's role: {case}");
        let mut granted = strings(&h["auth"]["scopes"]);
        granted.sort();
        assert_eq!(granted, expected_scopes, "effective scopes: {case}");
        let defaults = &h["snapshot"]["sessionDefaults"];
        for (field, value) in [
            ("defaultAgentId", json!("main")),
            ("mainKey", json!("main")),
            ("mainSessionKey", json!("agent:main:main")),
            ("scope", json!("per-sender")),
            ("ownership", json!("sole")),
            ("selectionRequired", json!(false)),
        ] {
            assert_eq!(defaults[field], value, "sessionDefaults.{field}: {case}");
        }
        assert!(h["snapshot"]["uptimeMs"].is_u64(), "uptimeMs: {case}");
        assert_eq!(h["policy"]["tickIntervalMs"], 1234, "{case}");
        assert!(h["server"].is_object(), "{case}");
        let methods = strings(&h["features"]["methods"]);
        let events = strings(&h["features"]["events"]);
        for event in ["tick", "chat", "agent", "sessions.changed"] {
            assert!(events.iter().any(|e| e == event), "event {event}: {case}");
        }
        let readable = [
            "health",
            "status",
            "agents.list",
            "models.list",
            "commands.list",
            "sessions.list",
            "sessions.describe",
            "sessions.subscribe",
            "chat.history",
            "config.get",
        ];
        let writable = ["chat.send", "chat.abort", "agent", "question.list"];
        let may_write = expected_scopes.contains(&"operator.write");
        for m in readable {
            assert!(methods.iter().any(|x| x == m), "{m} advertised: {case}");
        }
        for m in writable {
            assert_eq!(
                methods.iter().any(|x| x == m),
                may_write,
                "{m} advertised iff the role may call it: {case}"
            );
        }
        assert!(
            !methods.iter().any(|x| x == "taskSuggestions.list"),
            "the TUI must not be told about task suggestions: {case}"
        );
    }
    // An OpenClaw client id without a protocol range also selects the dialect.
    let (_ws, res) = hello(
        &server,
        json!({
            "client": { "id": "openclaw-tui", "mode": "ui", "version": "2026.9.6", "platform": "linux", "instanceId": "tui-1" },
            "role": "operator", "scopes": ALL_SCOPES, "auth": { "token": operator }
        }),
    )
    .await;
    assert_eq!(res["payload"]["protocol"], 4, "{res}");
}

#[tokio::test]
async fn a_protocol_3_connect_gets_exactly_the_old_hello_and_no_ticks() {
    let server = TestServer::start(&[(PING, "300")]).await;
    let admin = server.token(Role::Admin).await;
    let cases = [
        json!({ "token": admin, "user_id": "goclaw" }),
        json!({
            "minProtocol": 3, "maxProtocol": 3,
            "client": { "id": "cli", "mode": "cli", "version": "2026.9.6", "platform": "linux", "instanceId": "old" },
            "role": "operator", "scopes": ALL_SCOPES, "auth": { "token": admin }
        }),
        json!({ "client": { "id": "my-own-client" }, "auth": { "token": admin } }),
    ];
    let server = &server;
    let clients = cases.into_iter().map(|params| async move {
        let (mut ws, res) = hello(server, params.clone()).await;
        let p = &res["payload"];
        assert_eq!(res["ok"], true, "{params}: {res}");
        assert_eq!(p["protocol"], 3, "{params}: {res}");
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys, OLD_HELLO_KEYS,
            "the old hello's fields, no more: {params}"
        );
        assert_eq!(p["snapshot"], json!({}), "{params}");
        assert_eq!(
            p["features"]["methods"], p["methods"],
            "our method names: {params}"
        );
        let methods = strings(&p["methods"]);
        for dialect_only in [
            "sessions.describe",
            "sessions.subscribe",
            "agent",
            "plugin.approval.list",
        ] {
            assert!(
                !methods.iter().any(|m| m == dialect_only),
                "{dialect_only} is an OpenClaw name: {params}"
            );
        }
        let idle = tokio::time::timeout(Duration::from_millis(900), ws.next_json()).await;
        assert!(
            idle.is_err(),
            "a protocol-3 connection gets no frame while idle (no tick): {idle:?}"
        );
    });
    futures_util::future::join_all(clients).await;
}

#[tokio::test]
async fn ticks_arrive_at_the_advertised_interval_with_contiguous_seq() {
    let server = TestServer::start(&[(PING, "300")]).await;
    let mut c = Oc::viewer(&server, "ticker").await;
    assert_eq!(c.hello["policy"]["tickIntervalMs"], 300);
    c.idle(Duration::from_millis(1700)).await;
    let ticks: Vec<&Value> = c.log.iter().filter(|f| f["event"] == "tick").collect();
    assert!(
        (3..=8).contains(&ticks.len()),
        "{} ticks in 1.7 s at 300 ms\n{}",
        ticks.len(),
        c.dump()
    );
    assert_eq!(
        ticks.len(),
        c.log.len(),
        "nothing but ticks while idle\n{}",
        c.dump()
    );
    assert_eq!(ticks[0]["seq"], 1, "{}", c.dump());
    let ts: Vec<i64> = ticks
        .iter()
        .map(|t| {
            t["payload"]["ts"]
                .as_i64()
                .unwrap_or_else(|| panic!("tick without ts: {t}"))
        })
        .collect();
    assert!(
        ts.windows(2).all(|w| w[0] < w[1]),
        "tick ts increase: {ts:?}"
    );
    let mean = (ts[ts.len() - 1] - ts[0]) / (ts.len() as i64 - 1);
    assert!(
        (200..=450).contains(&mean),
        "mean tick interval {mean} ms at 300 ms: {ts:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// sessions and chat

#[tokio::test]
async fn sessions_subscribe_brings_sessions_changed_for_chats_elsewhere_until_unsubscribe() {
    let server = TestServer::start(&[]).await;
    let mut watcher = Oc::viewer(&server, "watcher").await;
    let mut talker = Oc::operator(&server, "talker").await;
    assert_eq!(
        watcher.ok("sessions.subscribe", json!({})).await,
        json!({ "subscribed": true })
    );
    let key = "agent:main:watched";
    talker
        .ok(
            "chat.send",
            json!({ "sessionKey": key, "message": "first words", "idempotencyKey": "w1" }),
        )
        .await;
    talker.run_end("w1").await;
    let changed = watcher
        .wait("sessions.changed for agent:main:watched", |f| {
            f["event"] == "sessions.changed" && f["payload"]["sessionKey"] == key
        })
        .await;
    let p = &changed["payload"];
    assert!(p["sessionId"].is_string(), "{changed}");
    assert_eq!(p["agentId"], "main", "{changed}");
    assert_eq!(
        p["reason"], "create",
        "the first change of a new session: {changed}"
    );
    assert!(is_ms(&p["ts"]), "{changed}");
    assert_eq!(p["session"]["key"], key, "the row: {changed}");
    assert_eq!(p["session"]["sessionId"], p["sessionId"], "{changed}");
    watcher.idle(Duration::from_millis(300)).await;
    talker.idle(Duration::from_millis(100)).await;
    assert!(
        !talker.log.iter().any(|f| f["event"] == "sessions.changed"),
        "no sessions.changed without sessions.subscribe\n{}",
        talker.dump()
    );

    assert_eq!(
        watcher.ok("sessions.unsubscribe", json!({})).await,
        json!({ "subscribed": false })
    );
    let mark = watcher.log.len();
    talker
        .ok(
            "chat.send",
            json!({ "sessionKey": key, "message": "more words", "idempotencyKey": "w2" }),
        )
        .await;
    talker
        .ok(
            "chat.send",
            json!({ "sessionKey": "agent:main:unwatched", "message": "new", "idempotencyKey": "w3" }),
        )
        .await;
    talker.run_end("w2").await;
    talker.run_end("w3").await;
    watcher.idle(Duration::from_millis(500)).await;
    let late: Vec<String> = watcher.log[mark..]
        .iter()
        .filter(|f| f["event"] == "sessions.changed")
        .map(short)
        .collect();
    assert!(late.is_empty(), "after sessions.unsubscribe: {late:#?}");
}

#[tokio::test]
async fn chat_send_acks_with_the_idempotency_key_before_the_run_then_streams_start_deltas_end_and_final()
 {
    let server = TestServer::start(&[(PING, "200"), (CHUNK_DELAY, "60")]).await;
    let mut c = Oc::operator(&server, "tui").await;
    let key = "agent:main:main";
    let message = "one two three four five six seven eight nine ten";
    let id = c
        .send(
            "chat.send",
            json!({ "sessionKey": key, "message": message, "idempotencyKey": "k1" }),
        )
        .await;
    c.run_end("k1").await;
    c.idle(Duration::from_millis(450)).await;

    let ack_at = c.pos("the chat.send ack", |f| f["type"] == "res" && f["id"] == id);
    let ack = &c.log[ack_at];
    assert_eq!(
        ack["payload"],
        json!({ "runId": "k1", "status": "started" }),
        "{ack}"
    );
    let run = c.run_events("k1");
    assert!(
        run[0].0 > ack_at,
        "the ack precedes every event of its run\n{}",
        c.dump()
    );

    let (_, start) = run[0];
    assert!(
        is_lifecycle(start, "start"),
        "the run opens with lifecycle start: {start}"
    );
    assert_eq!(start["payload"]["sessionKey"], key, "{start}");
    assert!(start["payload"]["sessionId"].is_string(), "{start}");
    assert!(is_ms(&start["payload"]["data"]["startedAt"]), "{start}");

    let chats: Vec<&Value> = run
        .iter()
        .map(|(_, f)| *f)
        .filter(|f| f["event"] == "chat")
        .collect();
    let seqs: Vec<u64> = chats
        .iter()
        .map(|f| f["payload"]["seq"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        seqs[0] >= 1 && seqs.windows(2).all(|w| w[0] < w[1]),
        "payload.seq increases within the run: {seqs:?}"
    );
    let mut so_far = String::new();
    let deltas: Vec<&&Value> = chats
        .iter()
        .filter(|f| f["payload"]["state"] == "delta")
        .collect();
    assert!(!deltas.is_empty(), "deltas\n{}", c.dump());
    for d in &deltas {
        let p = &d["payload"];
        assert_eq!(p["runId"], "k1", "{d}");
        assert_eq!(p["sessionKey"], key, "{d}");
        so_far.push_str(p["deltaText"].as_str().unwrap_or_else(|| panic!("{d}")));
        assert_eq!(p["message"]["role"], "assistant", "{d}");
        assert_eq!(p["message"]["content"][0]["type"], "text", "{d}");
        assert_eq!(text_of(&p["message"]), so_far, "cumulative text: {d}");
        assert!(is_ms(&p["message"]["timestamp"]), "{d}");
    }
    assert_eq!(so_far, message, "the deltas make the reply");

    let end_at = run
        .iter()
        .position(|(_, f)| is_lifecycle(f, "end"))
        .unwrap_or_else(|| panic!("no lifecycle end\n{}", c.dump()));
    let end = run[end_at].1;
    assert_eq!(end["payload"]["data"]["stopReason"], "stop", "{end}");
    assert_eq!(end["payload"]["data"]["aborted"], false, "{end}");
    let fin = run[run.len() - 1].1;
    assert_eq!(
        fin["payload"]["state"],
        "final",
        "the run ends with chat final, after lifecycle end\n{}",
        c.dump()
    );
    assert!(end_at < run.len() - 1);
    assert_eq!(fin["payload"]["stopReason"], "stop", "{fin}");
    assert_eq!(fin["payload"]["sessionKey"], key, "{fin}");
    assert_eq!(text_of(&fin["payload"]["message"]), message, "{fin}");
    assert_eq!(
        chats.iter().filter(|f| is_chat_end(f, "k1")).count(),
        1,
        "one terminal chat event\n{}",
        c.dump()
    );
    assert!(
        c.log.iter().any(|f| f["event"] == "tick"),
        "ticks at 200 ms during and after the run\n{}",
        c.dump()
    );
    let first_event = c.log.iter().find(|f| f["type"] == "event").unwrap();
    assert_eq!(first_event["seq"], 1, "{}", c.dump());
    c.assert_seq();
}

/// Checks that `messages` hold the exchanges of `texts` (user, echo reply) in OpenClaw's shape.
fn assert_exchanges(messages: &Value, texts: &[&str]) {
    let list = messages
        .as_array()
        .unwrap_or_else(|| panic!("messages: {messages}"));
    assert_eq!(list.len(), texts.len() * 2, "{messages:#}");
    for (i, text) in texts.iter().enumerate() {
        let (user, assistant) = (&list[2 * i], &list[2 * i + 1]);
        assert_eq!(user["role"], "user", "{user}");
        assert_eq!(user["content"], *text, "user content is a string: {user}");
        assert!(is_ms(&user["timestamp"]), "{user}");
        assert_eq!(assistant["role"], "assistant", "{assistant}");
        assert_eq!(
            assistant["content"],
            json!([{ "type": "text", "text": text }]),
            "assistant content is text parts: {assistant}"
        );
        assert!(is_ms(&assistant["timestamp"]), "{assistant}");
    }
}

#[tokio::test]
async fn a_second_chat_send_to_the_same_key_appends_and_chat_history_returns_both_in_openclaw_shape()
 {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "tui").await;
    let key = "agent:main:twice";
    for (k, text) in [("t1", "hello first"), ("t2", "hello second")] {
        let ack = c
            .ok(
                "chat.send",
                json!({ "sessionKey": key, "message": text, "idempotencyKey": k }),
            )
            .await;
        assert_eq!(ack, json!({ "runId": k, "status": "started" }));
        c.run_end(k).await;
        let ack_at = c.pos("the ack", |f| {
            f["payload"]["runId"] == k && f["type"] == "res"
        });
        assert!(
            c.run_events(k)[0].0 > ack_at,
            "the ack precedes the run's events, even from an instant agent\n{}",
            c.dump()
        );
    }
    let session_of = |run: &str| {
        c.run_events(run)
            .iter()
            .find(|(_, f)| is_lifecycle(f, "start"))
            .map(|(_, f)| f["payload"]["sessionId"].clone())
            .unwrap_or_else(|| panic!("no lifecycle start of {run}\n{}", c.dump()))
    };
    let session = session_of("t1");
    assert_eq!(session, session_of("t2"), "one session for one key");

    let history = c
        .ok("chat.history", json!({ "sessionKey": key, "limit": 200 }))
        .await;
    assert_eq!(history["sessionKey"], key, "{history}");
    assert_eq!(history["sessionId"], session, "{history}");
    assert_exchanges(&history["messages"], &["hello first", "hello second"]);
    assert_eq!(history["hasMore"], false, "{history}");
    assert_eq!(history["totalMessages"], 4, "{history}");
    let info = &history["sessionInfo"];
    assert_eq!(info["key"], key, "{history}");
    assert_eq!(info["sessionId"], session, "{history}");
    assert_eq!(info["hasActiveRun"], false, "{history}");
    assert_eq!(info["activeRunIds"], json!([]), "{history}");

    let latest = c
        .ok("chat.history", json!({ "sessionKey": key, "limit": 2 }))
        .await;
    assert_exchanges(&latest["messages"], &["hello second"]);
    assert_eq!(
        latest["hasMore"], true,
        "the limit keeps the latest: {latest}"
    );

    let unknown = c
        .ok(
            "chat.history",
            json!({ "sessionKey": "agent:main:never-used", "limit": 200 }),
        )
        .await;
    assert_eq!(unknown["messages"], json!([]), "{unknown}");
    assert_eq!(unknown["sessionKey"], "agent:main:never-used", "{unknown}");
    assert!(
        unknown.get("sessionId").is_none_or(Value::is_null),
        "no session behind an unknown key: {unknown}"
    );
    let listed = c.ok("sessions.list", json!({})).await;
    assert_eq!(
        listed["sessions"].as_array().map(Vec::len),
        Some(1),
        "reading an unknown key creates nothing: {listed}"
    );
}

#[tokio::test]
async fn sessions_list_and_describe_find_sessions_by_key_and_protocol_3_sessions_by_their_id() {
    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Operator).await;
    let mut legacy = WsClient::connected(server.addr, Some(&token), "legacy").await;
    let res = legacy
        .call(
            "chat.send",
            json!({ "agentId": "main", "message": "legacy hello" }),
        )
        .await;
    assert_eq!(res["ok"], true, "{res}");
    let legacy_id = res["payload"]["sessionId"].as_str().unwrap().to_owned();
    let legacy_key = format!("agent:main:{legacy_id}");

    let mut c = Oc::operator(&server, "tui").await;
    let key = "agent:main:listed";
    c.ok(
        "chat.send",
        json!({ "sessionKey": key, "message": "hello listed world", "idempotencyKey": "l1" }),
    )
    .await;
    c.run_end("l1").await;

    let list = c
        .ok(
            "sessions.list",
            json!({ "includeLastMessage": true, "limit": 50 }),
        )
        .await;
    let rows = list["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(list["count"], 2, "{list}");
    assert_eq!(list["hasMore"], false, "{list}");
    assert!(list["defaults"].is_object(), "{list}");
    let row = |k: &str| {
        rows.iter()
            .find(|r| r["key"] == k)
            .unwrap_or_else(|| panic!("no row with key {k}: {list}"))
    };
    let keyed = row(key);
    assert!(keyed["sessionId"].is_string(), "{keyed}");
    assert!(is_ms(&keyed["updatedAt"]), "{keyed}");
    assert_eq!(keyed["agentId"], "main", "{keyed}");
    assert_eq!(keyed["kind"], "direct", "{keyed}");
    assert_eq!(keyed["hasActiveRun"], false, "{keyed}");
    assert_eq!(keyed["archived"], false, "{keyed}");
    assert_eq!(keyed["lastMessagePreview"], "hello listed world", "{keyed}");
    let unkeyed = row(&legacy_key);
    assert_eq!(unkeyed["sessionId"], legacy_id.as_str(), "{unkeyed}");

    let described = c.ok("sessions.describe", json!({ "key": key })).await;
    assert_eq!(described["session"]["key"], key, "{described}");
    assert_eq!(
        described["session"]["sessionId"], keyed["sessionId"],
        "{described}"
    );
    let described = c
        .ok("sessions.describe", json!({ "key": legacy_key }))
        .await;
    assert_eq!(
        described["session"]["sessionId"],
        legacy_id.as_str(),
        "{described}"
    );
    assert_eq!(
        c.ok("sessions.describe", json!({ "key": "agent:main:nobody" }))
            .await,
        json!({ "session": null })
    );

    let history = c
        .ok(
            "chat.history",
            json!({ "sessionKey": legacy_key, "limit": 200 }),
        )
        .await;
    assert_eq!(history["sessionId"], legacy_id.as_str(), "{history}");
    assert_exchanges(&history["messages"], &["legacy hello"]);

    // Protocol 3 sees a key only where one is stored.
    let res = legacy.call("sessions.list", json!({})).await;
    let rows = res["payload"]["sessions"].as_array().unwrap();
    let legacy_row = rows.iter().find(|r| r["id"] == legacy_id.as_str()).unwrap();
    assert!(
        legacy_row.get("key").is_none(),
        "no key on an unkeyed session: {res}"
    );
    let keyed_row = rows.iter().find(|r| r["id"] != legacy_id.as_str()).unwrap();
    assert_eq!(keyed_row["key"], key, "{res}");
}

#[tokio::test]
async fn chat_abort_by_session_key_stops_a_slow_run_and_names_the_client_run_id() {
    let server = TestServer::start(&[(CHUNK_DELAY, "100")]).await;
    let mut c = Oc::operator(&server, "tui").await;
    let key = "agent:main:slow";
    let message = (0..40)
        .map(|i| format!("word{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    for (run, abort) in [
        ("slow-1", json!({ "sessionKey": key })),
        ("slow-2", json!({ "sessionKey": key, "runId": "slow-2" })),
    ] {
        c.ok(
            "chat.send",
            json!({ "sessionKey": key, "message": message, "idempotencyKey": run }),
        )
        .await;
        for _ in 0..2 {
            c.wait("a delta", |f| {
                f["event"] == "chat"
                    && f["payload"]["runId"] == run
                    && f["payload"]["state"] == "delta"
            })
            .await;
        }
        let aborted = c.ok("chat.abort", abort.clone()).await;
        assert_eq!(
            aborted,
            json!({ "ok": true, "aborted": true, "runIds": [run] }),
            "{abort}"
        );
        let end = c.run_end(run).await;
        assert_eq!(end["payload"]["state"], "aborted", "{end}\n{}", c.dump());
        let partial = text_of(&end["payload"]["message"]);
        assert!(
            !partial.is_empty() && partial.len() < message.len() && message.starts_with(partial),
            "the partial reply: {end}"
        );
        let lifecycle = c
            .run_events(run)
            .into_iter()
            .find(|(_, f)| is_lifecycle(f, "end"))
            .unwrap_or_else(|| panic!("no lifecycle end of {run}\n{}", c.dump()))
            .1
            .clone();
        assert_eq!(lifecycle["payload"]["data"]["aborted"], true, "{lifecycle}");
        assert_eq!(
            lifecycle["payload"]["data"]["stopReason"], "rpc",
            "{lifecycle}"
        );
    }
    let idle = json!({ "ok": true, "aborted": false, "runIds": [] });
    assert_eq!(c.ok("chat.abort", json!({ "sessionKey": key })).await, idle);
    assert_eq!(
        c.ok(
            "chat.abort",
            json!({ "sessionKey": "agent:main:nothing-here" })
        )
        .await,
        idle
    );
}

#[tokio::test]
async fn agent_answers_accepted_then_a_second_res_with_the_reply() {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "openclaw-agent").await;
    let message = "hi from cli agent";
    let id = c
        .send(
            "agent",
            json!({ "message": message, "idempotencyKey": "ag-1", "deliver": false }),
        )
        .await;
    let accepted = c.res(&id).await;
    let p = &accepted["payload"];
    assert_eq!(accepted["ok"], true, "{accepted}");
    assert_eq!(p["status"], "accepted", "{accepted}");
    assert_eq!(p["runId"], "ag-1", "{accepted}");
    assert_eq!(p["sessionKey"], "agent:main:main", "{accepted}");
    assert_eq!(p["agentId"], "main", "{accepted}");
    assert!(is_ms(&p["acceptedAt"]), "{accepted}");
    let done = c.res(&id).await;
    let p = &done["payload"];
    assert_eq!(done["ok"], true, "{done}");
    assert_eq!(p["runId"], "ag-1", "{done}");
    assert_eq!(p["status"], "ok", "{done}");
    assert_eq!(p["result"]["payloads"][0]["text"], message, "{done}");
    assert!(p["result"]["meta"]["durationMs"].is_u64(), "{done}");
    assert!(p["summary"].is_string(), "{done}");
    let first_event = c
        .run_events("ag-1")
        .first()
        .map(|(i, _)| *i)
        .unwrap_or(usize::MAX);
    let accepted_at = c.pos("the accepted res", |f| f["id"] == id.as_str());
    assert!(
        accepted_at < first_event,
        "accepted precedes the run's events\n{}",
        c.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// discovery, scopes, unknown methods

#[tokio::test]
async fn discovery_methods_answer_honestly() {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "tui").await;
    let models = c.ok("models.list", json!({})).await;
    let list = models["models"]
        .as_array()
        .unwrap_or_else(|| panic!("{models}"));
    assert_eq!(list.len(), 1, "one per agent: {models}");
    for field in ["id", "name", "provider"] {
        assert!(list[0][field].is_string(), "{field}: {models}");
    }
    assert_eq!(list[0]["agentId"], "main", "{models}");
    assert_eq!(
        c.ok("commands.list", json!({})).await,
        json!({ "commands": [] })
    );
    assert_eq!(
        c.ok("question.list", json!({})).await,
        json!({ "questions": [] })
    );
    assert_eq!(
        c.ok("plugin.approval.list", json!({})).await,
        json!([]),
        "a bare array"
    );
    let agents = c.ok("agents.list", json!({})).await;
    for (field, value) in [
        ("defaultId", json!("main")),
        ("mainKey", json!("main")),
        ("scope", json!("per-sender")),
        ("ownership", json!("sole")),
        ("selectionRequired", json!(false)),
    ] {
        assert_eq!(agents[field], value, "{field}: {agents}");
    }
    assert!(
        agents["agents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["id"] == "main")),
        "{agents}"
    );
}

#[tokio::test]
async fn a_viewer_reads_the_config_without_secrets_but_may_not_chat_and_unknown_methods_are_named()
{
    let secret = "sb-dialect-admin-secret-7734";
    let server = TestServer::start(&[
        ("SWITCHBOARD__AUTH__ADMIN_TOKEN", secret),
        ("SWITCHBOARD__AGENTS__GPT__KIND", "openai"),
        (
            "SWITCHBOARD__AGENTS__GPT__BASE_URL",
            "http://127.0.0.1:9/v1",
        ),
        ("SWITCHBOARD__AGENTS__GPT__MODEL", "m-dialect"),
        ("SWITCHBOARD__AGENTS__GPT__API_KEY_ENV", "CARGO_PKG_NAME"),
    ])
    .await;
    let data_dir = server.state.config.server.data_dir.display().to_string();
    let mut v = Oc::viewer(&server, "viewer").await;
    assert_eq!(v.hello["auth"]["scopes"], json!(["operator.read"]));
    let config = v.ok("config.get", json!({})).await;
    assert_eq!(config["valid"], true, "{config}");
    assert!(config["config"].is_object(), "{config}");
    assert!(config["runtimeConfig"].is_object(), "{config}");
    let text = config.to_string();
    for leak in [secret, "127.0.0.1:9", data_dir.as_str(), "sqlite:"] {
        assert!(
            !text.contains(leak),
            "a viewer's config shows {leak}: {text}"
        );
    }
    let models = v.ok("models.list", json!({})).await;
    let mut agents: Vec<String> = models["models"]
        .as_array()
        .unwrap_or_else(|| panic!("{models}"))
        .iter()
        .map(|m| m["agentId"].as_str().unwrap_or_default().to_owned())
        .collect();
    agents.sort();
    assert_eq!(agents, ["gpt", "main"], "{models}");

    for (method, params) in [
        (
            "chat.send",
            json!({ "sessionKey": "agent:main:main", "message": "hi", "idempotencyKey": "v1" }),
        ),
        ("agent", json!({ "message": "hi", "idempotencyKey": "v2" })),
        ("chat.abort", json!({ "sessionKey": "agent:main:main" })),
    ] {
        let error = v.error(method, params).await;
        assert_eq!(error["code"], "FORBIDDEN", "{method}: {error}");
    }
    let error = v.error("sessions.teleport", json!({})).await;
    assert_eq!(error["code"], "INVALID_REQUEST", "{error}");
    assert_eq!(
        error["message"], "unknown method: sessions.teleport",
        "{error}"
    );

    let mut admin = Oc::open(&server, secret, &ALL_SCOPES, "admin").await;
    let config = admin.ok("config.get", json!({})).await;
    assert_eq!(config["valid"], true, "{config}");
    assert!(
        !config.to_string().contains(secret),
        "the admin's config is redacted: {config}"
    );
}

// ---------------------------------------------------------------------------------------------
// hostile use

#[tokio::test]
async fn five_pipelined_chat_sends_ack_in_order_all_finish_and_store_ten_messages_in_order() {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "pipeline").await;
    let key = "agent:main:pipe";
    let texts: Vec<String> = (1..=5).map(|i| format!("message number {i}")).collect();
    let mut ids = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let k = format!("p{}", i + 1);
        ids.push(
            c.send(
                "chat.send",
                json!({ "sessionKey": key, "message": text, "idempotencyKey": k }),
            )
            .await,
        );
    }
    for (i, text) in texts.iter().enumerate() {
        let k = format!("p{}", i + 1);
        let end = c.run_end(&k).await;
        assert_eq!(end["payload"]["state"], "final", "{end}\n{}", c.dump());
        assert_eq!(text_of(&end["payload"]["message"]), text, "{end}");
    }
    let mut last_ack = 0;
    let mut last_final = 0;
    for (i, id) in ids.iter().enumerate() {
        let k = format!("p{}", i + 1);
        let at = c.pos("an ack", |f| f["type"] == "res" && f["id"] == id.as_str());
        let ack = &c.log[at];
        assert_eq!(
            ack["payload"],
            json!({ "runId": k, "status": "started" }),
            "{ack}"
        );
        assert!(
            at > last_ack || i == 0,
            "acks in request order\n{}",
            c.dump()
        );
        last_ack = at;
        let run = c.run_events(&k);
        assert!(run[0].0 > at, "{k}'s ack precedes its events\n{}", c.dump());
        let fin = run[run.len() - 1].0;
        assert!(fin > last_final, "runs end in order\n{}", c.dump());
        last_final = fin;
    }
    let history = c
        .ok("chat.history", json!({ "sessionKey": key, "limit": 200 }))
        .await;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert_exchanges(&history["messages"], &texts);
}

#[tokio::test]
async fn a_run_completes_when_its_client_disconnects_before_the_ack() {
    let server = TestServer::start(&[]).await;
    let key = "agent:main:left-behind";
    let mut leaver = Oc::operator(&server, "leaver").await;
    leaver
        .send(
            "chat.send",
            json!({ "sessionKey": key, "message": "finished anyway", "idempotencyKey": "gone" }),
        )
        .await;
    drop(leaver);
    let mut back = Oc::viewer(&server, "back").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let history = back
            .ok("chat.history", json!({ "sessionKey": key, "limit": 200 }))
            .await;
        if history["messages"].as_array().map(Vec::len) == Some(2) {
            assert_exchanges(&history["messages"], &["finished anyway"]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run never completed: {history}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_requests_with_one_id_in_flight_leave_the_connection_usable() {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "dup").await;
    for (id, method, bodies) in [
        (
            "dup",
            "chat.send",
            [
                json!({ "sessionKey": "agent:main:dup", "message": "one", "idempotencyKey": "dup-1" }),
                json!({ "sessionKey": "agent:main:dup", "message": "two", "idempotencyKey": "dup-2" }),
            ],
        ),
        (
            "dupa",
            "agent",
            [
                json!({ "sessionKey": "agent:main:dupa", "message": "three", "idempotencyKey": "dupa-1" }),
                json!({ "sessionKey": "agent:main:dupa", "message": "four", "idempotencyKey": "dupa-2" }),
            ],
        ),
    ] {
        for params in bodies {
            let frame = json!({ "type": "req", "id": id, "method": method, "params": params });
            c.ws.send_text(&frame.to_string()).await;
        }
        c.res(id).await;
        c.idle(Duration::from_millis(800)).await;
        let answers = c
            .log
            .iter()
            .filter(|f| f["type"] == "res" && f["id"] == id)
            .count();
        assert!(
            (1..=4).contains(&answers),
            "{answers} answers to id {id}\n{}",
            c.dump()
        );
    }
    let health = c.ok("health", json!({})).await;
    assert_eq!(health["status"], "ok", "{health}");
    c.ok(
        "chat.send",
        json!({ "sessionKey": "agent:main:dup", "message": "still fine", "idempotencyKey": "after" }),
    )
    .await;
    let end = c.run_end("after").await;
    assert_eq!(text_of(&end["payload"]["message"]), "still fine", "{end}");
}

#[tokio::test]
async fn params_sixty_thousand_levels_deep_get_an_error_and_the_connection_lives() {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "deep").await;
    let depth = 60_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    // (where the nesting sits, the nesting, whether the call must fail): a message is content
    // and must be refused; an unknown field may be skipped, but must be answered.
    let cases = [
        ("message", &arrays, true),
        ("message", &objects, true),
        ("nest", &arrays, false),
        ("nest", &objects, false),
    ];
    for (i, (field, nest, must_fail)) in cases.into_iter().enumerate() {
        let id = format!("deep-{i}");
        let message = if field == "message" {
            nest.as_str()
        } else {
            "\"x\""
        };
        let extra = if field == "nest" {
            format!(r#","nest":{nest}"#)
        } else {
            String::new()
        };
        let frame = format!(
            r#"{{"type":"req","id":"{id}","method":"chat.send","params":{{"sessionKey":"agent:main:deep","idempotencyKey":"{id}","message":{message}{extra}}}}}"#
        );
        c.ws.send_text(&frame).await;
        let res = c
            .wait(&format!("an answer to {id}"), |f| {
                f["type"] == "res" && (f["id"] == id.as_str() || f["id"].is_null())
            })
            .await;
        if must_fail {
            assert_eq!(res["ok"], false, "deep {field}: {}", short(&res));
            assert!(
                !c.log.iter().any(|f| is_run_event(f, &id)),
                "no run from a refused frame\n{}",
                c.dump()
            );
        }
        let health = c.ok("health", json!({})).await;
        assert_eq!(health["status"], "ok");
    }
}

#[tokio::test]
async fn malformed_session_keys_are_invalid_requests_and_create_nothing() {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "garbage").await;
    let long = "k".repeat(10_000);
    let long_rest = format!("agent:main:{long}");
    for key in ["agent::", "agent:main:", "agent:nope:x", &long, &long_rest] {
        let shown: String = key.chars().take(40).collect();
        let error = c
            .error(
                "chat.send",
                json!({ "sessionKey": key, "message": "x", "idempotencyKey": format!("g-{}", key.len()) }),
            )
            .await;
        assert_eq!(
            error["code"], "INVALID_REQUEST",
            "chat.send {shown}: {error}"
        );
        if key == "agent:nope:x" {
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("unknown agent")),
                "{error}"
            );
        }
        let error = c
            .error("chat.history", json!({ "sessionKey": key, "limit": 10 }))
            .await;
        assert_eq!(
            error["code"], "INVALID_REQUEST",
            "chat.history {shown}: {error}"
        );
    }
    let listed = c.ok("sessions.list", json!({})).await;
    assert_eq!(listed["sessions"], json!([]), "{listed}");
    assert!(
        !c.log.iter().any(|f| f["event"] == "chat"),
        "no run from a refused key\n{}",
        c.dump()
    );
}

#[tokio::test]
async fn a_repeated_idempotency_key_answers_the_same_run_id_and_starts_no_second_run() {
    let server = TestServer::start(&[(CHUNK_DELAY, "20")]).await;
    let mut c = Oc::operator(&server, "retry").await;
    let key = "agent:main:retry";
    let params =
        json!({ "sessionKey": key, "message": "only once please", "idempotencyKey": "same" });
    let first = c.send("chat.send", params.clone()).await;
    let second = c.send("chat.send", params).await;
    for id in [first, second] {
        let res = c.res(&id).await;
        assert_eq!(
            res["payload"],
            json!({ "runId": "same", "status": "started" }),
            "{res}"
        );
    }
    c.run_end("same").await;
    c.idle(Duration::from_millis(300)).await;
    let starts = c
        .run_events("same")
        .iter()
        .filter(|(_, f)| is_lifecycle(f, "start"))
        .count();
    assert_eq!(starts, 1, "one run\n{}", c.dump());
    let history = c
        .ok("chat.history", json!({ "sessionKey": key, "limit": 200 }))
        .await;
    assert_exchanges(&history["messages"], &["only once please"]);
}

#[tokio::test]
async fn session_keys_are_lowercased_and_a_bare_key_belongs_to_the_default_agent() {
    let server = TestServer::start(&[]).await;
    let mut c = Oc::operator(&server, "keys").await;
    for (key, run) in [
        ("AGENT:MAIN:Mixed", "x1"),
        ("mixed", "x2"),
        ("agent:main:mixed", "x3"),
        ("main", "x4"),
    ] {
        c.ok(
            "chat.send",
            json!({ "sessionKey": key, "message": format!("via {run}"), "idempotencyKey": run }),
        )
        .await;
        let end = c.run_end(run).await;
        let expected = if run == "x4" {
            "agent:main:main"
        } else {
            "agent:main:mixed"
        };
        assert_eq!(end["payload"]["sessionKey"], expected, "{key}: {end}");
    }
    let list = c.ok("sessions.list", json!({})).await;
    let mut keys = strings(
        &list["sessions"]
            .as_array()
            .unwrap_or_else(|| panic!("{list}"))
            .iter()
            .map(|r| r["key"].clone())
            .collect(),
    );
    keys.sort();
    assert_eq!(keys, ["agent:main:main", "agent:main:mixed"], "{list}");
    let history = c
        .ok(
            "chat.history",
            json!({ "sessionKey": "Agent:Main:MIXED", "limit": 200 }),
        )
        .await;
    assert_exchanges(&history["messages"], &["via x1", "via x2", "via x3"]);
}

#[tokio::test]
async fn a_failed_run_ends_with_lifecycle_error_then_chat_error_and_agent_answers_error() {
    // Agent `gpt` points at a port where nothing listens.
    let server = TestServer::start(&[
        ("SWITCHBOARD__AGENTS__GPT__KIND", "openai"),
        (
            "SWITCHBOARD__AGENTS__GPT__BASE_URL",
            "http://127.0.0.1:9/v1",
        ),
        ("SWITCHBOARD__AGENTS__GPT__MODEL", "m"),
        ("SWITCHBOARD__AGENTS__GPT__API_KEY_ENV", "CARGO_PKG_NAME"),
        ("SWITCHBOARD__AGENTS__GPT__REQUEST_TIMEOUT_S", "3"),
    ])
    .await;
    let mut c = Oc::operator(&server, "failing").await;
    let ack = c
        .ok(
            "chat.send",
            json!({ "sessionKey": "agent:gpt:main", "message": "hi", "idempotencyKey": "f1" }),
        )
        .await;
    assert_eq!(
        ack,
        json!({ "runId": "f1", "status": "started" }),
        "errors come as events"
    );
    let end = c.run_end("f1").await;
    assert_eq!(end["payload"]["state"], "error", "{end}");
    assert!(
        end["payload"]["errorMessage"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{end}"
    );
    let run = c.run_events("f1");
    let error_at = run
        .iter()
        .position(|(_, f)| is_lifecycle(f, "error"))
        .unwrap_or_else(|| panic!("no lifecycle error\n{}", c.dump()));
    assert!(
        run[error_at].1["payload"]["data"]["error"].is_string(),
        "{}",
        run[error_at].1
    );
    assert!(
        error_at < run.len() - 1,
        "lifecycle error precedes chat error\n{}",
        c.dump()
    );

    let id = c
        .send(
            "agent",
            json!({ "agentId": "gpt", "message": "hi", "idempotencyKey": "f2" }),
        )
        .await;
    let accepted = c.res(&id).await;
    assert_eq!(accepted["payload"]["status"], "accepted", "{accepted}");
    let done = c.res(&id).await;
    assert_eq!(done["ok"], true, "{done}");
    assert_eq!(done["payload"]["status"], "error", "{done}");
    assert_eq!(done["payload"]["runId"], "f2", "{done}");
}

#[tokio::test]
async fn a_tool_approval_reaches_the_caller_as_a_plugin_approval_and_resolves_by_its_id() {
    let stub = OpenAiStub::start(vec![
        Reply::tool_calls(
            &[(
                "call_x",
                "exec",
                &["{\"command\":\"echo\",\"args\":[\"hi\"]}"],
            )],
            (5, 5),
        ),
        Reply::text(&["done"], (5, 1)),
    ])
    .await;
    let base = stub.base_url();
    let server = TestServer::start(&[
        ("SWITCHBOARD__AGENTS__GPT__KIND", "openai"),
        ("SWITCHBOARD__AGENTS__GPT__BASE_URL", base.as_str()),
        ("SWITCHBOARD__AGENTS__GPT__MODEL", "testmodel"),
        ("SWITCHBOARD__AGENTS__GPT__API_KEY_ENV", "CARGO_PKG_NAME"),
        ("SWITCHBOARD__AGENTS__GPT__TOOLS", "exec"),
        ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "echo"),
    ])
    .await;
    let mut c = Oc::operator(&server, "tui").await;
    let key = "agent:gpt:main";
    c.ok(
        "chat.send",
        json!({ "sessionKey": key, "message": "say hi", "idempotencyKey": "a1" }),
    )
    .await;
    let requested = c
        .wait("plugin.approval.requested", |f| {
            f["event"] == "plugin.approval.requested"
        })
        .await;
    let p = &requested["payload"];
    let id = p["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{requested}"))
        .to_owned();
    assert!(p["request"]["title"].is_string(), "{requested}");
    assert_eq!(p["request"]["toolName"], "exec", "{requested}");
    assert_eq!(
        p["request"]["severity"], "critical",
        "risk high: {requested}"
    );
    assert_eq!(
        p["request"]["allowedDecisions"],
        json!(["allow-once", "deny"]),
        "{requested}"
    );
    assert_eq!(p["request"]["sessionKey"], key, "{requested}");
    assert!(
        is_ms(&p["createdAtMs"]) && is_ms(&p["expiresAtMs"]),
        "{requested}"
    );

    let listed = c.ok("plugin.approval.list", json!({})).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    assert_eq!(
        listed[0]["request"], p["request"],
        "list element = event payload"
    );

    let answer = c
        .ok(
            "plugin.approval.resolve",
            json!({ "id": id, "decision": "allow-once" }),
        )
        .await;
    assert_eq!(answer["ok"], true, "{answer}");
    let resolved = c
        .wait("plugin.approval.resolved", |f| {
            f["event"] == "plugin.approval.resolved"
        })
        .await;
    assert_eq!(resolved["payload"]["id"], id.as_str(), "{resolved}");
    let end = c.run_end("a1").await;
    assert_eq!(end["payload"]["state"], "final", "{end}");
    assert_eq!(text_of(&end["payload"]["message"]), "done", "{end}");
    assert_eq!(c.ok("plugin.approval.list", json!({})).await, json!([]));
}

#[tokio::test]
async fn another_clients_reply_invalidates_the_transcript_but_a_connections_own_does_not() {
    // OpenClaw's TUI reloads its history on `sessions.changed {phase:"message"}` without a
    // message identity: that is how it sees replies to other clients in its session. Its own
    // replies it has live; a reload for them would only redraw (and drop its status lines).
    let server = TestServer::start(&[]).await;
    let key = "agent:main:shared";
    let mut tui = Oc::operator(&server, "tui").await;
    assert_eq!(
        tui.ok("sessions.subscribe", json!({})).await,
        json!({ "subscribed": true })
    );
    tui.ok(
        "chat.send",
        json!({ "sessionKey": key, "message": "my own words", "idempotencyKey": "own-1" }),
    )
    .await;
    tui.run_end("own-1").await;
    tui.idle(Duration::from_millis(300)).await;
    let own_phases = tui
        .log
        .iter()
        .filter(|f| f["event"] == "sessions.changed" && f["payload"]["phase"] == "message")
        .count();
    assert_eq!(own_phases, 0, "own run: no invalidation\n{}", tui.dump());

    let mut other = Oc::operator(&server, "other").await;
    other
        .ok(
            "chat.send",
            json!({ "sessionKey": key, "message": "someone else", "idempotencyKey": "other-1" }),
        )
        .await;
    other.run_end("other-1").await;
    let changed = tui
        .wait("sessions.changed phase message", |f| {
            f["event"] == "sessions.changed" && f["payload"]["phase"] == "message"
        })
        .await;
    let p = &changed["payload"];
    assert_eq!(p["sessionKey"], key, "{changed}");
    for identity in ["message", "messageId", "messageSeq", "runId", "clientRunId"] {
        assert!(
            p.get(identity).is_none(),
            "identity-only: {identity} in {changed}"
        );
    }
}
