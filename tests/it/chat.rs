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
async fn calls_answered_during_a_live_stream_do_not_reorder_it() {
    // The connection answers `health` in place while its run's events stream to it: the
    // answers interleave with the events, and neither the stream nor the answers lose their
    // order or a frame.
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "1")]).await;
    let mut c = operator(&server).await;
    let words = 120;
    let message = (0..words)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let send_id = c
        .send_req(
            "chat.send",
            json!({ "agentId": "main", "message": message }),
        )
        .await;
    let mut health_ids = Vec::new();
    let mut frames = Vec::new();
    loop {
        if health_ids.len() < 200 {
            health_ids.push(c.send_req("health", json!({})).await);
        }
        let frame = c.next_json().await.expect("open");
        let done = frame["id"] == send_id.as_str();
        frames.push(frame);
        if done {
            break;
        }
    }
    let events: Vec<&Value> = frames.iter().filter(|f| f["type"] == "event").collect();
    assert_eq!(
        events.len(),
        words + 3,
        "started, one chat per word, usage, completed"
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1, "connection seq in arrival order");
        assert_eq!(
            e["payload"]["sessionSeq"],
            i as u64 + 1,
            "session seq in order"
        );
    }
    assert!(is_run_end(events[events.len() - 1]));
    let answered: Vec<&Value> = frames.iter().filter(|f| f["type"] == "res").collect();
    let interleaved = frames
        .iter()
        .take_while(|f| !is_run_end(f))
        .filter(|f| f["type"] == "res")
        .count();
    assert!(
        interleaved > 0,
        "health answers came between the events, not after them"
    );
    let health: Vec<&Value> = answered
        .iter()
        .copied()
        .filter(|r| r["id"] != send_id.as_str())
        .collect();
    let expected: Vec<&str> = health_ids
        .iter()
        .take(health.len())
        .map(String::as_str)
        .collect();
    let got: Vec<&str> = health.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(got, expected, "answers in the order of their calls");
    assert!(health.iter().all(|r| r["ok"] == true));
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

/// Reads events until one satisfies `until` (inclusive); returns them.
async fn events_until(c: &mut WsClient, until: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut got = Vec::new();
    // Events already read while waiting for a response come first.
    while !c.events.is_empty() {
        let e = c.events.remove(0);
        let done = until(&e);
        got.push(e);
        if done {
            return got;
        }
    }
    loop {
        let e = c
            .next_json()
            .await
            .unwrap_or_else(|closed| panic!("closed: {closed:?} after {got:?}"));
        let done = e["type"] == "event" && until(&e);
        got.push(e);
        if done {
            return got;
        }
    }
}

fn is_run_end(e: &Value) -> bool {
    e["event"] == "agent"
        && ["completed", "aborted", "timeout", "failed"]
            .contains(&e["payload"]["status"].as_str().unwrap_or(""))
}

fn session_seqs(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .filter_map(|e| e["payload"]["sessionSeq"].as_i64())
        .collect()
}

