//! Many nodes, one gateway (SPEC §15): real `switchboard serve` processes (nodes `a`, `b`, `c`)
//! on ephemeral ports sharing one fresh PostgreSQL database and one Redis. A viewer on one node
//! follows a run on another; `afterSeq` resumes on any node; `chat.send` reaches a session
//! owned elsewhere in FIFO order with idempotency keys; a node killed with SIGKILL has its run
//! failed ("node lost") within two leases; revocations and kicks reach every node within 1 s;
//! `connections.list` and `status` span the nodes; a Redis restart loses and duplicates
//! nothing. Skipped, with a message, where PostgreSQL or Redis does not answer.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_tests::cluster::{
    ADMIN_TOKEN, CHUNK_DELAY_MS, Cluster, LEASE_S, RedisServer, ends_run, events_until,
    next_within, of_session, seqs,
};
use switchboard_tests::{WsClient, switchboard_binary};

/// How long a test waits for a run's result.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// `n` words `P0 P1 …`.
fn words(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{prefix}{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The `res` frame of `id` within [`RUN_LIMIT`].
async fn response(c: &mut WsClient, id: &str, what: &str) -> Value {
    tokio::time::timeout(RUN_LIMIT, c.response(id))
        .await
        .unwrap_or_else(|_| panic!("no answer to {what} within {RUN_LIMIT:?}"))
}

/// A `chat.send` answered with `ok`; returns the payload (events meanwhile stay in `c.events`).
async fn chat(c: &mut WsClient, params: Value) -> Value {
    let id = c.send_req("chat.send", params.clone()).await;
    let res = response(c, &id, &format!("chat.send {params}")).await;
    assert_eq!(res["ok"], true, "chat.send {params}: {res}");
    res["payload"].clone()
}

/// Sends `message` to `session` through `op` and reads `viewer` until that run's final
/// `agent` event (at most 10 s); returns what `viewer` read, named `what` in a timeout.
async fn chat_and_follow(
    op: &mut WsClient,
    viewer: &mut WsClient,
    session: &str,
    message: &str,
    what: &str,
) -> Vec<Value> {
    let reply = chat(op, json!({ "sessionId": session, "message": message })).await;
    let run = reply["runId"].as_str().unwrap().to_owned();
    events_until(viewer, Duration::from_secs(10), what, |e| ends_run(e, &run)).await
}

/// Subscribes `c` to `topic` (with `afterSeq` when given); returns the payload.
async fn subscribe(c: &mut WsClient, topic: &str, after_seq: Option<i64>) -> Value {
    let params = match after_seq {
        Some(n) => json!({ "topic": topic, "afterSeq": n }),
        None => json!({ "topic": topic }),
    };
    let sub = c.call("subscribe", params).await;
    assert_eq!(sub["ok"], true, "subscribe {topic}: {sub}");
    sub["payload"].clone()
}

/// Asserts `seqs` are contiguous and increasing (no gap, no duplicate, in order).
fn assert_contiguous(seqs: &[i64], what: &str) {
    for pair in seqs.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "{what}: sessionSeq {} follows {} (every event once, in order): {seqs:?}",
            pair[1],
            pair[0]
        );
    }
}

/// Reads `c` for `quiet` and fails on any event of `session` numbered `<= last` (a duplicate).
async fn assert_no_late_duplicate(c: &mut WsClient, session: &str, last: i64, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(frame) = tokio::time::timeout(left, c.next_json()).await else {
            return;
        };
        let Ok(frame) = frame else { return };
        if frame["payload"]["sessionId"] == session
            && let Some(seq) = frame["payload"]["sessionSeq"].as_i64()
        {
            assert!(seq > last, "sessionSeq {seq} delivered again: {frame}");
        }
    }
}

/// The transcript of `session` as `role:content` lines, read on the node of `c`.
async fn transcript(c: &mut WsClient, session: &str) -> Vec<Value> {
    let history = c
        .call(
            "chat.history",
            json!({ "sessionId": session, "limit": 500 }),
        )
        .await;
    assert_eq!(history["ok"], true, "{history}");
    history["payload"]["messages"].as_array().unwrap().clone()
}

