//! The transports against clients that misbehave (issue 13, SPEC §7, §14): a request read just
//! before the client vanishes is still processed, a client that never reads cannot grow the
//! server's memory, a close after a protocol error can be read by a client that is still
//! writing, subscriptions over HTTP POST are a clear invalid request, and a live server
//! survives thousands of malformed, oversized, deeply nested, wrongly typed and invalid-UTF-8
//! messages on every endpoint.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::binary::ServeProcess;
use switchboard_tests::{Closed, TestServer, WsClient, connect_params, http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// Close codes a misbehaving client may see (README, "Security model").
const DOCUMENTED_CLOSES: [u16; 5] = [1001, 1002, 1007, 1008, 1009];

/// RSS growth allowed for a client that never reads. What it can make the server hold is
/// `2 × send_buffer + max_inflight_calls + 1` answers (577 `health` answers, ~40 KiB) and
/// ~600 KiB of buffers (README, "Security model"); the rest of the margin is allocator noise.
/// Measured: +16 KiB; jsonrpsee's own transport grew by ~236 MiB.
const NEVER_READS_RSS_BOUND_KIB: u64 = 16 * 1024;

/// RSS growth allowed for the whole hostile run: what the connections hold while they live,
/// plus what the calls legitimately keep (sessions, the store's page cache, allocator arenas
/// of both worker threads). Measured: +3.6 MiB.
const HOSTILE_RSS_BOUND_KIB: u64 = 32 * 1024;

// ---------------------------------------------------------------------------------------------
// A read request is processed.

/// Polls `chat.history` (as a viewer) until `session` holds `want` messages; returns them as
/// `(role, content)`.
async fn history_of(server: &TestServer, session: &str, want: usize) -> Vec<(String, String)> {
    let mut viewer = WsClient::connected(server.addr, None, "reader").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = viewer
            .call(
                "chat.history",
                json!({ "sessionId": session, "limit": 100 }),
            )
            .await;
        let messages: Vec<(String, String)> = res["payload"]["messages"]
            .as_array()
            .unwrap_or_else(|| panic!("{res}"))
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_owned(),
                    m["content"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        if messages.len() >= want {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {want} messages stored: {messages:?}",
            messages.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A session with one finished exchange, for the operator `token`.
async fn session_for(server: &TestServer, token: &str) -> String {
    let mut op = WsClient::connected(server.addr, Some(token), "op").await;
    let res = op.call("chat.send", json!({ "message": "first" })).await;
    assert_eq!(res["ok"], true, "{res}");
    res["payload"]["sessionId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_chat_send_read_just_before_the_client_closes_is_stored_and_run() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "20")]).await;
    let operator = server.token(Role::Operator).await;
    let session = session_for(&server, &operator).await;

    let mut gone = WsClient::connected(server.addr, Some(&operator), "mobile").await;
    gone.send_req(
        "chat.send",
        json!({ "sessionId": session, "message": "sent then gone" }),
    )
    .await;
    // Closes at once, without reading a thing.
    gone.socket().close(None).await.unwrap();
    drop(gone);

    let messages = history_of(&server, &session, 4).await;
    let roles_and_texts: Vec<(&str, &str)> = messages
        .iter()
        .map(|(r, c)| (r.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        roles_and_texts,
        [
            ("user", "first"),
            ("assistant", "first"),
            ("user", "sent then gone"),
            ("assistant", "sent then gone"),
        ],
        "the message is stored and its run ran to the end"
    );
}

#[tokio::test]
async fn five_pipelined_chat_sends_before_a_close_are_all_stored_and_run() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "10")]).await;
    let operator = server.token(Role::Operator).await;
    let session = session_for(&server, &operator).await;

    let mut gone = WsClient::connected(server.addr, Some(&operator), "mobile").await;
    for i in 0..5 {
        gone.send_req(
            "chat.send",
            json!({ "sessionId": session, "message": format!("q{i} words") }),
        )
        .await;
    }
    gone.socket().close(None).await.unwrap();
    drop(gone);

    let messages = history_of(&server, &session, 12).await;
    let said_by = |role: &str| -> HashSet<&str> {
        messages
            .iter()
            .skip(2)
            .filter(|(r, _)| r == role)
            .map(|(_, c)| c.as_str())
            .collect()
    };
    let sent: HashSet<&str> = ["q0 words", "q1 words", "q2 words", "q3 words", "q4 words"]
        .into_iter()
        .collect();
    assert_eq!(said_by("user"), sent, "{messages:?}");
    assert_eq!(said_by("assistant"), sent, "every run ran: {messages:?}");
    assert_eq!(messages.len(), 12, "{messages:?}");
}

#[tokio::test]
async fn a_chat_send_posted_by_a_client_that_hangs_up_at_once_is_stored_and_run() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "20")]).await;
    let operator = server.token(Role::Operator).await;
    let session = session_for(&server, &operator).await;

    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "chat.send",
        "params": { "sessionId": session, "message": "posted then gone" },
    })
    .to_string();
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "POST /rpc HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {operator}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        server.addr,
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Hangs up without waiting for the answer.
    tcp.shutdown().await.unwrap();
    drop(tcp);

    let messages = history_of(&server, &session, 4).await;
    assert_eq!(
        messages[2..],
        [
            ("user".to_owned(), "posted then gone".to_owned()),
            ("assistant".to_owned(), "posted then gone".to_owned()),
        ],
        "{messages:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// A client that never reads.

/// Writes `health` calls without reading until `count` are written, a write blocks for more
/// than `patience` or the server ends the connection; returns how many went out.
async fn write_without_reading(c: &mut WsClient, count: usize, patience: Duration) -> usize {
    let socket = c.socket();
    for i in 0..count {
        let call = format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"health"}}"#);
        let fed = tokio::time::timeout(patience, socket.feed(Message::Text(call.into()))).await;
        let flushed = if i % 256 == 255 {
            tokio::time::timeout(patience, socket.flush()).await
        } else {
            Ok(Ok(()))
        };
        if !matches!((fed, flushed), (Ok(Ok(())), Ok(Ok(())))) {
            return i;
        }
    }
    count
}