#[tokio::test]
async fn subscribe_after_seq_replays_stored_events_then_continues_live() {
    let server = TestServer::start(&[]).await;
    let mut op = operator(&server).await;
    let (first, _) = send(&mut op, json!({ "message": "one two" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    let mut viewer = WsClient::connected(server.addr, None, "viewer").await;
    let sub = viewer
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": 2 }),
        )
        .await;
    assert_eq!(
        sub["payload"]["topic"],
        format!("session:{session}"),
        "{sub}"
    );
    assert_eq!(
        sub["payload"]["replayed"], 3,
        "events 3..5 of 5 are replayed: {sub}"
    );
    assert!(!sub["payload"]["subscriptionId"].is_null());
    let mut got = events_until(&mut viewer, |e| e["payload"]["sessionSeq"] == 5).await;
    send(&mut op, json!({ "sessionId": session, "message": "three" })).await;
    got.extend(events_until(&mut viewer, |e| e["payload"]["sessionSeq"] == 9).await);
    assert_eq!(session_seqs(&got), (3..=9).collect::<Vec<_>>());
    let connection_seqs: Vec<u64> = got.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(connection_seqs, (1..=7).collect::<Vec<_>>());
}

#[tokio::test]
async fn resume_in_the_middle_of_a_live_run_has_no_gap_and_no_duplicate() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "5")]).await;
    let mut op = operator(&server).await;
    let (first, _) = send(&mut op, json!({ "message": "warm up" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    let words = (0..150)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let id = op
        .send_req(
            "chat.send",
            json!({ "sessionId": session, "message": words }),
        )
        .await;
    // A viewer follows live, drops after a while, and resumes while the run still streams.
    let mut viewer = WsClient::connected(server.addr, None, "viewer").await;
    viewer
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": 0 }),
        )
        .await;
    let mut seen = std::mem::take(&mut viewer.events);
    seen.extend(
        events_until(&mut viewer, |e| {
            e["payload"]["sessionSeq"].as_i64() >= Some(40)
        })
        .await,
    );
    drop(viewer);
    let last = *session_seqs(&seen).last().unwrap();
    let mut again = WsClient::connected(server.addr, None, "viewer").await;
    again
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": last }),
        )
        .await;
    seen.extend(std::mem::take(&mut again.events));
    seen.extend(
        events_until(&mut again, |e| {
            is_run_end(e) && e["payload"]["runId"] != first["payload"]["runId"]
        })
        .await,
    );
    let seqs = session_seqs(&seen);
    let head = op.response(&id).await;
    assert_eq!(head["payload"]["content"], words.as_str());
    let expected: Vec<i64> = (1..=*seqs.last().unwrap()).collect();
    assert_eq!(seqs, expected, "every event once, in order");
    assert!(seqs.len() > 150);
}

#[tokio::test]
async fn resume_after_a_server_restart_replays_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), &[]).await;
    let token = server
        .state
        .verifier
        .create("op", Role::Operator, None)
        .await
        .unwrap()
        .token;
    let mut op = WsClient::connected(server.addr, Some(&token), "op").await;
    let (res, live) = send(&mut op, json!({ "message": "before the restart" })).await;
    let session = res["payload"]["sessionId"].as_str().unwrap().to_owned();
    drop(op);
    server.stop().await;

    let server = TestServer::start_in(dir.path(), &[]).await;
    let mut viewer = WsClient::connected(server.addr, None, "viewer").await;
    let sub = viewer
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": 1 }),
        )
        .await;
    assert_eq!(sub["payload"]["replayed"], live.len() as u64 - 1);
    let replayed = events_until(&mut viewer, |e| e["payload"]["sessionSeq"] == live.len()).await;
    let strip = |e: &Value| e["payload"].clone();
    assert_eq!(
        replayed.iter().map(strip).collect::<Vec<_>>(),
        live[1..].iter().map(strip).collect::<Vec<_>>()
    );
    let mut op = WsClient::connected(server.addr, Some(&token), "op").await;
    send(&mut op, json!({ "sessionId": session, "message": "after" })).await;
    let more = events_until(&mut viewer, is_run_end).await;
    assert_eq!(
        session_seqs(&more).first().copied(),
        Some(live.len() as i64 + 1),
        "numbering goes on"
    );
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_closed_and_resumes_without_loss() {
    let server = TestServer::start(&[("SWITCHBOARD__SERVER__SEND_BUFFER", "8")]).await;
    let mut op = operator(&server).await;
    let (first, _) = send(&mut op, json!({ "message": "start" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    let mut stalled = WsClient::frames_with_small_receive_buffer(server.addr).await;
    assert_eq!(
        stalled.call("connect", json!({ "user_id": "slow" })).await["ok"],
        true
    );
    stalled
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}") }),
        )
        .await;
    let mut healthy = WsClient::connected(server.addr, None, "healthy").await;
    healthy
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}") }),
        )
        .await;

    // The healthy viewer reads all along, on its own task.
    let healthy = tokio::spawn(async move { events_until(&mut healthy, is_run_end).await });
    // 800 words: within a run's chat byte budget, so every word is its own event.
    let words = (0..800)
        .map(|i| format!("word{i:05}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (res, _) = send(&mut op, json!({ "sessionId": session, "message": words })).await;
    assert_eq!(
        res["payload"]["content"],
        words.as_str(),
        "the producing run is unaffected"
    );
    assert_eq!(
        healthy.await.unwrap().len(),
        803,
        "other clients get everything"
    );

    let closed = stalled.closed().await;
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "slow consumer")
    );
    let mut got = std::mem::take(&mut stalled.events);
    let last = session_seqs(&got).last().copied().unwrap_or(4);
    assert!(last < 807, "it was cut off");
    let mut resumed = WsClient::connected(server.addr, None, "slow").await;
    resumed
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": last }),
        )
        .await;
    got.extend(std::mem::take(&mut resumed.events));
    got.extend(events_until(&mut resumed, |e| e["payload"]["sessionSeq"] == 807).await);
    let seqs: Vec<i64> = session_seqs(&got);
    assert_eq!(
        seqs,
        (5..=807).collect::<Vec<_>>(),
        "nothing lost, nothing twice"
    );
}