fn lines(messages: &[Value]) -> Vec<String> {
    messages
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

/// Waits until a connection's close (a close frame or the socket's end) within `limit`;
/// returns the code (1006 when the socket ended without a close frame) and reason.
async fn closed_within(c: &mut WsClient, limit: Duration, what: &str) -> (u16, String) {
    match tokio::time::timeout(limit, c.closed()).await {
        Ok(closed) => (closed.code, closed.reason),
        Err(_) => panic!("{what}: the connection is still open after {limit:?}"),
    }
}

#[tokio::test]
async fn a_viewer_on_b_follows_a_run_started_on_a_every_event_once_and_in_order() {
    let Some(cluster) = Cluster::start(2, &[(CHUNK_DELAY_MS, "10")]).await else {
        return;
    };
    let (_, op_token) = cluster.token("operator").await;
    let (_, viewer_token) = cluster.token("viewer").await;
    let (mut op, _) = cluster.connect(0, &op_token, "op").await;
    let first = chat(&mut op, json!({ "message": "hello there" })).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    op.events.clear();

    let (mut viewer, _) = cluster.connect(1, &viewer_token, "viewer").await;
    subscribe(&mut viewer, "*", None).await;
    subscribe(&mut viewer, &format!("session:{session}"), None).await;

    let message = words("w", 40);
    let before = now_ms();
    let result = chat(&mut op, json!({ "sessionId": session, "message": message })).await;
    let after = now_ms();
    assert_eq!(
        result["content"], message,
        "the caller on a gets its result"
    );
    let run = result["runId"].as_str().unwrap().to_owned();
    let local: Vec<Value> = std::mem::take(&mut op.events)
        .into_iter()
        .filter(|e| e["payload"]["runId"] == run.as_str())
        .collect();
    let local = of_session(&local, &session);
    assert!(
        local.len() > 40,
        "the caller saw its run's events: {local:?}"
    );

    let remote = events_until(
        &mut viewer,
        Duration::from_secs(10),
        "the end of the run on node b",
        |e| ends_run(e, &run),
    )
    .await;
    let remote = of_session(&remote, &session);
    assert_contiguous(&seqs(&remote), "on node b");
    assert_eq!(
        seqs(&remote),
        seqs(&local),
        "node b gets exactly the run's events, each once, in order"
    );
    for (r, l) in remote.iter().zip(&local) {
        assert_eq!(r["event"], l["event"]);
        assert_eq!(r["payload"], l["payload"], "the same event on both nodes");
        let ts = r["payload"]["ts"]
            .as_i64()
            .unwrap_or_else(|| panic!("no numeric ts: {r}"));
        assert!(
            (before - 1000..=after + 1000).contains(&ts),
            "ts {ts} is unix ms of the run ({before}..{after})"
        );
    }
    let last = *seqs(&remote).last().unwrap();
    assert_no_late_duplicate(&mut viewer, &session, last, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn after_seq_resume_on_another_node_replays_then_goes_live_without_gap_or_duplicate() {
    let Some(cluster) = Cluster::start(3, &[(CHUNK_DELAY_MS, "10")]).await else {
        return;
    };
    let (_, op_token) = cluster.token("operator").await;
    let (_, viewer_token) = cluster.token("viewer").await;
    let (mut op, _) = cluster.connect(0, &op_token, "op").await;
    let first = chat(&mut op, json!({ "message": "start" })).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    let topic = format!("session:{session}");

    // A run of ~1.5 s served by node a; a viewer on a follows it from the start and leaves.
    let message = words("w", 150);
    let send = op
        .send_req(
            "chat.send",
            json!({ "sessionId": session, "message": message }),
        )
        .await;
    let (mut viewer, _) = cluster.connect(0, &viewer_token, "viewer").await;
    subscribe(&mut viewer, &topic, Some(0)).await;
    let got = events_until(
        &mut viewer,
        Duration::from_secs(10),
        "the first events on node a",
        |e| e["payload"]["sessionSeq"].as_i64() >= Some(20),
    )
    .await;
    drop(viewer);
    let mut seen: Vec<Value> = of_session(&got, &session).into_iter().cloned().collect();
    let resumed_after = seen.last().unwrap()["payload"]["sessionSeq"]
        .as_i64()
        .unwrap();

    // It resumes on node c while the run still streams on a.
    let (mut again, _) = cluster.connect(2, &viewer_token, "viewer").await;
    subscribe(&mut again, &topic, Some(resumed_after)).await;
    let res = response(&mut op, &send, "the long run").await;
    assert_eq!(res["payload"]["content"], message.as_str(), "{res}");
    let run = res["payload"]["runId"].as_str().unwrap().to_owned();
    let rest = events_until(
        &mut again,
        Duration::from_secs(10),
        "the end of the run on node c",
        |e| ends_run(e, &run),
    )
    .await;
    seen.extend(of_session(&rest, &session).into_iter().cloned());
    let all: Vec<&Value> = seen.iter().collect();
    let end = *seqs(&all).last().unwrap();
    assert_eq!(
        seqs(&all),
        (1..=end).collect::<Vec<_>>(),
        "resumed on c after {resumed_after}: every event once, in order"
    );
    assert!(end > 150, "the whole run was followed: {end}");
    assert_no_late_duplicate(&mut again, &session, end, Duration::from_millis(300)).await;

    // A third viewer, on b, replays the whole session from 0, then follows the next run live.
    let (mut third, _) = cluster.connect(1, &viewer_token, "viewer").await;
    subscribe(&mut third, &topic, Some(0)).await;
    let replayed = events_until(
        &mut third,
        Duration::from_secs(10),
        "the replay on node b",
        |e| e["payload"]["sessionSeq"] == end,
    )
    .await;
    let replayed = of_session(&replayed, &session);
    assert_eq!(seqs(&replayed), (1..=end).collect::<Vec<_>>());
    let live = chat_and_follow(
        &mut op,
        &mut third,
        &session,
        "and more",
        "the next run live on node b",
    )
    .await;
    let live = of_session(&live, &session);
    assert_eq!(
        seqs(&live).first().copied(),
        Some(end + 1),
        "live goes on right after the replay"
    );
    assert_contiguous(&seqs(&live), "live on node b after the replay");
}

#[tokio::test]
async fn chat_send_to_a_session_owned_by_another_node_keeps_fifo_and_idempotency() {
    let Some(cluster) = Cluster::start(3, &[(CHUNK_DELAY_MS, "20")]).await else {
        return;
    };
    let (_, op_token) = cluster.token("operator").await;
    let (_, viewer_token) = cluster.token("viewer").await;
    let (mut on_a, _) = cluster.connect(0, &op_token, "op").await;
    let (mut on_b, _) = cluster.connect(1, &op_token, "op").await;
    let (mut on_c, _) = cluster.connect(2, &op_token, "op").await;

    // A slow run on a creates the session (a owns it while it runs).
    let opening = words("o", 30);
    let opening_id = on_a
        .send_req("chat.send", json!({ "message": opening }))
        .await;
    let session = loop {
        let e = next_within(&mut on_a, Duration::from_secs(10), "the run's first event").await;
        if let Some(id) = e["payload"]["sessionId"].as_str() {
            let id = id.to_owned();
            on_a.events.push(e);
            break id;
        }
    };

    // Five sends pipelined from b, without waiting, each with an idempotency key.
    let key = |i: usize| format!("{}-k{i}", cluster.channel_prefix);
    let message = |i: usize| format!("m{i} from b");
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            on_b.send_req(
                "chat.send",
                json!({ "sessionId": session, "message": message(i), "idempotencyKey": key(i) }),
            )
            .await,
        );
    }
    let mut runs = Vec::new();
    let mut results = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let res = response(&mut on_b, id, &format!("send {i} from b")).await;
        assert_eq!(res["ok"], true, "send {i} from b: {res}");
        assert_eq!(res["payload"]["content"], message(i), "{res}");
        assert_eq!(res["payload"]["sessionId"], session.as_str(), "{res}");
        runs.push(res["payload"]["runId"].as_str().unwrap().to_owned());
        results.push(res["payload"].clone());
    }
    let first = response(&mut on_a, &opening_id, "the opening run").await;
    assert_eq!(first["payload"]["content"], opening.as_str(), "{first}");
    let first_run = first["payload"]["runId"].as_str().unwrap().to_owned();

    // The same key again, from c: the first call's result, not a second run.
    let repeat = chat(
        &mut on_c,
        json!({ "sessionId": session, "message": message(2), "idempotencyKey": key(2) }),
    )
    .await;
    assert_eq!(repeat["runId"], runs[2].as_str(), "{repeat}");
    assert_eq!(repeat["content"], results[2]["content"], "{repeat}");

    // The runs started in the order sent, each once (the session's log, read on c).
    let (mut viewer, _) = cluster.connect(2, &viewer_token, "viewer").await;
    subscribe(&mut viewer, &format!("session:{session}"), Some(0)).await;
    let log = events_until(
        &mut viewer,
        Duration::from_secs(10),
        "the log up to the last run's end",
        |e| ends_run(e, &runs[4]),
    )
    .await;
    let log = of_session(&log, &session);
    assert_contiguous(&seqs(&log), "the session's log");
    let started: Vec<&str> = log
        .iter()
        .filter(|e| e["event"] == "agent" && e["payload"]["status"] == "started")
        .map(|e| e["payload"]["runId"].as_str().unwrap())
        .collect();
    let mut expected = vec![first_run.as_str()];
    expected.extend(runs.iter().map(String::as_str));
    assert_eq!(started, expected, "runs start in the order sent, once each");

    let mut want = vec![format!("u:{opening}"), format!("a:{opening}")];
    for i in 0..5 {
        want.push(format!("u:{}", message(i)));
        want.push(format!("a:{}", message(i)));
    }
    assert_eq!(
        lines(&transcript(&mut on_c, &session).await),
        want,
        "each reply right after its message; the repeated key added nothing"
    );
}

