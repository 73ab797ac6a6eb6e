//! Operations (SPEC §2 `/metrics`, issue "Operations"): Prometheus counters that move as calls,
//! events and refusals happen (scraped and parsed), access to `/metrics`, JSON log lines with
//! span fields, and graceful shutdown — in process and with SIGTERM to the real binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_api::Role;
use switchboard_tests::{TestServer, WsClient, http, switchboard_binary};

/// Scrapes `/metrics` into `name{labels} → value` (label pairs sorted).
async fn scrape(server: &TestServer) -> HashMap<String, f64> {
    let (status, body) = http::get(server.addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let mut values = HashMap::new();
    for sample in scrape.samples {
        let mut labels: Vec<String> = sample
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        labels.sort();
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => continue,
        };
        values.insert(format!("{}{{{}}}", sample.metric, labels.join(",")), value);
    }
    values
}

fn get(values: &HashMap<String, f64>, key: &str) -> f64 {
    values.get(key).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_as_calls_events_and_refusals_happen() {
    let server = TestServer::start(&[]).await;
    let before = scrape(&server).await;
    let operator = server.token(Role::Operator).await;
    let mut op = WsClient::connected(server.addr, Some(&operator), "op").await;
    assert_eq!(
        op.call("chat.send", json!({ "message": "count these words" }))
            .await["ok"],
        true
    );
    assert_eq!(
        op.call("tokens.list", json!({})).await["error"]["code"],
        "FORBIDDEN"
    );
    let mut bad = WsClient::frames(server.addr).await;
    bad.call("connect", json!({ "token": "sb_wrong", "user_id": "x" }))
        .await;
    let after = scrape(&server).await;
    let delta = |key: &str| get(&after, key) - get(&before, key);
    assert!(delta("switchboard_connects_total{outcome=ok}") >= 1.0);
    assert!(delta("switchboard_connects_total{outcome=failed}") >= 1.0);
    assert!(delta("switchboard_auth_failures_total{reason=invalid}") >= 1.0);
    assert!(delta("switchboard_calls_total{code=ok,method=chat.send}") >= 1.0);
    assert!(delta("switchboard_calls_total{code=FORBIDDEN,method=tokens.list}") >= 1.0);
    assert!(
        delta("switchboard_call_duration_seconds{method=chat.send}") >= 1.0,
        "histogram count"
    );
    assert!(
        delta("switchboard_events_delivered_total{}") >= 6.0,
        "started, 3 × chat, usage, completed … to the caller"
    );
    assert!(delta("switchboard_runs_total{status=completed}") >= 1.0);
    assert!(delta("switchboard_tokens_streamed_total{}") >= 3.0);
    // The session log stores the events of a run in a few batched writes.
    assert!(delta("switchboard_store_operation_duration_seconds{op=append_events}") >= 2.0);
    assert!(delta("switchboard_store_operation_duration_seconds{op=finish_run}") >= 1.0);
    assert!(delta("switchboard_store_operation_duration_seconds{op=record_run}") >= 1.0);
    assert!(
        get(
            &after,
            "switchboard_connections_open{protocol=frames,role=operator}"
        ) >= 1.0
    );
    assert!(after.contains_key("switchboard_runs_active{}"));
    // Label values never echo user input.
    op.call("no.such.method", json!({})).await;
    let later = scrape(&server).await;
    assert!(later.keys().all(|k| !k.contains("no.such.method")));
    assert!(
        get(
            &later,
            "switchboard_calls_total{code=INVALID_REQUEST,method=unknown}"
        ) >= 1.0
    );
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let server = TestServer::start(&[
        ("SWITCHBOARD__METRICS__LOOPBACK_ONLY", "false"),
        ("SWITCHBOARD__METRICS__TOKEN", "scrape-secret"),
    ])
    .await;
    assert_eq!(http::get(server.addr, "/metrics").await.0, 403);
    let wrong = http::request(
        server.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(wrong.0, 403);
    let ok = http::request(
        server.addr,
        "GET",
        "/metrics",
        &[("Authorization", "Bearer scrape-secret")],
        "",
    )
    .await;
    assert_eq!(ok.0, 200);
    assert!(ok.1.contains("switchboard_connections_open"));
}

#[tokio::test]
async fn during_a_drain_new_runs_are_refused_and_running_ones_finish() {
    let server = TestServer::start(&[("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "50")]).await;
    let operator = server.token(Role::Operator).await;
    let mut running = WsClient::connected(server.addr, Some(&operator), "a").await;
    let mut late = WsClient::connected(server.addr, Some(&operator), "b").await;
    let id = running
        .send_req("chat.send", json!({ "message": "finish me please" }))
        .await;
    loop {
        if running.next_json().await.unwrap()["event"] == "chat" {
            break;
        }
    }
    let stopping = tokio::spawn(server.stop());
    let refused = loop {
        let res = late
            .call("chat.send", json!({ "message": "too late" }))
            .await;
        if res["ok"] == false {
            break res;
        }
    };
    assert_eq!(
        (
            refused["error"]["code"].as_str(),
            refused["error"]["retryable"].as_bool()
        ),
        (Some("UNAVAILABLE"), Some(true))
    );
    let res = running.response(&id).await;
    assert_eq!(
        res["payload"]["content"], "finish me please",
        "a run within the drain timeout finishes"
    );
    assert!(
        running.events.iter().any(|e| e["event"] == "shutdown"),
        "told before the end"
    );
    let closed = running.closed().await;
    assert_eq!(closed.code, 1012);
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run_tells_subscribers_stores_the_partial_reply_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = String::from_utf8(
        Command::new(switchboard_binary())
            .args(["token", "create", "--role", "operator", "--name", "op"])
            .env("SWITCHBOARD__SERVER__DATA_DIR", &data)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let mut child = Command::new(switchboard_binary())
        .arg("serve")
        .current_dir(dir.path())
        .env("SWITCHBOARD__SERVER__DATA_DIR", &data)
        .env("SWITCHBOARD__SERVER__PORT", "0")
        .env("SWITCHBOARD__SERVER__DRAIN_TIMEOUT_S", "1")
        .env("SWITCHBOARD__AGENTS__MAIN__CHUNK_DELAY_MS", "100")
        .env("SWITCHBOARD__LOG__FORMAT", "json")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, logs) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let addr: std::net::SocketAddr = loop {
        let line = logs
            .recv_timeout(Duration::from_secs(30))
            .expect("the server logs");
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        lines.push(v.clone());
        if v["fields"]["message"] == "listening" {
            break v["fields"]["addr"].as_str().unwrap().parse().unwrap();
        }
    };
    let mut op = WsClient::connected(addr, Some(&token), "op").await;
    let words = (0..60)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let id = op.send_req("chat.send", json!({ "message": words })).await;
    let session = loop {
        let e = op.next_json().await.unwrap();
        if e["event"] == "chat" {
            break e["payload"]["sessionId"].as_str().unwrap().to_owned();
        }
    };
    let mut viewer = WsClient::connected(addr, None, "viewer").await;
    viewer
        .call(
            "subscribe",
            json!({ "topic": format!("session:{session}") }),
        )
        .await;
    let signalled = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );

    let res = op.response(&id).await;
    assert_eq!(res["error"]["code"], "UNAVAILABLE", "{res}");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap()
            .contains("interrupted by shutdown")
    );
    assert!(
        op.events
            .iter()
            .any(|e| e["event"] == "shutdown" && e["payload"]["reason"].is_string())
    );
    let end = op.events.iter().rfind(|e| e["event"] == "agent").unwrap();
    assert_eq!(
        (
            end["payload"]["status"].as_str(),
            end["payload"]["error"].as_str()
        ),
        (Some("failed"), Some("interrupted by shutdown"))
    );
    assert_eq!(op.closed().await.code, 1012);
    let viewer_closed = viewer.closed().await;
    assert_eq!(viewer_closed.code, 1012);
    assert!(
        viewer.events.iter().any(|e| e["event"] == "shutdown"),
        "subscribers are told"
    );

    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "exit within the drain timeout and grace"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    while let Ok(line) = logs.recv_timeout(Duration::from_millis(200)) {
        lines.push(serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}")));
    }
    // One JSON object per line, with the connection's and the call's span fields.
    let call = lines
        .iter()
        .find(|l| l["fields"]["message"] == "call" && l["span"]["method"] == "chat.send")
        .expect("a call line for chat.send");
    assert!(call["fields"]["duration_us"].is_number() && call["fields"]["outcome"].is_string());
    let connection = call["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "connection")
        .unwrap();
    assert_eq!(
        (connection["user_id"].as_str(), connection["role"].as_str()),
        (Some("op"), Some("operator"))
    );
    assert!(connection["connection_id"].is_string() && connection["remote"].is_string());
    assert_eq!(call["level"], "DEBUG", "per-call lines stay at debug");
    // A run's start and end at info: session, run, agent, status, duration, tokens.
    let started = lines
        .iter()
        .find(|l| l["fields"]["message"] == "run started")
        .expect("a run started line");
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["fields"]["session"], session.as_str());
    assert_eq!(started["fields"]["agent"], "main");
    let run = started["fields"]["run"].as_str().unwrap();
    let ended = lines
        .iter()
        .find(|l| l["fields"]["message"] == "run ended" && l["fields"]["run"] == run)
        .expect("a run ended line");
    assert_eq!(ended["level"], "INFO");
    assert_eq!(ended["fields"]["status"], "failed");
    assert!(ended["fields"]["duration_ms"].is_number());
    assert_eq!(ended["fields"]["input_tokens"], 60);
    assert!(ended["fields"]["output_tokens"].is_number());
    let all = lines.iter().map(Value::to_string).collect::<String>();
    assert!(
        !all.contains(token.rsplit('_').next().unwrap()),
        "no secret in the log"
    );
    assert!(!all.contains("w17 w18"), "no message body in the log");

    // The partial reply was stored and the run marked failed.
    let mut restarted = Command::new(switchboard_binary())
        .args(["migrate"])
        .env("SWITCHBOARD__SERVER__DATA_DIR", &data)
        .spawn()
        .unwrap();
    assert!(restarted.wait().unwrap().success());
    let store =
        switchboard_storage::Store::connect(&format!("sqlite://{}/switchboard.db", data.display()))
            .await
            .unwrap();
    let (messages, _) = store.list_messages(&session, 10, None).await.unwrap();
    assert_eq!(messages.len(), 2);
    let partial = &messages[1].content;
    assert!(
        !partial.is_empty() && words.starts_with(partial.as_str()) && partial.len() < words.len(),
        "{partial}"
    );
    let run = store
        .get_run(messages[1].run_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (run.status.as_str(), run.error.as_deref()),
        ("failed", Some("interrupted by shutdown"))
    );
}