#[tokio::test]
async fn a_slow_but_steady_reader_among_fast_ones_is_waited_for_not_closed() {
    // The log waits while more than 1 % of a stream's listeners are behind, so one reader
    // slower than nine others sets the pace instead of being closed as a slow consumer. (Its
    // small receive buffer keeps the backlog on the server, where the pacing sees it.)
    let server = TestServer::start(&[]).await;
    let mut op = operator(&server).await;
    let (first, _) = send(&mut op, json!({ "message": "start" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    let topic = json!({ "topic": format!("session:{session}") });
    let mut slow = WsClient::frames_with_small_receive_buffer(server.addr).await;
    assert_eq!(
        slow.call("connect", json!({ "user_id": "slow" })).await["ok"],
        true
    );
    slow.call("subscribe", topic.clone()).await;
    let mut fast = Vec::new();
    for i in 0..9 {
        let mut viewer = WsClient::connected(server.addr, None, &format!("fast{i}")).await;
        viewer.call("subscribe", topic.clone()).await;
        fast.push(tokio::spawn(async move {
            events_until(&mut viewer, is_run_end).await.len()
        }));
    }
    let slow = tokio::spawn(async move {
        let mut got = std::mem::take(&mut slow.events);
        while !got.last().is_some_and(is_run_end) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            match slow.next_json().await {
                Ok(frame) => got.push(frame),
                Err(closed) => panic!("the slow reader was closed: {closed:?}"),
            }
        }
        got
    });
    let words = 600;
    let message = (0..words)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (res, _) = send(&mut op, json!({ "sessionId": session, "message": message })).await;
    assert_eq!(res["ok"], true, "{res}");
    let got = slow.await.unwrap();
    let first_seq = 5; // after the first run's started, chat, usage, completed
    assert_eq!(
        session_seqs(&got),
        (first_seq..first_seq + words + 3).collect::<Vec<_>>(),
        "the slow reader got the whole stream"
    );
    for viewer in fast {
        assert_eq!(viewer.await.unwrap(), (words + 3) as usize);
    }
}

#[tokio::test]
async fn a_connection_gets_each_event_once_however_many_subscriptions_match() {
    let server = TestServer::start(&[]).await;
    let mut op = operator(&server).await;
    let (first, _) = send(&mut op, json!({ "message": "a" })).await;
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    for topic in [
        format!("session:{session}"),
        "*".to_owned(),
        "agent:main".to_owned(),
    ] {
        assert_eq!(
            op.call("subscribe", json!({ "topic": topic })).await["ok"],
            true
        );
    }
    let (_, events) = send(&mut op, json!({ "sessionId": session, "message": "b c" })).await;
    let seqs = session_seqs(&events);
    assert_eq!(seqs, (5..=9).collect::<Vec<_>>(), "{events:?}");
    let after = if events.iter().any(|e| e["event"] == "session.updated") {
        Vec::new()
    } else {
        events_until(&mut op, |e| e["event"] == "session.updated").await
    };
    let connection_seqs: Vec<u64> = events
        .iter()
        .chain(&after)
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    let first = connection_seqs[0];
    assert_eq!(first, 5, "the first run's 4 events came before");
    assert_eq!(
        connection_seqs,
        (first..first + connection_seqs.len() as u64).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn topics_sessions_agent_and_star_and_deletion_is_told() {
    let server = TestServer::start(&[]).await;
    let admin = server.token(Role::Admin).await;
    let mut watcher = WsClient::connected(server.addr, Some(&admin), "w").await;
    watcher
        .call("subscribe", json!({ "topic": "sessions" }))
        .await;
    let mut agent_watch = WsClient::connected(server.addr, None, "a").await;
    agent_watch
        .call("subscribe", json!({ "topic": "agent:main" }))
        .await;
    let mut op = operator(&server).await;
    let (res, _) = send(&mut op, json!({ "message": "hi" })).await;
    let session = res["payload"]["sessionId"].as_str().unwrap().to_owned();
    let created = events_until(&mut watcher, |e| e["event"] == "session.created").await;
    assert_eq!(created.last().unwrap()["payload"]["id"], session.as_str());
    events_until(&mut watcher, |e| e["event"] == "session.updated").await;
    let agent_events = events_until(&mut agent_watch, is_run_end).await;
    assert!(
        agent_events
            .iter()
            .all(|e| e["payload"]["sessionId"] == session.as_str())
    );

    let mut follower = WsClient::connected(server.addr, None, "f").await;
    follower
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}") }),
        )
        .await;
    let deleted = watcher
        .call("sessions.delete", json!({ "sessionId": session }))
        .await;
    assert_eq!(deleted["payload"]["deleted"], true);
    let told = events_until(&mut follower, |e| e["event"] == "session.deleted").await;
    assert_eq!(told.last().unwrap()["payload"]["id"], session.as_str());
    events_until(&mut watcher, |e| e["event"] == "session.deleted").await;
    assert_eq!(
        op.call("chat.history", json!({ "sessionId": session }))
            .await["error"]["code"],
        "NOT_FOUND"
    );
    let forbidden = op
        .call("sessions.delete", json!({ "sessionId": "x" }))
        .await;
    assert_eq!(forbidden["error"]["code"], "FORBIDDEN");
}

#[tokio::test]
async fn subscriptions_are_checked_and_bounded() {
    let server = TestServer::start(&[("SWITCHBOARD__LIMITS__MAX_SUBSCRIPTIONS", "2")]).await;
    let mut c = WsClient::connected(server.addr, None, "v").await;
    for (params, code) in [
        (json!({ "topic": "rooms" }), "INVALID_REQUEST"),
        (json!({ "topic": "session:nope" }), "NOT_FOUND"),
        (json!({ "topic": "*", "afterSeq": 3 }), "INVALID_REQUEST"),
    ] {
        assert_eq!(
            c.call("subscribe", params.clone()).await["error"]["code"],
            code,
            "{params}"
        );
    }
    assert_eq!(
        c.call("subscribe", json!({ "topic": "*" })).await["ok"],
        true
    );
    let second = c.call("subscribe", json!({ "topic": "sessions" })).await;
    let third = c.call("subscribe", json!({ "topic": "agent:main" })).await;
    assert_eq!(third["error"]["code"], "CONFLICT", "{third}");
    let id = second["payload"]["subscriptionId"].clone();
    assert_eq!(
        c.call("unsubscribe", json!({ "subscriptionId": id })).await["ok"],
        true
    );
    let mut ok = false;
    for _ in 0..50 {
        if c.call("subscribe", json!({ "topic": "agent:main" })).await["ok"] == true {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok, "an unsubscribed slot is free again");
}

#[tokio::test]
async fn over_rpc_the_typed_client_chats_and_subscribes_with_notifications() {
    use jsonrpsee::core::client::Subscription;
    use jsonrpsee::ws_client::{HeaderMap, HeaderValue, WsClientBuilder};
    use switchboard_api::rpc::{ChatApiClient, EventsApiClient, SessionsApiClient};
    use switchboard_api::types::EventMessage;

    let server = TestServer::start(&[]).await;
    let token = server.token(Role::Operator).await;
    let mut headers = HeaderMap::new();
    headers.insert(
        "Authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let client = WsClientBuilder::default()
        .set_headers(headers)
        .build(server.rpc_ws_url())
        .await
        .unwrap();
    let first = client
        .send(
            Some("main".into()),
            Some(json!("first words")),
            None,
            None,
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(first.content, "first words");
    let mut events: Subscription<EventMessage> = client
        .subscribe_topic(format!("session:{}", first.session_id), Some(0))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    while seqs.len() < 5 {
        let event = events.next().await.unwrap().unwrap();
        seqs.push(event.payload["sessionSeq"].as_i64().unwrap());
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5], "replayed as JSON-RPC notifications");
    let second = client
        .send(
            None,
            Some(json!("more")),
            Some(first.session_id.clone()),
            None,
            None,
            None,
        )
        .await
        .unwrap();
    let mut live = Vec::new();
    while live.len() < 4 {
        let event = events.next().await.unwrap().unwrap();
        live.push((event.event, event.payload["sessionSeq"].as_i64().unwrap()));
    }
    assert_eq!(
        live.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [6, 7, 8, 9]
    );
    assert_eq!(live[1].0, "chat");
    let detail = client
        .get(Some(second.session_id.clone()), None, None)
        .await
        .unwrap();
    assert_eq!(detail.session.message_count, 4);
    events.unsubscribe().await.unwrap();
}

#[tokio::test]
async fn the_streaming_flow_and_resume_on_postgres() {
    let Some(pg) = switchboard_tests::pg_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [("SWITCHBOARD__STORAGE__URL", pg.url.as_str())];
    let server = TestServer::start_in(dir.path(), &env).await;
    assert_eq!(server.state.store.backend_name(), "postgres");
    let token = server
        .state
        .verifier
        .create("op", Role::Operator, None)
        .await
        .unwrap()
        .token;
    let mut op = WsClient::connected(server.addr, Some(&token), "op").await;
    let (res, live) = send(&mut op, json!({ "message": "stored in postgres" })).await;
    assert_eq!(res["payload"]["content"], "stored in postgres");
    assert_eq!(session_seqs(&live), [1, 2, 3, 4, 5, 6]);
    let session = res["payload"]["sessionId"].as_str().unwrap().to_owned();
    drop(op);
    server.stop().await;
    let server = TestServer::start_in(dir.path(), &env).await;
    let mut viewer = WsClient::connected(server.addr, None, "viewer").await;
    viewer
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": 3 }),
        )
        .await;
    let replayed = events_until(&mut viewer, |e| e["payload"]["sessionSeq"] == 6).await;
    assert_eq!(session_seqs(&replayed), [4, 5, 6]);
    let history = viewer
        .call("chat.history", json!({ "sessionId": session }))
        .await;
    assert_eq!(history["payload"]["messages"].as_array().unwrap().len(), 2);
}

// --- Session keys and chat.start (SPEC §16: shared by both dialects) ---

/// `chat.start` on a connected `/ws` client: the response (events that came before it stay in
/// `c.events`).
async fn start(c: &mut WsClient, params: Value) -> Value {
    c.call("chat.start", params).await
}

/// Reads until run `run`'s final `agent` event; returns every event of that run seen (also
/// those read while waiting for earlier responses).
async fn run_events(c: &mut WsClient, run: &str) -> Vec<Value> {
    let got = events_until(c, |e| is_run_end(e) && e["payload"]["runId"] == run).await;
    got.into_iter()
        .filter(|e| e["type"] == "event" && e["payload"]["runId"] == run)
        .collect()
}

/// Waits until the session's history holds `n` messages; returns them.
async fn history_of(c: &mut WsClient, session: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let history = c
            .call("chat.history", json!({ "sessionId": session }))
            .await;
        let messages = history["payload"]["messages"].as_array().unwrap().clone();
        if messages.len() >= n {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("session {session} never reached {n} messages");
}

#[tokio::test]
async fn a_session_key_names_one_session_in_send_history_get_and_list() {
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let mut watcher = WsClient::connected(server.addr, None, "w").await;
    watcher
        .call("subscribe", json!({ "topic": "sessions" }))
        .await;
    let (first, _) = send(
        &mut c,
        json!({ "sessionKey": "agent:main:side", "message": "first in side" }),
    )
    .await;
    assert_eq!(first["ok"], true, "{first}");
    let session = first["payload"]["sessionId"].as_str().unwrap().to_owned();
    let created = events_until(&mut watcher, |e| e["event"] == "session.created").await;
    let created = &created[created.len() - 1]["payload"];
    assert_eq!(created["key"], "agent:main:side", "{created}");
    assert_eq!(created["title"], "first in side");

    // The same key — bare, or in capitals — is the same session.
    for key in ["side", "AGENT:Main:Side"] {
        let (again, _) = send(&mut c, json!({ "sessionKey": key, "message": "more" })).await;
        assert_eq!(
            again["payload"]["sessionId"],
            session.as_str(),
            "{key}: {again}"
        );
    }
    let history = c
        .call(
            "chat.history",
            json!({ "sessionKey": "agent:main:side", "limit": 10 }),
        )
        .await;
    let payload = &history["payload"];
    assert_eq!(payload["sessionId"], session.as_str(), "{history}");
    assert_eq!(payload["sessionKey"], "agent:main:side");
    assert_eq!(payload["messages"].as_array().unwrap().len(), 6);
    let by_id = c
        .call("chat.history", json!({ "sessionId": session }))
        .await;
    assert!(
        by_id["payload"].get("sessionKey").is_none() && by_id["payload"].get("sessionId").is_none(),
        "by id, today's shape: {by_id}"
    );

    let detail = c
        .call("sessions.get", json!({ "sessionKey": "agent:main:side" }))
        .await;
    assert_eq!(detail["payload"]["id"], session.as_str(), "{detail}");
    assert_eq!(detail["payload"]["key"], "agent:main:side");
    assert_eq!(detail["payload"]["messageCount"], 6);

    // A session made without a key has none, and is reachable as agent:<agentId>:<id>.
    let long = "y".repeat(200);
    let (plain, _) = send(&mut c, json!({ "message": long })).await;
    let plain_id = plain["payload"]["sessionId"].as_str().unwrap().to_owned();
    let plain_key = format!("agent:main:{plain_id}");
    let got = c
        .call("sessions.get", json!({ "sessionKey": plain_key }))
        .await;
    assert_eq!(got["payload"]["id"], plain_id.as_str(), "{got}");
    assert!(got["payload"].get("key").is_none(), "{got}");
    let (into_plain, _) = send(
        &mut c,
        json!({ "sessionKey": plain_key, "message": "by its id" }),
    )
    .await;
    assert_eq!(into_plain["payload"]["sessionId"], plain_id.as_str());

    let list = c.call("sessions.list", json!({})).await;
    let rows = list["payload"]["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{list}");
    let keyed = rows.iter().find(|r| r["id"] == session.as_str()).unwrap();
    assert_eq!(keyed["key"], "agent:main:side");
    assert!(
        rows.iter().all(|r| r.get("lastMessagePreview").is_none()),
        "previews only when asked: {list}"
    );
    let unkeyed = rows.iter().find(|r| r["id"] == plain_id.as_str()).unwrap();
    assert!(unkeyed.get("key").is_none(), "{unkeyed}");

    let list = c
        .call("sessions.list", json!({ "includeLastMessage": true }))
        .await;
    let rows = list["payload"]["sessions"].as_array().unwrap();
    let preview = |id: &str| {
        rows.iter().find(|r| r["id"] == id).unwrap()["lastMessagePreview"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(preview(&session), "more");
    assert_eq!(preview(&plain_id), "by its id");
    let (_, _) = send(&mut c, json!({ "sessionId": plain_id, "message": long })).await;
    let list = c
        .call("sessions.list", json!({ "includeLastMessage": true }))
        .await;
    let row = list["payload"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == plain_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        row["lastMessagePreview"],
        "y".repeat(120),
        "at most 120 characters"
    );
}

#[tokio::test]
async fn chat_start_answers_once_queued_and_the_connection_gets_the_run_to_its_end() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "40")]).await;
    let mut c = operator(&server).await;
    let words = (0..15)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    c.events.clear();
    let res = start(&mut c, json!({ "message": words })).await;
    assert_eq!(res["ok"], true, "{res}");
    let payload = &res["payload"];
    let (run, session) = (
        payload["runId"].as_str().unwrap().to_owned(),
        payload["sessionId"].as_str().unwrap().to_owned(),
    );
    assert!(
        run.starts_with("run_") && session.starts_with("ses_"),
        "{res}"
    );
    assert_eq!(
        payload["sessionKey"],
        format!("agent:main:{session}"),
        "an unkeyed session's key"
    );
    assert_eq!(payload.as_object().unwrap().len(), 3, "{payload}");
    assert!(
        !c.events.iter().any(is_run_end),
        "answered before the run ended: {:?}",
        c.events
    );
    let events = run_events(&mut c, &run).await;
    let chat: String = events
        .iter()
        .filter(|e| e["event"] == "chat")
        .map(|e| e["payload"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(chat, words, "every delta, without subscribing");
    assert_eq!(events[events.len() - 1]["payload"]["status"], "completed");
    let history = history_of(&mut c, &session, 2).await;
    assert_eq!(history[1]["content"], words.as_str());

    // Into an existing session, by key.
    let keyed = start(
        &mut c,
        json!({ "sessionKey": "agent:main:work", "message": "a b" }),
    )
    .await;
    assert_eq!(keyed["payload"]["sessionKey"], "agent:main:work", "{keyed}");
    let keyed_session = keyed["payload"]["sessionId"].as_str().unwrap().to_owned();
    run_events(&mut c, keyed["payload"]["runId"].as_str().unwrap()).await;
    let again = start(&mut c, json!({ "sessionKey": "work", "message": "c" })).await;
    assert_eq!(again["payload"]["sessionId"], keyed_session.as_str());
    run_events(&mut c, again["payload"]["runId"].as_str().unwrap()).await;
    assert_eq!(history_of(&mut c, &keyed_session, 4).await.len(), 4);
}

#[tokio::test]
async fn racing_first_uses_of_a_session_key_make_one_session() {
    let server = TestServer::start(&[]).await;
    let mut a = operator(&server).await;
    let mut b = operator(&server).await;
    let params = |i: usize| json!({ "sessionKey": "agent:main:race", "message": format!("m{i}") });
    let mut a_ids = Vec::new();
    let mut b_ids = Vec::new();
    for i in 0..5 {
        a_ids.push(a.send_req("chat.start", params(i)).await);
        b_ids.push(b.send_req("chat.start", params(10 + i)).await);
    }
    let mut sessions = std::collections::BTreeSet::new();
    let mut runs = std::collections::BTreeSet::new();
    for (c, ids) in [(&mut a, &a_ids), (&mut b, &b_ids)] {
        for id in ids {
            let res = c.response(id).await;
            assert_eq!(res["ok"], true, "{res}");
            assert_eq!(res["payload"]["sessionKey"], "agent:main:race");
            sessions.insert(res["payload"]["sessionId"].as_str().unwrap().to_owned());
            runs.insert(res["payload"]["runId"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(sessions.len(), 1, "one session: {sessions:?}");
    assert_eq!(runs.len(), 10, "ten runs");
    let session = sessions.into_iter().next().unwrap();
    let list = a.call("sessions.list", json!({})).await;
    assert_eq!(
        list["payload"]["sessions"].as_array().unwrap().len(),
        1,
        "{list}"
    );
    assert_eq!(history_of(&mut a, &session, 20).await.len(), 20);
}

#[tokio::test]
async fn a_repeated_idempotency_key_gives_chat_start_the_first_run() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "30")]).await;
    let mut c = operator(&server).await;
    let params = json!({ "sessionKey": "agent:main:once", "message": "only once", "idempotencyKey": "k-start" });
    let first = c.send_req("chat.start", params.clone()).await;
    let second = c.send_req("chat.start", params.clone()).await;
    let (a, b) = (c.response(&first).await, c.response(&second).await);
    assert_eq!(a["ok"], true, "{a}");
    assert_eq!(a["payload"], b["payload"], "while it runs: {a} {b}");
    let run = a["payload"]["runId"].as_str().unwrap().to_owned();
    run_events(&mut c, &run).await;
    let after = start(&mut c, params.clone()).await;
    assert_eq!(after["payload"], a["payload"], "after it ended");
    let mut other = operator(&server).await;
    let elsewhere = start(&mut other, params.clone()).await;
    assert_ne!(elsewhere["payload"]["runId"], run, "keys are per principal");
    let sent = c
        .call(
            "chat.send",
            json!({ "message": "only once", "idempotencyKey": "k-start" }),
        )
        .await;
    assert_eq!(
        sent["payload"]["runId"],
        run.as_str(),
        "chat.send shares the key"
    );
    let session = a["payload"]["sessionId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let history = c
        .call("chat.history", json!({ "sessionId": session }))
        .await;
    assert_eq!(
        history["payload"]["messages"].as_array().unwrap().len(),
        4,
        "the first run and the other principal's: {history}"
    );
}

#[tokio::test]
async fn session_names_are_checked_and_unknown_keys_are_not_created_by_reads() {
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let (made, _) = send(&mut c, json!({ "message": "x" })).await;
    let session = made["payload"]["sessionId"].as_str().unwrap().to_owned();
    let both = json!({ "sessionId": session, "sessionKey": "agent:main:x", "message": "m" });
    for method in [
        "chat.send",
        "chat.start",
        "chat.history",
        "chat.abort",
        "sessions.get",
    ] {
        let res = c.call(method, both.clone()).await;
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{method}: {res}");
        for bad in ["agent:nobody:x", "agent:main", "agent::x", " "] {
            let res = c
                .call(method, json!({ "sessionKey": bad, "message": "m" }))
                .await;
            assert_eq!(
                res["error"]["code"], "INVALID_REQUEST",
                "{method} {bad}: {res}"
            );
        }
    }
    let unknown_agent = c
        .call(
            "chat.start",
            json!({ "sessionKey": "agent:nobody:x", "message": "m" }),
        )
        .await;
    assert_eq!(unknown_agent["error"]["message"], "unknown agent nobody");
    let too_long = format!("agent:main:{}", "k".repeat(250));
    let res = c
        .call(
            "chat.send",
            json!({ "sessionKey": too_long, "message": "m" }),
        )
        .await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    for method in ["chat.history", "chat.abort", "sessions.get"] {
        let res = c
            .call(method, json!({ "sessionKey": "agent:main:nothing" }))
            .await;
        assert_eq!(res["error"]["code"], "NOT_FOUND", "{method}: {res}");
        assert_eq!(
            res["error"]["message"], "no session for key agent:main:nothing",
            "{method}"
        );
    }
    for method in ["chat.history", "chat.abort", "sessions.get"] {
        let res = c.call(method, json!({})).await;
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{method}: {res}");
    }
    let list = c.call("sessions.list", json!({})).await;
    assert_eq!(
        list["payload"]["sessions"].as_array().unwrap().len(),
        1,
        "reads created nothing: {list}"
    );
    let viewer = server.token(Role::Viewer).await;
    let mut v = WsClient::connected(server.addr, Some(&viewer), "v").await;
    assert_eq!(
        v.call("chat.start", json!({ "message": "hi" })).await["error"]["code"],
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn a_run_from_chat_start_completes_and_is_stored_when_its_caller_disconnects() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "20")]).await;
    let mut c = operator(&server).await;
    let words = (0..20)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let res = start(
        &mut c,
        json!({ "sessionKey": "agent:main:gone", "message": words }),
    )
    .await;
    let session = res["payload"]["sessionId"].as_str().unwrap().to_owned();
    drop(c);
    let mut viewer = WsClient::connected(server.addr, None, "v").await;
    let messages = history_of(&mut viewer, &session, 2).await;
    assert_eq!(messages[1]["content"], words.as_str());
    assert_eq!(messages[1]["role"], "assistant");
    let detail = viewer
        .call("sessions.get", json!({ "sessionKey": "agent:main:gone" }))
        .await;
    assert_eq!(detail["payload"]["running"], false, "{detail}");
}

#[tokio::test]
async fn what_openclaw_clients_list_at_start_is_answered() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__AGENTS__OPS__KIND", "openai"),
        (
            "SWITCHBOARD__AGENTS__OPS__BASE_URL",
            "http://127.0.0.1:9/v1",
        ),
        ("SWITCHBOARD__AGENTS__OPS__MODEL", "gpt-test"),
    ])
    .await;
    let mut v = WsClient::connected(server.addr, None, "v").await;
    let models = v.call("models.list", json!({})).await;
    assert_eq!(
        models["payload"],
        json!({ "models": [
            { "id": "echo", "name": "echo", "provider": "echo", "agentId": "main" },
            { "id": "gpt-test", "name": "gpt-test", "provider": "openai", "agentId": "ops" },
        ] }),
        "{models}"
    );
    assert_eq!(
        v.call("commands.list", json!({})).await["payload"],
        json!({ "commands": [] })
    );
    let public = v.call("config.public", json!({})).await;
    let config = &public["payload"];
    assert_eq!(config["server"]["max_frame_bytes"], 524_288, "{public}");
    assert!(config["server"]["ping_interval_ms"].as_u64().unwrap() > 0);
    assert_eq!(config["limits"]["chat_burst"], 10);
    assert_eq!(
        config["agents"],
        json!([{ "id": "main", "kind": "echo" }, { "id": "ops", "kind": "openai", "model": "gpt-test" }])
    );
    let text = config.to_string();
    for secret in ["127.0.0.1", "sqlite", "data_dir", "token", "url", "/"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(
        v.call("question.list", json!({})).await["error"]["code"],
        "FORBIDDEN",
        "question.list is for operators"
    );
    let mut op = operator(&server).await;
    assert_eq!(
        op.call("question.list", json!({})).await["payload"],
        json!({ "questions": [] })
    );
}