#[tokio::test]
async fn kill_9_of_the_owner_fails_its_run_within_two_leases_and_the_session_goes_on() {
    let Some(mut cluster) = Cluster::start(2, &[(CHUNK_DELAY_MS, "50")]).await else {
        return;
    };
    let (_, op_token) = cluster.token("operator").await;
    let (_, viewer_token) = cluster.token("viewer").await;
    let (mut on_a, _) = cluster.connect(0, &op_token, "op").await;
    let first = chat(&mut on_a, json!({ "message": "start" })).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    let (mut viewer, _) = cluster.connect(1, &viewer_token, "viewer").await;
    subscribe(&mut viewer, &format!("session:{session}"), None).await;

    // A 10 s run on a; the viewer on b sees it stream.
    let message = words("w", 200);
    on_a.send_req(
        "chat.send",
        json!({ "sessionId": session, "message": message }),
    )
    .await;
    let mut chunks = 0;
    let streamed = events_until(
        &mut viewer,
        Duration::from_secs(10),
        "the run's chat events on node b",
        |e| {
            if e["event"] == "chat" {
                chunks += 1;
            }
            chunks >= 5
        },
    )
    .await;
    let last_chat = streamed
        .iter()
        .rev()
        .find(|e| e["event"] == "chat")
        .unwrap();
    let run = last_chat["payload"]["runId"].as_str().unwrap().to_owned();
    let seen_chunk = last_chat["payload"]["chunk"].as_str().unwrap().to_owned();
    assert!(!seen_chunk.is_empty());

    cluster.kill(0);
    let killed = Instant::now();
    let limit = Duration::from_secs(2 * LEASE_S + 1);
    let after = events_until(&mut viewer, limit, "the run marked failed on node b", |e| {
        ends_run(e, &run)
    })
    .await;
    let took = killed.elapsed();
    let end = after.last().unwrap();
    eprintln!("run failed on b {took:?} after the kill: {end}");
    assert_eq!(end["payload"]["status"], "failed", "{end}");
    let error = end["payload"]["error"].to_string().to_lowercase();
    assert!(
        error.contains("node lost"),
        "the error says node lost: {end}"
    );
    assert!(
        took <= limit,
        "failed {took:?} after the kill (limit {limit:?})"
    );
    let all: Vec<Value> = streamed.iter().chain(&after).cloned().collect();
    assert_contiguous(&seqs(&of_session(&all, &session)), "on node b");

    // The partial reply is kept; the session takes a new run on b.
    let (mut on_b, _) = cluster.connect(1, &op_token, "op").await;
    let history = transcript(&mut on_b, &session).await;
    let partial = history
        .iter()
        .find(|m| m["role"] == "assistant" && m["runId"] == run.as_str())
        .unwrap_or_else(|| panic!("no reply of the lost run kept: {history:?}"));
    let kept = partial["content"].as_str().unwrap();
    assert!(
        kept.starts_with(seen_chunk.trim_end()) && message.starts_with(kept.trim_end()),
        "the partial reply is kept ({kept:?}; b saw {seen_chunk:?})"
    );
    assert!(kept.len() < message.len(), "it is partial: {kept:?}");
    let next = chat(
        &mut on_b,
        json!({ "sessionId": session, "message": "after the loss" }),
    )
    .await;
    assert_eq!(next["content"], "after the loss");
}

