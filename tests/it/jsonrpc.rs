//! Strict JSON-RPC 2.0 on `/rpc` over HTTP POST (SPEC §4): the specification's own examples —
//! parse error, invalid request, method not found, invalid params, batches, notifications,
//! the empty batch — and application errors with `error.data.code`.

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{TestServer, http};

async fn post(server: &TestServer, token: Option<&str>, body: &str) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    http::request(server.addr, "POST", "/rpc", &headers, body).await
}

async fn post_json(server: &TestServer, token: Option<&str>, body: &str) -> Value {
    let (status, text) = post(server, token, body).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
}

#[tokio::test]
async fn a_parse_error_answers_32700_with_id_null() {
    let server = TestServer::start(&[]).await;
    let res = post_json(
        &server,
        None,
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
    )
    .await;
    assert_eq!(
        (res["error"]["code"].as_i64(), res["id"].clone()),
        (Some(-32700), Value::Null)
    );
}

#[tokio::test]
async fn an_invalid_request_answers_32600() {
    let server = TestServer::start(&[]).await;
    let res = post_json(
        &server,
        None,
        r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
    )
    .await;
    assert_eq!(res["error"]["code"], -32600, "{res}");
}

#[tokio::test]
async fn an_unknown_method_answers_32601() {
    let server = TestServer::start(&[]).await;
    let res = post_json(
        &server,
        None,
        r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#,
    )
    .await;
    assert_eq!(
        (res["error"]["code"].as_i64(), res["id"].as_str()),
        (Some(-32601), Some("1"))
    );
}

#[tokio::test]
async fn invalid_params_answer_32602() {
    let server = TestServer::start(&[]).await;
    let admin = server.token(Role::Admin).await;
    let res = post_json(
        &server,
        Some(&admin),
        r#"{"jsonrpc":"2.0","id":1,"method":"tokens.create","params":{"name":1}}"#,
    )
    .await;
    assert_eq!(res["error"]["code"], -32602, "{res}");
    let res = post_json(
        &server,
        Some(&admin),
        r#"{"jsonrpc":"2.0","id":2,"method":"tokens.create","params":{"name":"x","role":"root"}}"#,
    )
    .await;
    assert_eq!(res["error"]["code"], -32602, "{res}");
}

#[tokio::test]
async fn application_errors_carry_their_code_in_error_data() {
    let server = TestServer::start(&[]).await;
    let admin = server.token(Role::Admin).await;
    let res = post_json(
        &server,
        Some(&admin),
        r#"{"jsonrpc":"2.0","id":1,"method":"tokens.revoke","params":{"id":"nope"}}"#,
    )
    .await;
    assert_eq!(res["error"]["code"], -32004);
    assert_eq!(
        res["error"]["data"],
        json!({ "code": "NOT_FOUND", "retryable": false })
    );
}

#[tokio::test]
async fn a_batch_answers_each_entry_and_gates_each_entry() {
    let server = TestServer::start(&[]).await;
    let batch = r#"[
        {"jsonrpc": "2.0", "method": "health", "id": "1"},
        {"jsonrpc": "2.0", "method": "status", "id": "2"},
        {"jsonrpc": "2.0", "method": "tokens.list", "id": "3"},
        {"jsonrpc": "2.0", "method": "health"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"}
    ]"#;
    let res = post_json(&server, None, batch).await;
    let entries = res.as_array().unwrap();
    assert_eq!(entries.len(), 5, "the notification gets no answer: {res}");
    let by_id = |id: &str| entries.iter().find(|e| e["id"] == id).unwrap().clone();
    assert_eq!(by_id("1")["result"]["status"], "ok");
    assert!(
        by_id("2")["result"]["nodeId"].is_string(),
        "anonymous viewer may call status"
    );
    assert_eq!(
        by_id("3")["error"]["code"],
        -32003,
        "the batch entry is gated"
    );
    assert_eq!(by_id("3")["error"]["data"]["code"], "FORBIDDEN");
    assert_eq!(by_id("5")["error"]["code"], -32601);
    assert!(
        entries
            .iter()
            .any(|e| e["error"]["code"] == -32600 && e["id"].is_null())
    );
}

