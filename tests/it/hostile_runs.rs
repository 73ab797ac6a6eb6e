//! Runs under attack (SPEC §14): pipelined sends keep their order and the transcript reads as
//! pairs; callers that vanish leave no phantom run; a panicking agent fails only its run; a
//! long reply of one-letter words stays within its byte budget; a slow viewer on `*` does not
//! set another session's pace; `shutdown` reaches a connection whose queue is full.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{TestServer, WsClient};

async fn operator(server: &TestServer) -> WsClient {
    let token = server.token(Role::Operator).await;
    WsClient::connected(server.addr, Some(&token), "op").await
}

/// A new session (one short run in it); returns its id.
async fn new_session(c: &mut WsClient) -> String {
    let res = c.call("chat.send", json!({ "message": "start" })).await;
    assert_eq!(res["ok"], true, "{res}");
    c.events.clear();
    res["payload"]["sessionId"].as_str().unwrap().to_owned()
}

/// The transcript as `role:content` lines.
async fn transcript(c: &mut WsClient, session: &str) -> Vec<String> {
    let history = c
        .call(
            "chat.history",
            json!({ "sessionId": session, "limit": 500 }),
        )
        .await;
    history["payload"]["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"))
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                &m["role"].as_str().unwrap()[..1],
                m["content"].as_str().unwrap()
            )
        })
        .collect()
}

/// Polls `sessions.get` until the session has no run running or queued.
async fn wait_until_idle(c: &mut WsClient, session: &str) -> Value {
    for _ in 0..500 {
        let got = c
            .call("sessions.get", json!({ "sessionId": session }))
            .await;
        let p = &got["payload"];
        if p["running"] == false && p["queuedRuns"].as_u64().unwrap_or(0) == 0 {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the session never became idle");
}

#[tokio::test]
async fn pipelined_sends_run_in_the_order_sent_and_the_transcript_reads_as_pairs() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "2"),
        ("SWITCHBOARD__LIMITS__CHAT_BURST", "100"),
    ])
    .await;
    let mut c = operator(&server).await;
    let session = new_session(&mut c).await;
    for round in 0..3 {
        let ids: Vec<String> = {
            let mut ids = Vec::new();
            for i in 0..5 {
                let message = format!("q{round}{i} and some words");
                ids.push(
                    c.send_req(
                        "chat.send",
                        json!({ "sessionId": session, "message": message }),
                    )
                    .await,
                );
            }
            ids
        };
        for (i, id) in ids.iter().enumerate() {
            let res = c.response(id).await;
            assert_eq!(
                res["payload"]["content"],
                format!("q{round}{i} and some words"),
                "{res}"
            );
        }
        let started: Vec<String> = c
            .events
            .drain(..)
            .filter(|e| e["event"] == "agent" && e["payload"]["status"] == "started")
            .map(|e| e["payload"]["runId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(started.len(), 5, "every run started once");
    }
    let mut expected = vec!["u:start".to_owned(), "a:start".to_owned()];
    for round in 0..3 {
        for i in 0..5 {
            let text = format!("q{round}{i} and some words");
            expected.push(format!("u:{text}"));
            expected.push(format!("a:{text}"));
        }
    }
    assert_eq!(
        transcript(&mut c, &session).await,
        expected,
        "runs in the order sent; each reply right after its message"
    );
}

#[tokio::test]
async fn a_queued_message_joins_the_transcript_when_its_run_starts() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "40")]).await;
    let mut c = operator(&server).await;
    let session = new_session(&mut c).await;
    let long = c
        .send_req(
            "chat.send",
            json!({ "sessionId": session, "message": "one two three four five six" }),
        )
        .await;
    let queued = c
        .send_req(
            "chat.send",
            json!({ "sessionId": session, "message": "later" }),
        )
        .await;
    // Wait for the second run's `queued` event: it is stored (acknowledged) by then.
    loop {
        let e = c.next_json().await.unwrap();
        let is_queued = e["event"] == "agent" && e["payload"]["status"] == "queued";
        c.events.push(e);
        if is_queued {
            break;
        }
    }
    let mut viewer = WsClient::connected(server.addr, None, "v").await;
    let during = transcript(&mut viewer, &session).await;
    assert_eq!(
        during,
        ["u:start", "a:start", "u:one two three four five six"],
        "the queued message is not yet in the transcript an agent would read"
    );
    let got = viewer
        .call("sessions.get", json!({ "sessionId": session }))
        .await;
    assert_eq!(got["payload"]["queuedRuns"], 1, "{got}");
    c.response(&long).await;
    c.response(&queued).await;
    assert_eq!(
        transcript(&mut viewer, &session).await,
        [
            "u:start",
            "a:start",
            "u:one two three four five six",
            "a:one two three four five six",
            "u:later",
            "a:later"
        ]
    );
}