#[tokio::test]
async fn tokens_revoke_on_a_closes_the_tokens_connection_on_b_within_a_second() {
    let Some(cluster) = Cluster::start(2, &[]).await else {
        return;
    };
    let (id, token) = cluster.token("operator").await;
    let (mut on_b, _) = cluster.connect(1, &token, "op").await;
    assert_eq!(on_b.call("status", json!({})).await["ok"], true);

    let mut admin = cluster.admin(0).await;
    let sent = Instant::now();
    let revoked = admin.call("tokens.revoke", json!({ "id": id })).await;
    assert_eq!(revoked["ok"], true, "{revoked}");
    let answered = sent.elapsed();
    let (code, reason) = closed_within(
        &mut on_b,
        Duration::from_secs(1),
        "the revoked token's connection on b",
    )
    .await;
    eprintln!(
        "revoke answered after {answered:?}; b closed {:?} after the revoke was sent: {code} {reason:?}",
        sent.elapsed()
    );
    assert!(
        code == 1006 || (code == 1008 && reason.contains("revoked")),
        "closed with 1008 'token revoked' (or the socket ended): {code} {reason:?}"
    );

    // And b no longer accepts the token.
    let mut again = WsClient::frames(cluster.addr(1)).await;
    let refused = again
        .call("connect", json!({ "token": token, "user_id": "op" }))
        .await;
    assert_ne!(
        refused["ok"], true,
        "node b refuses the revoked token: {refused}"
    );
}