#[tokio::test]
async fn notifications_get_no_answer() {
    let server = TestServer::start(&[]).await;
    let (status, body) = post(&server, None, r#"{"jsonrpc": "2.0", "method": "health"}"#).await;
    assert!(status == 200 || status == 204, "{status}");
    assert!(body.trim().is_empty(), "{body:?}");
    let (_, body) = post(
        &server,
        None,
        r#"[{"jsonrpc": "2.0", "method": "health"},{"jsonrpc": "2.0", "method": "status"}]"#,
    )
    .await;
    assert!(body.trim().is_empty(), "{body:?}");
}

#[tokio::test]
async fn an_empty_batch_is_an_invalid_request() {
    let server = TestServer::start(&[]).await;
    let res = post_json(&server, None, "[]").await;
    assert_eq!(res["error"]["code"], -32600, "{res}");
}

#[tokio::test]
async fn a_bad_bearer_token_is_401_never_anonymous() {
    let server = TestServer::start(&[]).await;
    let (status, body) = post(
        &server,
        Some("sb_wrong"),
        r#"{"jsonrpc":"2.0","id":1,"method":"health"}"#,
    )
    .await;
    assert_eq!(status, 401);
    let res: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(res["error"]["data"]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn without_anonymous_access_a_tokenless_call_is_unauthorized() {
    let server = TestServer::start(&[("SWITCHBOARD__AUTH__ALLOW_ANONYMOUS", "false")]).await;
    let res = post_json(
        &server,
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"status"}"#,
    )
    .await;
    assert_eq!(res["error"]["code"], -32001);
    let res = post_json(
        &server,
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"health"}"#,
    )
    .await;
    assert_eq!(res["result"]["status"], "ok", "health needs no identity");
}

#[tokio::test]
async fn a_failed_connect_on_rpc_websocket_does_not_fall_back_to_anonymous() {
    let server = TestServer::start(&[]).await;
    let mut c = switchboard_tests::WsClient::open(server.addr, "/rpc", &[])
        .await
        .unwrap();
    assert_eq!(
        c.rpc("status", json!({})).await["result"]["store"],
        "sqlite",
        "anonymous viewer"
    );
    let res = c
        .rpc("connect", json!({ "token": "sb_wrong", "user_id": "m" }))
        .await;
    assert_eq!(res["error"]["code"], -32001);
    assert_eq!(c.rpc("status", json!({})).await["error"]["code"], -32001);
}

#[tokio::test]
async fn an_rpc_websocket_is_pinged_between_frames_and_a_silent_one_is_closed_at_the_read_deadline()
{
    use futures_util::{SinkExt, StreamExt};
    use std::time::Duration;
    use switchboard_tests::WsClient;
    use tokio_tungstenite::tungstenite::Message;

    let server = TestServer::start(&[
        ("SWITCHBOARD__SERVER__PING_INTERVAL_MS", "50"),
        ("SWITCHBOARD__SERVER__READ_TIMEOUT_MS", "400"),
    ])
    .await;
    let mut silent = WsClient::open(server.addr, "/rpc", &[]).await.unwrap();
    let admin = format!("Bearer {}", server.token(Role::Admin).await);
    let mut busy = WsClient::open(server.addr, "/rpc", &[("Authorization", admin.as_str())])
        .await
        .unwrap();
    // For a second (past the read deadline), `busy` calls without pause, reading every frame:
    // pings arrive between whole responses (the configuration, a few KiB), never inside one.
    let (mut pings, mut answered) = (0, 0);
    let until = tokio::time::Instant::now() + Duration::from_millis(1000);
    while tokio::time::Instant::now() < until {
        answered += 1;
        let request = json!({ "jsonrpc": "2.0", "id": answered, "method": "config.get" });
        let socket = busy.socket();
        socket
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(Message::Text(text))) => {
                    let res: Value = serde_json::from_str(&text).unwrap();
                    assert!(res["result"]["server"].is_object(), "{text}");
                    assert_eq!(res["id"], answered);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(pings >= 5, "{pings} pings in a second at a 50 ms interval");
    assert!(answered > 10, "{answered} calls answered");
    // Idle but answering pings (tungstenite does so while reading): kept past the deadline.
    let idle_until = tokio::time::Instant::now() + Duration::from_millis(600);
    while let Ok(message) = tokio::time::timeout_at(idle_until, busy.socket().next()).await {
        assert!(matches!(message, Some(Ok(Message::Ping(_)))), "{message:?}");
    }
    assert_eq!(
        busy.rpc("health", json!({})).await["result"]["status"],
        "ok"
    );
    // The silent one read nothing, so it answered no ping: the server has closed it.
    assert_eq!(server.state.connections.len(), 1);
    silent.closed().await;
}

#[tokio::test]
async fn a_scoped_bearer_is_held_to_its_scope_in_batches_too() {
    use switchboard_tests::WsClient;
    let server = TestServer::start(&[]).await;
    let admin_token = server.token(Role::Admin).await;
    let mut admin = WsClient::connected(server.addr, Some(&admin_token), "admin").await;
    let out = admin
        .call(
            "chat.send",
            json!({ "agentId": "main", "message": "not yours" }),
        )
        .await;
    let session = out["payload"]["sessionId"].as_str().unwrap().to_owned();
    let created = admin
        .call(
            "tokens.create",
            json!({ "name": "one-session", "role": "viewer",
                    "scope": { "sessions": ["ses_other"] } }),
        )
        .await;
    let scoped = created["payload"]["token"].as_str().unwrap().to_owned();
    // Batch entries are checked before any runs: the out-of-scope one is answered as a
    // session that does not exist, the in-scope-but-missing one the same way.
    let batch = json!([
        { "jsonrpc": "2.0", "id": "out", "method": "sessions.get", "params": { "sessionId": session } },
        { "jsonrpc": "2.0", "id": "missing", "method": "sessions.get", "params": { "sessionId": "ses_other" } },
        { "jsonrpc": "2.0", "id": "list", "method": "sessions.list", "params": {} }
    ]);
    let res = post_json(&server, Some(&scoped), &batch.to_string()).await;
    let entries = res.as_array().unwrap();
    let by_id = |id: &str| entries.iter().find(|e| e["id"] == id).unwrap().clone();
    assert_eq!(by_id("out")["error"]["data"]["code"], "NOT_FOUND", "{res}");
    assert_eq!(
        by_id("out")["error"]["message"],
        format!("no session {session}"),
        "{res}"
    );
    assert_eq!(
        by_id("missing")["error"]["data"]["code"],
        "NOT_FOUND",
        "{res}"
    );
    assert_eq!(
        by_id("list")["result"]["sessions"],
        json!([]),
        "the list holds nothing out of scope: {res}"
    );
    let single = json!({ "jsonrpc": "2.0", "id": 1, "method": "chat.history",
                         "params": { "sessionId": session } });
    let res = post_json(&server, Some(&scoped), &single.to_string()).await;
    assert_eq!(res["error"]["data"]["code"], "NOT_FOUND", "{res}");
}