#[tokio::test]
async fn callers_that_close_right_after_sending_leave_no_phantom_run() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__LIMITS__CHAT_PER_MINUTE", "100000"),
        ("SWITCHBOARD__LIMITS__CHAT_BURST", "1000"),
    ])
    .await;
    let token = server.token(Role::Operator).await;
    let mut c = WsClient::connected(server.addr, Some(&token), "op").await;
    let session = new_session(&mut c).await;
    // Twenty clients each pipeline three sends and close at once, without reading.
    for round in 0..20 {
        let mut gone = WsClient::connected(server.addr, Some(&token), "gone").await;
        for i in 0..3 {
            gone.send_req(
                "chat.send",
                json!({ "sessionId": session, "message": format!("m{round}-{i}") }),
            )
            .await;
        }
        drop(gone);
    }
    let state = wait_until_idle(&mut c, &session).await;
    assert_eq!(state["payload"]["running"], false, "{state}");
    // Every message that was stored has its reply right after it: no run was lost halfway.
    let lines = transcript(&mut c, &session).await;
    assert_eq!(lines.len() % 2, 0, "{lines:?}");
    for pair in lines.chunks(2) {
        assert_eq!(pair[0][2..], pair[1][2..], "{lines:?}");
        assert!(pair[0].starts_with("u:") && pair[1].starts_with("a:"));
    }
    // And the session still takes new runs (no phantom queue ending in CONFLICT).
    for _ in 0..20 {
        let res = c
            .call(
                "chat.send",
                json!({ "sessionId": session, "message": "still here" }),
            )
            .await;
        assert_eq!(res["payload"]["content"], "still here", "{res}");
    }
}

#[tokio::test]
async fn a_panicking_agent_fails_its_run_with_a_correlation_id_and_the_session_keeps_working() {
    switchboard::agent::arm_panic_failpoint();
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let session = new_session(&mut c).await;
    for _ in 0..3 {
        let res = c
            .call(
                "chat.send",
                json!({ "sessionId": session, "message": switchboard::agent::PANIC_MESSAGE }),
            )
            .await;
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(res["error"]["code"], "INTERNAL", "{res}");
        let message = res["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("internal error (correlation id "),
            "{message}"
        );
        let failed = c
            .events
            .iter()
            .rfind(|e| e["event"] == "agent")
            .unwrap()
            .clone();
        assert_eq!(failed["payload"]["status"], "failed", "{failed}");
        let res = c
            .call(
                "chat.send",
                json!({ "sessionId": session, "message": "after the panic" }),
            )
            .await;
        assert_eq!(res["payload"]["content"], "after the panic", "{res}");
    }
}

#[tokio::test]
async fn a_64_kib_reply_of_one_letter_words_stays_within_its_byte_budget() {
    let server = TestServer::start(&[]).await;
    let mut c = operator(&server).await;
    let message = "a ".repeat(32 * 1024); // 64 KiB, 32 768 words
    let res = c.call("chat.send", json!({ "message": message })).await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["content"], message.as_str());
    let chats: Vec<&Value> = c.events.iter().filter(|e| e["event"] == "chat").collect();
    let deltas: String = chats
        .iter()
        .map(|e| e["payload"]["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, message, "the deltas still join to the reply");
    assert_eq!(chats.last().unwrap()["payload"]["chunk"], message.as_str());
    let chunk_bytes: usize = chats
        .iter()
        .map(|e| e["payload"]["chunk"].as_str().unwrap().len())
        .sum();
    let wire_bytes: usize = c.events.iter().map(|e| e.to_string().len()).sum();
    eprintln!(
        "64 KiB of one-letter words: {} chat events, {} bytes of chunk, {} bytes of events",
        chats.len(),
        chunk_bytes,
        wire_bytes
    );
    let budget = switchboard::agent::CHAT_BYTES_BASE
        + switchboard::agent::CHAT_BYTES_PER_BYTE * message.len()
        + message.len();
    assert!(chunk_bytes <= budget, "{chunk_bytes} > {budget}");
    assert!(
        wire_bytes < 8 << 20,
        "{wire_bytes} bytes of events (one per word would be ~1 GiB)"
    );
}

#[tokio::test]
async fn a_slow_viewer_on_star_does_not_slow_another_sessions_run() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "1")]).await;
    let mut op = operator(&server).await;
    let session = new_session(&mut op).await;
    let message = (0..300)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let params = json!({ "sessionId": session, "message": message });
    let alone = timed(&mut op, &params).await;

    // A viewer of everything that reads one frame every 50 ms, with a small receive buffer
    // (so its backlog stays on the server, where pacing sees it).
    let mut slow = WsClient::frames_with_small_receive_buffer(server.addr).await;
    assert_eq!(
        slow.call("connect", json!({ "user_id": "slow" })).await["ok"],
        true
    );
    slow.call("subscribe", json!({ "topic": "*" })).await;
    let slow = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Err(closed) = slow.next_json().await {
                return closed;
            }
        }
    });
    let watched = timed(&mut op, &params).await;
    eprintln!("run alone {alone:?}, with a slow viewer on *: {watched:?}");
    assert!(
        watched < alone * 2 + Duration::from_millis(150),
        "alone {alone:?}, with a slow viewer {watched:?}"
    );
    // The laggard is not waited for again; it cannot keep up, so its queue fills and it is
    // closed as a slow consumer (to resume with afterSeq).
    let more = timed(&mut op, &params).await;
    assert!(more < alone * 2 + Duration::from_millis(150), "{more:?}");
    let closed = tokio::time::timeout(Duration::from_secs(20), slow)
        .await
        .expect("the slow viewer is closed")
        .unwrap();
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1008, "slow consumer")
    );
}

