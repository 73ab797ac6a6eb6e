//! Sessions, chat and live events through real sockets (SPEC §8–§11): the streaming flow,
//! tools, runs (queue, background, abort, timeout, idempotency), reading, subscriptions with
//! lossless resume, backpressure, durability.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{TestServer, WsClient};

/// `chat.send` on a connected `/ws` client; returns the response and the events received
/// before it.
async fn send(c: &mut WsClient, params: Value) -> (Value, Vec<Value>) {
    c.events.clear();
    let res = c.call("chat.send", params).await;
    (res, std::mem::take(&mut c.events))
}

async fn operator(server: &TestServer) -> WsClient {
    let token = server.token(Role::Operator).await;
    WsClient::connected(server.addr, Some(&token), "op").await
}

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e["payload"]["status"].as_str() {
            Some(status) if e["event"] == "agent" => format!("agent:{status}"),
            _ => e["event"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn the_streaming_flow_of_a_chat_send() {
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let message = "hello  big\nworld ";
    let (res, events) = send(&mut c, json!({ "agentId": "main", "message": message })).await;
    assert_eq!(res["ok"], true, "{res}");
    let payload = &res["payload"];
    assert_eq!(payload["content"], message);
    assert_eq!(payload["stopReason"], "end_turn");
    assert_eq!(
        payload["usage"],
        json!({ "input_tokens": 3, "output_tokens": 3 })
    );
    let session = payload["sessionId"].as_str().unwrap();
    let run = payload["runId"].as_str().unwrap();
    assert_eq!(
        names(&events),
        [
            "agent:started",
            "chat",
            "chat",
            "chat",
            "usage",
            "agent:completed"
        ]
    );
    let deltas: String = events
        .iter()
        .filter(|e| e["event"] == "chat")
        .map(|e| e["payload"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, message);
    let last_chat = events.iter().rfind(|e| e["event"] == "chat").unwrap();
    assert_eq!(last_chat["payload"]["chunk"], message);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "connection seq");
        assert_eq!(e["payload"]["sessionSeq"], i as u64 + 1, "session seq");
        assert_eq!(e["payload"]["sessionId"], session);
        assert_eq!(e["payload"]["runId"], run);
    }
    assert_eq!(
        events[0]["payload"]["run_id"], run,
        "agent events carry run_id for GoClaw"
    );
}

#[tokio::test]
async fn tools_emit_a_call_then_a_result_with_one_id() {
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let (res, events) = send(
        &mut c,
        json!({ "agentId": "main", "message": "/tool calc {\"expr\":\"2+2*3\"}" }),
    )
    .await;
    assert_eq!(res["payload"]["content"], "{\"value\":8}");
    let call = events.iter().find(|e| e["event"] == "tool.call").unwrap();
    let result = events.iter().find(|e| e["event"] == "tool.result").unwrap();
    assert_eq!(call["payload"]["tool"], "calc");
    assert_eq!(call["payload"]["input"], json!({ "expr": "2+2*3" }));
    assert_eq!(result["payload"]["output"], json!({ "value": 8 }));
    assert_eq!(result["payload"]["isError"], false);
    assert_eq!(
        call["payload"]["toolCallId"],
        result["payload"]["toolCallId"]
    );
    assert!(call["seq"].as_u64() < result["seq"].as_u64());

    let (res, events) = send(&mut c, json!({ "message": "/tool clock {}" })).await;
    assert!(
        res["payload"]["content"]
            .as_str()
            .unwrap()
            .contains("unixMs")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "tool.result" && e["payload"]["output"]["now"].is_string())
    );

    let (res, events) = send(
        &mut c,
        json!({ "message": "/tool calc {\"expr\":\"1/0\"}" }),
    )
    .await;
    assert_eq!(res["payload"]["content"], "error: division by zero");
    let result = events.iter().find(|e| e["event"] == "tool.result").unwrap();
    assert_eq!(result["payload"]["isError"], true);
}