async fn healthy_over_rpc(addr: SocketAddr) -> bool {
    let mut c = WsClient::open(addr, "/rpc", &[]).await.unwrap();
    c.rpc("health", json!({})).await["result"]["status"] == "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rpc_websocket_client_that_never_reads_cannot_grow_server_memory() {
    let server = ServeProcess::start(
        "hostile-admin-token",
        &[("SWITCHBOARD__SERVER__WRITE_TIMEOUT_MS", "3000")],
    );
    // Warm up the paths the flood takes, then take the baseline.
    let mut warm = WsClient::open(server.addr, "/rpc", &[]).await.unwrap();
    for _ in 0..200 {
        warm.rpc("health", json!({})).await;
    }
    drop(warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.status_kib("VmRSS:");

    let mut flood = WsClient::open_with_receive_buffer(server.addr, "/rpc", &[], 4096)
        .await
        .unwrap();
    let sent = write_without_reading(&mut flood, 200_000, Duration::from_secs(2)).await;
    let after = server.status_kib("VmRSS:");
    let peak = server.status_kib("VmHWM:");
    eprintln!(
        "never-reading /rpc client: {sent} calls written; VmRSS {before} -> {after} KiB \
         (+{} KiB), VmHWM {peak} KiB",
        after.saturating_sub(before)
    );
    assert!(
        after.saturating_sub(before) < NEVER_READS_RSS_BOUND_KIB,
        "RSS grew by {} KiB after {sent} unread calls",
        after.saturating_sub(before)
    );
    assert!(
        peak.saturating_sub(before) < NEVER_READS_RSS_BOUND_KIB,
        "peak RSS {peak} KiB against a baseline of {before} KiB"
    );
    assert!(
        healthy_over_rpc(server.addr).await,
        "others are still served"
    );
    drop(flood);
}

#[tokio::test]
async fn an_rpc_websocket_client_that_does_not_read_is_closed_as_a_slow_consumer() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__SERVER__SEND_BUFFER", "4"),
        ("SWITCHBOARD__SERVER__WRITE_TIMEOUT_MS", "300"),
    ])
    .await;
    let admin = format!("Bearer {}", server.token(Role::Admin).await);
    let mut c =
        WsClient::open_with_receive_buffer(server.addr, "/rpc", &[("Authorization", &admin)], 4096)
            .await
            .unwrap();
    // Large answers (the configuration), never read.
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "config.get" }).to_string();
    for _ in 0..20_000 {
        let sent = tokio::time::timeout(
            Duration::from_secs(2),
            c.socket().send(Message::Text(call.clone().into())),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.state.connections.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the server never closed the slow consumer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Closes a client can read.

/// Sends small frames for `during`, as a client that has not noticed the close yet would.
async fn keep_writing(c: &mut WsClient, during: Duration) {
    let until = Instant::now() + during;
    while Instant::now() < until {
        let more = Message::Text(r#"{"type":"req","id":"more","method":"health"}"#.into());
        if c.socket().send(more).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Opens `path` (answering the challenge on `/ws`).
async fn open(addr: SocketAddr, path: &str) -> WsClient {
    if path == "/ws" {
        WsClient::frames(addr).await
    } else {
        WsClient::open(addr, path, &[]).await.unwrap()
    }
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009_which_a_client_still_writing_can_read() {
    let server = TestServer::start(&[]).await;
    for path in ["/ws", "/rpc"] {
        let mut c = open(server.addr, path).await;
        let big = format!(
            r#"{{"type":"req","id":"big","method":"health","params":{{"pad":"{}"}}}}"#,
            "x".repeat(600 * 1024)
        );
        let _ = c.socket().send(Message::Text(big.into())).await;
        keep_writing(&mut c, Duration::from_millis(300)).await;
        let closed = c.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (1009, "frame too large"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let server = TestServer::start(&[]).await;
    for path in ["/ws", "/rpc"] {
        let mut c = open(server.addr, path).await;
        let bytes: &[u8] = b"{\"type\":\"req\",\"id\":\"\xff\xfe\",\"method\":\"health\"}";
        let frame = Frame::message(bytes.to_vec(), OpCode::Data(Data::Text), true);
        c.socket().send(Message::Frame(frame)).await.unwrap();
        keep_writing(&mut c, Duration::from_millis(100)).await;
        let closed = c.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (1007, "invalid UTF-8"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_frame_that_breaks_the_websocket_protocol_closes_with_1002() {
    let server = TestServer::start(&[]).await;
    for path in ["/ws", "/rpc"] {
        let mut c = open(server.addr, path).await;
        let mut frame = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Text), true);
        frame.header_mut().rsv2 = true;
        c.socket().send(Message::Frame(frame)).await.unwrap();
        let closed = c.closed().await;
        assert_eq!(
            (closed.code, closed.reason.as_str()),
            (1002, "protocol error"),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// `/rpc` specifics.

async fn post(addr: SocketAddr, body: &str) -> Value {
    let headers = [("Content-Type", "application/json")];
    let (status, text) = http::request(addr, "POST", "/rpc", &headers, body).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
}

fn assert_needs_websocket(answer: &Value, id: &Value) {
    assert_eq!(answer["id"], *id, "{answer}");
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert_eq!(
        answer["error"]["data"]["code"], "INVALID_REQUEST",
        "{answer}"
    );
    assert_eq!(
        answer["error"]["message"], "subscriptions need a WebSocket",
        "{answer}"
    );
}

#[tokio::test]
async fn subscribe_over_http_post_is_an_invalid_request_that_says_it_needs_a_websocket() {
    let server = TestServer::start(&[]).await;
    let single = post(
        server.addr,
        r#"{"jsonrpc":"2.0","id":"s1","method":"subscribe","params":{"topic":"sessions"}}"#,
    )
    .await;
    assert_needs_websocket(&single, &json!("s1"));
    let unsubscribe = post(
        server.addr,
        r#"{"jsonrpc":"2.0","id":7,"method":"unsubscribe","params":{"subscriptionId":"1"}}"#,
    )
    .await;
    assert_needs_websocket(&unsubscribe, &json!(7));
    let batch = post(
        server.addr,
        r#"[{"jsonrpc":"2.0","id":1,"method":"health"},
            {"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"topic":"*"}}]"#,
    )
    .await;
    let entries = batch.as_array().unwrap_or_else(|| panic!("{batch}"));
    let by_id = |id: i64| entries.iter().find(|e| e["id"] == id).unwrap();
    assert_eq!(by_id(1)["result"]["status"], "ok");
    assert_needs_websocket(by_id(2), &json!(2));
}

#[tokio::test]
async fn an_rpc_websocket_answers_batches_entry_by_entry_and_notifications_not_at_all() {
    let server = TestServer::start(&[]).await;
    let mut c = WsClient::open(server.addr, "/rpc", &[]).await.unwrap();
    c.send_text(r#"{"jsonrpc":"2.0","method":"health"}"#).await;
    c.send_text(
        r#"[{"jsonrpc":"2.0","id":1,"method":"health"},{"jsonrpc":"2.0","method":"health"},
            {"jsonrpc":"2.0","id":2,"method":"no.such"},{"foo":1},
            {"jsonrpc":"2.0","id":3,"method":"tokens.list"}]"#,
    )
    .await;
    let batch = c.next_json().await.unwrap();
    let entries = batch.as_array().unwrap_or_else(|| panic!("{batch}"));
    assert_eq!(entries.len(), 4, "no entry for the notification: {batch}");
    let by_id = |id: Value| entries.iter().find(|e| e["id"] == id).unwrap().clone();
    assert_eq!(by_id(json!(1))["result"]["status"], "ok");
    assert_eq!(by_id(json!(2))["error"]["code"], -32601);
    assert_eq!(by_id(json!(3))["error"]["data"]["code"], "FORBIDDEN");
    assert_eq!(by_id(Value::Null)["error"]["code"], -32600);
    for (text, code) in [
        ("{oops", -32700),
        (r#"{"jsonrpc":"2.0","method":5,"id":9}"#, -32600),
    ] {
        c.send_text(text).await;
        let answer = c.next_json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{text}: {answer}");
    }
    assert_eq!(c.rpc("health", json!({})).await["result"]["status"], "ok");
}

// ---------------------------------------------------------------------------------------------
// The hostile client.

/// A small deterministic PRNG (xorshift64), so every run sends the same messages.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const METHODS: &[&str] = &[
    "connect",
    "health",
    "status",
    "agents.list",
    "sessions.list",
    "sessions.get",
    "chat.history",
    "subscribe",
    "unsubscribe",
    "approvals.list",
    "chat.send",
    "chat.abort",
    "approvals.resolve",
    "sessions.delete",
    "tokens.create",
    "tokens.list",
    "tokens.revoke",
    "connections.list",
    "connections.kick",
    "audit.list",
    "config.get",
    "",
    "no.such.method",
    "HEALTH",
    "rpc.discover",
];

const KEYS: &[&str] = &[
    "message",
    "sessionId",
    "topic",
    "afterSeq",
    "limit",
    "before",
    "token",
    "user_id",
    "agentId",
    "runId",
    "subscriptionId",
    "name",
    "role",
    "id",
    "decision",
    "client",
    "auth",
    "x",
];

/// Sixty thousand levels of `[`: a parser that recurses without a bound overflows its stack.
fn deep(closed: bool) -> String {
    let mut s = "[".repeat(60_000);
    if closed {
        s.push_str(&"]".repeat(60_000));
    }
    s
}

/// A JSON value of any type, small; `depth` keeps containers shallow.
fn any_value(rng: &mut XorShift, depth: usize) -> Value {
    let kinds = if depth > 2 { 6 } else { 8 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Bool(rng.percent(50)),
        2 => rng
            .pick(&[
                json!(0),
                json!(-1),
                json!(u64::MAX),
                json!(i64::MIN),
                json!(1.5),
                json!(1e300),
            ])
            .clone(),
        3 => json!(*rng.pick(&[
            "",
            "main",
            "*",
            "sessions",
            "session:nope",
            "é\u{0}\u{1f}\"\\",
            "𝄞 two words",
            "/tool calc {\"expr\":\"1+1\"}",
        ])),
        4 => json!(rng.below(1000)),
        5 => json!("w".repeat(rng.below(2000))),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| any_value(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|_| ((*rng.pick(KEYS)).to_owned(), any_value(rng, depth + 1)))
                .collect(),
        ),
    }
}

/// The id of message `n` on connection `conn`: usually unique and usable, sometimes not.
fn any_id(rng: &mut XorShift, conn: usize, n: usize) -> Option<Value> {
    match rng.below(20) {
        0 => None,
        1 => Some(Value::Null),
        2 => Some(
            rng.pick(&[json!(-1), json!(1.5), json!({}), json!([1]), json!(true)])
                .clone(),
        ),
        3..=6 => Some(json!(conn * 1_000_000 + n)),
        _ => Some(json!(format!("c{conn}-{n}"))),
    }
}

/// Params: mostly an object of known keys with values of any type.
fn any_params(rng: &mut XorShift) -> Option<Value> {
    match rng.below(10) {
        0 | 1 => None,
        2 => Some(any_value(rng, 0)),
        _ => Some(Value::Object(
            (0..rng.below(5))
                .map(|_| ((*rng.pick(KEYS)).to_owned(), any_value(rng, 1)))
                .collect(),
        )),
    }
}

/// One request object of the protocol, fields sometimes missing or of the wrong type.
fn request_object(rng: &mut XorShift, frames: bool, conn: usize, n: usize) -> Value {
    let mut fields = serde_json::Map::new();
    if frames {
        if !rng.percent(5) {
            let kinds = [
                json!("req"),
                json!("req"),
                json!("req"),
                json!("res"),
                json!(1),
            ];
            fields.insert("type".into(), rng.pick(&kinds).clone());
        }
    } else if !rng.percent(5) {
        let versions = [
            json!("2.0"),
            json!("2.0"),
            json!("2.0"),
            json!("1.0"),
            json!(2),
        ];
        fields.insert("jsonrpc".into(), rng.pick(&versions).clone());
    }
    if let Some(id) = any_id(rng, conn, n) {
        fields.insert("id".into(), id);
    }
    if !rng.percent(5) {
        let method = if rng.percent(90) {
            json!(rng.pick(METHODS))
        } else {
            any_value(rng, 1)
        };
        fields.insert("method".into(), method);
    }
    if let Some(params) = any_params(rng) {
        fields.insert("params".into(), params);
    }
    Value::Object(fields)
}

/// Mangles `text` (kept valid UTF-8): cut, bytes inserted, a range deleted.
fn mutate(rng: &mut XorShift, text: String) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return text;
    }
    let at = rng.below(chars.len());
    match rng.below(3) {
        0 => chars[..at].iter().collect(),
        1 => {
            let junk = *rng.pick(&[
                "\"", "{", "}", "[", "]", ",", ":", "\\", "\u{0}", "é", "1e999",
            ]);
            let mut s: String = chars[..at].iter().collect();
            s.push_str(junk);
            s.extend(&chars[at..]);
            s
        }
        _ => {
            let end = (at + rng.below(8)).min(chars.len());
            chars[..at].iter().chain(&chars[end..]).collect()
        }
    }
}

/// What one message is, and what it must get.
struct Hostile {
    message: Message,
    /// The message ends the connection with a documented close.
    fatal: bool,
}

/// The next hostile message on connection `conn`.
fn hostile_message(rng: &mut XorShift, frames: bool, conn: usize, n: usize) -> Hostile {
    let text = match rng.below(1000) {
        kind @ 0..=2 => return fatal_message(kind),
        3..=12 => deep(rng.percent(50)),
        13..=22 => {
            let mut object = request_object(rng, frames, conn, n);
            object["params"] = Value::Null;
            object
                .to_string()
                .replace("\"params\":null", &format!("\"params\":{}", deep(true)))
        }
        23..=62 => rng
            .pick(&[
                "",
                " ",
                "null",
                "[]",
                "{}",
                "[[]]",
                "\"x\"",
                "1e999",
                "\u{feff}{}",
                "[1,2",
            ])
            .to_string(),
        63..=162 if !frames => {
            // A batch: from none to over the limit of entries.
            let len = *rng.pick(&[1, 2, 3, 5, 101]);
            let entries: Vec<String> = (0..len)
                .map(|i| request_object(rng, frames, conn, n * 1000 + i).to_string())
                .collect();
            format!("[{}]", entries.join(","))
        }
        163..=312 => {
            let text = request_object(rng, frames, conn, n).to_string();
            mutate(rng, text)
        }
        _ => request_object(rng, frames, conn, n).to_string(),
    };
    let message = if rng.percent(5) {
        Message::Binary(text.into_bytes().into())
    } else {
        Message::Text(text.into())
    };
    Hostile {
        message,
        fatal: false,
    }
}

/// A message that ends the connection with a documented close: oversized (1009), invalid
/// UTF-8 (1007), a reserved bit set (1002).
fn fatal_message(kind: usize) -> Hostile {
    let message = match kind % 3 {
        0 => Message::Text(format!(r#"{{"pad":"{}"}}"#, "x".repeat(600 * 1024)).into()),
        1 => {
            let bytes = b"{\"type\":\"req\",\"id\":\"\xc3\x28\",\"method\":\"health\"}".to_vec();
            Message::Frame(Frame::message(bytes, OpCode::Data(Data::Text), true))
        }
        _ => {
            let mut frame = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Text), true);
            frame.header_mut().rsv1 = true;
            Message::Frame(frame)
        }
    };
    Hostile {
        message,
        fatal: true,
    }
}

/// An id the server must echo: a string or a non-negative integer.
fn id_key(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(format!("s:{s}")),
        Value::Number(n) => n.as_u64().map(|n| format!("n:{n}")),
        _ => None,
    }
}

/// The ids a message must be answered with (the oracle: a reference parse of what was sent).
fn expected_ids(message: &Message, frames: bool) -> Vec<String> {
    let text = match message {
        Message::Text(t) => t.as_str().to_owned(),
        Message::Binary(b) => match std::str::from_utf8(b) {
            Ok(t) => t.to_owned(),
            Err(_) => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    let entries = match (&value, frames) {
        (Value::Object(_), _) => vec![value],
        (Value::Array(entries), false) if (1..=100).contains(&entries.len()) => entries.clone(),
        _ => return Vec::new(),
    };
    entries
        .iter()
        .filter_map(|e| e.as_object().and_then(|o| o.get("id")).and_then(id_key))
        .collect()
}

/// What the reader of one connection heard.
enum Heard {
    Answer(String),
    Closed(Closed),
}

/// Reads a connection to its end: every answered id, then how it closed.
fn spawn_reader<S>(mut rx: S, frames: bool) -> tokio::sync::mpsc::UnboundedReceiver<Heard>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + Send
        + Unpin
        + 'static,
{
    let (tx, heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let closed = match rx.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    let answers = match value {
                        Value::Array(entries) => entries,
                        one if !frames || one["type"] == "res" => vec![one],
                        _ => Vec::new(),
                    };
                    for answer in answers {
                        let is_answer = answer.get("result").is_some()
                            || answer.get("error").is_some()
                            || answer["type"] == "res";
                        if let Some(id) = id_key(&answer["id"]).filter(|_| is_answer) {
                            let _ = tx.send(Heard::Answer(id));
                        }
                    }
                    continue;
                }
                Some(Ok(Message::Close(frame))) => Closed {
                    code: frame.as_ref().map_or(1005, |f| f.code.into()),
                    reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                },
                Some(Ok(_)) => continue,
                None => Closed {
                    code: 1006,
                    reason: String::new(),
                },
                Some(Err(e)) => Closed {
                    code: 1006,
                    reason: e.to_string(),
                },
            };
            let _ = tx.send(Heard::Closed(closed));
            return;
        }
    });
    heard
}

/// One hostile connection on `path`: `count` messages, then either a fatal one (the close
/// must carry a documented code) or a last `health` (then every expected id must be
/// answered). Returns how many messages it sent.
async fn hostile_connection(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
    rng: &mut XorShift,
    conn: usize,
    count: usize,
) -> usize {
    let frames = path == "/ws";
    let mut headers = Vec::new();
    let auth = bearer.map(|t| format!("Bearer {t}"));
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    let mut client = WsClient::open(addr, path, &headers).await.unwrap();
    if frames {
        client.next_json().await.unwrap();
        if bearer.is_some() || rng.percent(50) {
            client
                .send_req("connect", connect_params(None, &format!("hostile-{conn}")))
                .await;
        }
    }
    let (mut tx, rx) = client.into_socket().split();
    let mut heard = spawn_reader(rx, frames);
    let mut expected = HashSet::new();
    let mut fatal = false;
    let mut sent = 0;
    for n in 0..count {
        // Every sixth connection ends with a message that closes it, whatever came before.
        let hostile = if n + 1 == count && conn % 6 == 5 {
            fatal_message(conn / 6)
        } else {
            hostile_message(rng, frames, conn, n)
        };
        expected.extend(expected_ids(&hostile.message, frames));
        sent += 1;
        if tx.feed(hostile.message).await.is_err() {
            fatal = true;
            break;
        }
        if hostile.fatal {
            fatal = true;
            break;
        }
        if n % 16 == 15 {
            let _ = tx.flush().await;
        }
    }
    let last = if frames {
        json!({ "type": "req", "id": format!("last-{conn}"), "method": "health" })
    } else {
        json!({ "jsonrpc": "2.0", "id": format!("last-{conn}"), "method": "health" })
    };
    if !fatal {
        expected.insert(format!("s:last-{conn}"));
        let _ = tx.send(Message::Text(last.to_string().into())).await;
    } else {
        let _ = tx.flush().await;
    }
    let mut answered = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, heard.recv()).await {
            Ok(Some(Heard::Answer(id))) => {
                answered.insert(id);
                if !fatal && expected.is_subset(&answered) {
                    break;
                }
            }
            Ok(Some(Heard::Closed(closed))) => {
                assert!(
                    fatal && DOCUMENTED_CLOSES.contains(&closed.code),
                    "{path} connection {conn} closed with {closed:?}; \
                     unanswered: {:?}",
                    expected.difference(&answered).collect::<Vec<_>>()
                );
                return sent;
            }
            Ok(None) => panic!("{path} connection {conn}: the reader ended without a close"),
            Err(_) if fatal => panic!(
                "{path} connection {conn}: no close within 20 s after a message that must close it"
            ),
            Err(_) => panic!(
                "{path} connection {conn}: no answer within 20 s for {:?}",
                expected.difference(&answered).collect::<Vec<_>>()
            ),
        }
    }
    let _ = tx.close().await;
    sent
}

/// A POST to `/rpc` with raw bytes as the body; `(status, body)`.
async fn post_bytes(addr: SocketAddr, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /rpc HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // A server that refuses early may close before the body is written: that is its answer.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
                break;
            };
            if size == 0 || tail.len() < size {
                break;
            }
            out.push_str(&tail[..size]);
            rest = tail[size..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}

/// One hostile POST: the answer's status is documented and every expected id is answered.
async fn hostile_post(addr: SocketAddr, rng: &mut XorShift, n: usize) {
    let hostile = hostile_message(rng, false, 999, n);
    let body: Vec<u8> = match &hostile.message {
        Message::Text(t) => t.as_bytes().to_vec(),
        Message::Binary(b) => b.to_vec(),
        Message::Frame(f) => f.payload().to_vec(),
        _ => Vec::new(),
    };
    let expected = expected_ids(&hostile.message, false);
    let (status, text) = post_bytes(addr, &body).await;
    match status {
        200 => {
            let answer: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("POST #{n}: not JSON: {text:?}"));
            let answered: HashSet<String> = match &answer {
                Value::Array(entries) => entries.iter().filter_map(|e| id_key(&e["id"])).collect(),
                one => id_key(&one["id"]).into_iter().collect(),
            };
            for id in &expected {
                assert!(
                    answered.contains(id),
                    "POST #{n}: {id} unanswered in {text}"
                );
            }
        }
        204 => assert!(
            expected.is_empty(),
            "POST #{n}: 204 for requests {expected:?}"
        ),
        // jsonrpsee's answer to a body that is not JSON at all.
        400 => {
            let answer: Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("POST #{n}: not JSON: {text:?}"));
            assert_eq!(answer["error"]["code"], -32700, "POST #{n}: {text}");
            assert!(
                expected.is_empty(),
                "POST #{n}: 400 for requests {expected:?}"
            );
        }
        413 => assert!(
            body.len() > 512 * 1024,
            "POST #{n}: 413 for {} bytes",
            body.len()
        ),
        other => panic!("POST #{n}: HTTP {other}: {text}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_client_on_every_endpoint_leaves_the_server_alive_bounded_and_serving() {
    let admin_token = "hostile-run-admin-token";
    // Failed `connect`s are part of the corpus: keep the per-address limit from locking the
    // admin (same address) out at the end.
    let mut server = ServeProcess::start(
        admin_token,
        &[("SWITCHBOARD__AUTH__FAILED_PER_MINUTE", "1000000")],
    );
    let addr = server.addr;
    let mut admin = WsClient::connected(addr, Some(admin_token), "admin").await;
    let created = admin
        .call(
            "tokens.create",
            json!({ "name": "hostile-op", "role": "operator" }),
        )
        .await;
    let operator = created["payload"]["token"].as_str().unwrap().to_owned();
    drop(admin);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.status_kib("VmRSS:");
    let started = Instant::now();

    let mut rng = XorShift(0x5eed_cafe_f00d_d00d);
    let mut sent = [0usize; 3];
    for conn in 0..32 {
        let path = if conn % 2 == 0 { "/ws" } else { "/rpc" };
        let bearer = (conn % 3 == 0).then_some(operator.as_str());
        let count = 100 + rng.below(150);
        sent[conn % 2] += hostile_connection(addr, path, bearer, &mut rng, conn, count).await;
    }
    for n in 0..300 {
        hostile_post(addr, &mut rng, n).await;
        sent[2] += 1;
    }

    let after = server.status_kib("VmRSS:");
    let peak = server.status_kib("VmHWM:");
    eprintln!(
        "hostile run: {} /ws, {} /rpc WebSocket, {} POST messages in {:?}; \
         VmRSS {before} -> {after} KiB (+{} KiB), VmHWM {peak} KiB",
        sent[0],
        sent[1],
        sent[2],
        started.elapsed(),
        after.saturating_sub(before)
    );
    assert!(server.is_running(), "the server is alive");
    assert_eq!(http::get(addr, "/healthz").await.0, 200);
    assert!(
        after.saturating_sub(before) < HOSTILE_RSS_BOUND_KIB,
        "RSS grew by {} KiB",
        after.saturating_sub(before)
    );
    let mut admin = WsClient::connected(addr, Some(admin_token), "admin-after").await;
    let res = admin
        .call("chat.send", json!({ "message": "still here" }))
        .await;
    assert_eq!(res["payload"]["content"], "still here", "{res}");
}