/// How long one `chat.send` takes, answer included.
async fn timed(op: &mut WsClient, params: &Value) -> Duration {
    let started = Instant::now();
    let res = op.call("chat.send", params.clone()).await;
    assert_eq!(res["ok"], true, "{res}");
    started.elapsed()
}

#[tokio::test]
async fn shutdown_closes_a_connection_whose_queue_is_full_at_once_with_1012() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__SERVER__SEND_BUFFER", "8"),
        ("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "5"),
    ])
    .await;
    let mut op = operator(&server).await;
    // A session with a long stored log, fast: its own agent pace does not matter for replay.
    let words = (0..400)
        .map(|i| format!("word{i:04}"))
        .collect::<Vec<_>>()
        .join(" ");
    let res = op.call("chat.send", json!({ "message": "x" })).await;
    let session = res["payload"]["sessionId"].as_str().unwrap().to_owned();
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        op.call(
            "chat.send",
            json!({ "sessionId": session, "message": words }),
        ),
    )
    .await
    .unwrap();
    assert_eq!(res["ok"], true);

    // A reader that asks for the whole log and does not read: its queue fills and stays full.
    let mut stalled = WsClient::frames_with_small_receive_buffer(server.addr).await;
    assert_eq!(
        stalled
            .call("connect", json!({ "user_id": "stalled" }))
            .await["ok"],
        true
    );
    stalled
        .send_req(
            "subscribe",
            json!({ "topic": format!("session:{session}"), "afterSeq": 0 }),
        )
        .await;
    // A run that keeps the drain busy for seconds.
    let mut busy = operator(&server).await;
    let long = (0..600)
        .map(|i| format!("l{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let long_id = busy.send_req("chat.send", json!({ "message": long })).await;
    loop {
        let e = busy.next_json().await.unwrap();
        if e["event"] == "agent" && e["payload"]["status"] == "started" {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopping = Instant::now();
    let stop = tokio::spawn(server.stop());
    let closed = stalled.closed().await;
    let after = stopping.elapsed();
    assert_eq!(
        (closed.code, closed.reason.as_str()),
        (1012, "server shutting down")
    );
    assert!(
        after < Duration::from_millis(1500),
        "closed {after:?} after the shutdown began, not after the drain"
    );
    // The busy connection, whose queue had room, was told and its run finished.
    let res = busy.response(&long_id).await;
    assert!(busy.events.iter().any(|e| e["event"] == "shutdown"));
    assert_eq!(res["ok"], true, "{res}");
    stop.await.unwrap();
}