#[tokio::test]
async fn bad_sends_are_refused_clearly() {
    let server = TestServer::start(&[("SWITCHBOARD__LIMITS__MAX_MESSAGE_BYTES", "100")]).await;
    let mut c = operator(&server).await;
    for (params, code) in [
        (json!({ "agentId": "main" }), "INVALID_REQUEST"),
        (
            json!({ "agentId": "main", "message": "" }),
            "INVALID_REQUEST",
        ),
        (
            json!({ "agentId": "main", "message": 5 }),
            "INVALID_REQUEST",
        ),
        (
            json!({ "agentId": "main", "message": "x".repeat(101) }),
            "PAYLOAD_TOO_LARGE",
        ),
        (json!({ "agentId": "nobody", "message": "hi" }), "NOT_FOUND"),
        (
            json!({ "sessionId": "ses_missing", "message": "hi" }),
            "NOT_FOUND",
        ),
    ] {
        let res = c.call("chat.send", params.clone()).await;
        assert_eq!(res["error"]["code"], code, "{params}: {res}");
    }
    let viewer = server.token(Role::Viewer).await;
    let mut v = WsClient::connected(server.addr, Some(&viewer), "v").await;
    assert_eq!(
        v.call("chat.send", json!({ "message": "hi" })).await["error"]["code"],
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn history_sessions_and_agents_can_be_read() {
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let (first, _) = send(&mut c, json!({ "message": "one" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    for m in ["two", "three"] {
        send(&mut c, json!({ "sessionId": session, "message": m })).await;
    }
    let history = c
        .call("chat.history", json!({ "sessionId": session }))
        .await["payload"]
        .clone();
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "one", "two", "two", "three", "three"]);
    assert_eq!(history["hasMore"], false);
    let roles: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]
    );
    assert_eq!(history["messages"][1]["usage"]["output_tokens"], 1);
    let page = c
        .call("chat.history", json!({ "sessionId": session, "limit": 2 }))
        .await["payload"]
        .clone();
    assert_eq!(page["hasMore"], true);
    let before = page["messages"][0]["id"].clone();
    let older = c
        .call(
            "chat.history",
            json!({ "sessionId": session, "limit": 10, "before": before }),
        )
        .await["payload"]
        .clone();
    assert_eq!(older["messages"].as_array().unwrap().len(), 4);

    send(&mut c, json!({ "message": "another session" })).await;
    let list = c.call("sessions.list", json!({ "limit": 1 })).await["payload"].clone();
    assert_eq!(list["sessions"][0]["title"], "another session");
    let cursor = list["nextCursor"].as_str().unwrap().to_owned();
    let next = c
        .call("sessions.list", json!({ "limit": 1, "cursor": cursor }))
        .await["payload"]
        .clone();
    let listed = &next["sessions"][0];
    assert_eq!(
        (listed["id"].as_str(), listed["messageCount"].as_i64()),
        (Some(session.as_str()), Some(6))
    );
    assert_eq!(
        (listed["running"].as_bool(), listed["lastSeq"].as_i64()),
        (Some(false), Some(12))
    );
    let got = c
        .call("sessions.get", json!({ "sessionId": session }))
        .await["payload"]
        .clone();
    assert_eq!(
        (got["running"].as_bool(), got["activeRunId"].clone()),
        (Some(false), Value::Null)
    );
    assert_eq!(got["usage"]["output_tokens"], 3);
    assert_eq!(
        c.call("sessions.get", json!({ "sessionId": "nope" })).await["error"]["code"],
        "NOT_FOUND"
    );
    let agents = c.call("agents.list", json!({})).await["payload"].clone();
    assert_eq!(agents["agents"][0], json!({ "id": "main", "kind": "echo" }));
}

#[tokio::test]
async fn runs_of_one_session_queue_in_order_and_the_queue_is_bounded() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "30"),
        ("SWITCHBOARD__LIMITS__MAX_QUEUED_RUNS", "2"),
    ])
    .await;
    let mut c = operator(&server).await;
    let (first, _) = send(&mut c, json!({ "message": "start" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    // Each send waits until the server has taken it (its run started or queued), so the order
    // of arrival is the order of sending.
    let mut ids = Vec::new();
    for (m, status) in [
        ("a1 a2 a3", "started"),
        ("b1 b2 b3", "queued"),
        ("c1 c2 c3", "queued"),
    ] {
        ids.push(
            c.send_req("chat.send", json!({ "sessionId": session, "message": m }))
                .await,
        );
        loop {
            let e = c.next_json().await.unwrap();
            let taken = e["event"] == "agent" && e["payload"]["status"] == status;
            c.events.push(e);
            if taken {
                break;
            }
        }
    }
    ids.push(
        c.send_req(
            "chat.send",
            json!({ "sessionId": session, "message": "d1" }),
        )
        .await,
    );
    let mut results = Vec::new();
    for id in &ids {
        results.push(c.response(id).await);
    }
    assert_eq!(results[0]["payload"]["content"], "a1 a2 a3");
    assert_eq!(results[1]["payload"]["content"], "b1 b2 b3");
    assert_eq!(results[2]["payload"]["content"], "c1 c2 c3");
    assert_eq!(results[3]["error"]["code"], "CONFLICT", "{}", results[3]);
    assert_eq!(results[3]["error"]["retryable"], true);
    let order: Vec<&str> = c
        .events
        .iter()
        .filter(|e| e["event"] == "chat")
        .map(|e| e["payload"]["delta"].as_str().unwrap().trim())
        .collect();
    assert_eq!(
        order,
        ["a1", "a2", "a3", "b1", "b2", "b3", "c1", "c2", "c3"],
        "one run at a time, FIFO"
    );
    assert!(
        c.events
            .iter()
            .any(|e| e["event"] == "agent" && e["payload"]["status"] == "queued")
    );
}

#[tokio::test]
async fn a_run_goes_on_when_its_caller_disconnects() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "20")]).await;
    let mut c = operator(&server).await;
    let (first, _) = send(&mut c, json!({ "message": "x" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    let words = (0..20)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    c.send_req(
        "chat.send",
        json!({ "sessionId": session, "message": words }),
    )
    .await;
    loop {
        let e = c.next_json().await.unwrap();
        if e["event"] == "chat" {
            break;
        }
    }
    drop(c);
    let mut viewer = WsClient::connected(server.addr, None, "v").await;
    for _ in 0..200 {
        let history = viewer
            .call("chat.history", json!({ "sessionId": session }))
            .await;
        let messages = history["payload"]["messages"].as_array().unwrap().clone();
        if messages.len() == 4 {
            assert_eq!(messages[3]["content"], words.as_str());
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the background run did not finish");
}

#[tokio::test]
async fn abort_ends_the_run_keeping_its_partial_reply() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "50")]).await;
    let mut c = operator(&server).await;
    let mut other = operator(&server).await;
    let (first, _) = send(&mut c, json!({ "message": "x" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    let words = (0..40)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let id = c
        .send_req(
            "chat.send",
            json!({ "sessionId": session, "message": words }),
        )
        .await;
    let mut seen = 0;
    while seen < 3 {
        if c.next_json().await.unwrap()["event"] == "chat" {
            seen += 1;
        }
    }
    let aborted = other
        .call("chat.abort", json!({ "sessionId": session }))
        .await;
    assert_eq!(aborted["payload"]["aborted"], true);
    let res = c.response(&id).await;
    assert_eq!(res["payload"]["stopReason"], "aborted", "{res}");
    let partial = res["payload"]["content"].as_str().unwrap().to_owned();
    assert!(
        !partial.is_empty() && words.starts_with(&partial) && partial.len() < words.len(),
        "{partial}"
    );
    assert!(
        c.events
            .iter()
            .any(|e| e["event"] == "agent" && e["payload"]["status"] == "aborted")
    );
    let history = other
        .call("chat.history", json!({ "sessionId": session }))
        .await;
    assert_eq!(
        history["payload"]["messages"][3]["content"],
        partial.as_str(),
        "the partial reply is stored"
    );
    assert_eq!(
        other
            .call("chat.abort", json!({ "sessionId": session }))
            .await["payload"]["aborted"],
        false
    );
    assert_eq!(
        other
            .call("chat.abort", json!({ "sessionId": "nope" }))
            .await["error"]["code"],
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_run_over_its_time_limit_ends_with_timeout() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "300"),
        ("SWITCHBOARD__AGENTS__RUN_TIMEOUT_S", "1"),
    ])
    .await;
    let mut c = operator(&server).await;
    let (res, events) = send(&mut c, json!({ "message": "a b c d e f g h i j" })).await;
    assert_eq!(res["error"]["code"], "TIMEOUT", "{res}");
    assert_eq!(res["error"]["retryable"], true);
    let last = events.last().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["payload"]["status"].as_str()),
        (Some("agent"), Some("timeout"))
    );
    let session = last["payload"]["sessionId"].as_str().unwrap();
    let again = c
        .call(
            "chat.send",
            json!({ "sessionId": session, "message": "ok" }),
        )
        .await;
    assert_eq!(
        again["payload"]["content"], "ok",
        "the session stays usable"
    );
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_result_also_while_it_runs() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "30")]).await;
    let mut c = operator(&server).await;
    let params = json!({ "message": "once only please", "idempotencyKey": "k-1" });
    let first = c.send_req("chat.send", params.clone()).await;
    let second = c.send_req("chat.send", params.clone()).await;
    let (a, b) = (c.response(&first).await, c.response(&second).await);
    assert_eq!(a["payload"], b["payload"], "{a} {b}");
    let (third, _) = send(&mut c, params).await;
    assert_eq!(third["payload"], a["payload"]);
    let session = a["payload"]["sessionId"].as_str().unwrap();
    let history = c
        .call("chat.history", json!({ "sessionId": session }))
        .await;
    assert_eq!(
        history["payload"]["messages"].as_array().unwrap().len(),
        2,
        "one run only"
    );
    let other_key = c
        .call(
            "chat.send",
            json!({ "message": "x", "idempotencyKey": "k-2" }),
        )
        .await;
    assert_ne!(other_key["payload"]["runId"], a["payload"]["runId"]);
}

#[tokio::test]
async fn chat_send_is_rate_limited_per_principal() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__LIMITS__CHAT_PER_MINUTE", "60"),
        ("SWITCHBOARD__LIMITS__CHAT_BURST", "2"),
    ])
    .await;
    let mut c = operator(&server).await;
    for _ in 0..2 {
        assert_eq!(
            c.call("chat.send", json!({ "message": "hi" })).await["ok"],
            true
        );
    }
    let limited = c.call("chat.send", json!({ "message": "hi" })).await;
    assert_eq!(limited["error"]["code"], "RATE_LIMITED", "{limited}");
    let wait = limited["error"]["retryAfterMs"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 1000, "{wait}");
    let mut other = operator(&server).await;
    assert_eq!(
        other.call("chat.send", json!({ "message": "hi" })).await["ok"],
        true,
        "another principal"
    );
}