#[tokio::test]
async fn connections_list_and_status_span_the_nodes_and_a_kick_on_a_closes_a_connection_on_b() {
    let Some(cluster) = Cluster::start(2, &[]).await else {
        return;
    };
    let (_, viewer_token) = cluster.token("viewer").await;
    let (mut admin, on_a) = cluster.connect(0, ADMIN_TOKEN, "admin").await;
    let (mut viewer, on_b) = cluster.connect(1, &viewer_token, "viewer").await;

    // connections.list on a shows both, each row with its node.
    let deadline = Instant::now() + Duration::from_secs(2);
    let rows = loop {
        let list = admin.call("connections.list", json!({})).await;
        assert_eq!(list["ok"], true, "{list}");
        let rows = list["payload"]["connections"].as_array().unwrap().clone();
        if rows.iter().any(|r| r["id"] == on_b.as_str()) || Instant::now() >= deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for row in &rows {
        assert!(row["nodeId"].is_string(), "a row without nodeId: {row}");
    }
    let node_of = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .map(|r| r["nodeId"].clone())
            .unwrap_or_else(|| panic!("connection {id} is not listed: {rows:?}"))
    };
    assert_eq!(node_of(&on_a), "a");
    assert_eq!(node_of(&on_b), "b");

    // status lists the live nodes.
    let deadline = Instant::now() + Duration::from_secs(2 * LEASE_S + 1);
    loop {
        let status = admin.call("status", json!({})).await;
        assert_eq!(status["ok"], true, "{status}");
        let nodes: BTreeSet<String> = status["payload"]["nodes"]
            .as_array()
            .map(|nodes| {
                nodes
                    .iter()
                    .filter_map(|n| n["nodeId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if nodes == BTreeSet::from(["a".to_owned(), "b".to_owned()]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status lists nodes a and b: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A kick on a closes the connection on b.
    let sent = Instant::now();
    let kicked = admin
        .call(
            "connections.kick",
            json!({ "connectionId": on_b, "reason": "cluster test kick" }),
        )
        .await;
    assert_eq!(kicked["ok"], true, "{kicked}");
    let (code, reason) = closed_within(
        &mut viewer,
        Duration::from_secs(1),
        "the kicked connection on b",
    )
    .await;
    eprintln!(
        "kick: b closed {:?} after the kick was sent: {code} {reason:?}",
        sent.elapsed()
    );
    assert!(
        code == 1006 || (code == 1008 && reason == "cluster test kick"),
        "closed with 1008 and the reason (or the socket ended): {code} {reason:?}"
    );
}

#[tokio::test]
async fn a_redis_restart_during_a_run_loses_and_duplicates_nothing() {
    let Some(mut redis) = RedisServer::start().await else {
        return;
    };
    let Some(cluster) = Cluster::start_on(2, &redis.url(), &[(CHUNK_DELAY_MS, "50")]).await else {
        return;
    };
    let (_, op_token) = cluster.token("operator").await;
    let (_, viewer_token) = cluster.token("viewer").await;
    let (mut on_a, _) = cluster.connect(0, &op_token, "op").await;
    let first = chat(&mut on_a, json!({ "message": "start" })).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    let (mut viewer, _) = cluster.connect(1, &viewer_token, "viewer").await;
    subscribe(&mut viewer, &format!("session:{session}"), None).await;

    // Fan-out works before the outage.
    let before = chat_and_follow(
        &mut on_a,
        &mut viewer,
        &session,
        "warm up",
        "the warm-up run on node b",
    )
    .await;
    let warm_end = *seqs(&of_session(&before, &session)).last().unwrap();

    // Redis goes away: a says degraded, with the reason.
    redis.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    let degraded = loop {
        let (status, body) = cluster.readyz(0).await;
        if body.contains("degraded") {
            break (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "/readyz on a says degraded while Redis is down: {status} {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "/readyz on a without Redis: {} {:?}",
        degraded.0, degraded.1
    );
    assert!(
        degraded.1.to_lowercase().contains("redis"),
        "the reason names Redis: {degraded:?}"
    );

    // A run starts on a during the outage (a serves its local client) and goes on across the
    // restart.
    let message = words("w", 60);
    on_a.events.clear();
    let send = on_a
        .send_req(
            "chat.send",
            json!({ "sessionId": session, "message": message }),
        )
        .await;
    let mut chunks = 0;
    events_until(
        &mut on_a,
        Duration::from_secs(10),
        "the run's events on a during the outage",
        |e| {
            if e["event"] == "chat" {
                chunks += 1;
            }
            chunks >= 10
        },
    )
    .await;
    redis.restart().await;
    let restarted = Instant::now();

    let res = response(&mut on_a, &send, "the run across the restart").await;
    assert_eq!(res["payload"]["content"], message.as_str(), "{res}");
    let run = res["payload"]["runId"].as_str().unwrap().to_owned();
    let after = events_until(
        &mut viewer,
        Duration::from_secs(20),
        "the run's end on node b after Redis returned",
        |e| ends_run(e, &run),
    )
    .await;
    eprintln!(
        "b had the whole run {:?} after Redis returned",
        restarted.elapsed()
    );
    let after = of_session(&after, &session);
    let end = *seqs(&after).last().unwrap();
    assert_eq!(
        seqs(&after),
        (warm_end + 1..=end).collect::<Vec<_>>(),
        "every event once, in order, on node b"
    );
    assert!(after.iter().filter(|e| e["event"] == "chat").count() >= 60);
    assert_no_late_duplicate(&mut viewer, &session, end, Duration::from_millis(300)).await;

    // Ready again, and live fan-out works again.
    for i in 0..2 {
        assert!(
            cluster.wait_ready(i, Duration::from_secs(10)).await,
            "/readyz on node {i} says ready once Redis is back: {:?}",
            cluster.readyz(i).await
        );
    }
    let live = chat_and_follow(
        &mut on_a,
        &mut viewer,
        &session,
        "back again",
        "a run after the restart on node b",
    )
    .await;
    let live = of_session(&live, &session);
    assert_eq!(seqs(&live).first().copied(), Some(end + 1));
    assert_contiguous(&seqs(&live), "after the restart");
}

#[test]
fn a_cluster_on_sqlite_is_a_configuration_error_naming_storage_url() {
    let dir = tempfile::tempdir().unwrap();
    let redis = ("SWITCHBOARD__CLUSTER__REDIS_URL", "redis://127.0.0.1:6379");
    let sqlite = format!("sqlite://{}/x.db", dir.path().display());
    for storage in [None, Some(sqlite.as_str())] {
        let mut check = Command::new(switchboard_binary());
        check
            .args(["config", "check"])
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env(redis.0, redis.1);
        let mut serve = Command::new(switchboard_binary());
        serve
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env("SWITCHBOARD__SERVER__DATA_DIR", dir.path().join("data"))
            .env("SWITCHBOARD__SERVER__PORT", "0")
            .env(redis.0, redis.1);
        if let Some(url) = storage {
            check.env("SWITCHBOARD__STORAGE__URL", url);
            serve.env("SWITCHBOARD__STORAGE__URL", url);
        }
        for (name, cmd) in [("config check", &mut check), ("serve", &mut serve)] {
            let mut child = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    panic!("`switchboard {name}` with storage {storage:?} keeps running");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{name} with storage {storage:?}: {stderr}"
            );
            assert!(
                stderr.contains("storage.url") && stderr.contains("PostgreSQL"),
                "{name} with storage {storage:?} names storage.url and PostgreSQL: {stderr}"
            );
        }
    }
}

/// Two `chat.send` with one idempotency key, sent at once to two nodes: one run, one result.
/// Five rounds, each with a new key, so the two sends race in different orders.
#[tokio::test]
async fn one_idempotency_key_sent_at_once_to_two_nodes_runs_once() {
    let started = Instant::now();
    let Some(cluster) = Cluster::start(2, &[]).await else {
        return;
    };
    eprintln!("two nodes up after {:?}", started.elapsed());
    let mut on_a = cluster.admin(0).await;
    let mut on_b = cluster.admin(1).await;
    let first = chat(&mut on_a, json!({ "message": "start" })).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    for round in 0..5 {
        let key = format!("race-{round}");
        let params = json!({ "sessionId": session, "message": format!("once {round}"), "idempotencyKey": key });
        let sent = Instant::now();
        let id_a = on_a.send_req("chat.send", params.clone()).await;
        let id_b = on_b.send_req("chat.send", params).await;
        let (res_a, res_b) = tokio::join!(
            response(&mut on_a, &id_a, "chat.send on a"),
            response(&mut on_b, &id_b, "chat.send on b")
        );
        assert_eq!(res_a["ok"], true, "round {round} on a: {res_a}");
        assert_eq!(res_b["ok"], true, "round {round} on b: {res_b}");
        assert_eq!(
            res_a["payload"]["runId"], res_b["payload"]["runId"],
            "round {round}: both answers name the one run"
        );
        assert_eq!(res_a["payload"]["content"], format!("once {round}"));
        eprintln!("round {round}: both answered after {:?}", sent.elapsed());
    }
    // The transcript holds each message once.
    let history = on_b
        .call(
            "chat.history",
            json!({ "sessionId": session, "limit": 100 }),
        )
        .await;
    let users: Vec<String> = history["payload"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap_or("").to_owned())
        .collect();
    let expected: Vec<String> = std::iter::once("start".to_owned())
        .chain((0..5).map(|r| format!("once {r}")))
        .collect();
    assert_eq!(users, expected, "each message ran once");
}

/// A run on `a` waits for a tool approval; an operator on `b` approves it; the run on `a` goes
/// on with the tool's output.
#[tokio::test]
async fn an_approval_resolved_on_b_lets_the_run_on_a_go_on() {
    let stub = switchboard_tests::OpenAiStub::start(vec![
        switchboard_tests::Reply::tool_calls(
            &[(
                "call_x",
                "exec",
                &["{\"command\":\"echo\",\"args\":[\"hi\"]}"],
            )],
            (5, 5),
        ),
        switchboard_tests::Reply::text(&["done"], (5, 1)),
    ])
    .await;
    let base = stub.base_url();
    let Some(cluster) = Cluster::start(
        2,
        &[
            ("SWITCHBOARD__AGENTS__GPT__KIND", "openai"),
            ("SWITCHBOARD__AGENTS__GPT__BASE_URL", base.as_str()),
            ("SWITCHBOARD__AGENTS__GPT__MODEL", "testmodel"),
            ("SWITCHBOARD__AGENTS__GPT__API_KEY_ENV", "PATH"),
            ("SWITCHBOARD__AGENTS__GPT__TOOLS", "exec"),
            ("SWITCHBOARD__TOOLS__EXEC__ALLOWED_COMMANDS", "echo"),
        ],
    )
    .await
    else {
        return;
    };
    let (_, operator_token) = cluster.token("operator").await;
    let (mut on_a, _) = cluster.connect(0, &operator_token, "op-a").await;
    let (mut on_b, _) = cluster.connect(1, &operator_token, "op-b").await;
    subscribe(&mut on_b, "*", None).await;
    let id = on_a
        .send_req(
            "chat.send",
            json!({ "agentId": "gpt", "message": "say hi" }),
        )
        .await;
    let requested = loop {
        let e = next_within(&mut on_b, RUN_LIMIT, "approval.requested on b").await;
        if e["event"] == "approval.requested" {
            break e;
        }
    };
    let approval = requested["payload"]["approvalId"].clone();
    let listed = on_b.call("approvals.list", json!({})).await;
    assert_eq!(listed["payload"]["approvals"][0]["approvalId"], approval);
    let resolved = on_b
        .call(
            "approvals.resolve",
            json!({ "approvalId": approval, "approved": true, "reason": "fine" }),
        )
        .await;
    assert_eq!(resolved["payload"]["resolved"], true, "{resolved}");
    let res = response(&mut on_a, &id, "the run on a").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["content"], "done");
    let result = on_a
        .events
        .iter()
        .find(|e| e["event"] == "tool.result")
        .cloned()
        .expect("a tool.result on a");
    assert_eq!(result["payload"]["isError"], false, "{result}");
    let resolved_event = on_a
        .events
        .iter()
        .find(|e| e["event"] == "approval.resolved")
        .cloned()
        .expect("approval.resolved on a");
    assert_eq!(resolved_event["payload"]["approved"], true);
}

/// `chat.abort` on `b` stops a run that executes on `a`: its caller gets the partial reply
/// with `stopReason` `aborted`.
#[tokio::test]
async fn chat_abort_on_b_stops_a_run_on_a() {
    let Some(cluster) = Cluster::start(2, &[(CHUNK_DELAY_MS, "50")]).await else {
        return;
    };
    let (_, op_token) = cluster.token("operator").await;
    let (mut on_a, _) = cluster.connect(0, &op_token, "op-a").await;
    let (mut on_b, _) = cluster.connect(1, &op_token, "op-b").await;
    let first = chat(&mut on_a, json!({ "message": "start" })).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    let id = on_a
        .send_req(
            "chat.send",
            json!({ "sessionId": session, "message": words("w", 200) }),
        )
        .await;
    // Wait until it streams, then abort it from the other node.
    let mut chunks = 0;
    events_until(
        &mut on_a,
        Duration::from_secs(10),
        "the run's chat events on a",
        |e| {
            if e["event"] == "chat" {
                chunks += 1;
            }
            chunks >= 3
        },
    )
    .await;
    let aborted = on_b
        .call("chat.abort", json!({ "sessionId": session }))
        .await;
    assert_eq!(aborted["payload"]["aborted"], true, "{aborted}");
    let res = response(&mut on_a, &id, "the aborted run").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["stopReason"], "aborted", "{res}");
    let partial = res["payload"]["content"].as_str().unwrap();
    assert!(
        partial.starts_with("w0 ") && partial.len() < words("w", 200).len(),
        "a partial reply: {partial}"
    );
    // Nothing runs: a second abort from b finds nothing to abort.
    let again = on_b
        .call("chat.abort", json!({ "sessionId": session }))
        .await;
    assert_eq!(again["payload"]["aborted"], false, "{again}");
}

/// A node stopped with SIGTERM gives up its leases: the next `chat.send` to its session on
/// another node runs there at once, not after `cluster.lease_s` (30 s here).
#[tokio::test]
async fn a_node_stopped_gracefully_hands_over_its_sessions_at_once() {
    let Some(mut cluster) = Cluster::start(2, &[("SWITCHBOARD__CLUSTER__LEASE_S", "30")]).await
    else {
        return;
    };
    let (_, op_token) = cluster.token("operator").await;
    let (mut on_a, _) = cluster.connect(0, &op_token, "op-a").await;
    let first = chat(&mut on_a, json!({ "message": "on a" })).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    drop(on_a);
    cluster.terminate(0);
    let (mut on_b, _) = cluster.connect(1, &op_token, "op-b").await;
    let sent = Instant::now();
    let reply = chat(
        &mut on_b,
        json!({ "sessionId": session, "message": "on b" }),
    )
    .await;
    assert_eq!(reply["content"], "on b");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "the session moved at once, not after the 30 s lease: {:?}",
        sent.elapsed()
    );
}
